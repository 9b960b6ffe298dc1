/* transformer: one GPT-2-small-shaped block (d_model 768, 12 heads, d_ff 3072) in plain C,
   its six linear layers (q, k, v, attention output, MLP up, MLP down) as float and as
   ternary bitlinear layers with k = 1, 2, 3 components. Prints how close the ternary
   block's output is to the float block's, the weight bytes, and the time per token.

       cc -O2 -I. examples/transformer.c -o transformer -lm && ./transformer [tokens]

   Weights are random (GPT-2's initialisation: N(0, 0.02), residual projections scaled by
   1/sqrt(2 * 12 layers)), so this measures the quantization error on Gaussian weights,
   not on a trained model. The float path is plain C loops (no BLAS). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#define D 768
#define HEADS 12
#define DH (D / HEADS)
#define FF 3072

enum { Q, K, V, O, UP, DOWN, NLIN };
static const int lin_in[NLIN] = { D, D, D, D, D, FF };
static const int lin_out[NLIN] = { D, D, D, D, FF, D };
static const char *lin_name[NLIN] = { "attn.q", "attn.k", "attn.v", "attn.out", "mlp.up", "mlp.down" };

typedef struct weights { float *w[NLIN], *b[NLIN]; } weights;

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static float gauss(void)
{
    double u, v;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    u = ((double)(rng_state >> 11) + 1.0) / 9007199254740993.0;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    v = (double)(rng_state >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static double now(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* y[t][o] = b[o] + sum_i x[t][i] w[o][i] */
static void float_linear(const float *w, const float *b, int in, int out, const float *x, int T, float *y)
{
    int t, o, i;
    for (t = 0; t < T; ++t)
        for (o = 0; o < out; ++o) {
            const float *wr = w + (size_t)o * in, *xt = x + (size_t)t * in;
            float acc = 0.0f;
            for (i = 0; i < in; ++i) acc += wr[i] * xt[i];
            y[(size_t)t * out + o] = acc + b[o];
        }
}

static void layer_norm(const float *x, int T, float *y)
{
    int t, i;
    for (t = 0; t < T; ++t) {
        const float *xt = x + (size_t)t * D;
        double mean = 0, var = 0;
        float inv;
        for (i = 0; i < D; ++i) mean += xt[i];
        mean /= D;
        for (i = 0; i < D; ++i) var += (xt[i] - mean) * (xt[i] - mean);
        inv = (float)(1.0 / sqrt(var / D + 1e-5));
        for (i = 0; i < D; ++i) y[(size_t)t * D + i] = (float)(xt[i] - mean) * inv;
    }
}

static float gelu(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))); }

/* causal multi-head attention over T tokens: q, k, v [T][D] -> out [T][D] */
static void attention(const float *q, const float *k, const float *v, int T, float *out, float *score)
{
    int h, t, s, i;
    const float scale = 1.0f / sqrtf((float)DH);
    for (h = 0; h < HEADS; ++h)
        for (t = 0; t < T; ++t) {
            float mx = -1e30f, sum = 0.0f;
            for (s = 0; s <= t; ++s) {
                float dot = 0.0f;
                for (i = 0; i < DH; ++i) dot += q[(size_t)t * D + h * DH + i] * k[(size_t)s * D + h * DH + i];
                score[s] = dot * scale;
                if (score[s] > mx) mx = score[s];
            }
            for (s = 0; s <= t; ++s) { score[s] = expf(score[s] - mx); sum += score[s]; }
            for (i = 0; i < DH; ++i) {
                float acc = 0.0f;
                for (s = 0; s <= t; ++s) acc += score[s] * v[(size_t)s * D + h * DH + i];
                out[(size_t)t * D + h * DH + i] = acc / sum;
            }
        }
}

typedef struct work { float *ln, *q, *k, *v, *att, *h, *ff, *score; } work;

/* x [T][D] -> y [T][D]; layers == NULL runs the float weights */
static int block(const weights *W, bl_linear *const *layers, const float *x, int T, float *y, work *w)
{
    float *outs[NLIN];
    const float *ins[NLIN];
    int j, i;
    outs[Q] = w->q; outs[K] = w->k; outs[V] = w->v; outs[O] = w->h; outs[UP] = w->ff; outs[DOWN] = w->h;
    layer_norm(x, T, w->ln);
    for (j = Q; j <= V; ++j) ins[j] = w->ln;
    ins[O] = w->att; ins[UP] = w->ln; ins[DOWN] = w->ff;
    for (j = Q; j <= V; ++j) {
        if (layers) { if (bl_linear_forward(layers[j], ins[j], T, outs[j], NULL) != BL_OK) return 0; }
        else float_linear(W->w[j], W->b[j], lin_in[j], lin_out[j], ins[j], T, outs[j]);
    }
    attention(w->q, w->k, w->v, T, w->att, w->score);
    if (layers) { if (bl_linear_forward(layers[O], w->att, T, w->h, NULL) != BL_OK) return 0; }
    else float_linear(W->w[O], W->b[O], D, D, w->att, T, w->h);
    for (i = 0; i < T * D; ++i) y[i] = x[i] + w->h[i];
    layer_norm(y, T, w->ln);
    if (layers) { if (bl_linear_forward(layers[UP], w->ln, T, w->ff, NULL) != BL_OK) return 0; }
    else float_linear(W->w[UP], W->b[UP], D, FF, w->ln, T, w->ff);
    for (i = 0; i < T * FF; ++i) w->ff[i] = gelu(w->ff[i]);
    if (layers) { if (bl_linear_forward(layers[DOWN], w->ff, T, w->h, NULL) != BL_OK) return 0; }
    else float_linear(W->w[DOWN], W->b[DOWN], FF, D, w->ff, T, w->h);
    for (i = 0; i < T * D; ++i) y[i] += w->h[i];
    return 1;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    size_t i;
    for (i = 0; i < n; ++i) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return ab / sqrt(aa * bb + 1e-300);
}

#define RUNS 3
static double median(double *t)
{
    double tmp;
    int a, b;
    for (a = 0; a < RUNS; ++a)
        for (b = a + 1; b < RUNS; ++b)
            if (t[b] < t[a]) { tmp = t[a]; t[a] = t[b]; t[b] = tmp; }
    return t[RUNS / 2];
}

/* the block over T tokens at once, per token, median of RUNS, in ms */
static double time_block(const weights *W, bl_linear *const *layers, const float *x, int T, float *y, work *w)
{
    double t[RUNS];
    int r;
    for (r = 0; r < RUNS; ++r) {
        double t0 = now();
        block(W, layers, x, T, y, w);
        t[r] = (now() - t0) * 1e3 / T;
    }
    return median(t);
}

/* the six linear layers at batch 1 (one decoding step), per token, median of RUNS, in ms */
static double time_gemv(const weights *W, bl_linear *const *layers, const float *x)
{
    static float in[FF], out[FF];
    double t[RUNS];
    int r, j;
    for (j = 0; j < FF; ++j) in[j] = x[j % D];
    for (r = 0; r < RUNS; ++r) {
        double t0 = now();
        int rep;
        for (rep = 0; rep < 4; ++rep)
            for (j = 0; j < NLIN; ++j) {
                if (layers) bl_linear_forward(layers[j], in, 1, out, NULL);
                else float_linear(W->w[j], W->b[j], lin_in[j], lin_out[j], in, 1, out);
            }
        t[r] = (now() - t0) * 1e3 / 4;
    }
    return median(t);
}

int main(int argc, char **argv)
{
    int T = argc > 1 ? atoi(argv[1]) : 32, j, k;
    weights W;
    work w;
    float *x, *y_ref, *y, *delta_ref, *delta;
    size_t float_bytes = 0, i;
    double t_float, g_float;
    char load_line[256] = "";
    if (T < 1 || T > 1024) { fprintf(stderr, "tokens must be 1..1024\n"); return 2; }
    for (j = 0; j < NLIN; ++j) {
        size_t n = (size_t)lin_in[j] * lin_out[j];
        float std = (j == O || j == DOWN) ? 0.02f / sqrtf(24.0f) : 0.02f;
        W.w[j] = (float *)malloc(n * sizeof(float));
        W.b[j] = (float *)malloc((size_t)lin_out[j] * sizeof(float));
        for (i = 0; i < n; ++i) W.w[j][i] = std * gauss();
        for (i = 0; i < (size_t)lin_out[j]; ++i) W.b[j][i] = 0.01f * gauss();
        float_bytes += (n + (size_t)lin_out[j]) * sizeof(float);
    }
    w.ln = (float *)malloc(sizeof(float) * T * D); w.q = (float *)malloc(sizeof(float) * T * D);
    w.k = (float *)malloc(sizeof(float) * T * D); w.v = (float *)malloc(sizeof(float) * T * D);
    w.att = (float *)malloc(sizeof(float) * T * D); w.h = (float *)malloc(sizeof(float) * T * D);
    w.ff = (float *)malloc(sizeof(float) * T * FF); w.score = (float *)malloc(sizeof(float) * T);
    x = (float *)malloc(sizeof(float) * T * D); y_ref = (float *)malloc(sizeof(float) * T * D);
    y = (float *)malloc(sizeof(float) * T * D);
    delta_ref = (float *)malloc(sizeof(float) * T * D); delta = (float *)malloc(sizeof(float) * T * D);
    for (i = 0; i < (size_t)T * D; ++i) x[i] = gauss();

    block(&W, NULL, x, T, y_ref, &w);
    for (i = 0; i < (size_t)T * D; ++i) delta_ref[i] = y_ref[i] - x[i];
    t_float = time_block(&W, NULL, x, T, y, &w);
    g_float = time_gemv(&W, NULL, x);

    printf("GPT-2-small block: d_model %d, %d heads, d_ff %d, %d tokens; backend %s; random N(0, 0.02) weights\n",
           D, HEADS, FF, T, bl_backend_name(bl_get_backend()));
    printf("cos(out): cosine similarity of the block outputs (residual included);\n"
           "cos(delta): of what the block adds to its input (output - input), the harder measure\n\n");
    printf("%-22s %12s %8s %9s %10s %14s %14s\n", "weights", "bytes", "vs fp32", "cos(out)", "cos(delta)",
           "block ms/tok", "GEMV ms/tok");
    printf("%-22s %12lu %7.1fx %9.6f %10.6f %14.3f %14.3f\n", "fp32 (plain C)", (unsigned long)float_bytes, 1.0,
           1.0, 1.0, t_float, g_float);
    for (k = 1; k <= 3; ++k) {
        bl_linear *layers[NLIN];
        size_t bytes = 0;
        char label[64];
        double c_out, c_delta, t_tern, g_tern;
        for (j = 0; j < NLIN; ++j) {
            bl_linear_desc d;
            memset(&d, 0, sizeof d);
            d.in_features = lin_in[j];
            d.out_features = lin_out[j];
            d.weight = W.w[j];
            d.bias = W.b[j];
            d.k = k;
            d.refine_iters = k > 1 ? 2 : 0;
            if (bl_linear_create(&d, &layers[j]) != BL_OK) { fprintf(stderr, "%s: create failed\n", lin_name[j]); return 1; }
            bytes += bl_linear_nbytes(layers[j]);
        }
        if (!block(&W, layers, x, T, y, &w)) { fprintf(stderr, "forward failed\n"); return 1; }
        for (i = 0; i < (size_t)T * D; ++i) delta[i] = y[i] - x[i];
        c_out = cosine(y, y_ref, (size_t)T * D);
        c_delta = cosine(delta, delta_ref, (size_t)T * D);
        t_tern = time_block(&W, layers, x, T, y, &w);
        g_tern = time_gemv(&W, layers, x);
        sprintf(label, "ternary k=%d (2bit,int8)", k);
        printf("%-22s %12lu %7.1fx %9.6f %10.6f %14.3f %14.3f\n", label, (unsigned long)bytes,
               (double)float_bytes / (double)bytes, c_out, c_delta, t_tern, g_tern);
        if (k == 1) { /* the six layers as one model file: how long a validated load takes */
            bl_model_entry e[NLIN];
            size_t size = 0;
            void *block;
            unsigned char *file;
            double t0, t_copy, t_view;
            int rep, reps = 20;
            bl_model *m = NULL;
            memset(e, 0, sizeof e);
            for (j = 0; j < NLIN; ++j) { e[j].name = lin_name[j]; e[j].layer = layers[j]; }
            bl_model_save(e, NLIN, NULL, 0, &size);
            block = malloc(size + 64);
            file = (unsigned char *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
            bl_model_save(e, NLIN, file, size, &size);
            t0 = now();
            for (rep = 0; rep < reps; ++rep) { bl_model_load(file, size, &m); bl_model_destroy(m); }
            t_copy = (now() - t0) * 1e3 / reps;
            t0 = now();
            for (rep = 0; rep < reps; ++rep) {
                bl_model_load_with(file, size, BL_MODEL_LOAD_VIEW, NULL, &m);
                bl_model_destroy(m);
            }
            t_view = (now() - t0) * 1e3 / reps;
            sprintf(load_line, "model file (k=1): %lu bytes; load with full validation: %.2f ms as a view "
                    "(%.1f GB/s), %.2f ms as a copy\n", (unsigned long)size, t_view, size / t_view / 1e6, t_copy);
            free(block);
        }
        for (j = 0; j < NLIN; ++j) bl_linear_destroy(layers[j]);
    }
    printf("\n%s", load_line);
    printf("\nblock ms/tok: the whole block over %d tokens at once (batched), per token;\n"
           "GEMV ms/tok: the six linear layers alone at batch 1 (one decoding step). CPU time (clock()), median of 3.\n", T);
    for (j = 0; j < NLIN; ++j) { free(W.w[j]); free(W.b[j]); }
    free(w.ln); free(w.q); free(w.k); free(w.v); free(w.att); free(w.h); free(w.ff); free(w.score);
    free(x); free(y_ref); free(y); free(delta_ref); free(delta);
    return 0;
}
