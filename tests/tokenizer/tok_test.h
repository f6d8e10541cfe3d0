/* Helpers of the tokenizer tests: loading fixtures' tokenizers and
 * expected.json, encoding and decoding into owned arrays, comparing ids
 * with a readable message. */
#ifndef MM_TOK_TEST_H
#define MM_TOK_TEST_H

#include "test_util.h"

#include "mm/tokenizer.h"

#include <json-c/json.h>

/* Loads the tokenizer of "<shared>/<rel>" (skips the test when absent,
 * fails on a load error). */
mm_tokenizer *tt_load(const char *rel);
/* Parses "<shared>/fixtures/<fixture>/expected.json" (fails when it cannot). */
json_object *tt_expected(const char *fixture);
/* json helpers that fail the test when the value is missing or mistyped. */
json_object *tt_get(json_object *obj, const char *key);
const char *tt_str(json_object *obj, const char *key);
/* A JSON array of integers as a malloc'd array. */
int32_t *tt_int_array(json_object *arr, int32_t *n);

/* Encodes text (asserting success); malloc'd ids. */
int32_t *tt_encode(const mm_tokenizer *tok, const char *text, uint32_t flags, int32_t *n);
/* Decodes ids (asserting success); malloc'd NUL-terminated text. */
char *tt_decode(const mm_tokenizer *tok, const int32_t *ids, int32_t n, uint32_t flags);
/* Fails with both sequences printed when they differ. */
void tt_assert_ids(const char *what, const int32_t *got, int32_t n_got, const int32_t *want, int32_t n_want);
/* Fails with both strings printed (escaped) when they differ. */
void tt_assert_text(const char *what, const char *got, const char *want);

/* A whole file as a malloc'd NUL-terminated string (fails when unreadable). */
char *tt_slurp(const char *path);
/* Writes <dir>/<name> with `text`. */
void tt_write_file(const char *dir, const char *name, const char *text);
/* Removes a scratch folder with the tokenizer files the tests write. */
void tt_remove_folder(const char *dir);
/* Writes <dir>/tokenizer.json from <src>/vocab.json and merges.txt, the
 * merges as "a b" strings or ["a", "b"] pairs, model.end_of_word_suffix
 * when given, and `added_json` (a JSON array) as added_tokens. */
void tt_write_tokenizer_json(const char *src, const char *dir, bool pairs, const char *suffix, const char *added_json);

#endif
