/*
 * plugin_misuse: a host that misuses the wfvae C ABI in every way the header allows a caller to get
 * wrong (built with AddressSanitizer and run by tests/WfVae.Tests/Plugin/PluginMisuseTests.cs):
 * NULL handles and pointers, made-up and closed handles, calls out of order and twice, bad sizes,
 * several threads on one handle while another thread closes it, two handles at once, a log callback that
 * calls back into the handle whose call it logs (run with WFVAE_VERBOSE=1, so that pushes log), log callbacks of
 * two handles running at once, one of them calling into the other handle while that one's push is logging.
 *
 *   plugin_misuse <model>
 *
 * Each call prints "ok|FAIL <case> <status> <message>". A case passes when its status is one of those
 * allowed, a failure carries a non-empty one-line message and a success an empty one. Exit status: the
 * number of failed cases (0 = all passed). A watchdog alarm ends a hung run with SIGALRM.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wfvae.h"

#define H 16
#define W 16
#define FRAME (3 * H * W)
#define THREADS 6

static int failures;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(const char *name, int status, const int *allowed, int n)
{
    const char *msg = wfvae_last_error();
    int ok = 0;
    for (int i = 0; i < n; i++) ok |= status == allowed[i];
    if (msg == NULL) ok = 0;
    else if (status != WFVAE_OK && (msg[0] == 0 || strchr(msg, '\n') != NULL)) ok = 0;
    else if (status == WFVAE_OK && msg[0] != 0) ok = 0;
    pthread_mutex_lock(&print_lock);
    printf("%s %s %d %s\n", ok ? "ok" : "FAIL", name, status, msg ? msg : "(NULL message)");
    if (!ok) failures++;
    pthread_mutex_unlock(&print_lock);
}

#define EXPECT(name, call, ...)                                               \
    do {                                                                      \
        const int allowed_[] = {__VA_ARGS__};                                 \
        check(name, (call), allowed_, (int)(sizeof allowed_ / sizeof *allowed_)); \
    } while (0)

/* A fact about results (not a call's status): passes when cond holds. */
static void assert_that(const char *name, int cond)
{
    pthread_mutex_lock(&print_lock);
    printf("%s %s\n", cond ? "ok" : "FAIL", name);
    if (!cond) failures++;
    pthread_mutex_unlock(&print_lock);
}

static float frames[5 * FRAME];
static float latents[64 * 1024];

static void every_call_on(wfvae_model *m, const char *what, int expected)
{
    char name[96];
    int n = 0, l = 0;
#define ON(call_name, call)                                     \
    do {                                                        \
        snprintf(name, sizeof name, "%s_%s", what, call_name);  \
        EXPECT(name, call, expected);                           \
    } while (0)
    ON("info", wfvae_info(m, &l, NULL, NULL));
    ON("encoder_begin", wfvae_encoder_begin(m, H, W));
    ON("push_frames", wfvae_push_frames(m, frames, 1));
    ON("pull_latents", wfvae_pull_latents(m, latents, NULL, 1, &n));
    ON("encoder_end", wfvae_encoder_end(m));
    ON("decoder_begin", wfvae_decoder_begin(m, H / 8, W / 8));
    ON("push_latents", wfvae_push_latents(m, latents, 1));
    ON("flush", wfvae_flush(m));
    ON("pull_frames", wfvae_pull_frames(m, frames, 1, &n));
    ON("decoder_end", wfvae_decoder_end(m));
#undef ON
}

static void bad_opens(const char *model)
{
    wfvae_model *m = (wfvae_model *)0x1;
    EXPECT("open_null_out", wfvae_open(model, NULL, NULL), WFVAE_E_ARGUMENT);
    /* NULL is the shipped default model (installed beside the library): a handle, closed again. */
    EXPECT("open_null_path_is_the_default_model", wfvae_open(NULL, NULL, &m), WFVAE_OK);
    assert_that("open_null_path_gives_a_handle", m != NULL && m != (wfvae_model *)0x1);
    wfvae_close(m);
    m = (wfvae_model *)0x1;
    EXPECT("open_empty_path", wfvae_open("", NULL, &m), WFVAE_E_MODEL);
    EXPECT("open_folder_without_config", wfvae_open("/proc/self", NULL, &m), WFVAE_E_MODEL);
    EXPECT("open_fifo_like_device", wfvae_open("/dev/zero", NULL, &m), WFVAE_E_MODEL);
    EXPECT("open_unknown_device", wfvae_open(model, "no-such-gpu-anywhere", &m), WFVAE_E_DEVICE);
}

static void out_of_order_and_twice(wfvae_model *m)
{
    int n = -1;
    EXPECT("push_before_begin", wfvae_push_frames(m, frames, 1), WFVAE_E_STATE);
    EXPECT("push_none_before_begin", wfvae_push_frames(m, frames, 0), WFVAE_E_STATE);
    EXPECT("push_no_latents_before_begin", wfvae_push_latents(m, latents, 0), WFVAE_E_STATE);
    EXPECT("pull_before_begin", wfvae_pull_latents(m, latents, NULL, 1, &n), WFVAE_E_STATE);
    EXPECT("end_without_begin", wfvae_encoder_end(m), WFVAE_OK);
    EXPECT("flush_before_begin", wfvae_flush(m), WFVAE_E_STATE);
    EXPECT("push_latents_before_begin", wfvae_push_latents(m, latents, 1), WFVAE_E_STATE);
    EXPECT("pull_frames_before_begin", wfvae_pull_frames(m, frames, 1, &n), WFVAE_E_STATE);
    EXPECT("decoder_end_without_begin", wfvae_decoder_end(m), WFVAE_OK);

    EXPECT("begin", wfvae_encoder_begin(m, H, W), WFVAE_OK);
    EXPECT("begin_twice", wfvae_encoder_begin(m, H, W), WFVAE_E_STATE);
    EXPECT("push_negative", wfvae_push_frames(m, frames, -1), WFVAE_E_ARGUMENT);
    EXPECT("push_null", wfvae_push_frames(m, NULL, 1), WFVAE_E_ARGUMENT);
    EXPECT("push_zero_null", wfvae_push_frames(m, NULL, 0), WFVAE_OK);
    EXPECT("push_int_max", wfvae_push_frames(m, frames, 0x7fffffff), WFVAE_E_ARGUMENT);
    EXPECT("pull_null_count", wfvae_pull_latents(m, latents, NULL, 1, NULL), WFVAE_E_ARGUMENT);
    EXPECT("pull_negative", wfvae_pull_latents(m, latents, NULL, -3, &n), WFVAE_E_ARGUMENT);
    EXPECT("push_5", wfvae_push_frames(m, frames, 5), WFVAE_OK);
    EXPECT("pull_null_mean", wfvae_pull_latents(m, NULL, NULL, 1, &n), WFVAE_E_ARGUMENT);
    EXPECT("pull_query", wfvae_pull_latents(m, NULL, NULL, 0, &n), WFVAE_OK);
    assert_that("pull_query_counts_2", n == 2);
    EXPECT("pull_2", wfvae_pull_latents(m, latents, latents + 4096, 8, &n), WFVAE_OK);
    EXPECT("pull_empty", wfvae_pull_latents(m, latents, NULL, 8, &n), WFVAE_OK);
    EXPECT("end", wfvae_encoder_end(m), WFVAE_OK);
    EXPECT("end_twice", wfvae_encoder_end(m), WFVAE_OK);

    EXPECT("decoder_begin", wfvae_decoder_begin(m, H / 8, W / 8), WFVAE_OK);
    EXPECT("decoder_begin_twice", wfvae_decoder_begin(m, H / 8, W / 8), WFVAE_E_STATE);
    EXPECT("push_latents", wfvae_push_latents(m, latents, 2), WFVAE_OK);
    EXPECT("flush", wfvae_flush(m), WFVAE_OK);
    EXPECT("flush_twice", wfvae_flush(m), WFVAE_E_STATE);
    EXPECT("push_after_flush", wfvae_push_latents(m, latents, 1), WFVAE_E_STATE);
    EXPECT("push_none_after_flush", wfvae_push_latents(m, latents, 0), WFVAE_E_STATE);
    EXPECT("pull_frames_null_count", wfvae_pull_frames(m, frames, 5, NULL), WFVAE_E_ARGUMENT);
    EXPECT("pull_frames", wfvae_pull_frames(m, frames, 5, &n), WFVAE_OK);
    assert_that("pull_frames_counts_5", n == 5);
    EXPECT("decoder_end", wfvae_decoder_end(m), WFVAE_OK);
    EXPECT("decoder_end_twice", wfvae_decoder_end(m), WFVAE_OK);
}

static void bad_sizes(wfvae_model *m)
{
    EXPECT("begin_zero", wfvae_encoder_begin(m, 0, 0), WFVAE_E_ARGUMENT);
    EXPECT("begin_negative", wfvae_encoder_begin(m, -8, 16), WFVAE_E_ARGUMENT);
    EXPECT("begin_odd", wfvae_encoder_begin(m, 12, 16), WFVAE_E_ARGUMENT);
    EXPECT("begin_huge", wfvae_encoder_begin(m, 1 << 30, 1 << 30), WFVAE_E_ARGUMENT);
    EXPECT("begin_frame_too_large", wfvae_encoder_begin(m, 65536, 65536), WFVAE_E_ARGUMENT); /* 3 x 2^32 values a frame */
    EXPECT("begin_after_huge", wfvae_encoder_begin(m, H, W), WFVAE_OK);
    EXPECT("end_after_huge", wfvae_encoder_end(m), WFVAE_OK);
    EXPECT("decoder_begin_zero", wfvae_decoder_begin(m, 0, 2), WFVAE_E_ARGUMENT);
    EXPECT("decoder_begin_negative", wfvae_decoder_begin(m, 2, -2), WFVAE_E_ARGUMENT);
    EXPECT("decoder_begin_huge", wfvae_decoder_begin(m, 1 << 28, 1 << 28), WFVAE_E_ARGUMENT);
    /* 65536x65536 frames: sides the stream format allows, a frame larger than any buffer (3 x 2^32 values) */
    EXPECT("decoder_begin_frame_too_large", wfvae_decoder_begin(m, 8192, 8192), WFVAE_E_ARGUMENT);
    wfvae_set_log(NULL, NULL);
    assert_that("set_log_clears_the_last_error", wfvae_last_error()[0] == 0);
    EXPECT("decoder_end_after_huge", wfvae_decoder_end(m), WFVAE_OK);
}

/* A log callback that, during a push on `busy`, ends its stream, closes it and asks for its info: each is refused
 * (the push still needs the stream), the push itself succeeds with an empty last error, the handle stays usable.
 * Every line asks, the shader compiler's too (WFVAE_VERBOSE, a first push): the engine's worker threads hand their
 * lines to the pushing thread, else a call from a worker's line would wait for the push that waits for the worker. */
static wfvae_model *busy;
static int in_push, reentered;

static void reentrant_log(const char *line, void *user)
{
    (void)line;
    (void)user;
    if (!in_push) return;
    int l = 0;
    EXPECT("callback_info", wfvae_info(busy, &l, NULL, NULL), WFVAE_E_STATE);
    if (reentered++) return;
    EXPECT("callback_encoder_end", wfvae_encoder_end(busy), WFVAE_E_STATE);
    wfvae_close(busy);
    assert_that("callback_close_refused_on_one_line", wfvae_last_error()[0] != 0 && strchr(wfvae_last_error(), '\n') == NULL);
    EXPECT("callback_push_null", wfvae_push_frames(NULL, frames, 1), WFVAE_E_HANDLE); /* leaves an error behind */
}

static void reentrant_callback(const char *model)
{
    int n = 0;
    wfvae_set_log(reentrant_log, NULL);
    EXPECT("reentrant_open", wfvae_open(model, NULL, &busy), WFVAE_OK);
    EXPECT("reentrant_begin", wfvae_encoder_begin(busy, H, W), WFVAE_OK);
    in_push = 1;
    EXPECT("reentrant_push", wfvae_push_frames(busy, frames, 5), WFVAE_OK); /* check() also wants an empty message */
    in_push = 0;
    assert_that("reentrant_callback_ran", reentered > 0);
    EXPECT("reentrant_pull", wfvae_pull_latents(busy, latents, NULL, 4, &n), WFVAE_OK);
    assert_that("reentrant_pull_counts_2", n == 2);
    wfvae_set_log(NULL, NULL);
    wfvae_close(busy);
    assert_that("reentrant_closed_quietly", wfvae_last_error()[0] == 0);
}

/* Two threads push on two handles; their callbacks must be able to run at once. The one logging A's push waits until
 * the one logging B's push has started, then asks for B's info while B's push (holding B) still runs and logs. With a
 * callback run under a lock shared by all handles, B's log line waits for that lock, A's callback for B: a deadlock,
 * which the bounded waits turn into failed cases. */
static wfvae_model *cross_a, *cross_b;
static __thread int cross_role; /* 1: pushing A, 2: pushing B, 0: not in a push of this case */
static int b_logging, a_asking, a_done, b_gave_up;
static pthread_mutex_t cross_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cross_cond = PTHREAD_COND_INITIALIZER;

/* Waits (cross_lock held) until *flag is set; 0 after 120 s, far beyond a push of the tiny model. */
static int cross_wait(const int *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 120;
    while (!*flag)
        if (pthread_cond_timedwait(&cross_cond, &cross_lock, &until) != 0) return *flag;
    return 1;
}

static void cross_signal(int *flag)
{
    pthread_mutex_lock(&cross_lock);
    *flag = 1;
    pthread_cond_broadcast(&cross_cond);
    pthread_mutex_unlock(&cross_lock);
}

static void cross_log(const char *line, void *user)
{
    (void)line;
    (void)user;
    if (cross_role == 2 && !b_logging) {
        cross_signal(&b_logging);
        pthread_mutex_lock(&cross_lock); /* B's push goes on only once A's callback is about to call into B */
        b_gave_up = !cross_wait(&a_asking);
        pthread_mutex_unlock(&cross_lock);
        assert_that("cross_callbacks_run_at_once_b", !b_gave_up);
    } else if (cross_role == 1 && !a_done) {
        a_done = 1;
        pthread_mutex_lock(&cross_lock);
        int met = cross_wait(&b_logging) && !b_gave_up;
        pthread_mutex_unlock(&cross_lock);
        assert_that("cross_callbacks_run_at_once_a", met);
        if (!met) return; /* B's push may be waiting for this callback to return: calling into B would hang */
        int l = 0;
        cross_signal(&a_asking);
        EXPECT("cross_callback_info_other_handle", wfvae_info(cross_b, &l, NULL, NULL), WFVAE_OK);
    }
}

static void *cross_push(void *which)
{
    wfvae_model *m = which == (void *)1 ? cross_a : cross_b;
    cross_role = (int)(long)which;
    EXPECT("cross_push", wfvae_push_frames(m, frames, 5), WFVAE_OK);
    cross_role = 0;
    if (which == (void *)1) cross_signal(&a_asking); /* if A's push never logged, B's callback must not wait for it */
    return NULL;
}

static void cross_handle_callbacks(const char *model)
{
    pthread_t a, b;
    EXPECT("cross_open_a", wfvae_open(model, NULL, &cross_a), WFVAE_OK);
    EXPECT("cross_open_b", wfvae_open(model, NULL, &cross_b), WFVAE_OK);
    EXPECT("cross_begin_a", wfvae_encoder_begin(cross_a, H, W), WFVAE_OK);
    EXPECT("cross_begin_b", wfvae_encoder_begin(cross_b, H, W), WFVAE_OK);
    wfvae_set_log(cross_log, NULL);
    pthread_create(&a, NULL, cross_push, (void *)1);
    pthread_create(&b, NULL, cross_push, (void *)2);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    wfvae_set_log(NULL, NULL);
    assert_that("cross_both_callbacks_ran", a_done && b_logging);
    wfvae_close(cross_a);
    wfvae_close(cross_b);
}

/* Threads share one handle and run streams in any interleaving; the stream order is theirs to get wrong. */
static wfvae_model *shared;
static volatile int closed;

static void *hammer(void *arg)
{
    int id = (int)(long)arg, n = 0;
    float *mine = calloc(8 * FRAME, sizeof(float));
    for (int i = 0; i < 12; i++) {
        int s;
        if ((i + id) % 2 == 0) {
            s = wfvae_encoder_begin(shared, H, W);
            EXPECT("thread_encoder_begin", s, WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_push", wfvae_push_frames(shared, mine, 1 + (i % 5)), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_pull", wfvae_pull_latents(shared, mine, NULL, 2, &n), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_end", wfvae_encoder_end(shared), WFVAE_OK, WFVAE_E_HANDLE);
        } else {
            EXPECT("thread_decoder_begin", wfvae_decoder_begin(shared, H / 8, W / 8), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_push_latents", wfvae_push_latents(shared, latents, 1), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_flush", wfvae_flush(shared), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_pull_frames", wfvae_pull_frames(shared, mine, 8, &n), WFVAE_OK, WFVAE_E_STATE, WFVAE_E_HANDLE);
            EXPECT("thread_decoder_end", wfvae_decoder_end(shared), WFVAE_OK, WFVAE_E_HANDLE);
        }
        if (id == 0 && i == 6) {
            wfvae_close(shared); /* the others go on with a handle that is now closed */
            closed = 1;
        }
    }
    free(mine);
    return NULL;
}

static void *own_handle(void *model)
{
    wfvae_model *m = NULL;
    int n = 0;
    EXPECT("second_handle_open", wfvae_open((const char *)model, NULL, &m), WFVAE_OK);
    EXPECT("second_handle_begin", wfvae_encoder_begin(m, H, W), WFVAE_OK);
    EXPECT("second_handle_push", wfvae_push_frames(m, frames, 5), WFVAE_OK);
    EXPECT("second_handle_pull", wfvae_pull_latents(m, latents, NULL, 4, &n), WFVAE_OK);
    wfvae_close(m);
    assert_that("second_handle_closed_quietly", wfvae_last_error()[0] == 0);
    return NULL;
}

static void threads(const char *model)
{
    pthread_t t[THREADS + 1];
    EXPECT("shared_open", wfvae_open(model, NULL, &shared), WFVAE_OK);
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, hammer, (void *)i);
    pthread_create(&t[THREADS], NULL, own_handle, (void *)model);
    for (int i = 0; i <= THREADS; i++) pthread_join(t[i], NULL);
    assert_that("shared_was_closed", closed);
    every_call_on(shared, "after_close", WFVAE_E_HANDLE);
    wfvae_close(shared);
    assert_that("close_twice_reports_one_line", wfvae_last_error()[0] != 0 && strchr(wfvae_last_error(), '\n') == NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: plugin_misuse <model>\n");
        return 100;
    }
    alarm(600); /* a deadlock ends the run instead of hanging the test */
    for (int i = 0; i < 5 * FRAME; i++) frames[i] = (float)((i * 37) % 200) / 100.0f - 1.0f;

    every_call_on(NULL, "null_handle", WFVAE_E_HANDLE);
    every_call_on((wfvae_model *)0x7777, "made_up_handle", WFVAE_E_HANDLE);
    wfvae_close(NULL);
    assert_that("close_null_is_quiet", wfvae_last_error()[0] == 0);
    bad_opens(argv[1]);

    wfvae_model *m = NULL;
    EXPECT("open", wfvae_open(argv[1], NULL, &m), WFVAE_OK);
    out_of_order_and_twice(m);
    bad_sizes(m);
    wfvae_close(m);
    every_call_on(m, "closed_handle", WFVAE_E_HANDLE);

    reentrant_callback(argv[1]);
    cross_handle_callbacks(argv[1]);
    threads(argv[1]);
    printf("%d failed\n", failures);
    return failures;
}
