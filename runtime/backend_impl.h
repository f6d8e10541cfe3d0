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
    /* Weight sets: set up w->impl for w->n_weights slots; free it (and
     * everything it holds); make the weights of w's model that g reads
     * resident in w. */
    mm_status (*weights_init)(mm_backend *b, mm_weights *w);
    void (*weights_free)(mm_backend *b, mm_weights *w);
    mm_status (*weights_load)(mm_backend *b, mm_weights *w, const mm_graph *g, const mm_graph_plan *plan);
    /* Bytes of intermediate, scratch and transfer memory kept between computes. */
    uint64_t (*work_bytes)(const mm_backend *b);
} mm_backend_iface;

/* A model's weights on one backend (mm/tensor.h). Slots are the model's
 * weight indices; what a slot holds is the backend's business (impl). */
struct mm_weights {
    mm_backend *backend;
    const mm_model *model;
    int32_t n_weights;
    uint64_t nbytes; /* backend memory held: kept current by the backend */
    void *impl;
};

/* Slot of a constant leaf in the weight set `w` of its graph: the model
 * weight's index, or -1 when the leaf is streamed (no set, or a constant
 * that is not a model weight). A weight of another model is an error. */
mm_status mm_weights_slot(const mm_weights *w, const mm_tensor *leaf, int32_t *slot);
/* Backends call this as a set's memory grows or shrinks. */
void mm_weights_account(mm_weights *w, int64_t delta);


struct mm_backend {
    const mm_backend_iface *iface;
    mm_backend_kind kind;
    bool on_cpu; /* computes on the host CPU (the CPU backend, or a CPU Vulkan driver such as lavapipe) */
    uint64_t weight_bytes, buffer_bytes; /* mm_backend_memory_used: kept by weights.c and buffer.c */
    char name[160];
};

/* Constructors; each fills in iface, kind and name. */
mm_status mm_backend_cpu_init(const mm_backend_params *p, mm_backend **out);
mm_status mm_backend_vulkan_init(const mm_backend_params *p, mm_backend **out);
mm_status mm_backend_cpu_reference_init(mm_backend **out); /* naive kernels: the test oracle */

#endif
