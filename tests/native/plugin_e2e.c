/*
 * plugin_e2e: drives the wfvae native plugin end to end through its C header (built and run by
 * tests/WfVae.Tests/Plugin/PluginTests.cs).
 *
 *   plugin_e2e roundtrip <model> <video.f32> <frames> <height> <width> <mean.f32> <logvar.f32> <decoded.f32>
 *       Encodes the raw video (float32, frame-major [T][3][H][W]) pushing 1 frame, then 4 at a time,
 *       pulling the latents after every push; then decodes the latents pushing 1, then 2 at a time,
 *       pulling after every push, flushes and pulls the rest. Writes mean, logvar and decoded video as
 *       raw float32, frame-major.
 *   plugin_e2e errors <model> <missing-path>
 *       Prints one line per error case: "<case> <status> <message>".
 *
 * Exit status: 0 on success, 1 when a call failed unexpectedly (the message is printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wfvae.h"

#define CHECK(call)                                                                   \
    do {                                                                              \
        int status_ = (call);                                                         \
        if (status_ != WFVAE_OK) {                                                    \
            fprintf(stderr, "%s failed (%d): %s\n", #call, status_, wfvae_last_error()); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static float *read_floats(const char *path, size_t count)
{
    float *data = malloc(count * sizeof(float));
    FILE *f = fopen(path, "rb");
    if (!data || !f || fread(data, sizeof(float), count, f) != count) {
        fprintf(stderr, "cannot read %zu floats from %s\n", count, path);
        exit(1);
    }
    fclose(f);
    return data;
}

static void write_floats(const char *path, const float *data, size_t count)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof(float), count, f) != count || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static int roundtrip(char **argv)
{
    const char *model_path = argv[0];
    int frames = atoi(argv[2]), height = atoi(argv[3]), width = atoi(argv[4]);
    size_t frame_size = (size_t)3 * height * width;
    float *video = read_floats(argv[1], frames * frame_size);

    wfvae_model *model = NULL;
    CHECK(wfvae_open(model_path, NULL, &model));
    int channels = 0, temporal = 0, spatial = 0;
    CHECK(wfvae_info(model, &channels, &temporal, &spatial));
    int lh = height / spatial, lw = width / spatial;
    size_t latent_size = (size_t)channels * lh * lw;
    int max_latents = 1 + (frames - 1) / temporal;
    float *mean = malloc(max_latents * latent_size * sizeof(float));
    float *logvar = malloc(max_latents * latent_size * sizeof(float));

    /* Encode: 1 frame, then groups of 4, pulling whatever became available after each push. */
    int latents = 0;
    CHECK(wfvae_encoder_begin(model, height, width));
    for (int at = 0; at < frames;) {
        int n = at == 0 ? 1 : (frames - at < 4 ? frames - at : 4);
        CHECK(wfvae_push_frames(model, video + at * frame_size, n));
        at += n;
        int queued = 0, got = 0;
        CHECK(wfvae_pull_latents(model, NULL, NULL, 0, &queued));
        if (latents + queued > max_latents) { fprintf(stderr, "too many latents\n"); return 1; }
        CHECK(wfvae_pull_latents(model, mean + latents * latent_size, logvar + latents * latent_size, queued, &got));
        if (got != queued) { fprintf(stderr, "pulled %d latents, %d were queued\n", got, queued); return 1; }
        latents += got;
    }
    CHECK(wfvae_encoder_end(model));

    /* Decode: 1 latent, then pairs; frames come out as they become computable, the rest at the flush. */
    int out_frames = temporal * latents - (temporal - 1), decoded = 0, got = 0;
    float *video_out = malloc(out_frames * frame_size * sizeof(float));
    CHECK(wfvae_decoder_begin(model, lh, lw));
    for (int at = 0; at < latents;) {
        int n = at == 0 ? 1 : (latents - at < 2 ? latents - at : 2);
        CHECK(wfvae_push_latents(model, mean + at * latent_size, n));
        at += n;
        CHECK(wfvae_pull_frames(model, video_out + decoded * frame_size, out_frames - decoded, &got));
        decoded += got;
    }
    CHECK(wfvae_flush(model));
    CHECK(wfvae_pull_frames(model, video_out + decoded * frame_size, out_frames - decoded, &got));
    decoded += got;
    CHECK(wfvae_pull_frames(model, NULL, 0, &got));
    if (decoded != out_frames || got != 0) {
        fprintf(stderr, "decoded %d frames (%d still queued), expected %d\n", decoded, got, out_frames);
        return 1;
    }
    CHECK(wfvae_decoder_end(model));
    wfvae_close(model);

    write_floats(argv[5], mean, latents * latent_size);
    write_floats(argv[6], logvar, latents * latent_size);
    write_floats(argv[7], video_out, out_frames * frame_size);
    printf("latents %d frames %d\n", latents, decoded);
    free(video); free(mean); free(logvar); free(video_out);
    return 0;
}

static void report(const char *name, int status)
{
    printf("%s %d %s\n", name, status, wfvae_last_error());
}

static int errors(char **argv)
{
    wfvae_model *model = NULL;
    float frame[3 * 8 * 8] = {0};
    int count = 0;

    report("open_missing", wfvae_open(argv[1], NULL, &model));
    report("open_null_path", wfvae_open(NULL, NULL, &model)); /* the default model beside the library */
    if (model) wfvae_close(model);
    model = NULL;
    report("push_null_handle", wfvae_push_frames(NULL, frame, 1));

    CHECK(wfvae_open(argv[0], NULL, &model));
    report("push_before_begin", wfvae_push_frames(model, frame, 1));
    report("pull_before_begin", wfvae_pull_latents(model, NULL, NULL, 0, &count));
    report("flush_before_begin", wfvae_flush(model));
    report("begin_odd_size", wfvae_encoder_begin(model, 30, 32));
    CHECK(wfvae_encoder_begin(model, 8, 8));
    report("begin_twice", wfvae_encoder_begin(model, 8, 8));
    report("push_negative", wfvae_push_frames(model, frame, -1));
    report("ok_after_error", wfvae_push_frames(model, frame, 1));
    CHECK(wfvae_decoder_begin(model, 1, 1));
    CHECK(wfvae_flush(model));
    report("push_after_flush", wfvae_push_latents(model, frame, 1));
    wfvae_close(model);
    report("push_after_close", wfvae_push_frames(model, frame, 1));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 10 && strcmp(argv[1], "roundtrip") == 0) return roundtrip(argv + 2);
    if (argc == 4 && strcmp(argv[1], "errors") == 0) return errors(argv + 2);
    fprintf(stderr, "usage: plugin_e2e roundtrip <model> <video.f32> <frames> <height> <width> <mean.f32> <logvar.f32> <decoded.f32>\n"
                    "       plugin_e2e errors <model> <missing-path>\n");
    return 2;
}
