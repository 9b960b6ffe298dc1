/* ==== bitlinear: helpers shared by the SIMD kernels ====================== */
#if defined(BL__HAVE_AVX2) || defined(BL__HAVE_AVX512) || defined(BL__HAVE_NEON) || defined(BL__HAVE_WASM)
/* rows per tile: about 32 KiB of packed weights of all k components */
static BL__UNUSED int bl__simd_row_tile(const bl_linear *L)
{
    size_t bytes = L->row_bytes * (size_t)L->k, rows = bytes ? 32768 / bytes : 1;
    return rows < 1 ? 1 : (rows > 4096 ? 4096 : (int)rows);
}

/* tokens per pass: the largest power of two <= min(left, most) */
static BL__UNUSED int bl__simd_tokens(int left, int most)
{
    int t = 1;
    while (t * 2 <= left && t * 2 <= most) t *= 2;
    return t;
}

/* INT8 outputs of row r for tokens b0 .. b0+T-1 from their code dots (component j, token t
   at dot[j * width + t]): the offset trick's token sums come off, then the pinned rule.
   Forced inline: a call out of the target-attributed kernels costs a call per row and
   token on the hottest path (docs/performance.md, "Kernel tuning record"). */
BL__FORCE_INLINE void bl__simd_store_int8(const bl_linear *L, const bl__input *in, const int32_t *dot, int width,
                                          int b0, int T, int r, float *y)
{
    int32_t dk[BL_MAX_K];
    int t, j;
    for (t = 0; t < T; ++t) {
        for (j = 0; j < L->k; ++j) dk[j] = dot[j * width + t] - in->act_sum[b0 + t];
        y[(size_t)(b0 + t) * (size_t)L->out_features + (size_t)r] =
            bl__int8_output(dk, L->scales, L->k, L->out_features, r, in->act_scale[b0 + t], L->bias);
    }
}

/* the bytes of a tail block, `fill` past `bytes`: kernels read whole 64-byte blocks, and
   nothing past the packed row may be read */
static BL__UNUSED const uint8_t *bl__simd_tail(const uint8_t *row, int bytes, uint8_t fill, uint8_t *buf)
{
    memset(buf, fill, 64);
    memcpy(buf, row, (size_t)bytes);
    return buf;
}

/* FLOAT outputs of row r for tokens b0 .. b0+T-1: the components' scaled sums in order j,
   then the bias */
BL__FORCE_INLINE void bl__simd_store_float(const bl_linear *L, const float *acc, int b0, int T, int r, float *y)
{
    int t;
    for (t = 0; t < T; ++t)
        y[(size_t)(b0 + t) * (size_t)L->out_features + (size_t)r] = L->bias ? acc[t] + L->bias[r] : acc[t];
}

/* Several tokens over long rows: their activations outgrow L1 (8 tokens x 11008 bytes),
   so a tile's rows are walked in column chunks of at most BL__SIMD_CHUNK_BYTES of all
   tokens' activations, whole blocks each, and the int32 partial dots summed (exact, so
   the outputs keep their bits). Tiles of at most BL__SIMD_CHUNK_ROWS rows x components
   keep their partial dots on the stack; longer tiles (short rows) need no chunks. */
#define BL__SIMD_CHUNK_BYTES 16384
#define BL__SIMD_CHUNK_ROWS 128
static BL__UNUSED int bl__simd_chunked(const bl_linear *L, int T, int rows)
{
    return (size_t)T * (size_t)L->in_features > 2 * BL__SIMD_CHUNK_BYTES && rows * L->k <= BL__SIMD_CHUNK_ROWS;
}
/* trits per chunk: a whole number of blocks (64 d trits) */
static BL__UNUSED int bl__simd_chunk_width(const bl_linear *L, int T, int d)
{
    int n = L->in_features, span = 64 * d;
    int chunks = (int)(((size_t)T * (size_t)n + BL__SIMD_CHUNK_BYTES - 1) / BL__SIMD_CHUNK_BYTES);
    return ((n + chunks - 1) / chunks + span - 1) / span * span;
}

/* The walk every SIMD backend shares, written once and expanded inside each backend's
   target region (target attributes forbid inlining across regions, so a shared function
   could not inline the backend's kernels). Output rows go in tiles of about 32 KiB of
   packed weights (bl__simd_row_tile), which stay cached while every token group passes
   over them; tokens go in groups of a power of two up to TOKENS (INT8) or FTOKENS (FLOAT)
   that share each decoded block; each row's components j are summed in order, then the
   epilogue (bl__simd_store_int8 / bl__simd_store_float) applies the pinned output rule.
   A backend defines, before expanding BL__SIMD_WALK(isa, TOKENS, FTOKENS):
     bl__<isa>_row_int8(d, row, n, a, stride, T, int32_t out[T])   code dots of one row
     bl__<isa>_row_float(d, row, n, x, stride, T, float out[T])     signed sums of one row
   with d = 4 (2BIT) or 5 (BASE3) trits per byte and tokens a + t * stride, t < T. The
   expansion defines bl__<isa>_walk_int8 and bl__<isa>_walk_float, gemm functions of the
   backend table. BL__SIMD_WALK_INT8 and BL__SIMD_WALK_FLOAT expand one half alone, for a
   backend whose other half has a walk of its own (AVX2 and AVX-512 batch FLOAT through
   BL__X86_WALK_GEMM_FLOAT, decoded panels of rows for many tokens). Every (format, token count) pair is a function of its
   own, so d and T are constants in it and the row kernels unroll fully; kept out of line
   (BL__NOINLINE), each also stays small for engines that compile one function at a time
   (V8 runs a large function's baseline code until its optimized code is ready). */
#define BL__SIMD_WALK(isa, TOKENS, FTOKENS) BL__SIMD_WALK_INT8(isa, TOKENS) BL__SIMD_WALK_FLOAT(isa, FTOKENS)
#define BL__SIMD_WALK_INT8(isa, TOKENS) BL__SIMD_WALK_INT8_BY_FORMAT(isa, TOKENS, TOKENS)
/* the same with a maximum token group per format (TOKENS3 >= TOKENS2): for a backend whose
   BASE3 decode costs enough more than its 2BIT decode to want more tokens per decoded
   block */
#define BL__SIMD_WALK_INT8_BY_FORMAT(isa, TOKENS2, TOKENS3)                                                    \
    BL__FORCE_INLINE void bl__##isa##_rows_int8(int d, int T, const bl_linear *L, const bl__input *in, int b0, \
                                                float *y, int r0, int r1)                                      \
    {                                                                                                          \
        size_t plane = (size_t)L->out_features * L->row_bytes;                                                 \
        const int8_t *a = (const int8_t *)in->data + (size_t)b0 * in->stride;                                  \
        int r, j;                                                                                              \
        if (T > 1 && bl__simd_chunked(L, T, r1 - r0)) {                                                        \
            int32_t part[BL__SIMD_CHUNK_ROWS][TOKENS3], tmp[TOKENS3];                                          \
            int n = L->in_features, cw = bl__simd_chunk_width(L, T, d), c0, t, i;                              \
            memset(part, 0, sizeof part);                                                                      \
            for (c0 = 0; c0 < n; c0 += cw)                                                                     \
                for (r = r0, i = 0; r < r1; ++r)                                                               \
                    for (j = 0; j < L->k; ++j, ++i) {                                                          \
                        bl__##isa##_row_int8(d, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes +     \
                                                 (size_t)(c0 / (64 * d)) * 64,                                 \
                                             n - c0 < cw ? n - c0 : cw, a + c0, in->stride, T, tmp);           \
                        for (t = 0; t < T; ++t) part[i][t] += tmp[t];                                          \
                    }                                                                                          \
            for (r = r0, i = 0; r < r1; ++r, i += L->k) bl__simd_store_int8(L, in, part[i], TOKENS3, b0, T, r, y); \
            return;                                                                                            \
        }                                                                                                      \
        for (r = r0; r < r1; ++r) {                                                                            \
            int32_t dot[BL_MAX_K][TOKENS3];                                                                    \
            for (j = 0; j < L->k; ++j)                                                                         \
                bl__##isa##_row_int8(d, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes,              \
                                     L->in_features, a, in->stride, T, dot[j]);                                \
            bl__simd_store_int8(L, in, &dot[0][0], TOKENS3, b0, T, r, y);                                      \
        }                                                                                                      \
    }                                                                                                          \
    BL__SIMD_WALK_VARIANT(isa, int8, 2bit, 4, 1, 1) BL__SIMD_WALK_VARIANT(isa, int8, base3, 5, 1, 1)           \
    BL__SIMD_WALK_VARIANT(isa, int8, 2bit, 4, 2, 2) BL__SIMD_WALK_VARIANT(isa, int8, base3, 5, 2, 2)           \
    BL__SIMD_WALK_VARIANT(isa, int8, 2bit, 4, 4, 4) BL__SIMD_WALK_VARIANT(isa, int8, base3, 5, 4, 4)           \
    BL__SIMD_WALK_VARIANT(isa, int8, 2bit, 4, TOKENS2, max)                                                    \
    BL__SIMD_WALK_VARIANT(isa, int8, base3, 5, TOKENS3, max)                                                   \
    BL__SIMD_WALK_GEMM(isa, int8, TOKENS2, TOKENS3, BL__SIMD_WALK_CALL(isa, int8, 4))
#define BL__SIMD_WALK_FLOAT(isa, FTOKENS)                                                                      \
    BL__FORCE_INLINE void bl__##isa##_rows_float(int d, int T, const bl_linear *L, const bl__input *in,         \
                                                 int b0, float *y, int r0, int r1)                             \
    {                                                                                                          \
        size_t plane = (size_t)L->out_features * L->row_bytes;                                                 \
        const float *x = (const float *)in->data + (size_t)b0 * in->stride;                                    \
        int r, j, t;                                                                                           \
        for (r = r0; r < r1; ++r) {                                                                            \
            float dot[FTOKENS], acc[FTOKENS];                                                                  \
            for (t = 0; t < T; ++t) acc[t] = 0.0f;                                                             \
            for (j = 0; j < L->k; ++j) {                                                                       \
                float s = L->scales[(size_t)j * (size_t)L->out_features + (size_t)r];                          \
                bl__##isa##_row_float(d, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes,             \
                                      L->in_features, x, in->stride, T, dot);                                  \
                for (t = 0; t < T; ++t) acc[t] += s * dot[t];                                                  \
            }                                                                                                  \
            bl__simd_store_float(L, acc, b0, T, r, y);                                                         \
        }                                                                                                      \
    }                                                                                                          \
    BL__SIMD_WALK_VARIANT(isa, float, 2bit, 4, 1, 1) BL__SIMD_WALK_VARIANT(isa, float, base3, 5, 1, 1)         \
    BL__SIMD_WALK_VARIANT(isa, float, 2bit, 4, 2, 2) BL__SIMD_WALK_VARIANT(isa, float, base3, 5, 2, 2)         \
    BL__SIMD_WALK_VARIANT(isa, float, 2bit, 4, FTOKENS, max)                                                   \
    BL__SIMD_WALK_VARIANT(isa, float, base3, 5, FTOKENS, max)                                                  \
    BL__SIMD_WALK_GEMM(isa, float, FTOKENS, FTOKENS, BL__SIMD_WALK_CALL(isa, float, 2))

/* rows [r0, r1) of tokens b0 .. b0+T-1 for one format and token count. The backend's
   maximum is a variant of its own (suffix max): with a maximum of 2 or 4 it repeats a
   smaller one, and the copy the dispatch never calls is dropped as unused. */
#define BL__SIMD_WALK_VARIANT(isa, act, fmt, d, T, suffix)                                                     \
    BL__NOINLINE BL__UNUSED void bl__##isa##_rows_##act##_##fmt##_##suffix(const bl_linear *L, const bl__input *in,  \
                                                                     int b0, float *y, int r0, int r1)         \
    {                                                                                                          \
        bl__##isa##_rows_##act(d, T, L, in, b0, y, r0, r1);                                                    \
    }
#define BL__SIMD_WALK_CALL(isa, act, suffix)                                                                   \
    if (base3) bl__##isa##_rows_##act##_base3_##suffix(L, in, b0, y, rt, rend);                                \
    else bl__##isa##_rows_##act##_2bit_##suffix(L, in, b0, y, rt, rend);

/* Tiles of rows, then token groups of the largest power of two left, at most MAXT2
   (2BIT) or MAXT3 (BASE3). A group smaller than its maximum is 1 or 2 tokens, or 4 (INT8
   with a maximum of 8): `rest` calls that last variant (FLOAT maxima are at most 4, so
   there it is 2). */
#define BL__SIMD_WALK_GEMM(isa, act, MAXT2, MAXT3, rest)                                                       \
    static void bl__##isa##_walk_##act(const bl_linear *L, const bl__input *in, int batch, float *y, int r0,   \
                                       int r1)                                                                 \
    {                                                                                                          \
        int base3 = L->format == BL_FORMAT_BASE3, most = base3 ? (MAXT3) : (MAXT2);                            \
        int tile = bl__simd_row_tile(L), rt, b0, T;                                                            \
        for (rt = r0; rt < r1; rt += tile) {                                                                   \
            int rend = r1 - rt > tile ? rt + tile : r1;                                                        \
            for (b0 = 0; b0 < batch; b0 += T) {                                                                \
                T = bl__simd_tokens(batch - b0, most);                                                         \
                if (T == most) {                                                                               \
                    BL__SIMD_WALK_CALL(isa, act, max)                                                          \
                } else if (T == 1) {                                                                           \
                    BL__SIMD_WALK_CALL(isa, act, 1)                                                            \
                } else if (T == 2) {                                                                           \
                    BL__SIMD_WALK_CALL(isa, act, 2)                                                            \
                } else {                                                                                       \
                    rest                                                                                       \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }
#endif

#if defined(BL__HAVE_AVX2) || defined(BL__HAVE_AVX512)
BL__TARGET_BEGIN("avx2")
/* The INT8 outputs of four consecutive rows of one token at once: the pinned rule of
   bl__int8_output in four double lanes, the same operations in the same order, so the same
   bits (its products are exact, so a fused multiply-add changes nothing either). One row
   at a time it cost ~3 ns per row, 10% of a hot 4096x4096 AVX-512 forward. Compiled for
   AVX2, a subset of both the AVX2 and the AVX-512 kernels' targets, so both inline it. */
BL__FORCE_INLINE void bl__x86_store_rows4_int8(const bl_linear *L, const bl__input *in, int32_t dot[][4], int b, int r,
                                               float *y)
{
    const __m128i sum = _mm_set1_epi32(in->act_sum[b]);
    __m256d acc = _mm256_setzero_pd(), v;
    int j;
    for (j = 0; j < L->k; ++j) {
        __m128i d = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)dot[j]), sum);
        __m256d s = _mm256_cvtps_pd(_mm_loadu_ps(L->scales + (size_t)j * (size_t)L->out_features + (size_t)r));
        acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_cvtepi32_pd(d), s));
    }
    v = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_cvtpd_ps(acc)), _mm256_set1_pd((double)in->act_scale[b]));
    if (L->bias) v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(L->bias + r)));
    _mm_storeu_ps(y + (size_t)b * (size_t)L->out_features + (size_t)r, _mm256_cvtpd_ps(v));
}
BL__TARGET_END

/* FLOAT batches on x86: per group of up to BL__X86_FSB tokens (whose column chunk of
   activations stays in L2 together), y starts at the bias (or 0); then per column chunk
   of BLOCKS blocks, per ROWS rows and component j in order, the backend's pass decodes
   the chunk once and every token of the group goes over it:
     bl__<isa>_fpass(d, L, j, r, rows, c, blocks, x, stride, T, y, ldy)
   adds component j's rows [r, r + rows) over blocks [c, c + blocks) (x: the chunk's
   activations of T tokens, stride apart) into y (row r at y[0], tokens ldy apart). Each
   output takes its components in order j, as the scalar reference does. Up to FEW
   tokens (an expression of d) go one at a time through the batch-1 kernel, which is
   faster there. Expanded after BL__X86_WALK_GEMV_FLOAT(isa, ...), it defines the
   backend table's FLOAT entry bl__gemm_float_<isa>. */
#define BL__X86_FSB 128
#define BL__X86_WALK_GEMM_FLOAT(isa, FEW, ROWS, BLOCKS)                                                        \
    BL__FORCE_INLINE void bl__##isa##_gemm_float(int d, const bl_linear *L, const bl__input *in, int batch,   \
                                                 float *y, int r0, int r1)                                     \
    {                                                                                                          \
        size_t ldy = (size_t)L->out_features;                                                                  \
        int span = 64 * d, nblocks = (L->in_features + span - 1) / span, b0, c, r, j, t;                       \
        if (batch <= (FEW)) {                                                                                  \
            for (t = 0; t < batch; ++t)                                                                        \
                bl__##isa##_gemv_float(d, L, (const float *)in->data + (size_t)t * in->stride,                 \
                                       y + (size_t)t * ldy, r0, r1);                                           \
            return;                                                                                            \
        }                                                                                                      \
        for (b0 = 0; b0 < batch; b0 += BL__X86_FSB) {                                                          \
            int T = batch - b0 > BL__X86_FSB ? BL__X86_FSB : batch - b0;                                       \
            const float *x = (const float *)in->data + (size_t)b0 * in->stride;                                \
            float *yb = y + (size_t)b0 * ldy;                                                                  \
            for (t = 0; t < T; ++t)                                                                            \
                for (r = r0; r < r1; ++r) yb[(size_t)t * ldy + (size_t)r] = L->bias ? L->bias[r] : 0.0f;       \
            for (c = 0; c < nblocks; c += (BLOCKS)) {                                                          \
                int blocks = nblocks - c < (BLOCKS) ? nblocks - c : (BLOCKS);                                  \
                for (r = r0; r < r1; r += (ROWS))                                                              \
                    for (j = 0; j < L->k; ++j)                                                                 \
                        bl__##isa##_fpass(d, L, j, r, r1 - r < (ROWS) ? r1 - r : (ROWS), c, blocks,            \
                                          x + (size_t)c * (size_t)span, in->stride, T, yb + r, ldy);           \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    static void bl__gemm_float_##isa(const bl_linear *L, const bl__input *in, int batch, float *y, int r0,     \
                                     int r1)                                                                   \
    {                                                                                                          \
        if (L->format == BL_FORMAT_BASE3) bl__##isa##_gemm_float(5, L, in, batch, y, r0, r1);                 \
        else bl__##isa##_gemm_float(4, L, in, batch, y, r0, r1);                                               \
    }
#endif

/* Batch 1 on x86: four consecutive rows share one output step (bl__x86_store_rows4_int8),
   so a backend's four-row kernel bl__<isa>_rows4_int8(d, row, rb, n, a, int32_t out[4])
   can let one activation load feed four rows; rows left over go one at a time through
   the walk's row function. A group's outputs are stored after the next group's dots:
   the store waits on the group's last dependency chains, and issued behind the next
   kernel it overlaps that kernel instead of holding back retirement before it.
   Expanded after BL__SIMD_WALK_INT8(isa, ...), it defines
   bl__<isa>_gemv_int8(d, L, in, y, r0, r1). */
#define BL__X86_WALK_GEMV(isa)                                                                                 \
    BL__FORCE_INLINE void bl__##isa##_gemv_int8(int d, const bl_linear *L, const bl__input *in, float *y,       \
                                                int r0, int r1)                                                \
    {                                                                                                          \
        size_t plane = (size_t)L->out_features * L->row_bytes;                                                 \
        const int8_t *a = (const int8_t *)in->data;                                                            \
        int r, j;                                                                                              \
        int32_t d4[2][BL_MAX_K][4];                                                                            \
        int cur = 0;                                                                                           \
        for (r = r0; r + 4 <= r1; r += 4, cur = !cur) {                                                        \
            for (j = 0; j < L->k; ++j)                                                                         \
                bl__##isa##_rows4_int8(d, L->packed + (size_t)j * plane + (size_t)r * L->row_bytes,            \
                                       L->row_bytes, L->in_features, a, d4[cur][j]);                           \
            if (r > r0) bl__x86_store_rows4_int8(L, in, d4[!cur], 0, r - 4, y);                               \
        }                                                                                                      \
        if (r > r0) bl__x86_store_rows4_int8(L, in, d4[!cur], 0, r - 4, y);                                   \
        if (r < r1) bl__##isa##_rows_int8(d, 1, L, in, 0, y, r, r1);                                           \
    }

/* FLOAT batch 1 on x86: FROWS consecutive rows share each activation load, the rows left
   over go one at a time, and the outputs follow the scalar order (acc = sum_j s_j dot_j,
   then + bias). The backend supplies bl__<isa>_rows_float(d, R, split, row, rb, n, x,
   ahead, out), R = FROWS or 1, split: rows are not whole cache lines (a second prefetch),
   ahead: the L2 prefetch distance in bytes, AHEAD below (an expression of rb). */
#define BL__X86_WALK_GEMV_FLOAT(isa, FROWS, AHEAD)                                                             \
    BL__FORCE_INLINE void bl__##isa##_gemv_float(int d, const bl_linear *L, const float *x, float *y, int r0,  \
                                                 int r1)                                                       \
    {                                                                                                          \
        size_t rb = L->row_bytes, plane = (size_t)L->out_features * rb, ahead = AHEAD;                        \
        int split = rb % 64 != 0, r, j, s, R;                                                                  \
        for (r = r0; r < r1; r += R) {                                                                         \
            float dot[BL_MAX_K][FROWS], acc;                                                                   \
            R = r1 - r >= FROWS ? FROWS : 1;                                                                   \
            for (j = 0; j < L->k; ++j) {                                                                       \
                const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * rb;                           \
                if (R == 1) bl__##isa##_rows_float(d, 1, 1, row, rb, L->in_features, x, ahead, dot[j]);        \
                else if (split) bl__##isa##_rows_float(d, FROWS, 1, row, rb, L->in_features, x, ahead, dot[j]); \
                else bl__##isa##_rows_float(d, FROWS, 0, row, rb, L->in_features, x, ahead, dot[j]);           \
            }                                                                                                  \
            for (s = 0; s < R; ++s) {                                                                          \
                acc = 0.0f;                                                                                    \
                for (j = 0; j < L->k; ++j)                                                                     \
                    acc += L->scales[(size_t)j * (size_t)L->out_features + (size_t)(r + s)] * dot[j][s];       \
                y[r + s] = L->bias ? acc + L->bias[r + s] : acc;                                               \
            }                                                                                                  \
        }                                                                                                      \
    }

