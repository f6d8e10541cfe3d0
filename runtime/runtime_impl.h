/* Internal state of an mm_runtime (plugin registry + backend). */
#ifndef MM_RUNTIME_IMPL_H
#define MM_RUNTIME_IMPL_H

#include "mm/runtime.h"

typedef struct mm_plugin_entry_rec {
    mm_plugin_info info;
    void *handle;
    char *path_owned;
    char *error_owned;
} mm_plugin_entry_rec;

typedef struct mm_plugin_registry {
    mm_plugin_entry_rec *items;
    int32_t n, cap;
    char *searched; /* the directories searched, ':'-separated, for messages */
} mm_plugin_registry;

/* Scans `extra_path` (may be NULL), $MM_PLUGIN_PATH, the executable's
 * directory (and its plugins/), the directory of libmm's own mmrun/ folder,
 * and the install dir. Broken plugins are recorded, not fatal. */
mm_status mm_plugin_registry_scan(mm_plugin_registry *reg, const char *extra_path);
void mm_plugin_registry_free(mm_plugin_registry *reg);

struct mm_runtime {
    mm_backend *backend;
    mm_plugin_registry plugins;
};

#endif
