/* ==== bitlinear: AVX2 kernels ============================================= */
/* A 64-byte block is two ymm halves. INT8: codes (0..2, unsigned) times activations by
   vpmaddubsw (at most 2 * 2 * 127 per int16 lane, so no saturation; a block's digits
   are summed in int16 before one vpmaddwd), the code sum subtracted once per row.
   FLOAT: the codes select +x and -x lanes (sign-bit blends or and-masks), summed apart.
   Tails are copied into a padded 64-byte block so nothing past the packed row is read. */
#ifdef BL__HAVE_AVX2
BL__TARGET_BEGIN("avx2")

#define BL__AVX2_TOKENS 4  /* INT8 tokens per decoded block */
#define BL__AVX2_FTOKENS 2 /* FLOAT tokens per decoded block */

/* the bytes of a tail block, zero past `bytes` */
static const uint8_t *bl__avx2_tail(const uint8_t *row, int bytes, uint8_t *buf)
{
    memset(buf, 0, 64);
    memcpy(buf, row, (size_t)bytes);
    return buf;
}

/* codes 0..2 of digit m, halves h = 0, 1: c[2m + h]; zero bytes give codes 0 */
BL__FORCE_INLINE void bl__avx2_codes(int d, const uint8_t *p, __m256i c[10])
{
    __m256i w[2];
    int h, m;
    w[0] = _mm256_loadu_si256((const __m256i *)(const void *)p);
    w[1] = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
    if (d == 4) {
        const __m256i three = _mm256_set1_epi8(3);
        BL__UNROLL
        for (h = 0; h < 2; ++h) {
            c[h] = _mm256_and_si256(w[h], three);
            c[2 + h] = _mm256_and_si256(_mm256_srli_epi16(w[h], 2), three);
            c[4 + h] = _mm256_and_si256(_mm256_srli_epi16(w[h], 4), three);
            c[6 + h] = _mm256_and_si256(_mm256_srli_epi16(w[h], 6), three);
        }
    } else {
        /* y = byte * 3^m mod 256; code = (y > 85) + (y > 170), compared as signed s = y - 128.
           s needs no flip per digit: 3 (y - 128) = 3y - 384 = 3y - 128 (mod 256), so the
           flipped byte follows the same s -> 3s chain. */
        const __m256i flip = _mm256_set1_epi8((char)0x80), lo = _mm256_set1_epi8(85 - 128),
                      hi = _mm256_set1_epi8(170 - 128), zero = _mm256_setzero_si256();
        BL__UNROLL
        for (h = 0; h < 2; ++h) {
            __m256i s = _mm256_xor_si256(w[h], flip);
            BL__UNROLL
            for (m = 0; m < 5; ++m) {
                c[2 * m + h] = _mm256_sub_epi8(_mm256_sub_epi8(zero, _mm256_cmpgt_epi8(s, lo)), _mm256_cmpgt_epi8(s, hi));
                s = _mm256_add_epi8(_mm256_add_epi8(s, s), s);
                BL__KEEP(s);
            }
        }
    }
}

/* the block at `p` (64 readable bytes) against T tokens at offset `off`, digit stride `step` */
BL__FORCE_INLINE void bl__avx2_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off,
                                          int step, int T, __m256i *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c[10];
    int t, m;
    bl__avx2_codes(d, p, c);
    BL__UNROLL
    for (t = 0; t < T; ++t) {
        const int8_t *at = a + (size_t)t * stride + off;
        __m256i s = _mm256_setzero_si256();
        BL__UNROLL
        for (m = 0; m < d; ++m) {
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[2 * m], _mm256_loadu_si256((const __m256i *)(const void *)(at + step * m))));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[2 * m + 1], _mm256_loadu_si256((const __m256i *)(const void *)(at + step * m + 32))));
        }
        acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s, ones));
    }
}

static int32_t bl__avx2_hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* out[t] = sum_i code_i * a_t[i] over one packed row */
BL__FORCE_INLINE void bl__avx2_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                        int32_t *out)
{
    __m256i acc[BL__AVX2_TOKENS];
    int pos = 0, t, span = 64 * d;
    BL__UNROLL
    for (t = 0; t < T; ++t) acc[t] = _mm256_setzero_si256();
    for (; pos + span <= n; pos += span, row += 64) bl__avx2_block_int8(d, row, a, stride, pos, 64, T, acc);
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        bl__avx2_block_int8(d, bl__avx2_tail(row, bytes, buf), a, stride, pos, bytes, T, acc);
    }
    BL__UNROLL
    for (t = 0; t < T; ++t) out[t] = bl__avx2_hsum(acc[t]);
}

BL__FORCE_INLINE void bl__avx2_gemm_int8(int d, const bl_linear *L, const bl__input *in, int batch, float *y,
                                         int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int tile = batch == 1 ? r1 - r0 : bl__simd_row_tile(L), rt, b0, T, r, j; /* batch 1: one tile */
    for (rt = r0; rt < r1; rt += tile) {
        int rend = r1 - rt > tile ? rt + tile : r1;
        for (b0 = 0; b0 < batch; b0 += T) {
            const int8_t *a = (const int8_t *)in->data + (size_t)b0 * in->stride;
            T = bl__simd_tokens(batch - b0, BL__AVX2_TOKENS);
            for (r = rt; r < rend; ++r) {
                int32_t dot[BL_MAX_K][BL__AVX2_TOKENS];
                if (T == 1 && rend - r >= 4) { /* one token: four rows share one output step */
                    int32_t d4[BL_MAX_K][4];
                    int g;
                    for (j = 0; j < L->k; ++j)
                        for (g = 0; g < 4; ++g)
                            bl__avx2_row_int8(d, L->packed + (size_t)j * plane + (size_t)(r + g) * L->row_bytes,
                                              L->in_features, a, in->stride, 1, &d4[j][g]);
                    bl__x86_store_rows4_int8(L, in, d4, b0, r, y);
                    r += 3;
                    continue;
                }
                for (j = 0; j < L->k; ++j) {
                    const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * L->row_bytes;
                    switch (T) {
                    case 1: bl__avx2_row_int8(d, row, L->in_features, a, in->stride, 1, dot[j]); break;
                    case 2: bl__avx2_row_int8(d, row, L->in_features, a, in->stride, 2, dot[j]); break;
                    default: bl__avx2_row_int8(d, row, L->in_features, a, in->stride, 4, dot[j]); break;
                    }
                }
                bl__simd_store_int8(L, in, &dot[0][0], BL__AVX2_TOKENS, b0, T, r, y);
            }
        }
    }
}

static void bl__gemm_int8_avx2(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    if (L->format == BL_FORMAT_BASE3) bl__avx2_gemm_int8(5, L, in, batch, y, r0, r1);
    else bl__avx2_gemm_int8(4, L, in, batch, y, r0, r1);
}

/* sum over one row by adds and subtracts, T tokens. Each 8-byte group of a block widens
   to 8 dwords once; every digit then selects +x and -x lanes from it: 2BIT by moving the
   digit's bits into the sign (vblendvps), BASE3 by the y = byte * 3^m comparisons. A tail
   is copied into a block padded with "all digits 0" bytes, which select nothing. */
BL__FORCE_INLINE void bl__avx2_row_float(int d, const uint8_t *row, int n, const float *x, size_t stride, int T,
                                         float *out)
{
    __m256 accp[2 * BL__AVX2_FTOKENS], accm[2 * BL__AVX2_FTOKENS];
    const __m256 zero = _mm256_setzero_ps();
    int pos = 0, t, m, q, span = 64 * d;
    BL__UNROLL
    for (t = 0; t < 2 * T; ++t) accp[t] = accm[t] = zero;
    while (pos < n) {
        uint8_t buf[64];
        int bytes = n - pos >= span ? 64 : (n - pos + d - 1) / d;
        const uint8_t *src = row;
        if (bytes < 64) {
            memset(buf, d == 4 ? 0x55 : 128, 64); /* every digit code 1 in either format */
            memcpy(buf, row, (size_t)bytes);
            src = buf;
        }
        for (q = 0; 8 * q < bytes; ++q) {
            __m256i e = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(src + 8 * q)));
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                __m256 p, z; /* d == 4: sign bits; d == 5: and-masks */
                if (d == 4) {
                    __m256i hi = _mm256_sll_epi32(e, _mm_cvtsi32_si128(30 - 2 * m)); /* sign = code bit 1 */
                    __m256i lo = _mm256_sll_epi32(e, _mm_cvtsi32_si128(31 - 2 * m)); /* sign = code bit 0 */
                    p = _mm256_castsi256_ps(hi);
                    z = _mm256_castsi256_ps(_mm256_or_si256(hi, lo)); /* sign clear: code 0 */
                } else {
                    p = _mm256_castsi256_ps(_mm256_cmpgt_epi32(e, _mm256_set1_epi32(170)));
                    z = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(86), e));
                    e = _mm256_and_si256(_mm256_add_epi32(_mm256_add_epi32(e, e), e), _mm256_set1_epi32(255));
                }
                BL__UNROLL
                for (t = 0; t < T; ++t) {
                    __m256 v = _mm256_loadu_ps(x + (size_t)t * stride + pos + bytes * m + 8 * q);
                    __m256 vp = d == 4 ? _mm256_blendv_ps(zero, v, p) : _mm256_and_ps(p, v);
                    __m256 vm = d == 4 ? _mm256_blendv_ps(v, zero, z) : _mm256_and_ps(z, v);
                    accp[2 * t + (q & 1)] = _mm256_add_ps(accp[2 * t + (q & 1)], vp);
                    accm[2 * t + (q & 1)] = _mm256_add_ps(accm[2 * t + (q & 1)], vm);
                }
            }
        }
        pos += bytes * d;
        row += bytes;
    }
    BL__UNROLL
    for (t = 0; t < T; ++t) {
        __m256 s = _mm256_sub_ps(_mm256_add_ps(accp[2 * t], accp[2 * t + 1]), _mm256_add_ps(accm[2 * t], accm[2 * t + 1]));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
        out[t] = _mm_cvtss_f32(h);
    }
}

BL__FORCE_INLINE void bl__avx2_gemm_float(int d, const bl_linear *L, const bl__input *in, int batch, float *y,
                                          int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int tile = bl__simd_row_tile(L), rt, b0, T, r, j, t;
    for (rt = r0; rt < r1; rt += tile) {
        int rend = r1 - rt > tile ? rt + tile : r1;
        for (b0 = 0; b0 < batch; b0 += T) {
            const float *x = (const float *)in->data + (size_t)b0 * in->stride;
            T = bl__simd_tokens(batch - b0, BL__AVX2_FTOKENS);
            for (r = rt; r < rend; ++r) {
                float dot[BL__AVX2_FTOKENS], acc[BL__AVX2_FTOKENS];
                for (t = 0; t < T; ++t) acc[t] = 0.0f;
                for (j = 0; j < L->k; ++j) {
                    const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * L->row_bytes;
                    float s = L->scales[(size_t)j * (size_t)L->out_features + (size_t)r];
                    if (T == 1) bl__avx2_row_float(d, row, L->in_features, x, in->stride, 1, dot);
                    else bl__avx2_row_float(d, row, L->in_features, x, in->stride, 2, dot);
                    for (t = 0; t < T; ++t) acc[t] += s * dot[t];
                }
                for (t = 0; t < T; ++t)
                    y[(size_t)(b0 + t) * (size_t)L->out_features + (size_t)r] = L->bias ? acc[t] + L->bias[r] : acc[t];
            }
        }
    }
}

static void bl__gemm_float_avx2(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    if (L->format == BL_FORMAT_BASE3) bl__avx2_gemm_float(5, L, in, batch, y, r0, r1);
    else bl__avx2_gemm_float(4, L, in, batch, y, r0, r1);
}

/* Activation quantization, 8 (abs_max) or 32 (quantize) floats a step, the rest by the
   scalar code. cvtps2dq rounds to nearest even (the default mode), as bl__round_even does. */
static uint32_t bl__abs_max_avx2(const float *x, size_t n)
{
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i m = _mm256_setzero_si256();
    __m128i h;
    uint32_t v, rest;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)(x + i)), magnitude));
    h = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0xB1));
    v = (uint32_t)_mm_cvtsi128_si32(h);
    rest = bl__abs_max_bits(x + i, n - i);
    return rest > v ? rest : v;
}

static int32_t bl__quantize_avx2(const float *x, size_t n, float inverse, int qmax, int8_t *q)
{
    const __m256 inv = _mm256_set1_ps(inverse), hi = _mm256_set1_ps((float)qmax), lo = _mm256_set1_ps(-(float)qmax);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i sum = _mm256_setzero_si256(), c[4], p;
    size_t i = 0;
    int j;
    for (; i + 32 <= n; i += 32) {
        BL__UNROLL
        for (j = 0; j < 4; ++j) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), inv);
            c[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
            sum = _mm256_add_epi32(sum, c[j]);
        }
        /* the packs work within 128-bit lanes; the permutation puts the 32 codes back in order */
        p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(void *)(q + i), _mm256_permutevar8x32_epi32(p, order));
    }
    return bl__avx2_hsum(sum) + bl__quantize_scalar(x + i, n - i, inverse, qmax, q + i);
}

static const bl__backend_kernels bl__kernels_avx2 = { bl__gemm_int8_avx2, bl__gemm_float_avx2, bl__abs_max_avx2,
                                                      bl__quantize_avx2 };

BL__TARGET_END
#endif /* BL__HAVE_AVX2 */
