/* ==== bitlinear: greedy ternary decomposition and its refinement ========= */

/* Refinement works on a histogram over the 3^k trit combinations: how many values use
   each combination and their sum. The joint least-squares scales and the squared error
   follow from it in O(3^k), so a pass costs one sweep over the values. */

/* Work memory for one group of n values and k components. */
typedef struct bl__dwork {
    bl__ternarize_work tern;
    float *resid;              /* [n] */
    int8_t *combo;             /* [3^k][k] trits of each combination */
    double *level;             /* [3^k] sorted levels sum_j s_j t_j */
    double *mid;               /* [3^k] midpoints between consecutive sorted levels */
    int *level_combo;          /* [3^k] which combination each sorted level is */
    double *count, *wsum;      /* [3^k] the histogram */
    double wsq;                /* sum of w^2 of the group */
} bl__dwork;

static void bl__dwork_free(bl__dwork *dw)
{
    bl__ternarize_work_free(&dw->tern);
    bl__free(NULL, dw->resid);
    bl__free(NULL, dw->combo);
    bl__free(NULL, dw->level);
    bl__free(NULL, dw->mid);
    bl__free(NULL, dw->level_combo);
    bl__free(NULL, dw->count);
    bl__free(NULL, dw->wsum);
    memset(dw, 0, sizeof *dw);
}

static int bl__pow3i(int k)
{
    int p = 1;
    while (k-- > 0) p *= 3;
    return p;
}

static bl_status bl__dwork_init(bl__dwork *dw, size_t n, int k)
{
    int c, j, levels = bl__pow3i(k);
    size_t lv = (size_t)levels;
    bl_status st;
    memset(dw, 0, sizeof *dw);
    if (n > (size_t)-1 / sizeof(float)) return BL_ERR_OVERFLOW;
    st = bl__ternarize_work_reserve(&dw->tern, n);
    if (st != BL_OK) return st;
    dw->resid = (float *)bl__alloc(NULL, n * sizeof(float));
    dw->combo = (int8_t *)bl__alloc(NULL, lv * (size_t)k);
    dw->level = (double *)bl__alloc(NULL, lv * sizeof(double));
    dw->mid = (double *)bl__alloc(NULL, lv * sizeof(double));
    dw->level_combo = (int *)bl__alloc(NULL, lv * sizeof(int));
    dw->count = (double *)bl__alloc(NULL, lv * sizeof(double));
    dw->wsum = (double *)bl__alloc(NULL, lv * sizeof(double));
    if (!dw->resid || !dw->combo || !dw->level || !dw->mid || !dw->level_combo || !dw->count || !dw->wsum)
        return BL_ERR_NOMEM;
    for (c = 0; c < levels; ++c) {
        int rest = c;
        for (j = 0; j < k; ++j) {
            dw->combo[c * k + j] = (int8_t)(rest % 3 - 1);
            rest /= 3;
        }
    }
    return BL_OK;
}

/* Histogram of the combinations the trits use now. */
static void bl__histogram_of_trits(const float *w, size_t n, int k, const int8_t *t, size_t stride, bl__dwork *dw)
{
    int levels = bl__pow3i(k), j;
    size_t i;
    memset(dw->count, 0, (size_t)levels * sizeof(double));
    memset(dw->wsum, 0, (size_t)levels * sizeof(double));
    for (i = 0; i < n; ++i) {
        int c = 0;
        for (j = k - 1; j >= 0; --j) c = c * 3 + t[(size_t)j * stride + i] + 1;
        dw->count[c] += 1.0;
        dw->wsum[c] += (double)w[i];
    }
}

static double bl__combo_level(const bl__dwork *dw, int k, int c, const float *s)
{
    double v = 0.0;
    int j;
    for (j = 0; j < k; ++j) v += (double)s[j] * dw->combo[c * k + j];
    return v;
}

/* Squared error sum (w - level)^2 of the histogram's assignment with scales s. */
static double bl__histogram_error(const bl__dwork *dw, int k, const float *s)
{
    double e = dw->wsq;
    int c, levels = bl__pow3i(k);
    for (c = 0; c < levels; ++c)
        if (dw->count[c] != 0.0) {
            double l = bl__combo_level(dw, k, c, s);
            e += l * (l * dw->count[c] - 2.0 * dw->wsum[c]);
        }
    return e > 0.0 ? e : 0.0;
}

/* Joint least-squares scales for the histogram's assignment: solve (T^T T) s = T^T w.
   Components with no nonzero trit get scale 0; a singular system leaves s as it was. */
static void bl__refit_scales(const bl__dwork *dw, int k, float *s)
{
    double g[BL_MAX_K][BL_MAX_K + 1], x[BL_MAX_K];
    int idx[BL_MAX_K] = { 0 }, m = 0, a, b, c, levels = bl__pow3i(k);
    for (a = 0; a < k; ++a) {
        double used = 0.0;
        for (c = 0; c < levels; ++c) used += dw->combo[c * k + a] ? dw->count[c] : 0.0;
        if (used == 0.0) s[a] = 0.0f;
        else idx[m++] = a;
    }
    for (a = 0; a < m; ++a) {
        for (b = a; b < m; ++b) {
            double dot = 0.0;
            for (c = 0; c < levels; ++c) dot += dw->count[c] * dw->combo[c * k + idx[a]] * dw->combo[c * k + idx[b]];
            g[a][b] = g[b][a] = dot;
        }
        g[a][m] = 0.0;
        for (c = 0; c < levels; ++c) g[a][m] += dw->wsum[c] * dw->combo[c * k + idx[a]];
    }
    /* Gaussian elimination with partial pivoting on the m x m system */
    for (c = 0; c < m; ++c) {
        int p = c;
        for (a = c + 1; a < m; ++a)
            if (fabs(g[a][c]) > fabs(g[p][c])) p = a;
        if (fabs(g[p][c]) < 0.5) return; /* an integral matrix: a pivot below 0.5 means singular */
        if (p != c)
            for (b = 0; b <= m; ++b) { double tmp = g[c][b]; g[c][b] = g[p][b]; g[p][b] = tmp; }
        for (a = c + 1; a < m; ++a) {
            double f = g[a][c] / g[c][c];
            for (b = c; b <= m; ++b) g[a][b] -= f * g[c][b];
        }
    }
    for (c = m - 1; c >= 0; --c) {
        double v = g[c][m];
        for (b = c + 1; b < m; ++b) v -= g[c][b] * x[b];
        x[c] = v / g[c][c];
    }
    for (a = 0; a < m; ++a) s[idx[a]] = (float)x[a];
}

/* Sorted levels of the scales s and the midpoints between them. */
static void bl__prepare_levels(int k, const float *s, bl__dwork *dw)
{
    int levels = bl__pow3i(k), c, i, j;
    for (c = 0; c < levels; ++c) {
        double v = bl__combo_level(dw, k, c, s);
        for (j = c; j > 0 && dw->level[j - 1] > v; --j) { /* insertion sort: mostly in order */
            dw->level[j] = dw->level[j - 1];
            dw->level_combo[j] = dw->level_combo[j - 1];
        }
        dw->level[j] = v;
        dw->level_combo[j] = c;
    }
    for (i = 0; i + 1 < levels; ++i) dw->mid[i] = 0.5 * (dw->level[i] + dw->level[i + 1]);
}

/* The combination whose level is nearest to v: a branch-free bisection over the midpoints. */
static int bl__nearest_combo(const bl__dwork *dw, int levels, double v)
{
    int base = 0, len = levels;
    while (len > 1) {
        int half = len / 2;
        base = v >= dw->mid[base + half - 1] ? base + half : base;
        len -= half;
    }
    return dw->level_combo[base];
}

/* Gives every value its nearest level for scales s; fills the histogram, and the trits
   too when t is not NULL. */
static void bl__assign_nearest(const float *w, size_t n, int k, const float *s, int8_t *t, size_t stride,
                               bl__dwork *dw)
{
    int levels = bl__pow3i(k), j;
    size_t i;
    bl__prepare_levels(k, s, dw);
    memset(dw->count, 0, (size_t)levels * sizeof(double));
    memset(dw->wsum, 0, (size_t)levels * sizeof(double));
    for (i = 0; i < n; ++i) {
        int c = bl__nearest_combo(dw, levels, (double)w[i]);
        dw->count[c] += 1.0;
        dw->wsum[c] += (double)w[i];
        if (t)
            for (j = 0; j < k; ++j) t[(size_t)j * stride + i] = dw->combo[c * k + j];
    }
}

/* Alternates joint refits and nearest-level assignments from the histogram in dw.
   Each step can only lower the error; returns the lowest seen, with its scales in s. */
static double bl__refine_scales(const float *w, size_t n, int k, int iters, float *s, bl__dwork *dw)
{
    float cur[BL_MAX_K];
    double best = bl__histogram_error(dw, k, s);
    int it;
    memcpy(cur, s, (size_t)k * sizeof(float));
    for (it = 0; it < iters; ++it) {
        double before = best, e;
        bl__refit_scales(dw, k, cur);
        bl__assign_nearest(w, n, k, cur, NULL, 0, dw);
        e = bl__histogram_error(dw, k, cur);
        if (e < best) {
            best = e;
            memcpy(s, cur, (size_t)k * sizeof(float));
        }
        if (!(best < before * (1.0 - 1e-7))) break; /* converged */
    }
    return best;
}

/* A grid start: k scales in a fixed ratio (3 gives the uniform balanced-ternary grid of
   3^k levels), the step fitted to the uniform grid by a few Lloyd iterations. */
static void bl__grid_scales(const float *w, size_t n, int k, double ratio, float *s)
{
    int half = (bl__pow3i(k) - 1) / 2, it, j;
    double step = (double)bl__absmax(w, n) / half, scale;
    size_t i;
    for (it = 0; it < 8 && step > 0.0; ++it) {
        double num = 0.0, den = 0.0;
        for (i = 0; i < n; ++i) {
            double q = floor((double)w[i] / step + 0.5);
            q = q > half ? half : (q < -half ? -half : q);
            num += q * (double)w[i];
            den += q * q;
        }
        if (den == 0.0) break;
        step = num / den;
    }
    for (j = k - 1, scale = step; j >= 0; --j, scale *= ratio) s[j] = (float)scale;
}

/* One group: greedy components on successive residuals; with refinement, also refined
   from the greedy state and from grid starts, keeping the best scales, whose nearest-level
   trits then replace the greedy ones (never worse: nearest levels are optimal for given
   scales). Ratio 3 is the balanced-ternary grid; a slightly tighter ratio fits bell-shaped
   rows better at k = 3 (measured on Gaussians). */
static void bl__decompose_group(const float *w, size_t n, int k, int iters, bl_method method,
                                int8_t *t, size_t stride, float *s, bl__dwork *dw)
{
    static const double ratios[] = { 3.0, 2.8 };
    size_t i, r;
    int j;
    memcpy(dw->resid, w, n * sizeof(float));
    for (j = 0; j < k; ++j) {
        int8_t *tj = t + (size_t)j * stride;
        s[j] = bl__ternarize_group(dw->resid, n, method, tj, &dw->tern);
        for (i = 0; i < n; ++i) dw->resid[i] -= s[j] * tj[i];
    }
    if (iters > 0) {
        double best;
        dw->wsq = 0.0;
        for (i = 0; i < n; ++i) dw->wsq += (double)w[i] * (double)w[i];
        bl__histogram_of_trits(w, n, k, t, stride, dw);
        best = bl__refine_scales(w, n, k, iters, s, dw);
        for (r = 0; k > 1 && r < sizeof ratios / sizeof ratios[0]; ++r) {
            float alt[BL_MAX_K];
            double e;
            bl__grid_scales(w, n, k, ratios[r], alt);
            bl__assign_nearest(w, n, k, alt, NULL, 0, dw);
            e = bl__refine_scales(w, n, k, iters, alt, dw);
            if (e < best) {
                best = e;
                memcpy(s, alt, (size_t)k * sizeof(float));
            }
        }
        bl__assign_nearest(w, n, k, s, t, stride, dw);
    }
}

BITLINEAR_DEF bl_status bl_decompose_ex(const float *w, int rows, int cols, int k, int refine_iters,
                                        bl_method method, bl_scaling scaling, int8_t *trits,
                                        float *scales)
{
    bl__dwork dw;
    size_t count, total;
    int r, j;
    bl_status st = bl__check_matrix(w, trits, scales, rows, cols, &count);
    if (st != BL_OK) return st;
    if (k < 1 || k > BL_MAX_K || refine_iters < 0 || !bl__valid_method((int)method) ||
        !bl__valid_scaling((int)scaling))
        return BL_ERR_INVALID;
    if (!bl__mul_size(count, (size_t)k, &total)) return BL_ERR_OVERFLOW;
    if (!bl__all_finite(w, count)) return BL_ERR_NONFINITE;
    st = bl__dwork_init(&dw, scaling == BL_SCALING_ROW ? (size_t)cols : count, k);
    if (st == BL_OK) {
        float s[BL_MAX_K];
        if (scaling == BL_SCALING_TENSOR) {
            bl__decompose_group(w, count, k, refine_iters, method, trits, count, s, &dw);
            for (j = 0; j < k; ++j)
                for (r = 0; r < rows; ++r) scales[(size_t)j * (size_t)rows + (size_t)r] = s[j];
        } else {
            for (r = 0; r < rows; ++r) {
                bl__decompose_group(w + (size_t)r * (size_t)cols, (size_t)cols, k, refine_iters, method,
                                    trits + (size_t)r * (size_t)cols, count, s, &dw);
                for (j = 0; j < k; ++j) scales[(size_t)j * (size_t)rows + (size_t)r] = s[j];
            }
        }
    }
    bl__dwork_free(&dw);
    return st;
}

BITLINEAR_DEF bl_status bl_decompose(const float *w, int rows, int cols, int k, int refine_iters,
                                     int8_t *trits, float *scales)
{
    return bl_decompose_ex(w, rows, cols, k, refine_iters, BL_METHOD_OPTIMAL, BL_SCALING_ROW, trits,
                           scales);
}

BITLINEAR_DEF double bl_decompose_error(const float *w, int rows, int cols, int k, const int8_t *trits,
                                        const float *scales)
{
    double err = 0.0, norm = 0.0;
    size_t count, i;
    int r, j;
    if (bl__check_matrix(w, trits, scales, rows, cols, &count) != BL_OK || k < 1 || k > BL_MAX_K)
        return -1.0;
    for (r = 0; r < rows; ++r) {
        for (i = 0; i < (size_t)cols; ++i) {
            size_t at = (size_t)r * (size_t)cols + i;
            double v = (double)w[at];
            norm += v * v;
            for (j = 0; j < k; ++j) v -= (double)scales[(size_t)j * (size_t)rows + (size_t)r] * trits[(size_t)j * count + at];
            err += v * v;
        }
    }
    return norm > 0.0 ? sqrt(err / norm) : sqrt(err);
}
