/* train_mlp: trains the same small MLP twice on the 8x8 handwritten digits (1797 images,
   sklearn's copy from Debian's python3-sklearn), once in float and once with ternary
   layers (quantization-aware, straight-through estimator), exports the ternary one to
   inference layers and compares test accuracy.

       make train                          (fetches build/digits.csv when missing)
       cc -O2 -I. examples/train_mlp.c -lm && ./a.out [build/digits.csv] [quantizer]

   quantizer: optimal (default: least-squares trits, per-row scales), absmean (BitNet
   b1.58 per row), bitnet (ABSMEAN per tensor, as BitNet trains), lsq (learned per-row scales).

   Without the file it trains on synthetic 8x8 digits, and says so. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#define PIXELS   64
#define CLASSES  10
#define MAX_ROWS 1797
#define HIDDEN   128
#define LAYERS   3
#define EPOCHS   30
#define BATCH    32

static const int sizes[LAYERS + 1] = { PIXELS, HIDDEN, HIDDEN, CLASSES };

static const struct quantizer { const char *name, *what; bl_method method; bl_scaling scaling; int lsq; }
quantizers[] = {
    { "optimal", "least-squares trits, per-row scales", BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0 },
    { "absmean", "ABSMEAN, per-row scales", BL_METHOD_ABSMEAN, BL_SCALING_ROW, 0 },
    { "bitnet", "ABSMEAN, one scale per tensor (BitNet b1.58)", BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, 0 },
    { "lsq", "learned per-row scales (LSQ)", BL_METHOD_ABSMEAN, BL_SCALING_ROW, 1 },
};
static const struct quantizer *quant = &quantizers[0];

typedef struct dataset {
    float x[MAX_ROWS][PIXELS];
    int label[MAX_ROWS];
    int n;
} dataset;

static uint64_t rng_state = 0x853C49E6748FEA9Bull;
static uint32_t rng(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static float gauss(void)
{
    double u = ((double)rng() + 1.0) / 2147483649.0, v = (double)rng() / 2147483648.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* 64 pixel values (0..16) and a label per line */
static int load_csv(const char *path, dataset *d)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    d->n = 0;
    while (d->n < MAX_ROWS && fgets(line, sizeof line, f)) {
        char *p = line, *end;
        int i;
        for (i = 0; i <= PIXELS; ++i) {
            double v = strtod(p, &end);
            if (end == p) break;
            if (i < PIXELS) d->x[d->n][i] = (float)(v / 16.0);
            else d->label[d->n] = (int)v;
            p = end + (*end == ',');
        }
        if (i == PIXELS + 1 && d->label[d->n] >= 0 && d->label[d->n] < CLASSES) d->n++;
    }
    fclose(f);
    return d->n > 0;
}

/* Fallback: each class is a random blob pattern; samples are shifted, noisy copies. */
static void synthesize(dataset *d)
{
    float proto[CLASSES][PIXELS];
    int c, i, k;
    for (c = 0; c < CLASSES; ++c)
        for (i = 0; i < PIXELS; ++i) proto[c][i] = (rng() % 3 == 0) ? 1.0f : 0.0f;
    d->n = MAX_ROWS;
    for (k = 0; k < d->n; ++k) {
        int dx = (int)(rng() % 3) - 1, dy = (int)(rng() % 3) - 1;
        c = k % CLASSES;
        d->label[k] = c;
        for (i = 0; i < PIXELS; ++i) {
            int col = i % 8 + dx, row = i / 8 + dy;
            float v = (col >= 0 && col < 8 && row >= 0 && row < 8) ? proto[c][row * 8 + col] : 0.0f;
            v += 0.4f * gauss();
            d->x[k][i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
    }
}

static int check(bl_status st, const char *what)
{
    if (st == BL_OK) return 1;
    fprintf(stderr, "%s: %s\n", what, bl_status_string(st));
    exit(1);
}

typedef struct mlp {
    bl_train_linear *layer[LAYERS];
    float *act[LAYERS + 1];   /* act[0] input batch, act[l+1] output of layer l (after ReLU) */
    float *grad[LAYERS + 1];  /* dL/d act */
} mlp;

static void mlp_create(mlp *m, int ternary, uint64_t seed)
{
    int l;
    for (l = 0; l < LAYERS; ++l) {
        bl_train_desc d;
        memset(&d, 0, sizeof d);
        d.in_features = sizes[l];
        d.out_features = sizes[l + 1];
        d.has_bias = 1;
        d.seed = seed + (uint64_t)l;
        d.method = quant->method;
        d.scaling = quant->scaling;
        d.lsq = ternary && quant->lsq;
        d.act_bits = ternary ? 8 : 0;       /* ternary: W1.58A8 as BitNet */
        d.full_precision = !ternary;
        check(bl_train_create(&d, &m->layer[l]), "bl_train_create");
    }
    for (l = 0; l <= LAYERS; ++l) {
        m->act[l] = (float *)calloc((size_t)BATCH * (size_t)sizes[l], sizeof(float));
        m->grad[l] = (float *)calloc((size_t)BATCH * (size_t)sizes[l], sizeof(float));
        if (!m->act[l] || !m->grad[l]) { fprintf(stderr, "out of memory\n"); exit(1); }
    }
}

static void mlp_destroy(mlp *m)
{
    int l;
    for (l = 0; l < LAYERS; ++l) bl_train_destroy(m->layer[l]);
    for (l = 0; l <= LAYERS; ++l) { free(m->act[l]); free(m->grad[l]); }
}

static void relu(float *v, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
}

/* softmax cross-entropy of logits[batch][CLASSES]: the loss sum, correct count, and
   (grad != NULL) dL/dlogits of the batch mean */
static double softmax_xent(const float *logits, const int *label, int batch, float *grad, int *correct)
{
    double loss = 0.0;
    int b, c;
    for (b = 0; b < batch; ++b) {
        const float *z = logits + (size_t)b * CLASSES;
        double mx = z[0], sum = 0.0, p;
        int arg = 0;
        for (c = 1; c < CLASSES; ++c) if (z[c] > mx) { mx = z[c]; arg = c; }
        for (c = 0; c < CLASSES; ++c) sum += exp(z[c] - mx);
        loss += log(sum) - (z[label[b]] - mx);
        *correct += arg == label[b];
        for (c = 0; grad && c < CLASSES; ++c) {
            p = exp(z[c] - mx) / sum;
            grad[(size_t)b * CLASSES + c] = (float)((p - (c == label[b])) / batch);
        }
    }
    return loss;
}

static void mlp_forward(mlp *m, int batch)
{
    int l;
    for (l = 0; l < LAYERS; ++l) {
        check(bl_train_forward(m->layer[l], m->act[l], batch, m->act[l + 1]), "bl_train_forward");
        if (l + 1 < LAYERS) relu(m->act[l + 1], (size_t)batch * (size_t)sizes[l + 1]);
    }
}

static void mlp_backward(mlp *m, int batch)
{
    int l;
    size_t i;
    for (l = LAYERS - 1; l >= 0; --l) {
        check(bl_train_backward(m->layer[l], m->act[l], batch, m->grad[l + 1], l ? m->grad[l] : NULL),
              "bl_train_backward");
        if (l)  /* through the ReLU before this layer */
            for (i = 0; i < (size_t)batch * (size_t)sizes[l]; ++i)
                if (m->act[l][i] <= 0.0f) m->grad[l][i] = 0.0f;
    }
}

static void gather(const dataset *d, const int *idx, int count, float *x, int *label)
{
    int b;
    for (b = 0; b < count; ++b) {
        memcpy(x + (size_t)b * PIXELS, d->x[idx[b]], sizeof d->x[0]);
        label[b] = d->label[idx[b]];
    }
}

/* one epoch of Adam over the shuffled training indices; returns the mean loss */
static double train_epoch(mlp *m, const dataset *d, int *order, int n_train, float lr, double *acc)
{
    int start, i, l, correct = 0, label[BATCH];
    double loss = 0.0;
    bl_optimizer opt;
    memset(&opt, 0, sizeof opt);
    opt.lr = lr;
    for (i = n_train - 1; i > 0; --i) {
        int j = (int)(rng() % (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (start = 0; start < n_train; start += BATCH) {
        int batch = n_train - start < BATCH ? n_train - start : BATCH;
        gather(d, order + start, batch, m->act[0], label);
        mlp_forward(m, batch);
        loss += softmax_xent(m->act[LAYERS], label, batch, m->grad[LAYERS], &correct);
        for (l = 0; l < LAYERS; ++l) check(bl_train_zero_grad(m->layer[l]), "bl_train_zero_grad");
        mlp_backward(m, batch);
        for (l = 0; l < LAYERS; ++l) check(bl_train_step(m->layer[l], &opt), "bl_train_step");
    }
    *acc = 100.0 * correct / n_train;
    return loss / n_train;
}

static double test_accuracy(mlp *m, const dataset *d, const int *idx, int count)
{
    int start, correct = 0, label[BATCH];
    for (start = 0; start < count; start += BATCH) {
        int batch = count - start < BATCH ? count - start : BATCH;
        gather(d, idx + start, batch, m->act[0], label);
        mlp_forward(m, batch);
        (void)softmax_xent(m->act[LAYERS], label, batch, NULL, &correct);
    }
    return 100.0 * correct / count;
}

/* the exported inference model: bl_linear layers only */
static double exported_accuracy(bl_linear *const *net, const dataset *d, const int *idx, int count)
{
    static float a[2][BATCH * HIDDEN];
    int start, l, correct = 0, label[BATCH];
    for (start = 0; start < count; start += BATCH) {
        int batch = count - start < BATCH ? count - start : BATCH;
        gather(d, idx + start, batch, a[0], label);
        for (l = 0; l < LAYERS; ++l) {
            check(bl_linear_forward(net[l], a[l & 1], batch, a[(l + 1) & 1], NULL), "bl_linear_forward");
            if (l + 1 < LAYERS) relu(a[(l + 1) & 1], (size_t)batch * (size_t)sizes[l + 1]);
        }
        (void)softmax_xent(a[LAYERS & 1], label, batch, NULL, &correct);
    }
    return 100.0 * correct / count;
}

int main(int argc, char **argv)
{
    static dataset data;
    static int order[MAX_ROWS];
    const char *path = argc > 1 ? argv[1] : "build/digits.csv";
    mlp fm, tm;
    bl_linear *net[LAYERS];
    int i, l, n_train, n_test, epoch;
    double float_acc, tern_acc, trained_acc;
    size_t tern_bytes = 0, fp32_bytes = 0;

    if (argc > 2) {
        for (i = 0; i < (int)(sizeof quantizers / sizeof quantizers[0]); ++i)
            if (strcmp(argv[2], quantizers[i].name) == 0) quant = &quantizers[i];
        if (strcmp(argv[2], quant->name) != 0) {
            fprintf(stderr, "usage: %s [digits.csv] [optimal|absmean|bitnet|lsq]\n", argv[0]);
            return 2;
        }
    }

    if (load_csv(path, &data)) {
        printf("data: %d digits from %s\n", data.n, path);
    } else {
        synthesize(&data);
        printf("data: %s not found; using %d synthetic 8x8 digits instead\n", path, data.n);
    }
    for (i = 0; i < data.n; ++i) order[i] = i;
    for (i = data.n - 1; i > 0; --i) {   /* fixed shuffle, then 80% train / 20% test */
        int j = (int)(rng() % (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    n_train = data.n * 4 / 5;
    n_test = data.n - n_train;
    printf("model: %d-%d-%d-%d MLP, ReLU, Adam, %d epochs, batch %d; train %d, test %d\n",
           sizes[0], sizes[1], sizes[2], sizes[3], EPOCHS, BATCH, n_train, n_test);
    printf("ternary: every layer, %s, INT8 activations, straight-through\n\n", quant->what);

    mlp_create(&fm, 0, 1);
    mlp_create(&tm, 1, 1);
    printf("epoch   float: loss  train   test   ternary: loss  train   test\n");
    for (epoch = 1; epoch <= EPOCHS; ++epoch) {
        double facc, tacc, floss, tloss;
        float lr = epoch <= EPOCHS * 2 / 3 ? 2e-3f : 5e-4f;
        int *test_idx = order + n_train;
        /* both models see the same shuffles: copy the order per model */
        static int ord_f[MAX_ROWS], ord_t[MAX_ROWS];
        uint64_t keep;
        if (epoch == 1) { memcpy(ord_f, order, sizeof ord_f); memcpy(ord_t, order, sizeof ord_t); }
        keep = rng_state;
        floss = train_epoch(&fm, &data, ord_f, n_train, lr, &facc);
        rng_state = keep;
        tloss = train_epoch(&tm, &data, ord_t, n_train, lr, &tacc);
        printf("%5d   %11.4f %5.1f%% %5.1f%%   %13.4f %5.1f%% %5.1f%%\n", epoch, floss, facc,
               test_accuracy(&fm, &data, test_idx, n_test), tloss, tacc,
               test_accuracy(&tm, &data, test_idx, n_test));
    }

    float_acc = test_accuracy(&fm, &data, order + n_train, n_test);
    trained_acc = test_accuracy(&tm, &data, order + n_train, n_test);
    printf("\nexport: ternary layers -> bl_linear (inference)\n");
    for (l = 0; l < LAYERS; ++l) {
        bl_linear_info info;
        bl_deadzone dz;
        int8_t *t;
        int r, ternary_ok = 1, rows = sizes[l + 1], cols = sizes[l];
        check(bl_train_export(tm.layer[l], &net[l]), "bl_train_export");
        check(bl_linear_get_info(net[l], &info), "bl_linear_get_info");
        t = (int8_t *)malloc((size_t)rows * (size_t)cols);
        if (!t) return 1;
        check(bl_unpack(info.format, info.packed, info.row_bytes * (size_t)rows, rows, cols, t), "bl_unpack");
        for (i = 0; i < rows * cols; ++i) ternary_ok &= t[i] >= -1 && t[i] <= 1;
        for (r = 0; r < rows; ++r)
            ternary_ok &= info.scales[r] > 0.0f &&
                          (quant->scaling == BL_SCALING_ROW || info.scales[r] == info.scales[0]);
        check(bl_train_deadzone(tm.layer[l], 0.1f, &dz), "bl_train_deadzone");
        printf("  layer %d: %3dx%-3d k=%d trits %s, %s scales; -1/0/+1 = %.2f/%.2f/%.2f, "
               "near threshold %.3f, deep zero %.3f\n", l, rows, cols, info.k,
               ternary_ok ? "all in {-1,0,1}" : "NOT TERNARY",
               quant->scaling == BL_SCALING_ROW ? "per-row" : "per-tensor", dz.frac_neg, dz.frac_zero,
               dz.frac_pos, dz.frac_boundary, dz.frac_zero_inner);
        free(t);
        tern_bytes += bl_linear_nbytes(net[l]);
        fp32_bytes += ((size_t)rows * (size_t)cols + (size_t)rows) * sizeof(float);
    }
    tern_acc = exported_accuracy(net, &data, order + n_train, n_test);
    printf("  exported model: %.2f%% on the test split (training-time forward: %.2f%%)\n", tern_acc, trained_acc);
    printf("  size: ternary %zu bytes (packed trits + scales + biases) vs fp32 %zu bytes: %.1fx smaller\n",
           tern_bytes, fp32_bytes, (double)fp32_bytes / (double)tern_bytes);
    printf("\nfloat baseline %.2f%%, ternary %.2f%%, gap %.2f points\n", float_acc, tern_acc, float_acc - tern_acc);
    for (l = 0; l < LAYERS; ++l) bl_linear_destroy(net[l]);
    mlp_destroy(&fm);
    mlp_destroy(&tm);
    printf("test accuracy: float %.2f%% ternary %.2f%%\n", float_acc, tern_acc);
    return 0;
}
