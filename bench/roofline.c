/* Roofline benchmark: this machine's limits first (DRAM read bandwidth with 1 and 2
   threads, cache-resident bandwidth, peak int8 dot-product and fp32 FMA rates), then
   every kernel against them, against the scalar backend and against OpenBLAS fp32.
   Prints a markdown table and writes bench/results.json.

     roofline [--quick] [--json PATH]
         --quick: one shape, fewer repetitions (a smoke run); writes no record unless --json
                  names one, so a smoke run never replaces the full record
         --json:  where the results go (default bench/results.json; its other members are kept)

   Times are medians after a warm-up. Batch 1 runs hot (one layer, its weights stay in
   cache) and cold (rotating over layers totalling >= 4x the last-level cache). Two
   threads split the output rows with bl_linear_forward_input over one prepared input. */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <pthread.h>
#include <sched.h>
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
/* AVX2 without AVX-512: a scalar loop would measure the load ports' 8-byte reads, not the
   cache's bandwidth */
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    uint64_t lanes[4];
    size_t i;
    for (i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    _mm256_storeu_si256((__m256i *)(void *)lanes, a);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
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
#ifdef BENCH_X86
static int have_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}
#endif
static uint64_t read_bytes(const uint8_t *p, size_t n)
{
#ifdef BENCH_X86
    if (have_avx512()) return read_avx512(p, n);
    if (__builtin_cpu_supports("avx2")) return read_avx2(p, n);
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
/* The AVX2 backend's int8 product at 256 bits: vpdpbusd ymm where the CPU has it (AVX-VNNI,
   or AVX-512 VNNI with VL), else vpmaddubsw (products summed in pairs to int16; the
   kernels also need a vpmaddwd per few of them, not counted here). 32 multiply-adds each.
   The steps are asm: gcc 12 spilled some of the twelve chains to the stack every step,
   which measured a fraction of the rate. */
__attribute__((target("avx512f,avx512vl,avx512vnni"))) static double int8_ops_ymm_vnni(long iters)
{
#define DECL(i) __m256i a##i = _mm256_set1_epi32(i);
#define STEP(i) a##i = _mm256_dpbusd_epi32(a##i, u, s);
#define SUM(i) t = _mm256_add_epi32(t, a##i);
    const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2);
    __m256i t = _mm256_setzero_si256();
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    sink += (uint64_t)_mm256_extract_epi32(t, 0);
    return (double)iters * 12 * 32 * 2;
#undef DECL
#undef STEP
#undef SUM
}
/* AVX-VNNI alone (no AVX-512): the VEX encoding of the same instruction */
__attribute__((target("avx2"))) static double int8_ops_ymm_avxvnni(long iters)
{
#define DECL(i) __m256i a##i = _mm256_set1_epi32(i);
#define STEP(i) __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(a##i) : "x"(u), "x"(s));
#define SUM(i) t = _mm256_add_epi32(t, a##i);
    const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2);
    __m256i t = _mm256_setzero_si256();
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    sink += (uint64_t)_mm256_extract_epi32(t, 0);
    return (double)iters * 12 * 32 * 2;
#undef DECL
#undef STEP
#undef SUM
}
__attribute__((target("avx2"))) static double int8_ops_ymm_maddubs(long iters)
{
#define DECL(i) __m256i a##i = _mm256_set1_epi8((char)(i + 1));
#define STEP(i) __asm__("vpmaddubsw %1, %0, %0" : "+x"(a##i) : "x"(s));
#define SUM(i) t = _mm256_add_epi16(t, a##i);
    const __m256i s = _mm256_set1_epi8(1);
    __m256i t = _mm256_setzero_si256();
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    sink += (uint64_t)_mm256_extract_epi16(t, 0);
    return (double)iters * 12 * 32 * 2;
#undef DECL
#undef STEP
#undef SUM
}
#endif

/* The AVX2 backend's BASE3 inner step without memory, 32 weights (one digit of a 32-byte
   half) a step, in eight independent streams, as asm for the reason given at
   base3_weights_avx512. AVX-VNNI: as that one, on ymm. AVX2 alone: the code by two
   compares (s > 85 - 128, s > 170 - 128: code = -(sum of the masks)), one vpmaddubsw, one
   int16 add and the two byte adds of s -> 3s; the kernels' one vpmaddwd per block of five
   digits is left out. Returns weights. */
__attribute__((target("avx2"))) static double base3_weights_ymm_avxvnni(long iters)
{
#define DECL(i) __m256i y##i = _mm256_set1_epi8((char)(i + 1)), p##i = _mm256_setzero_si256(), q##i = p##i, t##i;
#define STEP(i) __asm__("%{vex%} vpdpbusd %4, %2, %0\n\tvpaddb %2, %2, %3\n\tvpaddb %2, %3, %2\n\t%{vex%} vpdpbusd %4, %2, %1" \
                        : "+x"(p##i), "+x"(q##i), "+x"(y##i), "=&x"(t##i) : "x"(s));
#define SUM(i) t = _mm256_add_epi32(t, _mm256_sub_epi32(p##i, q##i));
    const __m256i s = _mm256_set1_epi8(-2);
    __m256i t = _mm256_setzero_si256();
    long i;
    ACC8(DECL)
    for (i = 0; i < iters; ++i) { ACC8(STEP) }
    ACC8(SUM)
    sink += (uint64_t)_mm256_extract_epi32(t, 0);
    return (double)iters * 8 * 32;
#undef DECL
#undef STEP
#undef SUM
}
__attribute__((target("avx2"))) static double base3_weights_ymm_maddubs(long iters)
{
#define DECL(i) __m256i y##i = _mm256_set1_epi8((char)(i + 1)), p##i = _mm256_setzero_si256(), t##i, u##i;
#define STEP(i) __asm__("vpcmpgtb %4, %1, %2\n\tvpcmpgtb %5, %1, %3\n\tvpaddb %3, %2, %2\n\tvpabsb %2, %2\n\t" \
                        "vpmaddubsw %6, %2, %2\n\tvpaddw %2, %0, %0\n\tvpaddb %1, %1, %3\n\tvpaddb %3, %1, %1" \
                        : "+x"(p##i), "+x"(y##i), "=&x"(t##i), "=&x"(u##i) : "x"(lo), "x"(hi), "x"(s));
#define SUM(i) t = _mm256_add_epi16(t, p##i);
    const __m256i s = _mm256_set1_epi8(-2), lo = _mm256_set1_epi8(85 - 128), hi = _mm256_set1_epi8(170 - 128);
    __m256i t = _mm256_setzero_si256();
    long i;
    ACC8(DECL)
    for (i = 0; i < iters; ++i) { ACC8(STEP) }
    ACC8(SUM)
    sink += (uint64_t)_mm256_extract_epi16(t, 0);
    return (double)iters * 8 * 32;
#undef DECL
#undef STEP
#undef SUM
}

/* which 256-bit int8 product the AVX2 peak measures (see above) */
enum { YMM_NONE, YMM_VNNI_EVEX, YMM_VNNI_VEX, YMM_MADDUBS };
static int ymm_int8_kind(void)
{
#ifdef BENCH_X86
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) return YMM_VNNI_EVEX;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    if (__builtin_cpu_supports("avx2") && (a >> 4 & 1)) return YMM_VNNI_VEX; /* CPUID.(7,1):EAX[4] AVX-VNNI */
    if (__builtin_cpu_supports("avx2")) return YMM_MADDUBS;
#endif
    return YMM_NONE;
}
static const char *ymm_int8_name(int kind)
{
    return kind == YMM_MADDUBS ? "vpmaddubsw ymm" : kind == YMM_NONE ? "none" : "vpdpbusd ymm";
}

#ifdef BENCH_X86
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

#ifdef BENCH_X86
/* the AVX2 backend's FLOAT kernels' instruction: FMA on ymm (asm, as above) */
__attribute__((target("avx2,fma"))) static double fp32_flops_ymm(long iters)
{
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
#define STEP(i) __asm__("vfmadd132ps %1, %2, %0" : "+x"(a##i) : "x"(m), "x"(c));
#define SUM(i) t = _mm256_add_ps(t, a##i);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 t = _mm256_setzero_ps();
    float lanes[8];
    long i;
    ACC12(DECL)
    for (i = 0; i < iters; ++i) { ACC12(STEP) }
    ACC12(SUM)
    _mm256_storeu_ps(lanes, t);
    sink += (uint64_t)lanes[0];
    return (double)iters * 12 * 8 * 2;
#undef DECL
#undef STEP
#undef SUM
}
#endif

enum { PEAK_INT8, PEAK_FP32, PEAK_BASE3, PEAK_INT8_YMM, PEAK_FP32_YMM, PEAK_BASE3_YMM };
typedef struct peak_job { int kind; double ops, seconds; } peak_job;
static void *peak_thread(void *arg)
{
    peak_job *j = (peak_job *)arg;
    double t0 = cpu_now();
    j->ops = 0.0;
#ifdef BENCH_X86
    if (j->kind == PEAK_FP32_YMM) {
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) j->ops = fp32_flops_ymm(4000000);
    } else if (j->kind == PEAK_INT8_YMM) {
        int k = ymm_int8_kind();
        j->ops = k == YMM_VNNI_EVEX ? int8_ops_ymm_vnni(4000000)
               : k == YMM_VNNI_VEX ? int8_ops_ymm_avxvnni(4000000)
               : k == YMM_MADDUBS ? int8_ops_ymm_maddubs(4000000) : 0.0;
    } else if (j->kind == PEAK_BASE3_YMM) {
        int k = ymm_int8_kind();
        j->ops = k == YMM_VNNI_VEX ? base3_weights_ymm_avxvnni(4000000)
               : k == YMM_MADDUBS ? base3_weights_ymm_maddubs(4000000) : 0.0;
    } else if (have_avx512())
        j->ops = j->kind == PEAK_FP32 ? fp32_flops_avx512(4000000)
               : j->kind == PEAK_INT8 ? int8_ops_avx512(4000000) : base3_weights_avx512(4000000);
#endif
    j->seconds = cpu_now() - t0;
    return NULL;
}
/* G ops/s (BASE3: G weights/s) over `threads` threads, best of 5 (a limit, as above), 0
   where the CPU lacks the instructions */
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

/* ---- thread pool: workers spin, then sleep ---------------------------------------
   The same pool as examples/threads.c. A worker waits for a new job generation: it
   spins on it with a pause instruction for POOL_SPIN seconds (consecutive forwards
   follow within microseconds, so it is still running when the next one comes), then
   sleeps on a condition variable; spinning threads yield the core now and then, so
   on a busy machine a thread with work runs instead of one that waits. Waking a sleeping thread costs the OS's wake-up and,
   on a virtual machine, the idle vCPU's; and a thread idle for a few milliseconds runs
   its first calls slower. Timing a forward with a sleeping barrier or a new thread
   measures that, not the kernel. No thread is created after pool_start. */
#define POOL_SPIN 100e-6
#define POOL_MAX 8
typedef void (*pool_fn)(void *arg, int tid, int nthreads);
typedef struct pool {
    int n; /* threads including the caller */
    pthread_t th[POOL_MAX];
    int tid[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned gen; /* job generation (atomic) */
    int pending;  /* workers still running the job (atomic) */
    int sleepers; /* under mu */
    int quit;     /* under mu, read atomically */
    pool_fn fn;
    void *arg;
} pool;
static pool the_pool;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *pool_main(void *arg)
{
    pool *p = &the_pool;
    int tid = *(const int *)arg;
    unsigned seen = 0, g;
    for (;;) {
        double t0 = now();
        int spin = 0;
        while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen) {
            cpu_relax();
            if ((++spin & 127) == 0) {
                if (now() - t0 > POOL_SPIN) break;
                sched_yield(); /* a busy machine: let a thread with work run */
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) return NULL;
        p->fn(p->arg, tid, p->n);
        __atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL);
    }
}

static void pool_start(int n)
{
    pool *p = &the_pool;
    int i;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 1; i < n; ++i) {
        p->tid[i] = i;
        if (pthread_create(&p->th[i], NULL, pool_main, &p->tid[i]) != 0) { fprintf(stderr, "pthread_create failed\n"); exit(1); }
    }
}

/* runs fn(arg, tid, n) on every thread, share 0 on the caller; returns when all are done */
static void pool_run(pool_fn fn, void *arg)
{
    pool *p = &the_pool;
    unsigned spin;
    p->fn = fn;
    p->arg = arg;
    __atomic_store_n(&p->pending, p->n - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&p->mu); /* a worker between its last check and its wait holds mu */
    __atomic_add_fetch(&p->gen, 1u, __ATOMIC_ACQ_REL);
    if (p->sleepers) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (spin = 1; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0; ++spin) {
        cpu_relax();
        if ((spin & 127) == 0) sched_yield();
    }
}

static void pool_stop(void)
{
    pool *p = &the_pool;
    int i;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&p->gen, 1u, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 1; i < p->n; ++i) pthread_join(p->th[i], NULL);
}

/* thread tid's rows of `rows`: whole four-row groups (the batch-1 kernels' unit; a split
   group would go row by row), as even as that allows */
static void split_rows(int rows, int tid, int nt, int *r0, int *r1)
{
    int groups = (rows + 3) / 4, b = 4 * (int)((long)groups * tid / nt), e = 4 * (int)((long)groups * (tid + 1) / nt);
    *r0 = b < rows ? b : rows;
    *r1 = e < rows ? e : rows;
}

typedef struct forward_job {
    const bl_linear *layer;
    const void *input;
    float *y;
    int batch, rows;
} forward_job;

static void forward_share(void *arg, int tid, int nt)
{
    const forward_job *j = (const forward_job *)arg;
    int r0, r1;
    split_rows(j->rows, tid, nt, &r0, &r1);
    if (r0 < r1) (void)bl_linear_forward_input(j->layer, j->input, j->batch, j->y, r0, r1);
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
} run_ctx;

static void forward_once(run_ctx *c, int it)
{
    const bl_linear *L = c->layers[it % c->nlayers];
    const float *x = c->xs[it % c->nxs];
    bl_linear_info info;
    forward_job j;
    memset(&info, 0, sizeof info);
    (void)bl_linear_get_info(L, &info);
    if (c->threads == 1) {
        (void)bl_linear_forward_rows(L, x, c->batch, c->y, 0, c->rows ? c->rows : info.out_features, c->input);
        return;
    }
    (void)bl_linear_prepare_input(L, x, c->batch, c->input, c->input_size);
    j.layer = L;
    j.input = c->input;
    j.y = c->y;
    j.batch = c->batch;
    j.rows = info.out_features;
    pool_run(forward_share, &j);
}

/* warm-up: forwards for at least 5 ms (a thread that was idle runs its first calls
   slower), at least one; returns the last one's wall seconds and in *count how many ran,
   so that timed forwards continue the rotation where it stopped (the layers the warm-up
   just read may still be in cache) */
static double warm_up(run_ctx *c, int *count)
{
    double start = now(), t0, last;
    int i = 0;
    do {
        t0 = now();
        forward_once(c, i++);
        last = now() - t0;
    } while (now() - start < 5e-3);
    *count = i;
    return last;
}

/* median wall seconds per forward (and the calling thread's median CPU seconds);
   reps from a time budget */
static double time_forward(run_ctx *c, double budget, int min_reps, double *cpu)
{
    double t[MAX_REPS], u[MAX_REPS], t0, u0, first;
    int reps, i, warm;
    first = warm_up(c, &warm);
    reps = first > 0 ? (int)(budget / first) : MAX_REPS;
    reps = reps < min_reps ? min_reps : (reps > MAX_REPS ? MAX_REPS : reps);
    for (i = 0; i < reps; ++i) {
        t0 = now();
        u0 = cpu_now();
        forward_once(c, warm + i);
        u[i] = cpu_now() - u0;
        t[i] = now() - t0;
    }
    if (cpu) *cpu = median(u, reps);
    return median(t, reps);
}

/* Cold batch 1, INT8, 2BIT (c[0]) and BASE3 (c[1]) forwards in alternation, both with
   c[0].threads threads; median seconds of each (1 thread: CPU time, 2: wall time). On a
   shared machine the DRAM traffic of other programs varies over seconds: alternating
   gives both formats the same conditions, so their ratio is fair. */
static void time_cold_pair(run_ctx c[2], int reps, double t[2])
{
    double u[2][MAX_REPS], t0, u0;
    int i, f, warm[2];
    reps = reps > MAX_REPS ? MAX_REPS : reps;
    for (f = 0; f < 2; ++f) (void)warm_up(&c[f], &warm[f]);
    for (i = 0; i < reps; ++i)
        for (f = 0; f < 2; ++f) {
            t0 = now();
            u0 = cpu_now();
            forward_once(&c[f], warm[f] + i);
            u[f][i] = c[f].threads == 1 ? cpu_now() - u0 : now() - t0;
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
    double seconds, cpu_seconds, basis, gbs, gops, pct, pct_dram2, scalar_seconds, blas_seconds;
    const char *limit;
} result;

static double dram1, dram2; /* the DRAM read limits, 1 and 2 threads */

/* One batch size of one layer set on the current backend: 1 and 2 threads, hot, and at
   batch 1 cold too. Appends to res, returns how many. peak[t]: the int8 or fp32 peak of
   t + 1 threads; blas[t]: OpenBLAS with t + 1 threads. */
static int measure(result *res, run_ctx *c, const layer_set *set, int out, int in, bl_format f, bl_act act,
                   const double peak[2], double scalar_s, const double blas[2], double budget)
{
    size_t packed = bl_packed_size(f, out, in);
    double ops = 2.0 * (double)out * (double)in * c->batch;
    int th, cold, n = 0;
    c->rows = 0;
    for (th = 1; th <= 2; ++th)
        for (cold = 0; cold <= (c->batch == 1); ++cold) {
            result *r = &res[n++];
            c->threads = th;
            c->layers = cold ? set->list : (const bl_linear *const *)&set->proto;
            c->nlayers = cold ? set->count : 1;
            r->seconds = time_forward(c, budget, c->batch == 128 ? 3 : 10, &r->cpu_seconds);
            r->out = out; r->in = in; r->batch = c->batch; r->threads = th; r->cold = cold;
            r->format = f; r->act = act;
            r->basis = th == 1 ? r->cpu_seconds : r->seconds;
            r->gbs = (double)packed / r->basis * 1e-9;
            r->gops = ops / r->basis * 1e-9;
            r->pct_dram2 = 100.0 * r->gbs / dram2;
            r->scalar_seconds = scalar_s;
            r->blas_seconds = blas[th - 1];
            if (cold) {
                r->pct = 100.0 * r->gbs / (th == 1 ? dram1 : dram2);
                r->limit = "DRAM";
            } else {
                r->pct = peak[th - 1] > 0 ? 100.0 * r->gops / peak[th - 1] : 0.0;
                r->limit = act == BL_ACT_INT8 ? "int8 peak" : "fp32 peak";
            }
            fprintf(stderr, "%s %dx%d b%d %s %s t%d %s: %.1f us\n", bl_backend_name(bl_get_backend()), out, in,
                    c->batch, f ? "base3" : "2bit", act ? "float" : "int8", th, cold ? "cold" : "hot", r->seconds * 1e6);
        }
    return n;
}

static void print_kernels(const result *res, int nres)
{
    int i;
    printf("| out x in | batch | format | act | threads | weights | median us | CPU us | GB/s | GOPS | %% of limit | "
           "%% of 2-thr DRAM | x scalar (1 thr) | x OpenBLAS |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (i = 0; i < nres; ++i) {
        const result *r = &res[i];
        char blas[32], cpu[32], d2[32];
        if (r->blas_seconds > 0) snprintf(blas, sizeof blas, "%.1f", r->blas_seconds / r->basis);
        else snprintf(blas, sizeof blas, "n/a");
        if (r->threads == 1) snprintf(cpu, sizeof cpu, "%.1f", r->cpu_seconds * 1e6);
        else snprintf(cpu, sizeof cpu, "-");
        if (r->batch == 1) snprintf(d2, sizeof d2, "%.0f%%", r->pct_dram2);
        else snprintf(d2, sizeof d2, "-");
        printf("| %dx%d | %d | %s | %s | %d | %s | %.1f | %s | %.1f | %.0f | %.0f%% %s | %s | %.1f | %s |\n", r->out,
               r->in, r->batch, r->format ? "BASE3" : "2BIT", r->act ? "FLOAT" : "INT8", r->threads,
               r->batch > 1 ? "hot" : (r->cold ? "cold" : "hot"), r->seconds * 1e6, cpu, r->gbs, r->gops, r->pct,
               r->limit, d2, r->scalar_seconds / r->basis, blas);
    }
}

static void json_kernels(FILE *js, const result *res, int nres)
{
    int i;
    for (i = 0; i < nres; ++i) {
        const result *r = &res[i];
        fprintf(js, "    {\"out\": %d, \"in\": %d, \"batch\": %d, \"format\": \"%s\", \"act\": \"%s\", \"threads\": %d, "
                    "\"weights\": \"%s\", \"median_us\": %.2f, \"median_cpu_us\": %.2f, \"gbs\": %.2f, \"gops\": %.1f, "
                    "\"pct_of_limit\": %.1f, \"limit\": \"%s\", \"pct_of_dram_2t\": %.1f, \"scalar_1t_us\": %.1f, "
                    "\"blas_us\": %.1f}%s\n",
                r->out, r->in, r->batch, r->format ? "base3" : "2bit", r->act ? "float" : "int8", r->threads,
                r->cold ? "cold" : "hot", r->seconds * 1e6, r->cpu_seconds * 1e6, r->gbs, r->gops, r->pct, r->limit,
                r->pct_dram2, r->scalar_seconds * 1e6, r->blas_seconds * 1e6, i + 1 < nres ? "," : "");
    }
}

/* The top-level members of the old bench/results.json that this bench does not write
   (other benches' figures, e.g. "import"), verbatim, each preceded by ",\n  "; NULL if none.
   A small scanner: it tracks strings (with escapes) and nesting, enough for JSON. */
static char *other_members(const char *path)
{
    static const char *const ours[] = { "backend", "limits", "kernels", "cold_pairs", "avx2" };
    FILE *f = fopen(path, "rb");
    char *text, *keep;
    long size;
    size_t kept = 0, i = 0, n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    text = (char *)xmalloc((size_t)size + 1);
    n = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[n] = 0;
    keep = (char *)xmalloc(2 * n + 16); /* each member gains at most a 4-byte separator */
    keep[0] = 0;
    while (i < n && text[i] != '{') ++i;
    for (++i; i < n;) {
        size_t k0, k1, v0, depth = 0;
        int in_str = 0, mine = 0;
        unsigned j;
        while (i < n && text[i] != '"' && text[i] != '}') ++i;
        if (i >= n || text[i] == '}') break;
        k0 = i++;
        while (i < n && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
        k1 = ++i;
        while (i < n && text[i] != ':') ++i;
        v0 = ++i;
        for (; i < n; ++i) { /* the value ends at a top-level ',' or the object's '}' */
            char ch = text[i];
            if (in_str) { if (ch == '\\') ++i; else if (ch == '"') in_str = 0; continue; }
            if (ch == '"') in_str = 1;
            else if (ch == '{' || ch == '[') ++depth;
            else if ((ch == '}' || ch == ']') && depth) --depth;
            else if ((ch == ',' || ch == '}') && !depth) break;
        }
        for (j = 0; j < sizeof ours / sizeof *ours; ++j)
            if (k1 - k0 - 2 == strlen(ours[j]) && memcmp(text + k0 + 1, ours[j], k1 - k0 - 2) == 0) mine = 1;
        if (!mine) {
            size_t e = i;
            while (e > v0 && (text[e - 1] == ' ' || text[e - 1] == '\n' || text[e - 1] == '\r' || text[e - 1] == '\t')) --e;
            memcpy(keep + kept, ",\n  ", 4);
            kept += 4;
            memcpy(keep + kept, text + k0, e - k0);
            kept += e - k0;
            keep[kept] = 0;
        }
        if (i < n && text[i] == ',') ++i;
    }
    free(text);
    if (!kept) { free(keep); return NULL; }
    return keep;
}

int main(int argc, char **argv)
{
    static const int shapes[3][2] = { { 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 } };
    static const int batches[3] = { 1, 8, 128 };
    int quick = 0, ymm_limits, nshapes, si, bi, fi, ai, th, i, nres = 0, nres2 = 0;
    int have_avx2 = bl_set_backend(BL_BACKEND_AVX2) == BL_OK, ymm = ymm_int8_kind();
    const char *json_path = NULL;
    /* cold batch 1 INT8, 2BIT and BASE3 in alternation: [shape][threads - 1][format] */
    double pair[3][2][2];
    double l1bw, l2bw, l3bw, int8_1, int8_2, fp32_1, fp32_2, base3_1, ymm_1 = 0.0, ymm_2 = 0.0, fymm_1 = 0.0, fymm_2 = 0.0;
    double budget;
    size_t big = (size_t)512 << 20, maxn = 0;
    uint8_t *buf;
    result *res = (result *)xmalloc(sizeof(result) * 200), *res2 = (result *)xmalloc(sizeof(result) * 100);
    FILE *js;
    char *others;
    const char *backend, *int8_name, *fp32_width;
    float **xs, *y, *wf = NULL;
    int8_t *trits;
    float *scales;
    void *input;
    size_t input_size;

    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
        else {
            fprintf(stderr, "usage: roofline [--quick] [--json PATH]\n");
            free(res);
            free(res2);
            return 2;
        }
    }
    if (!json_path && !quick) json_path = "bench/results.json";
    nshapes = quick ? 1 : 3;
    budget = quick ? 0.1 : 0.25;
    memset(pair, 0, sizeof pair);
    bl_set_backend(BL_BACKEND_AUTO);
    backend = bl_backend_name(bl_get_backend());
    /* the AVX2 backend is the best this CPU has: its limits are the ymm ones, and the main
       table has its rows already */
    ymm_limits = strcmp(backend, "avx2") == 0;
    if (ymm_limits) have_avx2 = 0;

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
    /* the instructions the limits measure (none off x86: those limits read 0) */
    int8_name = ymm_limits ? ymm_int8_name(ymm) : strcmp(backend, "avx512") == 0 ? "vpdpbusd" : "none";
    fp32_width = ymm_limits ? "ymm" : strcmp(backend, "avx512") == 0 ? "zmm" : "none";
    int8_1 = peak_rate(ymm_limits ? PEAK_INT8_YMM : PEAK_INT8, 1);
    int8_2 = peak_rate(ymm_limits ? PEAK_INT8_YMM : PEAK_INT8, 2);
    fp32_1 = peak_rate(ymm_limits ? PEAK_FP32_YMM : PEAK_FP32, 1);
    fp32_2 = peak_rate(ymm_limits ? PEAK_FP32_YMM : PEAK_FP32, 2);
    base3_1 = peak_rate(ymm_limits ? PEAK_BASE3_YMM : PEAK_BASE3, 1);
    if (have_avx2) {
        ymm_1 = peak_rate(PEAK_INT8_YMM, 1);
        ymm_2 = peak_rate(PEAK_INT8_YMM, 2);
        fymm_1 = peak_rate(PEAK_FP32_YMM, 1);
        fymm_2 = peak_rate(PEAK_FP32_YMM, 2);
    }
    printf("## Machine limits (measured; 1 thread by its CPU time, 2 threads by wall time)\n\n");
    printf("| limit | 1 thread | 2 threads |\n|---|---|---|\n");
    printf("| DRAM read, 512 MiB buffer (GB/s) | %.1f | %.1f |\n", dram1, dram2);
    printf("| L1-resident read, 16 KiB (GB/s) | %.1f | |\n", l1bw);
    printf("| L2-resident read, 512 KiB (GB/s) | %.1f | |\n", l2bw);
    printf("| L3-resident read, 8 MiB (GB/s) | %.1f | |\n", l3bw);
    printf("| peak int8 dot (%s, GOPS) | %.0f | %.0f |\n", int8_name, int8_1, int8_2);
    if (have_avx2) printf("| AVX2 backend peak int8 dot (%s, GOPS) | %.0f | %.0f |\n", ymm_int8_name(ymm), ymm_1, ymm_2);
    printf("| peak fp32 FMA (%s, GFLOPS) | %.0f | %.0f |\n", fp32_width, fp32_1, fp32_2);
    if (have_avx2) printf("| AVX2 backend peak fp32 FMA (ymm, GFLOPS) | %.0f | %.0f |\n", fymm_1, fymm_2);
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
    pool_start(2);

    for (si = 0; si < nshapes; ++si) {
        int out = shapes[si][0], in = shapes[si][1];
        size_t n = (size_t)out * (size_t)in, j;
        double blas[3][2];
        layer_set sets[2];
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
        for (fi = 0; fi < 2; ++fi) {
            bl_format f = (bl_format)fi;
            size_t packed = bl_packed_size(f, out, in);
            int count = (int)((4.0 * LLC_BYTES + (double)packed - 1) / (double)packed);
            double scalar_int8[3], scalar_float[3];
            layer_set set;
            run_ctx c;
            make_set(&set, trits, scales, out, in, f, count);
            set_act(&set, BL_ACT_FLOAT); /* the larger prepared input */
            input_size = bl_linear_input_size(set.proto, 128);
            input = xmalloc(input_size);
            memset(&c, 0, sizeof c);
            c.xs = (const float *const *)xs;
            c.nxs = 4;
            c.input = input;
            c.input_size = input_size;
            c.y = y;
            for (ai = 0; ai < 2; ++ai) {
                bl_act act = (bl_act)ai;
                const double peak[2] = { act == BL_ACT_INT8 ? int8_1 : fp32_1, act == BL_ACT_INT8 ? int8_2 : fp32_2 };
                set_act(&set, act);
                for (bi = 0; bi < 3; ++bi) {
                    double scalar_cpu, scalar_s;
                    c.batch = batches[bi];
                    /* scalar baseline: one thread, hot; it is slow, so batch 8 and 128 run on
                       1/4 and 1/64 of the rows (scaled back up: rows cost the same) */
                    bl_set_backend(BL_BACKEND_SCALAR);
                    c.layers = (const bl_linear *const *)&set.proto;
                    c.nlayers = 1;
                    c.threads = 1;
                    c.rows = c.batch == 1 ? out : c.batch == 8 ? out / 4 : out / 64;
                    (void)time_forward(&c, budget / 4, c.batch == 1 ? 3 : 1, &scalar_cpu);
                    scalar_s = scalar_cpu * out / c.rows;
                    if (act == BL_ACT_INT8) scalar_int8[bi] = scalar_s;
                    else scalar_float[bi] = scalar_s;
                    bl_set_backend(BL_BACKEND_AUTO);
                    nres += measure(res + nres, &c, &set, out, in, f, act, peak, scalar_s, blas[bi], budget);
                }
            }
            /* the AVX2 backend on the same layers: INT8 and FLOAT, batch 1 and 128 */
            if (have_avx2) {
                bl_set_backend(BL_BACKEND_AVX2);
                for (ai = 0; ai < 2; ++ai) {
                    bl_act act = (bl_act)ai;
                    const double peak[2] = { act == BL_ACT_INT8 ? ymm_1 : fymm_1, act == BL_ACT_INT8 ? ymm_2 : fymm_2 };
                    set_act(&set, act);
                    for (bi = 0; bi < 3; bi += 2) {
                        c.batch = batches[bi];
                        nres2 += measure(res2 + nres2, &c, &set, out, in, f, act, peak,
                                         act == BL_ACT_INT8 ? scalar_int8[bi] : scalar_float[bi], blas[bi], budget);
                    }
                }
                bl_set_backend(BL_BACKEND_AUTO);
            }
            free(input);
            sets[fi] = set;
        }
        for (th = 1; th <= 2; ++th) {
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
                c[fi].threads = th;
                c[fi].xs = (const float *const *)xs;
                c[fi].nxs = 4;
                c[fi].input = pair_input;
                c[fi].input_size = pair_size;
                c[fi].y = y;
            }
            time_cold_pair(c, quick ? 50 : 300, pair[si][th - 1]);
            free(pair_input);
        }
        for (fi = 0; fi < 2; ++fi) free_set(&sets[fi]);
    }
    pool_stop();

    printf("## Kernels (backend %s)\n\n", backend);
    printf("ops = 2 per weight per token. Rates, %% of the limit and speedups use the calling thread's CPU time\n"
           "for 1 thread (the machine may be shared: wall time then includes other programs' turns) and wall\n"
           "time for 2 threads. Scalar: 1 thread, CPU time, batch 8 and 128 timed on 1/4 and 1/64 of the rows.\n"
           "Cold: rotating over layers totalling >= 4x the %u MiB LLC. Two threads: a pool whose worker spins,\n"
           "then sleeps; rows split in whole four-row groups.\n\n", LLC_BYTES >> 20);
    print_kernels(res, nres);
    if (have_avx2) {
        printf("\n## Kernels (backend avx2, forced; int8 peak: %s)\n\n", ymm_int8_name(ymm));
        print_kernels(res2, nres2);
    }

    /* BASE3 against 2BIT, batch 1, INT8, 1 thread: the time BASE3's decode alone needs */
    printf("\nBASE3 vs 2BIT, batch 1, INT8 (1 thread: CPU us, 2 threads: wall us); cold: both formats again,\n"
           "forwards in alternation (fair under changing DRAM traffic); decode bound = weights / BASE3 decode\n"
           "rate; hot / 2BIT cold: BASE3 with its weights in cache against 2BIT from DRAM, 1 thread:\n\n");
    printf("| out x in | 2BIT cold | BASE3 cold | BASE3 / 2BIT | BASE3 hot | hot / 2BIT cold | BASE3 decode bound | "
           "2 thr 2BIT cold | 2 thr BASE3 cold | BASE3 / 2BIT |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (si = 0; si < nshapes; ++si) {
        double t2 = pair[si][0][0], t3 = pair[si][0][1], h3 = 0.0;
        for (i = 0; i < nres; ++i) {
            const result *r = &res[i];
            if (r->out == shapes[si][0] && r->in == shapes[si][1] && r->batch == 1 && !r->act && r->threads == 1 &&
                !r->cold && r->format)
                h3 = r->cpu_seconds;
        }
        if (t2 > 0 && base3_1 > 0)
            printf("| %dx%d | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f |\n", shapes[si][0],
                   shapes[si][1], t2 * 1e6, t3 * 1e6, t3 / t2, h3 * 1e6, h3 / t2,
                   (double)shapes[si][0] * shapes[si][1] / (base3_1 * 1e9) * 1e6, pair[si][1][0] * 1e6,
                   pair[si][1][1] * 1e6, pair[si][1][1] / pair[si][1][0]);
    }

    others = NULL;
    js = NULL;
    if (json_path) { /* a --quick run without --json writes no record */
        others = other_members(json_path);
        js = fopen(json_path, "w");
        if (!js) fprintf(stderr, "roofline: cannot write %s\n", json_path);
    }
    if (js) {
        fprintf(js, "{\n  \"backend\": \"%s\",\n  \"limits\": {\"dram_read_gbs_1t\": %.2f, \"dram_read_gbs_2t\": %.2f, "
                    "\"l1_read_gbs\": %.2f, \"l2_read_gbs\": %.2f, \"l3_read_gbs\": %.2f, \"int8_gops_1t\": %.1f, "
                    "\"int8_gops_2t\": %.1f, \"fp32_gflops_1t\": %.1f, \"fp32_gflops_2t\": %.1f, "
                    "\"base3_gweights_1t\": %.2f, \"int8_instruction\": \"%s\", \"fp32_width\": \"%s\"},\n"
                    "  \"kernels\": [\n",
                backend, dram1, dram2, l1bw, l2bw, l3bw, int8_1, int8_2, fp32_1, fp32_2, base3_1, int8_name,
                fp32_width);
        json_kernels(js, res, nres);
        fprintf(js, "  ],\n  \"cold_pairs\": [\n");
        for (si = 0; si < nshapes; ++si)
            fprintf(js, "    {\"out\": %d, \"in\": %d, \"cpu_us_2bit\": %.2f, \"cpu_us_base3\": %.2f, "
                        "\"wall_us_2bit_2t\": %.2f, \"wall_us_base3_2t\": %.2f}%s\n",
                    shapes[si][0], shapes[si][1], pair[si][0][0] * 1e6, pair[si][0][1] * 1e6, pair[si][1][0] * 1e6,
                    pair[si][1][1] * 1e6, si + 1 < nshapes ? "," : "");
        fprintf(js, "  ]");
        if (have_avx2) {
            fprintf(js, ",\n  \"avx2\": {\n    \"int8_instruction\": \"%s\", \"int8_gops_1t\": %.1f, \"int8_gops_2t\": %.1f,\n"
                        "    \"fp32_gflops_1t\": %.1f, \"fp32_gflops_2t\": %.1f,\n    \"kernels\": [\n",
                    ymm_int8_name(ymm), ymm_1, ymm_2, fymm_1, fymm_2);
            json_kernels(js, res2, nres2);
            fprintf(js, "    ]\n  }");
        }
        if (others) fputs(others, js);
        fprintf(js, "\n}\n");
        fclose(js);
    }
    for (i = 0; i < 4; ++i) free(xs[i]);
    free(xs);
    free(y);
    free(trits);
    free(scales);
    free(wf);
    free(res);
    free(res2);
    free(others);
    return 0;
}
