#include "tok_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

mm_tokenizer *tt_load(const char *rel)
{
    char dir[1024];
    TEST_REQUIRE_SHARED(dir, rel);
    mm_tokenizer *tok = NULL;
    if (mm_tokenizer_load(dir, &tok) != MM_OK)
        fail_msg("loading %s: %s", dir, mm_error_message());
    return tok;
}

json_object *tt_expected(const char *fixture)
{
    char rel[512], path[1024];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.json", fixture);
    TEST_REQUIRE_SHARED(path, rel);
    json_object *root = json_object_from_file(path);
    if (!root)
        fail_msg("%s: cannot parse", path);
    return root;
}

json_object *tt_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        fail_msg("expected.json: no \"%s\"", key);
    return v;
}

const char *tt_str(json_object *obj, const char *key)
{
    json_object *v = tt_get(obj, key);
    if (!json_object_is_type(v, json_type_string))
        fail_msg("expected.json: \"%s\" is not a string", key);
    return json_object_get_string(v);
}

int32_t *tt_int_array(json_object *arr, int32_t *n)
{
    if (!json_object_is_type(arr, json_type_array))
        fail_msg("expected.json: not an array");
    *n = (int32_t)json_object_array_length(arr);
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    assert_non_null(v);
    for (int32_t i = 0; i < *n; i++)
        v[i] = json_object_get_int(json_object_array_get_idx(arr, (size_t)i));
    return v;
}

int32_t *tt_encode(const mm_tokenizer *tok, const char *text, uint32_t flags, int32_t *n)
{
    int32_t need = 0;
    if (mm_tokenizer_encode(tok, text, flags, NULL, 0, &need) != MM_OK)
        fail_msg("encode(\"%s\"): %s", text, mm_error_message());
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    assert_non_null(ids);
    int32_t got = -1;
    if (mm_tokenizer_encode(tok, text, flags, ids, need, &got) != MM_OK)
        fail_msg("encode(\"%s\"): %s", text, mm_error_message());
    assert_int_equal(got, need);
    *n = got;
    return ids;
}

char *tt_decode(const mm_tokenizer *tok, const int32_t *ids, int32_t n, uint32_t flags)
{
    size_t len = 0;
    if (mm_tokenizer_decode(tok, ids, n, flags, NULL, 0, &len) != MM_OK)
        fail_msg("decode: %s", mm_error_message());
    char *text = malloc(len + 1);
    assert_non_null(text);
    size_t len2 = 0;
    if (mm_tokenizer_decode(tok, ids, n, flags, text, len + 1, &len2) != MM_OK)
        fail_msg("decode: %s", mm_error_message());
    assert_int_equal(len2, len);
    assert_int_equal(strlen(text), len);
    return text;
}

static void print_ids(const char *label, const int32_t *ids, int32_t n)
{
    char line[4096];
    size_t k = (size_t)snprintf(line, sizeof line, "  %s (%d):", label, n);
    for (int32_t i = 0; i < n && k < sizeof line - 16; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, " %d", ids[i]);
    print_message("%s\n", line);
}

void tt_assert_ids(const char *what, const int32_t *got, int32_t n_got, const int32_t *want, int32_t n_want)
{
    if (n_got == n_want && (n_got == 0 || memcmp(got, want, (size_t)n_got * sizeof *got) == 0))
        return;
    print_message("%s: ids differ\n", what);
    print_ids("got ", got, n_got);
    print_ids("want", want, n_want);
    fail_msg("%s: ids differ", what);
}

static void print_escaped(const char *label, const char *s)
{
    char line[4096];
    size_t k = (size_t)snprintf(line, sizeof line, "  %s: \"", label);
    for (const unsigned char *p = (const unsigned char *)s; *p && k < sizeof line - 8; p++)
        k += (size_t)(*p >= 0x20 && *p < 0x7F && *p != '\\' ? snprintf(line + k, sizeof line - k, "%c", *p)
                                                             : snprintf(line + k, sizeof line - k, "\\x%02x", *p));
    print_message("%s\"\n", line);
}

void tt_assert_text(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) == 0)
        return;
    print_message("%s: text differs\n", what);
    print_escaped("got ", got);
    print_escaped("want", want);
    fail_msg("%s: text differs", what);
}

void tt_write_file(const char *dir, const char *name, const char *text)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

void tt_remove_folder(const char *dir)
{
    static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                                        "added_tokens.json", "special_tokens_map.json", "config.json"};
    char path[1100];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

char *tt_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

void tt_write_tokenizer_json(const char *src, const char *dir, bool pairs, const char *suffix, const char *added_json)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/vocab.json", src);
    json_object *vocab = json_object_from_file(path);
    assert_non_null(vocab);
    snprintf(path, sizeof path, "%s/merges.txt", src);
    char *merges = tt_slurp(path);
    json_object *arr = json_object_new_array();
    for (char *line = strtok(merges, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "#version", 8) == 0)
            continue;
        if (pairs) {
            char *sp = strchr(line, ' ');
            assert_non_null(sp);
            json_object *p = json_object_new_array();
            json_object_array_add(p, json_object_new_string_len(line, (int)(sp - line)));
            json_object_array_add(p, json_object_new_string(sp + 1));
            json_object_array_add(arr, p);
        } else
            json_object_array_add(arr, json_object_new_string(line));
    }
    free(merges);
    json_object *model = json_object_new_object();
    json_object_object_add(model, "type", json_object_new_string("BPE"));
    if (suffix)
        json_object_object_add(model, "end_of_word_suffix", json_object_new_string(suffix));
    json_object_object_add(model, "vocab", vocab);
    json_object_object_add(model, "merges", arr);
    json_object *root = json_object_new_object();
    json_object *added = json_tokener_parse(added_json);
    assert_non_null(added);
    json_object_object_add(root, "added_tokens", added);
    json_object_object_add(root, "model", model);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(json_object_to_file_ext(path, root, JSON_C_TO_STRING_PLAIN), 0);
    json_object_put(root);
}
