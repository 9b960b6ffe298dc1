/* A small thread pool for bitlinear forwards: copy `pool` and `forward_layer` into your
   program.

   One forward over N threads: the caller quantizes the activations once with
   bl_linear_prepare_input, then every thread computes its own slice of output rows with
   bl_linear_forward_input. No locks: the layer and the prepared input are only read and
   the slices write disjoint rows of y. The caller is thread 0; N-1 workers are created
   once and live as long as the pool.

   Keeping workers warm. A worker that sleeps (condition variable, futex, barrier) is
   woken by the OS, and on a virtual machine its vCPU, idle meanwhile, by the host too:
   the wake-up can take as long as a batch-1 forward of a large layer. A core that has
   been idle for a few milliseconds also runs its first calls slower (its clock and its
   caches have cooled, or the host has given its vCPU's time away). Layers of a model run
   back to back, separated only by prepare_input and the caller's glue, so between two of
   them a worker spins on the job counter with a pause instruction for POOL_SPIN_US and
   only then sleeps: in a forward pass it never sleeps, and an idle program does not keep
   a core busy for longer than that. The timed comparison below shows the pool warm
   (layers back to back) and cold (the program idle before every pass).

   Threads that wait for one another gain nothing on a machine whose cores are busy with
   other programs (one of them is often not running): use at most as many threads as
   there are free cores.

   Rows are split in whole groups of four: the batch-1 kernels take four rows at a time,
   and a group cut in two would run row by row.

     cc -O2 -I. examples/threads.c -lm -lpthread && ./a.out [threads [passes]]   */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 64
#define POOL_SPIN_US 100

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

static void cpu_relax(void) /* tells the core this is a spin loop: less power, no pipeline flush */
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- the pool ---------------------------------------------------------------------
   pool_run publishes a job by bumping `gen`. A worker spins until gen changes or
   POOL_SPIN_US pass, then sleeps on cv. Spinning threads yield the core now and then
   (sched_yield): with more threads than free cores, a thread that still has rows to do
   gets to run instead of one that only waits. No wake-up is lost: a worker counts itself in
   `sleepers` and checks gen again under mu before it waits, and pool_run bumps gen and
   reads `sleepers` under mu. The job's fields are written before gen is bumped (release)
   and read after gen is seen (acquire); pool_run returns when `pending` reaches zero. */
typedef void (*pool_fn)(void *arg, int tid, int nthreads);

typedef struct pool pool;
typedef struct pool_worker { pool *p; int tid; } pool_worker;
struct pool {
    int n; /* threads, the caller included */
    pthread_t th[POOL_MAX];
    pool_worker w[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned gen; /* job generation (atomic) */
    int pending;  /* workers still running the job (atomic) */
    int sleepers; /* under mu */
    int quit;     /* set under mu, read atomically */
    pool_fn fn;
    void *arg;
};

static void *pool_main(void *arg)
{
    pool_worker *w = (pool_worker *)arg;
    pool *p = w->p;
    unsigned seen = 0, g;
    for (;;) {
        double t0 = now_us();
        int spin = 0;
        while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen) {
            cpu_relax();
            if ((++spin & 127) == 0) {
                if (now_us() - t0 > POOL_SPIN_US) break;
                sched_yield(); /* more threads than free cores: let one with work run */
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while ((g = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE)) == seen) pthread_cond_wait(&p->cv, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) return NULL;
        p->fn(p->arg, w->tid, p->n);
        __atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL);
    }
}

/* n threads in all (the caller and n - 1 workers); 0 on success */
static int pool_start(pool *p, int n)
{
    int i;
    memset(p, 0, sizeof *p);
    p->n = n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 1; i < p->n; ++i) {
        p->w[i].p = p;
        p->w[i].tid = i;
        if (pthread_create(&p->th[i], NULL, pool_main, &p->w[i]) != 0) {
            p->n = i; /* run with the threads we have */
            break;
        }
    }
    return 0;
}

/* runs fn(arg, tid, n) for tid = 0..n-1, tid 0 on the caller; returns when all are done */
static void pool_run(pool *p, pool_fn fn, void *arg)
{
    unsigned spin;
    if (p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    __atomic_store_n(&p->pending, p->n - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&p->mu);
    __atomic_add_fetch(&p->gen, 1u, __ATOMIC_ACQ_REL);
    if (p->sleepers) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    for (spin = 1; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0; ++spin) {
        cpu_relax();
        if ((spin & 127) == 0) sched_yield();
    }
}

static void pool_stop(pool *p)
{
    int i;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&p->gen, 1u, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (i = 1; i < p->n; ++i) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* ---- one layer over the pool -------------------------------------------------------- */
typedef struct forward_job {
    const bl_linear *layer;
    const void *input; /* prepared once, shared by all threads */
    float *y;
    int batch, rows;
    bl_status status[POOL_MAX];
} forward_job;

static void forward_share(void *arg, int tid, int nt)
{
    forward_job *j = (forward_job *)arg;
    int groups = (j->rows + 3) / 4;
    int r0 = 4 * (int)((long)groups * tid / nt), r1 = 4 * (int)((long)groups * (tid + 1) / nt);
    if (r1 > j->rows) r1 = j->rows;
    j->status[tid] = r0 < r1 ? bl_linear_forward_input(j->layer, j->input, j->batch, j->y, r0, r1) : BL_OK;
}

/* y = layer(x) over the pool; `input` holds bl_linear_input_size(layer, batch) bytes */
static bl_status forward_layer(pool *p, const bl_linear *layer, const float *x, int batch, float *y, void *input,
                               size_t input_size)
{
    forward_job j;
    bl_linear_info info;
    bl_status s = bl_linear_get_info(layer, &info);
    int t;
    if (s == BL_OK) s = bl_linear_prepare_input(layer, x, batch, input, input_size);
    if (s != BL_OK) return s;
    j.layer = layer;
    j.input = input;
    j.y = y;
    j.batch = batch;
    j.rows = info.out_features;
    pool_run(p, forward_share, &j);
    for (t = 0; t < p->n; ++t)
        if (j.status[t] != BL_OK) return j.status[t];
    return BL_OK;
}

/* ---- the demo: a sequence of layers, each feeding the next -------------------------- */
enum { NLAYERS = 5, BATCH = 1, CHECK_BATCH = 3, MAX_REPS = 1000 };
static const int dims[NLAYERS + 1] = { 2048, 2048, 5632, 2048, 2048, 777 };

typedef struct model {
    bl_linear *layer[NLAYERS];
    float *act[NLAYERS + 1]; /* act[0]: the input; act[i + 1] = layer i (act[i]) */
    void *work;              /* 1 thread: scratch; the pool: the prepared input */
    size_t work_size;
} model;

static int run_1(model *m, int batch)
{
    int i;
    for (i = 0; i < NLAYERS; ++i)
        if (bl_linear_forward(m->layer[i], m->act[i], batch, m->act[i + 1], m->work) != BL_OK) return 0;
    return 1;
}
static int run_n(pool *p, model *m, int batch)
{
    int i;
    for (i = 0; i < NLAYERS; ++i)
        if (forward_layer(p, m->layer[i], m->act[i], batch, m->act[i + 1], m->work, m->work_size) != BL_OK) return 0;
    return 1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = argc > 1 ? atoi(argv[1]) : (int)(cpus > 1 ? cpus : 2), i, r, ok = 1;
    int reps = argc > 2 ? atoi(argv[2]) : 60;
    static double t1[MAX_REPS], tw[MAX_REPS], tc[MAX_REPS];
    double t0;
    float *ref;
    model m;
    pool p;
    unsigned seed = 1;
    struct timespec idle = { 0, 5000000 }; /* 5 ms */

    if (nthreads < 1 || nthreads > POOL_MAX) nthreads = 2;
    if (reps < 1 || reps > MAX_REPS) reps = 60;
    memset(&m, 0, sizeof m);
    for (i = 0; i <= NLAYERS; ++i) {
        m.act[i] = (float *)malloc(sizeof(float) * (size_t)dims[i] * CHECK_BATCH);
        if (!m.act[i]) return 1;
    }
    for (i = 0; i < dims[0] * CHECK_BATCH; ++i) { seed = seed * 1103515245u + 12345u; m.act[0][i] = (float)(seed >> 16) / 32768.0f - 1.0f; }
    for (i = 0; i < NLAYERS; ++i) {
        /* random ternary weights and per-row scales: a real model imports or quantizes them */
        size_t n = (size_t)dims[i] * (size_t)dims[i + 1], k, need;
        int8_t *trits = (int8_t *)malloc(n);
        float *scales = (float *)malloc(sizeof(float) * (size_t)dims[i + 1]);
        bl_linear_desc desc;
        if (!trits || !scales) return 1;
        for (k = 0; k < n; ++k) { seed = seed * 1103515245u + 12345u; trits[k] = (int8_t)((int)(seed >> 16) % 3 - 1); }
        for (k = 0; k < (size_t)dims[i + 1]; ++k) scales[k] = 0.01f + 0.001f * (float)(k % 7);
        memset(&desc, 0, sizeof desc); /* defaults: INT8 activations */
        desc.in_features = dims[i];
        desc.out_features = dims[i + 1];
        desc.trits = trits;
        desc.scales = scales;
        desc.format = i % 2 ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
        if (bl_linear_create(&desc, &m.layer[i]) != BL_OK) return 1;
        free(trits);
        free(scales);
        need = bl_linear_scratch_size(m.layer[i], CHECK_BATCH);
        if (need > m.work_size) m.work_size = need;
        need = bl_linear_input_size(m.layer[i], CHECK_BATCH);
        if (need > m.work_size) m.work_size = need;
    }
    m.work = malloc(m.work_size);
    ref = (float *)malloc(sizeof(float) * (size_t)dims[NLAYERS] * CHECK_BATCH);
    if (!m.work || !ref || pool_start(&p, nthreads) != 0) return 1;

    /* reference: one thread; then the pool must give the same bits (INT8 activations
       are exact integer sums, and each output row is computed whole by one thread) */
    for (r = 1; r <= CHECK_BATCH; r += CHECK_BATCH - 1) {
        size_t bytes = sizeof(float) * (size_t)dims[NLAYERS] * (size_t)r;
        if (!run_1(&m, r)) return 1;
        memcpy(ref, m.act[NLAYERS], bytes);
        memset(m.act[NLAYERS], 0, bytes);
        if (!run_n(&p, &m, r) || memcmp(ref, m.act[NLAYERS], bytes) != 0) ok = 0;
    }

    /* timing, in alternation so that all three see the same machine: one thread; the
       pool warm (passes back to back, the first of each run not counted); the pool after
       5 ms of idling before every pass */
    for (r = 0; r < reps && ok; ++r) {
        int k;
        for (k = 0; k < 2; ++k) { t0 = now_us(); ok &= run_1(&m, BATCH); t1[r] = now_us() - t0; }
        for (k = 0; k < 2; ++k) { t0 = now_us(); ok &= run_n(&p, &m, BATCH); tw[r] = now_us() - t0; }
        nanosleep(&idle, NULL);
        t0 = now_us();
        ok &= run_n(&p, &m, BATCH);
        tc[r] = now_us() - t0;
    }
    printf("%d layers (2BIT and BASE3, %d..%d features), batch %d, %s backend, %d threads:\n", NLAYERS, dims[NLAYERS],
           dims[2], BATCH, bl_backend_name(bl_get_backend()), p.n);
    printf("  result (batch 1 and %d) %s\n", CHECK_BATCH, ok ? "identical to the single-thread forward" : "MISMATCH");
    if (ok) {
        double a = median(t1, reps), b = median(tw, reps), c = median(tc, reps);
        printf("  1 thread                 %8.1f us per pass\n", a);
        printf("  %2d threads, pool warm    %8.1f us per pass (%.2fx)\n", p.n, b, a / b);
        printf("  %2d threads, after idling %8.1f us per pass (%.2fx)\n", p.n, c, a / c);
    }
    pool_stop(&p);
    for (i = 0; i < NLAYERS; ++i) bl_linear_destroy(m.layer[i]);
    for (i = 0; i <= NLAYERS; ++i) free(m.act[i]);
    free(m.work);
    free(ref);
    return ok ? 0 : 1;
}
