/* ==== bitlinear: WebAssembly SIMD128 kernels ============================== */
/* Compiled when the compiler targets wasm with SIMD128 (clang -msimd128 defines
   __wasm_simd128__). WebAssembly has no run-time feature detection: a module either
   validates with SIMD opcodes or not at all, so a build without -msimd128 carries the
   scalar backend only.

   A 64-byte block is read 8 bytes at a time, widened to eight 16-bit lanes by one
   v128.load8x8_u; the D codes (0..2) of those bytes are computed in the 16-bit lanes,
   where BASE3's multiply-by-3 chain cannot overflow (255 * 3 < 2^16).
   INT8: codes times activations (v128.load8x8_s) by i32x4.dot_i16x8_s, every product and
   pair sum exact, accumulated in int32; the code sum is subtracted once per row (the
   offset trick of bl__simd_store_int8), so zero bytes (code 0) contribute nothing.
   With BITLINEAR_WASM_RELAXED, relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s takes
   the 16 codes of a digit and 16 activations at once: the spec leaves its result open
   only when a lane of its second operand has the top bit set, and codes are 0..2, so
   every engine computes the exact sum.
   FLOAT: trits (code - 1) converted to float and multiplied by the inputs: t * x is
   exact for t in {-1, 0, 1} and finite x (forward refuses non-finite inputs), so this is
   the add/sub path; the sums are grouped per lane, so the float order differs from the
   scalar backend's (FLOAT results match within the documented tolerance, not bit for bit).
   Tails are copied into a 64-byte block; the bytes past the row are zero for INT8
   (codes 0) and "all digits 0" for FLOAT, so lanes past the tail add nothing. */
#ifdef BL__HAVE_WASM

#define BL__WASM_TOKENS 4  /* INT8 tokens per decoded block */
#define BL__WASM_FTOKENS 2 /* FLOAT tokens per decoded block */

#if defined(BITLINEAR_WASM_RELAXED)
#  if !defined(__wasm_relaxed_simd__)
#    error "bitlinear: BITLINEAR_WASM_RELAXED needs a compiler targeting relaxed SIMD (clang -mrelaxed-simd)"
#  endif
/* the builtin's name: clang 16 spelled it without "relaxed_", later versions with it */
#  if !defined(__has_builtin)
#    error "bitlinear: BITLINEAR_WASM_RELAXED needs __has_builtin"
#  elif __has_builtin(__builtin_wasm_relaxed_dot_i8x16_i7x16_add_s_i32x4)
#    define BL__WASM_RELAXED_DOT __builtin_wasm_relaxed_dot_i8x16_i7x16_add_s_i32x4
#  elif __has_builtin(__builtin_wasm_dot_i8x16_i7x16_add_s_i32x4)
#    define BL__WASM_RELAXED_DOT __builtin_wasm_dot_i8x16_i7x16_add_s_i32x4
#  else
#    error "bitlinear: this compiler lacks relaxed SIMD's integer dot product (clang >= 16 has it)"
#  endif
#endif

/* the bytes of a tail block, `fill` past `bytes` */
static const uint8_t *bl__wasm_tail(const uint8_t *row, int bytes, uint8_t fill, uint8_t *buf)
{
    memset(buf, fill, 64);
    memcpy(buf, row, (size_t)bytes);
    return buf;
}

/* Codes 0..2 of the D digits of eight bytes held in 16-bit lanes: c[m] for digit m. */
BL__FORCE_INLINE void bl__wasm_codes(int d, v128_t w, v128_t c[5])
{
    if (d == 4) {
        const v128_t three = wasm_i16x8_splat(3);
        c[0] = wasm_v128_and(w, three);
        c[1] = wasm_v128_and(wasm_u16x8_shr(w, 2), three);
        c[2] = wasm_v128_and(wasm_u16x8_shr(w, 4), three);
        c[3] = wasm_u16x8_shr(w, 6);
    } else {
        /* y_m = byte * 3^m mod 256, code_m = (3 y_m) >> 8, y_(m+1) = 3 y_m mod 256 (bl__base3_code) */
        const v128_t low = wasm_i16x8_splat(0xFF);
        v128_t y = w, t;
        int m;
        BL__UNROLL
        for (m = 0; m < 5; ++m) {
            t = wasm_i16x8_add(wasm_i16x8_add(y, y), y);
            c[m] = wasm_u16x8_shr(t, 8);
            y = wasm_v128_and(t, low);
        }
    }
}

static int32_t bl__wasm_hsum_i32(v128_t v)
{
    return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
           wasm_i32x4_extract_lane(v, 3);
}

#if defined(BITLINEAR_WASM_RELAXED)
/* codes 0..2 of digit m of 16 bytes as bytes; zero bytes give codes 0 */
BL__FORCE_INLINE void bl__wasm_codes8(int d, v128_t w, v128_t c[5])
{
    if (d == 4) {
        const v128_t three = wasm_i8x16_splat(3);
        c[0] = wasm_v128_and(w, three);
        c[1] = wasm_v128_and(wasm_u8x16_shr(w, 2), three);
        c[2] = wasm_v128_and(wasm_u8x16_shr(w, 4), three);
        c[3] = wasm_u8x16_shr(w, 6);
    } else {
        /* y = byte * 3^m mod 256; code = (y > 85) + (y > 170) */
        const v128_t lo = wasm_u8x16_splat(85), hi = wasm_u8x16_splat(170);
        v128_t y = w;
        int m;
        BL__UNROLL
        for (m = 0; m < 5; ++m) {
            c[m] = wasm_i8x16_neg(wasm_i8x16_add(wasm_u8x16_gt(y, lo), wasm_u8x16_gt(y, hi)));
            y = wasm_i8x16_add(wasm_i8x16_add(y, y), y);
        }
    }
}

/* the block at `p` (64 readable bytes) against T tokens at offset `off`, digit stride `step` */
BL__FORCE_INLINE void bl__wasm_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off, int step,
                                          int T, v128_t *acc)
{
    int g, t, m;
    BL__UNROLL
    for (g = 0; g < 4; ++g) {
        v128_t c[5];
        bl__wasm_codes8(d, wasm_v128_load(p + 16 * g), c);
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            const int8_t *at = a + (size_t)t * stride + off + 16 * g;
            BL__UNROLL
            for (m = 0; m < d; ++m)
                acc[t] = (v128_t)BL__WASM_RELAXED_DOT(
                    (__i8x16)wasm_v128_load(at + step * m), (__i8x16)c[m], (__i32x4)acc[t]);
        }
    }
}
#else
/* the block at `p` (64 readable bytes) against T tokens at offset `off`, digit stride `step` */
BL__FORCE_INLINE void bl__wasm_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off, int step,
                                          int T, v128_t *acc)
{
    int g, t, m;
    BL__UNROLL
    for (g = 0; g < 8; ++g) {
        v128_t c[5];
        bl__wasm_codes(d, wasm_u16x8_load8x8(p + 8 * g), c);
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            const int8_t *at = a + (size_t)t * stride + off + 8 * g;
            BL__UNROLL
            for (m = 0; m < d; ++m)
                acc[t] = wasm_i32x4_add(acc[t], wasm_i32x4_dot_i16x8(c[m], wasm_i16x8_load8x8(at + step * m)));
        }
    }
}
#endif

BL__FORCE_INLINE void bl__wasm_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                        int32_t *out)
{
    v128_t acc[BL__WASM_TOKENS];
    int pos = 0, t, span = 64 * d;
    for (t = 0; t < T; ++t) acc[t] = wasm_i32x4_splat(0);
    for (; pos + span <= n; pos += span, row += 64) bl__wasm_block_int8(d, row, a, stride, pos, 64, T, acc);
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        bl__wasm_block_int8(d, bl__wasm_tail(row, bytes, 0, buf), a, stride, pos, bytes, T, acc);
    }
    for (t = 0; t < T; ++t) out[t] = bl__wasm_hsum_i32(acc[t]);
}

BL__FORCE_INLINE void bl__wasm_gemm_int8(int d, const bl_linear *L, const bl__input *in, int batch, float *y,
                                         int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int tile = bl__simd_row_tile(L), rt, b0, T, r, j;
    for (rt = r0; rt < r1; rt += tile) {
        int rend = r1 - rt > tile ? rt + tile : r1;
        for (b0 = 0; b0 < batch; b0 += T) {
            const int8_t *a = (const int8_t *)in->data + (size_t)b0 * in->stride;
            T = bl__simd_tokens(batch - b0, BL__WASM_TOKENS);
            for (r = rt; r < rend; ++r) {
                int32_t dot[BL_MAX_K][BL__WASM_TOKENS];
                for (j = 0; j < L->k; ++j) {
                    const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * L->row_bytes;
                    switch (T) {
                    case 1: bl__wasm_row_int8(d, row, L->in_features, a, in->stride, 1, dot[j]); break;
                    case 2: bl__wasm_row_int8(d, row, L->in_features, a, in->stride, 2, dot[j]); break;
                    default: bl__wasm_row_int8(d, row, L->in_features, a, in->stride, 4, dot[j]); break;
                    }
                }
                bl__simd_store_int8(L, in, &dot[0][0], BL__WASM_TOKENS, b0, T, r, y);
            }
        }
    }
}

static void bl__gemm_int8_wasm(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    if (L->format == BL_FORMAT_BASE3) bl__wasm_gemm_int8(5, L, in, batch, y, r0, r1);
    else bl__wasm_gemm_int8(4, L, in, batch, y, r0, r1);
}

/* A row's float dot against T tokens: two accumulators (low and high four lanes) per token. */
BL__FORCE_INLINE void bl__wasm_row_float(int d, const uint8_t *row, int n, const float *x, size_t stride, int T,
                                         float *out)
{
    /* a byte whose D digits all have code 1 (trit 0): 0x55 in 2BIT, 128 in BASE3 */
    const uint8_t zero_trits = (uint8_t)(d == 4 ? 0x55 : 128);
    const v128_t one = wasm_i16x8_splat(1);
    v128_t acc[2 * BL__WASM_FTOKENS];
    int pos = 0, t, m, g;
    for (t = 0; t < 2 * T; ++t) acc[t] = wasm_f32x4_splat(0.0f);
    while (pos < n) {
        uint8_t buf[64];
        int bytes = n - pos >= 64 * d ? 64 : (n - pos + d - 1) / d, groups = (bytes + 7) / 8;
        const uint8_t *p = bytes == 64 ? row : bl__wasm_tail(row, bytes, zero_trits, buf);
        for (g = 0; g < groups; ++g) {
            v128_t c[5];
            bl__wasm_codes(d, wasm_u16x8_load8x8(p + 8 * g), c);
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                v128_t tr = wasm_i16x8_sub(c[m], one);
                v128_t lo = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(tr));
                v128_t hi = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(tr));
                BL__UNROLL
                for (t = 0; t < T; ++t) {
                    const float *xt = x + (size_t)t * stride + pos + bytes * m + 8 * g;
                    acc[2 * t] = wasm_f32x4_add(acc[2 * t], wasm_f32x4_mul(lo, wasm_v128_load(xt)));
                    acc[2 * t + 1] = wasm_f32x4_add(acc[2 * t + 1], wasm_f32x4_mul(hi, wasm_v128_load(xt + 4)));
                }
            }
        }
        pos += bytes * d;
        row += bytes;
    }
    for (t = 0; t < T; ++t) {
        v128_t s = wasm_f32x4_add(acc[2 * t], acc[2 * t + 1]);
        out[t] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
                 (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
    }
}

BL__FORCE_INLINE void bl__wasm_gemm_float(int d, const bl_linear *L, const bl__input *in, int batch, float *y,
                                          int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    int tile = bl__simd_row_tile(L), rt, b0, T, r, j, t;
    for (rt = r0; rt < r1; rt += tile) {
        int rend = r1 - rt > tile ? rt + tile : r1;
        for (b0 = 0; b0 < batch; b0 += T) {
            const float *x = (const float *)in->data + (size_t)b0 * in->stride;
            T = bl__simd_tokens(batch - b0, BL__WASM_FTOKENS);
            for (r = rt; r < rend; ++r) {
                float dot[BL__WASM_FTOKENS], acc[BL__WASM_FTOKENS];
                for (t = 0; t < T; ++t) acc[t] = 0.0f;
                for (j = 0; j < L->k; ++j) {
                    const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * L->row_bytes;
                    float s = L->scales[(size_t)j * L->out_features + r];
                    if (T == 1) bl__wasm_row_float(d, row, L->in_features, x, in->stride, 1, dot);
                    else bl__wasm_row_float(d, row, L->in_features, x, in->stride, 2, dot);
                    for (t = 0; t < T; ++t) acc[t] += s * dot[t];
                }
                for (t = 0; t < T; ++t)
                    y[(size_t)(b0 + t) * L->out_features + r] = L->bias ? acc[t] + L->bias[r] : acc[t];
            }
        }
    }
}

static void bl__gemm_float_wasm(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    if (L->format == BL_FORMAT_BASE3) bl__wasm_gemm_float(5, L, in, batch, y, r0, r1);
    else bl__wasm_gemm_float(4, L, in, batch, y, r0, r1);
}

/* Activation quantization, 4 (abs_max) or 8 (quantize) floats a step, the rest by the
   scalar code. f32x4.nearest rounds to nearest even, as bl__round_even does in the
   default mode (WebAssembly has no other); pmin/pmax clamp as bl__act_code does for the
   finite values they are given, and the clamped codes fit the narrowing conversions. */
static uint32_t bl__abs_max_wasm(const float *x, size_t n)
{
    const v128_t magnitude = wasm_i32x4_splat(0x7FFFFFFF);
    v128_t m = wasm_i32x4_splat(0);
    uint32_t v, rest, l0, l1, l2, l3;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) m = wasm_u32x4_max(m, wasm_v128_and(wasm_v128_load(x + i), magnitude));
    l0 = (uint32_t)wasm_i32x4_extract_lane(m, 0);
    l1 = (uint32_t)wasm_i32x4_extract_lane(m, 1);
    l2 = (uint32_t)wasm_i32x4_extract_lane(m, 2);
    l3 = (uint32_t)wasm_i32x4_extract_lane(m, 3);
    l0 = l1 > l0 ? l1 : l0;
    l2 = l3 > l2 ? l3 : l2;
    v = l2 > l0 ? l2 : l0;
    rest = bl__abs_max_bits(x + i, n - i);
    return rest > v ? rest : v;
}

static int32_t bl__quantize_wasm(const float *x, size_t n, float inverse, int qmax, int8_t *q)
{
    const v128_t hi = wasm_f32x4_splat((float)qmax), lo = wasm_f32x4_splat(-(float)qmax),
                 inv = wasm_f32x4_splat(inverse);
    v128_t sum = wasm_i32x4_splat(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t v0 = wasm_f32x4_mul(wasm_v128_load(x + i), inv), v1 = wasm_f32x4_mul(wasm_v128_load(x + i + 4), inv);
        v128_t c0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_pmin(wasm_f32x4_pmax(v0, lo), hi)));
        v128_t c1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_pmin(wasm_f32x4_pmax(v1, lo), hi)));
        v128_t b = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(c0, c1), wasm_i16x8_splat(0));
        wasm_v128_store64_lane(q + i, b, 0);
        sum = wasm_i32x4_add(sum, wasm_i32x4_add(c0, c1));
    }
    return bl__wasm_hsum_i32(sum) + bl__quantize_scalar(x + i, n - i, inverse, qmax, q + i);
}

static const bl__backend_kernels bl__kernels_wasm = { bl__gemm_int8_wasm, bl__gemm_float_wasm, bl__abs_max_wasm,
                                                      bl__quantize_wasm };

#endif /* BL__HAVE_WASM */
