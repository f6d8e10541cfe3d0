/* Fixture folders with one config value changed, for the plugin tests'
 * bad-config cases. */
#ifndef MM_TEST_FIXTURE_COPY_H
#define MM_TEST_FIXTURE_COPY_H

/* A model folder in a temp dir (malloc'd path; remove it with
 * test_model_copy_remove): fixture `fixture`'s weights (symlinked) with a
 * config.json whose first `"<key>": ` value is replaced by `value` (raw
 * JSON). */
char *fixture_config_copy(const char *fixture, const char *key, const char *value);

#endif
