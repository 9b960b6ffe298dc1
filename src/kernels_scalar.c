/* ==== bitlinear: scalar kernels (the readable reference) ================== */
/* Every SIMD backend must give exactly these INT8 results. The loops walk a packed row
   in its storage order (see bl__trit_position) and add or subtract activations: no
   multiplication by weights. */

#define BL__FOR_EACH_TRIT(format, row, n, BODY)                                                   \
    do {                                                                                          \
        int d_ = bl__digits(format), pos_ = 0;                                                    \
        const uint8_t *p_ = (row);                                                                \
        while (pos_ < (n)) {                                                                      \
            int left_ = (n) - pos_;                                                               \
            int width_ = bl__block_width(format, left_);                                          \
            int j_, m_;                                                                           \
            for (j_ = 0; j_ < width_; ++j_)                                                       \
                for (m_ = 0; m_ < d_; ++m_) {                                                     \
                    unsigned code = d_ == 5 ? bl__base3_code(p_[j_], m_) : bl__2bit_code(p_[j_], m_); \
                    size_t at = (size_t)pos_ + (size_t)j_ + (size_t)m_ * (size_t)width_;          \
                    BODY                                                                          \
                }                                                                                 \
            pos_ += width_ * d_;                                                                  \
            p_ += width_;                                                                         \
        }                                                                                         \
    } while (0)

/* sum_i t_i a_i; padding positions read zero activations (the prepared input is padded) */
static int32_t bl__dot_int8_scalar(int format, const uint8_t *row, int n, const int8_t *a)
{
    int32_t sum = 0;
    BL__FOR_EACH_TRIT(format, row, n, {
        int32_t v = a[at];
        sum += (code == 2 ? v : 0) - (code == 0 ? v : 0); /* selects, not branches: trits are random */
    });
    return sum;
}

static float bl__dot_float_scalar(int format, const uint8_t *row, int n, const float *x)
{
    float sum = 0.0f;
    BL__FOR_EACH_TRIT(format, row, n, {
        float v = x[at];
        sum += (code == 2 ? v : 0.0f) - (code == 0 ? v : 0.0f);
    });
    return sum;
}

static void bl__gemm_int8_scalar(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int b, r, j;
    for (b = 0; b < batch; ++b) {
        const int8_t *a = (const int8_t *)in->data + (size_t)b * in->stride;
        for (r = r0; r < r1; ++r) {
            int32_t dot[BL_MAX_K];
            for (j = 0; j < L->k; ++j)
                dot[j] = bl__dot_int8_scalar((int)L->format, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes,
                                             L->in_features, a);
            y[(size_t)b * (size_t)L->out_features + (size_t)r] =
                bl__int8_output(dot, L->scales, L->k, L->out_features, r, in->act_scale[b], L->bias);
        }
    }
}

static void bl__gemm_float_scalar(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int b, r, j;
    for (b = 0; b < batch; ++b) {
        const float *x = (const float *)in->data + (size_t)b * in->stride;
        for (r = r0; r < r1; ++r) {
            float acc = 0.0f;
            for (j = 0; j < L->k; ++j)
                acc += L->scales[(size_t)j * (size_t)L->out_features + (size_t)r] *
                       bl__dot_float_scalar((int)L->format, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes,
                                            L->in_features, x);
            y[(size_t)b * (size_t)L->out_features + (size_t)r] = L->bias ? acc + L->bias[r] : acc;
        }
    }
}

static int32_t bl__quantize_scalar(const float *x, size_t n, float inverse, int qmax, int8_t *q)
{
    int32_t sum = 0;
    size_t i;
    for (i = 0; i < n; ++i) {
        q[i] = bl__act_code(x[i], inverse, qmax);
        sum += q[i];
    }
    return sum;
}

static const bl__backend_kernels bl__kernels_scalar = { bl__gemm_int8_scalar, bl__gemm_float_scalar,
                                                        bl__abs_max_bits, bl__quantize_scalar };
