/* The images under a folder, and a progress line for long jobs over them:
 * shared by `mmrun index` and `mmrun caption`. */
#ifndef MM_CLI_IMAGE_WALK_H
#define MM_CLI_IMAGE_WALK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct file_entry {
    char *path; /* absolute when the folder was */
    int64_t size, mtime_ns;
} file_entry;

typedef struct image_walk {
    file_entry *v; /* sorted by path */
    int64_t n, cap;
    int64_t unreadable_dirs;
    bool oom;
} image_walk;

/* True for the image extensions the media library reads (.png .jpg .jpeg
 * .jpe .jfif .webp), any case. */
bool image_walk_is_image_name(const char *name);
/* Adds every image under `folder` (its subfolders too; hidden names and
 * links to folders are skipped, an unreadable folder is warned about and
 * counted); false when out of memory. */
bool image_walk_folder(image_walk *w, const char *folder);
void image_walk_free(image_walk *w);

/* "index: 40/200 images [#####....] 11.4 images/s, ETA 0:14" on stderr:
 * redrawn in place on a terminal, a line every 5 s in a log. */
typedef struct progress {
    const char *label, *unit;
    double t0, last;
    int64_t done, total;
    bool tty;
    bool shown; /* a line is on the terminal, unfinished */
} progress;

progress progress_start(const char *label, const char *unit, int64_t total);
void progress_show(progress *p, bool final);
/* Erases the line being redrawn, so that results or errors printed to the
 * same terminal start on a clean line (the next progress_show redraws it). */
void progress_clear(progress *p);

#endif
