/* The routing table's internal helpers (the public read API is
 * mm_model_route in mm/runtime.h). */
#ifndef MM_ROUTING_H
#define MM_ROUTING_H

#include "mm/runtime.h"

/* The part of `m` that plays `role`, as the component a plugin loads.
 * Fails naming the folder's type and its parts when it has none. */
mm_status mm_route_component(const mm_model *m, uint32_t role, mm_model_part *part, mm_component *c);

#endif
