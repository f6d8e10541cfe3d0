/* mmrun command line: shared option parsing and reporting. */
#ifndef MM_CLI_H
#define MM_CLI_H

#include "mm/runtime.h"

typedef struct cli_options {
    mm_runtime_params rt;
    bool verbose;
} cli_options;

/* Prints "mmrun: error: <what>: <library message>" to stderr; returns 1. */
int cli_fail(const char *what);
/* Prints "mmrun: error: <message>" and a hint to see --help; returns 2. */
int cli_usage_error(const char *fmt, ...) MM_PRINTF(1, 2);

int cmd_info(int argc, char **argv, cli_options *opt);
int cmd_bench(int argc, char **argv, cli_options *opt);

#endif
