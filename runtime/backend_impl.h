/* Internal interface every compute backend implements. */
#ifndef MM_BACKEND_IMPL_H
#define MM_BACKEND_IMPL_H

#include "graph_impl.h"
#include "mm/cpu.h"    /* per-backend queries the backends implement */
#include "mm/vulkan.h"

typedef struct mm_backend_iface {
    void (*free)(mm_backend *b);
    /* Runs plan->order; then writes every output's readback tensor into its
     * out_data (already allocated, contiguous). */
    mm_status (*compute)(mm_backend *b, mm_graph *g, const mm_graph_plan *plan);
    /* Persistent buffers: allocate buf->nbytes zeroed into buf->impl; free;
     * whole-buffer host copies. */
    mm_status (*buffer_alloc)(mm_backend *b, mm_buffer *buf);
    void (*buffer_free)(mm_backend *b, mm_buffer *buf);
    mm_status (*buffer_read)(mm_backend *b, const mm_buffer *buf, void *dst);
    mm_status (*buffer_write)(mm_backend *b, mm_buffer *buf, const void *src);
} mm_backend_iface;


struct mm_backend {
    const mm_backend_iface *iface;
    mm_backend_kind kind;
    bool on_cpu; /* computes on the host CPU (the CPU backend, or a CPU Vulkan driver such as lavapipe) */
    char name[160];
};

/* Constructors; each fills in iface, kind and name. */
mm_status mm_backend_cpu_init(const mm_backend_params *p, mm_backend **out);
mm_status mm_backend_vulkan_init(const mm_backend_params *p, mm_backend **out);
mm_status mm_backend_cpu_reference_init(mm_backend **out); /* naive kernels: the test oracle */

#endif
