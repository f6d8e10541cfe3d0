/* Test-time copies of a model folder with changed weights: F16 checkpoints
 * of the F32 fixtures, or weights edited to make two folders differ. */
#ifndef MM_TEST_MODEL_COPY_H
#define MM_TEST_MODEL_COPY_H

#include "mm/mm.h"

/* Changes weight `name`'s value v (already F16-rounded when asked). */
typedef float (*test_weight_edit)(const char *name, float v);

/* Writes every weight of the F32 model m into a new temp folder (returned,
 * malloc'd) as `dtype` (F16, or F32), its values rounded to F16 first when
 * round_f16, then passed through edit (may be NULL); config.json is linked
 * from config_dir. Aborts the test on failure. Remove it with
 * test_model_copy_remove, which also frees the path. */
char *test_model_copy(const mm_model *m, const char *config_dir, mm_dtype dtype, bool round_f16,
                      test_weight_edit edit);
void test_model_copy_remove(char *dir);

#endif
