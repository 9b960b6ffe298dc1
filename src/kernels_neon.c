/* ==== bitlinear: NEON kernels (aarch64) =================================== */
/* A 64-byte block is four q registers. INT8: codes (0..2) times activations by SDOT
   where the compiler targets the dot-product extension, otherwise widening multiplies
   summed in int16 for one block (at most 40 * 2 * 127) and pairwise-added to int32;
   the code sum is subtracted once per row. FLOAT: per-lane and-masks from the codes,
   +1 and -1 lanes summed apart. Tails are copied into a zeroed 64-byte block. */
#ifdef BL__HAVE_NEON

#define BL__NEON_TOKENS 4  /* INT8 tokens per decoded block */
#define BL__NEON_FTOKENS 2 /* FLOAT tokens per decoded block */

/* codes 0..2 of digit m, quarter h: c[4m + h]; zero bytes give codes 0 */
BL__FORCE_INLINE void bl__neon_codes(int d, const uint8_t *p, uint8x16_t c[20])
{
    int h, m;
    if (d == 4) {
        const uint8x16_t three = vdupq_n_u8(3);
        for (h = 0; h < 4; ++h) {
            uint8x16_t w = vld1q_u8(p + 16 * h);
            c[h] = vandq_u8(w, three);
            c[4 + h] = vandq_u8(vshrq_n_u8(w, 2), three);
            c[8 + h] = vandq_u8(vshrq_n_u8(w, 4), three);
            c[12 + h] = vshrq_n_u8(w, 6);
        }
    } else {
        /* y = byte * 3^m mod 256; code = (y > 85) + (y > 170) */
        const uint8x16_t lo = vdupq_n_u8(85), hi = vdupq_n_u8(170), zero = vdupq_n_u8(0);
        for (h = 0; h < 4; ++h) {
            uint8x16_t y = vld1q_u8(p + 16 * h);
            for (m = 0; m < 5; ++m) {
                c[4 * m + h] = vsubq_u8(vsubq_u8(zero, vcgtq_u8(y, lo)), vcgtq_u8(y, hi));
                y = vaddq_u8(vaddq_u8(y, y), y);
            }
        }
    }
}

BL__FORCE_INLINE void bl__neon_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off, int step,
                                          int T, int32x4_t *acc)
{
    uint8x16_t c[20];
    int t, m, h;
    bl__neon_codes(d, p, c);
    for (t = 0; t < T; ++t) {
        const int8_t *at = a + (size_t)t * stride + off;
#ifdef __ARM_FEATURE_DOTPROD
        for (m = 0; m < d; ++m)
            for (h = 0; h < 4; ++h)
                acc[t] = vdotq_s32(acc[t], vreinterpretq_s8_u8(c[4 * m + h]), vld1q_s8(at + step * m + 16 * h));
#else
        int16x8_t s = vdupq_n_s16(0);
        for (m = 0; m < d; ++m)
            for (h = 0; h < 4; ++h) {
                int8x16_t cv = vreinterpretq_s8_u8(c[4 * m + h]), av = vld1q_s8(at + step * m + 16 * h);
                s = vmlal_s8(s, vget_low_s8(cv), vget_low_s8(av));
                s = vmlal_s8(s, vget_high_s8(cv), vget_high_s8(av));
            }
        acc[t] = vpadalq_s16(acc[t], s);
#endif
    }
}

BL__FORCE_INLINE void bl__neon_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                        int32_t *out)
{
    int32x4_t acc[BL__NEON_TOKENS];
    int pos = 0, t, span = 64 * d;
    for (t = 0; t < T; ++t) acc[t] = vdupq_n_s32(0);
    for (; pos + span <= n; pos += span, row += 64) bl__neon_block_int8(d, row, a, stride, pos, 64, T, acc);
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        bl__neon_block_int8(d, bl__simd_tail(row, bytes, 0, buf), a, stride, pos, bytes, T, acc);
    }
    for (t = 0; t < T; ++t) out[t] = vaddvq_s32(acc[t]);
}

/* and-masks of the +1 and -1 lanes, 4 floats each in storage order: plus[16m + i] */
BL__FORCE_INLINE void bl__neon_masks(int d, const uint8_t *p, int bytes, uint32x4_t *plus, uint32x4_t *minus)
{
    static const uint8_t iota[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8x16_t c[20];
    int m, h;
    bl__neon_codes(d, p, c);
    for (h = 0; h < 4; ++h) {
        uint8x16_t valid = vcltq_u8(vaddq_u8(vld1q_u8(iota), vdupq_n_u8((uint8_t)(16 * h))), vdupq_n_u8((uint8_t)bytes));
        for (m = 0; m < d; ++m) {
            int8x16_t pv = vreinterpretq_s8_u8(vceqq_u8(c[4 * m + h], vdupq_n_u8(2)));
            int8x16_t zv = vreinterpretq_s8_u8(vandq_u8(vceqq_u8(c[4 * m + h], vdupq_n_u8(0)), valid));
            int16x8_t p0 = vmovl_s8(vget_low_s8(pv)), p1 = vmovl_s8(vget_high_s8(pv));
            int16x8_t z0 = vmovl_s8(vget_low_s8(zv)), z1 = vmovl_s8(vget_high_s8(zv));
            uint32x4_t *pp = plus + 16 * m + 4 * h, *zz = minus + 16 * m + 4 * h;
            pp[0] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(p0)));
            pp[1] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(p0)));
            pp[2] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(p1)));
            pp[3] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(p1)));
            zz[0] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(z0)));
            zz[1] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(z0)));
            zz[2] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(z1)));
            zz[3] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(z1)));
        }
    }
}

BL__FORCE_INLINE float32x4_t bl__neon_select(uint32x4_t mask, float32x4_t v)
{
    return vreinterpretq_f32_u32(vandq_u32(mask, vreinterpretq_u32_f32(v)));
}

BL__FORCE_INLINE void bl__neon_row_float(int d, const uint8_t *row, int n, const float *x, size_t stride, int T,
                                         float *out)
{
    float32x4_t accp[2 * BL__NEON_FTOKENS], accm[2 * BL__NEON_FTOKENS];
    uint32x4_t plus[80], minus[80];
    int pos = 0, t, m, q, span = 64 * d;
    for (t = 0; t < 2 * T; ++t) accp[t] = accm[t] = vdupq_n_f32(0.0f);
    while (pos < n) {
        uint8_t buf[64];
        int bytes = n - pos >= span ? 64 : (n - pos + d - 1) / d, chunks = (bytes + 3) / 4;
        bl__neon_masks(d, bytes == 64 ? row : bl__simd_tail(row, bytes, 0, buf), bytes, plus, minus);
        for (m = 0; m < d; ++m)
            for (q = 0; q < chunks; ++q)
                for (t = 0; t < T; ++t) {
                    float32x4_t v = vld1q_f32(x + (size_t)t * stride + pos + bytes * m + 4 * q);
                    accp[2 * t + (q & 1)] = vaddq_f32(accp[2 * t + (q & 1)], bl__neon_select(plus[16 * m + q], v));
                    accm[2 * t + (q & 1)] = vaddq_f32(accm[2 * t + (q & 1)], bl__neon_select(minus[16 * m + q], v));
                }
        pos += bytes * d;
        row += bytes;
    }
    for (t = 0; t < T; ++t)
        out[t] = vaddvq_f32(vsubq_f32(vaddq_f32(accp[2 * t], accp[2 * t + 1]), vaddq_f32(accm[2 * t], accm[2 * t + 1])));
}

BL__SIMD_WALK(neon, BL__NEON_TOKENS, BL__NEON_FTOKENS)

/* Activation quantization, 4 (abs_max) or 8 (quantize) floats a step, the rest by the
   scalar code. vcvtnq rounds to nearest even, as bl__round_even does in the default mode. */
static uint32_t bl__abs_max_neon(const float *x, size_t n)
{
    const uint32x4_t magnitude = vdupq_n_u32(0x7FFFFFFFu);
    uint32x4_t m = vdupq_n_u32(0);
    uint32_t v, rest;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxq_u32(m, vandq_u32(vreinterpretq_u32_f32(vld1q_f32(x + i)), magnitude));
    v = vmaxvq_u32(m);
    rest = bl__abs_max_bits(x + i, n - i);
    return rest > v ? rest : v;
}

static int32_t bl__quantize_neon(const float *x, size_t n, float inverse, int qmax, int8_t *q)
{
    const float32x4_t hi = vdupq_n_f32((float)qmax), lo = vdupq_n_f32(-(float)qmax);
    int32x4_t sum = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t v0 = vmulq_n_f32(vld1q_f32(x + i), inverse), v1 = vmulq_n_f32(vld1q_f32(x + i + 4), inverse);
        int32x4_t c0 = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(v0, lo), hi));
        int32x4_t c1 = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(v1, lo), hi));
        vst1_s8(q + i, vmovn_s16(vcombine_s16(vmovn_s32(c0), vmovn_s32(c1))));
        sum = vaddq_s32(sum, vaddq_s32(c0, c1));
    }
    return vaddvq_s32(sum) + bl__quantize_scalar(x + i, n - i, inverse, qmax, q + i);
}

static const bl__backend_kernels bl__kernels_neon = { bl__neon_walk_int8, bl__neon_walk_float, bl__abs_max_neon,
                                                      bl__quantize_neon };

#endif /* BL__HAVE_NEON */
