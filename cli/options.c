/* Option parsing for mmrun: see options.h. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HELP_COLUMN 26

bool cli_parse_int(const char *opt, const char *s, int32_t lo, int32_t hi, int32_t *out, char *err, size_t err_size)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || isspace((unsigned char)*s)) {
        snprintf(err, err_size, "%s: '%s' is not an integer", opt, s);
        return false;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        snprintf(err, err_size, "%s: %s is out of range %d..%d", opt, s, (int)lo, (int)hi);
        return false;
    }
    *out = (int32_t)v;
    return true;
}

bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, char *err, size_t err_size)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || isspace((unsigned char)*s) || isnan(v)) {
        snprintf(err, err_size, "%s: '%s' is not a number", opt, s);
        return false;
    }
    if (errno == ERANGE || !(v >= lo && v <= hi)) { /* also infinities */
        snprintf(err, err_size, "%s: %s is out of range %g..%g", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_enum(const char *opt, const char *s, const cli_enum_name *names, int *out, char *err, size_t err_size)
{
    for (const cli_enum_name *e = names; e->name; e++)
        if (strcmp(s, e->name) == 0) {
            *out = e->value;
            return true;
        }
    int n = snprintf(err, err_size, "%s: '%s' is not one of ", opt, s);
    for (const cli_enum_name *e = names; e->name && n >= 0 && (size_t)n < err_size; e++)
        n += snprintf(err + n, err_size - (size_t)n, "%s%s", e == names ? "" : ", ", e->name);
    return false;
}

static bool is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0'; /* "-" alone is an argument (stdin, by custom) */
}

/* The option `arg` ("--name", "--name=v", "-x", "-xv") names, with its
 * attached value (or NULL) in *attached; NULL when no table has it. */
static const cli_option *lookup(const char *arg, const cli_option *const *tables, int n_tables, const char **attached)
{
    bool is_long = arg[1] == '-';
    const char *name = arg + (is_long ? 2 : 1);
    size_t len = is_long ? strcspn(name, "=") : 1;
    for (int t = 0; t < n_tables; t++)
        for (const cli_option *o = tables[t]; o && o->name; o++) {
            bool match = is_long ? strlen(o->name) == len && strncmp(o->name, name, len) == 0
                                 : o->short_name && o->short_name == name[0];
            if (match) {
                *attached = is_long ? (name[len] ? name + len + 1 : NULL) : (name[1] ? name + 1 : NULL);
                return o;
            }
        }
    return NULL;
}

const char *cli_first_arg(int argc, char **argv, const cli_option *const *tables, int n_tables)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *attached;
        if (strcmp(a, "--") == 0)
            return i + 1 < argc ? argv[i + 1] : NULL;
        if (!is_option(a))
            return a;
        const cli_option *o = lookup(a, tables, n_tables, &attached);
        if (o && o->type != CLI_OPT_FLAG && !attached)
            i++; /* its value */
    }
    return NULL;
}

static bool store(const cli_option *o, const char *v, void *dst, char *err, size_t err_size)
{
    char name[80];
    snprintf(name, sizeof name, "--%s", o->name);
    char *p = (char *)dst + o->offset;
    switch (o->type) {
    case CLI_OPT_FLAG: {
        bool on = true;
        memcpy(p, &on, sizeof on);
        return true;
    }
    case CLI_OPT_INT: {
        int32_t x;
        if (!cli_parse_int(name, v, (int32_t)o->lo, (int32_t)o->hi, &x, err, err_size))
            return false;
        memcpy(p, &x, sizeof x);
        return true;
    }
    case CLI_OPT_FLOAT: {
        double x;
        if (!cli_parse_float(name, v, o->lo, o->hi, &x, err, err_size))
            return false;
        float f = (float)x;
        memcpy(p, &f, sizeof f);
        return true;
    }
    case CLI_OPT_ENUM: {
        int x;
        if (!cli_parse_enum(name, v, o->names, &x, err, err_size))
            return false;
        memcpy(p, &x, sizeof x);
        return true;
    }
    case CLI_OPT_STRING:
        memcpy(p, &v, sizeof v);
        return true;
    case CLI_OPT_LIST: {
        cli_list l;
        memcpy(&l, p, sizeof l);
        const char **grown = realloc(l.v, ((size_t)l.n + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, err_size, "%s: out of memory", name);
            return false;
        }
        grown[l.n++] = v;
        l.v = grown;
        memcpy(p, &l, sizeof l);
        return true;
    }
    }
    snprintf(err, err_size, "%s: unknown option type %d", name, (int)o->type);
    return false;
}

static bool add_arg(char *arg, char **args, int max_args, int *n_args, char *err, size_t err_size)
{
    if (*n_args >= max_args) {
        snprintf(err, err_size, "unexpected argument '%s'", arg);
        return false;
    }
    args[(*n_args)++] = arg;
    return true;
}

bool cli_parse_argv(int argc, char **argv, const cli_option *const *tables, int n_tables, void *dst, char **args,
                    int max_args, int *n_args, char *err, size_t err_size)
{
    *n_args = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                if (!add_arg(argv[i], args, max_args, n_args, err, err_size))
                    return false;
            break;
        }
        if (!is_option(a)) {
            if (!add_arg(a, args, max_args, n_args, err, err_size))
                return false;
            continue;
        }
        const char *v;
        const cli_option *o = lookup(a, tables, n_tables, &v);
        if (!o) {
            snprintf(err, err_size, "unknown option '%s'", a);
            return false;
        }
        if (o->type == CLI_OPT_FLAG && v) {
            if (a[1] == '-')
                snprintf(err, err_size, "--%s takes no value", o->name);
            else /* "-vx": short options do not combine */
                snprintf(err, err_size, "unknown option '%s'", a);
            return false;
        }
        if (o->type != CLI_OPT_FLAG && !v) {
            if (i + 1 >= argc) {
                snprintf(err, err_size, "--%s needs a value", o->name);
                return false;
            }
            v = argv[++i];
        }
        if (!store(o, v, dst, err, err_size))
            return false;
    }
    return true;
}

void cli_free_lists(const cli_option *const *tables, int n_tables, void *dst)
{
    for (int t = 0; t < n_tables; t++)
        for (const cli_option *o = tables[t]; o && o->name; o++)
            if (o->type == CLI_OPT_LIST) {
                cli_list *l = (cli_list *)((char *)dst + o->offset);
                free(l->v);
                *l = (cli_list){0};
            }
}

void cli_print_options(FILE *f, const cli_option *table)
{
    for (const cli_option *o = table; o && o->name; o++) {
        char head[128];
        int n = snprintf(head, sizeof head, "  %c%c%c --%s", o->short_name ? '-' : ' ',
                         o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ', o->name);
        if (o->type == CLI_OPT_ENUM && !o->arg) {
            for (const cli_enum_name *e = o->names; e->name && n >= 0 && (size_t)n < sizeof head; e++)
                n += snprintf(head + n, sizeof head - (size_t)n, "%c%s", e == o->names ? ' ' : '|', e->name);
        } else if (o->type != CLI_OPT_FLAG) {
            snprintf(head + n, sizeof head - (size_t)n, " %s", o->arg ? o->arg : "VALUE");
        }
        fputs(head, f);
        size_t w = strlen(head);
        if (w + 2 > HELP_COLUMN) {
            fputc('\n', f);
            w = 0;
        }
        fprintf(f, "%*s", (int)(HELP_COLUMN - w), "");
        for (const char *h = o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n')
                fprintf(f, "%*s", HELP_COLUMN, "");
        }
        if (o->type == CLI_OPT_INT)
            fprintf(f, " [%d..%d]", (int)o->lo, (int)o->hi);
        else if (o->type == CLI_OPT_FLOAT)
            fprintf(f, " [%g..%g]", o->lo, o->hi);
        fputc('\n', f);
    }
}
