/* Plugin discovery: dlopen every mmplugin_*.so on the search path, check its
 * ABI, and keep the ones that answer correctly. */
#define _GNU_SOURCE /* dladdr */

#include "runtime_impl.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MM_PLUGIN_INSTALL_DIR
#define MM_PLUGIN_INSTALL_DIR "/usr/local/lib/mmrun"
#endif

#define PLUGIN_FILE_PREFIX "mmplugin_"
#define PLUGIN_FILE_SUFFIX ".so"

/* A role's table as the plugin gave it, and whether every entry is set. */
static const void *role_table(const mm_plugin *p, uint32_t role, bool *complete)
{
    switch (role) {
    case MM_ROLE_ENCODER: {
        const mm_encoder_ops *o = p->encoder;
        *complete = o && o->load && o->free && o->input_shape && o->build;
        return o;
    }
    case MM_ROLE_DECODER: {
        const mm_decoder_ops *o = p->decoder;
        *complete = o && o->load && o->free && o->dims && o->buffer_shape && o->build_cross_kv && o->build_step;
        return o;
    }
    case MM_ROLE_EMBEDDER: {
        const mm_embedder_ops *o = p->embedder;
        *complete = o && o->load && o->free && o->dims && o->image_input_shape && o->build_image && o->text_pool && o->build_text;
        return o;
    }
    }
    *complete = false;
    return NULL;
}

/* Checks the table a plugin's entry point returned: its ABI first (nothing
 * else of a table of another ABI may be read), then that the roles it
 * declares are exactly the roles it has tables for, so that no lookup ever
 * lands on a plugin that cannot run what it was found for. */
static mm_status plugin_validate(const char *path, const mm_plugin *p)
{
    if (!p)
        return mm_error_set(MM_ERR_PLUGIN, "%s: %s() returned NULL", path, MM_PLUGIN_ENTRY_SYMBOL);
    if (p->abi_version != MM_PLUGIN_ABI_VERSION)
        return mm_error_set(MM_ERR_PLUGIN,
                            "plugin %s was built for plugin ABI %u; this runtime needs ABI %u (rebuild it against "
                            "this version of mmrun)",
                            path, p->abi_version, MM_PLUGIN_ABI_VERSION);
    if (!p->name || !p->name[0] || !p->model_types)
        return mm_error_set(MM_ERR_PLUGIN, "%s: plugin table has no name or no model types", path);
    uint32_t declared = 0;
    for (const mm_plugin_model_type *t = p->model_types; t->model_type; t++) {
        if (t->roles & ~(uint32_t)MM_ROLE_ALL)
            return mm_error_set(MM_ERR_PLUGIN, "%s: declares unknown roles 0x%x for '%s'", path,
                                (unsigned)(t->roles & ~(uint32_t)MM_ROLE_ALL), t->model_type);
        for (uint32_t bit = 1; bit & MM_ROLE_ALL; bit <<= 1) {
            bool complete;
            if ((t->roles & bit) && !role_table(p, bit, &complete))
                return mm_error_set(MM_ERR_PLUGIN, "%s: declares '%s' as %s but has no %s table", path,
                                    t->model_type, mm_plugin_role_name(bit), mm_plugin_role_name(bit));
        }
        declared |= t->roles;
    }
    for (uint32_t bit = 1; bit & MM_ROLE_ALL; bit <<= 1) {
        bool complete;
        if (!role_table(p, bit, &complete))
            continue;
        if (!complete)
            return mm_error_set(MM_ERR_PLUGIN, "%s: %s table is incomplete", path, mm_plugin_role_name(bit));
        if (!(declared & bit))
            return mm_error_set(MM_ERR_PLUGIN, "%s: has a %s table but no model type declares the %s role", path,
                                mm_plugin_role_name(bit), mm_plugin_role_name(bit));
    }
    return MM_OK;
}

mm_status mm_plugin_open(const char *path, const mm_plugin **out, void **handle)
{
    *out = NULL;
    *handle = NULL;
    if (access(path, R_OK) != 0)
        return mm_error_set(MM_ERR_IO, "%s: cannot read plugin file", path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return mm_error_set(MM_ERR_PLUGIN, "%s: cannot load: %s", path, dlerror());
    mm_plugin_entry_fn entry;
    void *sym = dlsym(h, MM_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object -> function pointer without UB */
    if (!sym) {
        dlclose(h);
        return mm_error_set(MM_ERR_PLUGIN, "%s: not an mmrun plugin (no %s symbol)", path, MM_PLUGIN_ENTRY_SYMBOL);
    }
    const mm_plugin *p = entry();
    mm_status s = plugin_validate(path, p);
    if (s != MM_OK) {
        dlclose(h);
        return s;
    }
    *out = p;
    *handle = h;
    return MM_OK;
}

void mm_plugin_close(void *handle)
{
    if (handle)
        dlclose(handle);
}

static const mm_plugin_entry_rec *find_by_name(const mm_plugin_registry *reg, const char *name)
{
    for (int32_t i = 0; i < reg->n; i++)
        if (reg->items[i].info.plugin && strcmp(reg->items[i].info.plugin->name, name) == 0)
            return &reg->items[i];
    return NULL;
}

static mm_status registry_add(mm_plugin_registry *reg, const char *path)
{
    for (int32_t i = 0; i < reg->n; i++)
        if (strcmp(reg->items[i].info.path, path) == 0)
            return MM_OK; /* same file reached through two search entries */
    const mm_plugin *p = NULL;
    void *handle = NULL;
    char *error = NULL;
    if (mm_plugin_open(path, &p, &handle) != MM_OK) {
        error = strdup(mm_error_message());
        mm_log(MM_LOG_DEBUG, "%s", mm_error_message());
        mm_error_clear();
    } else {
        const mm_plugin_entry_rec *prev = find_by_name(reg, p->name);
        if (prev) {
            /* Earlier search entries win (MM_PLUGIN_PATH over the install dir). */
            mm_log(MM_LOG_DEBUG, "plugin %s at %s shadowed by %s", p->name, path, prev->info.path);
            mm_plugin_close(handle);
            return MM_OK;
        }
    }
    if (reg->n == reg->cap) {
        int32_t cap = reg->cap ? reg->cap * 2 : 8;
        mm_plugin_entry_rec *items = realloc(reg->items, (size_t)cap * sizeof *items);
        if (!items) {
            free(error);
            mm_plugin_close(handle);
            return mm_error_set(MM_ERR_NOMEM, "plugins: out of memory");
        }
        reg->items = items;
        reg->cap = cap;
    }
    mm_plugin_entry_rec *e = &reg->items[reg->n++];
    memset(e, 0, sizeof *e);
    e->path_owned = strdup(path);
    e->error_owned = error;
    e->handle = handle;
    e->info.path = e->path_owned;
    e->info.plugin = p;
    e->info.error = error;
    return MM_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_plugin_file(const char *name)
{
    size_t n = strlen(name), np = strlen(PLUGIN_FILE_PREFIX), ns = strlen(PLUGIN_FILE_SUFFIX);
    return n > np + ns && strncmp(name, PLUGIN_FILE_PREFIX, np) == 0 &&
           strcmp(name + n - ns, PLUGIN_FILE_SUFFIX) == 0;
}

/* Adds every plugin file of one directory, in name order so that listings
 * are stable. A missing directory is not an error. */
static mm_status scan_dir(mm_plugin_registry *reg, const char *dir)
{
    char resolved[PATH_MAX];
    if (!realpath(dir, resolved))
        return MM_OK;
    DIR *d = opendir(resolved);
    if (!d)
        return MM_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (!is_plugin_file(ent->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    mm_status s = MM_OK;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", resolved, names[i]);
        if (s == MM_OK && names[i])
            s = registry_add(reg, path);
        free(names[i]);
    }
    free(names);
    return s;
}

static void append_searched(mm_plugin_registry *reg, const char *dir)
{
    size_t old = reg->searched ? strlen(reg->searched) : 0;
    char *s = realloc(reg->searched, old + strlen(dir) + 2);
    if (!s)
        return;
    if (old)
        s[old++] = ':';
    strcpy(s + old, dir);
    reg->searched = s;
}

static mm_status scan_path_list(mm_plugin_registry *reg, const char *list)
{
    if (!list)
        return MM_OK;
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return mm_error_set(MM_ERR_NOMEM, "plugins: out of memory");
    mm_status s = MM_OK;
    for (char *dir = strtok_r(copy, ":", &save); dir && s == MM_OK; dir = strtok_r(NULL, ":", &save)) {
        append_searched(reg, dir);
        s = scan_dir(reg, dir);
    }
    free(copy);
    return s;
}

/* Directory containing `path` (a file), written into buf. */
static bool dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= size)
        return false;
    memcpy(buf, path, (size_t)(slash - path));
    buf[slash - path] = '\0';
    return true;
}

mm_status mm_plugin_registry_scan(mm_plugin_registry *reg, const char *extra_path)
{
    mm_status s = scan_path_list(reg, extra_path);
    if (s == MM_OK)
        s = scan_path_list(reg, getenv("MM_PLUGIN_PATH"));

    char exe[PATH_MAX], dir[PATH_MAX], buf[3 * PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (s == MM_OK && len > 0) {
        exe[len] = '\0';
        if (dir_of(exe, dir, sizeof dir)) {
            snprintf(buf, sizeof buf, "%s:%s/plugins:%s/../lib/mmrun", dir, dir, dir);
            s = scan_path_list(reg, buf);
        }
    }
    /* Wherever libmm itself was installed, its plugins sit in ./mmrun. */
    Dl_info info;
    if (s == MM_OK && dladdr((void *)&mm_plugin_registry_scan, &info) && info.dli_fname &&
        dir_of(info.dli_fname, dir, sizeof dir)) {
        snprintf(buf, sizeof buf, "%s/mmrun", dir);
        s = scan_path_list(reg, buf);
    }
    if (s == MM_OK)
        s = scan_path_list(reg, MM_PLUGIN_INSTALL_DIR);
    return s;
}

void mm_plugin_registry_free(mm_plugin_registry *reg)
{
    for (int32_t i = 0; i < reg->n; i++) {
        mm_plugin_close(reg->items[i].handle);
        free(reg->items[i].path_owned);
        free(reg->items[i].error_owned);
    }
    free(reg->items);
    free(reg->searched);
    memset(reg, 0, sizeof *reg);
}
