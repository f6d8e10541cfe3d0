/* mmrun command line: the values options set, the commands, reporting. */
#ifndef MM_CLI_H
#define MM_CLI_H

#include "mm/cpu.h"
#include "mm/runtime.h"
#include "mm/vulkan.h"
#include "options.h"

/* Everything the options set; a command's own are in its sub-struct, where
 * 0 means "not given" (the command's default). */
typedef struct cli_options {
    mm_runtime_params rt;
    bool verbose, help, version;
    struct {
        int32_t runs, batch;
    } bench;
    struct {
        const char *model, *language, *initial_prompt, *output_dir;
        int task; /* mm_task */
        int32_t beam_size, max_tokens, seed;
        bool no_timestamps, no_fallback, no_condition, srt, vtt, json;
    } transcribe;
    struct { /* embed, classify, index, search (cli/cmd_*.c) */
        const char *model, *db, *labels, *labels_file, *npy;
        cli_list images, texts;
        bool json, raw;
        int32_t batch, k, top, block;
    } clip;
    struct {
        const char *model;
        int32_t beams, max_tokens, top_k, seed, batch;
        float temperature, top_p;
        bool json;
    } caption;
} cli_options;

/* A command's own options (tables ended by {NULL}); values at offsets into
 * cli_options. */
extern const cli_option cmd_bench_options[], cmd_transcribe_options[], cmd_caption_options[], cmd_embed_options[], cmd_classify_options[],
    cmd_index_options[], cmd_search_options[];

/* Prints "mmrun: error: <what>: <library message>" to stderr; returns 1. */
int cli_fail(const char *what);

/* A usage error of `command` (NULL: the general one): prints
 * "mmrun: error: <message>; see mmrun help COMMAND" (one line); returns 2. */
int cli_usage_error(const char *command, const char *fmt, ...) MM_PRINTF(2, 3);

/* Entry points: argv[0] is the command's name, then its arguments (the
 * options already parsed into opt); the count is checked against the
 * command's table. Return the exit code. */
int cmd_info(int argc, char **argv, cli_options *opt);
int cmd_bench(int argc, char **argv, cli_options *opt);
int cmd_transcribe(int argc, char **argv, cli_options *opt);
int cmd_caption(int argc, char **argv, cli_options *opt);
int cmd_embed(int argc, char **argv, cli_options *opt);
int cmd_classify(int argc, char **argv, cli_options *opt);
int cmd_index(int argc, char **argv, cli_options *opt);
int cmd_search(int argc, char **argv, cli_options *opt);

#endif
