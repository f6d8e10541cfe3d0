/* libFuzzer target: a fixture's config.json with values overwritten, fed to
 * an encoder plugin compiled into this target (FUZZ_PLUGIN_ENTRY, one build
 * per plugin). Wrong, huge, negative, fractional, absent or mistyped values
 * must be refused with an error, or build a graph whose shapes the builder
 * accepts: never a crash, an ASan/UBSan report, or a hang.
 *
 * The input is a list of 10-byte edits: [key][kind][8-byte value], where
 * key picks one of the config's scalar entries (nested sections included)
 * and kind says what to write there (see apply_edit). Build: meson
 * -Dfuzz=true with CC=clang; run, e.g.:
 *   fuzz_encoder_config_vit -max_total_time=60 corpus-vit */
#include "graph_impl.h"
#include "model_impl.h"
#include "plugin_graph.h"
#include "mm/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const mm_plugin *mm_plugin_entry(void);

#define MAX_KEYS 256

typedef struct slot {
    char path[128]; /* dotted path from the root, for lookups in the copy */
} slot;

static mm_model *g_model;
static json_object *g_config; /* the fixture's own, restored after each input */
static slot g_keys[MAX_KEYS];
static int g_n_keys;

/* Every scalar (non-object, non-array) value under `o`, by dotted path. */
static void collect(json_object *o, const char *prefix)
{
    json_object_object_foreach(o, key, val)
    {
        char path[128];
        if (snprintf(path, sizeof path, "%s%s", prefix, key) >= (int)sizeof path)
            continue;
        if (json_object_is_type(val, json_type_object)) {
            char sub[128];
            if (snprintf(sub, sizeof sub, "%s.", path) < (int)sizeof sub)
                collect(val, sub);
        } else if (!json_object_is_type(val, json_type_array) && g_n_keys < MAX_KEYS) {
            strcpy(g_keys[g_n_keys++].path, path);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mm_log_set_level(MM_LOG_ERROR);
    const char *dir = getenv("FUZZ_MODEL_DIR") ? getenv("FUZZ_MODEL_DIR") : FUZZ_MODEL_DIR;
    if (mm_model_load(dir, &g_model) != MM_OK) {
        fprintf(stderr, "fuzz: %s: %s\n", dir, mm_error_message());
        abort();
    }
    g_config = g_model->config;
    collect(g_config, "");
    return 0;
}

/* The object holding the last component of `path` in `root`, and that key. */
static json_object *parent_of(json_object *root, const char *path, char *key, size_t key_size)
{
    char buf[128];
    strcpy(buf, path);
    json_object *o = root;
    char *part = buf;
    for (char *dot; (dot = strchr(part, '.'));) {
        *dot = '\0';
        if (!json_object_object_get_ex(o, part, &o) || !json_object_is_type(o, json_type_object))
            return NULL;
        part = dot + 1;
    }
    snprintf(key, key_size, "%s", part);
    return o;
}

static void apply_edit(json_object *root, const uint8_t *e)
{
    char key[128];
    json_object *parent = parent_of(root, g_keys[e[0] % g_n_keys].path, key, sizeof key);
    if (!parent)
        return;
    int64_t v;
    double d;
    memcpy(&v, e + 2, sizeof v);
    memcpy(&d, e + 2, sizeof d);
    static const char *const strings[] = {"gelu", "gelu_new", "quick_gelu", "relu", "", "vit", "whisper"};
    json_object *val;
    switch (e[1] % 7) {
    case 0: val = json_object_new_int64(v); break;                      /* any integer */
    case 1: val = json_object_new_int64(v % 130 - 2); break;            /* small, some <= 0 */
    case 2: val = json_object_new_int64((int64_t)((uint64_t)1 << (v & 63))); break; /* powers of two, huge */
    case 3: val = json_object_new_double(d); break;                     /* fractional, NaN, inf */
    case 4: val = json_object_new_string(strings[(uint64_t)v % 7]); break;
    case 5: val = json_object_new_boolean(v & 1); break;
    default: json_object_object_del(parent, key); return; /* absent */
    }
    json_object_object_add(parent, key, val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *copy = NULL;
    if (json_object_deep_copy(g_config, &copy, NULL) != 0)
        return 0;
    for (size_t i = 0; i + 10 <= size && i < 10 * 16; i += 10)
        apply_edit(copy, data + i);
    g_model->config = copy;

    const mm_encoder_ops *ops = mm_plugin_entry()->encoder;
    mm_component c = {.model = g_model, .config_prefix = FUZZ_CONFIG_PREFIX, .weight_prefix = FUZZ_WEIGHT_PREFIX};
    void *state = NULL;
    mm_encoder_graph dry = {0};
    mm_error_clear();
    /* As mm_encoder_init: the plugin's load, then the runtime's dry build. */
    mm_status s = ops->load(&c, &state);
    if (s == MM_OK && (s = mm_encoder_graph_build(ops, state, 1, &dry)) != MM_OK)
        ops->free(state);
    if (s == MM_OK) {
        /* accepted: a batch of 2 must build, and its plan too */
        mm_graph_free(dry.graph);
        mm_shape in;
        mm_graph *g = mm_graph_init();
        mm_tensor *out = NULL;
        if (!g || ops->input_shape(state, 2, &in) != MM_OK)
            __builtin_trap();
        static const float no_data; /* never read: the plan only checks that inputs have data */
        if (ops->build(state, g, mm_graph_input(g, MM_DTYPE_F32, in.n_dims, in.ne, &no_data), &out) != MM_OK ||
            !out)
            __builtin_trap();
        mm_graph_output(g, out);
        mm_graph_plan plan;
        if (mm_graph_plan_build(g, &plan) != MM_OK)
            __builtin_trap();
        mm_graph_plan_free(&plan);
        mm_graph_free(g);
        ops->free(state);
    } else if (!*mm_error_message()) {
        __builtin_trap(); /* refused without saying why */
    }
    g_model->config = g_config;
    json_object_put(copy);
    return 0;
}
