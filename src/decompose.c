/* ==== bitlinear: greedy ternary decomposition and its refinement ========= */

/* Work memory for one group of n values and k components. */
typedef struct bl__dwork {
    bl__work tern;
    float *resid;              /* [n] */
    int8_t *alt, *snap;        /* [k][n]: the grid start, and the best trits seen */
    double *level;             /* [3^k] sorted values of sum_j s_j t_j */
    int *level_combo;          /* [3^k] which trit combination each level is */
    int8_t *combo;             /* [3^k][k] trits of each combination */
} bl__dwork;

static void bl__dwork_free(bl__dwork *dw)
{
    bl__work_free(&dw->tern);
    bl__free(NULL, dw->resid);
    bl__free(NULL, dw->alt);
    bl__free(NULL, dw->snap);
    bl__free(NULL, dw->level);
    bl__free(NULL, dw->level_combo);
    bl__free(NULL, dw->combo);
    memset(dw, 0, sizeof *dw);
}

static int bl__pow3i(int k)
{
    int p = 1;
    while (k-- > 0) p *= 3;
    return p;
}

static bl_status bl__dwork_init(bl__dwork *dw, size_t n, int k, int refine)
{
    size_t kn;
    int c, j, levels = bl__pow3i(k);
    bl_status st;
    memset(dw, 0, sizeof *dw);
    if (!bl__mul_size(n, (size_t)k, &kn) || kn > (size_t)-1 / sizeof(float)) return BL_ERR_OVERFLOW;
    st = bl__work_reserve(&dw->tern, n);
    if (st != BL_OK) return st;
    dw->resid = (float *)bl__alloc(NULL, n * sizeof(float));
    if (!dw->resid) return BL_ERR_NOMEM;
    if (!refine) return BL_OK;
    dw->alt = (int8_t *)bl__alloc(NULL, kn);
    dw->snap = (int8_t *)bl__alloc(NULL, kn);
    dw->level = (double *)bl__alloc(NULL, (size_t)levels * sizeof(double));
    dw->level_combo = (int *)bl__alloc(NULL, (size_t)levels * sizeof(int));
    dw->combo = (int8_t *)bl__alloc(NULL, (size_t)levels * (size_t)k);
    if (!dw->alt || !dw->snap || !dw->level || !dw->level_combo || !dw->combo) return BL_ERR_NOMEM;
    for (c = 0; c < levels; ++c) {
        int rest = c;
        for (j = 0; j < k; ++j) {
            dw->combo[c * k + j] = (int8_t)(rest % 3 - 1);
            rest /= 3;
        }
    }
    return BL_OK;
}

/* Squared error of a group against sum_j s[j] * t[j*stride + i]. */
static double bl__group_error(const float *w, size_t n, int k, const int8_t *t, size_t stride,
                              const float *s)
{
    double e = 0.0;
    size_t i;
    int j;
    for (i = 0; i < n; ++i) {
        double v = w[i];
        for (j = 0; j < k; ++j) v -= (double)s[j] * t[j * stride + i];
        e += v * v;
    }
    return e;
}

/* Joint least-squares scales for fixed trits: solve (T^T T) s = T^T w. Components with no
   nonzero trit get scale 0; a singular system leaves the scales as they were. */
static void bl__refit_scales(const float *w, size_t n, int k, const int8_t *t, size_t stride, float *s)
{
    double g[BL_MAX_K][BL_MAX_K + 1], x[BL_MAX_K];
    int idx[BL_MAX_K] = { 0 }, m = 0, a, b, c;
    size_t i;
    for (a = 0; a < k; ++a) {
        const int8_t *ta = t + a * stride;
        for (i = 0; i < n && !ta[i]; ++i) {}
        if (i == n) s[a] = 0.0f;
        else idx[m++] = a;
    }
    for (a = 0; a < m; ++a) {
        const int8_t *ta = t + idx[a] * stride;
        double rhs = 0.0;
        for (b = a; b < m; ++b) {
            const int8_t *tb = t + idx[b] * stride;
            long long dot = 0;
            for (i = 0; i < n; ++i) dot += ta[i] * tb[i];
            g[a][b] = g[b][a] = (double)dot;
        }
        for (i = 0; i < n; ++i) rhs += (double)ta[i] * w[i];
        g[a][m] = rhs;
    }
    /* Gaussian elimination with partial pivoting on the m x m system */
    for (c = 0; c < m; ++c) {
        int p = c;
        for (a = c + 1; a < m; ++a)
            if (fabs(g[a][c]) > fabs(g[p][c])) p = a;
        if (fabs(g[p][c]) < 0.5) return; /* the matrix is integral: a pivot < 0.5 means singular */
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

static void bl__sort_levels(double *level, int *combo_of, int count)
{
    int i, j;
    for (i = 1; i < count; ++i) { /* insertion sort: at most 3^8 levels, mostly in order */
        double v = level[i];
        int c = combo_of[i];
        for (j = i; j > 0 && level[j - 1] > v; --j) {
            level[j] = level[j - 1];
            combo_of[j] = combo_of[j - 1];
        }
        level[j] = v;
        combo_of[j] = c;
    }
}

/* Gives each value the trit combination whose level sum_j s_j t_j is nearest. */
static void bl__repick_trits(const float *w, size_t n, int k, int8_t *t, size_t stride, const float *s,
                             bl__dwork *dw)
{
    int levels = bl__pow3i(k), c, j;
    size_t i;
    for (c = 0; c < levels; ++c) {
        double v = 0.0;
        for (j = 0; j < k; ++j) v += (double)s[j] * dw->combo[c * k + j];
        dw->level[c] = v;
        dw->level_combo[c] = c;
    }
    bl__sort_levels(dw->level, dw->level_combo, levels);
    for (i = 0; i < n; ++i) {
        double v = w[i];
        int lo = 0, hi = levels - 1, best;
        while (hi - lo > 1) { /* nearest of the sorted levels by bisection */
            int mid = (lo + hi) / 2;
            if (dw->level[mid] <= v) lo = mid;
            else hi = mid;
        }
        best = fabs(v - dw->level[lo]) <= fabs(dw->level[hi] - v) ? lo : hi;
        for (j = 0; j < k; ++j) t[j * stride + i] = dw->combo[dw->level_combo[best] * k + j];
    }
}

/* Alternates joint refits and re-picks; returns the error of the best state seen,
   which is the state left in t and s. */
static double bl__refine_group(const float *w, size_t n, int k, int iters, int8_t *t, size_t stride,
                               float *s, bl__dwork *dw)
{
    double best = bl__group_error(w, n, k, t, stride, s);
    float best_s[BL_MAX_K];
    int it, j;
    for (it = 0; it < iters; ++it) {
        double e;
        memcpy(best_s, s, (size_t)k * sizeof(float));
        for (j = 0; j < k; ++j) memcpy(dw->snap + (size_t)j * n, t + j * stride, n);
        bl__refit_scales(w, n, k, t, stride, s);
        bl__repick_trits(w, n, k, t, stride, s, dw);
        bl__refit_scales(w, n, k, t, stride, s);
        e = bl__group_error(w, n, k, t, stride, s);
        if (!(e < best)) { /* no progress: restore the best state and stop */
            memcpy(s, best_s, (size_t)k * sizeof(float));
            for (j = 0; j < k; ++j) memcpy(t + j * stride, dw->snap + (size_t)j * n, n);
            break;
        }
        if (e > best * (1.0 - 1e-6)) it = iters; /* converged: keep this state, stop */
        best = e;
    }
    return best;
}

/* A grid start: k scales in a fixed ratio (3 gives the uniform balanced-ternary grid of
   3^k levels), the step fitted to the uniform grid by a few Lloyd iterations, then each
   value given its nearest level. */
static void bl__grid_start(const float *w, size_t n, int k, double ratio, int8_t *t, float *s,
                           bl__dwork *dw)
{
    int half = (bl__pow3i(k) - 1) / 2, it, j;
    double step = (double)bl__absmax(w, n) / half, scale;
    size_t i;
    for (it = 0; it < 8 && step > 0.0; ++it) {
        double num = 0.0, den = 0.0;
        for (i = 0; i < n; ++i) {
            double q = floor((double)w[i] / step + 0.5);
            q = q > half ? half : (q < -half ? -half : q);
            num += q * w[i];
            den += q * q;
        }
        if (den == 0.0) break;
        step = num / den;
    }
    for (j = k - 1, scale = step; j >= 0; --j, scale *= ratio) s[j] = (float)scale;
    bl__repick_trits(w, n, k, t, n, s, dw);
}

/* One group: greedy components on successive residuals, then refinement from the greedy
   state and from grid starts, keeping the best. Ratio 3 is the balanced-ternary grid;
   a slightly tighter ratio fits bell-shaped rows better at k = 3 (measured on Gaussians). */
static void bl__decompose_group(const float *w, size_t n, int k, int iters, bl_method method,
                                int8_t *t, size_t stride, float *s, bl__dwork *dw)
{
    static const double ratios[] = { 3.0, 2.8 };
    size_t i, r;
    int j;
    memcpy(dw->resid, w, n * sizeof(float));
    for (j = 0; j < k; ++j) {
        int8_t *tj = t + j * stride;
        s[j] = bl__ternarize_group(dw->resid, n, method, tj, &dw->tern);
        for (i = 0; i < n; ++i) dw->resid[i] -= s[j] * tj[i];
    }
    if (iters > 0) {
        double e = bl__refine_group(w, n, k, iters, t, stride, s, dw);
        for (r = 0; k > 1 && r < sizeof ratios / sizeof ratios[0]; ++r) {
            float alt_s[BL_MAX_K];
            double e_alt;
            bl__grid_start(w, n, k, ratios[r], dw->alt, alt_s, dw);
            e_alt = bl__refine_group(w, n, k, iters, dw->alt, n, alt_s, dw);
            if (e_alt < e) {
                e = e_alt;
                memcpy(s, alt_s, (size_t)k * sizeof(float));
                for (j = 0; j < k; ++j) memcpy(t + j * stride, dw->alt + (size_t)j * n, n);
            }
        }
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
    st = bl__dwork_init(&dw, scaling == BL_SCALING_ROW ? (size_t)cols : count, k, refine_iters > 0);
    if (st == BL_OK) {
        float s[BL_MAX_K];
        if (scaling == BL_SCALING_TENSOR) {
            bl__decompose_group(w, count, k, refine_iters, method, trits, count, s, &dw);
            for (j = 0; j < k; ++j)
                for (r = 0; r < rows; ++r) scales[(size_t)j * rows + r] = s[j];
        } else {
            for (r = 0; r < rows; ++r) {
                bl__decompose_group(w + (size_t)r * cols, (size_t)cols, k, refine_iters, method,
                                    trits + (size_t)r * cols, count, s, &dw);
                for (j = 0; j < k; ++j) scales[(size_t)j * rows + r] = s[j];
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
            size_t at = (size_t)r * cols + i;
            double v = w[at];
            norm += v * v;
            for (j = 0; j < k; ++j) v -= (double)scales[(size_t)j * rows + r] * trits[(size_t)j * count + at];
            err += v * v;
        }
    }
    return norm > 0.0 ? sqrt(err / norm) : sqrt(err);
}
