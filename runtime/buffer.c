/* Persistent buffers (mm/tensor.h): shape checks and host access shared by
 * the backends, which own the memory (backend_impl.h). */
#include "backend_impl.h"

#include <stdlib.h>

mm_status mm_buffer_init(mm_backend *b, mm_dtype type, int32_t n_dims, const int64_t *ne, mm_buffer **out)
{
    *out = NULL;
    if (!b || !ne)
        return mm_error_set(MM_ERR_INVALID, "buffer: NULL backend or shape");
    if (type != MM_DTYPE_F32 && type != MM_DTYPE_I32)
        return mm_error_set(MM_ERR_INVALID, "buffer: dtype %s (F32 or I32 expected)", mm_dtype_name(type));
    if (n_dims < 1 || n_dims > MM_MAX_DIMS)
        return mm_error_set(MM_ERR_INVALID, "buffer: %d dimensions (1..%d allowed)", n_dims, MM_MAX_DIMS);
    mm_buffer *buf = calloc(1, sizeof *buf);
    if (!buf)
        return mm_error_set(MM_ERR_NOMEM, "buffer: out of memory");
    *buf = (mm_buffer){.backend = b, .type = type, .n_dims = n_dims, .nbytes = mm_dtype_size(type)};
    for (int i = 0; i < MM_MAX_DIMS; i++) {
        int64_t n = i < n_dims ? ne[i] : 1;
        buf->ne[i] = n;
        if (n < 1 || n > MM_MAX_ELEMENTS || (buf->nbytes *= (size_t)n) > (size_t)MM_MAX_ELEMENTS * 4) {
            free(buf);
            return mm_error_set(n < 1 ? MM_ERR_INVALID : MM_ERR_NOMEM, "buffer: dimension %d has size %lld%s", i,
                                (long long)n, n < 1 ? "" : " (too big)");
        }
    }
    mm_status s = b->iface->buffer_alloc(b, buf);
    if (s != MM_OK) {
        double mib = (double)buf->nbytes / 1048576.0;
        free(buf);
        return mm_error_wrap(s, "buffer of %.1f MiB on %s", mib, b->name);
    }
    b->buffer_bytes += buf->nbytes;
    *out = buf;
    return MM_OK;
}

void mm_buffer_free(mm_buffer *buf)
{
    if (!buf)
        return;
    buf->backend->iface->buffer_free(buf->backend, buf);
    buf->backend->buffer_bytes -= buf->nbytes;
    free(buf);
}

size_t mm_buffer_nbytes(const mm_buffer *buf)
{
    return buf ? buf->nbytes : 0;
}

static mm_status check_size(const mm_buffer *buf, const void *p, size_t nbytes, const char *what)
{
    if (!buf || !p)
        return mm_error_set(MM_ERR_INVALID, "buffer %s: NULL argument", what);
    if (nbytes != buf->nbytes)
        return mm_error_set(MM_ERR_INVALID, "buffer %s: %zu bytes given, the buffer holds %zu", what, nbytes,
                            buf->nbytes);
    return MM_OK;
}

mm_status mm_buffer_read(const mm_buffer *buf, void *dst, size_t nbytes)
{
    mm_status s = check_size(buf, dst, nbytes, "read");
    return s == MM_OK ? buf->backend->iface->buffer_read(buf->backend, buf, dst) : s;
}

mm_status mm_buffer_write(mm_buffer *buf, const void *src, size_t nbytes)
{
    mm_status s = check_size(buf, src, nbytes, "write");
    return s == MM_OK ? buf->backend->iface->buffer_write(buf->backend, buf, src) : s;
}
