/* The embedded SPIR-V table generated from the shaders/ folder at build time. */
#ifndef MM_VK_SHADERS_H
#define MM_VK_SHADERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mm_shader_blob {
    const char *name; /* file name without .comp */
    const uint32_t *code;
    size_t size; /* bytes */
} mm_shader_blob;

extern const mm_shader_blob mm_shaders[]; /* terminated by {NULL, NULL, 0} */
extern const int mm_shader_count;

#endif
