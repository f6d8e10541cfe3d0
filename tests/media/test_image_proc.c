/* Image processors: pixel_values of the fixtures' inputs against
 * transformers' (CLIP: shortest edge + BICUBIC + centre crop; ViT: 224x224
 * BILINEAR), which only a resize bit-exact with Pillow's meets at 1e-5;
 * hand-computed resizes; preprocessor_config.json parsing and its errors;
 * transformers' centre crop where the image is smaller than the crop. */
#include "mm/media.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_OK(call)                                                                                                 \
    do {                                                                                                               \
        mm_status s_ = (call);                                                                                         \
        if (s_ != MM_OK)                                                                                               \
            fail_msg("%s: %s", #call, mm_error_message());                                                             \
    } while (0)

/* pixel_values of `files` through the fixture's own processor, compared as
 * one batch [B][3][H][W] with expected.safetensors' tensor at 1e-5. */
static void check_pixel_values(const char *fixture, const char *const *files, int n)
{
    char dir[1024], path[1024], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/preprocessor_config.json", fixture);
    TEST_REQUIRE_SHARED(path, rel);
    snprintf(dir, sizeof dir, "%s/fixtures/%s", test_shared_dir(), fixture);
    mm_image_proc *pp;
    CHECK_OK(mm_image_proc_init(dir, &pp));
    int64_t shape[4];
    int32_t nd;
    float *want = test_load_expected(fixture, "pixel_values", shape, &nd);
    assert_int_equal(nd, 4);
    assert_int_equal(shape[0], n);
    assert_int_equal(shape[1], 3);
    const size_t per = (size_t)3 * shape[2] * shape[3];
    float *got = malloc(sizeof(float) * per * n);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "fixtures/%s/%s", fixture, files[i]);
        TEST_REQUIRE_SHARED(path, rel);
        mm_image *img;
        CHECK_OK(mm_image_load(path, 0, &img));
        int32_t w, h;
        CHECK_OK(mm_image_proc_output_size(pp, img, &w, &h));
        assert_int_equal(w, shape[3]);
        assert_int_equal(h, shape[2]);
        CHECK_OK(mm_image_proc_compute(pp, img, got + per * i));
        double e = 0;
        for (size_t k = 0; k < per; k++)
            e = fmax(e, fabs((double)got[per * i + k] - want[per * i + k]));
        print_message("  %s %s: max |pixel_values - transformers| = %.3g\n", fixture, files[i], e);
        worst = fmax(worst, e);
        mm_image_free(img);
    }
    char what[128];
    snprintf(what, sizeof what, "%s pixel_values", fixture);
    assert_true(test_allclose(what, got, want, per * n, 1e-5, 0.0));
    free(got);
    free(want);
    mm_image_proc_free(pp);
}

static void test_pixel_values_clip(void **state)
{
    const char *files[] = {"CLIP.png", "coco-000000039769.png", "coco-000000039769-q90.jpg"};
    check_pixel_values("clip-tiny-random", files, 3);
}

static void test_pixel_values_vit(void **state)
{
    const char *files[] = {"coco-000000039769.png", "lavis-merlion.png"};
    check_pixel_values("vit-gpt2-tiny-random", files, 2);
}

/* Pillow's BILINEAR 4 -> 2 by hand: scale 2 widens the support to 2; output
 * 0 (centre 1.0) weighs inputs 0,1,2 by 0.75,0.75,0.25 (normalised /1.75),
 * output 1 (centre 3.0) inputs 1,2,3 by 0.25,0.75,0.75:
 * (0*3 + 100*3 + 200) / 7 = 71.4 -> 71 and (100 + 200*3 + 255*3) / 7 =
 * 209.3 -> 209. The height is unchanged, so only that pass runs. */
static void test_resize_by_hand(void **state)
{
    const uint8_t row[12] = {0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255};
    mm_image *img, *r;
    CHECK_OK(mm_image_from_rgb(row, 4, 1, &img));
    CHECK_OK(mm_image_resize(img, 2, 1, MM_RESAMPLE_BILINEAR, &r));
    const uint8_t want[6] = {71, 71, 71, 209, 209, 209};
    assert_memory_equal(mm_image_pixels(r), want, 6);
    mm_image_free(r);
    /* Upscaling 4 -> 8 with BICUBIC overshoots past 255 and below 0 around
     * the steps: clipped, never wrapped. Flat ends stay flat. */
    const uint8_t step[12] = {0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255};
    mm_image *s;
    CHECK_OK(mm_image_from_rgb(step, 4, 1, &s));
    CHECK_OK(mm_image_resize(s, 8, 1, MM_RESAMPLE_BICUBIC, &r));
    const uint8_t *p = mm_image_pixels(r);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[7 * 3], 255);
    for (int x = 1; x < 8; x++)
        assert_true(p[x * 3] >= p[(x - 1) * 3]); /* monotone: no wrap-around */
    mm_image_free(r);
    mm_image_free(s);
    /* Same size: a copy; every filter keeps a constant image constant. */
    uint8_t flat[30 * 20 * 3];
    memset(flat, 77, sizeof flat);
    mm_image *c;
    CHECK_OK(mm_image_from_rgb(flat, 30, 20, &c));
    for (int f = 0; f <= 5; f++) {
        CHECK_OK(mm_image_resize(c, 13, 7, (mm_resample)f, &r));
        for (int k = 0; k < 13 * 7 * 3; k++)
            assert_int_equal(mm_image_pixels(r)[k], 77);
        mm_image_free(r);
    }
    assert_int_equal(mm_image_resize(c, 0, 7, MM_RESAMPLE_BILINEAR, &r), MM_ERR_INVALID);
    assert_int_equal(mm_image_resize(c, 7, 7, (mm_resample)9, &r), MM_ERR_INVALID);
    mm_image_free(c);
    mm_image_free(img);
}

static const char *g_cfg = "/tmp/mm_test_image_proc.json";

static mm_status init_from(const char *json, mm_image_proc **pp)
{
    FILE *f = fopen(g_cfg, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    mm_status st = mm_image_proc_init(g_cfg, pp);
    print_message("  %s -> %s %s\n", json, mm_status_name(st), st ? mm_error_message() : "");
    return st;
}

static void test_config(void **state)
{
    mm_image_proc *pp;
    /* Legacy files: an integer size is a shortest edge for CLIP, a square
     * for ViT; absent keys take the class defaults. */
    CHECK_OK(init_from("{\"feature_extractor_type\": \"CLIPFeatureExtractor\", \"size\": 256, \"crop_size\": 240}",
                       &pp));
    mm_image_params p = mm_image_proc_get_params(pp);
    assert_int_equal(p.shortest_edge, 256);
    assert_int_equal(p.crop_width, 240);
    assert_int_equal(p.crop_height, 240);
    assert_int_equal(p.resample, MM_RESAMPLE_BICUBIC);
    assert_true(p.do_center_crop && p.do_normalize);
    assert_true(p.image_std[1] == 0.26130258f);
    mm_image_proc_free(pp);
    CHECK_OK(init_from("{\"feature_extractor_type\": \"ViTFeatureExtractor\", \"size\": 384, \"image_mean\": 0.25,"
                       " \"resample\": 1}",
                       &pp));
    p = mm_image_proc_get_params(pp);
    assert_int_equal(p.shortest_edge, 0);
    assert_int_equal(p.resize_width, 384);
    assert_int_equal(p.resize_height, 384);
    assert_int_equal(p.resample, MM_RESAMPLE_LANCZOS);
    assert_true(!p.do_center_crop && p.image_mean[2] == 0.25f && p.image_std[0] == 0.5f);
    mm_image_proc_free(pp);

    assert_int_equal(init_from("{\"image_processor_type\": \"SamImageProcessor\"}", &pp), MM_ERR_UNSUPPORTED);
    assert_int_equal(init_from("{\"size\": 224}", &pp), MM_ERR_FORMAT);
    assert_int_equal(init_from("[1, 2]", &pp), MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"resample\": 9}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": -3}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": {\"width\": 3}}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"ViTImageProcessor\", \"size\": {\"shortest_edge\": 3}}",
                               &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"image_std\": [0.5, 0, 0.5]}",
                               &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"image_mean\": [0.5, 0.5]}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"do_resize\": \"yes\"}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{\"image_processor_type\": \"CLIPImageProcessor\", \"rescale_factor\": \"x\"}", &pp),
                     MM_ERR_FORMAT);
    assert_int_equal(init_from("{not json", &pp), MM_ERR_FORMAT);
    assert_int_equal(mm_image_proc_init("/nonexistent/folder", &pp), MM_ERR_IO);
    remove(g_cfg);
}

/* transformers' centre crop of an image smaller than the crop: padded with
 * black (which normalises to -mean/std), the image centred at floor of half
 * the difference; an odd difference gives transformers a window one short,
 * which is refused. */
static void test_center_crop_padding(void **state)
{
    mm_image_params p = mm_image_params_clip();
    p.do_resize = false;
    p.crop_width = p.crop_height = 8;
    mm_image_proc *pp;
    CHECK_OK(mm_image_proc_init_params(&p, &pp));
    uint8_t px[4 * 6 * 3];
    memset(px, 255, sizeof px);
    mm_image *img;
    CHECK_OK(mm_image_from_rgb(px, 4, 6, &img)); /* 4 wide, 6 high: pads 2 left/right, 1 top/bottom */
    int32_t w, h;
    CHECK_OK(mm_image_proc_output_size(pp, img, &w, &h));
    assert_int_equal(w, 8);
    assert_int_equal(h, 8);
    float out[3 * 8 * 8];
    CHECK_OK(mm_image_proc_compute(pp, img, out));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                const bool in = x >= 2 && x < 6 && y >= 1 && y < 7;
                const float v = in ? 1.0f : 0.0f;
                const float want = (v - p.image_mean[c]) / p.image_std[c];
                assert_float_equal(out[c * 64 + y * 8 + x], want, 1e-6);
            }
    mm_image_free(img);
    CHECK_OK(mm_image_from_rgb(px, 4, 5, &img)); /* 8 - 5 is odd */
    assert_int_equal(mm_image_proc_output_size(pp, img, &w, &h), MM_ERR_UNSUPPORTED);
    assert_int_equal(mm_image_proc_compute(pp, img, out), MM_ERR_UNSUPPORTED);
    mm_image_free(img);
    mm_image_proc_free(pp);

    /* A sliver resized to CLIP's shortest edge would be 224 x 1344000:
     * refused before the resize allocates it. */
    uint8_t *sliver = calloc(6000, 3);
    CHECK_OK(mm_image_from_rgb(sliver, 1, 6000, &img));
    p = mm_image_params_clip();
    CHECK_OK(mm_image_proc_init_params(&p, &pp));
    mm_status st = mm_image_proc_output_size(pp, img, &w, &h);
    print_message("  1x6000 image: %s\n", mm_error_message());
    assert_int_equal(st, MM_ERR_NOMEM);
    assert_non_null(strstr(mm_error_message(), "224x1344000"));
    assert_int_equal(mm_image_proc_compute(pp, img, out), MM_ERR_NOMEM);
    mm_image_free(img);
    mm_image_proc_free(pp);
    free(sliver);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_values_clip),
        cmocka_unit_test(test_pixel_values_vit),
        cmocka_unit_test(test_resize_by_hand),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_center_crop_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
