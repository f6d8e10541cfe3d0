/* Image decoding: the fixtures' inputs decode to the bytes Pillow gave
 * (decoded_rgb_md5); every PNG colour type and bit depth, interlaced or
 * not, written here with libpng from one reference; JPEG grey, progressive,
 * CMYK and YCCK written with libjpeg; EXIF orientations 1-8 (JPEG, PNG,
 * WebP);
 * WebP lossless round trips; standard input; and bad files, each a clear
 * error, the oversized ones refused before anything is allocated. */
#include "mm/media.h"
#include "test_md5.h"
#include "test_util.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>
#include <webp/encode.h>

#define CHECK_OK(call)                                                                                                 \
    do {                                                                                                               \
        mm_status s_ = (call);                                                                                         \
        if (s_ != MM_OK)                                                                                               \
            fail_msg("%s: %s", #call, mm_error_message());                                                             \
    } while (0)

/* The call must fail with `want` and a message containing `needle`. */
#define CHECK_FAILS(call, want, needle)                                                                                \
    do {                                                                                                               \
        mm_status s_ = (call);                                                                                         \
        print_message("  %s -> %s: %s\n", #call, mm_status_name(s_), mm_error_message());                             \
        if (s_ != (want))                                                                                              \
            fail_msg("%s gave %s (%s), expected %s", #call, mm_status_name(s_), mm_error_message(),                   \
                     mm_status_name(want));                                                                            \
        if (!strstr(mm_error_message(), (needle)))                                                                     \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #call, mm_error_message(), (needle));                          \
    } while (0)

/* ---- growing byte buffers (encoders write into them) ---- */

typedef struct {
    uint8_t *d;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

/* ---- the reference: a deterministic RGBA picture ---- */

enum { RW = 37, RH = 23 }; /* odd sizes: every Adam7 pass is partial */

static uint8_t ref_px(int x, int y, int c)
{
    uint32_t h = (uint32_t)(x * 73856093u) ^ (uint32_t)(y * 19349663u) ^ (uint32_t)(c * 83492791u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (uint8_t)h;
}

/* ---- fixtures ---- */

static void check_fixture_inputs(const char *fixture)
{
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.json", fixture);
    TEST_REQUIRE_SHARED(path, rel);
    json_object *root = json_object_from_file(path), *inputs, *images;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "inputs", &inputs));
    assert_true(json_object_object_get_ex(inputs, "images", &images));
    size_t n = json_object_array_length(images);
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) {
        json_object *im = json_object_array_get_idx(images, i), *file, *md5, *wh;
        assert_true(json_object_object_get_ex(im, "file", &file));
        assert_true(json_object_object_get_ex(im, "decoded_rgb_md5", &md5));
        assert_true(json_object_object_get_ex(im, "size_wh", &wh));
        snprintf(rel, sizeof rel, "fixtures/%s/%s", fixture, json_object_get_string(file));
        TEST_REQUIRE_SHARED(path, rel);
        mm_image *img;
        CHECK_OK(mm_image_load(path, 0, &img));
        assert_int_equal(mm_image_width(img), json_object_get_int(json_object_array_get_idx(wh, 0)));
        assert_int_equal(mm_image_height(img), json_object_get_int(json_object_array_get_idx(wh, 1)));
        char hex[33];
        test_md5_hex(mm_image_pixels(img), (size_t)mm_image_width(img) * mm_image_height(img) * 3, hex);
        print_message("  %s: %dx%d %s md5 %s (Pillow %s)\n", rel, mm_image_width(img), mm_image_height(img),
                      mm_image_source_format(img), hex, json_object_get_string(md5));
        assert_string_equal(hex, json_object_get_string(md5));
        mm_image_free(img);
    }
    json_object_put(root);
}

static void test_fixture_decode_clip(void **state)
{
    check_fixture_inputs("clip-tiny-random");
}

static void test_fixture_decode_vit_gpt2(void **state)
{
    check_fixture_inputs("vit-gpt2-tiny-random");
}

/* ---- PNG: every colour type and depth ---- */

static void png_write_fn(png_structp png, png_bytep data, size_t n)
{
    buf_put(png_get_io_ptr(png), data, n);
}

static void png_flush_fn(png_structp png)
{
}

typedef struct {
    int ctype, depth;
    bool trns;
} png_kind;

/* Writes the reference as `k` (samples derived from it) and fills `want`
 * with the RGB Pillow's convert("RGB") gives for those samples. */
static buf write_png(png_kind k, bool interlace, int exif_orientation, uint8_t *want)
{
    buf out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing a test image");
    png_set_write_fn(png, &out, png_write_fn, png_flush_fn);
    png_set_IHDR(png, info, RW, RH, k.depth, k.ctype, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    const int levels = 1 << (k.depth > 8 ? 8 : k.depth);
    png_color pal[256];
    if (k.ctype == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < levels; i++)
            pal[i] = (png_color){ref_px(i, 100, 0), ref_px(i, 100, 1), ref_px(i, 100, 2)};
        png_set_PLTE(png, info, pal, levels);
    }
    if (k.trns) {
        png_byte alpha[256];
        for (int i = 0; i < 256; i++)
            alpha[i] = (png_byte)(i * 37);
        png_color_16 tc = {.red = 5, .green = 6, .blue = 7, .gray = 1};
        png_set_tRNS(png, info, alpha, k.ctype == PNG_COLOR_TYPE_PALETTE ? levels : 0, &tc);
    }
    if (exif_orientation) {
        uint8_t exif[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                          0, (uint8_t)exif_orientation, 0, 0, 0, 0, 0, 0};
        png_set_eXIf_1(png, info, sizeof exif, exif);
    }
    png_write_info(png, info);
    if (k.depth < 8)
        png_set_packing(png);
    const int ch = png_get_channels(png, info), bps = k.depth == 16 ? 2 : 1;
    uint8_t *rows = calloc((size_t)RH, (size_t)RW * ch * bps);
    png_bytep ptrs[RH];
    for (int y = 0; y < RH; y++) {
        ptrs[y] = rows + (size_t)y * RW * ch * bps;
        for (int x = 0; x < RW; x++) {
            uint8_t *s = ptrs[y] + (size_t)x * ch * bps, *w = want + ((size_t)y * RW + x) * 3;
            const uint8_t r = ref_px(x, y, 0), g = ref_px(x, y, 1), b = ref_px(x, y, 2), a = ref_px(x, y, 3);
            switch (k.ctype) {
            case PNG_COLOR_TYPE_GRAY:
                if (k.depth == 16) {
                    /* 0..765: Pillow clips what is above 255 */
                    unsigned v = r * 3u;
                    s[0] = (uint8_t)(v >> 8);
                    s[1] = (uint8_t)v;
                    w[0] = w[1] = w[2] = v > 255 ? 255 : (uint8_t)v;
                } else {
                    s[0] = (uint8_t)(r % levels);
                    w[0] = w[1] = w[2] = (uint8_t)(s[0] * 255 / (levels - 1));
                }
                break;
            case PNG_COLOR_TYPE_GRAY_ALPHA:
                for (int i = 0; i < bps; i++) {
                    s[i] = i ? g : r; /* low byte: noise the decoder must drop */
                    s[bps + i] = a;
                }
                w[0] = w[1] = w[2] = r;
                break;
            case PNG_COLOR_TYPE_PALETTE:
                s[0] = (uint8_t)(r % levels);
                w[0] = pal[s[0]].red;
                w[1] = pal[s[0]].green;
                w[2] = pal[s[0]].blue;
                break;
            default: { /* RGB, RGBA */
                const uint8_t v[4] = {r, g, b, a};
                for (int c = 0; c < ch; c++) {
                    s[c * bps] = v[c];
                    if (bps == 2)
                        s[c * bps + 1] = (uint8_t)(v[(c + 1) % 4] ^ 0x5a);
                }
                memcpy(w, v, 3);
            }
            }
        }
    }
    png_write_image(png, ptrs);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return out;
}

static void test_png_every_kind(void **state)
{
    static const png_kind kinds[] = {
        {PNG_COLOR_TYPE_GRAY, 1, false},       {PNG_COLOR_TYPE_GRAY, 2, false},
        {PNG_COLOR_TYPE_GRAY, 4, false},       {PNG_COLOR_TYPE_GRAY, 8, false},
        {PNG_COLOR_TYPE_GRAY, 8, true},        {PNG_COLOR_TYPE_GRAY, 16, false},
        {PNG_COLOR_TYPE_GRAY, 16, true},       {PNG_COLOR_TYPE_GRAY_ALPHA, 8, false},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 16, false}, {PNG_COLOR_TYPE_PALETTE, 1, false},
        {PNG_COLOR_TYPE_PALETTE, 2, false},    {PNG_COLOR_TYPE_PALETTE, 4, true},
        {PNG_COLOR_TYPE_PALETTE, 8, false},    {PNG_COLOR_TYPE_PALETTE, 8, true},
        {PNG_COLOR_TYPE_RGB, 8, false},        {PNG_COLOR_TYPE_RGB, 8, true},
        {PNG_COLOR_TYPE_RGB, 16, false},       {PNG_COLOR_TYPE_RGB_ALPHA, 8, false},
        {PNG_COLOR_TYPE_RGB_ALPHA, 16, false},
    };
    uint8_t want[RW * RH * 3];
    int n = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        for (int il = 0; il < 2; il++) {
            buf f = write_png(kinds[i], il, 0, want);
            mm_image *img;
            CHECK_OK(mm_image_load_memory(f.d, f.n, 0, &img));
            assert_int_equal(mm_image_width(img), RW);
            assert_int_equal(mm_image_height(img), RH);
            assert_string_equal(mm_image_source_format(img), "PNG");
            const uint8_t *got = mm_image_pixels(img);
            for (int p = 0; p < RW * RH * 3; p++)
                if (got[p] != want[p])
                    fail_msg("colour type %d, %d bits%s%s: byte %d (pixel %d,%d) is %d, expected %d", kinds[i].ctype,
                             kinds[i].depth, kinds[i].trns ? ", tRNS" : "", il ? ", interlaced" : "", p,
                             p / 3 % RW, p / 3 / RW, got[p], want[p]);
            mm_image_free(img);
            free(f.d);
            n++;
        }
    print_message("  %d PNG variants decode to the reference pixel by pixel\n", n);
}

/* ---- EXIF orientation ---- */

/* The upright picture: 4 x 2 blocks of 16 x 16 pixels in distinct colours
 * (no symmetry maps it onto itself). */
enum { UW = 64, UH = 32, BLK = 16 };

static void upright_px(int x, int y, uint8_t rgb[3])
{
    const int b = (y / BLK) * (UW / BLK) + x / BLK; /* 0..7 */
    rgb[0] = (uint8_t)(b & 1 ? 230 : 20);
    rgb[1] = (uint8_t)(b & 2 ? 230 : 20);
    rgb[2] = (uint8_t)(b & 4 ? 230 : 20 + 8 * b);
}

/* The stored image for orientation o, from the EXIF definition of where
 * stored row 0 and column 0 go (independent of the decoder's transforms):
 * stored (r, c) shows at upright (x, y). */
static void stored_to_upright(int o, int r, int c, int *x, int *y)
{
    switch (o) {
    case 1: *x = c; *y = r; break;                   /* row 0 top,    column 0 left   */
    case 2: *x = UW - 1 - c; *y = r; break;          /* row 0 top,    column 0 right  */
    case 3: *x = UW - 1 - c; *y = UH - 1 - r; break; /* row 0 bottom, column 0 right  */
    case 4: *x = c; *y = UH - 1 - r; break;          /* row 0 bottom, column 0 left   */
    case 5: *x = r; *y = c; break;                   /* row 0 left,   column 0 top    */
    case 6: *x = UW - 1 - r; *y = c; break;          /* row 0 right,  column 0 top    */
    case 7: *x = UW - 1 - r; *y = UH - 1 - c; break; /* row 0 right,  column 0 bottom */
    default: *x = r; *y = UH - 1 - c; break;         /* row 0 left,   column 0 bottom */
    }
}

static uint8_t *stored_image(int o, int *sw, int *sh)
{
    *sw = o >= 5 ? UH : UW;
    *sh = o >= 5 ? UW : UH;
    uint8_t *s = malloc((size_t)UW * UH * 3);
    for (int r = 0; r < *sh; r++)
        for (int c = 0; c < *sw; c++) {
            int x, y;
            stored_to_upright(o, r, c, &x, &y);
            upright_px(x, y, s + ((size_t)r * *sw + c) * 3);
        }
    return s;
}

/* An APP1 EXIF block with only IFD0's Orientation, in either byte order. */
static size_t exif_block(uint8_t *p, int o, bool big)
{
    static const uint8_t le[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0,
                                 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t be[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3,
                                 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(p, big ? be : le, sizeof le);
    p[big ? 25 : 24] = (uint8_t)o; /* the SHORT's value, inline */
    return sizeof le;
}

typedef struct {
    J_COLOR_SPACE in_space, file_space;
    int components;
    bool progressive;
    int orientation; /* 0: no EXIF */
    bool big_endian_exif;
} jpeg_kind;

/* Encodes w x h samples of `kind` (4:4:4, quality 95) with libjpeg. */
static buf write_jpeg(const uint8_t *samples, int w, int h, jpeg_kind k)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&ci, &mem, &size);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = k.components;
    ci.in_color_space = k.in_space;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, k.file_space);
    for (int c = 0; c < ci.num_components; c++)
        ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    jpeg_set_quality(&ci, 95, TRUE);
    if (k.progressive)
        jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    if (k.orientation) {
        uint8_t ex[64];
        size_t n = exif_block(ex, k.orientation, k.big_endian_exif);
        jpeg_write_marker(&ci, JPEG_APP0 + 1, ex, (unsigned)n);
    }
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + (size_t)ci.next_scanline * w * k.components);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    buf b = {0};
    buf_put(&b, mem, size);
    free(mem);
    return b;
}

/* Every pixel within `tol` of the upright picture. */
static void check_upright(const mm_image *img, int tol, const char *what)
{
    assert_int_equal(mm_image_width(img), UW);
    assert_int_equal(mm_image_height(img), UH);
    int worst = 0;
    for (int y = 0; y < UH; y++)
        for (int x = 0; x < UW; x++) {
            uint8_t want[3];
            upright_px(x, y, want);
            for (int c = 0; c < 3; c++) {
                int d = abs(mm_image_pixels(img)[((size_t)y * UW + x) * 3 + c] - want[c]);
                worst = d > worst ? d : worst;
                if (d > tol)
                    fail_msg("%s: pixel %d,%d channel %d is %d, expected %d", what, x, y, c,
                             mm_image_pixels(img)[((size_t)y * UW + x) * 3 + c], want[c]);
            }
        }
    print_message("  %s: upright, max difference %d\n", what, worst);
}

static void test_jpeg_exif_orientation(void **state)
{
    for (int o = 1; o <= 8; o++) {
        int sw, sh;
        uint8_t *s = stored_image(o, &sw, &sh);
        buf f = write_jpeg(s, sw, sh, (jpeg_kind){JCS_RGB, JCS_YCbCr, 3, false, o, o % 2 == 0});
        mm_image *img;
        CHECK_OK(mm_image_load_memory(f.d, f.n, 0, &img));
        assert_int_equal(mm_image_source_orientation(img), o);
        char what[64];
        snprintf(what, sizeof what, "JPEG orientation %d", o);
        check_upright(img, 6, what);
        mm_image_free(img);
        free(f.d);
        free(s);
    }
}

/* `img` must show the stored sw x sh picture `stored` as orientation o
 * says (the EXIF definition, as in stored_to_upright), exactly. */
static void check_oriented(const mm_image *img, const uint8_t *stored, int sw, int sh, int o, const char *what)
{
    const int ow = o >= 5 ? sh : sw;
    assert_int_equal(mm_image_width(img), ow);
    assert_int_equal(mm_image_height(img), o >= 5 ? sw : sh);
    for (int r = 0; r < sh; r++)
        for (int c = 0; c < sw; c++) {
            int x, y;
            switch (o) {
            case 1: x = c; y = r; break;
            case 2: x = sw - 1 - c; y = r; break;
            case 3: x = sw - 1 - c; y = sh - 1 - r; break;
            case 4: x = c; y = sh - 1 - r; break;
            case 5: x = r; y = c; break;
            case 6: x = sh - 1 - r; y = c; break;
            case 7: x = sh - 1 - r; y = sw - 1 - c; break;
            default: x = r; y = sw - 1 - c; break;
            }
            const uint8_t *g = mm_image_pixels(img) + ((size_t)y * ow + x) * 3;
            if (memcmp(g, stored + ((size_t)r * sw + c) * 3, 3) != 0)
                fail_msg("%s orientation %d: stored %d,%d not at %d,%d", what, o, c, r, x, y);
        }
}

static void test_png_exif_orientation(void **state)
{
    /* PNG is lossless: exact. The eXIf chunk is written before IDAT. */
    uint8_t want[RW * RH * 3];
    for (int o = 1; o <= 8; o++) {
        buf f = write_png((png_kind){PNG_COLOR_TYPE_RGB, 8, false}, false, o, want);
        mm_image *img;
        CHECK_OK(mm_image_load_memory(f.d, f.n, 0, &img));
        assert_int_equal(mm_image_source_orientation(img), o);
        check_oriented(img, want, RW, RH, o, "PNG");
        mm_image_free(img);
        free(f.d);
    }
}

/* ---- JPEG colour spaces and progressive ---- */

static void test_jpeg_kinds(void **state)
{
    uint8_t rgb[UW * UH * 3], grey[UW * UH], cmyk[UW * UH * 4];
    for (int y = 0; y < UH; y++)
        for (int x = 0; x < UW; x++)
            upright_px(x, y, rgb + ((size_t)y * UW + x) * 3);
    for (int i = 0; i < UW * UH; i++)
        grey[i] = rgb[i * 3 + 2];

    /* Baseline and progressive hold the same quantised coefficients: the
     * same pixels, exactly. */
    buf base = write_jpeg(rgb, UW, UH, (jpeg_kind){JCS_RGB, JCS_YCbCr, 3, false, 0, false});
    buf prog = write_jpeg(rgb, UW, UH, (jpeg_kind){JCS_RGB, JCS_YCbCr, 3, true, 0, false});
    mm_image *a, *b;
    CHECK_OK(mm_image_load_memory(base.d, base.n, 0, &a));
    CHECK_OK(mm_image_load_memory(prog.d, prog.n, 0, &b));
    check_upright(a, 6, "baseline JPEG");
    assert_memory_equal(mm_image_pixels(a), mm_image_pixels(b), (size_t)UW * UH * 3);
    assert_string_equal(mm_image_source_format(b), "JPEG");
    mm_image_free(a);
    mm_image_free(b);
    free(base.d);
    free(prog.d);

    buf g = write_jpeg(grey, UW, UH, (jpeg_kind){JCS_GRAYSCALE, JCS_GRAYSCALE, 1, false, 0, false});
    CHECK_OK(mm_image_load_memory(g.d, g.n, 0, &a));
    for (int i = 0; i < UW * UH; i++) {
        const uint8_t *p = mm_image_pixels(a) + (size_t)i * 3;
        assert_true(p[0] == p[1] && p[1] == p[2]);
        assert_true(abs(p[0] - grey[i]) <= 4);
    }
    mm_image_free(a);
    free(g.d);

    /* Adobe CMYK is stored inverted (255 = no ink). Blocks of the upright
     * picture as C, M, Y with K varied by block row: K none gives the
     * stored C/M/Y bytes back as R/G/B; full K gives black; half K (128)
     * over no cyan gives red 128. Expected values are these, not a formula
     * restated. */
    for (int i = 0; i < UW * UH; i++) {
        const int y = i / UW, x = i % UW, bx = x / BLK;
        memcpy(cmyk + (size_t)i * 4, rgb + (size_t)i * 3, 3);
        cmyk[i * 4 + 3] = y < BLK ? 255 : bx == 0 ? 0 : 128;
        if (y >= BLK && bx != 0)
            cmyk[i * 4] = 255;
    }
    for (int ycck = 0; ycck < 2; ycck++) {
        buf c = write_jpeg(cmyk, UW, UH, (jpeg_kind){JCS_CMYK, ycck ? JCS_YCCK : JCS_CMYK, 4, false, 0, false});
        CHECK_OK(mm_image_load_memory(c.d, c.n, 0, &a));
        const uint8_t *p = mm_image_pixels(a);
        for (int i = 0; i < UW * UH; i++) {
            const int y = i / UW, x = i % UW, bx = x / BLK;
            uint8_t want[3];
            if (y < BLK)
                memcpy(want, cmyk + (size_t)i * 4, 3);
            else if (bx == 0)
                want[0] = want[1] = want[2] = 0;
            else {
                /* 128 - 128 * ink / 255 for G and B; red has no ink */
                want[0] = 128;
                for (int k = 1; k < 3; k++)
                    want[k] = (uint8_t)(128 - (128 * (255 - cmyk[i * 4 + k]) + 127) / 255);
            }
            for (int k = 0; k < 3; k++)
                if (abs(p[i * 3 + k] - want[k]) > 6)
                    fail_msg("%s pixel %d,%d channel %d is %d, expected %d", ycck ? "YCCK" : "CMYK", x, y, k,
                             p[i * 3 + k], want[k]);
        }
        print_message("  %s JPEG: Adobe inverted CMYK as Pillow converts it\n", ycck ? "YCCK" : "CMYK");
        mm_image_free(a);
        free(c.d);
    }
}

/* ---- WebP ---- */

static void test_webp_lossless(void **state)
{
    uint8_t rgb[RW * RH * 3], rgba[RW * RH * 4];
    for (int y = 0; y < RH; y++)
        for (int x = 0; x < RW; x++)
            for (int c = 0; c < 4; c++) {
                uint8_t v = ref_px(x, y, c);
                if (c < 3)
                    rgb[(y * RW + x) * 3 + c] = v;
                /* alpha >= 1: the encoder may rewrite fully transparent colours */
                rgba[(y * RW + x) * 4 + c] = c == 3 ? (uint8_t)(v | 1) : v;
            }
    for (int alpha = 0; alpha < 2; alpha++) {
        uint8_t *enc = NULL;
        size_t n = alpha ? WebPEncodeLosslessRGBA(rgba, RW, RH, RW * 4, &enc)
                         : WebPEncodeLosslessRGB(rgb, RW, RH, RW * 3, &enc);
        assert_true(n > 0);
        mm_image *img;
        CHECK_OK(mm_image_load_memory(enc, n, 0, &img));
        assert_string_equal(mm_image_source_format(img), "WebP");
        assert_int_equal(mm_image_width(img), RW);
        assert_int_equal(mm_image_height(img), RH);
        assert_memory_equal(mm_image_pixels(img), rgb, sizeof rgb);
        mm_image_free(img);
        /* Truncated: an error, not a partial picture. */
        CHECK_FAILS(mm_image_load_memory(enc, n / 2, 0, &img), MM_ERR_FORMAT, "WebP");
        WebPFree(enc);
    }
}

static void put_le(buf *b, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        buf_put(b, &c, 1);
    }
}

/* An extended WebP (VP8X with the EXIF flag) around a lossless image, with
 * an EXIF chunk: the orientation applies as in the other formats. */
static void test_webp_exif_orientation(void **state)
{
    uint8_t rgb[RW * RH * 3];
    for (int i = 0; i < RW * RH * 3; i++)
        rgb[i] = ref_px(i / 3 % RW, i / 3 / RW, i % 3);
    uint8_t *enc = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, RW, RH, RW * 3, &enc);
    assert_true(n > 12 && memcmp(enc + 12, "VP8L", 4) == 0);
    for (int o = 1; o <= 8; o++) {
        uint8_t ex[64];
        size_t exn = exif_block(ex, o, o % 2 == 0) - 6; /* WebP's EXIF chunk holds the TIFF data only */
        buf f = {0};
        buf_put(&f, "RIFF\0\0\0\0WEBPVP8X", 16);
        put_le(&f, 10, 4);
        put_le(&f, 0x08, 4); /* EXIF present */
        put_le(&f, RW - 1, 3);
        put_le(&f, RH - 1, 3);
        buf_put(&f, enc + 12, n - 12); /* the VP8L chunk */
        buf_put(&f, "EXIF", 4);
        put_le(&f, (uint32_t)exn, 4);
        buf_put(&f, ex + 6, exn);
        if (exn % 2)
            buf_put(&f, "", 1);
        const uint32_t riff = (uint32_t)f.n - 8;
        memcpy(f.d + 4, &(uint8_t[4]){(uint8_t)riff, (uint8_t)(riff >> 8), (uint8_t)(riff >> 16), (uint8_t)(riff >> 24)},
               4);
        mm_image *img;
        CHECK_OK(mm_image_load_memory(f.d, f.n, 0, &img));
        assert_int_equal(mm_image_source_orientation(img), o);
        check_oriented(img, rgb, RW, RH, o, "WebP");
        mm_image_free(img);
        free(f.d);
    }
    WebPFree(enc);
}

/* ---- paths, standard input, limits, bad files ---- */

static char g_dir[] = "/tmp/mm_test_image_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void test_path_and_stdin(void **state)
{
    uint8_t want[RW * RH * 3];
    buf f = write_png((png_kind){PNG_COLOR_TYPE_RGB, 8, false}, false, 0, want);
    /* No extension: the content decides. */
    const char *p = tmp_path("picture");
    write_file(p, f.d, f.n);
    mm_image *img;
    CHECK_OK(mm_image_load(p, 0, &img));
    assert_memory_equal(mm_image_pixels(img), want, sizeof want);
    mm_image_free(img);

    int saved = dup(STDIN_FILENO), fd = open(p, O_RDONLY);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDIN_FILENO);
    close(fd);
    mm_status st = mm_image_load("-", 0, &img);
    dup2(saved, STDIN_FILENO);
    close(saved);
    if (st != MM_OK)
        fail_msg("standard input: %s", mm_error_message());
    assert_memory_equal(mm_image_pixels(img), want, sizeof want);
    mm_image_free(img);

    /* The limit: RW * RH pixels pass at exactly that, not one below. */
    CHECK_OK(mm_image_load_memory(f.d, f.n, RW * RH, &img));
    mm_image_free(img);
    CHECK_FAILS(mm_image_load_memory(f.d, f.n, RW * RH - 1, &img), MM_ERR_NOMEM, "limit");
    assert_null(img);
    free(f.d);

    CHECK_FAILS(mm_image_load(tmp_path("absent.png"), 0, &img), MM_ERR_IO, "No such file");
    CHECK_FAILS(mm_image_load(g_dir, 0, &img), MM_ERR_IO, "directory");
}

/* A PNG chunk with its CRC. */
static void png_chunk(buf *b, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    buf_put(b, len, 4);
    buf_put(b, type, 4);
    buf_put(b, data, n);
    uLong crc = crc32(crc32(0, (const Bytef *)type, 4), data, n);
    uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    buf_put(b, c, 4);
}

static void test_bad_files(void **state)
{
    mm_image *img = (mm_image *)1;
    const char *p = tmp_path("empty.png");
    write_file(p, "", 0);
    CHECK_FAILS(mm_image_load(p, 0, &img), MM_ERR_FORMAT, "empty");
    assert_null(img);
    p = tmp_path("notes.jpg");
    const char text[] = "This is a text file, not a picture.\n";
    write_file(p, text, sizeof text - 1);
    CHECK_FAILS(mm_image_load(p, 0, &img), MM_ERR_FORMAT, "not an image");
    CHECK_FAILS(mm_image_load_memory("GIF89a\1\0\1\0", 10, 0, &img), MM_ERR_UNSUPPORTED, "GIF");
    CHECK_FAILS(mm_image_load_memory("BM\0\0\0\0\0\0", 8, 0, &img), MM_ERR_UNSUPPORTED, "BMP");

    /* PNG: truncated at every tenth of the file, and with a flipped byte in
     * the image data (CRC error). */
    uint8_t want[RW * RH * 3];
    buf f = write_png((png_kind){PNG_COLOR_TYPE_RGB_ALPHA, 8, false}, true, 0, want);
    for (int t = 1; t < 10; t++)
        CHECK_FAILS(mm_image_load_memory(f.d, f.n * t / 10, 0, &img), MM_ERR_FORMAT, "PNG");
    CHECK_FAILS(mm_image_load_memory(f.d, f.n / 2, 0, &img), MM_ERR_FORMAT, "truncated");
    f.d[f.n / 2] ^= 0x55;
    CHECK_FAILS(mm_image_load_memory(f.d, f.n, 0, &img), MM_ERR_FORMAT, "corrupt PNG");
    free(f.d);

    /* JPEG: truncated (before the last scan ends) and a broken header. */
    uint8_t rgb[UW * UH * 3];
    for (int i = 0; i < UW * UH; i++)
        upright_px(i % UW, i / UW, rgb + i * 3);
    buf j = write_jpeg(rgb, UW, UH, (jpeg_kind){JCS_RGB, JCS_YCbCr, 3, false, 0, false});
    CHECK_FAILS(mm_image_load_memory(j.d, j.n * 2 / 3, 0, &img), MM_ERR_FORMAT, "truncated");
    CHECK_FAILS(mm_image_load_memory(j.d, 40, 0, &img), MM_ERR_FORMAT, "corrupt JPEG");
    buf pj = write_jpeg(rgb, UW, UH, (jpeg_kind){JCS_RGB, JCS_YCbCr, 3, true, 0, false});
    CHECK_FAILS(mm_image_load_memory(pj.d, pj.n / 2, 0, &img), MM_ERR_FORMAT, "truncated");
    /* A real header with the frame's size patched: 60000 x 60000 passes
     * libjpeg (65500 at most) and meets the limit; 65535 x 65535 is
     * libjpeg's own refusal. */
    size_t sof = 2;
    while (sof + 9 < j.n && !(j.d[sof] == 0xff && j.d[sof + 1] == 0xc0))
        sof++;
    assert_true(sof + 9 < j.n);
    buf hj = {0};
    buf_put(&hj, j.d, j.n);
    hj.d[sof + 5] = hj.d[sof + 7] = 60000 >> 8;
    hj.d[sof + 6] = hj.d[sof + 8] = 60000 & 0xff;
    CHECK_FAILS(mm_image_load_memory(hj.d, hj.n, 0, &img), MM_ERR_NOMEM, "60000x60000");
    hj.d[sof + 5] = hj.d[sof + 6] = hj.d[sof + 7] = hj.d[sof + 8] = 0xff;
    CHECK_FAILS(mm_image_load_memory(hj.d, hj.n, 0, &img), MM_ERR_FORMAT, "65500");
    free(hj.d);
    for (size_t i = 6; i < 200 && i < j.n; i++)
        j.d[i] ^= 0xa5;
    CHECK_FAILS(mm_image_load_memory(j.d, j.n, 0, &img), MM_ERR_FORMAT, "corrupt JPEG");
    free(j.d);
    free(pj.d);

    /* Headers claiming 100000 x 100000: refused by the limit, with nothing
     * allocated for the pixels. */
    buf big = {0};
    buf_put(&big, "\x89PNG\r\n\x1a\n", 8);
    const uint8_t ihdr[13] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
    png_chunk(&big, "IHDR", ihdr, 13);
    png_chunk(&big, "IDAT", (const uint8_t *)"\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
    png_chunk(&big, "IEND", NULL, 0);
    CHECK_FAILS(mm_image_load_memory(big.d, big.n, 0, &img), MM_ERR_NOMEM, "100000x100000");
    CHECK_FAILS(mm_image_load_memory(big.d, big.n, 0, &img), MM_ERR_NOMEM, "limit");
    free(big.d);
    /* WebP VP8X of an animation (flag 2): canvas 60000 x 60000 (stored as
     * sizes minus one, 24 bits each); libwebp itself refuses 2^32 pixels
     * and more. */
    const uint32_t m = 60000 - 1;
    const uint8_t vp8x[] = {'R', 'I', 'F', 'F', 30, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,
                            2, 0, 0, 0, (uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)m,
                            (uint8_t)(m >> 8), (uint8_t)(m >> 16), 'V', 'P', '8', 'L', 0, 0, 0, 0};
    CHECK_FAILS(mm_image_load_memory(vp8x, sizeof vp8x, 0, &img), MM_ERR_NOMEM, "60000x60000");
    CHECK_FAILS(mm_image_load_memory("RIFF\4\0\0\0WEBPVP8 ", 16, 0, &img), MM_ERR_FORMAT, "WebP");
    assert_null(img);
}

static int setup(void **state)
{
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_decode_clip),
        cmocka_unit_test(test_fixture_decode_vit_gpt2),
        cmocka_unit_test(test_png_every_kind),
        cmocka_unit_test(test_png_exif_orientation),
        cmocka_unit_test(test_jpeg_exif_orientation),
        cmocka_unit_test(test_jpeg_kinds),
        cmocka_unit_test(test_webp_lossless),
        cmocka_unit_test(test_webp_exif_orientation),
        cmocka_unit_test(test_path_and_stdin),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
