/* llama.cpp as an outside oracle for examples/bitnet.c: loads a GGUF model through
   libllama (the npm package @node-llama-cpp/linux-x64, see tools/llama_libs.sh) with
   ggml's generic x86-64 CPU backend only, an F32 KV cache and flash attention off.

     llama_oracle LIBDIR tokenize MODEL STRINGS      one line of ids per string (strings
                                                     separated by NUL bytes in the file)
     llama_oracle LIBDIR logits MODEL PROMPT N OUT   logits of every prompt position, then
                                                     greedy N tokens, rows as --dump-logits
     llama_oracle LIBDIR bench MODEL PROMPT N THREADS  prompt and generation tokens/s
                                                     (with LLAMA_ORACLE_BEST_CPU set: ggml's
                                                     best CPU variant for this machine)

   libllama ships without headers: the few functions and the two parameter structs used
   here are declared by hand from llama.h (include/llama.h of llama.cpp at the commit the
   package was built from, 0ad4a86: llama_context_params gained n_rs_seq, n_outputs_max
   and n_outputs_max_per_seq after n_seq_max). Their layout is checked at start against
   the documented defaults of llama_context_default_params(); a mismatch stops the run. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int32_t llama_token;
typedef int32_t llama_pos;
typedef int32_t llama_seq_id;
struct llama_model;
struct llama_context;
struct llama_vocab;

/* llama.h: struct llama_context_params (fields up to the booleans; the tail is kept
   as it comes from llama_context_default_params) */
struct llama_context_params {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
    int32_t n_threads, n_threads_batch;
    int32_t ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;
    float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float defrag_thold;
    void *cb_eval, *cb_eval_user_data;
    int32_t type_k, type_v;                 /* enum ggml_type: 0 = F32, 1 = F16 */
    void *abort_callback, *abort_callback_data;
    unsigned char tail[256];                /* booleans and later fields, passed through */
};
/* llama.h: struct llama_model_params, passed through unchanged (n_gpu_layers at 16) */
struct llama_model_params { unsigned char bytes[512]; };

struct llama_batch {
    int32_t n_tokens;
    llama_token *token;
    float *embd;
    llama_pos *pos;
    int32_t *n_seq_id;
    llama_seq_id **seq_id;
    int8_t *logits;
};

struct llama_model_params llama_model_default_params(void);
struct llama_context_params llama_context_default_params(void);
void llama_backend_init(void);
void llama_log_set(void (*cb)(int level, const char *text, void *user), void *user);
struct llama_model *llama_model_load_from_file(const char *path, struct llama_model_params params);
void llama_model_free(struct llama_model *model);
struct llama_context *llama_init_from_model(struct llama_model *model, struct llama_context_params params);
void llama_free(struct llama_context *ctx);
const struct llama_vocab *llama_model_get_vocab(const struct llama_model *model);
int32_t llama_vocab_n_tokens(const struct llama_vocab *vocab);
int32_t llama_tokenize(const struct llama_vocab *vocab, const char *text, int32_t text_len, llama_token *tokens,
                       int32_t n_tokens_max, unsigned char add_special, unsigned char parse_special);
struct llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
void llama_batch_free(struct llama_batch batch);
int32_t llama_decode(struct llama_context *ctx, struct llama_batch batch);
float *llama_get_logits_ith(struct llama_context *ctx, int32_t i);
void *ggml_backend_load(const char *path);
void ggml_backend_load_all_from_path(const char *dir);
size_t ggml_backend_reg_count(void);

static int verbose;
static void quiet_log(int level, const char *text, void *user)
{
    (void)user;
    if (verbose || level >= 4) fputs(text, stderr);  /* GGML_LOG_LEVEL_ERROR = 4 */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_layout(void)
{
    struct llama_context_params c = llama_context_default_params();
    struct llama_model_params m = llama_model_default_params();
    int32_t ngl;
    memcpy(&ngl, m.bytes + 16, 4);
    if (c.n_ctx != 512 || c.n_batch != 2048 || c.n_ubatch != 512 || c.n_seq_max != 1 || c.n_rs_seq != 0 ||
        c.n_outputs_max != 0 || c.n_outputs_max_per_seq != 1 || c.n_threads != 4 || c.n_threads_batch != 4 ||
        c.rope_scaling_type != -1 || c.flash_attn_type != -1 || c.rope_freq_base != 0.0f ||
        c.yarn_ext_factor != -1.0f || c.type_k != 1 || c.type_v != 1 || ngl != -1) {
        fprintf(stderr, "llama_oracle: libllama's parameter structs do not have the layout declared here\n");
        exit(3);
    }
}

static struct llama_model *g_model;
static struct llama_context *g_ctx;
static const struct llama_vocab *g_vocab;

static void open_model(const char *path, int n_ctx, int threads)
{
    struct llama_context_params c = llama_context_default_params();
    g_model = llama_model_load_from_file(path, llama_model_default_params());
    if (!g_model) { fprintf(stderr, "llama_oracle: libllama cannot load %s\n", path); exit(1); }
    g_vocab = llama_model_get_vocab(g_model);
    c.n_ctx = (uint32_t)n_ctx;
    c.n_batch = c.n_ubatch = (uint32_t)n_ctx;
    c.n_outputs_max = c.n_outputs_max_per_seq = (uint32_t)n_ctx;   /* logits of every position */
    c.n_threads = c.n_threads_batch = threads;
    c.flash_attn_type = 0;                    /* LLAMA_FLASH_ATTN_TYPE_DISABLED */
    c.type_k = c.type_v = 0;                  /* GGML_TYPE_F32 */
    g_ctx = llama_init_from_model(g_model, c);
    if (!g_ctx) { fprintf(stderr, "llama_oracle: cannot create a context\n"); exit(1); }
}

static int tokenize(const char *s, size_t len, llama_token *out, int cap)
{
    int n = llama_tokenize(g_vocab, s, (int32_t)len, out, cap, 1, 1);
    if (n < 0) { fprintf(stderr, "llama_oracle: tokenize failed\n"); exit(1); }
    return n;
}

static void decode(const llama_token *t, int n, int pos0, int all_logits)
{
    struct llama_batch b = llama_batch_init(n, 0, 1);
    int i;
    for (i = 0; i < n; ++i) {
        b.token[i] = t[i];
        b.pos[i] = pos0 + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = (int8_t)(all_logits || i == n - 1);
    }
    b.n_tokens = n;
    if (llama_decode(g_ctx, b) != 0) { fprintf(stderr, "llama_oracle: llama_decode failed\n"); exit(1); }
    llama_batch_free(b);
}

static int argmax(const float *x, int n)
{
    int i, b = 0;
    for (i = 1; i < n; ++i)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc < 4) { fprintf(stderr, "usage: see the top of tests/llama_oracle.c\n"); return 2; }
    verbose = getenv("LLAMA_ORACLE_VERBOSE") != NULL;
    llama_log_set(quiet_log, NULL);
    /* only the generic x86-64 CPU variant: results must not depend on this machine's ISA.
       The benchmark sets LLAMA_ORACLE_BEST_CPU: then ggml picks the variant that scores
       best on this CPU (ggml_backend_load_all_from_path), as llama.cpp users get it. */
    snprintf(path, sizeof path, "%s/libggml-cpu-x64.so", argv[1]);
    if (getenv("LLAMA_ORACLE_BEST_CPU")) ggml_backend_load_all_from_path(argv[1]);
    else if (!ggml_backend_load(path)) ggml_backend_reg_count();
    if (ggml_backend_reg_count() == 0) {
        fprintf(stderr, "llama_oracle: cannot load %s\n", path);
        return 1;
    }
    llama_backend_init();
    check_layout();
    if (strcmp(argv[2], "tokenize") == 0 && argc == 5) {
        FILE *f = fopen(argv[4], "rb");
        static char buf[1 << 20];
        static llama_token ids[1 << 16];
        size_t n, i = 0;
        if (!f) return 1;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        open_model(argv[3], 64, 1);
        while (i < n) {
            size_t len = strlen(buf + i);
            int k, m = tokenize(buf + i, len, ids, 1 << 16);
            for (k = 0; k < m; ++k) printf(k ? " %d" : "%d", ids[k]);
            printf("\n");
            i += len + 1;
        }
    } else if (strcmp(argv[2], "logits") == 0 && argc == 7) {
        const char *prompt = argv[4];
        int n_gen = atoi(argv[5]), n, i, V;
        llama_token *ids = (llama_token *)malloc(sizeof(llama_token) * (strlen(prompt) + 8 + (size_t)n_gen));
        FILE *out = fopen(argv[6], "wb");
        if (!ids || !out) return 1;
        open_model(argv[3], 512, 1);
        V = llama_vocab_n_tokens(g_vocab);
        n = tokenize(prompt, strlen(prompt), ids, (int)strlen(prompt) + 8);
        decode(ids, n, 0, 1);
        for (i = 0; i < n; ++i) fwrite(llama_get_logits_ith(g_ctx, i), sizeof(float), (size_t)V, out);
        for (i = 0; i < n; ++i) printf(i ? " %d" : "%d", ids[i]);
        printf(" |");
        for (i = 0; i < n_gen; ++i) {
            llama_token t = argmax(llama_get_logits_ith(g_ctx, -1), V);
            printf(" %d", t);
            decode(&t, 1, n + i, 1);
            fwrite(llama_get_logits_ith(g_ctx, -1), sizeof(float), (size_t)V, out);
        }
        printf("\n");
        fclose(out);
    } else if (strcmp(argv[2], "bench") == 0 && argc == 7) {
        const char *prompt = argv[4];
        int n_gen = atoi(argv[5]), threads = atoi(argv[6]), n, i, V;
        llama_token *ids = (llama_token *)malloc(sizeof(llama_token) * (strlen(prompt) + 8));
        double t0, tp, tg;
        if (!ids) return 1;
        open_model(argv[3], 1024, threads);
        V = llama_vocab_n_tokens(g_vocab);
        n = tokenize(prompt, strlen(prompt), ids, (int)strlen(prompt) + 8);
        t0 = now_s();
        decode(ids, n, 0, 0);
        tp = now_s() - t0;
        t0 = now_s();
        for (i = 0; i < n_gen; ++i) {
            llama_token t = argmax(llama_get_logits_ith(g_ctx, -1), V);
            decode(&t, 1, n + i, 0);
        }
        tg = now_s() - t0;
        printf("llama.cpp: prompt %d tokens %.2f tok/s, generation %d tokens %.2f tok/s, %d thread%s\n", n, n / tp,
               n_gen, n_gen / tg, threads, threads == 1 ? "" : "s");
    } else {
        fprintf(stderr, "usage: see the top of tests/llama_oracle.c\n");
        return 2;
    }
    llama_free(g_ctx);
    llama_model_free(g_model);
    return 0;
}
