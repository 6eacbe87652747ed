/*
 * wfvae.h — C interface of the WfVae.Vulkan native plugin (wfvae_plugin.so / .dll / .dylib).
 *
 * The plugin runs the WF-VAE causal video VAE on a Vulkan device. It is the managed engine compiled
 * ahead of time (NativeAOT): no .NET runtime needs to be installed, only a Vulkan loader and driver.
 * Build: see docs/plugin.md (`dotnet pwsh ./build.ps1 plugin` -> artifacts/plugin/).
 *
 * STREAMS
 *   One model has at most one encoder stream and one decoder stream open at a time (they may be open
 *   together). Pushing runs the engine at once and queues what became computable; pulling only copies
 *   out of that queue. Pushing in chunks gives the same numbers, bit for bit, as pushing the whole clip
 *   at once (except for GroupNorm checkpoints, whose statistics are pooled over the frames of one push:
 *   push the whole clip in one call for those).
 *
 *   encoder:  wfvae_encoder_begin -> (wfvae_push_frames | wfvae_pull_latents)* -> wfvae_encoder_end
 *   decoder:  wfvae_decoder_begin -> (wfvae_push_latents | wfvae_pull_frames)* -> wfvae_flush
 *             -> wfvae_pull_frames* -> wfvae_decoder_end
 *
 *   Temporal compression is 4, causal: T frames give 1 + (T - 1) / 4 latent frames (integer division);
 *   the first frame gives the first latent alone, then each group of 4 frames gives one latent. Frames
 *   of an incomplete trailing group never give a latent (official WF-VAE behaviour; pad the clip to
 *   4k + 1 frames to keep them). t latent frames decode to 4t - 3 video frames. The decoder holds a few
 *   frames back until it sees the next latent; wfvae_flush ends the latent stream and releases them.
 *
 * LAYOUTS (float32, native byte order, densely packed, frame-major: all of frame 0, then frame 1, ...)
 *   video frame:   planar [3][H][W], RGB, values in [-1, 1]; H and W multiples of 8 (at least 8).
 *                  Decoded frames use the same layout and are NOT clamped to [-1, 1].
 *   latent frame:  [L][h][w] with L = latent_channels (wfvae_info), h = H / 8, w = W / 8.
 *
 * ERRORS
 *   Every function except wfvae_close, wfvae_set_log and wfvae_last_error returns an int status: WFVAE_OK (0) or one of
 *   the negative WFVAE_E_* codes below. On error, wfvae_last_error() gives a one-line UTF-8 message
 *   naming the problem (for example the model path that does not exist). No exception or signal
 *   escapes the library for a bad argument or call order. A failed push leaves the stream in an
 *   unspecified state: end it (wfvae_encoder_end / wfvae_decoder_end) and begin a new one.
 *
 * OWNERSHIP
 *   wfvae_model* is an opaque handle owned by the caller from wfvae_open until wfvae_close. Handles are
 *   checked: a NULL, closed or unknown handle gives WFVAE_E_HANDLE rather than a crash. Input buffers
 *   are only read during the call (the plugin copies what it queues); output buffers are caller
 *   allocated and only written during the call. Strings passed in are UTF-8 and only read during the
 *   call. The string from wfvae_last_error belongs to the plugin.
 *
 * THREADING
 *   Any thread may call any function. Calls on one handle are serialised internally (a second thread
 *   waits), so a handle may be shared, but the stream order above is then the callers' business.
 *   Different handles are independent (each owns its own Vulkan device and queue) and run concurrently.
 *   The last-error string is per thread.
 *   The log callback (wfvae_set_log) may call the plugin, but not on the handle whose call it is logging: such a
 *   call returns WFVAE_E_STATE (wfvae_close leaves that handle open), since that call is still using its stream.
 *   The callback's own calls do not change the last error of the call being logged.
 *   The callback runs on the thread of the call being logged, so calls on different handles may run it at
 *   the same time on different threads: make it thread-safe. It may call into another handle while that
 *   handle's call is logging (it then waits for that call to return). wfvae_set_log applies to every handle,
 *   open ones included, from the next line on; it does not wait for a callback already running, so the old
 *   callback and user pointer must stay valid until the calls that may be logging with them have returned.
 */
#ifndef WFVAE_H
#define WFVAE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define WFVAE_OK          0
#define WFVAE_E_ARGUMENT (-1) /* NULL pointer, negative count, size not a multiple of 8, NaN/inf pushed, an output that overflowed fp16 (reopen with fp32), ... */
#define WFVAE_E_HANDLE   (-2) /* NULL, closed or unknown wfvae_model* */
#define WFVAE_E_STATE    (-3) /* call out of order: push before begin, begin twice, push after flush */
#define WFVAE_E_MODEL    (-4) /* model path missing, unreadable, or not a valid WF-VAE checkpoint */
#define WFVAE_E_DEVICE   (-5) /* no (matching) Vulkan device, or a Vulkan call failed / device lost */
#define WFVAE_E_MEMORY   (-6) /* out of host memory */
#define WFVAE_E_INTERNAL (-7) /* anything else: an engine bug; the message says what happened */

typedef struct wfvae_model wfvae_model; /* opaque */

/* ------------------------------------------------------------------------------------------ model */

/* Loads a checkpoint onto a Vulkan device and stores the handle in *out (NULL on failure).
 *   model_path: a .safetensors file with config.json beside it, or a folder holding config.json and
 *               the weights (as the `wfvae` CLI accepts); NULL = the shipped default model, the folder
 *               default-model/ installed beside the library (`build.ps1 plugin` puts it there), a small
 *               WF-VAE trained on real footage; no other folder is searched. Without that folder NULL fails
 *               with WFVAE_E_MODEL and a message naming where it looked.
 *   device:     NULL or "" = default choice (environment variable WFVAE_DEVICE, else discrete GPU >
 *               integrated > virtual > CPU); else an index as listed by `wfvae devices`, or a
 *               case-insensitive substring of the device name (e.g. "llvmpipe", "NVIDIA").
 * Shader pipelines are built on first use and cached on disk (the user's cache folder). */
int wfvae_open(const char *model_path, const char *device, wfvae_model **out);

/* Model geometry; each output pointer may be NULL. temporal = 4, spatial = 8 for WF-VAE. */
int wfvae_info(wfvae_model *model, int *latent_channels, int *temporal_compression, int *spatial_compression);

/* Ends any open stream, frees the device memory and the device. NULL is ignored. The handle is invalid
 * afterwards (using it again gives WFVAE_E_HANDLE). On a failure the message is in wfvae_last_error. */
void wfvae_close(wfvae_model *model);

/* ----------------------------------------------------------------------------------------- encoder */

/* Opens the encoder stream for frames of height x width pixels (multiples of 8, at most 65536). */
int wfvae_encoder_begin(wfvae_model *model, int height, int width);

/* Encodes count frames ([count][3][H][W]); count = 0 does nothing. The latents that became computable
 * are queued for wfvae_pull_latents. */
int wfvae_push_frames(wfvae_model *model, const float *frames, int count);

/* Copies up to max_frames queued latent frames ([n][L][h][w] each buffer) and removes them from the
 * queue; *frames_out = n. mean_out receives the posterior mean (the latent to decode or store);
 * logvar_out the log-variance, or pass NULL to discard it. max_frames = 0 only stores the number of
 * queued frames in *frames_out (the buffers may then be NULL). */
int wfvae_pull_latents(wfvae_model *model, float *mean_out, float *logvar_out, int max_frames, int *frames_out);

/* Closes the encoder stream; latents not pulled yet are discarded. Closing no stream is not an error. */
int wfvae_encoder_end(wfvae_model *model);

/* ----------------------------------------------------------------------------------------- decoder */

/* Opens the decoder stream for latent frames of latent_height x latent_width (video: 8x that, at most 65536). */
int wfvae_decoder_begin(wfvae_model *model, int latent_height, int latent_width);

/* Decodes count latent frames ([count][L][h][w]); count = 0 does nothing. The video frames that became
 * computable are queued for wfvae_pull_frames; some are held back until the next latents or the flush. */
int wfvae_push_latents(wfvae_model *model, const float *latents, int count);

/* Ends the latent stream: the frames held back for look-ahead are queued. No push is accepted after it
 * (WFVAE_E_STATE); begin a new decoder stream for the next clip. */
int wfvae_flush(wfvae_model *model);

/* Copies up to max_frames queued video frames ([n][3][8h][8w]) into frames_out and removes them from
 * the queue; *frames_out_count = n. max_frames = 0 only stores the number of queued frames (frames_out
 * may then be NULL). */
int wfvae_pull_frames(wfvae_model *model, float *frames_out, int max_frames, int *frames_out_count);

/* Closes the decoder stream; frames not pulled yet are discarded. Closing no stream is not an error. */
int wfvae_decoder_end(wfvae_model *model);

/* ------------------------------------------------------------------------------------------ errors */

/* Message of this thread's latest failed call, UTF-8, never NULL; "" when the latest call succeeded.
 * Valid until the next wfvae_* call on this thread; copy it to keep it. */
const char *wfvae_last_error(void);

/* Log lines of the engine (warnings, validation-layer messages, and with WFVAE_VERBOSE=1 each convolution's kernel
 * choice) go to this callback, as NUL-terminated UTF-8 valid during the call, with the user pointer given here; it
 * applies to every handle, open ones included, from the next line on, and runs on the thread of the call being
 * logged: calls on different handles may run it at the same time (make it thread-safe; see the notes above).
 * NULL: silent, the default (the plugin never writes to the host's stdout or stderr). */
typedef void (*wfvae_log_fn)(const char *line, void *user);
void wfvae_set_log(wfvae_log_fn callback, void *user);

#ifdef __cplusplus
}
#endif

#endif /* WFVAE_H */
