/* ==== bitlinear: trainable ternary layer ================================== */
/* Float shadow weights, ternarized on every refresh; the straight-through estimator
   passes gradients to them as if ternarization were the identity (BitNet b1.58, LSQ). */

#define BL__TRAIN_EPS 1e-5f                  /* smallest learned scale, as BitNet's clamp */
#define BL__TRAIN_SEED 0x243F6A8885A308D3ull /* the default seed (digits of pi) */

struct bl_train_linear {
    int in, out, groups, has_bias, lsq, act_bits, hadamard, full;
    bl_method method;
    bl_scaling scaling;
    bl_format format;
    uint64_t seed;
    size_t nparams;            /* out*in weights, then out biases, then groups alphas */
    float *param, *grad, *m, *v;
    long step;                 /* optimizer steps taken (Adam's bias correction) */
    float *wr;                 /* rotated weights W R^T [out][in] (hadamard), else NULL */
    int8_t *t;                 /* forward trits [out][in] */
    int8_t *tt;                /* their transpose [in][out], for the input gradient */
    float *s;                  /* per-row scales [out] */
    float *ones;               /* [in] unit scales of the transposed layer */
    void *fwd_mem, *bwd_mem;   /* caller memory of the two bl_linear layers */
    size_t fwd_size, bwd_size;
    bl_linear *fwd, *bwd;      /* t with scales s and bias; t^T with unit scales */
    void *work;                /* grows to the largest batch seen */
    size_t work_size;
};

static float *bl__train_bias(const bl_train_linear *L)
{
    return L->has_bias ? L->param + (size_t)L->out * (size_t)L->in : NULL;
}
static float *bl__train_alpha(const bl_train_linear *L)
{
    return L->lsq ? L->param + L->nparams - (size_t)L->groups : NULL;
}
/* the weights the forward quantizes: rotated or not */
static const float *bl__train_wsrc(const bl_train_linear *L) { return L->wr ? L->wr : L->param; }

static void bl__linear_desc_of(const bl_train_linear *L, bl_linear_desc *d, int transposed)
{
    memset(d, 0, sizeof *d);
    d->format = L->format;
    if (transposed) {
        d->in_features = L->out;
        d->out_features = L->in;
        d->trits = L->tt;
        d->scales = L->ones;
        d->act = BL_ACT_FLOAT;
    } else {
        d->in_features = L->in;
        d->out_features = L->out;
        d->trits = L->t;
        d->scales = L->s;
        d->bias = bl__train_bias(L);
        d->act = L->act_bits ? BL_ACT_INT8 : BL_ACT_FLOAT;
        d->act_bits = L->act_bits;
    }
}

/* Ternarizes the (rotated) shadow weights and rebuilds the kernels' layers. */
static bl_status bl__train_quantize(bl_train_linear *L)
{
    size_t count = (size_t)L->out * (size_t)L->in, i;
    const float *w;
    float *alpha = bl__train_alpha(L);
    bl_linear_desc d;
    bl_status st;
    int r, c;
    if (!bl__all_finite(L->param, L->nparams)) return BL_ERR_NONFINITE;
    if (L->wr) {
        memcpy(L->wr, L->param, count * sizeof(float));
        st = bl_hadamard_rotate(L->wr, L->in, L->out, L->seed, 0);
        if (st != BL_OK) return st;
    }
    w = bl__train_wsrc(L);
    if (alpha) {
        for (r = 0; r < L->out; ++r) {
            float a = alpha[L->groups == 1 ? 0 : r];
            a = a > BL__TRAIN_EPS ? a : BL__TRAIN_EPS;
            L->s[r] = a;
            for (i = (size_t)r * (size_t)L->in; i < (size_t)(r + 1) * (size_t)L->in; ++i) L->t[i] = bl__round_trit(w[i] / a);
        }
    } else {
        st = bl_ternarize(w, L->out, L->in, L->method, L->scaling, L->t, L->s);
        if (st != BL_OK) return st;
        for (r = 1; L->scaling == BL_SCALING_TENSOR && r < L->out; ++r) L->s[r] = L->s[0];
    }
    if (L->full) return BL_OK;
    for (r = 0; r < L->out; ++r)
        for (c = 0; c < L->in; ++c) L->tt[(size_t)c * (size_t)L->out + (size_t)r] = L->t[(size_t)r * (size_t)L->in + (size_t)c];
    bl__linear_desc_of(L, &d, 0);
    st = bl_linear_init(&d, L->fwd_mem, L->fwd_size, &L->fwd);
    if (st != BL_OK) return st;
    bl__linear_desc_of(L, &d, 1);
    return bl_linear_init(&d, L->bwd_mem, L->bwd_size, &L->bwd);
}

BITLINEAR_DEF void bl_train_destroy(bl_train_linear *L)
{
    if (!L) return;
    bl__free(NULL, L->param);
    bl__free(NULL, L->grad);
    bl__free(NULL, L->m);
    bl__free(NULL, L->v);
    bl__free(NULL, L->wr);
    bl__free(NULL, L->t);
    bl__free(NULL, L->tt);
    bl__free(NULL, L->s);
    bl__free(NULL, L->ones);
    bl__free(NULL, L->fwd_mem);
    bl__free(NULL, L->bwd_mem);
    bl__free(NULL, L->work);
    bl__free(NULL, L);
}

static void *bl__zalloc(size_t n, size_t size, int *ok)
{
    size_t bytes;
    void *p;
    if (!bl__mul_size(n, size, &bytes)) { *ok = 0; return NULL; }
    p = bl__alloc(NULL, bytes ? bytes : 1);
    if (p) memset(p, 0, bytes); else *ok = 0;
    return p;
}

static bl_status bl__train_check_desc(const bl_train_desc *d, size_t *count)
{
    if (!d || d->in_features <= 0 || d->out_features <= 0 || d->in_features > BL_MAX_IN_FEATURES ||
        d->out_features > BL_MAX_IN_FEATURES || !bl__valid_method((int)d->method) ||
        !bl__valid_scaling((int)d->scaling) || !bl__valid_format((int)d->format) ||
        (d->act_bits != 0 && (d->act_bits < 2 || d->act_bits > 8)) || (d->lsq && d->full_precision))
        return BL_ERR_INVALID;
    if (!bl__mul_size((size_t)d->in_features, (size_t)d->out_features, count) ||
        *count > ((size_t)-1 / sizeof(float)) / 4)
        return BL_ERR_OVERFLOW;
    if (d->weight && !bl__all_finite(d->weight, *count)) return BL_ERR_NONFINITE;
    if (d->bias && !bl__all_finite(d->bias, (size_t)d->out_features)) return BL_ERR_NONFINITE;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_create(const bl_train_desc *desc, bl_train_linear **out)
{
    bl_train_linear *L;
    size_t count, i;
    int ok = 1, r;
    bl_status st;
    if (!out) return BL_ERR_INVALID;
    st = bl__train_check_desc(desc, &count);
    if (st != BL_OK) return st;
    L = (bl_train_linear *)bl__zalloc(1, sizeof *L, &ok);
    if (!L) return BL_ERR_NOMEM;
    L->in = desc->in_features;
    L->out = desc->out_features;
    L->groups = desc->scaling == BL_SCALING_TENSOR ? 1 : L->out;
    L->has_bias = desc->has_bias || desc->bias;
    L->lsq = desc->lsq != 0;
    L->act_bits = desc->act_bits;
    L->hadamard = desc->hadamard != 0;
    L->full = desc->full_precision != 0;
    L->method = desc->method;
    L->scaling = desc->scaling;
    L->format = desc->format;
    L->seed = desc->seed ? desc->seed : BL__TRAIN_SEED;
    L->nparams = count + (L->has_bias ? (size_t)L->out : 0) + (L->lsq ? (size_t)L->groups : 0);
    L->param = (float *)bl__zalloc(L->nparams, sizeof(float), &ok);
    L->grad = (float *)bl__zalloc(L->nparams, sizeof(float), &ok);
    L->m = (float *)bl__zalloc(L->nparams, sizeof(float), &ok);
    L->v = (float *)bl__zalloc(L->nparams, sizeof(float), &ok);
    L->t = (int8_t *)bl__zalloc(count, 1, &ok);
    L->s = (float *)bl__zalloc((size_t)L->out, sizeof(float), &ok);
    if (L->hadamard) L->wr = (float *)bl__zalloc(count, sizeof(float), &ok);
    if (!L->full) {
        L->tt = (int8_t *)bl__zalloc(count, 1, &ok);
        L->ones = (float *)bl__zalloc((size_t)L->in, sizeof(float), &ok);
    }
    if (!ok) { bl_train_destroy(L); return BL_ERR_NOMEM; }
    if (desc->weight) {
        memcpy(L->param, desc->weight, count * sizeof(float));
    } else {
        /* uniform in +-1/sqrt(in), as nn.Linear, from the seed's own stream */
        float bound = (float)(1.0 / sqrt((double)L->in));
        uint64_t state = L->seed;
        for (i = 0; i < count; ++i) {
            state = bl__splitmix64(state);
            L->param[i] = bound * (2.0f * (float)(state >> 40) * (1.0f / 16777216.0f) - 1.0f);
        }
    }
    if (desc->bias) memcpy(bl__train_bias(L), desc->bias, (size_t)L->out * sizeof(float));
    if (L->lsq) {
        /* alpha starts at mean|w| of its group (of the rotated weights when rotated) */
        const float *w = L->param;
        float *alpha = bl__train_alpha(L);
        if (L->wr) {
            memcpy(L->wr, L->param, count * sizeof(float));
            (void)bl_hadamard_rotate(L->wr, L->in, L->out, L->seed, 0);
            w = L->wr;
        }
        if (L->groups == 1) alpha[0] = (float)bl__mean_abs(w, count);
        else for (r = 0; r < L->out; ++r) alpha[r] = (float)bl__mean_abs(w + (size_t)r * (size_t)L->in, (size_t)L->in);
        for (r = 0; r < L->groups; ++r) alpha[r] = alpha[r] > BL__TRAIN_EPS ? alpha[r] : BL__TRAIN_EPS;
    }
    if (!L->full) {
        bl_linear_desc d;
        for (r = 0; r < L->in; ++r) L->ones[r] = 1.0f;
        bl__linear_desc_of(L, &d, 0);
        st = bl_linear_memory_size(&d, &L->fwd_size);
        if (st == BL_OK) {
            bl__linear_desc_of(L, &d, 1);
            st = bl_linear_memory_size(&d, &L->bwd_size);
        }
        if (st == BL_OK) {
            L->fwd_mem = bl__alloc(NULL, L->fwd_size);
            L->bwd_mem = bl__alloc(NULL, L->bwd_size);
            if (!L->fwd_mem || !L->bwd_mem) st = BL_ERR_NOMEM;
        }
        if (st != BL_OK) { bl_train_destroy(L); return st; }
    }
    st = bl__train_quantize(L);
    if (st != BL_OK) { bl_train_destroy(L); return st; }
    *out = L;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_tensors_get(bl_train_linear *L, bl_train_tensors *t)
{
    size_t bias_at;
    if (!L || !t) return BL_ERR_INVALID;
    bias_at = (size_t)L->out * (size_t)L->in;
    t->in_features = L->in;
    t->out_features = L->out;
    t->groups = L->groups;
    t->weight = L->param;
    t->grad_weight = L->grad;
    t->bias = bl__train_bias(L);
    t->grad_bias = L->has_bias ? L->grad + bias_at : NULL;
    t->alpha = bl__train_alpha(L);
    t->grad_alpha = L->lsq ? L->grad + L->nparams - (size_t)L->groups : NULL;
    t->rotation_seed = L->seed;
    t->rotated = L->hadamard;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_refresh(bl_train_linear *L)
{
    if (!L) return BL_ERR_INVALID;
    return bl__train_quantize(L);
}

/* Work areas of one call: rotated input, scaled upstream gradient, input gradient,
   weight gradient and the kernels' scratch, each aligned. */
typedef struct bl__train_work {
    float *x, *gs, *gx, *gw;
    void *scratch;
} bl__train_work;

static bl_status bl__train_work_get(bl_train_linear *L, int batch, bl__train_work *wk)
{
    size_t xs, gs, ws, scratch = 0, at, total, parts[4];
    uint8_t *base;
    int i;
    if (!bl__mul_size((size_t)batch, (size_t)L->in * sizeof(float), &xs) ||
        !bl__mul_size((size_t)batch, (size_t)L->out * sizeof(float), &gs))
        return BL_ERR_OVERFLOW;
    ws = (size_t)L->out * (size_t)L->in * sizeof(float);
    if (!L->full) {
        size_t a = bl_linear_scratch_size(L->fwd, batch), b = bl_linear_scratch_size(L->bwd, batch);
        if (!a || !b) return BL_ERR_OVERFLOW;
        scratch = a > b ? a : b;
    }
    parts[0] = xs; parts[1] = gs; parts[2] = xs; parts[3] = ws;
    for (i = 0, at = 0; i < 4; ++i)
        if (!bl__advance(&at, parts[i])) return BL_ERR_OVERFLOW;
    if (!bl__add_size(at, scratch, &total) || !bl__add_size(total, BL__ALIGN, &total)) return BL_ERR_OVERFLOW;
    if (total > L->work_size) {
        void *p = bl__alloc(NULL, total);
        if (!p) return BL_ERR_NOMEM;
        bl__free(NULL, L->work);
        L->work = p;
        L->work_size = total;
    }
    base = (uint8_t *)bl__align_ptr(L->work);
    at = 0;
    wk->x = (float *)(void *)base;
    (void)bl__advance(&at, xs);
    wk->gs = (float *)(void *)(base + at);
    (void)bl__advance(&at, gs);
    wk->gx = (float *)(void *)(base + at);
    (void)bl__advance(&at, xs);
    wk->gw = (float *)(void *)(base + at);
    (void)bl__advance(&at, ws);
    wk->scratch = base + at;
    return BL_OK;
}

/* The input the product sees: R x, then (quantized mode) the dequantized int8 codes. */
static bl_status bl__train_input(const bl_train_linear *L, const float *x, int batch, float *xr, int dequant)
{
    size_t n = (size_t)L->in, i;
    int b;
    memcpy(xr, x, n * (size_t)batch * sizeof(float));
    if (L->hadamard) {
        bl_status st = bl_hadamard_rotate(xr, L->in, batch, L->seed, 0);
        if (st != BL_OK) return st;
    }
    if (!dequant || !L->act_bits || L->full) return BL_OK;
    for (b = 0; b < batch; ++b) {
        float *xb = xr + (size_t)b * n;
        int qmax = (1 << (L->act_bits - 1)) - 1;
        float amax = bl__absmax(xb, n), inv = bl__act_inverse(amax, qmax), sc = bl__act_scale(amax, qmax);
        for (i = 0; i < n; ++i) xb[i] = (float)bl__act_code(xb[i], inv, qmax) * sc;
    }
    return BL_OK;
}

static bl_status bl__train_check_io(const bl_train_linear *L, const float *x, int batch, const void *y)
{
    if (!L || batch < 0 || (batch > 0 && (!x || !y))) return BL_ERR_INVALID;
    if (batch > 0 && !bl__all_finite(x, (size_t)L->in * (size_t)batch)) return BL_ERR_NONFINITE;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_forward(bl_train_linear *L, const float *x, int batch, float *y)
{
    bl__train_work wk;
    const float *w, *bias;
    bl_status st = bl__train_check_io(L, x, batch, y);
    int b, r, c;
    if (st != BL_OK || batch == 0) return st;
    st = bl__train_work_get(L, batch, &wk);
    if (st == BL_OK) st = bl__train_input(L, x, batch, wk.x, 0);
    if (st != BL_OK) return st;
    if (!L->full) return bl_linear_forward(L->fwd, wk.x, batch, y, wk.scratch);
    /* float baseline: the plain product */
    w = bl__train_wsrc(L);
    bias = bl__train_bias(L);
    for (b = 0; b < batch; ++b)
        for (r = 0; r < L->out; ++r) {
            const float *xb = wk.x + (size_t)b * (size_t)L->in, *wrow = w + (size_t)r * (size_t)L->in;
            float acc = 0.0f;
            for (c = 0; c < L->in; ++c) acc += xb[c] * wrow[c];
            y[(size_t)b * (size_t)L->out + (size_t)r] = acc + (bias ? bias[r] : 0.0f);
        }
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_backward(bl_train_linear *L, const float *x, int batch,
                                          const float *dy, float *dx)
{
    bl__train_work wk;
    size_t n = (size_t)L->in, count, i;
    float *gb, *galpha;
    const float *w;
    bl_status st = bl__train_check_io(L, x, batch, dy);
    int b, r;
    if (st != BL_OK || batch == 0) return st;
    if (!bl__all_finite(dy, (size_t)L->out * (size_t)batch)) return BL_ERR_NONFINITE;
    count = (size_t)L->out * n;
    st = bl__train_work_get(L, batch, &wk);
    if (st == BL_OK) st = bl__train_input(L, x, batch, wk.x, 1);
    if (st != BL_OK) return st;
    w = bl__train_wsrc(L);
    if (dx) {
        /* gx' = (dy * s) t, through the transposed layer; float mode: dy W */
        if (L->full) {
            memset(wk.gx, 0, n * (size_t)batch * sizeof(float));
            for (b = 0; b < batch; ++b)
                for (r = 0; r < L->out; ++r) {
                    float g = dy[(size_t)b * (size_t)L->out + (size_t)r], *gxb = wk.gx + (size_t)b * n;
                    const float *wrow = w + (size_t)r * n;
                    if (g != 0.0f)
                        for (i = 0; i < n; ++i) gxb[i] += g * wrow[i];
                }
        } else {
            for (b = 0; b < batch; ++b)
                for (r = 0; r < L->out; ++r)
                    wk.gs[(size_t)b * (size_t)L->out + (size_t)r] = dy[(size_t)b * (size_t)L->out + (size_t)r] * L->s[r];
            st = bl_linear_forward(L->bwd, wk.gs, batch, wk.gx, wk.scratch);
        }
        if (st == BL_OK && L->hadamard) st = bl_hadamard_rotate(wk.gx, L->in, batch, L->seed, 1);
        if (st != BL_OK) return st;
    }
    /* gWq = dy^T x' (what the product saw) */
    memset(wk.gw, 0, count * sizeof(float));
    for (b = 0; b < batch; ++b)
        for (r = 0; r < L->out; ++r) {
            float g = dy[(size_t)b * (size_t)L->out + (size_t)r], *grow = wk.gw + (size_t)r * n;
            const float *xb = wk.x + (size_t)b * n;
            if (g != 0.0f)
                for (i = 0; i < n; ++i) grow[i] += g * xb[i];
        }
    /* LSQ: d y_r / d alpha = t_r . x', so galpha collects t . gWq over its group */
    galpha = L->lsq ? L->grad + L->nparams - (size_t)L->groups : NULL;
    if (galpha)
        for (r = 0; r < L->out; ++r) {
            double acc = 0.0;
            const int8_t *trow = L->t + (size_t)r * n;
            const float *grow = wk.gw + (size_t)r * n;
            for (i = 0; i < n; ++i) acc += (double)trow[i] * (double)grow[i];
            galpha[L->groups == 1 ? 0 : r] += (float)acc;
        }
    /* STE: gW = gWq, rotated back: W' = W R^T gives gW = gWq R, row by row R^T */
    if (L->hadamard) (void)bl_hadamard_rotate(wk.gw, L->in, L->out, L->seed, 1);
    for (i = 0; i < count; ++i) L->grad[i] += wk.gw[i];
    gb = L->has_bias ? L->grad + count : NULL;
    if (gb)
        for (b = 0; b < batch; ++b)
            for (r = 0; r < L->out; ++r) gb[r] += dy[(size_t)b * (size_t)L->out + (size_t)r];
    if (dx) memcpy(dx, wk.gx, n * (size_t)batch * sizeof(float));
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_zero_grad(bl_train_linear *L)
{
    if (!L) return BL_ERR_INVALID;
    memset(L->grad, 0, L->nparams * sizeof(float));
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_step(bl_train_linear *L, const bl_optimizer *opt)
{
    bl_optimizer o;
    size_t nw, i;
    double bc1 = 1.0, bc2 = 1.0;
    float *alpha;
    int adam;
    if (!L) return BL_ERR_INVALID;
    memset(&o, 0, sizeof o);
    if (opt) o = *opt;
    adam = o.kind == BL_OPT_ADAM;
    if ((o.kind != BL_OPT_ADAM && o.kind != BL_OPT_SGD) || !(o.lr >= 0.0f) || o.lr > FLT_MAX ||
        !(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f) ||
        !(o.eps >= 0.0f) || o.eps > FLT_MAX || !(o.momentum >= 0.0f && o.momentum < 1.0f) ||
        !(o.weight_decay >= 0.0f) || o.weight_decay > FLT_MAX)
        return BL_ERR_INVALID;
    if (!bl__all_finite(L->grad, L->nparams)) return BL_ERR_NONFINITE;
    if (o.lr == 0.0f) o.lr = adam ? 1e-3f : 1e-2f;
    if (o.beta1 == 0.0f) o.beta1 = 0.9f;
    if (o.beta2 == 0.0f) o.beta2 = 0.999f;
    if (o.eps == 0.0f) o.eps = 1e-8f;
    L->step++;
    if (adam) {
        bc1 = 1.0 - pow((double)o.beta1, (double)L->step);
        bc2 = 1.0 - pow((double)o.beta2, (double)L->step);
    }
    nw = (size_t)L->out * (size_t)L->in;
    for (i = 0; i < L->nparams; ++i) {
        float g = L->grad[i], upd;
        if (adam) {
            L->m[i] = o.beta1 * L->m[i] + (1.0f - o.beta1) * g;
            L->v[i] = o.beta2 * L->v[i] + (1.0f - o.beta2) * g * g;
            upd = (float)(((double)L->m[i] / bc1) / (sqrt((double)L->v[i] / bc2) + (double)o.eps));
        } else {
            L->m[i] = o.momentum * L->m[i] + g;
            upd = L->m[i];
        }
        if (i < nw) L->param[i] -= o.lr * o.weight_decay * L->param[i];
        L->param[i] -= o.lr * upd;
    }
    alpha = bl__train_alpha(L);
    for (i = 0; alpha && i < (size_t)L->groups; ++i) alpha[i] = alpha[i] > BL__TRAIN_EPS ? alpha[i] : BL__TRAIN_EPS;
    return bl__train_quantize(L);
}

BITLINEAR_DEF bl_status bl_train_ternary(const bl_train_linear *L, int8_t *trits, float *scales)
{
    if (!L || !trits || !scales) return BL_ERR_INVALID;
    memcpy(trits, L->t, (size_t)L->out * (size_t)L->in);
    memcpy(scales, L->s, (size_t)L->out * sizeof(float));
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_train_export(const bl_train_linear *L, bl_linear **out)
{
    bl_linear_desc d;
    if (!L || !out) return BL_ERR_INVALID;
    bl__linear_desc_of(L, &d, 0);
    d.hadamard = L->hadamard; /* the exported layer rotates its inputs itself */
    d.hadamard_seed = L->seed;
    return bl_linear_create(&d, out);
}

BITLINEAR_DEF bl_status bl_train_deadzone(const bl_train_linear *L, float band, bl_deadzone *out)
{
    if (!L || !out || !(band >= 0.0f) || band > FLT_MAX) return BL_ERR_INVALID;
    bl__deadzone_of(bl__train_wsrc(L), L->t, L->s, L->out, L->in, L->scaling, L->method, L->lsq,
                    (double)band, out);
    return BL_OK;
}
