/* mmrun's option parser (cli/options.c) on its own: the value parsers'
 * results and exact messages, and argument order, spellings and errors. */
#include "test_util.h"

#include "options.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { COLOR_RED = 1, COLOR_GREEN = 7 } color;

typedef struct values {
    int32_t count;
    float ratio;
    color color;
    const char *name;
    bool loud;
} values;

static const cli_enum_name color_names[] = {{"red", COLOR_RED}, {"green", COLOR_GREEN}, {NULL, 0}};

static const cli_option global_table[] = {
    {.name = "count", .short_name = 'c', .type = CLI_OPT_INT, .offset = offsetof(values, count), .arg = "N",
     .help = "how many", .lo = -5, .hi = 1000},
    {.name = "loud", .short_name = 'l', .type = CLI_OPT_FLAG, .offset = offsetof(values, loud), .help = "louder"},
    {0},
};
static const cli_option command_table[] = {
    {.name = "ratio", .type = CLI_OPT_FLOAT, .offset = offsetof(values, ratio), .arg = "R", .help = "a ratio",
     .lo = 0.0, .hi = 2.5},
    {.name = "color", .short_name = 'k', .type = CLI_OPT_ENUM, .offset = offsetof(values, color),
     .names = color_names, .help = "which"},
    {.name = "name", .type = CLI_OPT_STRING, .offset = offsetof(values, name), .arg = "S", .help = "a name"},
    {0},
};
static const cli_option *const tables[] = {global_table, command_table};

static void test_int(void **state)
{
    char err[128] = "";
    int32_t v = 0;
    assert_true(cli_parse_int("--n", "42", 1, 64, &v, err, sizeof err));
    assert_int_equal(v, 42);
    assert_true(cli_parse_int("--n", "-3", -5, 5, &v, err, sizeof err));
    assert_int_equal(v, -3);
    assert_false(cli_parse_int("--threads", "0", 1, 1024, &v, err, sizeof err));
    assert_string_equal(err, "--threads: 0 is out of range 1..1024");
    assert_false(cli_parse_int("--n", "65", 1, 64, &v, err, sizeof err));
    assert_string_equal(err, "--n: 65 is out of range 1..64");
    assert_false(cli_parse_int("--n", "9223372036854775808", 1, 64, &v, err, sizeof err)); /* overflows long long */
    assert_string_equal(err, "--n: 9223372036854775808 is out of range 1..64");
    const char *bad[] = {"", "x", "4x", "4.0", " 4", "0x10", "--"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "--n: '%s' is not an integer", bad[i]);
        assert_false(cli_parse_int("--n", bad[i], 1, 64, &v, err, sizeof err));
        assert_string_equal(err, want);
    }
    assert_int_equal(v, -3); /* failures leave the value alone */
}

static void test_float(void **state)
{
    char err[128] = "";
    double v = 0;
    assert_true(cli_parse_float("--t", "0.25", 0, 2, &v, err, sizeof err));
    assert_true(v == 0.25);
    assert_true(cli_parse_float("--t", "2", 0, 2, &v, err, sizeof err));
    assert_true(v == 2.0);
    assert_true(cli_parse_float("--t", "1e-3", 0, 2, &v, err, sizeof err));
    assert_true(v == 1e-3);
    assert_false(cli_parse_float("--temperature", "2.5", 0, 2, &v, err, sizeof err));
    assert_string_equal(err, "--temperature: 2.5 is out of range 0..2");
    assert_false(cli_parse_float("--t", "-0.5", 0, 1.5, &v, err, sizeof err));
    assert_string_equal(err, "--t: -0.5 is out of range 0..1.5");
    assert_false(cli_parse_float("--t", "inf", 0, 2, &v, err, sizeof err));
    assert_string_equal(err, "--t: inf is out of range 0..2");
    assert_false(cli_parse_float("--t", "1e999", 0, 2, &v, err, sizeof err));
    assert_string_equal(err, "--t: 1e999 is out of range 0..2");
    const char *bad[] = {"", "nan", "1.5x", ".", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "--t: '%s' is not a number", bad[i]);
        assert_false(cli_parse_float("--t", bad[i], 0, 2, &v, err, sizeof err));
        assert_string_equal(err, want);
    }
    assert_true(v == 1e-3);
}

static void test_enum(void **state)
{
    char err[128] = "";
    int v = 0;
    assert_true(cli_parse_enum("--color", "green", color_names, &v, err, sizeof err));
    assert_int_equal(v, COLOR_GREEN);
    assert_false(cli_parse_enum("--color", "Green", color_names, &v, err, sizeof err));
    assert_string_equal(err, "--color: 'Green' is not one of red, green");
    assert_false(cli_parse_enum("--color", "", color_names, &v, err, sizeof err));
    assert_string_equal(err, "--color: '' is not one of red, green");
    char small[20]; /* a message longer than the buffer is cut, not overrun */
    assert_false(cli_parse_enum("--color", "blue", color_names, &v, small, sizeof small));
    assert_string_equal(small, "--color: 'blue' is ");
    assert_int_equal(v, COLOR_GREEN);
}

/* Parses a NULL-terminated argument list; returns success, err and args. */
static bool parse(values *v, char **args, int *n_args, char *err, size_t err_size, ...)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, err_size);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    memset(v, 0, sizeof *v);
    err[0] = '\0';
    return cli_parse_argv(argc, argv, tables, 2, v, args, 4, n_args, err, err_size);
}

static void test_argv_anywhere(void **state)
{
    values v;
    char *args[4], err[256];
    int n;
    /* every spelling, before, between and after the arguments */
    assert_true(parse(&v, args, &n, err, sizeof err, "--count", "7", "run", "--ratio=0.5", "a.txt", "-kgreen",
                      "--name", "-x", "-l", "b.txt", NULL));
    assert_string_equal(err, "");
    assert_int_equal(v.count, 7);
    assert_true(v.ratio == 0.5f);
    assert_int_equal(v.color, COLOR_GREEN);
    assert_string_equal(v.name, "-x"); /* a value may start with '-' */
    assert_true(v.loud);
    assert_int_equal(n, 3);
    assert_string_equal(args[0], "run");
    assert_string_equal(args[1], "a.txt");
    assert_string_equal(args[2], "b.txt");
    /* short forms with the value apart or attached; "-" is an argument; "--" ends the options */
    assert_true(parse(&v, args, &n, err, sizeof err, "-c", "-5", "-k", "red", "-", "--", "--count", "-l", NULL));
    assert_int_equal(v.count, -5);
    assert_int_equal(v.color, COLOR_RED);
    assert_false(v.loud);
    assert_int_equal(n, 3);
    assert_string_equal(args[0], "-");
    assert_string_equal(args[1], "--count");
    assert_string_equal(args[2], "-l");
    assert_true(parse(&v, args, &n, err, sizeof err, "-c12", NULL));
    assert_int_equal(v.count, 12);
    assert_int_equal(n, 0);
}

static void test_argv_errors(void **state)
{
    static const struct {
        const char *args[4];
        const char *err;
    } cases[] = {
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"-z"}, "unknown option '-z'"},
        {{"-lk"}, "unknown option '-lk'"},
        {{"--loud=yes"}, "--loud takes no value"},
        {{"a", "--count"}, "--count needs a value"},
        {{"--count", "1001"}, "--count: 1001 is out of range -5..1000"},
        {{"-c", "x"}, "--count: 'x' is not an integer"},
        {{"--ratio=3"}, "--ratio: 3 is out of range 0..2.5"},
        {{"--color", "blue"}, "--color: 'blue' is not one of red, green"},
        {{"--countx=1"}, "unknown option '--countx=1'"},
        {{"--coun", "1"}, "unknown option '--coun'"}, /* no abbreviations */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        values v;
        char *args[4], err[256];
        int n;
        const char *const *a = cases[i].args;
        assert_false(parse(&v, args, &n, err, sizeof err, a[0], a[1], a[2], a[3]));
        assert_string_equal(err, cases[i].err);
    }
    values v;
    char *args[4], err[256];
    int n;
    assert_false(parse(&v, args, &n, err, sizeof err, "1", "2", "3", "4", "5", NULL));
    assert_string_equal(err, "unexpected argument '5'");
}

static void test_first_arg(void **state)
{
    char *a1[] = {"prog", "--count", "3", "-k", "red", "--ratio=1", "-c4", "cmd", "x"};
    assert_string_equal(cli_first_arg(9, a1, tables, 2), "cmd");
    char *a2[] = {"prog", "-l", "--", "-cmd"};
    assert_string_equal(cli_first_arg(4, a2, tables, 2), "-cmd");
    char *a3[] = {"prog", "--count", "3"};
    assert_null(cli_first_arg(3, a3, tables, 2));
    /* an option only the second table knows still takes its value */
    char *a4[] = {"prog", "--name", "cmd", "real"};
    assert_string_equal(cli_first_arg(4, a4, tables, 2), "real");
    assert_string_equal(cli_first_arg(4, a4, tables, 1), "cmd");
}

/* A repeatable option collects its values in order (pointing into argv);
 * cli_free_lists frees the array. */
static void test_list(void **state)
{
    typedef struct { cli_list files; int32_t count; } lv;
    static const cli_option table[] = {
        {.name = "file", .short_name = 'f', .type = CLI_OPT_LIST, .offset = offsetof(lv, files), .arg = "F",
         .help = "a file"},
        {.name = "count", .type = CLI_OPT_INT, .offset = offsetof(lv, count), .arg = "N", .help = "n", .lo = 0, .hi = 9},
        {0},
    };
    const cli_option *t[] = {table};
    char *argv[] = {"prog", "--file", "a b", "-fc", "x", "--count=3", "--file=", NULL};
    char *args[4], err[128] = "";
    int n_args = 0;
    lv v = {0};
    assert_true(cli_parse_argv(7, argv, t, 1, &v, args, 4, &n_args, err, sizeof err));
    assert_int_equal(v.files.n, 3);
    assert_string_equal(v.files.v[0], "a b");
    assert_string_equal(v.files.v[1], "c");
    assert_string_equal(v.files.v[2], "");
    assert_ptr_equal(v.files.v[0], argv[2]);
    assert_int_equal(n_args, 1);
    assert_string_equal(args[0], "x");
    assert_int_equal(v.count, 3);
    cli_free_lists(t, 1, &v);
    assert_int_equal(v.files.n, 0);
    assert_null(v.files.v);
    char *missing[] = {"prog", "--file", NULL};
    assert_false(cli_parse_argv(2, missing, t, 1, &v, args, 4, &n_args, err, sizeof err));
    assert_string_equal(err, "--file needs a value");
    cli_free_lists(t, 1, &v);
    (void)state;
}

static void test_help_lines(void **state)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    cli_print_options(f, command_table);
    cli_print_options(f, global_table);
    fclose(f);
    assert_string_equal(buf, "      --ratio R           a ratio [0..2.5]\n"
                             "  -k, --color red|green   which\n"
                             "      --name S            a name\n"
                             "  -c, --count N           how many [-5..1000]\n"
                             "  -l, --loud              louder\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),           cmocka_unit_test(test_float),
        cmocka_unit_test(test_enum),          cmocka_unit_test(test_argv_anywhere),
        cmocka_unit_test(test_argv_errors),   cmocka_unit_test(test_first_arg),
        cmocka_unit_test(test_help_lines),    cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
