/* Thread-local error messages and the stderr logger. */
#include "mm/mm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char tl_message[1024];

const char *mm_version(void)
{
    return "0.1.0";
}

const char *mm_status_name(mm_status s)
{
    switch (s) {
    case MM_OK: return "ok";
    case MM_ERR_INVALID: return "invalid argument";
    case MM_ERR_IO: return "i/o error";
    case MM_ERR_FORMAT: return "bad format";
    case MM_ERR_UNSUPPORTED: return "unsupported";
    case MM_ERR_NOMEM: return "out of memory";
    case MM_ERR_BACKEND: return "backend error";
    case MM_ERR_PLUGIN: return "plugin error";
    }
    return "unknown error";
}

const char *mm_error_message(void)
{
    return tl_message;
}

void mm_error_clear(void)
{
    tl_message[0] = '\0';
}

mm_status mm_error_set(mm_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_message, sizeof tl_message, fmt, ap);
    va_end(ap);
    return s;
}

mm_status mm_error_wrap(mm_status s, const char *fmt, ...)
{
    char prefix[512], old[sizeof tl_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tl_message, sizeof old);
    /* Build "<prefix>: <old>" by pieces; truncation at the buffer end is fine. */
    size_t n = strlen(prefix);
    if (n >= sizeof tl_message)
        n = sizeof tl_message - 1;
    memcpy(tl_message, prefix, n);
    if (old[0] && n + 2 < sizeof tl_message) {
        memcpy(tl_message + n, ": ", 2);
        n += 2;
        size_t m = strlen(old);
        if (m > sizeof tl_message - 1 - n)
            m = sizeof tl_message - 1 - n;
        memcpy(tl_message + n, old, m);
        n += m;
    }
    tl_message[n] = '\0';
    return s;
}

/* ---- logging ------------------------------------------------------------ */

static mm_log_fn g_log_fn;
static void *g_log_user;
static mm_log_level g_log_min = MM_LOG_INFO;

void mm_log_set(mm_log_fn fn, void *user)
{
    g_log_fn = fn;
    g_log_user = user;
}

void mm_log_set_level(mm_log_level min_level)
{
    g_log_min = min_level;
}

void mm_log(mm_log_level level, const char *fmt, ...)
{
    if (level < g_log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_log_fn) {
        g_log_fn(level, msg, g_log_user);
        return;
    }
    static const char *tags[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "mmrun: %s: %s\n", tags[level], msg);
}
