/* Test-time writers for safetensors files and model folders, so bad-file and
 * sharding tests need no checked-in binaries. Failures abort the test
 * (cmocka fail_msg), never return. */
#ifndef MM_TEST_ST_WRITER_H
#define MM_TEST_ST_WRITER_H

#include "test_util.h"

/* Accumulates well-formed tensors: header entries and packed data. */
typedef struct st_builder {
    char header[16384];
    size_t hlen;
    uint8_t *data;
    size_t size;
} st_builder;

void stb_init(st_builder *b);
/* Appends tensor `name` (shape outermost-first) with `nbytes` raw bytes. */
void stb_add(st_builder *b, const char *name, const char *dtype, int n_dims, const int64_t *shape, const void *bytes,
             size_t nbytes);
/* Writes the file with the header padded by spaces so that the data
 * section starts at a file offset == data_mod (mod 8). */
void stb_write(const st_builder *b, const char *path, size_t data_mod);
void stb_free(st_builder *b);

/* Writes <8-byte LE hlen_field><header><data>; ST_AUTO = strlen(header). */
#define ST_AUTO UINT64_MAX
void st_write_raw(const char *path, uint64_t hlen_field, const char *header, const void *data, size_t n);
void st_write_text(const char *path, const char *text);

/* A fresh directory under $TMPDIR (malloc'd path); st_rmtree deletes it with
 * its contents and frees the path. */
char *st_tmpdir(void);
void st_rmtree(char *dir);
/* "<dir>/<name>" in buf. */
const char *st_join(char *buf, size_t size, const char *dir, const char *name);

/* Asserts `got == want` and that mm_error_message() contains every
 * NULL-terminated substring. */
void st_expect_error(mm_status got, mm_status want, ...);

#endif
