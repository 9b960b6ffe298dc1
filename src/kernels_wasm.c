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
   With BITLINEAR_WASM_RELAXED, relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s takes the
   16 codes of a digit and 16 activations at once: the spec leaves its result open only
   when a lane of its second operand has the top bit set (or a pair sum leaves int16), and
   the codes, at most 8, keep both away, so every engine computes the exact sums.
   FLOAT: trits (code - 1) converted to float and multiplied by the inputs: t * x is
   exact for t in {-1, 0, 1} and finite x (forward refuses non-finite inputs), so this is
   the add/sub path; the sums are grouped per lane, so the float order differs from the
   scalar backend's (FLOAT results match within the documented tolerance, not bit for bit).
   Tails are copied into a 64-byte block; the bytes past the row are zero for INT8
   (codes 0) and "all digits 0" for FLOAT, so lanes past the tail add nothing. */
#ifdef BL__HAVE_WASM

#define BL__WASM_TOKENS 4  /* INT8 tokens per decoded block */
#define BL__WASM_FTOKENS 2 /* FLOAT tokens per decoded block */
/* on a loop over a block's groups: V8 issues the loads of a straight run of code first,
   so an unrolled block's loads outnumber the registers and are spilled */
#define BL__WASM_ROLLED BL__PRAGMA(clang loop unroll(disable))

#if defined(BITLINEAR_WASM_RELAXED)
#  if !defined(__wasm_relaxed_simd__)
#    error "bitlinear: BITLINEAR_WASM_RELAXED needs a compiler targeting relaxed SIMD (clang -mrelaxed-simd)"
#  endif
/* the builtin's name as clang 16 and later spell it, or an earlier spelling without "relaxed_" */
#  if !defined(__has_builtin)
#    error "bitlinear: BITLINEAR_WASM_RELAXED needs __has_builtin"
#  elif __has_builtin(__builtin_wasm_relaxed_dot_i8x16_i7x16_s_i16x8)
#    define BL__WASM_RELAXED_DOT16 __builtin_wasm_relaxed_dot_i8x16_i7x16_s_i16x8
#  elif __has_builtin(__builtin_wasm_dot_i8x16_i7x16_s_i16x8)
#    define BL__WASM_RELAXED_DOT16 __builtin_wasm_dot_i8x16_i7x16_s_i16x8
#  else
#    error "bitlinear: this compiler lacks relaxed SIMD's integer dot product (clang >= 16 has it)"
#  endif
#endif

/* Code 0..2 of digit m of eight bytes held in 16-bit lanes `w`, digits in order: BASE3
   keeps y = byte * 3^m mod 256 in *y between calls (start with *y = w). Each digit's
   codes are consumed as they are made: an array of codes indexed by a digit loop that
   clang leaves rolled stays in linear memory (a store and a load per use). */
BL__FORCE_INLINE v128_t bl__wasm_code(int d, int m, v128_t w, v128_t *y)
{
    v128_t u;
    if (d == 4) return wasm_v128_and(wasm_u16x8_shr(w, (uint32_t)(2 * m)), wasm_i16x8_splat(3));
    u = wasm_i16x8_add(wasm_i16x8_add(*y, *y), *y); /* bl__base3_code: code = (3 y) >> 8 */
    *y = wasm_v128_and(u, wasm_i16x8_splat(0xFF));
    return wasm_u16x8_shr(u, 8);
}

static int32_t bl__wasm_hsum_i32(v128_t v)
{
    return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) + wasm_i32x4_extract_lane(v, 2) +
           wasm_i32x4_extract_lane(v, 3);
}

#if defined(BITLINEAR_WASM_RELAXED)
/* the 16 activations at `at` times 16 codes (the i7 operand), summed in pairs to int16:
   exact, as codes times activations in pairs stay far inside int16 */
#define BL__WASM_RDOT16(at, codes) ((v128_t)BL__WASM_RELAXED_DOT16((__i8x16)wasm_v128_load(at), (__i8x16)(codes)))

/* the block at `p` (64 readable bytes) against T tokens at offset `off`, digit stride `step`;
   codes 0..2 as bytes, each digit's consumed as it is made (zero bytes give codes 0).
   2BIT codes come from 16-bit shifts (bits entering from the lane's other byte are masked
   off); BASE3 codes from 16-bit lanes (bl__wasm_code) narrowed to bytes: WebAssembly has
   no byte multiply, and clang scalarizes the byte chain y + y + y (which it turns into
   one) lane by lane. Each token's dots (i16x8.relaxed_dot_i8x16_i7x16_s, one pmaddubsw on
   x86) sum in int16 over the block, below 5 * 4 * 2 * 2 * 127, and are widened once. */
BL__FORCE_INLINE void bl__wasm_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off, int step,
                                          int T, v128_t *acc0, v128_t *acc1, v128_t *acc2, v128_t *acc3)
{
    const v128_t three = wasm_i8x16_splat(3);
    v128_t s0 = wasm_i16x8_splat(0), s1 = s0, s2 = s0, s3 = s0;
    int g, m;
    BL__WASM_ROLLED
    for (g = 0; g < 4; ++g) {
        v128_t w = wasm_v128_load(p + 16 * g), lo = wasm_u16x8_load8x8(p + 16 * g),
               hi = wasm_u16x8_load8x8(p + 16 * g + 8), ylo = lo, yhi = hi, c;
        const int8_t *at = a + off + 16 * g;
        BL__UNROLL
        for (m = 0; m < d; ++m) {
            if (d == 4) {
                c = wasm_v128_and(wasm_u16x8_shr(w, (uint32_t)(2 * m)), three);
            } else {
                v128_t clo = bl__wasm_code(5, m, lo, &ylo);
                c = wasm_u8x16_narrow_i16x8(clo, bl__wasm_code(5, m, hi, &yhi));
            }
            s0 = wasm_i16x8_add(s0, BL__WASM_RDOT16(at + step * m, c));
            if (T > 1) s1 = wasm_i16x8_add(s1, BL__WASM_RDOT16(at + stride + step * m, c));
            if (T > 2) {
                s2 = wasm_i16x8_add(s2, BL__WASM_RDOT16(at + 2 * stride + step * m, c));
                s3 = wasm_i16x8_add(s3, BL__WASM_RDOT16(at + 3 * stride + step * m, c));
            }
        }
    }
    *acc0 = wasm_i32x4_add(*acc0, wasm_i32x4_extadd_pairwise_i16x8(s0));
    if (T > 1) *acc1 = wasm_i32x4_add(*acc1, wasm_i32x4_extadd_pairwise_i16x8(s1));
    if (T > 2) {
        *acc2 = wasm_i32x4_add(*acc2, wasm_i32x4_extadd_pairwise_i16x8(s2));
        *acc3 = wasm_i32x4_add(*acc3, wasm_i32x4_extadd_pairwise_i16x8(s3));
    }
}
#else
/* the block at `p` (64 readable bytes) against T tokens at offset `off`, digit stride `step`.
   The T accumulators are named variables, not an array, for the reason given at
   bl__wasm_code. */
BL__FORCE_INLINE void bl__wasm_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int off, int step,
                                          int T, v128_t *acc0, v128_t *acc1, v128_t *acc2, v128_t *acc3)
{
    v128_t s0 = *acc0, s1 = *acc1, s2 = *acc2, s3 = *acc3;
    int g, m;
    BL__WASM_ROLLED
    for (g = 0; g < 8; ++g) {
        v128_t w = wasm_u16x8_load8x8(p + 8 * g), y = w, c;
        const int8_t *at = a + off + 8 * g;
        BL__UNROLL
        for (m = 0; m < d; ++m) {
            c = bl__wasm_code(d, m, w, &y);
            s0 = wasm_i32x4_add(s0, wasm_i32x4_dot_i16x8(c, wasm_i16x8_load8x8(at + step * m)));
            if (T > 1) s1 = wasm_i32x4_add(s1, wasm_i32x4_dot_i16x8(c, wasm_i16x8_load8x8(at + stride + step * m)));
            if (T > 2) {
                s2 = wasm_i32x4_add(s2, wasm_i32x4_dot_i16x8(c, wasm_i16x8_load8x8(at + 2 * stride + step * m)));
                s3 = wasm_i32x4_add(s3, wasm_i32x4_dot_i16x8(c, wasm_i16x8_load8x8(at + 3 * stride + step * m)));
            }
        }
    }
    *acc0 = s0; *acc1 = s1; *acc2 = s2; *acc3 = s3;
}
#endif

#if defined(BITLINEAR_WASM_RELAXED)
/* Relaxed SIMD, 2BIT with one token: i16x8.relaxed_dot_i8x16_i7x16_s (one pmaddubsw on
   x86, where the i32x4 form also widens) into two int16 sums, by the digits' place in the
   byte. One 16-bit shift by 4 brings digits 2 and 3 to where digits 0 and 1 were, and
   each digit is then masked in place: digits 0 and 2 as their codes (mask 3), digits 1 and
   3 as four times their codes (mask 12; the dot's code operand stays below 128). A dot
   lane is below 2 * 8 * 127 for the x4 digits, so a 16-byte group adds less than 4064 to
   the x4 sum and 1016 to the other; eight groups (two blocks) fit in int16, after which
   the sums are widened, the x4 one shifted back, into the int32 total. */
BL__FORCE_INLINE void bl__wasm_group_2bit_t1(const uint8_t *p, const int8_t *at, int step, v128_t *ones,
                                             v128_t *fours)
{
    v128_t w = wasm_v128_load(p), h = wasm_u16x8_shr(w, 4);
    v128_t d0 = BL__WASM_RDOT16(at, wasm_v128_and(w, wasm_i8x16_splat(3)));
    v128_t d1 = BL__WASM_RDOT16(at + step, wasm_v128_and(w, wasm_i8x16_splat(12)));
    v128_t d2 = BL__WASM_RDOT16(at + 2 * step, wasm_v128_and(h, wasm_i8x16_splat(3)));
    v128_t d3 = BL__WASM_RDOT16(at + 3 * step, wasm_v128_and(h, wasm_i8x16_splat(12)));
    *ones = wasm_i16x8_add(*ones, wasm_i16x8_add(d0, d2));
    *fours = wasm_i16x8_add(*fours, wasm_i16x8_add(d1, d3));
}

/* the int16 sums widened into *total, the x4 one shifted back (exact: each of its lanes
   is a sum of multiples of 4); the sums cleared */
BL__FORCE_INLINE void bl__wasm_2bit_widen(v128_t *ones, v128_t *fours, v128_t *total)
{
    v128_t s = wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(*ones),
                              wasm_i32x4_shr(wasm_i32x4_extadd_pairwise_i16x8(*fours), 2));
    *total = wasm_i32x4_add(*total, s);
    *ones = *fours = wasm_i16x8_splat(0);
}

/* one 2BIT row with one token, a 16-byte group (bl__wasm_group_2bit_t1) per step of a
   loop kept rolled (BL__WASM_ROLLED) */
static int32_t bl__wasm_row_2bit_t1(const uint8_t *row, int n, const int8_t *a)
{
    v128_t total = wasm_i32x4_splat(0), ones = total, fours = total;
    int pos = 0, g, blocks = 0;
    for (; pos + 256 <= n; pos += 256, row += 64) {
        BL__WASM_ROLLED
        for (g = 0; g < 64; g += 16) bl__wasm_group_2bit_t1(row + g, a + pos + g, 64, &ones, &fours);
        if (++blocks == 2) bl__wasm_2bit_widen(&ones, &fours, &total), blocks = 0;
    }
    if (pos < n) { /* with at most one block in the sums: two blocks' room */
        uint8_t buf[64];
        int bytes = (n - pos + 3) / 4;
        const uint8_t *p = bl__simd_tail(row, bytes, 0, buf);
        for (g = 0; g < 64; g += 16) bl__wasm_group_2bit_t1(p + g, a + pos + g, bytes, &ones, &fours);
    }
    bl__wasm_2bit_widen(&ones, &fours, &total);
    return bl__wasm_hsum_i32(total);
}
#else
/* SIMD128, 2BIT with one token: eight bytes widened to 16-bit lanes, each digit masked in
   place (byte & 3 << 2m: 4^m times its code, one AND instead of a shift and an AND) and
   multiplied by its activations by i32x4.dot_i16x8_s into a sum of its own, shifted back
   by 2m when folded (exact: every lane of that sum is a multiple of 4^m). A lane adds
   below 2 * 192 * 127 per eight bytes, so the sums fold into the total every 4096
   blocks (of eight steps), before 2^31. */
BL__FORCE_INLINE void bl__wasm_step_2bit_t1(const uint8_t *p, const int8_t *at, int step, v128_t acc[4])
{
    v128_t w = wasm_u16x8_load8x8(p);
    acc[0] = wasm_i32x4_add(acc[0], wasm_i32x4_dot_i16x8(wasm_v128_and(w, wasm_i16x8_splat(3)), wasm_i16x8_load8x8(at)));
    acc[1] = wasm_i32x4_add(acc[1], wasm_i32x4_dot_i16x8(wasm_v128_and(w, wasm_i16x8_splat(12)),
                                                         wasm_i16x8_load8x8(at + step)));
    acc[2] = wasm_i32x4_add(acc[2], wasm_i32x4_dot_i16x8(wasm_v128_and(w, wasm_i16x8_splat(48)),
                                                         wasm_i16x8_load8x8(at + 2 * step)));
    acc[3] = wasm_i32x4_add(acc[3], wasm_i32x4_dot_i16x8(wasm_v128_and(w, wasm_i16x8_splat(192)),
                                                         wasm_i16x8_load8x8(at + 3 * step)));
}

/* acc[m] shifted back by 2m and added to *total; acc cleared */
BL__FORCE_INLINE void bl__wasm_2bit_fold(v128_t acc[4], v128_t *total)
{
    v128_t s = wasm_i32x4_add(acc[0], wasm_i32x4_shr(acc[1], 2));
    s = wasm_i32x4_add(s, wasm_i32x4_add(wasm_i32x4_shr(acc[2], 4), wasm_i32x4_shr(acc[3], 6)));
    *total = wasm_i32x4_add(*total, s);
    acc[0] = acc[1] = acc[2] = acc[3] = wasm_i32x4_splat(0);
}

/* one 2BIT row with one token, eight bytes (bl__wasm_step_2bit_t1) per step of a loop
   kept rolled (BL__WASM_ROLLED) */
static int32_t bl__wasm_row_2bit_t1(const uint8_t *row, int n, const int8_t *a)
{
    v128_t acc[4], total = wasm_i32x4_splat(0);
    int pos = 0, g, blocks = 0;
    for (g = 0; g < 4; ++g) acc[g] = total;
    for (; pos + 256 <= n; pos += 256, row += 64) {
        BL__WASM_ROLLED
        for (g = 0; g < 64; g += 8) bl__wasm_step_2bit_t1(row + g, a + pos + g, 64, acc);
        if (++blocks == 4096) bl__wasm_2bit_fold(acc, &total), blocks = 0;
    }
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + 3) / 4;
        const uint8_t *p = bl__simd_tail(row, bytes, 0, buf);
        for (g = 0; g < 64; g += 8) bl__wasm_step_2bit_t1(p + g, a + pos + g, bytes, acc);
    }
    bl__wasm_2bit_fold(acc, &total);
    return bl__wasm_hsum_i32(total);
}
#endif

/* T is 1, 2 or 4 */
BL__FORCE_INLINE void bl__wasm_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                        int32_t *out)
{
    v128_t acc0 = wasm_i32x4_splat(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int pos = 0, span = 64 * d;
    if (d == 4 && T == 1) {
        out[0] = bl__wasm_row_2bit_t1(row, n, a);
        return;
    }
    for (; pos + span <= n; pos += span, row += 64)
        bl__wasm_block_int8(d, row, a, stride, pos, 64, T, &acc0, &acc1, &acc2, &acc3);
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        bl__wasm_block_int8(d, bl__simd_tail(row, bytes, 0, buf), a, stride, pos, bytes, T, &acc0, &acc1, &acc2, &acc3);
    }
    out[0] = bl__wasm_hsum_i32(acc0);
    if (T > 1) out[1] = bl__wasm_hsum_i32(acc1);
    if (T > 2) {
        out[2] = bl__wasm_hsum_i32(acc2);
        out[3] = bl__wasm_hsum_i32(acc3);
    }
}

/* A row's float dot against T (1 or 2) tokens: low and high four lanes summed apart. */
BL__FORCE_INLINE void bl__wasm_row_float(int d, const uint8_t *row, int n, const float *x, size_t stride, int T,
                                         float *out)
{
    /* a byte whose D digits all have code 1 (trit 0): 0x55 in 2BIT, 128 in BASE3 */
    const uint8_t zero_trits = (uint8_t)(d == 4 ? 0x55 : 128);
    const v128_t one = wasm_i16x8_splat(1);
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, b0 = a0, b1 = a0, s;
    int pos = 0, m, g;
    while (pos < n) {
        uint8_t buf[64];
        int bytes = n - pos >= 64 * d ? 64 : (n - pos + d - 1) / d, groups = (bytes + 7) / 8;
        const uint8_t *p = bytes == 64 ? row : bl__simd_tail(row, bytes, zero_trits, buf);
        for (g = 0; g < groups; ++g) {
            v128_t w = wasm_u16x8_load8x8(p + 8 * g), y = w;
            const float *xt = x + pos + 8 * g;
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                v128_t tr = wasm_i16x8_sub(bl__wasm_code(d, m, w, &y), one);
                v128_t lo = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(tr));
                v128_t hi = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(tr));
                a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(lo, wasm_v128_load(xt + bytes * m)));
                a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(hi, wasm_v128_load(xt + bytes * m + 4)));
                if (T > 1) {
                    b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(lo, wasm_v128_load(xt + stride + bytes * m)));
                    b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(hi, wasm_v128_load(xt + stride + bytes * m + 4)));
                }
            }
        }
        pos += bytes * d;
        row += bytes;
    }
    s = wasm_f32x4_add(a0, a1);
    out[0] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
             (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
    if (T > 1) {
        s = wasm_f32x4_add(b0, b1);
        out[1] = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
                 (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
    }
}

BL__SIMD_WALK(wasm, BL__WASM_TOKENS, BL__WASM_FTOKENS)

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

static const bl__backend_kernels bl__kernels_wasm = { bl__wasm_walk_int8, bl__wasm_walk_float, bl__abs_max_wasm,
                                                      bl__quantize_wasm };

#endif /* BL__HAVE_WASM */
