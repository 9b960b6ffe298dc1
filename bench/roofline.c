/* Roofline benchmark: this machine's limits first (DRAM read bandwidth with 1 and 2
   threads, cache-resident bandwidth, peak int8 dot-product and fp32 FMA rates), then
   every kernel against them, against the scalar backend and against OpenBLAS fp32.
   Prints a markdown table and writes bench/results.json.

     roofline [--quick]     --quick: one shape, fewer repetitions (a smoke run)

   Times are medians after a warm-up. Batch 1 runs hot (one layer, its weights stay in
   cache) and cold (rotating over layers totalling >= 4x the last-level cache). Two
   threads split the output rows with bl_linear_forward_input over one prepared input. */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef BENCH_HAVE_CBLAS
#include <cblas.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86 1
#endif

#define LLC_BYTES (32u << 20) /* this machine's L3 (lscpu); cold sets are >= 4x this */
#define MAX_REPS 400

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double cpu_now(void) /* this thread's CPU time: robust against a shared machine */
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "out of memory (%zu bytes)\n", n); exit(1); }
    return p;
}
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 16); }
static float rndf(void) { return (float)(rnd() & 0xFFFFFF) / 8388608.0f - 1.0f; }

/* ---- machine limits ---------------------------------------------------------- */

#ifdef BENCH_X86
__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n)
{
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    size_t i;
    for (i = 0; i + 256 <= n; i += 256) {
        a = _mm512_add_epi64(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_add_epi64(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_add_epi64(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_add_epi64(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a = _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d));
    return (uint64_t)_mm512_reduce_add_epi64(a);
}
#endif
static uint64_t read_plain(const uint8_t *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)(const void *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i;
    for (i = 0; i + 4 <= n / 8; i += 4) { a += q[i]; b += q[i + 1]; c += q[i + 2]; d += q[i + 3]; }
    return a + b + c + d;
}
static int have_avx512(void)
{
#ifdef BENCH_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}
static uint64_t read_bytes(const uint8_t *p, size_t n)
{
#ifdef BENCH_X86
    if (have_avx512()) return read_avx512(p, n);
#endif
    return read_plain(p, n);
}

static volatile uint64_t sink;

typedef struct read_job { const uint8_t *p; size_t n; int reps; double cpu; } read_job;
static void *read_thread(void *arg)
{
    read_job *j = (read_job *)arg;
    double u0 = cpu_now();
    int r;
    for (r = 0; r < j->reps; ++r) sink += read_bytes(j->p, j->n);
    j->cpu = cpu_now() - u0;
    return NULL;
}

/* GB/s reading n bytes `reps` times, split over `threads` threads; one thread: by its CPU
   time, two: by wall time (see "Timing" in main). A limit is what the machine can do, so
   the best of 7 trials: on a shared machine a median can sit well below it and make the
   kernels' percentages look better than they are. */
static double read_bandwidth(const uint8_t *buf, size_t n, int threads, int reps)
{
    double best = 0.0;
    int trial, i;
    for (trial = 0; trial < 7; ++trial) {
        pthread_t th[2];
        read_job job[2];
        double t0 = now();
        for (i = 0; i < threads; ++i) {
            job[i].p = buf + (size_t)i * (n / (size_t)threads);
            job[i].n = n / (size_t)threads;
            job[i].reps = reps;
            if (i) pthread_create(&th[i], NULL, read_thread, &job[i]);
        }
        read_thread(&job[0]);
        for (i = 1; i < threads; ++i) pthread_join(th[i], NULL);
        {
            double gbs = (double)n * reps / (threads == 1 ? job[0].cpu : now() - t0) * 1e-9;
            if (gbs > best) best = gbs;
        }
    }
    return best;
}

#ifdef BENCH_X86
#define ACC12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double int8_ops_avx512(long iters)
{
#define DECL(i) __m512i a##i = _mm512_set1_epi32(i);
#define STEP(i) a##i = _mm512_dpbusd_epi32(a##i, u, s);
#define SUM(i) t = _mm512_add_epi32(t, a##i);
    const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
    __m512i t = _mm512_setzero_si512();
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    sink += (uint64_t)_mm512_reduce_add_epi32(t);
    return (double)iters * 12 * 64 * 2; /* 64 multiply-adds per vpdpbusd */
#undef DECL
#undef STEP
#undef SUM
}
/* The BASE3 kernels' inner step without memory: per 64 weights (one digit of a block) two
   vpdpbusd and the two byte adds that make the next digit's y = 3y, in eight independent
   streams. Written as asm so that no compiler turns the adds into multiplies or copies
   the accumulators around. Returns weights. No kernel with this decode can beat it. */
#define ACC8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double base3_weights_avx512(long iters)
{
#define DECL(i) __m512i y##i = _mm512_set1_epi8((char)(i + 1)), p##i = _mm512_setzero_si512(), q##i = p##i, t##i;
#define STEP(i) __asm__("vpdpbusd %4, %2, %0\n\tvpaddb %2, %2, %3\n\tvpaddb %2, %3, %2\n\tvpdpbusd %4, %2, %1" \
                        : "+v"(p##i), "+v"(q##i), "+v"(y##i), "=&v"(t##i) : "v"(s));
#define SUM(i) t = _mm512_add_epi32(t, _mm512_sub_epi32(p##i, q##i));
    const __m512i s = _mm512_set1_epi8(-2);
    __m512i t = _mm512_setzero_si512();
    long i;
    ACC8(DECL)
    for (i = 0; i < iters; ++i) { ACC8(STEP) }
    ACC8(SUM)
    sink += (uint64_t)_mm512_reduce_add_epi32(t);
    return (double)iters * 8 * 64;
#undef DECL
#undef STEP
#undef SUM
}
__attribute__((target("avx512f"))) static double fp32_flops_avx512(long iters)
{
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define SUM(i) t = _mm512_add_ps(t, a##i);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __m512 t = _mm512_setzero_ps();
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    sink += (uint64_t)_mm512_reduce_add_ps(t);
    return (double)iters * 12 * 16 * 2;
#undef DECL
#undef STEP
#undef SUM
}
#endif

enum { PEAK_INT8, PEAK_FP32, PEAK_BASE3 };
typedef struct peak_job { int kind; double ops, seconds; } peak_job;
static void *peak_thread(void *arg)
{
    peak_job *j = (peak_job *)arg;
    double t0 = cpu_now();
    j->ops = 0.0;
#ifdef BENCH_X86
    if (have_avx512())
        j->ops = j->kind == PEAK_FP32 ? fp32_flops_avx512(4000000)
               : j->kind == PEAK_INT8 ? int8_ops_avx512(4000000) : base3_weights_avx512(4000000);
#endif
    j->seconds = cpu_now() - t0;
    return NULL;
}
/* G ops/s (BASE3: G weights/s) over `threads` threads, best of 5 (a limit, as above), 0 without
   AVX-512 VNNI */
static double peak_rate(int kind, int threads)
{
    double best = 0.0;
    int trial, i;
    for (trial = 0; trial < 5; ++trial) {
        pthread_t th[2];
        peak_job job[2];
        double t0 = now(), ops = 0.0;
        for (i = 0; i < threads; ++i) {
            job[i].kind = kind;
            if (i) pthread_create(&th[i], NULL, peak_thread, &job[i]);
        }
        peak_thread(&job[0]);
        for (i = 1; i < threads; ++i) pthread_join(th[i], NULL);
        for (i = 0; i < threads; ++i) ops += job[i].ops;
        ops /= (threads == 1 ? job[0].seconds : now() - t0) * 1e9;
        if (ops > best) best = ops;
    }
    return best;
}

/* ---- two-thread forward: a persistent worker takes the upper half of the rows ---- */

typedef struct worker {
    pthread_t thread;
    pthread_barrier_t start, done;
    const bl_linear *layer;
    const void *input;
    float *y;
    int batch, r0, r1, quit;
} worker;

static void *worker_main(void *arg)
{
    worker *w = (worker *)arg;
    for (;;) {
        pthread_barrier_wait(&w->start);
        if (w->quit) break;
        (void)bl_linear_forward_input(w->layer, w->input, w->batch, w->y, w->r0, w->r1);
        pthread_barrier_wait(&w->done);
    }
    return NULL;
}

typedef struct run_ctx {
    const bl_linear *const *layers; /* rotation */
    int nlayers, batch, threads;
    int rows;                        /* 1 thread: forward only rows [0, rows) (scalar baseline) */
    const float *const *xs;          /* rotation of fresh inputs */
    int nxs;
    void *input;                     /* prepared-input buffer of the largest layer */
    size_t input_size;
    float *y;
    worker *w;
} run_ctx;

static void forward_once(run_ctx *c, int it)
{
    const bl_linear *L = c->layers[it % c->nlayers];
    const float *x = c->xs[it % c->nxs];
    bl_linear_info info;
    memset(&info, 0, sizeof info);
    (void)bl_linear_get_info(L, &info);
    if (c->threads == 1) {
        (void)bl_linear_forward_rows(L, x, c->batch, c->y, 0, c->rows ? c->rows : info.out_features, c->input);
        return;
    }
    (void)bl_linear_prepare_input(L, x, c->batch, c->input, c->input_size);
    c->w->layer = L;
    c->w->input = c->input;
    c->w->y = c->y;
    c->w->batch = c->batch;
    c->w->r0 = info.out_features / 2;
    c->w->r1 = info.out_features;
    pthread_barrier_wait(&c->w->start);
    (void)bl_linear_forward_input(L, c->input, c->batch, c->y, 0, info.out_features / 2);
    pthread_barrier_wait(&c->w->done);
}

/* median wall seconds per forward (and the calling thread's median CPU seconds);
   reps from a time budget */
static double time_forward(run_ctx *c, double budget, int min_reps, double *cpu)
{
    double t[MAX_REPS], u[MAX_REPS], t0, u0, first;
    int reps, i;
    t0 = now();
    forward_once(c, 0); /* warm-up */
    first = now() - t0;
    reps = first > 0 ? (int)(budget / first) : MAX_REPS;
    reps = reps < min_reps ? min_reps : (reps > MAX_REPS ? MAX_REPS : reps);
    for (i = 0; i < reps; ++i) {
        t0 = now();
        u0 = cpu_now();
        forward_once(c, i + 1);
        u[i] = cpu_now() - u0;
        t[i] = now() - t0;
    }
    if (cpu) *cpu = median(u, reps);
    return median(t, reps);
}

/* Cold batch 1, INT8, 1 thread, 2BIT (c[0]) and BASE3 (c[1]) forwards in alternation; median
   CPU seconds of each. On a shared machine the DRAM traffic of other programs varies over
   seconds: alternating gives both formats the same conditions, so their ratio is fair. */
static void time_cold_pair(run_ctx c[2], int reps, double t[2])
{
    double u[2][MAX_REPS], u0;
    int i, f;
    reps = reps > MAX_REPS ? MAX_REPS : reps;
    for (f = 0; f < 2; ++f) forward_once(&c[f], 0); /* warm-up */
    for (i = 0; i < reps; ++i)
        for (f = 0; f < 2; ++f) {
            u0 = cpu_now();
            forward_once(&c[f], i + 1);
            u[f][i] = cpu_now() - u0;
        }
    for (f = 0; f < 2; ++f) t[f] = median(u[f], reps);
}

#ifdef BENCH_HAVE_CBLAS
/* median seconds of cblas_sgemv (batch 1) or cblas_sgemm: wall time, or with one thread
   the calling thread's CPU time (OpenBLAS runs single-threaded calls in the caller) */
static double time_blas(const float *w, int out, int in, const float *x, int batch, float *y, int threads, double budget)
{
    double t[MAX_REPS], t0, u0, first;
    int reps = 3, i;
    openblas_set_num_threads(threads);
    for (i = -1; i < MAX_REPS; ++i) {
        t0 = now();
        u0 = cpu_now();
        if (batch == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, 0.0f, y, 1);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
        if (i < 0) {
            first = now() - t0;
            reps = first > 0 ? (int)(budget / first) : MAX_REPS;
            reps = reps < 3 ? 3 : (reps > MAX_REPS ? MAX_REPS : reps);
            continue;
        }
        t[i] = threads == 1 ? cpu_now() - u0 : now() - t0;
        if (i + 1 >= reps) break;
    }
    return median(t, i + 1);
}
#endif

/* ---- the layers ------------------------------------------------------------- */

/* A rotation of `count` layers with the same shape and distinct packed weights. They share
   one prototype's scales and copy its packed bytes (re-packing each would take longer
   than the whole benchmark); each copy is a full, separately allocated weight set. */
typedef struct layer_set {
    bl_linear *proto;
    bl_linear *copies;  /* [count] structs pointing at their own packed bytes */
    uint8_t **packed;
    const bl_linear **list;
    int count;
} layer_set;

static void make_set(layer_set *s, const int8_t *trits, const float *scales, int out, int in, bl_format f, int count)
{
    bl_linear_desc d;
    size_t bytes;
    int i;
    memset(&d, 0, sizeof d);
    d.in_features = in;
    d.out_features = out;
    d.trits = trits;
    d.scales = scales;
    d.format = f;
    if (bl_linear_create(&d, &s->proto) != BL_OK) { fprintf(stderr, "create failed\n"); exit(1); }
    bytes = (size_t)out * s->proto->row_bytes;
    s->count = count;
    s->copies = (bl_linear *)xmalloc(sizeof(bl_linear) * (size_t)count);
    s->packed = (uint8_t **)xmalloc(sizeof(uint8_t *) * (size_t)count);
    s->list = (const bl_linear **)xmalloc(sizeof(bl_linear *) * (size_t)count);
    for (i = 0; i < count; ++i) {
        s->packed[i] = (uint8_t *)xmalloc(bytes);
        memcpy(s->packed[i], s->proto->packed, bytes);
        s->packed[i][(size_t)i % bytes] ^= 1; /* distinct content */
        s->copies[i] = *s->proto;
        s->copies[i].packed = s->packed[i];
        s->copies[i].owned = 0;
        s->list[i] = &s->copies[i];
    }
}
static void set_act(layer_set *s, bl_act act)
{
    int i;
    s->proto->act = act;
    for (i = 0; i < s->count; ++i) s->copies[i].act = act;
}
static void free_set(layer_set *s)
{
    int i;
    for (i = 0; i < s->count; ++i) free(s->packed[i]);
    free(s->packed);
    free(s->copies);
    free(s->list);
    bl_linear_destroy(s->proto);
}

/* ---- main ------------------------------------------------------------------- */

typedef struct result {
    int out, in, batch, threads, cold;
    bl_format format;
    bl_act act;
    double seconds, cpu_seconds, basis, gbs, gops, pct, scalar_seconds, blas_seconds;
    const char *limit;
} result;

int main(int argc, char **argv)
{
    static const int shapes[3][2] = { { 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 } };
    static const int batches[3] = { 1, 8, 128 };
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int nshapes = quick ? 1 : 3, si, bi, fi, ai, th, cold, i, nres = 0;
    double pair[3][2] = { { 0, 0 }, { 0, 0 }, { 0, 0 } }; /* cold 2BIT and BASE3 in alternation */
    double dram1, dram2, l1bw, l2bw, l3bw, int8_1, int8_2, fp32_1, fp32_2, base3_1, budget = quick ? 0.1 : 0.25;
    size_t big = (size_t)512 << 20, maxn = 0;
    uint8_t *buf;
    result *res = (result *)xmalloc(sizeof(result) * 200);
    worker w;
    FILE *js;
    const char *backend;
    float **xs, *y, *wf = NULL;
    int8_t *trits;
    float *scales;
    void *input;
    size_t input_size;

    bl_set_backend(BL_BACKEND_AUTO);
    backend = bl_backend_name(bl_get_backend());

    /* machine limits */
    buf = (uint8_t *)xmalloc(big + 64);
    {
        uint8_t *a = (uint8_t *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
        memset(a, 1, big);
        dram1 = read_bandwidth(a, big, 1, 1);
        dram2 = read_bandwidth(a, big, 2, 1);
        l1bw = read_bandwidth(a, 16u << 10, 1, 20000);
        l2bw = read_bandwidth(a, 512u << 10, 1, 600);
        l3bw = read_bandwidth(a, 8u << 20, 1, 40);
    }
    free(buf);
    int8_1 = peak_rate(PEAK_INT8, 1);
    int8_2 = peak_rate(PEAK_INT8, 2);
    fp32_1 = peak_rate(PEAK_FP32, 1);
    fp32_2 = peak_rate(PEAK_FP32, 2);
    base3_1 = peak_rate(PEAK_BASE3, 1);
    printf("## Machine limits (measured; 1 thread by its CPU time, 2 threads by wall time)\n\n");
    printf("| limit | 1 thread | 2 threads |\n|---|---|---|\n");
    printf("| DRAM read, 512 MiB buffer (GB/s) | %.1f | %.1f |\n", dram1, dram2);
    printf("| L1-resident read, 16 KiB (GB/s) | %.1f | |\n", l1bw);
    printf("| L2-resident read, 512 KiB (GB/s) | %.1f | |\n", l2bw);
    printf("| L3-resident read, 8 MiB (GB/s) | %.1f | |\n", l3bw);
    printf("| peak int8 dot (vpdpbusd, GOPS) | %.0f | %.0f |\n", int8_1, int8_2);
    printf("| peak fp32 FMA (GFLOPS) | %.0f | %.0f |\n", fp32_1, fp32_2);
    printf("| BASE3 decode + dot, no memory (G weights/s) | %.1f | |\n\n", base3_1);
    printf("backend: %s\n\n", backend);
    fflush(stdout);

    for (si = 0; si < nshapes; ++si)
        if ((size_t)shapes[si][0] * (size_t)shapes[si][1] > maxn) maxn = (size_t)shapes[si][0] * (size_t)shapes[si][1];
    trits = (int8_t *)xmalloc(maxn);
    scales = (float *)xmalloc(11008 * sizeof(float));
    for (i = 0; i < 11008; ++i) scales[i] = 0.01f + 0.01f * (float)(rnd() % 100);
    xs = (float **)xmalloc(4 * sizeof(float *));
    for (i = 0; i < 4; ++i) {
        size_t j;
        xs[i] = (float *)xmalloc((size_t)128 * 11008 * sizeof(float));
        for (j = 0; j < (size_t)128 * 11008; ++j) xs[i][j] = rndf();
    }
    y = (float *)xmalloc((size_t)128 * 11008 * sizeof(float));
#ifdef BENCH_HAVE_CBLAS
    wf = (float *)xmalloc(maxn * sizeof(float));
#endif
    memset(&w, 0, sizeof w);
    pthread_barrier_init(&w.start, NULL, 2);
    pthread_barrier_init(&w.done, NULL, 2);
    pthread_create(&w.thread, NULL, worker_main, &w);

    for (si = 0; si < nshapes; ++si) {
        int out = shapes[si][0], in = shapes[si][1];
        size_t n = (size_t)out * (size_t)in, j;
        double blas[3][2];
        for (j = 0; j < n; ++j) { uint32_t r = rnd() % 3; trits[j] = (int8_t)((int)r - 1); }
#ifdef BENCH_HAVE_CBLAS
        for (j = 0; j < n; ++j) wf[j] = (float)trits[j] * 0.05f;
        for (bi = 0; bi < 3; ++bi)
            for (th = 1; th <= 2; ++th)
                blas[bi][th - 1] = time_blas(wf, out, in, xs[0], batches[bi], y, th, budget);
#else
        for (bi = 0; bi < 3; ++bi) blas[bi][0] = blas[bi][1] = 0.0;
        (void)wf;
#endif
        layer_set sets[2];
        for (fi = 0; fi < 2; ++fi) {
            bl_format f = (bl_format)fi;
            size_t packed = bl_packed_size(f, out, in);
            int count = (int)((4.0 * LLC_BYTES + (double)packed - 1) / (double)packed);
            layer_set set;
            make_set(&set, trits, scales, out, in, f, count);
            set_act(&set, BL_ACT_FLOAT); /* the larger prepared input */
            input_size = bl_linear_input_size(set.proto, 128);
            input = xmalloc(input_size);
            for (ai = 0; ai < 2; ++ai) {
                bl_act act = (bl_act)ai;
                set_act(&set, act);
                for (bi = 0; bi < 3; ++bi) {
                    int batch = batches[bi];
                    double scalar_s, scalar_cpu;
                    run_ctx c;
                    memset(&c, 0, sizeof c);
                    c.batch = batch;
                    c.xs = (const float *const *)xs;
                    c.nxs = 4;
                    c.input = input;
                    c.input_size = input_size;
                    c.y = y;
                    c.w = &w;
                    /* scalar baseline: one thread, hot; it is slow, so batch 8 and 128 run on
                       1/4 and 1/64 of the rows (scaled back up: rows cost the same) */
                    bl_set_backend(BL_BACKEND_SCALAR);
                    c.layers = (const bl_linear *const *)&set.proto;
                    c.nlayers = 1;
                    c.threads = 1;
                    c.rows = batch == 1 ? out : batch == 8 ? out / 4 : out / 64;
                    (void)time_forward(&c, budget / 4, batch == 1 ? 3 : 1, &scalar_cpu);
                    scalar_s = scalar_cpu * out / c.rows;
                    c.rows = 0;
                    bl_set_backend(BL_BACKEND_AUTO);
                    for (th = 1; th <= 2; ++th)
                        for (cold = 0; cold <= (batch == 1); ++cold) {
                            result *r = &res[nres++];
                            double ops = 2.0 * (double)n * batch, peak;
                            c.threads = th;
                            c.layers = cold ? set.list : (const bl_linear *const *)&set.proto;
                            c.nlayers = cold ? set.count : 1;
                            r->seconds = time_forward(&c, budget, batch == 128 ? 3 : 10, &r->cpu_seconds);
                            r->out = out; r->in = in; r->batch = batch; r->threads = th; r->cold = cold;
                            r->format = f; r->act = act;
                            r->basis = th == 1 ? r->cpu_seconds : r->seconds;
                            r->gbs = (double)packed / r->basis * 1e-9;
                            r->gops = ops / r->basis * 1e-9;
                            r->scalar_seconds = scalar_s;
                            r->blas_seconds = blas[bi][th - 1];
                            peak = act == BL_ACT_INT8 ? (th == 1 ? int8_1 : int8_2) : (th == 1 ? fp32_1 : fp32_2);
                            if (cold) {
                                r->pct = 100.0 * r->gbs / (th == 1 ? dram1 : dram2);
                                r->limit = "DRAM";
                            } else {
                                r->pct = peak > 0 ? 100.0 * r->gops / peak : 0.0;
                                r->limit = act == BL_ACT_INT8 ? "int8 peak" : "fp32 peak";
                            }
                            fprintf(stderr, "%dx%d b%d %s %s t%d %s: %.1f us\n", out, in, batch,
                                    f ? "base3" : "2bit", act ? "float" : "int8", th, cold ? "cold" : "hot",
                                    r->seconds * 1e6);
                        }
                }
            }
            free(input);
            sets[fi] = set;
        }
        {
            run_ctx c[2];
            void *pair_input;
            size_t pair_size = 0;
            for (fi = 0; fi < 2; ++fi) {
                size_t need;
                set_act(&sets[fi], BL_ACT_INT8);
                need = bl_linear_input_size(sets[fi].proto, 1);
                pair_size = need > pair_size ? need : pair_size;
            }
            pair_input = xmalloc(pair_size);
            for (fi = 0; fi < 2; ++fi) {
                memset(&c[fi], 0, sizeof c[fi]);
                c[fi].layers = sets[fi].list;
                c[fi].nlayers = sets[fi].count;
                c[fi].batch = 1;
                c[fi].threads = 1;
                c[fi].xs = (const float *const *)xs;
                c[fi].nxs = 4;
                c[fi].input = pair_input;
                c[fi].input_size = pair_size;
                c[fi].y = y;
                c[fi].w = &w;
            }
            time_cold_pair(c, quick ? 50 : 300, pair[si]);
            free(pair_input);
            for (fi = 0; fi < 2; ++fi) free_set(&sets[fi]);
        }
    }
    w.quit = 1;
    pthread_barrier_wait(&w.start);
    pthread_join(w.thread, NULL);

    printf("## Kernels (backend %s)\n\n", backend);
    printf("ops = 2 per weight per token. Rates, %% of the limit and speedups use the calling thread's CPU time\n"
           "for 1 thread (the machine may be shared: wall time then includes other programs' turns) and wall\n"
           "time for 2 threads. Scalar: 1 thread, CPU time, batch 8 and 128 timed on 1/4 and 1/64 of the rows.\n"
           "Cold: rotating over layers totalling >= 4x the %u MiB LLC.\n\n", LLC_BYTES >> 20);
    printf("| out x in | batch | format | act | threads | weights | median us | CPU us | GB/s | GOPS | %% of limit | x scalar (1 thr) | x OpenBLAS |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nres; ++i) {
        result *r = &res[i];
        char blas[32];
        if (r->blas_seconds > 0) snprintf(blas, sizeof blas, "%.1f", r->blas_seconds / r->basis);
        else snprintf(blas, sizeof blas, "n/a");
        char cpu[32];
        if (r->threads == 1) snprintf(cpu, sizeof cpu, "%.1f", r->cpu_seconds * 1e6);
        else snprintf(cpu, sizeof cpu, "-");
        printf("| %dx%d | %d | %s | %s | %d | %s | %.1f | %s | %.1f | %.0f | %.0f%% %s | %.1f | %s |\n", r->out, r->in,
               r->batch, r->format ? "BASE3" : "2BIT", r->act ? "FLOAT" : "INT8", r->threads,
               r->batch > 1 ? "hot" : (r->cold ? "cold" : "hot"), r->seconds * 1e6, cpu, r->gbs, r->gops, r->pct, r->limit,
               r->scalar_seconds / r->basis, blas);
    }

    /* BASE3 against 2BIT, batch 1, INT8, 1 thread: the time BASE3's decode alone needs */
    printf("\nBASE3 vs 2BIT, batch 1, INT8, 1 thread (CPU us); cold: both formats again, forwards in alternation\n"
           "(fair under changing DRAM traffic); decode bound = weights / BASE3 decode rate; hot / 2BIT cold: BASE3\n"
           "with its weights in cache against 2BIT from DRAM:\n\n");
    printf("| out x in | 2BIT cold | BASE3 cold | BASE3 / 2BIT | BASE3 hot | hot / 2BIT cold | BASE3 decode bound |\n"
           "|---|---|---|---|---|---|---|\n");
    for (si = 0; si < nshapes; ++si) {
        double t2 = pair[si][0], t3 = pair[si][1], h3 = 0.0;
        for (i = 0; i < nres; ++i) {
            const result *r = &res[i];
            if (r->out == shapes[si][0] && r->in == shapes[si][1] && r->batch == 1 && !r->act && r->threads == 1 &&
                !r->cold && r->format)
                h3 = r->cpu_seconds;
        }
        if (t2 > 0 && base3_1 > 0)
            printf("| %dx%d | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f |\n", shapes[si][0], shapes[si][1], t2 * 1e6,
                   t3 * 1e6, t3 / t2, h3 * 1e6, h3 / t2, (double)shapes[si][0] * shapes[si][1] / (base3_1 * 1e9) * 1e6);
    }

    js = fopen("bench/results.json", "w");
    if (js) {
        fprintf(js, "{\n  \"backend\": \"%s\",\n  \"limits\": {\"dram_read_gbs_1t\": %.2f, \"dram_read_gbs_2t\": %.2f, "
                    "\"l1_read_gbs\": %.2f, \"l2_read_gbs\": %.2f, \"l3_read_gbs\": %.2f, \"int8_gops_1t\": %.1f, "
                    "\"int8_gops_2t\": %.1f, \"fp32_gflops_1t\": %.1f, \"fp32_gflops_2t\": %.1f, "
                    "\"base3_gweights_1t\": %.2f},\n  \"kernels\": [\n",
                backend, dram1, dram2, l1bw, l2bw, l3bw, int8_1, int8_2, fp32_1, fp32_2, base3_1);
        for (i = 0; i < nres; ++i) {
            result *r = &res[i];
            fprintf(js, "    {\"out\": %d, \"in\": %d, \"batch\": %d, \"format\": \"%s\", \"act\": \"%s\", \"threads\": %d, "
                        "\"weights\": \"%s\", \"median_us\": %.2f, \"median_cpu_us\": %.2f, \"gbs\": %.2f, \"gops\": %.1f, \"pct_of_limit\": %.1f, "
                        "\"limit\": \"%s\", \"scalar_1t_us\": %.1f, \"blas_us\": %.1f}%s\n",
                    r->out, r->in, r->batch, r->format ? "base3" : "2bit", r->act ? "float" : "int8", r->threads,
                    r->cold ? "cold" : "hot", r->seconds * 1e6, r->cpu_seconds * 1e6, r->gbs, r->gops, r->pct, r->limit,
                    r->scalar_seconds * 1e6, r->blas_seconds * 1e6, i + 1 < nres ? "," : "");
        }
        fprintf(js, "  ],\n  \"cold_pairs\": [\n");
        for (si = 0; si < nshapes; ++si)
            fprintf(js, "    {\"out\": %d, \"in\": %d, \"cpu_us_2bit\": %.2f, \"cpu_us_base3\": %.2f}%s\n", shapes[si][0],
                    shapes[si][1], pair[si][0] * 1e6, pair[si][1] * 1e6, si + 1 < nshapes ? "," : "");
        fprintf(js, "  ]\n}\n");
        fclose(js);
    }
    for (i = 0; i < 4; ++i) free(xs[i]);
    free(xs);
    free(y);
    free(trits);
    free(scales);
    free(wf);
    free(res);
    return 0;
}
