/* Fixture folders with one config value changed (fixture_copy.h). */
#include "fixture_copy.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *fixture_config_copy(const char *fixture, const char *key, const char *value)
{
    char src[1024], path[1200];
    snprintf(src, sizeof src, "%s/fixtures/%s", test_shared_dir(), fixture);
    char *dir = strdup("/tmp/mm-test-config-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));

    snprintf(path, sizeof path, "%s/config.json", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char json[1 << 16];
    size_t n = fread(json, 1, sizeof json - 1, f);
    assert_true(feof(f)); /* the fixture configs are a few KiB */
    fclose(f);
    json[n] = '\0';

    /* Replace the `"<key>": <value>` occurrence (the keys used are unique). */
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    char *hit = strstr(json, needle);
    assert_non_null(hit);
    char *val = hit + strlen(needle);
    size_t old_len = strcspn(val, ",\n}");
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f, "%.*s%s%s", (int)(val - json), json, value, val + old_len);
    fclose(f);

    snprintf(src, sizeof src, "%s/fixtures/%s/model.safetensors", test_shared_dir(), fixture);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(symlink(src, path), 0);
    return dir;
}
