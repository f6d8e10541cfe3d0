/* Folder walks and progress lines (image_walk.h). */
#include "image_walk.h"
#include "timing.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool image_walk_is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (len > e && strcasecmp(name + len - e, ext[i]) == 0)
            return true;
    }
    return false;
}

static void walk_add(image_walk *w, const char *path, const struct stat *st)
{
    if (w->n == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 1024;
        file_entry *grown = realloc(w->v, (size_t)cap * sizeof *grown);
        if (!grown) {
            w->oom = true;
            return;
        }
        w->v = grown;
        w->cap = cap;
    }
    if (!(w->v[w->n].path = strdup(path))) {
        w->oom = true;
        return;
    }
    w->v[w->n].size = (int64_t)st->st_size;
    w->v[w->n].mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    w->n++;
}

/* Symbolic links to files are followed, links to folders are not (no loops). */
static void walk_dir(image_walk *w, char *path, size_t len)
{
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "mmrun: warning: %s: %s (skipped)\n", path, strerror(errno));
        w->unreadable_dirs++;
        return;
    }
    struct dirent *e;
    while (!w->oom && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || len + 1 + n >= PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, e->d_name, n + 1);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            walk_dir(w, path, len + 1 + n);
        else if (image_walk_is_image_name(e->d_name) &&
                 (S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode))))
            walk_add(w, path, &st);
        path[len] = '\0';
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const file_entry *)a)->path, ((const file_entry *)b)->path);
}

bool image_walk_folder(image_walk *w, const char *folder)
{
    char path[PATH_MAX];
    size_t len = strlen(folder);
    while (len > 1 && folder[len - 1] == '/')
        len--;
    if (len == 1 && folder[0] == '/')
        len = 0;
    if (len >= sizeof path)
        return true; /* nothing under a name this long */
    memcpy(path, folder, len);
    path[len] = '\0';
    walk_dir(w, path, len);
    if (!w->oom && w->n > 0)
        qsort(w->v, (size_t)w->n, sizeof *w->v, cmp_entry);
    return !w->oom;
}

void image_walk_free(image_walk *w)
{
    for (int64_t i = 0; i < w->n; i++)
        free(w->v[i].path);
    free(w->v);
    *w = (image_walk){0};
}

progress progress_start(const char *label, const char *unit, int64_t total)
{
    return (progress){.label = label, .unit = unit, .t0 = bench_now(), .total = total, .tty = isatty(STDERR_FILENO)};
}

void progress_show(progress *p, bool final)
{
    double now = bench_now();
    if (!final && !p->tty && now - p->last < 5.0)
        return; /* a log, not a terminal: a line every 5 s */
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
    char bar[26];
    int fill = p->total ? (int)(25 * p->done / p->total) : 25;
    for (int i = 0; i < 25; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[25] = '\0';
    fprintf(stderr, "%s%s: %lld/%lld %s [%s] %.1f %s/s, ETA %d:%02d%s", p->tty ? "\r" : "", p->label,
            (long long)p->done, (long long)p->total, p->unit, bar, rate, p->unit, (int)eta / 60, (int)eta % 60,
            p->tty && !final ? "" : "\n");
    p->shown = p->tty && !final;
    fflush(stderr);
}

void progress_clear(progress *p)
{
    if (!p->shown)
        return;
    fputs("\r\033[K", stderr); /* carriage return, erase to the end of the line */
    fflush(stderr);
    p->shown = false;
}
