/* mmrun: entry point, global options and command dispatch. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mmrun [options] <command> [args]\n"
    "\n"
    "Runs multimodal transformer models (Hugging Face folders: config.json +\n"
    "*.safetensors) on Vulkan (any GPU, or lavapipe on a CPU) or on the CPU.\n"
    "\n"
    "commands:\n"
    "  info [MODEL_DIR]     version, plugins with their model types, backends and\n"
    "                       Vulkan devices; with MODEL_DIR, what the folder holds\n"
    "                       and which plugins will run it\n"
    "  bench MODEL_DIR      times the model's encoder on the chosen backend\n"
    "                       [--runs N (5)] [--batch B (1)]; input values do not\n"
    "                       change the work, so it needs no media\n"
    "\n"
    "options:\n"
    "  -b, --backend NAME   auto (default: a Vulkan GPU if one works, else the\n"
    "                       CPU; a CPU Vulkan driver such as lavapipe only when\n"
    "                       asked for), vulkan, or cpu\n"
    "  -t, --threads N      CPU threads (default: all cores)\n"
    "  -d, --device N       Vulkan device index from `mmrun info` (default: the\n"
    "                       first discrete GPU, then integrated, ...)\n"
    "      --plugin-path P  extra plugin folders, ':'-separated (also MM_PLUGIN_PATH)\n"
    "  -v, --verbose        log debug details to stderr\n"
    "  -h, --help           this help\n"
    "      --version        print the version\n"
    "\n"
    "environment:\n"
    "  MM_PLUGIN_PATH       extra plugin folders, ':'-separated\n"
    "  OPENBLAS_CORETYPE    OpenBLAS kernels for the CPU backend; when unset,\n"
    "                       mmrun picks the widest this CPU runs (see mmrun info)\n"
    "  VK_ICD_FILENAMES     which Vulkan driver(s) the loader offers\n"
    "\n"
    "examples:\n"
    "  mmrun info\n"
    "  mmrun --backend cpu info ~/models/whisper-tiny\n"
    "  mmrun bench ~/models/whisper-tiny            (Vulkan GPU if any, else CPU)\n"
    "  mmrun --backend cpu -t 4 bench ~/models/vit-gpt2 --runs 10\n";

int cli_fail(const char *what)
{
    const char *why = mm_error_message();
    if (why && *why)
        fprintf(stderr, "mmrun: error: %s: %s\n", what, why);
    else
        fprintf(stderr, "mmrun: error: %s\n", what);
    return 1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mmrun: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(see mmrun --help)\n", stderr);
    va_end(ap);
    return 2;
}

static bool parse_int(const char *s, int32_t lo, int32_t hi, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int32_t)v;
    return true;
}

/* Value of an option given as "--opt value" or "--opt=value". */
static const char *option_value(int argc, char **argv, int *i, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq && arg[1] == '-')
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool is_opt(const char *arg, const char *s, const char *l)
{
    size_t n = strlen(l);
    return (s && strcmp(arg, s) == 0) || strcmp(arg, l) == 0 || (strncmp(arg, l, n) == 0 && arg[n] == '=');
}

int main(int argc, char **argv)
{
    mm_cpu_blas_reexec(argv); /* before anything else: it may restart the program */
    cli_options opt = {.rt = mm_runtime_default_params()};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v;
        if (is_opt(a, "-h", "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("mmrun %s\n", mm_version());
            return 0;
        } else if (is_opt(a, "-v", "--verbose")) {
            opt.verbose = true;
        } else if (is_opt(a, "-b", "--backend")) {
            if (!(v = option_value(argc, argv, &i, a)))
                return cli_usage_error("%s needs a value (auto, vulkan or cpu)", a);
            if (strcmp(v, "auto") == 0)
                opt.rt.backend.kind = MM_BACKEND_AUTO;
            else if (strcmp(v, "cpu") == 0)
                opt.rt.backend.kind = MM_BACKEND_CPU;
            else if (strcmp(v, "vulkan") == 0)
                opt.rt.backend.kind = MM_BACKEND_VULKAN;
            else
                return cli_usage_error("unknown backend '%s' (auto, vulkan or cpu)", v);
        } else if (is_opt(a, "-t", "--threads")) {
            if (!(v = option_value(argc, argv, &i, a)) || !parse_int(v, 1, 1024, &opt.rt.backend.n_threads))
                return cli_usage_error("%s needs a thread count from 1 to 1024", a);
        } else if (is_opt(a, "-d", "--device")) {
            if (!(v = option_value(argc, argv, &i, a)) || !parse_int(v, 0, 64, &opt.rt.backend.vk_device))
                return cli_usage_error("%s needs a device index (see mmrun info)", a);
        } else if (is_opt(a, NULL, "--plugin-path")) {
            if (!(v = option_value(argc, argv, &i, a)))
                return cli_usage_error("%s needs a folder", a);
            opt.rt.plugin_path = v;
        } else {
            return cli_usage_error("unknown option '%s'", a);
        }
    }
    if (opt.verbose)
        mm_log_set_level(MM_LOG_DEBUG);
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - i, argv + i, &opt);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - i, argv + i, &opt);
    if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    return cli_usage_error("unknown command '%s'", cmd);
}
