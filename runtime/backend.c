/* Backend selection and the compute entry point shared by all backends. */
#include "backend_impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

mm_backend_params mm_backend_default_params(void)
{
    return (mm_backend_params){.kind = MM_BACKEND_AUTO, .n_threads = 0, .vk_device = -1};
}

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* The one place the backends read the environment: switches that let the
 * tests run every Vulkan path on the one device CI has (tests/meson.build,
 * vk_variants) without each test program growing options for them. */
static void apply_env_overrides(mm_backend_params *p)
{
    if (env_on("MM_VK_GPU_KERNELS"))
        p->vk_kernels = MM_VK_KERNELS_GPU;
    if (env_on("MM_VK_FORCE_STAGING"))
        p->vk_memory = MM_VK_MEMORY_STAGING;
    if (env_on("MM_VK_NO_SUBGROUP"))
        p->vk_subgroups = MM_VK_SUBGROUPS_OFF;
}

/* MM_VK_LIMIT_*: device limits forced lower (tests/meson.build's strict
 * variant), beside the switches above; a number with K, M or G. Where the
 * params force the same limit, the stricter value holds (the larger
 * alignment, the smaller of the others). */
static mm_status apply_env_limits(mm_vk_limits *l)
{
    static const struct {
        const char *name;
        size_t off;
        bool wide;
    } vars[] = {
        {"MM_VK_LIMIT_STORAGE_ALIGN", offsetof(mm_vk_limits, storage_align), false},
        {"MM_VK_LIMIT_INVOCATIONS", offsetof(mm_vk_limits, invocations), false},
        {"MM_VK_LIMIT_SHARED_BYTES", offsetof(mm_vk_limits, shared_bytes), false},
        {"MM_VK_LIMIT_WORKGROUPS", offsetof(mm_vk_limits, workgroups), false},
        {"MM_VK_LIMIT_STORAGE_BUFFERS", offsetof(mm_vk_limits, storage_buffers), false},
        {"MM_VK_LIMIT_STORAGE_RANGE", offsetof(mm_vk_limits, storage_range), true},
        {"MM_VK_LIMIT_ALLOC_BYTES", offsetof(mm_vk_limits, alloc_bytes), true},
        {"MM_VK_LIMIT_SUBMIT_FLOPS", offsetof(mm_vk_limits, submit_flops), true},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        if (!v || !*v)
            continue;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
        end += shift != 0;
        if (errno || end == v || *end || *v == '-' || x == 0 || x > (UINT64_MAX >> shift) ||
            (!vars[i].wide && (x << shift) > UINT32_MAX))
            return mm_error_set(MM_ERR_INVALID, "%s=%s: not a positive number (K, M or G may follow)", vars[i].name, v);
        x <<= shift;
        bool larger_is_stricter = vars[i].off == offsetof(mm_vk_limits, storage_align);
        if (vars[i].wide) {
            uint64_t *f = (uint64_t *)((char *)l + vars[i].off);
            if (!*f || (larger_is_stricter ? x > *f : x < *f))
                *f = x;
        } else {
            uint32_t *f = (uint32_t *)((char *)l + vars[i].off);
            if (!*f || (larger_is_stricter ? x > *f : x < *f))
                *f = (uint32_t)x;
        }
    }
    return MM_OK;
}

mm_status mm_backend_init(const mm_backend_params *p, mm_backend **out)
{
    mm_backend_params params = p ? *p : mm_backend_default_params();
    *out = NULL;
    apply_env_overrides(&params);
    mm_status ls = apply_env_limits(&params.vk_limits);
    if (ls != MM_OK)
        return ls;
    switch (params.kind) {
    case MM_BACKEND_CPU:
        return mm_backend_cpu_init(&params, out);
    case MM_BACKEND_VULKAN:
        return mm_backend_vulkan_init(&params, out);
    case MM_BACKEND_AUTO: {
        /* Said once per process: a program making many runtimes should not
         * repeat it. */
        static atomic_flag said = ATOMIC_FLAG_INIT;
        if (mm_backend_vulkan_init(&params, out) != MM_OK) {
            if (!atomic_flag_test_and_set(&said))
                mm_log(MM_LOG_WARN, "no usable Vulkan device (%s); using the CPU backend", mm_error_message());
            mm_error_clear();
        } else if ((*out)->on_cpu && params.vk_device < 0) {
            /* A CPU Vulkan driver runs the same cores ~10x slower than the CPU
             * backend (README, Performance): only an explicit choice gets it. */
            if (!atomic_flag_test_and_set(&said))
                mm_log(MM_LOG_INFO, "no Vulkan GPU: %s runs on the CPU, slower than the CPU backend; "
                       "using the CPU backend (--backend vulkan uses it anyway)", (*out)->name);
            mm_backend_free(*out);
            *out = NULL;
        } else {
            return MM_OK;
        }
        return mm_backend_cpu_init(&params, out);
    }
    }
    return mm_error_set(MM_ERR_INVALID, "backend: unknown kind %d", (int)params.kind);
}

void mm_backend_free(mm_backend *b)
{
    if (b)
        b->iface->free(b);
}

mm_backend_kind mm_backend_get_kind(const mm_backend *b)
{
    return b->kind;
}

const char *mm_backend_name(const mm_backend *b)
{
    return b->name;
}

mm_backend_memory mm_backend_memory_used(const mm_backend *b)
{
    if (!b)
        return (mm_backend_memory){0};
    return (mm_backend_memory){.weights = b->weight_bytes, .buffers = b->buffer_bytes, .work = b->iface->work_bytes(b)};
}

mm_status mm_backend_compute(mm_backend *b, mm_graph *g)
{
    if (!b || !g)
        return mm_error_set(MM_ERR_INVALID, "compute: NULL backend or graph");
    mm_status s = mm_graph_status(g);
    if (s != MM_OK)
        return mm_error_wrap(s, "compute: graph was built with an error");
    if (g->weights && g->weights->backend != b)
        return mm_error_set(MM_ERR_INVALID, "compute: the graph's weight set belongs to %s, not %s",
                            g->weights->backend->name, b->name);
    mm_graph_plan plan;
    if ((s = mm_graph_plan_build(g, &plan)) != MM_OK)
        return s;
    for (int32_t i = 0; i < g->n_nodes && s == MM_OK; i++) {
        const mm_tensor *t = g->nodes[i];
        if (plan.needed[i] && (t->flags & MM_TENSOR_INPUT) && !t->host_data)
            s = mm_error_set(MM_ERR_INVALID, "graph: input %s has no data", t->name[0] ? t->name : "(unnamed)");
    }
    if (s == MM_OK)
        s = mm_graph_alloc_outputs(g);
    if (s == MM_OK)
        s = b->iface->compute(b, g, &plan);
    mm_graph_plan_free(&plan);
    return s;
}
