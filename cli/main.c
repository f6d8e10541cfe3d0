/* mmrun: entry point, the command table, global options and dispatch. */
#include "blas_reexec.h"
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum options store an int (options.c) */
_Static_assert(sizeof(mm_backend_kind) == sizeof(int) && sizeof(mm_vk_kernels) == sizeof(int) &&
                   sizeof(mm_vk_memory) == sizeof(int) && sizeof(mm_vk_subgroups) == sizeof(int),
               "enum options are int-sized");

#define OPT(field) offsetof(cli_options, field)

static const cli_enum_name backend_names[] = {
    {"auto", MM_BACKEND_AUTO}, {"vulkan", MM_BACKEND_VULKAN}, {"cpu", MM_BACKEND_CPU}, {NULL, 0}};
static const cli_enum_name vk_kernels_names[] = {{"auto", MM_VK_KERNELS_AUTO}, {"gpu", MM_VK_KERNELS_GPU}, {NULL, 0}};
static const cli_enum_name vk_memory_names[] = {
    {"auto", MM_VK_MEMORY_AUTO}, {"staging", MM_VK_MEMORY_STAGING}, {NULL, 0}};
static const cli_enum_name vk_subgroups_names[] = {
    {"auto", MM_VK_SUBGROUPS_AUTO}, {"off", MM_VK_SUBGROUPS_OFF}, {NULL, 0}};

static const cli_option global_options[] = {
    {.name = "backend", .short_name = 'b', .type = CLI_OPT_ENUM, .offset = OPT(rt.backend.kind), .names = backend_names,
     .help = "auto (default): a Vulkan GPU if one works, else the\n"
             "CPU; a CPU driver (lavapipe) only when asked for"},
    {.name = "threads", .short_name = 't', .type = CLI_OPT_INT, .offset = OPT(rt.backend.n_threads), .arg = "N",
     .help = "CPU threads (default: all cores)", .lo = 1, .hi = 1024},
    {.name = "device", .short_name = 'd', .type = CLI_OPT_INT, .offset = OPT(rt.backend.vk_device), .arg = "N",
     .help = "Vulkan device index from `mmrun info` (default: the\nfirst discrete GPU, then integrated, ...)",
     .lo = 0, .hi = 64},
    {.name = "vk-kernels", .type = CLI_OPT_ENUM, .offset = OPT(rt.backend.vk_kernels), .names = vk_kernels_names,
     .help = "gpu: GPU kernels (storage buffers, shared-memory\n"
             "tiles) even on a CPU driver; auto (default): the\ndevice's own choice"},
    {.name = "vk-memory", .type = CLI_OPT_ENUM, .offset = OPT(rt.backend.vk_memory), .names = vk_memory_names,
     .help = "staging: copy through a staging buffer, as a discrete\n"
             "GPU without resizable BAR does; auto (default): mapped\ndevice memory where the device has it"},
    {.name = "vk-subgroups", .type = CLI_OPT_ENUM, .offset = OPT(rt.backend.vk_subgroups), .names = vk_subgroups_names,
     .help = "off: shared-memory reductions instead of subgroup\n"
             "arithmetic; auto (default): where the device has it"},
    {.name = "plugin-path", .type = CLI_OPT_STRING, .offset = OPT(rt.plugin_path), .arg = "P",
     .help = "extra plugin folders, ':'-separated"},
    {.name = "verbose", .short_name = 'v', .type = CLI_OPT_FLAG, .offset = OPT(verbose),
     .help = "log debug details to stderr"},
    {.name = "help", .short_name = 'h', .type = CLI_OPT_FLAG, .offset = OPT(help),
     .help = "this help; after a command, the command's usage"},
    {.name = "version", .type = CLI_OPT_FLAG, .offset = OPT(version), .help = "print the version"},
    {0},
};

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line in mmrun --help */
    const char *usage;   /* what follows "mmrun NAME" */
    const char *details; /* what `mmrun help NAME` says after the usage */
    const cli_option *options; /* the command's own, or NULL */
    int32_t min_args, max_args;
    const char *needs; /* what min_args are, for the error when they are missing */
    int (*run)(int argc, char **argv, cli_options *opt);
} cli_command;

static int cmd_help(int argc, char **argv, cli_options *opt);

static const cli_command commands[] = {
    {"info", "version, plugins, backends and devices; what a model folder holds", "[MODEL_DIR]",
     "Prints the version, the plugins found with the model types they run, the\n"
     "backends and Vulkan devices, and the backend the options select. With\n"
     "MODEL_DIR, also what the folder holds (tensors, parameters, dtypes) and\n"
     "which plugin runs each part, after loading and checking the encoder.\n",
     NULL, 0, 1, NULL, cmd_info},
    {"bench", "times a model's encoder on the chosen backend", "MODEL_DIR [--runs N] [--batch B]",
     "Times the model's encoder, as whisper.cpp's bench does: a first run (which\n"
     "makes the weights resident), then the median of N runs. The input values\n"
     "do not change the work, so no media is needed.\n",
     cmd_bench_options, 1, 1, "a model folder", cmd_bench},
    {"caption", "a caption for each image (vision-encoder-decoder models)", "-m MODEL_DIR IMAGE... [options]",
     "Captions each image (PNG, JPEG, WebP; - reads standard input; a folder\n"
     "captions every image under it, with a progress line) with a Hugging Face\n"
     "vision-encoder-decoder folder such as nlpconnect/vit-gpt2-image-captioning.\n"
     "Images go through the model in batches, decoded ahead while the previous\n"
     "batch computes. Greedy or beam search by default as the model's\n"
     "generation_config.json says; --temperature samples (--seed repeats a run).\n"
     "An unreadable image is reported and the others are captioned (exit code 1).\n"
     "\n"
     "examples:\n"
     "  mmrun caption -m ~/models/vit-gpt2-image-captioning photo.jpg\n"
     "  mmrun caption -m ~/models/vit-gpt2-image-captioning ~/Pictures --beams 3 --json\n",
     cmd_caption_options, 1, 1 << 30, "an image or a folder", cmd_caption},
    {"transcribe", "speech to text with a Whisper model (text, SRT, WebVTT, JSON)", "-m MODEL_DIR FILE... [options]",
     "Transcribes (or translates into English) each audio file with a Hugging Face\n"
     "Whisper folder: WAV, FLAC, OGG/Vorbis, Opus, MP3 (- reads standard input),\n"
     "any rate and channel count. Long audio is decoded in 30 s windows that follow\n"
     "the timestamps, each prompted with the previous one's text; a window whose\n"
     "text comes out repetitive or unlikely is retried at higher temperatures, and\n"
     "a silent one gives nothing. Text goes to stdout unless --output-dir is given.\n"
     "\n"
     "examples:\n"
     "  mmrun transcribe -m ~/models/whisper-tiny talk.flac\n"
     "  mmrun transcribe -m ~/models/whisper-base a.wav b.mp3 --srt -o subs/\n"
     "  mmrun transcribe -m ~/models/whisper-small interview.ogg -l de --task translate\n",
     cmd_transcribe_options, 1, 4096, "an audio file", cmd_transcribe},
    {"embed", "image and text embeddings of a CLIP model",
     "-m DIR [--image FILE]... [--text TEXT]... [--json | --npy FILE] [--raw]",
     "Embeds images and texts into the model's joint space (CLIP: openai/clip-vit-*\n"
     "folders). The vectors are unit length (cosine = dot product), as CLIPModel's\n"
     "image_embeds and text_embeds; --raw gives the projections unnormalised\n"
     "(get_image_features). Without --json or --npy, one line per input with its\n"
     "first values. Images go through the tower in batches, the next batch\n"
     "decoded while the current one computes. A text longer than the model's\n"
     "context (77 tokens for OpenAI's) is truncated, with a warning.\n"
     "\n"
     "  mmrun embed -m clip-vit-base-patch32 --image cat.jpg --text \"a cat\" --json\n"
     "  mmrun embed -m clip-vit-base-patch32 --image a.png --image b.png --npy x.npy\n",
     cmd_embed_options, 0, 0, NULL, cmd_embed},
    {"classify", "zero-shot image labels with a CLIP model",
     "-m DIR IMAGE... (--labels L1,L2,.. | --labels-file FILE) [--top N] [--json]",
     "Scores each image against every label as CLIP's zero-shot classifier does:\n"
     "softmax over logit_scale * cosine(image, label text), and prints the top N\n"
     "labels with their probabilities. Labels read best as captions (\"a photo of\n"
     "a dog\"). An unreadable image is reported and skipped (exit code 1).\n"
     "\n"
     "  mmrun classify -m clip-vit-base-patch32 *.jpg --labels \"a photo of a dog,a photo of a cat\"\n",
     cmd_classify_options, 1, 1 << 30, "at least one image", cmd_classify},
    {"index", "embeds a folder of images into a searchable index (SQLite)",
     "FOLDER --db FILE [-m DIR] [--batch B]",
     "Walks FOLDER (and its subfolders; hidden names and links to folders are\n"
     "skipped) for images by extension (.png .jpg .jpeg .jpe .jfif .webp), and\n"
     "stores each one's path, size, mtime and embedding in the SQLite file FILE,\n"
     "with the model's id (a hash of its config and weight sizes): a --db made\n"
     "with another model is refused. Each batch is one transaction: a run that is\n"
     "interrupted keeps every finished batch and the next run resumes. Run it\n"
     "again after changes: only new and changed files (size or mtime) are\n"
     "embedded, rows of deleted files are dropped. Files that cannot be read are\n"
     "skipped, listed at the end and left out of the index; the exit code is\n"
     "still 0 (the job is done). Exit code 1: the job stopped (no images under\n"
     "FOLDER, a --db that is not an mmrun index or made with another model, a\n"
     "model or disk error); the rows already there are kept.\n"
     "\n"
     "  mmrun index ~/Pictures --db pictures.db -m clip-vit-base-patch32\n"
     "  mmrun index ~/Pictures --db pictures.db          (later: the db knows its model)\n",
     cmd_index_options, 1, 1, "a folder of images", cmd_index},
    {"search", "the images of an index closest to a text or an image",
     "--db FILE (TEXT | --image FILE) [-k N] [--json]",
     "Embeds the query with the index's model and prints the k closest images,\n"
     "best first, with their cosine similarity. The scores are computed on the\n"
     "backend block by block (32 MiB of vectors at a time), so an index of\n"
     "millions of images never has to fit in memory.\n"
     "\n"
     "  mmrun search --db pictures.db \"a dog on a beach\" -k 5\n"
     "  mmrun search --db pictures.db --image query.jpg --json\n",
     cmd_search_options, 0, 1, NULL, cmd_search},
    {"help", "this help, or a command's usage", "[COMMAND]",
     "Without COMMAND, the general help (mmrun --help); with one, its usage\n(as mmrun COMMAND --help).\n",
     NULL, 0, 1, NULL, cmd_help},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static const cli_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_help(FILE *f)
{
    fputs("usage: mmrun [options] COMMAND [args] [options]\n"
          "\n"
          "Runs multimodal transformer models (Hugging Face folders: config.json +\n"
          "*.safetensors) on Vulkan (any GPU, or lavapipe on a CPU) or on the CPU.\n"
          "\n"
          "commands (mmrun help COMMAND for a command's usage):\n",
          f);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\noptions (before or after the command):\n", f);
    cli_print_options(f, global_options);
    fputs("\n"
          "environment:\n"
          "  MM_PLUGIN_PATH          extra plugin folders, ':'-separated (searched after\n"
          "                          --plugin-path)\n"
          "  OPENBLAS_CORETYPE       OpenBLAS kernels for the CPU backend; when unset,\n"
          "                          mmrun picks the widest this CPU runs (see mmrun info)\n"
          "  VK_ICD_FILENAMES        which Vulkan driver(s) the loader offers\n"
          "  MM_VK_GPU_KERNELS=1, MM_VK_FORCE_STAGING=1, MM_VK_NO_SUBGROUP=1\n"
          "                          override --vk-kernels gpu, --vk-memory staging and\n"
          "                          --vk-subgroups off (the tests use them)\n"
          "\n"
          "examples:\n"
          "  mmrun info\n"
          "  mmrun info ~/models/whisper-tiny --backend cpu\n"
          "  mmrun bench ~/models/whisper-tiny            (Vulkan GPU if any, else CPU)\n"
          "  mmrun bench ~/models/vit-gpt2 --backend cpu -t 4 --runs 10\n"
          "  mmrun classify -m ~/models/clip-vit-base-patch32 cat.jpg --labels \"a cat,a dog\"\n"
          "  mmrun index ~/Pictures --db pics.db -m ~/models/clip-vit-base-patch32\n"
          "  mmrun search --db pics.db \"a red bicycle\"\n",
          f);
}

static void print_usage(FILE *f, const cli_command *c)
{
    fprintf(f, "usage: mmrun %s %s\n\n%s", c->name, c->usage, c->details);
    if (c->options) {
        fputs("\noptions:\n", f);
        cli_print_options(f, c->options);
    }
    fputs("\nThe global options (mmrun --help) go before or after the command.\n", f);
}

/* "mmrun: error: <message>; see mmrun help CMD" (one line); returns 2. */
static int usage_error(const cli_command *c, const char *fmt, ...) MM_PRINTF(2, 3);
static int usage_error(const cli_command *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mmrun: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (c)
        fprintf(stderr, "; see mmrun help %s\n", c->name);
    else
        fputs("; see mmrun --help\n", stderr);
    return 2;
}

static int cmd_help(int argc, char **argv, cli_options *opt)
{
    if (argc < 2) {
        print_help(stdout);
        return 0;
    }
    const cli_command *c = find_command(argv[1]);
    if (!c)
        return usage_error(NULL, "unknown command '%s'", argv[1]);
    print_usage(stdout, c);
    return 0;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return usage_error(find_command(command), "%s", msg);
}

int cli_fail(const char *what)
{
    const char *why = mm_error_message();
    size_t n = strlen(what);
    if (why && strncmp(why, what, n) == 0 && why[n] == ':') /* the message names it already */
        fprintf(stderr, "mmrun: error: %s\n", why);
    else if (why && *why)
        fprintf(stderr, "mmrun: error: %s: %s\n", what, why);
    else
        fprintf(stderr, "mmrun: error: %s\n", what);
    return 1;
}

/* Parses the arguments into opt and runs the command; args holds argc
 * pointers. */
static int parse_and_run(int argc, char **argv, char **args, cli_options *opt)
{
    /* Options may come before the command, so it is found knowing which
     * options (of any command) take a value. */
    const cli_option *all[1 + N_COMMANDS] = {global_options};
    for (int i = 0; i < N_COMMANDS; i++)
        all[1 + i] = commands[i].options;
    const char *name = cli_first_arg(argc, argv, all, 1 + N_COMMANDS);
    const cli_command *cmd = name ? find_command(name) : NULL;

    char err[512];
    int n_args = 0;
    const cli_option *tables[2] = {global_options, cmd ? cmd->options : NULL};
    if (!cli_parse_argv(argc, argv, tables, 2, opt, args, argc, &n_args, err, sizeof err))
        return usage_error(cmd, "%s", err);
    if (name && !cmd)
        return usage_error(NULL, "unknown command '%s'", name);
    if (opt->version) {
        printf("mmrun %s\n", mm_version());
        return 0;
    }
    if (opt->help) {
        cmd ? print_usage(stdout, cmd) : print_help(stdout);
        return 0;
    }
    if (!cmd) {
        print_help(stderr);
        return 2;
    }
    if (n_args - 1 < cmd->min_args)
        return usage_error(cmd, "%s needs %s", cmd->name, cmd->needs);
    if (n_args - 1 > cmd->max_args)
        return usage_error(cmd, "%s: unexpected argument '%s'", cmd->name, args[1 + cmd->max_args]);
    if (opt->verbose)
        mm_log_set_level(MM_LOG_DEBUG);
    return cmd->run(n_args, args, opt);
}

int main(int argc, char **argv)
{
    blas_reexec(argv); /* before anything else: it may restart the program */
    cli_options opt = {.rt = mm_runtime_default_params()};
    /* room for every argument: `classify` takes any number of images */
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args) {
        fputs("mmrun: error: out of memory\n", stderr);
        return 1;
    }
    int rc = parse_and_run(argc, argv, args, &opt);
    for (int i = 0; i < N_COMMANDS; i++) /* list options point into argv; their arrays are ours */
        cli_free_lists(&commands[i].options, 1, &opt);
    free(args);
    return rc;
}
