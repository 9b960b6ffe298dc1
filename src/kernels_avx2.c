/* ==== bitlinear: AVX2 kernels ============================================= */
/* A 64-byte block is two ymm halves. INT8: codes (0..2, unsigned) times activations by
   vpmaddubsw (at most 2 * 2 * 127 per int16 lane, so no saturation; a block's digits
   are summed in int16 before one vpmaddwd), the code sum subtracted once per row.
   FLOAT: table lookups turn the codes into floats -1, 0, +1 that meet x in FMAs.
   Tails are copied into a padded 64-byte block so nothing past the packed row is read. */
#ifdef BL__HAVE_AVX2
BL__TARGET_BEGIN("avx2,fma")

#define BL__AVX2_TOKENS 4  /* INT8 tokens per decoded block */

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

static float bl__avx2_hsum_ps(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
    return _mm_cvtss_f32(h);
}

/* FLOAT activations, as in the AVX-512 kernels: the trits become floats t in {-1, 0, +1}
   by vpermps lookups on the widened packed bytes (the index is the low three bits of
   each dword), and meet the activations in FMAs. t * x is exact, so each FMA is exactly
   the addition or subtraction of x (or nothing) that the FLOAT path specifies; only the
   summation order differs from the scalar reference. Batch 1 decodes in registers, two
   rows sharing each activation load (four rows' accumulators do not fit in 16 registers).
   Larger batches decode a panel of 16 rows x 2 blocks once (the trits times the row's
   scale, transposed so that each column's 16 weights are two ymm) into a 40 KiB stack
   buffer, and run a 16 rows x 6 tokens broadcast-FMA kernel over it, as an sgemm kernel
   does: 12 accumulators, 2 loads and 6 broadcasts per 12 FMAs, no horizontal sums. */
#define BL__AVX2_FROWS 2   /* batch-1 rows per activation load */
#define BL__AVX2_FTOK 6    /* tokens per panel kernel pass */
#define BL__AVX2_FSB 128   /* tokens whose column chunk of activations stays in L2 together */
#define BL__AVX2_FBLOCKS 2 /* blocks per batched column chunk */
#define BL__AVX2_FAHEAD 16384 /* batch-1 L2 prefetch distance in bytes (at least 3 row groups) */

/* t of the code in index bits 0..1; code 3 never occurs */
BL__FORCE_INLINE __m256 bl__avx2_ftable(void) { return _mm256_setr_ps(-1, 0, 1, 2, -1, 0, 1, 2); }

/* 8 packed bytes zero-extended into dwords */
BL__FORCE_INLINE __m256i bl__avx2_fbytes(const uint8_t *p)
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* digit m's weights of the 8 bytes in e (zero-extended dwords), looked up in tab. 2BIT:
   the digit shifted to bits 0..1. BASE3: e holds y << 8 (y = byte * 3^m mod 256) in the
   low word of each dword; the high half of y * 3 << 8 is the code (3y) >> 8
   (bl__base3_code), its low half the next y << 8, which *e becomes. */
BL__FORCE_INLINE __m256 bl__avx2_ftrit(int d, int m, __m256i *e, __m256 tab)
{
    if (d == 4) return _mm256_permutevar8x32_ps(tab, _mm256_srli_epi32(*e, 2 * m));
    {
        const __m256i three = _mm256_set1_epi16(3);
        __m256 w = _mm256_permutevar8x32_ps(tab, _mm256_mulhi_epu16(*e, three));
        *e = _mm256_mullo_epi16(*e, three);
        return w;
    }
}

/* BASE3 keeps y << 8 in the dwords; 2BIT the bytes as they are */
BL__FORCE_INLINE __m256i bl__avx2_fstart(int d, __m256i e) { return d == 4 ? e : _mm256_slli_epi32(e, 8); }

/* whole groups of R rows ahead, at least BL__AVX2_FAHEAD bytes and three groups */
static inline size_t bl__avx2_fahead(int R, size_t rb)
{
    size_t group = (size_t)R * rb, groups = (BL__AVX2_FAHEAD + group - 1) / group;
    return group * (groups < 3 ? 3 : groups);
}

/* Batch 1, BASE3, one whole block's 8-byte groups q (bytes p[0..7]) and q + 4 (p[32..39])
   against x (the block's activations from group q on): the low word of each dword holds
   y << 8 of the first, the high word y << 8 of the second, so one vpmulhuw gives both
   codes and one vpmullw both next digits (bl__avx2_ftrit), halving the multiplies, which
   share their ports with the FMAs. */
BL__FORCE_INLINE void bl__avx2_base3_pair(const uint8_t *p, const float *x, __m256 tab, __m256 *acc)
{
    const __m256i three = _mm256_set1_epi16(3);
    __m256i e = _mm256_or_si256(_mm256_slli_epi32(bl__avx2_fbytes(p), 8), _mm256_slli_epi32(bl__avx2_fbytes(p + 32), 24));
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        __m256i c = _mm256_mulhi_epu16(e, three);
        acc[0] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(tab, c), _mm256_loadu_ps(x + 64 * m), acc[0]);
        acc[1] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(tab, _mm256_srli_epi32(c, 16)), _mm256_loadu_ps(x + 64 * m + 32),
                                 acc[1]);
        e = _mm256_mullo_epi16(e, three);
    }
}

/* Batch 1: dots of R rows (row + s * rb) with x, 8 bytes of each row at a time; the
   accumulators alternate by digit parity (2R FMA chains). Each row prefetches its own
   stream into L2 (a second line where rows are not whole cache lines). The tail block is
   copied (zero-padded); its activation lanes past `bytes` load as 0. */
BL__FORCE_INLINE void bl__avx2_rows_float(int d, int R, int split, const uint8_t *row, size_t rb, int n,
                                         const float *x, size_t ahead, float *out)
{
    const __m256 tab = bl__avx2_ftable();
    __m256 acc[2 * BL__AVX2_FROWS];
    __m256i e[BL__AVX2_FROWS];
    int pos = 0, s, m, q, span = 64 * d;
    BL__UNROLL
    for (s = 0; s < 2 * R; ++s) acc[s] = _mm256_setzero_ps();
    for (; pos + span <= n; pos += span, row += 64) {
        BL__UNROLL
        for (s = 0; s < R; ++s) {
            _mm_prefetch((const char *)(row + (size_t)s * rb + ahead), _MM_HINT_T1);
            if (split) _mm_prefetch((const char *)(row + (size_t)s * rb + ahead + 63), _MM_HINT_T1);
        }
        if (d == 5) { /* BASE3: groups q and q + 4 share each multiply (bl__avx2_base3_pair) */
            for (q = 0; q < 4; ++q) {
                BL__UNROLL
                for (s = 0; s < R; ++s) bl__avx2_base3_pair(row + (size_t)s * rb + 8 * q, x + pos + 8 * q, tab, &acc[2 * s]);
            }
            continue;
        }
        for (q = 0; q < 8; ++q) {
            BL__UNROLL
            for (s = 0; s < R; ++s) e[s] = bl__avx2_fstart(d, bl__avx2_fbytes(row + (size_t)s * rb + 8 * q));
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                __m256 xv = _mm256_loadu_ps(x + pos + 64 * m + 8 * q);
                BL__UNROLL
                for (s = 0; s < R; ++s)
                    acc[2 * s + (m & 1)] = _mm256_fmadd_ps(bl__avx2_ftrit(d, m, &e[s], tab), xv, acc[2 * s + (m & 1)]);
            }
        }
    }
    if (pos < n) {
        int bytes = (n - pos + d - 1) / d;
        uint8_t tail[BL__AVX2_FROWS][64];
        for (s = 0; s < R; ++s) bl__avx2_tail(row + (size_t)s * rb, bytes, tail[s]);
        for (q = 0; 8 * q < bytes; ++q) {
            const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(bytes - 8 * q), lanes);
            BL__UNROLL
            for (s = 0; s < R; ++s) e[s] = bl__avx2_fstart(d, bl__avx2_fbytes(tail[s] + 8 * q));
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                __m256 xv = _mm256_maskload_ps(x + pos + bytes * m + 8 * q, valid);
                BL__UNROLL
                for (s = 0; s < R; ++s)
                    acc[2 * s + (m & 1)] = _mm256_fmadd_ps(bl__avx2_ftrit(d, m, &e[s], tab), xv, acc[2 * s + (m & 1)]);
            }
        }
    }
    BL__UNROLL
    for (s = 0; s < R; ++s) out[s] = bl__avx2_hsum_ps(_mm256_add_ps(acc[2 * s], acc[2 * s + 1]));
}

/* batch 1, rows [r0, r1): four at a time (k components each), then one at a time; the
   outputs in the scalar order: acc = sum_j s_j dot_j, then + bias */
BL__FORCE_INLINE void bl__avx2_gemv_float(int d, const bl_linear *L, const float *x, float *y, int r0, int r1)
{
    size_t rb = L->row_bytes, plane = (size_t)L->out_features * rb, ahead = bl__avx2_fahead(BL__AVX2_FROWS, rb);
    int split = rb % 64 != 0, r, j, s, R;
    for (r = r0; r < r1; r += R) {
        float dot[BL_MAX_K][BL__AVX2_FROWS], acc;
        R = r1 - r >= BL__AVX2_FROWS ? BL__AVX2_FROWS : 1;
        for (j = 0; j < L->k; ++j) {
            const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * rb;
            if (R == 1) bl__avx2_rows_float(d, 1, 1, row, rb, L->in_features, x, ahead, dot[j]);
            else if (split) bl__avx2_rows_float(d, BL__AVX2_FROWS, 1, row, rb, L->in_features, x, ahead, dot[j]);
            else bl__avx2_rows_float(d, BL__AVX2_FROWS, 0, row, rb, L->in_features, x, ahead, dot[j]);
        }
        for (s = 0; s < R; ++s) {
            acc = 0.0f;
            for (j = 0; j < L->k; ++j) acc += L->scales[(size_t)j * (size_t)L->out_features + (size_t)(r + s)] * dot[j][s];
            y[r + s] = L->bias ? acc + L->bias[r + s] : acc;
        }
    }
}

/* Batched: `blocks` blocks from block b0 of R rows (row + s * rb, scales sc[s]) into
   buf + s * ld as floats s_r * t, zero up to a multiple of 8. Returns the chunk's floats
   per row. */
BL__FORCE_INLINE int bl__avx2_fdecode(int d, int R, const uint8_t *row, size_t rb, int n, int b0, int blocks,
                                     const float *sc, float *buf, int ld)
{
    int span = 64 * d, pos = b0 * span, end = pos + blocks * span, s, q, m, len;
    if (end > n) end = n;
    for (s = 0; s < R; ++s) {
        const __m256 tab = _mm256_mul_ps(bl__avx2_ftable(), _mm256_set1_ps(sc[s]));
        const uint8_t *p = row + (size_t)s * rb + (size_t)b0 * 64;
        float *o = buf + (size_t)s * (size_t)ld;
        int at = pos;
        for (; at + span <= end; at += span, p += 64, o += span)
            for (q = 0; q < 8; ++q) {
                __m256i e = bl__avx2_fstart(d, bl__avx2_fbytes(p + 8 * q));
                BL__UNROLL
                for (m = 0; m < d; ++m) _mm256_storeu_ps(o + 64 * m + 8 * q, bl__avx2_ftrit(d, m, &e, tab));
            }
        if (at < end) { /* the row's tail block: digit stride `bytes`, zeros up to 8 */
            int bytes = (n - at + d - 1) / d, cover = bytes * d;
            uint8_t tail[64];
            float w[64];
            bl__avx2_tail(p, bytes, tail);
            for (q = 0; 8 * q < bytes; ++q) {
                __m256i e = bl__avx2_fstart(d, bl__avx2_fbytes(tail + 8 * q));
                BL__UNROLL
                for (m = 0; m < d; ++m) {
                    int i, lanes = bytes - 8 * q < 8 ? bytes - 8 * q : 8;
                    _mm256_storeu_ps(w, bl__avx2_ftrit(d, m, &e, tab));
                    for (i = 0; i < lanes; ++i) o[bytes * m + 8 * q + i] = w[i];
                }
            }
            for (; cover % 8; ++cover) o[cover] = 0.0f;
        }
    }
    len = end - pos;
    return (len + 7) / 8 * 8;
}

/* P[i][0..7] = the 8 floats at src[r * ld + i], r = 0..7, for i in [0, len) (len a multiple
   of 8): 8x8 transposes by unpacks, shuffles and lane permutes */
BL__FORCE_INLINE void bl__avx2_transpose8(const float *src, int ld, int len, float *P, int pstride)
{
    int i, r;
    for (i = 0; i < len; i += 8) {
        __m256 v[8], a[8], b[8];
        BL__UNROLL
        for (r = 0; r < 8; ++r) v[r] = _mm256_loadu_ps(src + (size_t)r * (size_t)ld + i);
        BL__UNROLL
        for (r = 0; r < 8; r += 2) {
            a[r] = _mm256_unpacklo_ps(v[r], v[r + 1]);
            a[r + 1] = _mm256_unpackhi_ps(v[r], v[r + 1]);
        }
        BL__UNROLL
        for (r = 0; r < 8; r += 4) {
            b[r] = _mm256_shuffle_ps(a[r], a[r + 2], 0x44);
            b[r + 1] = _mm256_shuffle_ps(a[r], a[r + 2], 0xEE);
            b[r + 2] = _mm256_shuffle_ps(a[r + 1], a[r + 3], 0x44);
            b[r + 3] = _mm256_shuffle_ps(a[r + 1], a[r + 3], 0xEE);
        }
        BL__UNROLL
        for (r = 0; r < 4; ++r) {
            _mm256_storeu_ps(P + (size_t)(i + r) * (size_t)pstride, _mm256_permute2f128_ps(b[r], b[r + 4], 0x20));
            _mm256_storeu_ps(P + (size_t)(i + r + 4) * (size_t)pstride, _mm256_permute2f128_ps(b[r], b[r + 4], 0x31));
        }
    }
}

/* y[t * ldy + r] += sum_i P[i][r] x_t[i] for the panel's 16 rows (the first `rows` stored)
   and T tokens over len trits: 2 x T accumulators of 8 rows, each step 2 loads and T
   broadcasts for 2T FMAs, as in an sgemm kernel; no horizontal sums */
BL__FORCE_INLINE void bl__avx2_fpanel(int T, const float *P, const float *x, size_t stride, int len, int rows,
                                     float *y, size_t ldy)
{
    __m256 acc[2 * BL__AVX2_FTOK];
    int i, t;
    BL__UNROLL
    for (t = 0; t < 2 * T; ++t) acc[t] = _mm256_setzero_ps();
    for (i = 0; i < len; ++i, P += 16) {
        __m256 w0 = _mm256_loadu_ps(P), w1 = _mm256_loadu_ps(P + 8);
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            __m256 xb = _mm256_broadcast_ss(x + (size_t)t * stride + i);
            acc[2 * t] = _mm256_fmadd_ps(w0, xb, acc[2 * t]);
            acc[2 * t + 1] = _mm256_fmadd_ps(w1, xb, acc[2 * t + 1]);
        }
    }
    if (rows == 16) { /* plain loads and stores: AMD's masked stores are slow */
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            float *o = y + (size_t)t * ldy;
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[2 * t]));
            _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[2 * t + 1]));
        }
    } else {
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), lanes);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows - 8), lanes);
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            float *o = y + (size_t)t * ldy;
            _mm256_maskstore_ps(o, m0, _mm256_add_ps(_mm256_maskload_ps(o, m0), acc[2 * t]));
            _mm256_maskstore_ps(o + 8, m1, _mm256_add_ps(_mm256_maskload_ps(o + 8, m1), acc[2 * t + 1]));
        }
    }
}

/* the panel kernel over T tokens in passes of 6, then 4 (two of them rather than 6 + 2:
   two tokens keep too few FMA chains in flight), 2 and 1 */
BL__FORCE_INLINE void bl__avx2_fpanel_tokens(const float *P, const float *x, size_t stride, int len, int rows, int T,
                                            float *y, size_t ldy)
{
    int t = 0;
    for (; T - t >= 6 && T - t != 8; t += 6)
        bl__avx2_fpanel(6, P, x + (size_t)t * stride, stride, len, rows, y + (size_t)t * ldy, ldy);
    for (; T - t >= 4; t += 4) bl__avx2_fpanel(4, P, x + (size_t)t * stride, stride, len, rows, y + (size_t)t * ldy, ldy);
    if (T - t >= 2) bl__avx2_fpanel(2, P, x + (size_t)t * stride, stride, len, rows, y + (size_t)t * ldy, ldy), t += 2;
    if (T - t >= 1) bl__avx2_fpanel(1, P, x + (size_t)t * stride, stride, len, rows, y + (size_t)t * ldy, ldy);
}

/* Batched: per group of up to 128 tokens, y starts at the bias (or 0); then per block of
   columns (whose activations for all those tokens stay in L2), per 16 rows and component,
   the block is decoded once (8 rows at a time, transposed into a panel of 16 weights per
   column, rows past r1 zero) and every token passes over the panel. */
BL__FORCE_INLINE void bl__avx2_gemm_float(int d, const bl_linear *L, const bl__input *in, int batch, float *y,
                                          int r0, int r1)
{
    float tmp[8 * 320], P[BL__AVX2_FBLOCKS * 320 * 16], sc[8];
    size_t rb = L->row_bytes, plane = (size_t)L->out_features * rb, ldy = (size_t)L->out_features;
    int n = L->in_features, span = 64 * d, nblocks = (n + span - 1) / span, b0, c, r, j, s, t, h, b;
    if (batch <= (d == 4 ? 7 : 2)) { /* few tokens: the batch-1 kernel per token is faster */
        for (t = 0; t < batch; ++t)
            bl__avx2_gemv_float(d, L, (const float *)in->data + (size_t)t * in->stride, y + (size_t)t * ldy, r0, r1);
        return;
    }
    for (b0 = 0; b0 < batch; b0 += BL__AVX2_FSB) {
        int T = batch - b0 > BL__AVX2_FSB ? BL__AVX2_FSB : batch - b0;
        const float *x = (const float *)in->data + (size_t)b0 * in->stride;
        float *yb = y + (size_t)b0 * ldy;
        for (t = 0; t < T; ++t)
            for (r = r0; r < r1; ++r) yb[(size_t)t * ldy + (size_t)r] = L->bias ? L->bias[r] : 0.0f;
        for (c = 0; c < nblocks; c += BL__AVX2_FBLOCKS) {
            int blocks = nblocks - c < BL__AVX2_FBLOCKS ? nblocks - c : BL__AVX2_FBLOCKS;
            for (r = r0; r < r1; r += 16) {
                int rows = r1 - r < 16 ? r1 - r : 16, len = 0;
                for (j = 0; j < L->k; ++j) {
                    for (b = 0; b < blocks; ++b)
                        for (h = 0; h < 16; h += 8) {
                            int R = rows - h < 0 ? 0 : (rows - h > 8 ? 8 : rows - h);
                            const uint8_t *row = L->packed + (size_t)j * plane + (size_t)(r + h) * rb;
                            for (s = 0; s < R; ++s) sc[s] = L->scales[(size_t)j * ldy + (size_t)(r + h + s)];
                            if (R == 8) len = bl__avx2_fdecode(d, 8, row, rb, n, c + b, 1, sc, tmp, 320);
                            else if (R > 0) len = bl__avx2_fdecode(d, R, row, rb, n, c + b, 1, sc, tmp, 320);
                            for (s = R; s < 8; ++s) memset(tmp + s * 320, 0, 320 * sizeof(float));
                            bl__avx2_transpose8(tmp, 320, len, P + (size_t)b * (size_t)span * 16 + h, 16);
                        }
                    len += (blocks - 1) * span;
                    bl__avx2_fpanel_tokens(P, x + (size_t)c * span, in->stride, len, rows, T, yb + r, ldy);
                }
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
