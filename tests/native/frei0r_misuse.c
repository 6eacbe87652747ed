/*
 * frei0r_misuse: a badly behaved frei0r host for the wfvae_encode / wfvae_decode plugins (built and run,
 * under AddressSanitizer where the compiler offers it, by tests/WfVae.Tests/Plugin/Frei0rMisuseTests.cs).
 *
 *   frei0r_misuse <wfvae_encode.so> <wfvae_decode.so> <model> <work-dir>
 *
 * Calls the entry points out of order, twice, with NULL, after destruct, with bad sizes and indices, and
 * from several threads at once. The plugins must neither crash nor hang; a failed filter must output its
 * input unchanged, a failed source opaque black. Prints "ok <case>" per case passed and "FAIL <case>: <why>"
 * otherwise; exit status 0 only when every case passed. The plugins' own complaints go to stderr.
 */
#include <dlfcn.h>
#include <frei0r.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 64
#define H 48
#define PIXELS (W * H)

typedef struct {
    const char *file;
    int (*init)(void);
    void (*deinit)(void);
    void (*get_plugin_info)(f0r_plugin_info_t *);
    void (*get_param_info)(f0r_param_info_t *, int);
    f0r_instance_t (*construct)(unsigned int, unsigned int);
    void (*destruct)(f0r_instance_t);
    void (*set_param_value)(f0r_instance_t, f0r_param_t, int);
    void (*get_param_value)(f0r_instance_t, f0r_param_t, int);
    void (*update)(f0r_instance_t, double, const uint32_t *, uint32_t *);
    void (*update2)(f0r_instance_t, double, const uint32_t *, const uint32_t *, const uint32_t *, uint32_t *);
} plugin_t;

static int failures;
static const char *model_path, *work_dir;

#define EXPECT(cond, name, why)                                   \
    do {                                                          \
        if (cond) printf("ok %s\n", name);                        \
        else { printf("FAIL %s: %s\n", name, why); failures++; } \
        fflush(stdout);                                           \
    } while (0)

static void *symbol(void *lib, const char *file, const char *name)
{
    void *s = dlsym(lib, name);
    if (!s) { fprintf(stderr, "%s lacks %s\n", file, name); exit(2); }
    return s;
}

static plugin_t load(const char *file)
{
    plugin_t p = { .file = file };
    void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "cannot load %s: %s\n", file, dlerror()); exit(2); }
    *(void **)&p.init = symbol(lib, file, "f0r_init");
    *(void **)&p.deinit = symbol(lib, file, "f0r_deinit");
    *(void **)&p.get_plugin_info = symbol(lib, file, "f0r_get_plugin_info");
    *(void **)&p.get_param_info = symbol(lib, file, "f0r_get_param_info");
    *(void **)&p.construct = symbol(lib, file, "f0r_construct");
    *(void **)&p.destruct = symbol(lib, file, "f0r_destruct");
    *(void **)&p.set_param_value = symbol(lib, file, "f0r_set_param_value");
    *(void **)&p.get_param_value = symbol(lib, file, "f0r_get_param_value");
    *(void **)&p.update = symbol(lib, file, "f0r_update");
    *(void **)&p.update2 = symbol(lib, file, "f0r_update2");
    return p;
}

static uint32_t *frame(void) { return aligned_alloc(16, PIXELS * 4); }

static void pattern(uint32_t *f, unsigned seed)
{
    for (int i = 0; i < PIXELS; i++) f[i] = (uint32_t)(i * 2654435761u + seed * 40503u) | 0xff000000u;
}

static int is_black(const uint32_t *f)
{
    const uint8_t *b = (const uint8_t *)f;
    for (int i = 0; i < PIXELS * 4; i++)
        if (b[i] != ((i % 4) == 3 ? 255 : 0)) return 0;
    return 1;
}

static void set_string(plugin_t *p, f0r_instance_t inst, int index, const char *value)
{
    char *copy = strdup(value); /* the plugin must copy: this buffer is freed at once */
    p->set_param_value(inst, &copy, index);
    free(copy);
}

static void info_cases(plugin_t *p, int type)
{
    f0r_plugin_info_t info;
    memset(&info, 0, sizeof info);
    p->get_plugin_info(NULL);
    p->get_plugin_info(&info); /* before f0r_init, as MLT's scan does */
    EXPECT(info.name && info.plugin_type == type && info.color_model == F0R_COLOR_MODEL_RGBA8888 && info.frei0r_version == FREI0R_MAJOR_VERSION
               && info.num_params >= 4, "info_before_init", "plugin info incomplete or wrong");
    f0r_param_info_t pi = { .name = "sentinel", .type = 99, .explanation = NULL };
    p->get_param_info(NULL, 0);
    p->get_param_info(&pi, -1);
    p->get_param_info(&pi, info.num_params);
    EXPECT(strcmp(pi.name, "sentinel") == 0 && pi.type == 99, "param_info_bad_index", "out-of-range index wrote the info");
    int named = 1;
    for (int i = 0; i < info.num_params; i++) {
        p->get_param_info(&pi, i);
        named &= pi.name != NULL && pi.name[0] != 0;
    }
    EXPECT(named, "param_info_all", "a parameter has no name");
    EXPECT(p->init() == 1 && p->init() == 1, "init_twice", "f0r_init failed");
}

static void size_cases(plugin_t *p)
{
    unsigned sizes[][2] = { { 0, 0 }, { 63, 48 }, { 64, 47 }, { 8, 0 }, { 4294967295u, 8 }, { 65536, 65536 } };
    int all_null = 1;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        f0r_instance_t inst = p->construct(sizes[i][0], sizes[i][1]);
        if (inst) { all_null = 0; p->destruct(inst); }
    }
    EXPECT(all_null, "bad_sizes_refused", "an instance was constructed for a bad size");
}

static void handle_cases(plugin_t *p)
{
    uint32_t *in = frame(), *out = frame();
    pattern(in, 1);
    memset(out, 0x5a, PIXELS * 4);
    p->update(NULL, 0, in, out);
    p->update((f0r_instance_t)0x1234, 0, in, out);
    p->destruct(NULL);
    p->destruct((f0r_instance_t)0x1234);
    double v = 0.25;
    p->set_param_value(NULL, &v, 0);
    p->get_param_value((f0r_instance_t)0x1234, &v, 0);
    int untouched = v == 0.25;
    for (int i = 0; i < PIXELS * 4; i++) untouched &= ((uint8_t *)out)[i] == 0x5a;
    EXPECT(untouched, "null_and_unknown_instances", "a call on a NULL or unknown instance wrote something");
    free(in);
    free(out);
}

static void param_cases(plugin_t *p)
{
    f0r_instance_t inst = p->construct(W, H);
    if (!inst) { EXPECT(0, "param_misuse", "construct(64, 48) failed"); return; }
    char *null_string = NULL;
    p->set_param_value(inst, NULL, 0);
    p->set_param_value(inst, &null_string, 0);
    set_string(p, inst, -1, "x");
    set_string(p, inst, 99, "x");
    p->get_param_value(inst, NULL, 0);
    set_string(p, inst, 0, "some/where.wfl");
    set_string(p, inst, 0, "some/where.wfl"); /* MLT sets every parameter on every frame */
    char *got = NULL;
    p->get_param_value(inst, &got, 0);
    int string_ok = got && strcmp(got, "some/where.wfl") == 0;
    p->get_param_value(inst, &got, 1);
    string_ok &= got && got[0] == 0; /* unset strings are empty, never NULL */
    EXPECT(string_ok, "string_params", "a string parameter did not read back");
    p->destruct(inst);
}

/* A filter that cannot start (no model there) shows its input; a source shows black. */
static void failed_instance(plugin_t *p, int source)
{
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no-such-folder/x.wfl", work_dir);
    f0r_instance_t inst = p->construct(W, H);
    set_string(p, inst, 0, missing);
    set_string(p, inst, 1, "/no/such/model");
    uint32_t *in = frame(), *out = frame();
    int ok = 1;
    for (int t = 0; t < 3; t++) {
        pattern(in, t);
        memset(out, 0x5a, PIXELS * 4);
        if (t == 2) p->update2(inst, t, source ? NULL : in, NULL, NULL, out);
        else p->update(inst, t, source ? NULL : in, out);
        ok &= source ? is_black(out) : memcmp(in, out, PIXELS * 4) == 0;
    }
    p->update(inst, 9, in, NULL); /* NULL output: refused */
    if (!source) p->update(inst, 10, NULL, out); /* NULL input to a filter: refused */
    EXPECT(ok, source ? "failed_source_black" : "failed_filter_passthrough", "a failed instance showed something else");
    p->destruct(inst);
    p->destruct(inst);
    pattern(in, 7);
    p->update(inst, 11, source ? NULL : in, out);
    double v = 0;
    p->get_param_value(inst, &v, 2);
    EXPECT(source ? is_black(out) : memcmp(in, out, PIXELS * 4) == 0, source ? "source_after_destruct" : "filter_after_destruct",
        "an update after destruct did not show the input / black");
    free(in);
    free(out);
}

static void deinit_first(plugin_t *p, int source)
{
    f0r_instance_t inst = p->construct(W, H);
    p->deinit(); /* MLT calls f0r_deinit before destroying its instances */
    set_string(p, inst, 1, "/no/such/model");
    set_string(p, inst, 0, "x.wfl");
    uint32_t *in = frame(), *out = frame();
    pattern(in, 3);
    p->update(inst, 0, source ? NULL : in, out);
    EXPECT(source ? is_black(out) : memcmp(in, out, PIXELS * 4) == 0, "deinit_before_destruct", "instance broken by f0r_deinit");
    p->destruct(inst);
    p->init();
    free(in);
    free(out);
}

typedef struct {
    plugin_t *p;
    f0r_instance_t inst;
    int source, ok;
    const uint32_t *in;
} worker_t;

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static double shared_clock;

static double tick(void)
{
    pthread_mutex_lock(&clock_lock);
    double t = shared_clock++;
    pthread_mutex_unlock(&clock_lock);
    return t;
}

/* Updates one shared instance (all threads pass the same frame, so every output must equal it). */
static void *update_worker(void *arg)
{
    worker_t *w = arg;
    uint32_t *out = frame();
    for (int i = 0; i < 5; i++) {
        w->p->update(w->inst, tick(), w->source ? NULL : w->in, out);
        if (!w->source) w->ok &= memcmp(w->in, out, PIXELS * 4) == 0;
        char *s = NULL;
        w->p->get_param_value(w->inst, &s, 0);
        w->ok &= s != NULL;
    }
    free(out);
    return NULL;
}

/* Construct, use and destroy private failing instances, many times, in parallel. */
static void *churn_worker(void *arg)
{
    worker_t *w = arg;
    uint32_t *out = frame();
    for (int i = 0; i < 10; i++) {
        f0r_instance_t inst = w->p->construct(W, H);
        set_string(w->p, inst, 1, "/no/such/model");
        set_string(w->p, inst, 0, "x.wfl");
        w->p->update(inst, i, w->source ? NULL : w->in, out);
        w->ok &= w->source ? is_black(out) : memcmp(w->in, out, PIXELS * 4) == 0;
        w->p->destruct(inst);
    }
    free(out);
    return NULL;
}

static int run_threads(void *(*fn)(void *), worker_t *proto, int n)
{
    pthread_t th[8];
    worker_t w[8];
    int ok = 1;
    for (int i = 0; i < n; i++) { w[i] = *proto; w[i].ok = 1; pthread_create(&th[i], NULL, fn, &w[i]); }
    for (int i = 0; i < n; i++) { pthread_join(th[i], NULL); ok &= w[i].ok; }
    return ok;
}

/* A filter instance encoding into <work_dir>/<name> with the test's model. */
static f0r_instance_t encoder_into(plugin_t *p, const char *name)
{
    char wfl[1024];
    snprintf(wfl, sizeof wfl, "%s/%s", work_dir, name);
    f0r_instance_t inst = p->construct(W, H);
    set_string(p, inst, 0, wfl);
    set_string(p, inst, 1, model_path);
    return inst;
}

/* A real encode fed from four threads at once; the test then decodes threads.wfl with the CLI. */
static void encode_from_threads(plugin_t *p)
{
    f0r_instance_t inst = encoder_into(p, "threads.wfl");
    uint32_t *in = frame();
    pattern(in, 5);
    worker_t proto = { .p = p, .inst = inst, .source = 0, .in = in };
    EXPECT(run_threads(update_worker, &proto, 4), "encode_shared_instance_threads", "a threaded update did not pass its frame through");
    p->destruct(inst);
    worker_t churn = { .p = p, .source = 0, .in = in };
    EXPECT(run_threads(churn_worker, &churn, 4), "filter_churn_threads", "a failing instance in a thread showed something else");
    free(in);
}

/* The filter's stream only goes forward: the same time shows its last frame again, an earlier one (a seek back, a
 * looping playlist) passes that frame through instead of showing a stale one. */
static void filter_time_back(plugin_t *p)
{
    f0r_instance_t inst = encoder_into(p, "time-back.wfl");
    uint32_t *a = frame(), *b = frame(), *out = frame();
    pattern(a, 7);
    pattern(b, 8);
    p->update(inst, 10.0, a, out);
    int first = memcmp(out, a, PIXELS * 4) == 0;
    p->update(inst, 10.0, b, out);
    int repeated = memcmp(out, a, PIXELS * 4) == 0;
    p->update(inst, 5.0, b, out);
    int earlier = memcmp(out, b, PIXELS * 4) == 0;
    EXPECT(first && repeated, "filter_same_time_repeats", "the same time did not show the last frame again");
    EXPECT(earlier, "filter_earlier_time_passes_through", "an earlier time showed another frame than its input");
    p->destruct(inst);
    free(a);
    free(b);
    free(out);
}

/* The source on threads.wfl: wrong size, repeat, restart, and threads. */
static void decode_cases(plugin_t *p)
{
    char wfl[1024];
    snprintf(wfl, sizeof wfl, "%s/threads.wfl", work_dir);
    uint32_t *small = aligned_alloc(16, 32 * 32 * 4);
    f0r_instance_t wrong = p->construct(32, 32);
    set_string(p, wrong, 0, wfl);
    set_string(p, wrong, 1, model_path);
    p->update(wrong, 0, NULL, small);
    int black = 1;
    for (int i = 0; i < 32 * 32; i++) black &= small[i] == 0xff000000u;
    EXPECT(black, "source_wrong_size_black", "a size mismatch did not give black frames");
    p->destruct(wrong);
    free(small);

    f0r_instance_t inst = p->construct(W, H);
    set_string(p, inst, 0, wfl);
    set_string(p, inst, 1, model_path);
    uint32_t *first = frame(), *again = frame(), *second = frame(), *out = frame();
    p->update(inst, 0, NULL, first);
    p->update(inst, 1, NULL, second);
    p->update(inst, 1, NULL, again); /* the same time: the same frame */
    int ok = memcmp(second, again, PIXELS * 4) == 0 && !is_black(first);
    p->update(inst, 0, NULL, again); /* an earlier time: from the first frame again */
    ok &= memcmp(first, again, PIXELS * 4) == 0;
    EXPECT(ok, "source_repeat_and_restart", "repeat or restart gave other frames");
    for (int t = 2; t < 40; t++) p->update(inst, t, NULL, out); /* past the end: the last frame stays */
    p->update(inst, 40, NULL, again);
    EXPECT(memcmp(out, again, PIXELS * 4) == 0, "source_past_end_holds", "the last frame did not stay");
    worker_t proto = { .p = p, .inst = inst, .source = 1 };
    shared_clock = 100;
    EXPECT(run_threads(update_worker, &proto, 4), "source_shared_instance_threads", "threaded updates failed");
    p->destruct(inst);
    worker_t churn = { .p = p, .source = 1 };
    EXPECT(run_threads(churn_worker, &churn, 4), "source_churn_threads", "a failing source in a thread showed something else");
    free(first); free(again); free(second); free(out);
}

int main(int argc, char **argv)
{
    if (argc != 5) { fprintf(stderr, "usage: frei0r_misuse <wfvae_encode.so> <wfvae_decode.so> <model> <work-dir>\n"); return 2; }
    model_path = argv[3];
    work_dir = argv[4];
    plugin_t enc = load(argv[1]), dec = load(argv[2]);
    info_cases(&enc, F0R_PLUGIN_TYPE_FILTER);
    info_cases(&dec, F0R_PLUGIN_TYPE_SOURCE);
    size_cases(&enc);
    size_cases(&dec);
    handle_cases(&enc);
    handle_cases(&dec);
    param_cases(&enc);
    param_cases(&dec);
    failed_instance(&enc, 0);
    failed_instance(&dec, 1);
    deinit_first(&enc, 0);
    deinit_first(&dec, 1);
    encode_from_threads(&enc);
    filter_time_back(&enc);
    decode_cases(&dec);
    printf("%s\n", failures ? "some cases failed" : "all cases passed");
    return failures ? 1 : 0;
}
