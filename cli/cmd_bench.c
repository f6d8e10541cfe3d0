/* `mmrun bench MODEL_DIR`: times a model's encoder on the chosen backend,
 * as whisper.cpp's bench tool does, so a user can size a machine for a
 * checkpoint before any media front end is involved. */
#include "cli.h"
#include "timing.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define BENCH_MAX_RUNS 100

const cli_option cmd_bench_options[] = {
    {.name = "runs", .short_name = 'n', .type = CLI_OPT_INT, .offset = offsetof(cli_options, bench.runs), .arg = "N",
     .help = "timed runs after the warm-up (default 5)", .lo = 1, .hi = BENCH_MAX_RUNS},
    {.name = "batch", .type = CLI_OPT_INT, .offset = offsetof(cli_options, bench.batch), .arg = "B",
     .help = "items per run (default 1)", .lo = 1, .hi = 64},
    {0},
};

/* One run of the encoder on `input`; false (error set) on failure. */
static bool run_once(mm_encoder *enc, const float *input, int32_t batch, double *seconds)
{
    float *out = NULL;
    mm_shape shape;
    double t0 = bench_now();
    bool ok = mm_encoder_run(enc, input, batch, &out, &shape) == MM_OK;
    *seconds = bench_now() - t0;
    free(out);
    return ok;
}

int cmd_bench(int argc, char **argv, cli_options *opt)
{
    int32_t runs = opt->bench.runs ? opt->bench.runs : 5, batch = opt->bench.batch ? opt->bench.batch : 1;
    const char *dir = argv[1];

    mm_runtime *rt = NULL;
    mm_model *m = NULL;
    mm_encoder *enc = NULL;
    float *input = NULL;
    int rc = 0;
    mm_shape in;
    if (mm_runtime_init(&opt->rt, &rt) != MM_OK) {
        rc = cli_fail("cannot start the runtime");
    } else if (mm_model_load(dir, &m) != MM_OK) {
        rc = cli_fail(dir);
    } else if (mm_encoder_init(rt, m, &enc) != MM_OK || mm_encoder_input_shape(enc, batch, &in) != MM_OK) {
        rc = cli_fail("encoder");
    } else {
        size_t n = 1;
        for (int d = 0; d < in.n_dims; d++)
            n *= (size_t)in.ne[d];
        /* the values do not change the work an encoder does */
        if (!(input = calloc(n, sizeof *input))) {
            fprintf(stderr, "mmrun: error: bench: cannot allocate %zu input values\n", n);
            rc = 1;
        }
    }
    if (rc == 0) {
        const char *backend = mm_backend_name(mm_runtime_backend(rt));
        fprintf(stderr, "mmrun: bench: %s encoder (plugin %s) on %s, batch %d: warm-up (loads the weights)...\n",
                mm_model_type(m), mm_encoder_plugin(enc)->name, backend, batch);
        double first, t[BENCH_MAX_RUNS];
        bool ok = run_once(enc, input, batch, &first);
        for (int32_t r = 0; ok && r < runs; r++)
            ok = run_once(enc, input, batch, &t[r]);
        if (!ok) {
            rc = cli_fail("encoder run");
        } else {
            double med = bench_median(t, runs); /* sorts t */
            printf("model %s (%s encoder, plugin %s)\n", dir, mm_model_type(m), mm_encoder_plugin(enc)->name);
            printf("backend %s\n", backend);
            printf("first run (weights made resident): %.1f ms\n", first * 1e3);
            printf("encoder, batch %d: median %.1f ms of %d runs (min %.1f, max %.1f); %.1f ms per item\n", batch,
                   med * 1e3, runs, t[0] * 1e3, t[runs - 1] * 1e3, med * 1e3 / batch);
        }
    }
    free(input);
    mm_encoder_free(enc);
    mm_model_free(m);
    mm_runtime_free(rt);
    return rc;
}
