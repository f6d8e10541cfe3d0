/* Minimal .npz reader: the zip central directory, raw deflate through zlib,
 * and the .npy header ('<f4', C order). Enough for mel_filters.npz. */
#include "npz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        snprintf(why, why_size, __VA_ARGS__);                                                                          \
        goto fail;                                                                                                     \
    } while (0)

/* The .npy payload `npy[0..n)` -> floats. */
static float *parse_npy(const unsigned char *npy, size_t n, int64_t shape[4], int *n_dims, char *why, size_t why_size)
{
    float *out = NULL;
    if (n < 10 || memcmp(npy, "\x93NUMPY", 6) != 0)
        FAIL("not a .npy array");
    size_t hlen = npy[6] == 1 ? rd16(npy + 8) : rd32(npy + 8);
    size_t hoff = npy[6] == 1 ? 10 : 12;
    if (hoff + hlen > n)
        FAIL("truncated .npy header");
    char header[512];
    snprintf(header, sizeof header, "%.*s", (int)hlen, (const char *)npy + hoff);
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False"))
        FAIL("only little-endian float32 C-order arrays: %s", header);
    const char *s = strstr(header, "'shape': (");
    if (!s)
        FAIL("no shape in %s", header);
    s += strlen("'shape': (");
    size_t count = 1;
    *n_dims = 0;
    while (*s && *s != ')' && *n_dims < 4) {
        char *end;
        long long d = strtoll(s, &end, 10);
        if (end == s)
            break;
        shape[(*n_dims)++] = d;
        count *= (size_t)d;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    if (hoff + hlen + count * 4 != n)
        FAIL(".npy payload is %zu bytes, shape says %zu floats", n - hoff - hlen, count);
    if (!(out = malloc(count * 4)))
        FAIL("out of memory");
    memcpy(out, npy + hoff + hlen, count * 4);
    return out;
fail:
    return NULL;
}

float *npz_read_f32(const char *path, const char *name, int64_t shape[4], int *n_dims, char *why, size_t why_size)
{
    size_t size = 0;
    unsigned char *zip = read_all(path, &size), *npy = NULL;
    float *out = NULL;
    char want[256];
    snprintf(want, sizeof want, "%s.npy", name);
    if (!zip)
        FAIL("%s: cannot read", path);
    /* End of central directory: 22 bytes (no comment in numpy's files). */
    size_t eocd = size >= 22 ? size - 22 : 0;
    while (eocd > 0 && rd32(zip + eocd) != 0x06054b50)
        eocd--;
    if (rd32(zip + eocd) != 0x06054b50)
        FAIL("%s: not a zip file", path);
    uint32_t entries = rd16(zip + eocd + 10), cd = rd32(zip + eocd + 16);
    for (uint32_t e = 0; e < entries; e++) {
        if (cd + 46 > size || rd32(zip + cd) != 0x02014b50)
            FAIL("%s: corrupt central directory", path);
        uint32_t method = rd16(zip + cd + 10), csize = rd32(zip + cd + 20), usize = rd32(zip + cd + 24);
        uint32_t nlen = rd16(zip + cd + 28), xlen = rd16(zip + cd + 30), clen = rd16(zip + cd + 32);
        uint32_t local = rd32(zip + cd + 42);
        if (nlen == strlen(want) && memcmp(zip + cd + 46, want, nlen) == 0) {
            if (local + 30 > size)
                FAIL("%s: corrupt local header", path);
            size_t data = local + 30 + rd16(zip + local + 26) + rd16(zip + local + 28);
            if (data + csize > size || !(npy = malloc(usize ? usize : 1)))
                FAIL("%s: corrupt entry %s", path, want);
            if (method == 0) {
                memcpy(npy, zip + data, usize);
            } else if (method == 8) {
                z_stream z = {0};
                if (inflateInit2(&z, -15) != Z_OK)
                    FAIL("inflateInit2 failed");
                z.next_in = zip + data;
                z.avail_in = csize;
                z.next_out = npy;
                z.avail_out = usize;
                int r = inflate(&z, Z_FINISH);
                inflateEnd(&z);
                if (r != Z_STREAM_END || z.total_out != usize)
                    FAIL("%s: %s does not inflate", path, want);
            } else {
                FAIL("%s: compression method %u", path, method);
            }
            out = parse_npy(npy, usize, shape, n_dims, why, why_size);
            goto done;
        }
        cd += 46 + nlen + xlen + clen;
    }
    FAIL("%s: no %s", path, want);
fail:
done:
    free(npy);
    free(zip);
    return out;
}
