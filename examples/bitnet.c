/* bitnet: run a BitNet b1.58 language model from its GGUF file with bitlinear.

     cc -O2 -I. examples/bitnet.c -o bitnet -lm -lpthread
     ./bitnet MODEL.gguf -p "The capital of France is" -n 32

   bitnet MODEL.gguf [-p PROMPT] [-n TOKENS] [-t THREADS] [--temp T] [--top-p P]
                     [--seed S] [--chat] [--dump-logits FILE]

   One file, no dependency but bitlinear.h. What it does, in order:
   - maps the file and reads it with bl_gguf_open (zero-copy; everything validated);
   - imports every ternary matrix with bl_linear_import: TQ1_0, TQ2_0 and I2_S come in
     losslessly (the file's trits and scales); a float matrix is ternarized with BitNet
     b1.58's own rule (ABSMEAN scale over the whole tensor);
   - runs the network as llama.cpp computes its `bitnet` architecture (llm_build_bitnet
     in llama.cpp's src/models/bitnet.cpp) and as bitnet.cpp computes `bitnet-b1.58` /
     `bitnet-25` (build_bitnet_158 in its 3rdparty/llama.cpp/src/llama.cpp): the same
     graph, with a squared-ReLU gate instead of SiLU; and `llama` files whose projection
     matrices are all ternary (Falcon3's 1.58-bit models), as llama.cpp computes `llama`:
     no sub-norms, RoPE on adjacent pairs;
   - activations go through the library's INT8 path (per token, absmax, 8 bits, as BitNet
     trains them), prepared once per matrix and split by rows over a small thread pool;
   - the prompt goes through each layer as one batch; generation runs one token at a time
     against a key/value cache allocated once for prompt + tokens (F32);
   - between the matrix products, the pool splits the work by tokens: norms, RoPE (angles
     computed once per token), the gate, and attention (by token and key/value head,
     balanced by the causal cost); on x86-64 CPUs with AVX2 and FMA, attention, softmax,
     SiLU and rmsnorm run vectorized variants picked at start-up;
   - the tokenizer comes from the file's metadata: byte-level BPE ("gpt2" with the LLaMA-3
     pre-tokenizer) or SentencePiece ("llama", byte fallback), special tokens, BOS/EOS;
     --chat wraps the prompt in BitNet b1.58 2B4T's template ("User: ...<|eot_id|>Assistant: ").
   - --dump-logits FILE writes raw little-endian float32 logits, one row of vocabulary
     size per prompt position, then one per generated token (each generated token is fed
     back once, so the file has prompt + generated rows); --temp 0 is greedy.

   The output head (the token embedding, tied) is kept as int8 with one scale per row and
   multiplied with int8 activations: half the bytes of the file's F16 per token. Set the
   environment variable BITNET_HEAD=f32 to keep it in float instead (docs/bitnet.md
   compares the two). BITNET_TOKENS=1 prints the prompt's token ids on stderr (the tests
   compare them with llama.cpp's). BITNET_PROFILE=1 prints the prompt pass's time per
   stage (matrix products by kind, activation quantization, attention, ...) on stderr.
   BITNET_HUGEPAGES=0 keeps the weights out of the huge-page arena (see "weight memory"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BN_MAX_THREADS 64

#if defined(__GNUC__) || defined(__clang__)
#define BN_NORETURN __attribute__((noreturn))
#else
#define BN_NORETURN
#endif

BN_NORETURN static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bitnet: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%s%s)", "allocation failed", "");
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die("out of memory (%s%s)", "allocation failed", "");
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ==== thread pool =======================================================================
   Workers wait for a new generation number: they spin for a short while (the next job
   usually follows within microseconds during a forward pass; every 256 turns they yield
   the core in case other programs want it), then sleep on a condition variable. run() publishes the job, wakes sleepers, does share 0 itself, and spins until
   every worker has finished. No thread is created after start-up. */
typedef void (*bn_job)(void *arg, int tid, int nthreads);

typedef struct bn_pool {
    int n;                      /* threads including the caller */
    pthread_t th[BN_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned gen;               /* job generation (atomic) */
    int pending;                /* workers still running the job (atomic) */
    int sleepers;               /* under mu */
    int quit;
    bn_job fn;
    void *arg;
} bn_pool;

typedef struct bn_worker { bn_pool *pool; int tid; } bn_worker;
static bn_worker bn_workers[BN_MAX_THREADS];

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *pool_main(void *p)
{
    bn_worker *w = (bn_worker *)p;
    bn_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spin;
        for (spin = 0; spin < 20000; ++spin) {
            g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE);
            if (g != seen) break;
            if ((spin & 255) == 255) sched_yield();   /* a busy machine: let others run */
            else cpu_relax();
        }
        g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE);
        if (g == seen) {
            pthread_mutex_lock(&pool->mu);
            pool->sleepers++;
            while ((g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE)) == seen && !pool->quit)
                pthread_cond_wait(&pool->cv, &pool->mu);
            pool->sleepers--;
            pthread_mutex_unlock(&pool->mu);
        }
        if (__atomic_load_n(&pool->quit, __ATOMIC_ACQUIRE)) return NULL;
        seen = g;
        pool->fn(pool->arg, w->tid, pool->n);
        __atomic_sub_fetch(&pool->pending, 1, __ATOMIC_ACQ_REL);
    }
}

static void pool_start(bn_pool *pool, int n)
{
    int i;
    memset(pool, 0, sizeof *pool);
    pool->n = n;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    for (i = 1; i < n; ++i) {
        bn_workers[i].pool = pool;
        bn_workers[i].tid = i;
        if (pthread_create(&pool->th[i], NULL, pool_main, &bn_workers[i]) != 0)
            die("cannot start a thread (%s%s)", strerror(errno), "");
    }
}

static void pool_run(bn_pool *pool, bn_job fn, void *arg)
{
    if (pool->n == 1) { fn(arg, 0, 1); return; }
    pool->fn = fn;
    pool->arg = arg;
    __atomic_store_n(&pool->pending, pool->n - 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&pool->gen, 1u, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&pool->mu);
    if (pool->sleepers) pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0, pool->n);
    {
        unsigned spin = 0;
        while (__atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) != 0) {
            if ((++spin & 255) == 0) sched_yield();
            else cpu_relax();
        }
    }
}

static void pool_stop(bn_pool *pool)
{
    int i;
    if (pool->n == 1) return;
    pthread_mutex_lock(&pool->mu);
    __atomic_store_n(&pool->quit, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&pool->gen, 1u, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (i = 1; i < pool->n; ++i) pthread_join(pool->th[i], NULL);
}

/* share [begin, end) of n items for thread tid of nt, in multiples of `align` */
static void split(int n, int align, int tid, int nt, int *begin, int *end)
{
    int units = (n + align - 1) / align;
    int b = (int)((long long)units * tid / nt) * align, e = (int)((long long)units * (tid + 1) / nt) * align;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

/* ==== weight memory ======================================================================
   The ternary matrices (allocated by the library through the import's allocator) and the
   output head are read once per generated token, front to back. On Linux they go in one
   arena of anonymous memory advised as transparent huge pages (MADV_HUGEPAGE; the system
   setting "madvise" or "always" grants them): 2 MiB pages need 512 times fewer TLB
   entries and page walks than 4 KiB ones, and on this project's virtual machine they also
   avoided long stalls of the weight stream that 4 KiB pages showed (docs/bitnet.md). The
   arena is reserved at the model file's size plus the head (address space only: untouched
   pages take no memory); blocks of 1 MiB and more come from it, in order, and stay until
   the model is freed; smaller ones (the import's work buffers) and everything past the
   reservation come from malloc. Elsewhere, or with the environment variable
   BITNET_HUGEPAGES=0, it is malloc alone. */
typedef struct bn_arena { unsigned char *base, *start; size_t size, used, reserved; } bn_arena;
static bn_arena g_arena;

static void arena_reserve(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    void *p = mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    g_arena.base = (unsigned char *)p;
    g_arena.reserved = bytes + huge;
    g_arena.start = (unsigned char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
    g_arena.size = bytes;
    (void)madvise(g_arena.start, g_arena.size, MADV_HUGEPAGE);
#else
    (void)bytes;
#endif
}

static void arena_release(void)
{
    if (g_arena.base) munmap(g_arena.base, g_arena.reserved);
    memset(&g_arena, 0, sizeof g_arena);
}

static int in_arena(const void *p)
{
    return g_arena.start && (const unsigned char *)p >= g_arena.start &&
           (const unsigned char *)p < g_arena.start + g_arena.size;
}

static void *arena_alloc(size_t n, void *user)
{
    (void)user;
    if (n >= ((size_t)1 << 20) && g_arena.start && n <= g_arena.size - g_arena.used) {
        void *p = g_arena.start + g_arena.used;
        g_arena.used += (n + 63) & ~(size_t)63;
        if (g_arena.used > g_arena.size) g_arena.used = g_arena.size;
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p, void *user)
{
    (void)user;
    if (!in_arena(p)) free(p);
}

static void *arena_xalloc(size_t n)
{
    void *p = arena_alloc(n, NULL);
    if (!p) die("out of memory (%s%s)", "weights", "");
    return p;
}

static const bl_allocator g_weight_alloc = { arena_alloc, arena_free, NULL };

/* an upper bound of the output head's bytes (n_vocab x n_embd floats), 0 if unknown */
static size_t head_bytes_bound(const bl_gguf *g)
{
    const bl_tensor *t = bl_gguf_find(g, "output.weight");
    if (!t) t = bl_gguf_find(g, "token_embd.weight");
    if (!t || t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 ||
        (uint64_t)t->shape[0] > (uint64_t)SIZE_MAX / 4 / (uint64_t)t->shape[1])
        return 0;
    return (size_t)t->shape[0] * (size_t)t->shape[1] * 4;
}

/* ==== metadata ========================================================================== */
static const bl_gguf *g_file;
static char g_arch[64];

static const bl_kv *kv_arch(const char *suffix)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", g_arch, suffix);
    return bl_gguf_kv_find(g_file, key);
}

static int64_t need_int(const char *suffix)
{
    const bl_kv *kv = kv_arch(suffix);
    int64_t v;
    if (!kv || bl_kv_int(kv, &v) != BL_OK || v <= 0 || v > (int64_t)1 << 30)
        die("missing or bad metadata key %s.%s", g_arch, suffix);
    return v;
}

static double opt_float(const char *suffix, double def)
{
    const bl_kv *kv = kv_arch(suffix);
    double v;
    if (!kv) return def;
    if (bl_kv_float(kv, &v) != BL_OK || !(v > 0 && v < HUGE_VAL)) die("bad metadata key %s.%s", g_arch, suffix);
    return v;
}

static int64_t opt_int_key(const char *key, int64_t def)
{
    const bl_kv *kv = bl_gguf_kv_find(g_file, key);
    int64_t v;
    if (!kv || bl_kv_int(kv, &v) != BL_OK) return def;
    return v;
}

/* ==== the model ========================================================================= */
enum { M_Q, M_K, M_V, M_O, M_GATE, M_UP, M_DOWN, M_COUNT };
static const char *const mat_names[M_COUNT] = { "attn_q", "attn_k", "attn_v", "attn_output",
                                                "ffn_gate", "ffn_up", "ffn_down" };

typedef struct bn_layer {
    const float *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm;   /* owned copies */
    bl_linear *m[M_COUNT];
    float mscale[M_COUNT];      /* blk.N.<matrix>.scale, 1 when absent */
} bn_layer;

typedef struct bn_model {
    int n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_rot, n_ctx, n_vocab;
    int relu_sqr;               /* bitnet-b1.58 / bitnet-25: squared ReLU gate; bitnet: SiLU */
    int llama;                  /* llama: no sub-norms, RoPE on adjacent pairs */
    float eps, rope_base;
    bn_layer *layers;
    float *output_norm;
    const bl_tensor *tok_embd;  /* lookup rows from the file */
    size_t embd_row_bytes;
    /* output head [n_vocab][n_embd]: int8 rows with one scale each, or floats */
    int8_t *head_q;
    float *head_scale;
    float *head_f;
    size_t weight_bytes;        /* ternary + head bytes read per token */
    int imported[3];            /* by bl_import_kind */
} bn_model;

static const bl_tensor *need_tensor(const char *name)
{
    const bl_tensor *t = bl_gguf_find(g_file, name);
    if (!t) die("missing tensor %s%s", name, "");
    return t;
}

static float *load_vector(const char *name, int n)
{
    const bl_tensor *t = need_tensor(name);
    float *v = (float *)xmalloc(sizeof(float) * (size_t)n);
    int64_t count = 1;
    int i;
    for (i = 0; i < t->ndim; ++i) count *= t->shape[i];
    if (count != n) die("tensor %s has the wrong size%s", name, "");
    if (bl_tensor_dequantize(t, v, (size_t)n) != BL_OK) die("cannot read tensor %s%s", name, "");
    return v;
}

/* a row view of a 2-D tensor, for dequantizing one embedding row */
static bl_status tensor_row(const bn_model *m, const bl_tensor *t, int row, float *out)
{
    bl_tensor r = *t;
    size_t row_bytes = t->nbytes / (size_t)t->shape[0];
    if (row < 0 || (int64_t)row >= t->shape[0]) return BL_ERR_INVALID;
    r.ndim = 2;
    r.shape[0] = 1;
    r.shape[1] = m->n_embd;
    r.data = (const unsigned char *)t->data + (size_t)row * row_bytes;
    r.nbytes = row_bytes;
    return bl_tensor_dequantize(&r, out, (size_t)m->n_embd);
}

/* v in [-127, 127] -> nearest integer (halves away from zero) */
static int8_t round_i8(float v) { return (int8_t)(int)(v + (v >= 0.0f ? 0.5f : -0.5f)); }

/* int8 dot product of the output head. With GCC or clang on x86-64 an AVX2 version is
   compiled in a target region and picked at run time; maddubs needs one unsigned
   operand, so |x| and sign(x)*w are multiplied (|products| <= 127*127, pairs fit int16). */
static int32_t dot_i8_plain(const int8_t *a, const int8_t *b, int n)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < n; ++i) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static int32_t dot_i8_avx2(const int8_t *w, const int8_t *x, int n)
{
    __m256i acc = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    __m128i s;
    int i = 0;
    int32_t r;
    for (; i + 32 <= n; i += 32) {
        __m256i vw = _mm256_loadu_si256((const __m256i *)(const void *)(w + i));
        __m256i vx = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(vx, vx), _mm256_sign_epi8(vw, vx));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
    }
    s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    r = _mm_cvtsi128_si32(s);
    return r + dot_i8_plain(w + i, x + i, n - i);
}
static int32_t (*dot_i8)(const int8_t *, const int8_t *, int) = dot_i8_plain;
static void pick_dot(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) dot_i8 = dot_i8_avx2;
}
#else
static int32_t (*dot_i8)(const int8_t *, const int8_t *, int) = dot_i8_plain;
static void pick_dot(void) {}
#endif

static void free_model(bn_model *m)
{
    int l, k;
    for (l = 0; m->layers && l < m->n_layer; ++l) {
        bn_layer *L = &m->layers[l];
        free((void *)L->attn_norm); free((void *)L->attn_sub_norm);
        free((void *)L->ffn_norm); free((void *)L->ffn_sub_norm);
        for (k = 0; k < M_COUNT; ++k) bl_linear_destroy(L->m[k]);
    }
    free(m->layers); free(m->output_norm); free(m->head_scale);
    arena_free(m->head_q, NULL);
    arena_free(m->head_f, NULL);
    arena_release();
}

typedef struct head_job { bn_model *m; int use_f32; } head_job;

static void head_build(void *arg, int tid, int nt)
{
    head_job *j = (head_job *)arg;
    bn_model *m = j->m;
    const int n = m->n_embd;
    float *row = (float *)xmalloc(sizeof(float) * (size_t)n);
    int b, e, v, i;
    split(m->n_vocab, 64, tid, nt, &b, &e);
    for (v = b; v < e; ++v) {
        float amax = 0.0f, inv;
        int8_t *dst = m->head_q ? m->head_q + (size_t)v * (size_t)n : NULL;
        if (tensor_row(m, m->tok_embd, v, j->use_f32 ? m->head_f + (size_t)v * (size_t)n : row) != BL_OK)
            die("cannot read row of the token embedding%s%s", "", "");
        if (j->use_f32) continue;
        for (i = 0; i < n; ++i) amax = fabsf(row[i]) > amax ? fabsf(row[i]) : amax;
        m->head_scale[v] = amax / 127.0f;
        inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (i = 0; i < n; ++i) dst[i] = round_i8(row[i] * inv);
    }
    free(row);
}

static void load_model(bn_model *m, bn_pool *pool)
{
    const bl_kv *kv = bl_gguf_kv_find(g_file, "general.architecture");
    bl_str s;
    bl_import_desc idesc;
    char name[128];
    int l, k;
    const bl_tensor *head;

    memset(m, 0, sizeof *m);
    if (!kv || bl_kv_string(kv, &s) != BL_OK || s.size == 0 || s.size >= sizeof g_arch)
        die("no general.architecture in the file%s%s", "", "");
    memcpy(g_arch, s.data, (size_t)s.size);
    g_arch[s.size] = 0;
    if (strcmp(g_arch, "bitnet") == 0) m->relu_sqr = 0;
    else if (strcmp(g_arch, "bitnet-b1.58") == 0 || strcmp(g_arch, "bitnet-25") == 0) m->relu_sqr = 1;
    else if (strcmp(g_arch, "llama") == 0) m->llama = 1;
    else die("unsupported architecture '%s' (this runner knows bitnet, bitnet-b1.58, bitnet-25, and llama "
             "with ternary matrices)%s", g_arch, "");
    /* llama's variants that change the graph: refused rather than computed another way */
    if (m->llama) {
        static const char *const variants[] = { "expert_count", "rope.scaling.type", "attention.scale" };
        size_t v;
        if (bl_gguf_find(g_file, "rope_freqs.weight")) die("this llama file has %s%s, which this runner does not compute",
                                                           "rope_freqs.weight", "");
        for (v = 0; v < sizeof variants / sizeof variants[0]; ++v)
            if (kv_arch(variants[v])) die("this llama file has llama.%s%s, which this runner does not compute",
                                          variants[v], "");
    }

    m->n_embd = (int)need_int("embedding_length");
    m->n_layer = (int)need_int("block_count");
    m->n_ff = (int)need_int("feed_forward_length");
    m->n_head = (int)need_int("attention.head_count");
    m->n_head_kv = kv_arch("attention.head_count_kv") ? (int)need_int("attention.head_count_kv") : m->n_head;
    m->n_ctx = (int)need_int("context_length");
    m->eps = (float)opt_float("attention.layer_norm_rms_epsilon", 1e-5);
    m->rope_base = (float)opt_float("rope.freq_base", 10000.0);
    if (m->n_embd % m->n_head || m->n_head % m->n_head_kv)
        die("inconsistent head counts in the metadata%s%s", "", "");
    m->head_dim = m->n_embd / m->n_head;
    if ((kv_arch("attention.key_length") && need_int("attention.key_length") != m->head_dim) ||
        (kv_arch("attention.value_length") && need_int("attention.value_length") != m->head_dim))
        die("%s: a head length other than embedding_length / head_count is not supported%s", g_arch, "");
    m->n_rot = kv_arch("rope.dimension_count") ? (int)need_int("rope.dimension_count") : m->head_dim;
    if (m->n_rot > m->head_dim || m->n_rot % 2) die("bad %s.rope.dimension_count%s", g_arch, "");

    m->tok_embd = need_tensor("token_embd.weight");
    if (m->tok_embd->ndim != 2 || m->tok_embd->shape[1] != m->n_embd)
        die("token_embd.weight has the wrong shape%s%s", "", "");
    m->n_vocab = (int)m->tok_embd->shape[0];
    m->embd_row_bytes = m->tok_embd->nbytes / (size_t)m->n_vocab;

    memset(&idesc, 0, sizeof idesc);
    idesc.alloc = &g_weight_alloc;
    idesc.format = BL_FORMAT_2BIT;
    idesc.act = BL_ACT_INT8;
    idesc.method = BL_METHOD_ABSMEAN;       /* BitNet b1.58's rule for float matrices */
    idesc.scaling = BL_SCALING_TENSOR;
    m->layers = (bn_layer *)xcalloc((size_t)m->n_layer, sizeof(bn_layer));
    for (l = 0; l < m->n_layer; ++l) {
        bn_layer *L = &m->layers[l];
        static const int out_of[M_COUNT] = { 0, 1, 1, 2, 3, 3, 2 };  /* q, kv, kv, embd, ff, ff, embd */
        static const int in_of[M_COUNT] = { 2, 2, 2, 0, 2, 2, 3 };   /* 0: n_head*hd, 2: embd, 3: ff */
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);     L->attn_norm = load_vector(name, m->n_embd);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);      L->ffn_norm = load_vector(name, m->n_embd);
        if (!m->llama) {
            snprintf(name, sizeof name, "blk.%d.attn_sub_norm.weight", l); L->attn_sub_norm = load_vector(name, m->n_embd);
            snprintf(name, sizeof name, "blk.%d.ffn_sub_norm.weight", l);  L->ffn_sub_norm = load_vector(name, m->n_ff);
        }
        for (k = 0; k < M_COUNT; ++k) {
            const bl_tensor *t;
            bl_import_kind kind;
            bl_status st;
            bl_linear_info info;
            int dims[4];
            dims[0] = m->n_head * m->head_dim;
            dims[1] = m->n_head_kv * m->head_dim;
            dims[2] = m->n_embd;
            dims[3] = m->n_ff;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mat_names[k]);
            t = need_tensor(name);
            if (t->ndim != 2 || t->shape[0] != (k == M_Q ? dims[0] : dims[out_of[k]]) ||
                t->shape[1] != (in_of[k] == 0 ? dims[0] : dims[in_of[k]]))
                die("tensor %s has the wrong shape%s", name, "");
            /* a llama file with float matrices is an ordinary model, which ternarizing
               would destroy */
            if (m->llama && t->dtype != BL_DTYPE_TQ1_0 && t->dtype != BL_DTYPE_TQ2_0 && t->dtype != BL_DTYPE_I2_S)
                die("%s is %s: a llama file runs here only with ternary matrices (TQ1_0, TQ2_0, I2_S)", name,
                    bl_dtype_name(t->dtype));
            st = bl_linear_import(t, &idesc, &L->m[k], &kind);
            if (st != BL_OK) die("cannot import %s: %s", name, bl_status_string(st));
            if ((int)kind >= 0 && (int)kind < 3) m->imported[kind]++;
            if (bl_linear_get_info(L->m[k], &info) == BL_OK)
                m->weight_bytes += info.row_bytes * (size_t)info.out_features + sizeof(float) * (size_t)info.out_features;
            snprintf(name, sizeof name, "blk.%d.%s.scale", l, mat_names[k]);
            L->mscale[k] = 1.0f;
            if (bl_gguf_find(g_file, name)) {
                float *sc = load_vector(name, 1);
                L->mscale[k] = sc[0];
                free(sc);
            }
        }
    }
    m->output_norm = load_vector("output_norm.weight", m->n_embd);

    /* output head: `output.weight` when the file has one, else tied to token_embd */
    head = bl_gguf_find(g_file, "output.weight");
    if (head) {
        if (head->ndim != 2 || head->shape[0] != m->n_vocab || head->shape[1] != m->n_embd)
            die("output.weight has the wrong shape%s%s", "", "");
        if (bl_dtype_size(head->dtype, (uint64_t)m->n_embd) * (size_t)m->n_vocab != head->nbytes)
            die("output.weight: unsupported type%s%s", "", "");
    } else {
        head = m->tok_embd;
    }
    if (bl_dtype_size(m->tok_embd->dtype, (uint64_t)m->n_embd) != m->embd_row_bytes)
        die("token_embd.weight: unsupported type %s%s", bl_dtype_name(m->tok_embd->dtype), "");
    {
        head_job j;
        const char *env = getenv("BITNET_HEAD");
        const bl_tensor *saved = m->tok_embd;
        j.m = m;
        j.use_f32 = env && strcmp(env, "f32") == 0;
        if (j.use_f32) m->head_f = (float *)arena_xalloc(sizeof(float) * (size_t)m->n_vocab * (size_t)m->n_embd);
        else {
            m->head_q = (int8_t *)arena_xalloc((size_t)m->n_vocab * (size_t)m->n_embd);
            m->head_scale = (float *)xmalloc(sizeof(float) * (size_t)m->n_vocab);
        }
        m->tok_embd = head;   /* head_build reads rows through tok_embd's view */
        pool_run(pool, head_build, &j);
        m->tok_embd = saved;
        m->weight_bytes += (size_t)m->n_vocab * (size_t)m->n_embd * (j.use_f32 ? 4u : 1u);
    }
}

/* ==== tokenizer =========================================================================
   Both kinds llama.cpp reads from GGUF metadata (src/llama-vocab.cpp):
   - "gpt2": byte-level BPE. Text is split by the pre-tokenizer (LLaMA-3's regex, written
     out below by hand), each piece's bytes become GPT-2's printable byte characters, and
     adjacent symbols merge by rank (tokenizer.ggml.merges), lowest rank first, leftmost
     first among equals.
   - "llama": SentencePiece. Spaces become U+2581, a space is prefixed to text that starts
     the input or follows a special token, adjacent symbols merge by score (highest first,
     leftmost among equals) while the merged piece is in the vocabulary, and what is left
     outside the vocabulary falls back to <0xXX> byte tokens.
   Special (control and user-defined) tokens written in the prompt are recognised first,
   longest first, as llama.cpp does with parse_special. */
enum { TOK_GPT2, TOK_SPM };
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

typedef struct bn_tok {
    int kind, n;
    bl_str *text;               /* [n] pieces, pointing into the file */
    int *type;
    float *score;
    int *hash;                  /* open addressing, piece -> id; size hcap */
    size_t hcap;
    /* merges: (left id, right id) -> rank, result id */
    int64_t *mkey;
    int *mrank, *mres;
    size_t mcap;
    int bos, eos, eot, eot2, unk, add_bos, add_space_prefix;
    int byte_id[256];           /* gpt2: id of each byte's character; spm: <0xXX> */
    int byte_of_cp[512];        /* gpt2: code point of the byte character -> byte */
    int *special;               /* ids of control / user-defined tokens, longest first */
    int n_special;
    unsigned char special_first[256];  /* 1 where some special token starts with that byte */
} bn_tok;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; ++i) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return h;
}

static int tok_find(const bn_tok *t, const char *s, size_t n)
{
    size_t i = (size_t)hash_bytes(s, n) & (t->hcap - 1);
    for (;; i = (i + 1) & (t->hcap - 1)) {
        int id = t->hash[i];
        if (id < 0) return -1;
        if (t->text[id].size == n && memcmp(t->text[id].data, s, n) == 0) return id;
    }
}

static size_t merge_slot(const bn_tok *t, int64_t key)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (t->mcap - 1);
    while (t->mkey[i] != -1 && t->mkey[i] != key) i = (i + 1) & (t->mcap - 1);
    return i;
}

/* UTF-8: length of the sequence starting with byte c (1 for invalid bytes) */
static int utf8_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

static uint32_t utf8_decode(const char *s, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    int l = utf8_len(u[0]), i;
    uint32_t c;
    if ((size_t)l > n) l = 1;
    for (i = 1; i < l; ++i)
        if ((u[i] & 0xC0) != 0x80) { l = 1; break; }
    *len = (size_t)l;
    if (l == 1) return u[0];
    c = u[0] & (0x7F >> l);
    for (i = 1; i < l; ++i) c = (c << 6) | (u[i] & 0x3F);
    return c;
}

static size_t utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | (c >> 6)); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12)); out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18)); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Unicode letters (\p{L}) and numbers (\p{N}) as code point ranges (Unicode 14; unassigned
   code points between two ranges of the class are folded into them to keep the table
   small: no text contains them). Generated from Python's unicodedata categories. */
static const uint32_t bn_letters[][2] = {
    {0x41,0x5A}, {0x61,0x7A}, {0xAA,0xAA}, {0xB5,0xB5}, {0xBA,0xBA}, {0xC0,0xD6}, {0xD8,0xF6},
    {0xF8,0x2C1}, {0x2C6,0x2D1}, {0x2E0,0x2E4}, {0x2EC,0x2EC}, {0x2EE,0x2EE}, {0x370,0x374},
    {0x376,0x37D}, {0x37F,0x37F}, {0x386,0x386}, {0x388,0x3F5}, {0x3F7,0x481}, {0x48A,0x559},
    {0x560,0x588}, {0x5D0,0x5F2}, {0x620,0x64A}, {0x66E,0x66F}, {0x671,0x6D3}, {0x6D5,0x6D5},
    {0x6E5,0x6E6}, {0x6EE,0x6EF}, {0x6FA,0x6FC}, {0x6FF,0x6FF}, {0x710,0x710}, {0x712,0x72F},
    {0x74D,0x7A5}, {0x7B1,0x7B1}, {0x7CA,0x7EA}, {0x7F4,0x7F5}, {0x7FA,0x7FA}, {0x800,0x815},
    {0x81A,0x81A}, {0x824,0x824}, {0x828,0x828}, {0x840,0x858}, {0x860,0x887}, {0x889,0x88E},
    {0x8A0,0x8C9}, {0x904,0x939}, {0x93D,0x93D}, {0x950,0x950}, {0x958,0x961}, {0x971,0x980},
    {0x985,0x9B9}, {0x9BD,0x9BD}, {0x9CE,0x9CE}, {0x9DC,0x9E1}, {0x9F0,0x9F1}, {0x9FC,0x9FC},
    {0xA05,0xA39}, {0xA59,0xA5E}, {0xA72,0xA74}, {0xA85,0xAB9}, {0xABD,0xABD}, {0xAD0,0xAE1},
    {0xAF9,0xAF9}, {0xB05,0xB39}, {0xB3D,0xB3D}, {0xB5C,0xB61}, {0xB71,0xB71}, {0xB83,0xBB9},
    {0xBD0,0xBD0}, {0xC05,0xC39}, {0xC3D,0xC3D}, {0xC58,0xC61}, {0xC80,0xC80}, {0xC85,0xCB9},
    {0xCBD,0xCBD}, {0xCDD,0xCE1}, {0xCF1,0xCF2}, {0xD04,0xD3A}, {0xD3D,0xD3D}, {0xD4E,0xD4E},
    {0xD54,0xD56}, {0xD5F,0xD61}, {0xD7A,0xD7F}, {0xD85,0xDC6}, {0xE01,0xE30}, {0xE32,0xE33},
    {0xE40,0xE46}, {0xE81,0xEB0}, {0xEB2,0xEB3}, {0xEBD,0xEC6}, {0xEDC,0xF00}, {0xF40,0xF6C},
    {0xF88,0xF8C}, {0x1000,0x102A}, {0x103F,0x103F}, {0x1050,0x1055}, {0x105A,0x105D},
    {0x1061,0x1061}, {0x1065,0x1066}, {0x106E,0x1070}, {0x1075,0x1081}, {0x108E,0x108E},
    {0x10A0,0x10FA}, {0x10FC,0x135A}, {0x1380,0x138F}, {0x13A0,0x13FD}, {0x1401,0x166C},
    {0x166F,0x167F}, {0x1681,0x169A}, {0x16A0,0x16EA}, {0x16F1,0x1711}, {0x171F,0x1731},
    {0x1740,0x1751}, {0x1760,0x1770}, {0x1780,0x17B3}, {0x17D7,0x17D7}, {0x17DC,0x17DC},
    {0x1820,0x1884}, {0x1887,0x18A8}, {0x18AA,0x191E}, {0x1950,0x19C9}, {0x1A00,0x1A16},
    {0x1A20,0x1A54}, {0x1AA7,0x1AA7}, {0x1B05,0x1B33}, {0x1B45,0x1B4C}, {0x1B83,0x1BA0},
    {0x1BAE,0x1BAF}, {0x1BBA,0x1BE5}, {0x1C00,0x1C23}, {0x1C4D,0x1C4F}, {0x1C5A,0x1C7D},
    {0x1C80,0x1CBF}, {0x1CE9,0x1CEC}, {0x1CEE,0x1CF3}, {0x1CF5,0x1CF6}, {0x1CFA,0x1DBF},
    {0x1E00,0x1FBC}, {0x1FBE,0x1FBE}, {0x1FC2,0x1FCC}, {0x1FD0,0x1FDB}, {0x1FE0,0x1FEC},
    {0x1FF2,0x1FFC}, {0x2071,0x2071}, {0x207F,0x207F}, {0x2090,0x209C}, {0x2102,0x2102},
    {0x2107,0x2107}, {0x210A,0x2113}, {0x2115,0x2115}, {0x2119,0x211D}, {0x2124,0x2124},
    {0x2126,0x2126}, {0x2128,0x2128}, {0x212A,0x212D}, {0x212F,0x2139}, {0x213C,0x213F},
    {0x2145,0x2149}, {0x214E,0x214E}, {0x2183,0x2184}, {0x2C00,0x2CE4}, {0x2CEB,0x2CEE},
    {0x2CF2,0x2CF3}, {0x2D00,0x2D6F}, {0x2D80,0x2DDE}, {0x2E2F,0x2E2F}, {0x3005,0x3006},
    {0x3031,0x3035}, {0x303B,0x303C}, {0x3041,0x3096}, {0x309D,0x309F}, {0x30A1,0x30FA},
    {0x30FC,0x318E}, {0x31A0,0x31BF}, {0x31F0,0x31FF}, {0x3400,0x4DBF}, {0x4E00,0xA48C},
    {0xA4D0,0xA4FD}, {0xA500,0xA60C}, {0xA610,0xA61F}, {0xA62A,0xA66E}, {0xA67F,0xA69D},
    {0xA6A0,0xA6E5}, {0xA717,0xA71F}, {0xA722,0xA788}, {0xA78B,0xA801}, {0xA803,0xA805},
    {0xA807,0xA80A}, {0xA80C,0xA822}, {0xA840,0xA873}, {0xA882,0xA8B3}, {0xA8F2,0xA8F7},
    {0xA8FB,0xA8FB}, {0xA8FD,0xA8FE}, {0xA90A,0xA925}, {0xA930,0xA946}, {0xA960,0xA97C},
    {0xA984,0xA9B2}, {0xA9CF,0xA9CF}, {0xA9E0,0xA9E4}, {0xA9E6,0xA9EF}, {0xA9FA,0xAA28},
    {0xAA40,0xAA42}, {0xAA44,0xAA4B}, {0xAA60,0xAA76}, {0xAA7A,0xAA7A}, {0xAA7E,0xAAAF},
    {0xAAB1,0xAAB1}, {0xAAB5,0xAAB6}, {0xAAB9,0xAABD}, {0xAAC0,0xAAC0}, {0xAAC2,0xAADD},
    {0xAAE0,0xAAEA}, {0xAAF2,0xAAF4}, {0xAB01,0xAB5A}, {0xAB5C,0xAB69}, {0xAB70,0xABE2},
    {0xAC00,0xD7FB}, {0xF900,0xFB1D}, {0xFB1F,0xFB28}, {0xFB2A,0xFBB1}, {0xFBD3,0xFD3D},
    {0xFD50,0xFDC7}, {0xFDF0,0xFDFB}, {0xFE70,0xFEFC}, {0xFF21,0xFF3A}, {0xFF41,0xFF5A},
    {0xFF66,0xFFDC}, {0x10000,0x100FA}, {0x10280,0x102D0}, {0x10300,0x1031F}, {0x1032D,0x10340},
    {0x10342,0x10349}, {0x10350,0x10375}, {0x10380,0x1039D}, {0x103A0,0x103CF},
    {0x10400,0x1049D}, {0x104B0,0x10563}, {0x10570,0x10855}, {0x10860,0x10876},
    {0x10880,0x1089E}, {0x108E0,0x108F5}, {0x10900,0x10915}, {0x10920,0x10939},
    {0x10980,0x109B7}, {0x109BE,0x109BF}, {0x10A00,0x10A00}, {0x10A10,0x10A35},
    {0x10A60,0x10A7C}, {0x10A80,0x10A9C}, {0x10AC0,0x10AC7}, {0x10AC9,0x10AE4},
    {0x10B00,0x10B35}, {0x10B40,0x10B55}, {0x10B60,0x10B72}, {0x10B80,0x10B91},
    {0x10C00,0x10CF2}, {0x10D00,0x10D23}, {0x10E80,0x10EA9}, {0x10EB0,0x10F1C},
    {0x10F27,0x10F45}, {0x10F70,0x10F81}, {0x10FB0,0x10FC4}, {0x10FE0,0x10FF6},
    {0x11003,0x11037}, {0x11071,0x11072}, {0x11075,0x11075}, {0x11083,0x110AF},
    {0x110D0,0x110E8}, {0x11103,0x11126}, {0x11144,0x11144}, {0x11147,0x11172},
    {0x11176,0x11176}, {0x11183,0x111B2}, {0x111C1,0x111C4}, {0x111DA,0x111DA},
    {0x111DC,0x111DC}, {0x11200,0x1122B}, {0x11280,0x112A8}, {0x112B0,0x112DE},
    {0x11305,0x11339}, {0x1133D,0x1133D}, {0x11350,0x11350}, {0x1135D,0x11361},
    {0x11400,0x11434}, {0x11447,0x1144A}, {0x1145F,0x114AF}, {0x114C4,0x114C5},
    {0x114C7,0x114C7}, {0x11580,0x115AE}, {0x115D8,0x115DB}, {0x11600,0x1162F},
    {0x11644,0x11644}, {0x11680,0x116AA}, {0x116B8,0x116B8}, {0x11700,0x1171A},
    {0x11740,0x1182B}, {0x118A0,0x118DF}, {0x118FF,0x1192F}, {0x1193F,0x1193F},
    {0x11941,0x11941}, {0x119A0,0x119D0}, {0x119E1,0x119E1}, {0x119E3,0x119E3},
    {0x11A00,0x11A00}, {0x11A0B,0x11A32}, {0x11A3A,0x11A3A}, {0x11A50,0x11A50},
    {0x11A5C,0x11A89}, {0x11A9D,0x11A9D}, {0x11AB0,0x11C2E}, {0x11C40,0x11C40},
    {0x11C72,0x11C8F}, {0x11D00,0x11D30}, {0x11D46,0x11D46}, {0x11D60,0x11D89},
    {0x11D98,0x11D98}, {0x11EE0,0x11EF2}, {0x11FB0,0x11FB0}, {0x12000,0x12399},
    {0x12480,0x12FF0}, {0x13000,0x1342E}, {0x14400,0x16A5E}, {0x16A70,0x16ABE},
    {0x16AD0,0x16AED}, {0x16B00,0x16B2F}, {0x16B40,0x16B43}, {0x16B63,0x16E7F},
    {0x16F00,0x16F4A}, {0x16F50,0x16F50}, {0x16F93,0x16FE1}, {0x16FE3,0x16FE3},
    {0x17000,0x1BC99}, {0x1D400,0x1D6C0}, {0x1D6C2,0x1D6DA}, {0x1D6DC,0x1D6FA},
    {0x1D6FC,0x1D714}, {0x1D716,0x1D734}, {0x1D736,0x1D74E}, {0x1D750,0x1D76E},
    {0x1D770,0x1D788}, {0x1D78A,0x1D7A8}, {0x1D7AA,0x1D7C2}, {0x1D7C4,0x1D7CB},
    {0x1DF00,0x1DF1E}, {0x1E100,0x1E12C}, {0x1E137,0x1E13D}, {0x1E14E,0x1E14E},
    {0x1E290,0x1E2AD}, {0x1E2C0,0x1E2EB}, {0x1E7E0,0x1E8C4}, {0x1E900,0x1E943},
    {0x1E94B,0x1E94B}, {0x1EE00,0x1EEBB}, {0x20000,0x3134A},
};
static const uint32_t bn_numbers[][2] = {
    {0x30,0x39}, {0xB2,0xB3}, {0xB9,0xB9}, {0xBC,0xBE}, {0x660,0x669}, {0x6F0,0x6F9},
    {0x7C0,0x7C9}, {0x966,0x96F}, {0x9E6,0x9EF}, {0x9F4,0x9F9}, {0xA66,0xA6F}, {0xAE6,0xAEF},
    {0xB66,0xB6F}, {0xB72,0xB77}, {0xBE6,0xBF2}, {0xC66,0xC6F}, {0xC78,0xC7E}, {0xCE6,0xCEF},
    {0xD58,0xD5E}, {0xD66,0xD78}, {0xDE6,0xDEF}, {0xE50,0xE59}, {0xED0,0xED9}, {0xF20,0xF33},
    {0x1040,0x1049}, {0x1090,0x1099}, {0x1369,0x137C}, {0x16EE,0x16F0}, {0x17E0,0x17F9},
    {0x1810,0x1819}, {0x1946,0x194F}, {0x19D0,0x19DA}, {0x1A80,0x1A99}, {0x1B50,0x1B59},
    {0x1BB0,0x1BB9}, {0x1C40,0x1C49}, {0x1C50,0x1C59}, {0x2070,0x2070}, {0x2074,0x2079},
    {0x2080,0x2089}, {0x2150,0x2182}, {0x2185,0x2189}, {0x2460,0x249B}, {0x24EA,0x24FF},
    {0x2776,0x2793}, {0x2CFD,0x2CFD}, {0x3007,0x3007}, {0x3021,0x3029}, {0x3038,0x303A},
    {0x3192,0x3195}, {0x3220,0x3229}, {0x3248,0x324F}, {0x3251,0x325F}, {0x3280,0x3289},
    {0x32B1,0x32BF}, {0xA620,0xA629}, {0xA6E6,0xA6EF}, {0xA830,0xA835}, {0xA8D0,0xA8D9},
    {0xA900,0xA909}, {0xA9D0,0xA9D9}, {0xA9F0,0xA9F9}, {0xAA50,0xAA59}, {0xABF0,0xABF9},
    {0xFF10,0xFF19}, {0x10107,0x10133}, {0x10140,0x10178}, {0x1018A,0x1018B}, {0x102E1,0x102FB},
    {0x10320,0x10323}, {0x10341,0x10341}, {0x1034A,0x1034A}, {0x103D1,0x103D5},
    {0x104A0,0x104A9}, {0x10858,0x1085F}, {0x10879,0x1087F}, {0x108A7,0x108AF},
    {0x108FB,0x108FF}, {0x10916,0x1091B}, {0x109BC,0x109BD}, {0x109C0,0x109FF},
    {0x10A40,0x10A48}, {0x10A7D,0x10A7E}, {0x10A9D,0x10A9F}, {0x10AEB,0x10AEF},
    {0x10B58,0x10B5F}, {0x10B78,0x10B7F}, {0x10BA9,0x10BAF}, {0x10CFA,0x10CFF},
    {0x10D30,0x10E7E}, {0x10F1D,0x10F26}, {0x10F51,0x10F54}, {0x10FC5,0x10FCB},
    {0x11052,0x1106F}, {0x110F0,0x110F9}, {0x11136,0x1113F}, {0x111D0,0x111D9},
    {0x111E1,0x111F4}, {0x112F0,0x112F9}, {0x11450,0x11459}, {0x114D0,0x114D9},
    {0x11650,0x11659}, {0x116C0,0x116C9}, {0x11730,0x1173B}, {0x118E0,0x118F2},
    {0x11950,0x11959}, {0x11C50,0x11C6C}, {0x11D50,0x11D59}, {0x11DA0,0x11DA9},
    {0x11FC0,0x11FD4}, {0x12400,0x1246E}, {0x16A60,0x16A69}, {0x16AC0,0x16AC9},
    {0x16B50,0x16B61}, {0x16E80,0x16E96}, {0x1D2E0,0x1D2F3}, {0x1D360,0x1D378},
    {0x1D7CE,0x1D7FF}, {0x1E140,0x1E149}, {0x1E2F0,0x1E2F9}, {0x1E8C7,0x1E8CF},
    {0x1E950,0x1E959}, {0x1EC71,0x1ECAB}, {0x1ECAD,0x1ECAF}, {0x1ECB1,0x1ED2D},
    {0x1ED2F,0x1ED3D}, {0x1F100,0x1F10C}, {0x1FBF0,0x1FBF9},
};

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid - 1;
        else if (c > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static int is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 32) - 'a' < 26;
    return in_ranges(bn_letters, (int)(sizeof bn_letters / sizeof bn_letters[0]), c);
}

static int is_number(uint32_t c)
{
    if (c < 0x80) return c - '0' < 10;
    return in_ranges(bn_numbers, (int)(sizeof bn_numbers / sizeof bn_numbers[0]), c);
}

/* \s as llama.cpp's unicode tables define whitespace */
static int is_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int is_rn(uint32_t c) { return c == '\r' || c == '\n'; }

/* LLaMA-3's pre-tokenizer, alternative by alternative, first match wins:
     (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
   cp[0..n) code points; returns the length of the piece starting at i. */
static size_t llama3_piece(const uint32_t *cp, size_t n, size_t i)
{
    uint32_t c = cp[i];
    size_t j;
    if (c == '\'' && i + 1 < n) {
        uint32_t a = cp[i + 1] | 32, b = i + 2 < n ? (cp[i + 2] | 32) : 0;
        if (cp[i + 1] < 0x80 && (a == 's' || a == 't' || a == 'm' || a == 'd')) return 2;
        if (cp[i + 1] < 0x80 && i + 2 < n && cp[i + 2] < 0x80 &&
            ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))) return 3;
    }
    if (is_letter(c) || (!is_rn(c) && !is_number(c) && i + 1 < n && is_letter(cp[i + 1]))) {
        j = i + 1;
        while (j < n && is_letter(cp[j])) ++j;
        return j - i;
    }
    if (is_number(c)) {
        j = i + 1;
        while (j < n && j < i + 3 && is_number(cp[j])) ++j;
        return j - i;
    }
    {
        size_t s = (c == ' ' && i + 1 < n) ? i + 1 : i;
        if (!is_space(cp[s]) && !is_letter(cp[s]) && !is_number(cp[s])) {
            j = s + 1;
            while (j < n && !is_space(cp[j]) && !is_letter(cp[j]) && !is_number(cp[j])) ++j;
            while (j < n && is_rn(cp[j])) ++j;
            return j - i;
        }
    }
    /* c is whitespace here */
    j = i;
    while (j < n && is_space(cp[j])) ++j;
    {
        size_t k, last_nl = 0;
        int any = 0;
        for (k = i; k < j; ++k)
            if (is_rn(cp[k])) { last_nl = k; any = 1; }
        if (any) return last_nl + 1 - i;
    }
    if (j == n) return j - i;
    if (j - i >= 2) return j - 1 - i;
    return j - i;
}

/* BPE over a symbol list of token ids: merge the lowest-ranked pair, leftmost first */
static int bpe_merge(const bn_tok *t, int *sym, int n)
{
    for (;;) {
        int best = -1, best_rank = 0, i;
        for (i = 0; i + 1 < n; ++i) {
            int64_t key = (int64_t)sym[i] * t->n + sym[i + 1];
            size_t s = merge_slot(t, key);
            if (t->mkey[s] == key && (best < 0 || t->mrank[s] < best_rank)) {
                best = i;
                best_rank = t->mrank[s];
            }
        }
        if (best < 0) return n;
        sym[best] = t->mres[merge_slot(t, (int64_t)sym[best] * t->n + sym[best + 1])];
        memmove(sym + best + 1, sym + best + 2, sizeof(int) * (size_t)(n - best - 2));
        --n;
    }
}

typedef struct tokvec { int *v; int n, cap; } tokvec;

static void tv_push(tokvec *tv, int id)
{
    if (tv->n == tv->cap) {
        tv->cap = tv->cap ? tv->cap * 2 : 64;
        tv->v = (int *)realloc(tv->v, sizeof(int) * (size_t)tv->cap);
        if (!tv->v) die("out of memory%s%s", "", "");
    }
    tv->v[tv->n++] = id;
}

static void encode_gpt2(const bn_tok *t, const char *s, size_t len, tokvec *out)
{
    uint32_t *cp = (uint32_t *)xmalloc(sizeof(uint32_t) * (len + 1));
    size_t *off = (size_t *)xmalloc(sizeof(size_t) * (len + 1));
    int *sym = (int *)xmalloc(sizeof(int) * (len + 1));
    size_t n = 0, pos = 0, i;
    while (pos < len) {
        size_t l;
        off[n] = pos;
        cp[n++] = utf8_decode(s + pos, len - pos, &l);
        pos += l;
    }
    off[n] = len;
    for (i = 0; i < n;) {
        size_t k = llama3_piece(cp, n, i), b;
        int ns = 0, j;
        for (b = off[i]; b < off[i + k]; ++b) sym[ns++] = t->byte_id[(unsigned char)s[b]];
        ns = bpe_merge(t, sym, ns);
        for (j = 0; j < ns; ++j) tv_push(out, sym[j]);
        i += k;
    }
    free(cp); free(off); free(sym);
}

/* SentencePiece: symbols are UTF-8 characters; merge the adjacent pair whose
   concatenation is a piece of highest score (leftmost among equals) */
static void encode_spm(const bn_tok *t, const char *s, size_t len, tokvec *out)
{
    size_t *start = (size_t *)xmalloc(sizeof(size_t) * (len + 1)), *slen = (size_t *)xmalloc(sizeof(size_t) * (len + 1));
    size_t n = 0, pos = 0, i;
    while (pos < len) {
        size_t l = (size_t)utf8_len((unsigned char)s[pos]);
        if (l > len - pos) l = len - pos;
        start[n] = pos; slen[n++] = l; pos += l;
    }
    for (;;) {
        int best = -1;
        float best_score = 0;
        for (i = 0; i + 1 < n; ++i) {
            int id;
            if (start[i] + slen[i] != start[i + 1]) continue;
            id = tok_find(t, s + start[i], slen[i] + slen[i + 1]);
            if (id >= 0 && (best < 0 || t->score[id] > best_score)) { best = (int)i; best_score = t->score[id]; }
        }
        if (best < 0) break;
        slen[best] += slen[best + 1];
        memmove(start + best + 1, start + best + 2, sizeof(size_t) * (n - (size_t)best - 2));
        memmove(slen + best + 1, slen + best + 2, sizeof(size_t) * (n - (size_t)best - 2));
        --n;
    }
    for (i = 0; i < n; ++i) {
        int id = tok_find(t, s + start[i], slen[i]);
        if (id >= 0) tv_push(out, id);
        else {
            size_t b;
            for (b = 0; b < slen[i]; ++b) {
                int bid = t->byte_id[(unsigned char)s[start[i] + b]];
                tv_push(out, bid >= 0 ? bid : t->unk);
            }
        }
    }
    free(start); free(slen);
}

static void encode_text(const bn_tok *t, const char *s, size_t len, int prev_special, tokvec *out)
{
    if (t->kind == TOK_GPT2) { encode_gpt2(t, s, len, out); return; }
    {
        /* spaces -> U+2581, with a leading one where llama.cpp adds it */
        char *buf = (char *)xmalloc(len * 3 + 4);
        size_t n = 0, i;
        if (t->add_space_prefix && prev_special) { memcpy(buf, "\xE2\x96\x81", 3); n = 3; }
        for (i = 0; i < len; ++i) {
            if (s[i] == ' ') { memcpy(buf + n, "\xE2\x96\x81", 3); n += 3; }
            else buf[n++] = s[i];
        }
        encode_spm(t, buf, n, out);
        free(buf);
    }
}

/* prompt -> ids: special tokens first (longest first at each position), text between them */
static void tokenize(const bn_tok *t, const char *s, int add_bos, tokvec *out)
{
    size_t len = strlen(s), i = 0, text_start = 0;
    int prev_special = 1;
    if (add_bos && t->bos >= 0) tv_push(out, t->bos);
    while (i <= len) {
        int hit = -1, k;
        if (i < len && t->special_first[(unsigned char)s[i]])
            for (k = 0; k < t->n_special; ++k) {
                const bl_str *p = &t->text[t->special[k]];
                if (p->size > 0 && p->size <= len - i && memcmp(s + i, p->data, (size_t)p->size) == 0) {
                    hit = t->special[k];
                    break;
                }
            }
        if (hit >= 0 || i == len) {
            if (i > text_start) { encode_text(t, s + text_start, i - text_start, prev_special, out); prev_special = 0; }
            if (hit < 0) break;
            tv_push(out, hit);
            prev_special = 1;
            i += (size_t)t->text[hit].size;
            text_start = i;
        } else {
            ++i;
        }
    }
}

/* the bytes a token stands for (control tokens: none) */
static size_t token_bytes(const bn_tok *t, int id, char *out, size_t cap)
{
    const bl_str *p;
    size_t n = 0, i = 0;
    if (id < 0 || id >= t->n) return 0;
    p = &t->text[id];
    if (t->type[id] == TT_CONTROL || t->type[id] == TT_UNUSED) return 0;
    if (t->kind == TOK_SPM && t->type[id] == TT_BYTE && p->size == 6) {
        out[0] = (char)strtol(p->data + 3, NULL, 16);
        return 1;
    }
    if (t->kind == TOK_SPM || t->type[id] == TT_USER) {
        while (i < p->size && n + 3 < cap) {
            if (p->size - i >= 3 && memcmp(p->data + i, "\xE2\x96\x81", 3) == 0) { out[n++] = ' '; i += 3; }
            else out[n++] = p->data[i++];
        }
        return n;
    }
    while (i < p->size && n < cap) {
        size_t l;
        uint32_t c = utf8_decode(p->data + i, (size_t)p->size - i, &l);
        out[n++] = (char)(c < 512 && t->byte_of_cp[c] >= 0 ? t->byte_of_cp[c] : '?');
        i += l;
    }
    return n;
}

static const bn_tok *g_sort_tok;
static int special_cmp(const void *a, const void *b)
{
    uint64_t la = g_sort_tok->text[*(const int *)a].size, lb = g_sort_tok->text[*(const int *)b].size;
    if (la != lb) return la > lb ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int find_piece(const bn_tok *t, const char *s) { return tok_find(t, s, strlen(s)); }

static void load_tokenizer(bn_tok *t)
{
    const bl_kv *model = bl_gguf_kv_find(g_file, "tokenizer.ggml.model");
    const bl_kv *toks = bl_gguf_kv_find(g_file, "tokenizer.ggml.tokens");
    const bl_kv *types = bl_gguf_kv_find(g_file, "tokenizer.ggml.token_type");
    const bl_kv *scores = bl_gguf_kv_find(g_file, "tokenizer.ggml.scores");
    const bl_kv *merges = bl_gguf_kv_find(g_file, "tokenizer.ggml.merges");
    bl_str s;
    int i, next_cp;
    memset(t, 0, sizeof *t);
    if (!model || bl_kv_string(model, &s) != BL_OK) die("no tokenizer.ggml.model in the file%s%s", "", "");
    if (s.size == 4 && memcmp(s.data, "gpt2", 4) == 0) t->kind = TOK_GPT2;
    else if (s.size == 5 && memcmp(s.data, "llama", 5) == 0) t->kind = TOK_SPM;
    else die("unsupported tokenizer model (gpt2 and llama are)%s%s", "", "");
    if (t->kind == TOK_GPT2) {
        const bl_kv *pre = bl_gguf_kv_find(g_file, "tokenizer.ggml.pre");
        if (pre && bl_kv_string(pre, &s) == BL_OK &&
            !(s.size == 9 && memcmp(s.data, "llama-bpe", 9) == 0) && !(s.size == 7 && memcmp(s.data, "default", 7) == 0))
            fprintf(stderr, "bitnet: note: pre-tokenizer '%.*s' approximated by LLaMA-3's\n", (int)s.size, s.data);
    }
    if (!toks || toks->type != BL_VALUE_ARRAY || toks->elem_type != BL_VALUE_STRING || toks->count == 0 ||
        toks->count > (1u << 24))
        die("no tokenizer.ggml.tokens in the file%s%s", "", "");
    t->n = (int)toks->count;
    t->text = (bl_str *)xmalloc(sizeof(bl_str) * (size_t)t->n);
    t->type = (int *)xmalloc(sizeof(int) * (size_t)t->n);
    t->score = (float *)xcalloc((size_t)t->n, sizeof(float));
    for (t->hcap = 16; t->hcap < (size_t)t->n * 2; t->hcap *= 2) {}
    t->hash = (int *)xmalloc(sizeof(int) * t->hcap);
    for (i = 0; i < (int)t->hcap; ++i) t->hash[i] = -1;
    for (i = 0; i < t->n; ++i) {
        int64_t ty = TT_NORMAL;
        double sc = 0;
        size_t h;
        if (bl_kv_array_string(toks, (uint64_t)i, &t->text[i]) != BL_OK) die("bad token list%s%s", "", "");
        if (types && types->count == toks->count) bl_kv_array_int(types, (uint64_t)i, &ty);
        if (scores && scores->count == toks->count && bl_kv_array_float(scores, (uint64_t)i, &sc) == BL_OK) t->score[i] = (float)sc;
        t->type[i] = (int)ty;
        if (tok_find(t, t->text[i].data, (size_t)t->text[i].size) >= 0) continue;  /* first wins */
        h = (size_t)hash_bytes(t->text[i].data, (size_t)t->text[i].size) & (t->hcap - 1);
        while (t->hash[h] >= 0) h = (h + 1) & (t->hcap - 1);
        t->hash[h] = i;
    }
    /* byte tokens */
    for (i = 0; i < 512; ++i) t->byte_of_cp[i] = -1;
    for (i = 0, next_cp = 256; i < 256; ++i) {
        char buf[8];
        if (t->kind == TOK_GPT2) {
            /* GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to
               256, 257, ... in byte order */
            uint32_t c;
            if ((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)) c = (uint32_t)i;
            else c = (uint32_t)next_cp++;
            t->byte_of_cp[c] = i;
            buf[utf8_encode(c, buf)] = 0;
        } else {
            snprintf(buf, sizeof buf, "<0x%02X>", i);
        }
        t->byte_id[i] = find_piece(t, buf);
        if (t->byte_id[i] < 0 && t->kind == TOK_GPT2) die("vocabulary lacks a byte token%s%s", "", "");
    }
    /* merges: "left right" */
    if (t->kind == TOK_GPT2) {
        uint64_t m, nm = merges && merges->type == BL_VALUE_ARRAY ? merges->count : 0;
        for (t->mcap = 16; t->mcap < nm * 2 + 2; t->mcap *= 2) {}
        t->mkey = (int64_t *)xmalloc(sizeof(int64_t) * t->mcap);
        t->mrank = (int *)xmalloc(sizeof(int) * t->mcap);
        t->mres = (int *)xmalloc(sizeof(int) * t->mcap);
        for (i = 0; i < (int)t->mcap; ++i) t->mkey[i] = -1;
        for (m = 0; m < nm; ++m) {
            const char *sp;
            int a, b, r;
            size_t slot;
            if (bl_kv_array_string(merges, m, &s) != BL_OK) die("bad merge list%s%s", "", "");
            sp = (const char *)memchr(s.data + 1, ' ', s.size > 1 ? (size_t)s.size - 1 : 0);
            if (!sp) continue;
            a = tok_find(t, s.data, (size_t)(sp - s.data));
            b = tok_find(t, sp + 1, (size_t)(s.data + s.size - sp - 1));
            {
                char *cat = (char *)xmalloc((size_t)s.size);
                memcpy(cat, s.data, (size_t)(sp - s.data));
                memcpy(cat + (sp - s.data), sp + 1, (size_t)(s.data + s.size - sp - 1));
                r = tok_find(t, cat, (size_t)s.size - 1);
                free(cat);
            }
            if (a < 0 || b < 0 || r < 0) continue;
            slot = merge_slot(t, (int64_t)a * t->n + b);
            if (t->mkey[slot] != -1) continue;
            t->mkey[slot] = (int64_t)a * t->n + b;
            t->mrank[slot] = (int)m;
            t->mres[slot] = r;
        }
    }
    t->bos = (int)opt_int_key("tokenizer.ggml.bos_token_id", t->kind == TOK_SPM ? 1 : -1);
    t->eos = (int)opt_int_key("tokenizer.ggml.eos_token_id", t->kind == TOK_SPM ? 2 : -1);
    t->add_bos = (int)opt_int_key("tokenizer.ggml.add_bos_token", 1);
    t->add_space_prefix = (int)opt_int_key("tokenizer.ggml.add_space_prefix", t->kind == TOK_SPM);
    t->unk = (int)opt_int_key("tokenizer.ggml.unknown_token_id", 0);
    t->eot = find_piece(t, "<|eot_id|>");
    t->eot2 = find_piece(t, "<|end_of_text|>");
    if (t->bos >= t->n) t->bos = -1;
    if (t->eos >= t->n) t->eos = -1;
    if (t->unk < 0 || t->unk >= t->n) t->unk = -1;  /* a byte without a token then stays -1 */
    t->special = (int *)xmalloc(sizeof(int) * (size_t)t->n);
    for (i = 0; i < t->n; ++i)
        if ((t->type[i] == TT_CONTROL || t->type[i] == TT_USER) && t->text[i].size > 0) {
            t->special[t->n_special++] = i;
            t->special_first[(unsigned char)t->text[i].data[0]] = 1;
        }
    g_sort_tok = t;
    qsort(t->special, (size_t)t->n_special, sizeof(int), special_cmp);
}

static void free_tokenizer(bn_tok *t)
{
    free(t->text); free(t->type); free(t->score); free(t->hash);
    free(t->mkey); free(t->mrank); free(t->mres); free(t->special);
}

static int is_eog(const bn_tok *t, int id) { return id == t->eos || id == t->eot || id == t->eot2; }

/* streaming output: print only whole UTF-8 characters, keep a partial one for later */
static char out_pending[16];
static size_t out_npending;

static void emit(const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        size_t need;
        if (out_npending == sizeof out_pending) { fwrite(out_pending, 1, out_npending, stdout); out_npending = 0; }
        out_pending[out_npending++] = b[i];
        need = (size_t)utf8_len((unsigned char)out_pending[0]);
        if (out_npending >= need) { fwrite(out_pending, 1, out_npending, stdout); out_npending = 0; }
    }
    fflush(stdout);
}

/* ==== forward pass ====================================================================== */
/* BITNET_PROFILE=1: wall time per stage of the prompt pass, summed over layers, on stderr */
enum { P_EMBD, P_NORM, P_QUANT, P_QKV, P_O, P_GATEUP, P_DOWN, P_SCALE, P_ROPE, P_ATTN, P_ACT, P_RESID,
       P_HEADQ, P_HEAD, P_COUNT };
static const char *const prof_names[P_COUNT] = { "embedding, rope angles", "rmsnorm (+ residual)",
    "quantize (prepare_input)", "matmul q/k/v", "matmul attn_output", "matmul gate/up", "matmul down",
    "matrix scale", "rope", "attention", "gate * up, ffn_sub_norm", "residual, next attn_norm",
    "head: norm + quantize", "head: logits" };
static int g_prof;
static double prof_t[P_COUNT];
static double prof_last;
static void prof_mark(int stage)
{
    double t;
    if (!g_prof) return;
    t = now_s();
    if (stage >= 0) prof_t[stage] += t - prof_last;
    prof_last = t;
}
typedef struct bn_state {
    int cap_tokens, cap_ctx;    /* batch and cache capacity */
    float *x, *xn, *q, *k, *v, *att, *g, *u, *logits;
    float *kc, *vc;             /* [layer][cap_ctx][n_head_kv * head_dim] */
    float *scores;              /* [thread][n_head / n_head_kv][cap_ctx] */
    float *rope_cs;             /* [cap_tokens][n_rot]: cosines, then sines */
    int pos0;                   /* position of the batch's first token */
    void *in[3];                /* prepared inputs, up to three matrices at once */
    size_t in_size;
    int8_t *xq;                 /* head: int8 activations [cap_tokens][n_embd] */
    float *xs;
} bn_state;

/* out = x / sqrt(mean(x^2) + eps) * w (out may be x); the sum of squares in double, in
   four partial sums, and the scaling in blocks of eight: fixed-length inner loops that
   compilers vectorize */
static void rmsnorm_plain(const float *x, const float *w, int n, float eps, float *out)
{
    double ss[4] = { 0, 0, 0, 0 };
    float sc;
    int i, k;
    for (i = 0; i + 4 <= n; i += 4)
        for (k = 0; k < 4; ++k) ss[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; ++i) ss[0] += (double)x[i] * (double)x[i];
    sc = 1.0f / sqrtf((float)(((ss[0] + ss[1]) + (ss[2] + ss[3])) / n) + eps);
    for (i = 0; i + 8 <= n; i += 8)
        for (k = 0; k < 8; ++k) out[i + k] = x[i + k] * sc * w[i + k];
    for (; i < n; ++i) out[i] = x[i] * sc * w[i];
}
static void (*rmsnorm)(const float *x, const float *w, int n, float eps, float *out) = rmsnorm_plain;

/* up to three matrices sharing one input, their rows split over the threads */
typedef struct mm_job {
    int count, batch;
    const bl_linear *m[3];
    const void *in[3];
    float *y[3];
    int rows[3];
} mm_job;

static void mm_run(void *arg, int tid, int nt)
{
    mm_job *j = (mm_job *)arg;
    int i;
    for (i = 0; i < j->count; ++i) {
        int b, e;
        split(j->rows[i], 32, tid, nt, &b, &e);
        if (b < e && bl_linear_forward_input(j->m[i], j->in[i], j->batch, j->y[i], b, e) != BL_OK)
            die("a matrix product failed%s%s", "", "");
    }
}

static void matmul(bn_pool *pool, bn_state *st, int batch, const float *x, int count, bl_linear *const *m,
                   float *const *y, const float *scale, int stage)
{
    mm_job j;
    bl_linear_info first;
    int i, t, r;
    j.count = count;
    j.batch = batch;
    for (i = 0; i < count; ++i) {
        bl_linear_info info;
        bl_linear_get_info(m[i], &info);
        if (i == 0) first = info;
        /* matrices that read x the same way share one quantized copy (bl_linear_prepare_input) */
        if (i > 0 && info.in_features == first.in_features && info.act == first.act &&
            info.act_bits == first.act_bits && info.hadamard == first.hadamard &&
            info.hadamard_seed == first.hadamard_seed) {
            j.in[i] = j.in[0];
        } else {
            if (bl_linear_prepare_input(m[i], x, batch, st->in[i], st->in_size) != BL_OK)
                die("activations are not finite%s%s", "", "");
            j.in[i] = st->in[i];
        }
        j.m[i] = m[i];
        j.y[i] = y[i];
        j.rows[i] = info.out_features;
    }
    prof_mark(P_QUANT);
    pool_run(pool, mm_run, &j);
    prof_mark(stage);
    for (i = 0; i < count; ++i)
        if (scale[i] != 1.0f)
            for (t = 0; t < batch; ++t)
                for (r = 0; r < j.rows[i]; ++r) y[i][(size_t)t * (size_t)j.rows[i] + (size_t)r] *= scale[i];
    prof_mark(P_SCALE);
}

/* RoPE, NeoX style for bitnet (ggml_rope_ext with GGML_ROPE_TYPE_NEOX): dimension i
   pairs with i + n_rot/2; llama's (GGML_ROPE_TYPE_NORM, `adjacent`): 2i pairs with 2i + 1.
   Pair i turns by pos * base^(-2i/n_rot), computed as ggml does (a running product).
   The angles depend on the position only, so rope_table computes the cosines and sines
   of a token once (cs[i], cs[n_rot/2 + i]) for all its layers and heads. */
static void rope_table(float *cs, int n_rot, int pos, float base)
{
    float theta_scale = powf(base, -2.0f / (float)n_rot), theta = (float)pos;
    int i, half = n_rot / 2;
    for (i = 0; i < half; ++i) {
        cs[i] = cosf(theta);
        cs[half + i] = sinf(theta);
        theta *= theta_scale;
    }
}

static void rope(float *vec, int n_heads, int head_dim, int n_rot, const float *cs, int adjacent)
{
    int h, i, half = n_rot / 2, step = adjacent ? 2 : 1, other = adjacent ? 1 : half;
    for (h = 0; h < n_heads; ++h) {
        float *p = vec + (size_t)h * (size_t)head_dim;
        for (i = 0; i < half; ++i) {
            float c = cs[i], s = cs[half + i];
            float *a = p + i * step, x0 = a[0], x1 = a[other];
            a[0] = x0 * c - x1 * s;
            a[other] = x0 * s + x1 * c;
        }
    }
}

/* ---- attention of one query token against n_kv keys, for the `group` query heads that
   share one key/value head (grouped-query attention). q and out hold the group's heads one
   after another (hd floats each); key and value rows are kvd floats apart; sc has room
   for group * n_kv weights. Scores are scaled dot products, then a softmax per head
   (exp(s - max), times 1 / sum), then the weighted sum of the value rows. Each token's
   result depends only on its inputs and on the code path picked at start-up, never on
   how tokens are shared among threads. */
typedef void (*attn_group_fn)(const float *q, const float *k, const float *v, size_t kvd, int n_kv, int hd,
                              int group, float kq_scale, float *sc, float *out);

static void softmax_rows_plain(float *sc, int n_kv, int group)
{
    int h, p;
    for (h = 0; h < group; ++h) {
        float *s = sc + (size_t)h * (size_t)n_kv;
        float mx = -INFINITY, sum = 0.0f, inv;
        for (p = 0; p < n_kv; ++p) mx = s[p] > mx ? s[p] : mx;
        for (p = 0; p < n_kv; ++p) { s[p] = expf(s[p] - mx); sum += s[p]; }
        inv = 1.0f / sum;
        for (p = 0; p < n_kv; ++p) s[p] *= inv;
    }
}

/* g = act(g) * u: squared ReLU (bitnet-b1.58, bitnet-25) or SiLU (bitnet) */
static void gate_rows_plain(float *g, const float *u, int n, int relu_sqr)
{
    int i, k;
    if (relu_sqr) {
        for (i = 0; i + 8 <= n; i += 8)
            for (k = 0; k < 8; ++k) {
                float r = g[i + k] > 0.0f ? g[i + k] : 0.0f;
                g[i + k] = r * r * u[i + k];
            }
        for (; i < n; ++i) {
            float r = g[i] > 0.0f ? g[i] : 0.0f;
            g[i] = r * r * u[i];
        }
    } else {
        for (i = 0; i < n; ++i) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

static void (*gate_rows)(float *g, const float *u, int n, int relu_sqr) = gate_rows_plain;

/* portable: eight partial sums per dot product and eight outputs at a time, loops of a
   fixed length that compilers vectorize without being asked */
static void attn_group_plain(const float *q, const float *k, const float *v, size_t kvd, int n_kv, int hd,
                             int group, float kq_scale, float *sc, float *out)
{
    int h, p, d, i;
    for (h = 0; h < group; ++h) {
        const float *qh = q + (size_t)h * (size_t)hd;
        for (p = 0; p < n_kv; ++p) {
            const float *kp = k + (size_t)p * kvd;
            float a[8] = { 0, 0, 0, 0, 0, 0, 0, 0 }, r;
            for (d = 0; d + 8 <= hd; d += 8)
                for (i = 0; i < 8; ++i) a[i] += qh[d + i] * kp[d + i];
            r = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            for (; d < hd; ++d) r += qh[d] * kp[d];
            sc[(size_t)h * (size_t)n_kv + (size_t)p] = r * kq_scale;
        }
    }
    softmax_rows_plain(sc, n_kv, group);
    for (h = 0; h < group; ++h) {
        const float *w = sc + (size_t)h * (size_t)n_kv;
        float *o = out + (size_t)h * (size_t)hd;
        for (d = 0; d < hd; ++d) o[d] = 0.0f;
        for (p = 0; p < n_kv; ++p) {
            const float *vp = v + (size_t)p * kvd;
            for (d = 0; d + 8 <= hd; d += 8)
                for (i = 0; i < 8; ++i) o[d + i] += w[p] * vp[d + i];
            for (; d < hd; ++d) o[d] += w[p] * vp[d];
        }
    }
}

static attn_group_fn attn_group = attn_group_plain;

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
/* AVX2 + FMA, picked at run time when the CPU has both: attention where four query heads
   of a group share each load of a key row (and of a value chunk), softmax and SiLU with
   a vector exp, rmsnorm */
#define BN_AVX2_FMA __attribute__((target("avx2,fma")))

BN_AVX2_FMA static float hsum8(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp of eight floats: x clamped to [-87, 88] (the results stay normal floats; softmax and
   SiLU take anything beyond as 0 or huge), x = n ln2 + r with |r| <= ln2/2 (ln2 in two
   parts, so n ln2 is exact to float precision), exp(r) by its Taylor series to r^7
   (truncation below 1e-8 relative), times 2^n built in the exponent bits */
BN_AVX2_FMA static __m256 exp8(__m256 x)
{
    __m256 n, r, p;
    __m256i e;
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-6f), r);
    p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* the same sum of squares in double, four lanes times four partial sums */
BN_AVX2_FMA static void rmsnorm_avx2(const float *x, const float *w, int n, float eps, float *out)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    __m256 scv;
    double part[4], ss;
    float sc;
    int i;
    for (i = 0; i + 16 <= n; i += 16) {
        __m256 u = _mm256_loadu_ps(x + i), v = _mm256_loadu_ps(x + i + 8);
        __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(u)), d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));
        __m256d d2 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), d3 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
        a2 = _mm256_fmadd_pd(d2, d2, a2);
        a3 = _mm256_fmadd_pd(d3, d3, a3);
    }
    _mm256_storeu_pd(part, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    ss = (part[0] + part[1]) + (part[2] + part[3]);
    for (; i < n; ++i) ss += (double)x[i] * (double)x[i];
    sc = 1.0f / sqrtf((float)(ss / n) + eps);
    scv = _mm256_set1_ps(sc);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scv), _mm256_loadu_ps(w + i)));
    for (; i < n; ++i) out[i] = x[i] * sc * w[i];
}

BN_AVX2_FMA static void softmax_rows_avx2(float *sc, int n_kv, int group)
{
    int h, p, n8 = n_kv & ~7;
    for (h = 0; h < group; ++h) {
        float *s = sc + (size_t)h * (size_t)n_kv;
        __m256 mx = _mm256_set1_ps(-INFINITY), sum = _mm256_setzero_ps(), inv;
        float m, tail[8];
        for (p = 0; p < n8; p += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + p));
        _mm256_storeu_ps(tail, mx);
        m = tail[0];
        for (p = 1; p < 8; ++p) m = tail[p] > m ? tail[p] : m;
        for (p = n8; p < n_kv; ++p) m = s[p] > m ? s[p] : m;
        mx = _mm256_set1_ps(m);
        for (p = 0; p < n8; p += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), mx));
            _mm256_storeu_ps(s + p, e);
            sum = _mm256_add_ps(sum, e);
        }
        if (n8 < n_kv) {
            for (p = 0; p < 8; ++p) tail[p] = n8 + p < n_kv ? s[n8 + p] - m : -INFINITY;
            _mm256_storeu_ps(tail, exp8(_mm256_loadu_ps(tail)));
            for (p = 0; n8 + p < n_kv; ++p) s[n8 + p] = tail[p];
            for (p = n_kv - n8; p < 8; ++p) tail[p] = 0.0f;
            sum = _mm256_add_ps(sum, _mm256_loadu_ps(tail));
        }
        inv = _mm256_set1_ps(1.0f / hsum8(sum));
        for (p = 0; p < n8; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
        for (p = n8; p < n_kv; ++p) s[p] *= _mm256_cvtss_f32(inv);
    }
}

BN_AVX2_FMA static __m256 silu8(__m256 g)
{
    return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}

BN_AVX2_FMA static void gate_rows_avx2(float *g, const float *u, int n, int relu_sqr)
{
    int i;
    if (relu_sqr) {
        gate_rows_plain(g, u, n, relu_sqr);
        return;
    }
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float t[8];
        int k;
        for (k = 0; k < 8; ++k) t[k] = i + k < n ? g[i + k] : 0.0f;
        _mm256_storeu_ps(t, silu8(_mm256_loadu_ps(t)));
        for (k = 0; i + k < n; ++k) g[i + k] = t[k] * u[i + k];
    }
}

BN_AVX2_FMA static void attn_group_avx2(const float *q, const float *k, const float *v, size_t kvd, int n_kv,
                                        int hd, int group, float kq_scale, float *sc, float *out)
{
    const size_t nk = (size_t)n_kv, shd = (size_t)hd;
    const int hd8 = hd & ~7;
    int h, p, d;
    for (p = 0; p < n_kv; ++p) {
        const float *kp = k + (size_t)p * kvd;
        for (h = 0; h + 4 <= group; h += 4) {
            const float *q0 = q + (size_t)h * shd, *q1 = q0 + shd, *q2 = q1 + shd, *q3 = q2 + shd;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            __m128 s;
            float r[4];
            for (d = 0; d < hd8; d += 8) {
                __m256 kk = _mm256_loadu_ps(kp + d);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + d), kk, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + d), kk, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + d), kk, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + d), kk, a3);
            }
            a0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
            s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
            _mm_storeu_ps(r, s);
            for (d = hd8; d < hd; ++d) {
                r[0] += q0[d] * kp[d]; r[1] += q1[d] * kp[d]; r[2] += q2[d] * kp[d]; r[3] += q3[d] * kp[d];
            }
            sc[(size_t)h * nk + (size_t)p] = r[0] * kq_scale;
            sc[(size_t)(h + 1) * nk + (size_t)p] = r[1] * kq_scale;
            sc[(size_t)(h + 2) * nk + (size_t)p] = r[2] * kq_scale;
            sc[(size_t)(h + 3) * nk + (size_t)p] = r[3] * kq_scale;
        }
        for (; h < group; ++h) {
            const float *qh = q + (size_t)h * shd;
            __m256 a = _mm256_setzero_ps();
            float r;
            for (d = 0; d < hd8; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), _mm256_loadu_ps(kp + d), a);
            r = hsum8(a);
            for (d = hd8; d < hd; ++d) r += qh[d] * kp[d];
            sc[(size_t)h * nk + (size_t)p] = r * kq_scale;
        }
    }
    softmax_rows_avx2(sc, n_kv, group);
    for (d = 0; d < hd8; d += 8) {
        for (h = 0; h + 4 <= group; h += 4) {
            const float *w0 = sc + (size_t)h * nk, *w1 = w0 + nk, *w2 = w1 + nk, *w3 = w2 + nk;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (p = 0; p < n_kv; ++p) {
                __m256 vv = _mm256_loadu_ps(v + (size_t)p * kvd + (size_t)d);
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w0 + p), vv, a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(w1 + p), vv, a1);
                a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(w2 + p), vv, a2);
                a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(w3 + p), vv, a3);
            }
            _mm256_storeu_ps(out + (size_t)h * shd + (size_t)d, a0);
            _mm256_storeu_ps(out + (size_t)(h + 1) * shd + (size_t)d, a1);
            _mm256_storeu_ps(out + (size_t)(h + 2) * shd + (size_t)d, a2);
            _mm256_storeu_ps(out + (size_t)(h + 3) * shd + (size_t)d, a3);
        }
        for (; h < group; ++h) {
            const float *w = sc + (size_t)h * nk;
            __m256 a = _mm256_setzero_ps();
            for (p = 0; p < n_kv; ++p)
                a = _mm256_fmadd_ps(_mm256_broadcast_ss(w + p), _mm256_loadu_ps(v + (size_t)p * kvd + (size_t)d), a);
            _mm256_storeu_ps(out + (size_t)h * shd + (size_t)d, a);
        }
    }
    for (h = 0; h < group; ++h)
        for (d = hd8; d < hd; ++d) {
            const float *w = sc + (size_t)h * nk;
            float r = 0.0f;
            for (p = 0; p < n_kv; ++p) r += w[p] * v[(size_t)p * kvd + (size_t)d];
            out[(size_t)h * shd + (size_t)d] = r;
        }
}

static void pick_vector(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        attn_group = attn_group_avx2;
        gate_rows = gate_rows_avx2;
        rmsnorm = rmsnorm_avx2;
    }
}
#else
static void pick_vector(void) {}
#endif

typedef struct attn_job { const bn_model *m; bn_state *st; int layer, batch, pos0; } attn_job;

/* causal attention over units (token t, kv head): a unit costs about pos0 + t + 1 key
   rows, so each thread takes the units whose running cost starts in its 1/nt share */
static void attn_run(void *arg, int tid, int nt)
{
    attn_job *j = (attn_job *)arg;
    const bn_model *m = j->m;
    bn_state *st = j->st;
    int hd = m->head_dim, nkvh = m->n_head_kv, kvd = nkvh * hd, group = m->n_head / nkvh, qd = m->n_head * hd;
    float *sc = st->scores + (size_t)tid * (size_t)group * (size_t)st->cap_ctx;
    const float *kc = st->kc + (size_t)j->layer * (size_t)st->cap_ctx * (size_t)kvd;
    const float *vc = st->vc + (size_t)j->layer * (size_t)st->cap_ctx * (size_t)kvd;
    float kq_scale = 1.0f / sqrtf((float)hd);
    long long total = 0, run = 0;
    int t, g;
    for (t = 0; t < j->batch; ++t) total += (long long)(j->pos0 + t + 1) * nkvh;
    for (t = 0; t < j->batch; ++t) {
        int n_kv = j->pos0 + t + 1;
        for (g = 0; g < nkvh; ++g, run += n_kv) {
            size_t qo = (size_t)t * (size_t)qd + (size_t)g * (size_t)group * (size_t)hd;
            if (run * nt / total != tid) continue;
            attn_group(st->q + qo, kc + (size_t)g * (size_t)hd, vc + (size_t)g * (size_t)hd, (size_t)kvd, n_kv, hd,
                       group, kq_scale, sc, st->att + qo);
        }
    }
}

typedef struct head_run_job { const bn_model *m; bn_state *st; int batch; } head_run_job;

static void head_run(void *arg, int tid, int nt)
{
    head_run_job *j = (head_run_job *)arg;
    const bn_model *m = j->m;
    bn_state *st = j->st;
    int b, e, v, t, i, n = m->n_embd;
    split(m->n_vocab, 64, tid, nt, &b, &e);
    for (t = 0; t < j->batch; ++t) {
        const float *x = st->xn + (size_t)t * (size_t)n;
        float *lg = st->logits + (size_t)t * (size_t)m->n_vocab;
        if (m->head_f) {
            for (v = b; v < e; ++v) {
                const float *w = m->head_f + (size_t)v * (size_t)n;
                float s = 0.0f;
                for (i = 0; i < n; ++i) s += w[i] * x[i];
                lg[v] = s;
            }
        } else {
            const int8_t *xq = st->xq + (size_t)t * (size_t)n;
            for (v = b; v < e; ++v) {
                lg[v] = (float)dot_i8(m->head_q + (size_t)v * (size_t)n, xq, n) * m->head_scale[v] * st->xs[t];
            }
        }
    }
}

/* ---- per-token stages between the matrix products, tokens split over the threads (a
   token's result does not depend on the split) */
enum { TJ_ROPE, TJ_SUBNORM, TJ_FFN_NORM, TJ_ACT, TJ_RESID_NEXT };
typedef struct tok_job {
    const bn_model *m;
    bn_state *st;
    const bn_layer *L, *next;   /* this layer; the next one (NULL after the last) */
    int kind, batch, layer;
} tok_job;

static void add_rows(float *x, const float *y, int n)
{
    int i, k;
    for (i = 0; i + 8 <= n; i += 8)
        for (k = 0; k < 8; ++k) x[i + k] += y[i + k];
    for (; i < n; ++i) x[i] += y[i];
}

static void tok_run(void *arg, int tid, int nt)
{
    tok_job *j = (tok_job *)arg;
    const bn_model *m = j->m;
    bn_state *st = j->st;
    size_t H = (size_t)m->n_embd, hd = (size_t)m->head_dim, qd = (size_t)m->n_head * hd;
    size_t kvd = (size_t)m->n_head_kv * hd, F = (size_t)m->n_ff;
    int b, e, t;
    split(j->batch, 1, tid, nt, &b, &e);
    for (t = b; t < e; ++t) {
        size_t tt = (size_t)t;
        switch (j->kind) {
        case TJ_ROPE: {
            const float *cs = st->rope_cs + tt * (size_t)m->n_rot;
            float *kc = st->kc + ((size_t)j->layer * (size_t)st->cap_ctx + (size_t)st->pos0 + tt) * kvd;
            rope(st->q + tt * qd, m->n_head, m->head_dim, m->n_rot, cs, m->llama);
            rope(kc, m->n_head_kv, m->head_dim, m->n_rot, cs, m->llama);
            break;
        }
        case TJ_SUBNORM:
            rmsnorm(st->att + tt * qd, j->L->attn_sub_norm, (int)qd, m->eps, st->att + tt * qd);
            break;
        case TJ_FFN_NORM:
            add_rows(st->x + tt * H, st->xn + tt * H, (int)H);
            rmsnorm(st->x + tt * H, j->L->ffn_norm, (int)H, m->eps, st->xn + tt * H);
            break;
        case TJ_ACT:
            gate_rows(st->g + tt * F, st->u + tt * F, (int)F, m->relu_sqr);
            if (j->L->ffn_sub_norm) rmsnorm(st->g + tt * F, j->L->ffn_sub_norm, (int)F, m->eps, st->g + tt * F);
            break;
        case TJ_RESID_NEXT:
            if (j->L) add_rows(st->x + tt * H, st->xn + tt * H, (int)H);
            if (j->next) rmsnorm(st->x + tt * H, j->next->attn_norm, (int)H, m->eps, st->xn + tt * H);
            break;
        default:
            break;
        }
    }
}

static void tokens_run(bn_pool *pool, tok_job *j, int kind, int stage)
{
    j->kind = kind;
    if (j->batch > 1) pool_run(pool, tok_run, j);
    else tok_run(j, 0, 1);
    prof_mark(stage);
}

/* tokens[batch] at positions pos0.. -> logits of the last token, or of every token */
static void forward(const bn_model *m, bn_state *st, bn_pool *pool, const int *tokens, int batch, int pos0,
                    int all_logits)
{
    int H = m->n_embd, kvd = m->n_head_kv * m->head_dim, l, t, i;
    tok_job tj;
    prof_mark(-1);
    st->pos0 = pos0;
    for (t = 0; t < batch; ++t) {
        if (tensor_row(m, m->tok_embd, tokens[t], st->x + (size_t)t * (size_t)H) != BL_OK)
            die("cannot read a token embedding%s%s", "", "");
        rope_table(st->rope_cs + (size_t)t * (size_t)m->n_rot, m->n_rot, pos0 + t, m->rope_base);
    }
    prof_mark(P_EMBD);
    tj.m = m; tj.st = st; tj.batch = batch; tj.layer = 0;
    tj.L = NULL; tj.next = &m->layers[0];
    tokens_run(pool, &tj, TJ_RESID_NEXT, P_NORM);
    for (l = 0; l < m->n_layer; ++l) {
        const bn_layer *L = &m->layers[l];
        float *kc = st->kc + ((size_t)l * (size_t)st->cap_ctx + (size_t)pos0) * (size_t)kvd;
        float *vc = st->vc + ((size_t)l * (size_t)st->cap_ctx + (size_t)pos0) * (size_t)kvd;
        attn_job aj;
        tj.L = L; tj.next = l + 1 < m->n_layer ? &m->layers[l + 1] : NULL; tj.layer = l;
        {
            bl_linear *mats[3];
            float *ys[3];
            float sc[3];
            mats[0] = L->m[M_Q]; mats[1] = L->m[M_K]; mats[2] = L->m[M_V];
            ys[0] = st->q; ys[1] = kc; ys[2] = vc;   /* K and V land in the cache directly */
            sc[0] = L->mscale[M_Q]; sc[1] = L->mscale[M_K]; sc[2] = L->mscale[M_V];
            matmul(pool, st, batch, st->xn, 3, mats, ys, sc, P_QKV);
        }
        tokens_run(pool, &tj, TJ_ROPE, P_ROPE);
        aj.m = m; aj.st = st; aj.layer = l; aj.batch = batch; aj.pos0 = pos0;
        pool_run(pool, attn_run, &aj);
        prof_mark(P_ATTN);
        if (L->attn_sub_norm) tokens_run(pool, &tj, TJ_SUBNORM, P_NORM);
        {
            bl_linear *mats[1];
            float *ys[1];
            float sc[1];
            mats[0] = L->m[M_O]; ys[0] = st->xn; sc[0] = L->mscale[M_O];
            matmul(pool, st, batch, st->att, 1, mats, ys, sc, P_O);
        }
        tokens_run(pool, &tj, TJ_FFN_NORM, P_NORM);
        {
            bl_linear *mats[2];
            float *ys[2];
            float sc[2];
            mats[0] = L->m[M_GATE]; mats[1] = L->m[M_UP];
            ys[0] = st->g; ys[1] = st->u;
            sc[0] = L->mscale[M_GATE]; sc[1] = L->mscale[M_UP];
            matmul(pool, st, batch, st->xn, 2, mats, ys, sc, P_GATEUP);
        }
        tokens_run(pool, &tj, TJ_ACT, P_ACT);
        {
            bl_linear *mats[1];
            float *ys[1];
            float sc[1];
            mats[0] = L->m[M_DOWN]; ys[0] = st->xn; sc[0] = L->mscale[M_DOWN];
            matmul(pool, st, batch, st->g, 1, mats, ys, sc, P_DOWN);
        }
        tokens_run(pool, &tj, TJ_RESID_NEXT, P_RESID);
    }
    {
        int first = all_logits ? 0 : batch - 1, nb = batch - first;
        head_run_job hj;
        for (t = 0; t < nb; ++t) {
            float *xn = st->xn + (size_t)t * H;
            rmsnorm(st->x + (size_t)(first + t) * H, m->output_norm, H, m->eps, xn);
            if (!m->head_f) {
                float amax = 0.0f, inv;
                for (i = 0; i < H; ++i) amax = fabsf(xn[i]) > amax ? fabsf(xn[i]) : amax;
                st->xs[t] = amax / 127.0f;
                inv = amax > 0.0f ? 127.0f / amax : 0.0f;
                for (i = 0; i < H; ++i) st->xq[(size_t)t * H + (size_t)i] = round_i8(xn[i] * inv);
            }
        }
        prof_mark(P_HEADQ);
        hj.m = m; hj.st = st; hj.batch = nb;
        pool_run(pool, head_run, &hj);
        prof_mark(P_HEAD);
    }
}

static void state_free(bn_state *st)
{
    int i;
    free(st->x); free(st->xn); free(st->q); free(st->att); free(st->g); free(st->u); free(st->logits);
    free(st->kc); free(st->vc); free(st->scores); free(st->rope_cs); free(st->xq); free(st->xs);
    for (i = 0; i < 3; ++i) free(st->in[i]);
}

/* a zero into one byte of every page (through a volatile pointer, so that the store
   stays); the buffers given are calloc-ed or not read before they are written */
static void prefault(void *p, size_t n)
{
    volatile unsigned char *b = (volatile unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i += 4096) b[i] = 0;
}

static void state_init(bn_state *st, const bn_model *m, int cap_tokens, int cap_ctx, int nthreads)
{
    size_t H = (size_t)m->n_embd, qd = (size_t)(m->n_head * m->head_dim), kvd = (size_t)(m->n_head_kv * m->head_dim);
    size_t F = (size_t)m->n_ff, T = (size_t)cap_tokens;
    int l, k, i;
    st->cap_tokens = cap_tokens;
    st->cap_ctx = cap_ctx;
    st->x = (float *)xmalloc(sizeof(float) * T * H);
    st->xn = (float *)xmalloc(sizeof(float) * T * H);
    st->q = (float *)xmalloc(sizeof(float) * T * qd);
    st->att = (float *)xmalloc(sizeof(float) * T * qd);
    st->g = (float *)xmalloc(sizeof(float) * T * F);
    st->u = (float *)xmalloc(sizeof(float) * T * F);
    st->logits = (float *)xmalloc(sizeof(float) * T * (size_t)m->n_vocab);
    st->kc = (float *)xcalloc((size_t)m->n_layer * (size_t)cap_ctx * kvd, sizeof(float));
    st->vc = (float *)xcalloc((size_t)m->n_layer * (size_t)cap_ctx * kvd, sizeof(float));
    st->scores = (float *)xmalloc(sizeof(float) * (size_t)nthreads * (size_t)(m->n_head / m->n_head_kv) *
                                  (size_t)cap_ctx);
    st->rope_cs = (float *)xmalloc(sizeof(float) * T * (size_t)(m->n_rot > 0 ? m->n_rot : 1));
    st->xq = (int8_t *)xmalloc(T * H);
    st->xs = (float *)xmalloc(sizeof(float) * T);
    st->in_size = 0;
    for (l = 0; l < m->n_layer; ++l)
        for (k = 0; k < M_COUNT; ++k) {
            size_t s = bl_linear_input_size(m->layers[l].m[k], cap_tokens);
            if (s > st->in_size) st->in_size = s;
        }
    for (i = 0; i < 3; ++i) st->in[i] = xmalloc(st->in_size);
    /* every page the forward pass writes is mapped now, not at its first write in the prompt */
    prefault(st->x, sizeof(float) * T * H); prefault(st->xn, sizeof(float) * T * H);
    prefault(st->q, sizeof(float) * T * qd); prefault(st->att, sizeof(float) * T * qd);
    prefault(st->g, sizeof(float) * T * F); prefault(st->u, sizeof(float) * T * F);
    prefault(st->logits, sizeof(float) * (size_t)m->n_vocab);
    prefault(st->kc, sizeof(float) * (size_t)m->n_layer * (size_t)cap_ctx * kvd);
    prefault(st->vc, sizeof(float) * (size_t)m->n_layer * (size_t)cap_ctx * kvd);
    for (i = 0; i < 3; ++i) prefault(st->in[i], st->in_size);
}

/* ==== sampling ========================================================================== */
static uint64_t rng_state = 0x853C49E6748FEA9Bull;

static double rng_uniform(void)
{
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static int argmax(const float *x, int n)
{
    int i, best = 0;
    for (i = 1; i < n; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct prob_idx { float p; int i; } prob_idx;
static int prob_cmp(const void *a, const void *b)
{
    float pa = ((const prob_idx *)a)->p, pb = ((const prob_idx *)b)->p;
    return pa > pb ? -1 : pa < pb ? 1 : 0;
}

/* temperature, then nucleus (top-p) sampling */
static int sample(const float *logits, int n, float temp, float top_p, prob_idx *buf)
{
    float mx;
    double sum = 0, cum = 0, r;
    int i, keep;
    if (temp <= 0.0f) return argmax(logits, n);
    mx = logits[argmax(logits, n)];
    for (i = 0; i < n; ++i) { buf[i].p = expf((logits[i] - mx) / temp); buf[i].i = i; sum += buf[i].p; }
    qsort(buf, (size_t)n, sizeof *buf, prob_cmp);
    for (keep = 0; keep < n; ++keep) {
        cum += buf[keep].p / sum;
        if (cum >= top_p) { ++keep; break; }
    }
    if (keep > n) keep = n;
    for (sum = 0, i = 0; i < keep; ++i) sum += buf[i].p;
    r = rng_uniform() * sum;
    for (i = 0; i < keep; ++i) {
        r -= buf[i].p;
        if (r <= 0) return buf[i].i;
    }
    return buf[keep - 1].i;
}

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kb;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bitnet MODEL.gguf [-p PROMPT] [-n TOKENS] [-t THREADS] [--temp T] [--top-p P]\n"
               "                         [--seed S] [--chat] [--dump-logits FILE]\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL, *prompt = "", *dump_path = NULL;
    int n_gen = 64, nthreads = 1, chat = 0, i;
    float temp = 0.8f, top_p = 0.95f;
    unsigned long long seed = 0;
    int seed_set = 0;
    int fd;
    struct stat sb;
    void *map;
    bl_gguf *g;
    bl_status st;
    bn_pool pool;
    bn_model m;
    bn_tok tok;
    bn_state state;
    tokvec ids = { NULL, 0, 0 };
    FILE *dump = NULL;
    double t0 = now_s(), t_load, t_prompt = 0, t_gen = 0;
    int n_prompt, n_done = 0, pos, next;
    prob_idx *pbuf;
    char *text = NULL;

    for (i = 1; i < argc; ++i) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        else if (strcmp(a, "-p") == 0 && has) prompt = argv[++i];
        else if (strcmp(a, "-n") == 0 && has) n_gen = atoi(argv[++i]);
        else if (strcmp(a, "-t") == 0 && has) nthreads = atoi(argv[++i]);
        else if (strcmp(a, "--temp") == 0 && has) temp = (float)atof(argv[++i]);
        else if (strcmp(a, "--top-p") == 0 && has) top_p = (float)atof(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && has) { seed = strtoull(argv[++i], NULL, 10); seed_set = 1; }
        else if (strcmp(a, "--chat") == 0) chat = 1;
        else if (strcmp(a, "--dump-logits") == 0 && has) dump_path = argv[++i];
        else if (a[0] != '-' && !path) path = a;
        else { usage(stderr); return 2; }
    }
    if (!path) { usage(stderr); return 2; }
    if (n_gen < 0) n_gen = 0;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > BN_MAX_THREADS) nthreads = BN_MAX_THREADS;
    if (!(top_p > 0.0f) || top_p > 1.0f) top_p = 1.0f;
    rng_state ^= seed_set ? seed * 0x9E3779B97F4A7C15ull + 1 : (unsigned long long)time(NULL);

    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0) die("cannot open %s: %s", path, strerror(errno));
    if (sb.st_size == 0) die("%s: empty file%s", path, "");
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) die("cannot map %s: %s", path, strerror(errno));
    close(fd);
    st = bl_gguf_open(map, (size_t)sb.st_size, &g);
    if (st != BL_OK) die("%s: not a valid GGUF file (%s)", path, bl_status_string(st));
    g_file = g;
    if (dump_path && !(dump = fopen(dump_path, "wb"))) die("cannot write %s: %s", dump_path, strerror(errno));

    pick_dot();
    pick_vector();
    pool_start(&pool, nthreads);
    /* the head: at most n_vocab x n_embd floats; the token embedding's row count and width
       are read again, checked, by load_model */
    if (!getenv("BITNET_HUGEPAGES") || strcmp(getenv("BITNET_HUGEPAGES"), "0") != 0)
        arena_reserve((size_t)sb.st_size + head_bytes_bound(g));
    load_model(&m, &pool);
    load_tokenizer(&tok);
    if (tok.n < m.n_vocab) die("the vocabulary is smaller than token_embd%s%s", "", "");
    /* the imported layers and the head are copies: let the kernel drop the file's pages
       (the tokenizer and embedding rows fault back in as they are read) */
    madvise(map, (size_t)sb.st_size, MADV_DONTNEED);

    if (chat) {
        /* BitNet b1.58 2B4T's template (llama.cpp's LLM_CHAT_TEMPLATE_BITNET) */
        size_t n = strlen(prompt) + 64;
        text = (char *)xmalloc(n);
        snprintf(text, n, "User: %s<|eot_id|>Assistant: ", prompt);
        prompt = text;
    }
    tokenize(&tok, prompt, tok.add_bos, &ids);
    if (ids.n == 0) tv_push(&ids, tok.bos >= 0 ? tok.bos : 0);
    n_prompt = ids.n;
    if (getenv("BITNET_TOKENS")) {   /* for tests: the prompt's token ids on stderr */
        fprintf(stderr, "tokens:");
        for (i = 0; i < ids.n; ++i) fprintf(stderr, " %d", ids.v[i]);
        fprintf(stderr, "\n");
    }
    for (i = 0; i < ids.n; ++i) {
        if (ids.v[i] < 0) die("the prompt has a byte that the vocabulary has no token for%s%s", "", "");
        if (ids.v[i] >= m.n_vocab) die("the prompt has a token outside the model's vocabulary%s%s", "", "");
    }
    {
        int cap = n_prompt + n_gen + 1;
        if (cap > m.n_ctx) {
            fprintf(stderr, "bitnet: prompt + tokens exceed the context (%d); generating fewer\n", m.n_ctx);
            if (n_prompt >= m.n_ctx) die("the prompt is longer than the context%s%s", "", "");
            n_gen = m.n_ctx - n_prompt;
            cap = m.n_ctx;
        }
        state_init(&state, &m, n_prompt, cap, nthreads);
    }
    pbuf = (prob_idx *)xmalloc(sizeof(prob_idx) * (size_t)m.n_vocab);
    t_load = now_s() - t0;

    /* prompt: one batch through each layer */
    g_prof = getenv("BITNET_PROFILE") != NULL;
    t0 = now_s();
    forward(&m, &state, &pool, ids.v, n_prompt, 0, dump != NULL);
    t_prompt = now_s() - t0;
    if (g_prof) {
        double tot = 0;
        g_prof = 0;
        for (i = 0; i < P_COUNT; ++i) tot += prof_t[i];
        fprintf(stderr, "bitnet: prompt profile, %d tokens, %.3f s in stages:\n", n_prompt, tot);
        for (i = 0; i < P_COUNT; ++i)
            fprintf(stderr, "  %-26s %8.1f ms %5.1f%%\n", prof_names[i], 1e3 * prof_t[i],
                    tot > 0 ? 100.0 * prof_t[i] / tot : 0.0);
        {
            double mm = prof_t[P_QKV] + prof_t[P_O] + prof_t[P_GATEUP] + prof_t[P_DOWN];
            fprintf(stderr, "  %-26s %8.1f ms %5.1f%%\n", "all matrix products", 1e3 * mm, tot > 0 ? 100.0 * mm / tot : 0.0);
        }
    }
    if (dump && fwrite(state.logits, sizeof(float) * (size_t)m.n_vocab, (size_t)n_prompt, dump) != (size_t)n_prompt)
        die("cannot write %s: %s", dump_path, strerror(errno));
    for (i = 0; i < n_prompt; ++i) {
        char b[256];
        emit(b, token_bytes(&tok, ids.v[i], b, sizeof b));
    }
    next = sample(state.logits + (size_t)(dump ? n_prompt - 1 : 0) * (size_t)m.n_vocab, m.n_vocab, temp, top_p, pbuf);

    /* generation: one token at a time */
    t0 = now_s();
    pos = n_prompt;
    while (n_done < n_gen) {
        char b[256];
        emit(b, token_bytes(&tok, next, b, sizeof b));
        ++n_done;
        forward(&m, &state, &pool, &next, 1, pos++, 0);
        if (dump && fwrite(state.logits, sizeof(float) * (size_t)m.n_vocab, 1, dump) != 1)
            die("cannot write %s: %s", dump_path, strerror(errno));
        if (is_eog(&tok, next)) break;
        next = sample(state.logits, m.n_vocab, temp, top_p, pbuf);
    }
    t_gen = now_s() - t0;
    if (out_npending) { fwrite(out_pending, 1, out_npending, stdout); out_npending = 0; }
    printf("\n");
    fflush(stdout);
    if (dump && fclose(dump) != 0) die("cannot write %s: %s", dump_path, strerror(errno));

    fprintf(stderr, "\nbitnet: %s, %d layers, %d hidden, vocab %d; %d ternary matrices imported exactly, "
                    "%d re-quantized, %d quantized from float; head %s; %s backend, %d thread%s\n",
            g_arch, m.n_layer, m.n_embd, m.n_vocab, m.imported[0], m.imported[1], m.imported[2],
            m.head_f ? "f32" : "int8 per row", bl_backend_name(bl_get_backend()), nthreads, nthreads == 1 ? "" : "s");
    fprintf(stderr, "bitnet: load %.2f s, resident memory %.1f MiB, weights read per token %.1f MiB\n", t_load,
            (double)vm_rss_kb() / 1024.0, (double)m.weight_bytes / 1048576.0);
    fprintf(stderr, "bitnet: prompt %d tokens in %.3f s (%.2f tok/s), generation %d tokens in %.3f s (%.2f tok/s)\n",
            n_prompt, t_prompt, n_prompt / (t_prompt > 0 ? t_prompt : 1e-9), n_done, t_gen,
            n_done / (t_gen > 0 ? t_gen : 1e-9));
    pool_stop(&pool);
    state_free(&state);
    free_model(&m);
    free_tokenizer(&tok);
    bl_gguf_close(g);
    munmap(map, (size_t)sb.st_size);
    free(ids.v);
    free(pbuf);
    free(text);
    return 0;
}
