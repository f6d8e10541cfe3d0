/* The runtime: one backend and the plugins found on disk. */
#include "runtime_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mm_runtime_params mm_runtime_default_params(void)
{
    return (mm_runtime_params){.backend = mm_backend_default_params(), .plugin_path = NULL};
}

mm_status mm_runtime_init(const mm_runtime_params *p, mm_runtime **out)
{
    mm_runtime_params params = p ? *p : mm_runtime_default_params();
    *out = NULL;
    mm_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return mm_error_set(MM_ERR_NOMEM, "runtime: out of memory");
    mm_status s = mm_plugin_registry_scan(&rt->plugins, params.plugin_path);
    if (s == MM_OK)
        s = mm_backend_init(&params.backend, &rt->backend);
    if (s != MM_OK) {
        mm_runtime_free(rt);
        return s;
    }
    *out = rt;
    return MM_OK;
}

void mm_runtime_free(mm_runtime *rt)
{
    if (!rt)
        return;
    mm_backend_free(rt->backend);
    mm_plugin_registry_free(&rt->plugins);
    free(rt);
}

mm_backend *mm_runtime_backend(mm_runtime *rt)
{
    return rt->backend;
}

int32_t mm_runtime_plugin_count(const mm_runtime *rt)
{
    return rt->plugins.n;
}

const mm_plugin_info *mm_runtime_plugin_at(const mm_runtime *rt, int32_t i)
{
    return i >= 0 && i < rt->plugins.n ? &rt->plugins.items[i].info : NULL;
}

const char *mm_runtime_plugin_search_path(const mm_runtime *rt)
{
    return rt->plugins.searched ? rt->plugins.searched : "";
}

/* "encoder+decoder" for a set of role bits, into buf. */
static const char *roles_string(uint32_t roles, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t bit = 1; bit & MM_ROLE_ALL; bit <<= 1)
        if ((roles & bit) && used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "+" : "", mm_plugin_role_name(bit));
    return buf;
}

mm_status mm_runtime_find_plugin(const mm_runtime *rt, const char *model_type, uint32_t role, const mm_plugin **out)
{
    *out = NULL;
    char found[1024] = "";
    size_t used = 0;
    for (int32_t i = 0; i < rt->plugins.n; i++) {
        const mm_plugin *p = rt->plugins.items[i].info.plugin;
        if (!p)
            continue;
        if (!p->model_types[0].model_type && used < sizeof found) /* loaded, claims nothing yet */
            used += (size_t)snprintf(found + used, sizeof found - used, "%s%s (no model types)", used ? ", " : "",
                                     p->name);
        for (const mm_plugin_model_type *t = p->model_types; t->model_type; t++) {
            if (strcmp(t->model_type, model_type) == 0 && (t->roles & role)) {
                *out = p;
                return MM_OK;
            }
            char roles[64];
            if (used < sizeof found)
                used += (size_t)snprintf(found + used, sizeof found - used, "%s%s (%s %s)", used ? ", " : "",
                                         p->name, t->model_type, roles_string(t->roles, roles, sizeof roles));
        }
    }
    if (!used)
        return mm_error_set(MM_ERR_PLUGIN,
                            "no plugin runs model_type '%s' as %s: no plugins were found (searched %s; set "
                            "MM_PLUGIN_PATH to the folder holding mmplugin_*.so)",
                            model_type, mm_plugin_role_name(role), rt->plugins.searched ? rt->plugins.searched : "nothing");
    return mm_error_set(MM_ERR_UNSUPPORTED, "no plugin runs model_type '%s' as %s; plugins found: %s", model_type,
                        mm_plugin_role_name(role), found);
}
