/* Table-driven option parsing shared by mmrun's global options and its
 * commands' own. An option table describes where each value goes (an
 * offset into the struct being filled) and what it accepts; the same table
 * prints the help. Options may come anywhere among the arguments, as
 * `--name value`, `--name=value`, `-x value` or `-xvalue`; `--` ends them. */
#ifndef MM_CLI_OPTIONS_H
#define MM_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cli_opt_type {
    CLI_OPT_FLAG,   /* bool, set to true; takes no value */
    CLI_OPT_INT,    /* int32_t in [lo, hi]               */
    CLI_OPT_FLOAT,  /* float in [lo, hi], finite         */
    CLI_OPT_ENUM,   /* an enum (int-sized) named by one of `names` */
    CLI_OPT_STRING, /* const char *, pointing into argv  */
    CLI_OPT_LIST,   /* cli_list: each use appends a value (--image a --image b) */
} cli_opt_type;

/* The values of a repeatable option, in order, pointing into argv; the
 * array is malloc'd (cli_free_lists frees every list of a table). */
typedef struct cli_list {
    int32_t n;
    const char **v;
} cli_list;

typedef struct cli_enum_name {
    const char *name; /* NULL ends a list */
    int value;
} cli_enum_name;

typedef struct cli_option {
    const char *name; /* long form without "--"; NULL ends a table */
    char short_name;  /* -x, or 0 for none */
    cli_opt_type type;
    size_t offset;    /* of the value in the struct being filled */
    const char *arg;  /* the value's placeholder in help ("N"); enums show their names */
    const char *help; /* '\n' continues on the next help line */
    double lo, hi;    /* CLI_OPT_INT, CLI_OPT_FLOAT: accepted range, inclusive */
    const cli_enum_name *names; /* CLI_OPT_ENUM */
} cli_option;

/* Value parsers: on failure they write a one-line message naming `opt`
 * ("--threads: 0 is out of range 1..1024") to err and return false. */
bool cli_parse_int(const char *opt, const char *s, int32_t lo, int32_t hi, int32_t *out, char *err, size_t err_size);
bool cli_parse_float(const char *opt, const char *s, double lo, double hi, double *out, char *err, size_t err_size);
bool cli_parse_enum(const char *opt, const char *s, const cli_enum_name *names, int *out, char *err, size_t err_size);

/* The first argument of argv[1..] that is neither an option nor an
 * option's value (mmrun's command), or NULL. `tables` (n_tables of them,
 * NULL entries skipped) say which options take a value; unknown options
 * are passed over, for cli_parse_argv to report. */
const char *cli_first_arg(int argc, char **argv, const cli_option *const *tables, int n_tables);

/* Parses argv[1..] against `tables`, storing each value at its offset in
 * `dst`; the other arguments, in order, go to args (at most max_args).
 * False, with a one-line message in err, on an unknown option, a missing
 * or wrong value, or too many arguments. */
bool cli_parse_argv(int argc, char **argv, const cli_option *const *tables, int n_tables, void *dst, char **args,
                    int max_args, int *n_args, char *err, size_t err_size);

/* Frees the arrays of the CLI_OPT_LIST options of `tables` in dst. */
void cli_free_lists(const cli_option *const *tables, int n_tables, void *dst);

/* One help entry per option of `table`: "  -t, --threads N   help [1..1024]". */
void cli_print_options(FILE *f, const cli_option *table);

#endif
