/* Reading a whole stream into memory, for the decoders that need the
 * complete file: standard input and pipes for audio (several formats seek
 * back to their header), every image. */
#include "media_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

mm_status mm_media_read_fd(int fd, const char *what, size_t max_bytes, unsigned char **data, size_t *size)
{
    size_t n = 0, cap = 1 << 16;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", what);
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                free(buf);
                return mm_error_set(MM_ERR_NOMEM, "%s: more than %zu bytes", what, max_bytes);
            }
            unsigned char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return mm_error_set(MM_ERR_NOMEM, "%s: out of memory", what);
            }
            buf = p;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            return mm_error_set(MM_ERR_IO, "%s: %s", what, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *data = buf;
    *size = n;
    return MM_OK;
}

mm_status mm_media_preprocessor_config(const char *path, char file[4096], struct json_object **root)
{
    *root = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        snprintf(file, 4096, "%s/preprocessor_config.json", path);
        if (stat(file, &sb) != 0)
            return mm_error_set(MM_ERR_IO, "%s: no preprocessor_config.json in the model folder (%s)", path,
                                strerror(errno));
    } else {
        snprintf(file, 4096, "%s", path);
    }
    *root = json_object_from_file(file);
    if (!*root)
        return mm_error_set(MM_ERR_FORMAT, "%s: invalid JSON: %s", file, json_util_get_last_err());
    return MM_OK;
}

mm_status mm_media_open(const char *path, int *fd, const char **what, struct stat *sb)
{
    const bool is_stdin = strcmp(path, "-") == 0;
    *what = is_stdin ? "standard input" : path;
    *fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return mm_error_set(MM_ERR_IO, "%s: %s", path, strerror(errno));
    int e = fstat(*fd, sb) != 0 ? errno : S_ISDIR(sb->st_mode) ? EISDIR : 0;
    if (e) {
        mm_media_close(path, *fd);
        *fd = -1;
        return mm_error_set(MM_ERR_IO, "%s: %s", *what, strerror(e));
    }
    return MM_OK;
}

void mm_media_close(const char *path, int fd)
{
    if (fd >= 0 && strcmp(path, "-") != 0)
        close(fd);
}
