/* ==== bitlinear: dead-zone statistics ===================================== */
/* Weights sitting on the rounding threshold flip trits under tiny updates (straight-
   through noise dominates their gradient); weights deep in the zero bin never move. */

enum { BL__DZ_NEG, BL__DZ_ZERO, BL__DZ_POS, BL__DZ_BOUNDARY, BL__DZ_INNER, BL__DZ_COUNT };

/* The threshold between the 0 bin and the +-1 bins of one group with scale s. */
static double bl__deadzone_tau(bl_method method, int lsq, const float *w, size_t n, float s)
{
    if (lsq) return 0.5 * (double)s;
    switch (method) {
    case BL_METHOD_ABSMAX:
        return 0.5 * (double)bl__absmax(w, n);
    case BL_METHOD_TWN:
        return 0.7 * bl__mean_abs(w, n);
    default: /* OPTIMAL and ABSMEAN: the trits are the nearest levels of their own scale */
        break;
    }
    return 0.5 * (double)s;
}

static void bl__deadzone_tally(const float *w, const int8_t *t, size_t n, float s, double tau,
                               double band, size_t cnt[BL__DZ_COUNT])
{
    size_t i;
    double half = band * (double)s;
    for (i = 0; i < n; ++i) {
        double a = fabs((double)w[i]);
        cnt[t[i] + 1]++;
        if (fabs(a - tau) < half) cnt[BL__DZ_BOUNDARY]++;
        if (t[i] == 0 && a < tau - half) cnt[BL__DZ_INNER]++;
    }
}

static void bl__deadzone_finish(const size_t cnt[BL__DZ_COUNT], size_t n, double scale_sum, size_t groups,
                                bl_deadzone *out)
{
    double inv = 1.0 / (double)n;
    out->frac_neg = (double)cnt[BL__DZ_NEG] * inv;
    out->frac_zero = (double)cnt[BL__DZ_ZERO] * inv;
    out->frac_pos = (double)cnt[BL__DZ_POS] * inv;
    out->frac_boundary = (double)cnt[BL__DZ_BOUNDARY] * inv;
    out->frac_zero_inner = (double)cnt[BL__DZ_INNER] * inv;
    out->mean_scale = scale_sum / (double)groups;
}

/* Statistics of w[rows][cols] for given trits and per-group scales (groups: 1 or rows). */
static void bl__deadzone_of(const float *w, const int8_t *t, const float *scales, int rows, int cols,
                            bl_scaling scaling, bl_method method, int lsq, double band, bl_deadzone *out)
{
    size_t cnt[BL__DZ_COUNT] = {0, 0, 0, 0, 0}, count = (size_t)rows * (size_t)cols;
    double sum = 0.0;
    int r;
    if (scaling == BL_SCALING_TENSOR) {
        bl__deadzone_tally(w, t, count, scales[0], bl__deadzone_tau(method, lsq, w, count, scales[0]),
                           band, cnt);
        bl__deadzone_finish(cnt, count, (double)scales[0], 1, out);
        return;
    }
    for (r = 0; r < rows; ++r) {
        const float *wr = w + (size_t)r * (size_t)cols;
        bl__deadzone_tally(wr, t + (size_t)r * (size_t)cols, (size_t)cols, scales[r],
                           bl__deadzone_tau(method, lsq, wr, (size_t)cols, scales[r]), band, cnt);
        sum += (double)scales[r];
    }
    bl__deadzone_finish(cnt, count, sum, (size_t)rows, out);
}

BITLINEAR_DEF bl_status bl_deadzone_stats(const float *w, int rows, int cols, bl_method method,
                                          bl_scaling scaling, float band, bl_deadzone *out)
{
    size_t count;
    int8_t *t;
    float *scales;
    bl_status st;
    if (!w || !out || rows <= 0 || cols <= 0 || !(band >= 0.0f) || band > FLT_MAX ||
        !bl__valid_method((int)method) || !bl__valid_scaling((int)scaling))
        return BL_ERR_INVALID;
    if (!bl__mul_size((size_t)rows, (size_t)cols, &count)) return BL_ERR_OVERFLOW;
    t = (int8_t *)bl__alloc(NULL, count);
    scales = (float *)bl__alloc(NULL, (size_t)rows * sizeof(float));
    st = t && scales ? BL_OK : BL_ERR_NOMEM;
    if (st == BL_OK) st = bl_ternarize(w, rows, cols, method, scaling, t, scales);
    if (st == BL_OK) bl__deadzone_of(w, t, scales, rows, cols, scaling, method, 0, (double)band, out);
    bl__free(NULL, t);
    bl__free(NULL, scales);
    return st;
}
