/* `mmrun info [MODEL_DIR]`: what this build can do, and what a model needs. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void print_roles(uint32_t roles)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        {MM_ROLE_ENCODER, "encoder"}, {MM_ROLE_DECODER, "decoder"}, {MM_ROLE_EMBEDDER, "embedder"}};
    const char *sep = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (roles & names[i].bit) {
            printf("%s%s", sep, names[i].name);
            sep = "+";
        }
}

static void print_plugins(const mm_runtime *rt)
{
    int32_t n = mm_runtime_plugin_count(rt);
    printf("plugins (ABI %u): %d found\n", MM_PLUGIN_ABI_VERSION, n);
    for (int32_t i = 0; i < n; i++) {
        const mm_plugin_info *pi = mm_runtime_plugin_at(rt, i);
        if (!pi->plugin) {
            printf("  BROKEN   %s\n           %s\n", pi->path, pi->error);
            continue;
        }
        printf("  %-8s %s\n           model types:", pi->plugin->name, pi->path);
        for (const mm_plugin_model_type *t = pi->plugin->model_types; t->model_type; t++) {
            printf(" %s (", t->model_type);
            print_roles(t->roles);
            printf(")");
        }
        printf("%s\n", pi->plugin->model_types[0].model_type ? "" : " none yet");
    }
    if (n == 0)
        printf("  none (searched %s)\n", mm_runtime_plugin_search_path(rt));
}

static const char *api_string(uint32_t v, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u", (v >> 22) & 0x7f, (v >> 12) & 0x3ff, v & 0xfff);
    return buf;
}

static void print_devices(void)
{
    mm_device_info devs[16];
    int32_t n = 0;
    if (mm_vulkan_devices(devs, 16, &n) != MM_OK) {
        printf("  vulkan: unavailable (%s)\n", mm_error_message());
        return;
    }
    printf("  vulkan: %d device%s\n", n, n == 1 ? "" : "s");
    for (int32_t i = 0; i < n && i < 16; i++) {
        char api[32];
        printf("    [%d] %s (%s, Vulkan %s, %.1f GiB)\n", i, devs[i].name, devs[i].type,
               api_string(devs[i].api_version, api, sizeof api), (double)devs[i].memory_bytes / (1u << 30));
    }
}

/* Which plugin serves each part of the folder (the runtime's routing
 * table); "no plugin" for a part no plugin runs. The encoder is loaded (its
 * config and every weight checked, so a broken download fails here); the
 * decoder and embedder are only looked up. */
static int print_parts(mm_runtime *rt, const mm_model *m)
{
    mm_route route;
    if (mm_model_route(m, &route) != MM_OK)
        return cli_fail("config");
    bool any = false;
    for (int32_t i = 0; i < route.n_parts; i++) {
        const mm_model_part *part = &route.parts[i];
        const char *role = mm_plugin_role_name(part->role);
        const mm_plugin *p = NULL;
        if (mm_runtime_find_plugin(rt, part->model_type, part->role, &p) != MM_OK) {
            /* Unlisted families (a bare encoder of an unknown type) fail below. */
            if (route.family)
                printf("  %s: no plugin (%s)\n", role, mm_error_message());
            continue;
        }
        any = true;
        if (part->role != MM_ROLE_ENCODER) {
            printf("  %s: plugin %s (%s)\n", role, p->name, part->model_type);
            continue;
        }
        mm_encoder *enc = NULL;
        if (mm_encoder_init(rt, m, &enc) != MM_OK)
            return cli_fail("encoder");
        mm_shape in;
        printf("  encoder: plugin %s", mm_encoder_plugin(enc)->name);
        if (mm_encoder_input_shape(enc, 1, &in) == MM_OK) {
            printf(", input {");
            for (int d = 0; d < in.n_dims; d++)
                printf("%s%lld", d ? "," : "", (long long)in.ne[d]);
            printf("}");
        }
        printf("\n");
        mm_encoder_free(enc);
    }
    if (!any && !route.family) { /* the lookup again, for its message naming what was found */
        const mm_plugin *p = NULL;
        mm_runtime_find_plugin(rt, route.parts[0].model_type, route.parts[0].role, &p);
        return cli_fail("model");
    }
    return 0;
}

static int print_model(mm_runtime *rt, const char *dir)
{
    mm_model *m = NULL;
    if (mm_model_load(dir, &m) != MM_OK)
        return cli_fail(dir);
    int32_t n = mm_model_weight_count(m);
    int64_t params = 0;
    size_t bytes = 0;
    int32_t by_type[MM_DTYPE_COUNT] = {0};
    for (int32_t i = 0; i < n; i++) {
        const mm_weight *w = mm_model_weight_at(m, i);
        int64_t count = 1;
        for (int d = 0; d < w->n_dims; d++)
            count *= w->shape[d];
        params += count;
        bytes += w->nbytes;
        by_type[w->dtype]++;
    }
    printf("model %s\n  model_type: %s\n  tensors: %d (%.2f M parameters, %.1f MiB;", dir, mm_model_type(m), n,
           (double)params / 1e6, (double)bytes / (1 << 20));
    for (int t = 0; t < MM_DTYPE_COUNT; t++)
        if (by_type[t])
            printf(" %d %s", by_type[t], mm_dtype_name((mm_dtype)t));
    printf(")\n");

    int rc = print_parts(rt, m);
    mm_model_free(m);
    return rc;
}

int cmd_info(int argc, char **argv, cli_options *opt)
{
    mm_runtime *rt = NULL;
    if (mm_runtime_init(&opt->rt, &rt) != MM_OK)
        return cli_fail("cannot start the runtime");
    printf("mmrun %s\n", mm_version());
    print_plugins(rt);
    const char *hint = mm_cpu_blas_coretype_hint();
    printf("backends:\n  cpu: always available, OpenBLAS %s kernels", mm_cpu_blas_core());
    if (hint)
        printf(" (narrower than this CPU runs: OPENBLAS_CORETYPE=%s would be faster)", hint);
    printf("\n");
    print_devices();
    printf("  selected: %s\n", mm_backend_name(mm_runtime_backend(rt)));
    int rc = argc == 2 ? print_model(rt, argv[1]) : 0;
    mm_runtime_free(rt);
    return rc;
}
