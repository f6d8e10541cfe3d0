/* Caption an image through the public API.
 *
 *     sample-caption MODEL_DIR IMAGE_FILE
 *
 * libmm-media decodes and preprocesses the image as the model's
 * preprocessor_config.json says; libmm runs the encoder and the decoder. */
#include <mm/caption.h>
#include <mm/media.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what)
{
    fprintf(stderr, "sample-caption: %s: %s\n", what, mm_error_message());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE_FILE\n", argv[0]);
        return 2;
    }
    mm_runtime *rt = NULL;
    mm_captioner *cap = NULL;
    mm_image_proc *pp = NULL;
    mm_image *img = NULL;
    mm_shape shape;
    if (mm_runtime_init(NULL, &rt) != MM_OK)
        return fail("runtime");
    if (mm_captioner_init(rt, argv[1], &cap) != MM_OK || mm_captioner_image_shape(cap, &shape) != MM_OK ||
        mm_image_proc_init(argv[1], &pp) != MM_OK)
        return fail(argv[1]);
    if (mm_image_load(argv[2], 0, &img) != MM_OK) /* 0: the default pixel limit */
        return fail(argv[2]);

    float *pixels = malloc(sizeof(float) * (size_t)(shape.ne[0] * shape.ne[1] * shape.ne[2]));
    if (!pixels || mm_image_proc_compute(pp, img, pixels) != MM_OK)
        return fail("pixels");

    mm_caption_params params = mm_captioner_default_params(cap); /* the model's generation_config.json */
    mm_caption caption;
    if (mm_caption_images(cap, pixels, 1, &params, &caption) != MM_OK)
        return fail("caption");
    printf("%s\n", caption.text);

    mm_caption_clear(&caption);
    free(pixels);
    mm_image_free(img);
    mm_image_proc_free(pp);
    mm_captioner_free(cap);
    mm_runtime_free(rt);
    return 0;
}
