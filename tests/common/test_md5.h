/* MD5 (RFC 1321) for tests that compare decoded bytes with a reference's
 * md5 (the fixtures' decoded_rgb_md5). Not for anything secret. */
#ifndef MM_TEST_MD5_H
#define MM_TEST_MD5_H

#include <stddef.h>

/* Writes the 32 lower-case hex digits and a NUL to hex[33]. */
void test_md5_hex(const void *data, size_t n, char hex[33]);

#endif
