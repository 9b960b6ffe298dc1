/* ==== bitlinear: weight quantization ====================================== */

/* Work memory for ternarizing one group (a row, or the whole tensor). */
#define BL__HIST_BUCKETS 1024  /* 32 octaves x 32 sub-buckets of |w| */
#define BL__HIST_SHIFT   18    /* float bits >> 18 keep 8 exponent and 5 mantissa bits */

typedef struct bl__ternarize_work {
    unsigned *count;           /* [BL__HIST_BUCKETS] values per bucket */
    double *sum;               /* [BL__HIST_BUCKETS] their sum */
    double *above_sum;         /* [BL__HIST_BUCKETS] sum of the buckets above */
    size_t *above_cnt;         /* [BL__HIST_BUCKETS] count of the buckets above */
    uint8_t *candidate;        /* [BL__HIST_BUCKETS] 1: a split inside may win */
    uint16_t *bucket;          /* [capacity] bucket of each value */
    float *values;             /* [capacity] candidates to sort */
    size_t capacity;
} bl__ternarize_work;

static void bl__ternarize_work_free(bl__ternarize_work *wk)
{
    bl__free(NULL, wk->count);
    bl__free(NULL, wk->sum);
    bl__free(NULL, wk->above_sum);
    bl__free(NULL, wk->above_cnt);
    bl__free(NULL, wk->candidate);
    bl__free(NULL, wk->bucket);
    bl__free(NULL, wk->values);
    memset(wk, 0, sizeof *wk);
}

/* Reserves room for a group of n values; all failure happens here, before any output is written. */
static bl_status bl__ternarize_work_reserve(bl__ternarize_work *wk, size_t n)
{
    if (!wk->count) {
        wk->count = (unsigned *)bl__alloc(NULL, BL__HIST_BUCKETS * sizeof(unsigned));
        wk->sum = (double *)bl__alloc(NULL, BL__HIST_BUCKETS * sizeof(double));
        wk->above_sum = (double *)bl__alloc(NULL, BL__HIST_BUCKETS * sizeof(double));
        wk->above_cnt = (size_t *)bl__alloc(NULL, BL__HIST_BUCKETS * sizeof(size_t));
        wk->candidate = (uint8_t *)bl__alloc(NULL, BL__HIST_BUCKETS);
        if (!wk->count || !wk->sum || !wk->above_sum || !wk->above_cnt || !wk->candidate) return BL_ERR_NOMEM;
    }
    if (n > wk->capacity) {
        if (n > (size_t)-1 / sizeof(float)) return BL_ERR_OVERFLOW;
        bl__free(NULL, wk->values);
        bl__free(NULL, wk->bucket);
        wk->values = (float *)bl__alloc(NULL, n * sizeof(float));
        wk->bucket = (uint16_t *)bl__alloc(NULL, n * sizeof(uint16_t));
        wk->capacity = wk->values && wk->bucket ? n : 0;
        if (!wk->capacity) return BL_ERR_NOMEM;
    }
    return BL_OK;
}

static uint32_t bl__float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float bl__bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int bl__compare_descending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void bl__sort_desc(float *v, size_t n)
{
    size_t i, j;
    if (n > 48) {
        qsort(v, n, sizeof(float), bl__compare_descending);
        return;
    }
    for (i = 1; i < n; ++i) {
        float x = v[i];
        for (j = i; j > 0 && v[j - 1] < x; --j) v[j] = v[j - 1];
        v[j] = x;
    }
}

/* max |x| as its bit pattern (non-negative floats order like their bits; 0x7F800000 or
   more: some x is infinite or NaN), with four independent maxima so the loop is not one
   long dependency chain. The scalar backend's abs_max and the SIMD backends' tails. */
static uint32_t bl__abs_max_bits(const float *x, size_t n)
{
    uint32_t m[4] = { 0, 0, 0, 0 }, u;
    size_t i, j;
    for (i = 0; i + 4 <= n; i += 4)
        for (j = 0; j < 4; ++j) {
            u = bl__float_bits(x[i + j]) & 0x7FFFFFFFu;
            m[j] = u > m[j] ? u : m[j];
        }
    for (; i < n; ++i) {
        u = bl__float_bits(x[i]) & 0x7FFFFFFFu;
        m[0] = u > m[0] ? u : m[0];
    }
    m[0] = m[1] > m[0] ? m[1] : m[0];
    m[2] = m[3] > m[2] ? m[3] : m[2];
    return m[2] > m[0] ? m[2] : m[0];
}

/* max |x| of finite x */
static float bl__absmax(const float *x, size_t n) { return bl__bits_float(bl__abs_max_bits(x, n)); }

static int8_t bl__sign(float v) { return (int8_t)((v > 0.0f) - (v < 0.0f)); }

/* Exact least-squares ternary fit of one group: among all "keep the m largest |w|" sets
   the best has the largest (sum of kept |w|)^2 / m, and its scale is their mean. A
   histogram of |w| (monotone buckets on the float bits) gives that objective exactly at
   every bucket boundary; only buckets where the bound below says a split inside could
   still win are sorted (typically a few dozen values). O(n) plus a small sort. */
static float bl__ternarize_optimal(const float *w, size_t n, int8_t *t, bl__ternarize_work *wk)
{
    long base;
    float amax = bl__absmax(w, n), thr = 0.0f;
    double best = -1.0, best_sum = 0.0, above_sum = 0.0;
    size_t best_cnt = 0, above_cnt = 0, i, m = 0, j;
    int b, best_bucket = 0, any_candidate = 0, current = -1;

    if (amax == 0.0f) {
        memset(t, 0, n);
        return 0.0f;
    }
    /* the top bucket holds amax; everything below the lowest bucket's range shares bucket 0 */
    base = (long)(bl__float_bits(amax) >> BL__HIST_SHIFT) - (BL__HIST_BUCKETS - 1);
    memset(wk->count, 0, BL__HIST_BUCKETS * sizeof(unsigned));
    memset(wk->sum, 0, BL__HIST_BUCKETS * sizeof(double));
    for (i = 0; i < n; ++i) {
        float a = fabsf(w[i]);
        long key = (long)(bl__float_bits(a) >> BL__HIST_SHIFT) - base;
        int k = key < 0 ? 0 : (int)key;
        wk->bucket[i] = (uint16_t)k;
        wk->count[k]++;
        wk->sum[k] += (double)a;
    }
    /* the objective at each bucket boundary: keep every bucket >= b */
    for (b = BL__HIST_BUCKETS - 1; b >= 0; --b) {
        double f;
        wk->above_sum[b] = above_sum;
        wk->above_cnt[b] = above_cnt;
        if (!wk->count[b]) continue;
        above_sum += wk->sum[b];
        above_cnt += wk->count[b];
        f = above_sum * above_sum / (double)above_cnt;
        if (f > best) { best = f; best_bucket = b; best_sum = above_sum; best_cnt = above_cnt; }
    }
    /* a split inside bucket b keeping j of its cnt values: (A + j*a)^2 / (M + j) is convex
       in j, so with every value at most hi it can beat `best` only if (A + cnt*hi)^2 / (M + cnt) does */
    for (b = BL__HIST_BUCKETS - 1; b >= 0; --b) {
        unsigned cnt = wk->count[b];
        double hi = b == BL__HIST_BUCKETS - 1 ? (double)amax
                    : (double)bl__bits_float((uint32_t)(base + b + 1) << BL__HIST_SHIFT);
        double top = wk->above_sum[b] + cnt * hi;
        wk->candidate[b] = (uint8_t)(cnt > 1 && top * top / (double)(wk->above_cnt[b] + cnt) > best * (1.0 - 1e-12));
        any_candidate |= wk->candidate[b];
    }
    if (any_candidate) {
        for (i = 0; i < n; ++i) { /* branch-free: candidates are few and scattered */
            wk->values[m] = fabsf(w[i]);
            m += wk->candidate[wk->bucket[i]];
        }
        bl__sort_desc(wk->values, m); /* descending, so grouped by bucket, highest first */
        for (j = 0; j < m; ++j) {
            float a = wk->values[j];
            long key = (long)(bl__float_bits(a) >> BL__HIST_SHIFT) - base;
            int k = key < 0 ? 0 : (int)key;
            double f;
            if (k != current) { /* the first value of a bucket */
                current = k;
                above_sum = wk->above_sum[k];
                above_cnt = wk->above_cnt[k];
            }
            above_sum += (double)a;
            above_cnt += 1;
            if (j + 1 < m && wk->values[j + 1] == a) continue; /* ties go in or out together */
            f = above_sum * above_sum / (double)above_cnt;
            if (f > best) { best = f; best_bucket = k; best_sum = above_sum; best_cnt = above_cnt; thr = a; }
        }
    }
    /* buckets are monotone in |w|, so "above best_bucket, or in it and >= thr" is |w| >= cut */
    if (thr == 0.0f && best_bucket > 0) thr = bl__bits_float((uint32_t)(base + best_bucket) << BL__HIST_SHIFT);
    for (i = 0; i < n; ++i) t[i] = (int8_t)((w[i] >= thr) - (w[i] <= -thr)); /* branch-free */
    return (float)(best_sum / (double)best_cnt);
}

/* Least-squares scale for fixed trits: mean |w| over the nonzero trits (0 if none). */
static float bl__fit_scale(const float *w, const int8_t *t, size_t n)
{
    double s = 0.0;
    size_t i, m = 0;
    for (i = 0; i < n; ++i)
        if (t[i]) { s += (double)fabsf(w[i]); ++m; }
    return m ? (float)(s / (double)m) : 0.0f;
}

static double bl__mean_abs(const float *w, size_t n)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) s += (double)fabsf(w[i]);
    return s / (double)n;
}

static int8_t bl__round_trit(float v)
{
    v = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
    return (int8_t)bl__round_even(v);
}

/* One group with one method; returns its scale. */
static float bl__ternarize_group(const float *w, size_t n, bl_method method, int8_t *t, bl__ternarize_work *wk)
{
    size_t i;
    switch (method) {
    case BL_METHOD_OPTIMAL:
        return bl__ternarize_optimal(w, n, t, wk);
    case BL_METHOD_ABSMEAN: {
        /* BitNet b1.58: s = mean|w| (at least 1e-5), t = clamp(round(w / s)) */
        float s = (float)bl__mean_abs(w, n);
        if (s < 1e-5f) s = 1e-5f;
        for (i = 0; i < n; ++i) t[i] = bl__round_trit(w[i] / s);
        return s;
    }
    case BL_METHOD_ABSMAX: {
        float amax = bl__absmax(w, n);
        for (i = 0; i < n; ++i) t[i] = amax > 0.0f ? bl__round_trit(w[i] / amax) : 0;
        return bl__fit_scale(w, t, n);
    }
    case BL_METHOD_TWN: {
        /* ternary weight networks: delta = 0.7 mean|w|, keep the signs above it */
        double delta = 0.7 * bl__mean_abs(w, n);
        for (i = 0; i < n; ++i) t[i] = (double)fabsf(w[i]) > delta ? bl__sign(w[i]) : 0;
        return bl__fit_scale(w, t, n);
    }
    default:
        break;
    }
    return 0.0f;
}

static bl_status bl__check_matrix(const void *a, const void *b, const void *c, int rows, int cols,
                                  size_t *count)
{
    if (!a || !b || !c || rows <= 0 || cols <= 0) return BL_ERR_INVALID;
    if (!bl__mul_size((size_t)rows, (size_t)cols, count)) return BL_ERR_OVERFLOW;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_ternarize(const float *w, int rows, int cols, bl_method method,
                                     bl_scaling scaling, int8_t *trits, float *scales)
{
    bl__ternarize_work wk;
    size_t count;
    int r;
    bl_status st = bl__check_matrix(w, trits, scales, rows, cols, &count);
    if (st != BL_OK) return st;
    if (!bl__valid_method((int)method) || !bl__valid_scaling((int)scaling)) return BL_ERR_INVALID;
    if (!bl__all_finite(w, count)) return BL_ERR_NONFINITE;
    memset(&wk, 0, sizeof wk);
    st = bl__ternarize_work_reserve(&wk, scaling == BL_SCALING_ROW ? (size_t)cols : count);
    if (st == BL_OK) {
        if (scaling == BL_SCALING_TENSOR) {
            scales[0] = bl__ternarize_group(w, count, method, trits, &wk);
        } else {
            for (r = 0; r < rows; ++r)
                scales[r] = bl__ternarize_group(w + (size_t)r * (size_t)cols, (size_t)cols, method,
                                                trits + (size_t)r * (size_t)cols, &wk);
        }
    }
    bl__ternarize_work_free(&wk);
    return st;
}
