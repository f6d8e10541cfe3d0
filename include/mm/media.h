/* mmrun media front ends (libmm-media): audio decoding, resampling and the
 * Whisper log-mel spectrogram; image decoding (PNG, JPEG, WebP) and the
 * Hugging Face image processors' resize, crop, rescale and normalise.
 *
 * A library of its own, linked by programs (mmrun, library users) and never
 * by plugins, so that a plugin does not pull in libsndfile, libsamplerate,
 * FFTW, libpng, libjpeg or libwebp. Errors are reported as in libmm: every fallible call returns an
 * mm_status and mm_error_message() says why. Nothing here prints.
 *
 * Typical use (whisper.cpp style):
 *
 *     mm_mel *mel;   mm_mel_init("whisper-tiny/", &mel);
 *     mm_audio *a;   mm_audio_load("talk.flac", mm_mel_sampling_rate(mel), &a);
 *     float *x = malloc(sizeof(float) * mm_mel_n_mels(mel) * mm_mel_n_frames(mel));
 *     mm_mel_compute(mel, mm_audio_samples(a), mm_audio_n_samples(a), x);
 *     ... x is {n_frames, n_mels} (ggml order: frames innermost), the
 *         Whisper encoder's input_features ...
 *     mm_audio_free(a); mm_mel_free(mel);
 *
 * and for images (CLIP, ViT):
 *
 *     mm_image_proc *pp; mm_image_proc_init("clip-vit-base-patch32/", &pp);
 *     mm_image *img;     mm_image_load("cat.jpg", 0, &img);
 *     int32_t w, h;      mm_image_proc_output_size(pp, img, &w, &h);
 *     float *x = malloc(sizeof(float) * 3 * w * h);
 *     mm_image_proc_compute(pp, img, x);   ... x is pixel_values [3][h][w] ...
 *     mm_image_free(img); mm_image_proc_free(pp); */
#ifndef MM_MEDIA_H
#define MM_MEDIA_H

#include "mm/mm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- audio ------------------------------------------------------------- */

/* Decoded audio, down-mixed to mono. */
typedef struct mm_audio mm_audio;

/* Decodes `path` ("-" reads standard input to its end) with libsndfile: WAV
 * (8/16/24/32-bit integer, 32/64-bit float), FLAC, OGG/Vorbis, OGG/Opus,
 * MP3 and the other formats libsndfile knows. Channels are averaged to mono;
 * integer PCM is scaled to [-1, 1) (int16 / 32768, as Whisper's loaders do),
 * float data is kept as stored.
 * When `target_rate` > 0 and differs from the file's rate, the audio is
 * resampled to it (libsamplerate, best sinc); 0 keeps the file's rate. */
MM_API mm_status mm_audio_load(const char *path, int32_t target_rate, mm_audio **out);
/* The same from a complete file image in memory (the bytes are not kept). */
MM_API mm_status mm_audio_load_memory(const void *data, size_t size, int32_t target_rate, mm_audio **out);
MM_API void mm_audio_free(mm_audio *a);

MM_API const float *mm_audio_samples(const mm_audio *a);
MM_API int64_t mm_audio_n_samples(const mm_audio *a);
MM_API int32_t mm_audio_sample_rate(const mm_audio *a);     /* of the samples above */
MM_API int32_t mm_audio_source_rate(const mm_audio *a);     /* of the file          */
MM_API int32_t mm_audio_source_channels(const mm_audio *a); /* of the file          */
/* libsndfile's names of the container and encoding, e.g. "FLAC (Free Lossless
 * Audio Codec)" and "16 bit PCM". */
MM_API const char *mm_audio_source_format(const mm_audio *a);
MM_API const char *mm_audio_source_encoding(const mm_audio *a);

/* Resamples mono `in[0..n)` from `from_rate` to `to_rate` into a new malloc'd
 * buffer (free() it) of *n_out samples. Equal rates copy. */
MM_API mm_status mm_audio_resample(const float *in, int64_t n, int32_t from_rate, int32_t to_rate, float **out,
                                   int64_t *n_out);

/* ---- Whisper log-mel spectrogram -------------------------------------- */

/* The parameters of transformers' WhisperFeatureExtractor. */
typedef struct mm_mel_params {
    int32_t feature_size;  /* mel bins: 80, or 128 for large-v3           */
    int32_t sampling_rate; /* Hz                                           */
    int32_t hop_length;    /* samples between frames                       */
    int32_t n_fft;         /* window and FFT length                        */
    int32_t chunk_length;  /* seconds of audio per input                   */
} mm_mel_params;

/* whisper-tiny … large-v2's values: 80, 16000, 160, 400, 30. */
MM_API mm_mel_params mm_mel_params_default(void);

typedef struct mm_mel mm_mel;

/* Reads a model folder's preprocessor_config.json (or the JSON file at
 * `path`), checks it, and prepares the extractor: mel filters (computed,
 * Slaney scale and norm, as the extractor does), window and FFT plan. */
MM_API mm_status mm_mel_init(const char *path, mm_mel **out);
MM_API mm_status mm_mel_init_params(const mm_mel_params *p, mm_mel **out);
MM_API void mm_mel_free(mm_mel *mel);

MM_API mm_mel_params mm_mel_get_params(const mm_mel *mel);
MM_API int32_t mm_mel_n_mels(const mm_mel *mel);
MM_API int32_t mm_mel_sampling_rate(const mm_mel *mel);
MM_API int64_t mm_mel_n_samples(const mm_mel *mel); /* chunk_length * sampling_rate (480000) */
MM_API int64_t mm_mel_n_frames(const mm_mel *mel);  /* n_samples / hop_length (3000)         */
/* The filter bank, [n_fft/2 + 1][n_mels] (the extractor's mel_filters). */
MM_API const double *mm_mel_filters(const mm_mel *mel);

/* One input of the encoder, exactly as the extractor computes it: the first
 * n_samples of `samples[0..n)` (fewer are padded with zeros), a centred STFT
 * with reflect padding, periodic Hann window, power spectrum, mel filters,
 * log10 (clamped at 1e-10), floored at the maximum - 8, (x + 4) / 4, the
 * last frame dropped. `out` receives n_mels * n_frames floats, mel-major:
 * out[m * n_frames + t] ({n_frames, n_mels} in ggml order), the layout of
 * transformers' input_features. For a window of long audio, pass its first
 * sample and the samples left. Thread-safe: several threads may compute with
 * one extractor at once. */
MM_API mm_status mm_mel_compute(const mm_mel *mel, const float *samples, int64_t n, float *out);

/* Frames of a signal of `padded_len` samples: padded_len / hop_length. */
MM_API int64_t mm_mel_frames_for(const mm_mel *mel, int64_t padded_len);
/* The general form: the signal is samples[0..n) followed by zeros up to
 * `padded_len` samples (cut at padded_len when n is larger); its
 * mm_mel_frames_for(padded_len) frames go to `out` (mel-major, as above),
 * with the max - 8 floor taken over all of them. mm_mel_compute is this with
 * padded_len = n_samples. openai-whisper's long-form loop is this with
 * padded_len = n + n_samples, then windows of n_frames columns. */
MM_API mm_status mm_mel_compute_padded(const mm_mel *mel, const float *samples, int64_t n, int64_t padded_len,
                                       float *out);

/* ---- images ------------------------------------------------------------ */

/* A decoded image: 8-bit RGB, rows top to bottom, 3 bytes per pixel, no
 * padding between rows. */
typedef struct mm_image mm_image;

/* The pixel limit mm_image_load applies when given 0: 2^28 pixels (a 16384 x
 * 16384 image; 768 MiB as RGB). */
#define MM_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)1 << 28)

/* Decodes `path` ("-" reads standard input to its end) as transformers'
 * load_image does with Pillow (open, ImageOps.exif_transpose, convert("RGB")),
 * so that the RGB bytes are the ones Pillow gives. The format is found from
 * the content, not the name:
 *   PNG  (libpng): every colour type and bit depth, interlaced or not.
 *        Alpha and tRNS are dropped, not composited; 16-bit RGB(A) and
 *        grey+alpha keep the high byte; 16-bit grey without alpha is CLIPPED
 *        to 255 (Pillow opens it as 32-bit "I" and clips on convert("RGB")).
 *   JPEG (libjpeg-turbo, islow DCT, fancy upsampling: Pillow's settings):
 *        baseline, progressive, arithmetic, greyscale, RGB, CMYK and YCCK
 *        (inverted Adobe CMYK as Pillow assumes). A truncated file is an error.
 *   WebP (libwebp, through the animation decoder as Pillow does; the first
 *        frame of an animation): lossy, lossless, alpha dropped.
 * The EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) is applied.
 * An image whose header claims more than `max_pixels` pixels (0:
 * MM_IMAGE_MAX_PIXELS_DEFAULT) is refused before anything is allocated for
 * it. Corrupt, truncated, empty and unknown files are MM_ERR_FORMAT. */
MM_API mm_status mm_image_load(const char *path, int64_t max_pixels, mm_image **out);
/* The same from a complete file image in memory (the bytes are not kept). */
MM_API mm_status mm_image_load_memory(const void *data, size_t size, int64_t max_pixels, mm_image **out);
/* A copy of `rgb` (`width` * `height` * 3 bytes, as mm_image_pixels). */
MM_API mm_status mm_image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, mm_image **out);
MM_API void mm_image_free(mm_image *img);

MM_API int32_t mm_image_width(const mm_image *img);
MM_API int32_t mm_image_height(const mm_image *img);
MM_API const uint8_t *mm_image_pixels(const mm_image *img);
/* "PNG", "JPEG", "WebP", or "RGB" (mm_image_from_rgb, mm_image_resize). */
MM_API const char *mm_image_source_format(const mm_image *img);
/* The EXIF orientation (1..8) that was applied; 1 when there was none. */
MM_API int32_t mm_image_source_orientation(const mm_image *img);

/* Pillow's resampling filters, numbered as Pillow numbers them (the
 * `resample` of a preprocessor_config.json). */
typedef enum mm_resample {
    MM_RESAMPLE_NEAREST = 0,
    MM_RESAMPLE_LANCZOS = 1,
    MM_RESAMPLE_BILINEAR = 2,
    MM_RESAMPLE_BICUBIC = 3,
    MM_RESAMPLE_BOX = 4,
    MM_RESAMPLE_HAMMING = 5,
} mm_resample;

/* Pillow's Image.resize((width, height), filter), bit for bit: per output
 * pixel the filter's weights over a support widened by the downscale factor
 * (antialiasing), normalised, in 22-bit fixed point; the horizontal pass
 * first, rounded and clipped to 8 bits, then the vertical one; a pass whose
 * size does not change is skipped. NEAREST is Pillow's affine nearest. */
MM_API mm_status mm_image_resize(const mm_image *img, int32_t width, int32_t height, mm_resample filter,
                                 mm_image **out);

/* ---- image processor (preprocessor_config.json) ----------------------- */

/* The parameters of transformers' CLIPImageProcessor and ViTImageProcessor. */
typedef struct mm_image_params {
    bool do_resize;
    int32_t shortest_edge;         /* > 0: resize the short side to this, the
                                    * other to int(long * shortest_edge / short) */
    int32_t resize_height;         /* else: resize to exactly this size     */
    int32_t resize_width;
    mm_resample resample;
    bool do_center_crop;
    int32_t crop_height;           /* top = (h - crop_height) // 2, and so on */
    int32_t crop_width;
    bool do_rescale;
    double rescale_factor;         /* x * factor in double, then to float   */
    bool do_normalize;
    float image_mean[3];           /* (x - mean) / std in float             */
    float image_std[3];
    bool do_convert_rgb;           /* images are always RGB here            */
} mm_image_params;

/* CLIPImageProcessor's defaults (shortest edge 224, BICUBIC, crop 224,
 * 1/255, OpenAI's mean and std) and ViTImageProcessor's (224 x 224,
 * BILINEAR, no crop, 1/255, mean = std = 0.5). */
MM_API mm_image_params mm_image_params_clip(void);
MM_API mm_image_params mm_image_params_vit(void);

typedef struct mm_image_proc mm_image_proc;

/* Reads a model folder's preprocessor_config.json (or the JSON file at
 * `path`): image_processor_type (or feature_extractor_type) CLIP… or ViT…
 * picks the defaults for absent keys, as transformers does; every key is
 * checked. */
MM_API mm_status mm_image_proc_init(const char *path, mm_image_proc **out);
MM_API mm_status mm_image_proc_init_params(const mm_image_params *p, mm_image_proc **out);
MM_API void mm_image_proc_free(mm_image_proc *pp);
MM_API mm_image_params mm_image_proc_get_params(const mm_image_proc *pp);

/* The size of the pixel values of `img` (fixed when cropping or resizing to
 * a fixed size; otherwise it depends on the image). */
MM_API mm_status mm_image_proc_output_size(const mm_image_proc *pp, const mm_image *img, int32_t *width,
                                           int32_t *height);
/* pixel_values of one image as the processor computes them: resize, centre
 * crop (padding with black where the image is smaller, as transformers
 * does), rescale, normalise; `out` receives 3 * height * width floats,
 * channel-major [3][height][width] ({W, H, 3} in ggml order). Images of a
 * batch go one after another ({W, H, 3, B} = [B][3][H][W]). Thread-safe. */
MM_API mm_status mm_image_proc_compute(const mm_image_proc *pp, const mm_image *img, float *out);

#ifdef __cplusplus
}
#endif
#endif
