#define _XOPEN_SOURCE 700
#include "st_writer.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stb_init(st_builder *b)
{
    memset(b, 0, sizeof *b);
    b->hlen = (size_t)snprintf(b->header, sizeof b->header, "{\"__metadata__\":{\"format\":\"pt\"}");
}

void stb_add(st_builder *b, const char *name, const char *dtype, int n_dims, const int64_t *shape, const void *bytes,
             size_t nbytes)
{
    char shp[256] = "";
    size_t used = 0;
    for (int i = 0; i < n_dims; i++)
        used += (size_t)snprintf(shp + used, sizeof shp - used, "%s%lld", i ? "," : "", (long long)shape[i]);
    b->hlen += (size_t)snprintf(b->header + b->hlen, sizeof b->header - b->hlen,
                                ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}", name, dtype,
                                shp, b->size, b->size + nbytes);
    if (b->hlen >= sizeof b->header - 2)
        fail_msg("st_builder: header full");
    b->data = realloc(b->data, b->size + nbytes + 1);
    assert_non_null(b->data);
    if (nbytes)
        memcpy(b->data + b->size, bytes, nbytes);
    b->size += nbytes;
}

void stb_write(const st_builder *b, const char *path, size_t data_mod)
{
    char header[sizeof b->header + 16];
    size_t n = (size_t)snprintf(header, sizeof header, "%.*s}", (int)b->hlen, b->header);
    while ((8 + n) % 8 != data_mod % 8)
        header[n++] = ' ';
    header[n] = '\0';
    st_write_raw(path, n, header, b->data, b->size);
}

void stb_free(st_builder *b)
{
    free(b->data);
    b->data = NULL;
}

void st_write_raw(const char *path, uint64_t hlen_field, const char *header, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s", path);
    size_t hlen = strlen(header);
    uint64_t field = hlen_field == ST_AUTO ? hlen : hlen_field;
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(field >> (8 * i));
    bool ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen && (!n || fwrite(data, 1, n, f) == n);
    if (fclose(f) != 0 || !ok)
        fail_msg("cannot write %s", path);
}

void st_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

char *st_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    assert_non_null(dir);
    snprintf(dir, 4096, "%s/mmtest-model-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s failed", dir);
    return dir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void st_rmtree(char *dir)
{
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

const char *st_join(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

void st_expect_error(mm_status got, mm_status want, ...)
{
    const char *msg = mm_error_message();
    if (got != want)
        fail_msg("status %s, want %s (message: %s)", mm_status_name(got), mm_status_name(want), msg);
    print_message("  %s: %s\n", mm_status_name(got), msg);
    va_list ap;
    va_start(ap, want);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(msg, s)) {
            va_end(ap);
            fail_msg("message \"%s\" does not mention \"%s\"", msg, s);
        }
    va_end(ap);
}
