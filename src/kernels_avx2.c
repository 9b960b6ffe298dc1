/* ==== bitlinear: AVX2 kernels ============================================= */
/* A 64-byte block is two ymm halves. INT8: codes (0..2, unsigned) times activations by
   vpmaddubsw (at most 2 * 2 * 127 per int16 lane, so no saturation; a block's digits
   are summed in int16 before one vpmaddwd), the code sum subtracted once per row. Where
   the CPU has AVX-VNNI the INT8 forward runs the vpdpbusd kernels below instead (same
   integer dots, so the same bits).
   FLOAT: table lookups turn the codes into floats -1, 0, +1 that meet x in FMAs.
   Tails are copied into a padded 64-byte block so nothing past the packed row is read. */
#ifdef BL__HAVE_AVX2
BL__TARGET_BEGIN("avx2,fma")

#define BL__AVX2_PTOKENS 8      /* INT8 tokens per decoded block, AVX2 alone */
#define BL__AVX2_PTOKENS_2BIT 4 /* the same for 2BIT (bl__avx2_plain_row_int8) */
#define BL__AVX2_LOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

static int32_t bl__avx2_hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* four horizontal sums together: interleave, then fold the 128-bit lanes */
BL__FORCE_INLINE void bl__avx2_hsum4(const __m256i v[4], int32_t out[4])
{
    __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
    s = _mm256_add_epi32(_mm256_unpacklo_epi64(s, t), _mm256_unpackhi_epi64(s, t));
    _mm_storeu_si128((__m128i *)(void *)out,
                     _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
}

/* ---- AVX2 alone: vpmaddubsw + vpmaddwd ------------------------------------------------ */

/* Batch 1 streams every weight once. 2BIT (memory bound) walks one row at a time, a
   single stream that the hardware prefetchers follow, also prefetched into L2 two pages
   ahead, which keeps DRAM reads in flight across 4 KiB page boundaries where those
   prefetchers restart; rows in groups (shared activation loads) were slower from DRAM.
   BASE3 (compute bound) takes rows in pairs, each row prefetching its own stream a fixed
   distance ahead, a whole number of pairs, so over a pair the prefetched bytes are
   exactly the next stretch of the contiguous rows. Past the end of the weights a
   prefetch is a harmless hint. */
#define BL__AVX2_PREFETCH(p, ahead) _mm_prefetch((const char *)((uintptr_t)(p) + (ahead)), _MM_HINT_T1)
#define BL__AVX2_AHEAD_2BIT 8192        /* bytes; chosen from 2, 4 and 8 KiB */
#define BL__AVX2_AHEAD_2BIT_PLAIN 16384 /* the same without AVX-VNNI; from 4, 8, 16, 32 KiB */
#define BL__AVX2_AHEAD_BASE3 16384      /* bytes; chosen from 4, 8, 16, 32 and 64 KiB */

/* a whole number of row pairs, at least `bytes` and at least three pairs */
static inline size_t bl__avx2_ahead(size_t rb, size_t bytes)
{
    size_t group = 2 * rb, groups = (bytes + group - 1) / group;
    return group * (groups < 3 ? 3 : groups);
}

/* split: the rows are not whole cache lines long, so a block may straddle two lines */
BL__FORCE_INLINE void bl__avx2_prefetch_row(const uint8_t *p, int split, size_t ahead)
{
    BL__AVX2_PREFETCH(p, ahead);
    if (split) BL__AVX2_PREFETCH(p, ahead + 63);
}

/* byte * 3 mod 256 in every lane: the next BASE3 digit's y */
BL__FORCE_INLINE __m256i bl__avx2_times3(__m256i y)
{
    y = _mm256_add_epi8(_mm256_add_epi8(y, y), y);
    BL__KEEP(y);
    return y;
}

/* BASE3 codes by compares. y = byte * 3^m mod 256; code = (y > 85) + (y > 170), compared
   as signed s = y - 128. s needs no flip per digit: 3 (y - 128) = 3y - 384 = 3y - 128
   (mod 256), so the flipped byte follows the same s -> 3s chain (bl__avx2_times3). */
BL__FORCE_INLINE __m256i bl__avx2_base3_flip(__m256i bytes)
{
    return _mm256_xor_si256(bytes, _mm256_set1_epi8((char)0x80));
}

BL__FORCE_INLINE __m256i bl__avx2_base3_code(__m256i s)
{
    const __m256i lo = _mm256_set1_epi8(85 - 128), hi = _mm256_set1_epi8(170 - 128);
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), _mm256_cmpgt_epi8(s, lo)), _mm256_cmpgt_epi8(s, hi));
}

/* codes 0..2 of digit m of 32 bytes: c[m]; zero bytes give codes 0 */
BL__FORCE_INLINE void bl__avx2_codes_half(int d, __m256i w, __m256i c[5])
{
    int m;
    if (d == 4) {
        const __m256i three = _mm256_set1_epi8(3);
        c[0] = _mm256_and_si256(w, three);
        c[1] = _mm256_and_si256(_mm256_srli_epi16(w, 2), three);
        c[2] = _mm256_and_si256(_mm256_srli_epi16(w, 4), three);
        c[3] = _mm256_and_si256(_mm256_srli_epi16(w, 6), three);
    } else {
        __m256i s = bl__avx2_base3_flip(w);
        BL__UNROLL
        for (m = 0; m < 5; ++m) {
            c[m] = bl__avx2_base3_code(s);
            if (m < 4) s = bl__avx2_times3(s);
        }
    }
}

/* STEP for t_ = 0 .. T - 1 (T <= 8), written out: clang 14 leaves a loop over the tokens
   partly rolled, with the codes and sums in memory */
#define BL__AVX2_FOR_TOKENS(T, STEP)                                                              \
    do {                                                                                          \
        int t_ = 0;                                                                               \
        STEP;                                                                                     \
        if ((T) > 1) { t_ = 1; STEP; }                                                            \
        if ((T) > 2) { t_ = 2; STEP; }                                                            \
        if ((T) > 3) { t_ = 3; STEP; }                                                            \
        if ((T) > 4) { t_ = 4; STEP; }                                                            \
        if ((T) > 5) { t_ = 5; STEP; }                                                            \
        if ((T) > 6) { t_ = 6; STEP; }                                                            \
        if ((T) > 7) { t_ = 7; STEP; }                                                            \
    } while (0)

/* one token's products with a half's codes: d vpmaddubsw into its int16 sum, written
   out (clang 14 unrolls a loop over d only by two) */
BL__FORCE_INLINE __m256i bl__avx2_plain_dots(int d, const __m256i c[5], const int8_t *at, int step, __m256i sum)
{
#define BL__AVX2_DOT(m) sum = _mm256_add_epi16(sum, _mm256_maddubs_epi16(c[m], BL__AVX2_LOAD(at + step * (m))))
    BL__AVX2_DOT(0);
    BL__AVX2_DOT(1);
    BL__AVX2_DOT(2);
    BL__AVX2_DOT(3);
    if (d == 5) BL__AVX2_DOT(4);
#undef BL__AVX2_DOT
    BL__KEEP(sum); /* gcc would otherwise keep the products to sum later, spilling them */
    return sum;
}

/* the block at `p` (64 readable bytes) against T tokens (a + t * stride), digit stride
   `step`: each 32-byte half's codes are made once and meet every token */
BL__FORCE_INLINE void bl__avx2_plain_block_int8(int d, const uint8_t *p, const int8_t *a, size_t stride, int step, int T,
                                                __m256i *sum)
{
    __m256i c[5];
    int h;
    BL__UNROLL
    for (h = 0; h < 2; ++h) {
        bl__avx2_codes_half(d, BL__AVX2_LOAD(p + 32 * h), c);
        BL__AVX2_FOR_TOKENS(T, sum[t_] = bl__avx2_plain_dots(d, c, a + (size_t)t_ * stride + 32 * h, step, sum[t_]));
    }
}

/* out[t] = sum_i code_i * a_t[i] over one packed row, T tokens. A token's int16 sum gains
   at most 5 * 2 * 2 * 127 = 2540 per lane a half, so it widens to int32 every six blocks
   (twelve halves: 30480). With eight tokens (BASE3) a half's codes and the sums exceed the
   sixteen ymm registers and some spill, which still costs less than decoding the codes
   once per four tokens. The tail block is copied (zero bytes are codes 0). */
BL__FORCE_INLINE void bl__avx2_plain_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                              int32_t *out)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i sum[BL__AVX2_PTOKENS], acc[BL__AVX2_PTOKENS];
    int pos = 0, span = 64 * d, blocks = 0;
    BL__AVX2_FOR_TOKENS(T, sum[t_] = acc[t_] = _mm256_setzero_si256());
    for (; pos + span <= n; pos += span, row += 64) {
        bl__avx2_plain_block_int8(d, row, a + pos, stride, 64, T, sum);
        if (++blocks == 6) {
            BL__AVX2_FOR_TOKENS(T, acc[t_] = _mm256_add_epi32(acc[t_], _mm256_madd_epi16(sum[t_], ones));
                                   sum[t_] = _mm256_setzero_si256());
            blocks = 0;
        }
    }
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        bl__avx2_plain_block_int8(d, bl__simd_tail(row, bytes, 0, buf), a + pos, stride, bytes, T, sum);
    }
    BL__AVX2_FOR_TOKENS(T, out[t_] = bl__avx2_hsum(_mm256_add_epi32(acc[t_], _mm256_madd_epi16(sum[t_], ones))));
}


/* The end of a 2BIT batch-1 row after its whole 512-weight steps, from `pos`: a whole
   block if one is left, then the tail block (copied, zero bytes), each as its two 32-byte
   halves HALF(q, off, step, k): the half at q, whose digit m meets the activations at
   off + step * m, going to accumulator set k. */
#define BL__AVX2_2BIT_ROW_END(row, n, pos, HALF)                                                   \
    do {                                                                                           \
        if ((pos) + 256 <= (n)) {                                                                  \
            HALF((row), (pos), 64, 0);                                                             \
            HALF((row) + 32, (pos) + 32, 64, 1);                                                   \
            (pos) += 256;                                                                          \
            (row) += 64;                                                                           \
        }                                                                                          \
        if ((pos) < (n)) {                                                                         \
            uint8_t buf_[64];                                                                      \
            int bytes_ = ((n) - (pos) + 3) / 4;                                                    \
            const uint8_t *q_ = bl__simd_tail((row), bytes_, 0, buf_);                             \
            HALF(q_, (pos), bytes_, 0);                                                            \
            HALF(q_ + 32, (pos) + 32, bytes_, 1);                                                  \
        }                                                                                          \
    } while (0)

/* 2BIT, 32 bytes of one row against the four digits' activations (digit m's 32 at
   a + step * m). One shift serves all four digits: digits 0 and 2 are codes (w & 3 and
   w >> 4 & 3), digits 1 and 3 are masked in place as four times their codes (w & 12,
   w >> 4 & 12), summed apart in `hi` and shifted back once per row. A 16-bit shift
   carries the high byte's bits into bits 4..7 of the low byte, which neither mask keeps.
   Per half an int16 lane gains at most 2 * 2 * 2 * 127 in lo, four times that in hi. */
BL__FORCE_INLINE void bl__avx2_plain_2bit_half(__m256i w, __m256i three, __m256i twelve, const int8_t *a, int step,
                                               __m256i *lo, __m256i *hi)
{
    const __m256i w4 = _mm256_srli_epi16(w, 4);
    *lo = _mm256_add_epi16(*lo, _mm256_maddubs_epi16(_mm256_and_si256(w, three), BL__AVX2_LOAD(a)));
    *hi = _mm256_add_epi16(*hi, _mm256_maddubs_epi16(_mm256_and_si256(w, twelve), BL__AVX2_LOAD(a + step)));
    *lo = _mm256_add_epi16(*lo, _mm256_maddubs_epi16(_mm256_and_si256(w4, three), BL__AVX2_LOAD(a + 2 * step)));
    *hi = _mm256_add_epi16(*hi, _mm256_maddubs_epi16(_mm256_and_si256(w4, twelve), BL__AVX2_LOAD(a + 3 * step)));
    BL__KEEP(*lo); /* gcc would keep every product to sum them at the end, spilling them */
    BL__KEEP(*hi);
}

/* One 2BIT row with one token, 512 weights a step, prefetched as bl__avx2_2bit_row is but
   further ahead: the halves alternate between two int16 pairs, lo and hi, widened to
   int32 when they could next overflow (activations are at most 127 in magnitude). A half
   adds at most 4064 to a lane of hi[k] and 1016 to one of lo[k]. So hi is widened every
   two steps: hi[k] then holds four halves, and hi[0] + hi[1] at most 32512. lo is widened
   every eight steps, when lo[0] + lo[1] reaches the same bound. After the last whole double
   step, at most a step, a block and a tail block remain: two halves more for each hi[k],
   and lo's count stays within its eight steps. */
BL__FORCE_INLINE void bl__avx2_plain_2bit_step(const uint8_t *row, const int8_t *a, __m256i three, __m256i twelve,
                                               __m256i lo[2], __m256i hi[2])
{
    int k;
    BL__AVX2_PREFETCH(row, BL__AVX2_AHEAD_2BIT_PLAIN);
    BL__AVX2_PREFETCH(row, BL__AVX2_AHEAD_2BIT_PLAIN + 64);
    BL__UNROLL
    for (k = 0; k < 4; ++k)
        bl__avx2_plain_2bit_half(BL__AVX2_LOAD(row + 32 * k), three, twelve, a + 256 * (k / 2) + 32 * (k % 2), 64,
                                 &lo[k % 2], &hi[k % 2]);
}

/* *acc += s[0] + s[1] widened to int32; s cleared */
BL__FORCE_INLINE void bl__avx2_plain_2bit_widen(__m256i s[2], __m256i ones, __m256i *acc)
{
    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(_mm256_add_epi16(s[0], s[1]), ones));
    s[0] = s[1] = _mm256_setzero_si256();
}

static __m256i bl__avx2_plain_2bit_row(const uint8_t *row, int n, const int8_t *a)
{
    __m256i three = _mm256_set1_epi8(3), twelve = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1);
    __m256i lo[2], hi[2], acc_lo = _mm256_setzero_si256(), acc_hi = acc_lo;
    int pos = 0, doubles = 0;
    lo[0] = lo[1] = hi[0] = hi[1] = acc_lo;
    for (; pos + 1024 <= n; pos += 1024, row += 256) {
        BL__KEEP(three); /* gcc would rebuild the constants every step */
        BL__KEEP(twelve);
        BL__KEEP(ones);
        bl__avx2_plain_2bit_step(row, a + pos, three, twelve, lo, hi);
        bl__avx2_plain_2bit_step(row + 128, a + pos + 512, three, twelve, lo, hi);
        bl__avx2_plain_2bit_widen(hi, ones, &acc_hi);
        if (++doubles == 4) bl__avx2_plain_2bit_widen(lo, ones, &acc_lo), doubles = 0;
    }
    if (pos + 512 <= n) {
        bl__avx2_plain_2bit_step(row, a + pos, three, twelve, lo, hi);
        pos += 512;
        row += 128;
    }
#define BL__AVX2_PLAIN_HALF(q, off, step, k) \
    bl__avx2_plain_2bit_half(BL__AVX2_LOAD(q), three, twelve, a + (off), step, &lo[k], &hi[k])
    BL__AVX2_2BIT_ROW_END(row, n, pos, BL__AVX2_PLAIN_HALF);
#undef BL__AVX2_PLAIN_HALF
    bl__avx2_plain_2bit_widen(lo, ones, &acc_lo);
    bl__avx2_plain_2bit_widen(hi, ones, &acc_hi);
    return _mm256_add_epi32(acc_lo, _mm256_srai_epi32(acc_hi, 2));
}

/* BASE3, one 64-byte block of two rows (r0, r1) against the five digits' activations
   (digit m's 64 at a + step * m): the codes of bl__avx2_base3_code, but the four 32-byte halves
   advance digit by digit together, so their four s chains (two dependent byte adds per
   digit) overlap. A row's two halves sum in int16 below 2 * 5 * 2 * 2 * 127 per lane. */
BL__FORCE_INLINE void bl__avx2_plain_base3_block(const uint8_t *r0, const uint8_t *r1, const int8_t *a, int step,
                                                 __m256i acc[2])
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[4], sum[4], av[2];
    int h, m;
    BL__UNROLL
    for (h = 0; h < 4; ++h) {
        s[h] = bl__avx2_base3_flip(BL__AVX2_LOAD((h < 2 ? r0 : r1) + 32 * (h & 1)));
        sum[h] = _mm256_setzero_si256();
    }
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        av[0] = BL__AVX2_LOAD(a + step * m);
        av[1] = BL__AVX2_LOAD(a + step * m + 32);
        BL__UNROLL
        for (h = 0; h < 4; ++h) {
            sum[h] = _mm256_add_epi16(sum[h], _mm256_maddubs_epi16(bl__avx2_base3_code(s[h]), av[h & 1]));
            BL__KEEP(sum[h]); /* gcc would sum all twenty products at the end, spilling them */
            if (m < 4) s[h] = bl__avx2_times3(s[h]);
        }
    }
    BL__UNROLL
    for (h = 0; h < 2; ++h)
        acc[h] = _mm256_add_epi32(acc[h], _mm256_madd_epi16(_mm256_add_epi16(sum[2 * h], sum[2 * h + 1]), ones));
}

/* the code dots of four consecutive rows with one token: 2BIT a row at a time, BASE3 in
   pairs (bl__avx2_plain_base3_block) */
BL__FORCE_INLINE void bl__avx2_plain_rows4_int8(int d, const uint8_t *row, size_t rb, int n, const int8_t *a,
                                                int32_t out[4])
{
    size_t ahead;
    int h, pos, split = (rb & 63) != 0;
    if (d == 4) {
        __m256i v[4];
        for (h = 0; h < 4; ++h) v[h] = bl__avx2_plain_2bit_row(row + (size_t)h * rb, n, a);
        bl__avx2_hsum4(v, out);
        return;
    }
    ahead = bl__avx2_ahead(rb, BL__AVX2_AHEAD_BASE3);
    for (h = 0; h < 4; h += 2) {
        const uint8_t *r = row + (size_t)h * rb;
        __m256i acc[2];
        acc[0] = acc[1] = _mm256_setzero_si256();
        for (pos = 0; pos + 320 <= n; pos += 320, r += 64) {
            bl__avx2_prefetch_row(r, split, ahead);
            bl__avx2_prefetch_row(r + rb, split, ahead);
            bl__avx2_plain_base3_block(r, r + rb, a + pos, 64, acc);
        }
        if (pos < n) {
            uint8_t buf[2][64];
            int bytes = (n - pos + 4) / 5;
            bl__avx2_plain_base3_block(bl__simd_tail(r, bytes, 0, buf[0]), bl__simd_tail(r + rb, bytes, 0, buf[1]), a + pos,
                                       bytes, acc);
        }
        out[h] = bl__avx2_hsum(acc[0]);
        out[h + 1] = bl__avx2_hsum(acc[1]);
    }
}

BL__SIMD_WALK_INT8_BY_FORMAT(avx2_plain, BL__AVX2_PTOKENS_2BIT, BL__AVX2_PTOKENS)
BL__X86_WALK_GEMV(avx2_plain)

/* ---- AVX-VNNI: vpdpbusd on ymm ------------------------------------------------------ */
#ifdef BL__HAVE_AVXVNNI
#define BL__AVX2_TOKENS 8 /* INT8 tokens per decoded block with AVX-VNNI */

/* acc += u (unsigned bytes) . s (signed bytes) in groups of four, the VEX form of
   vpdpbusd. Written as asm, so that these kernels need no avxvnni target region of their
   own (the region pragma's target names vary by compiler version); register operands
   only: with a memory alternative clang 14 spills the activations to the stack. */
BL__FORCE_INLINE __m256i bl__avx2_dpbusd(__m256i acc, __m256i u, __m256i s)
{
    __asm__("%{vex%} vpdpbusd {%2, %1, %0|%0, %1, %2}" : "+x"(acc) : "x"(u), "x"(s));
    return acc;
}

/* STEP for rows r_ = 0, 1, written out: clang 14 leaves a loop over the rows partly
   rolled, its accumulators then in memory */
#define BL__AVX2_FOR_PAIR(STEP)                                                                    \
    do {                                                                                           \
        int r_;                                                                                    \
        r_ = 0; STEP; r_ = 1; STEP;                                                                \
    } while (0)

/* 2BIT, 32 bytes of one row against the four digits' activations: digit m masked in
   place (byte & 3 << 2m) is 4^m times its code, so one AND decodes it, and acc[m] sums
   exact multiples of 4^m that shift back once per row (bl__avx2_2bit_sum). */
BL__FORCE_INLINE void bl__avx2_2bit_half(__m256i w, const __m256i mask[4], const int8_t *a, int step, __m256i *acc)
{
    int m;
    BL__UNROLL
    for (m = 0; m < 4; ++m) acc[m] = bl__avx2_dpbusd(acc[m], _mm256_and_si256(w, mask[m]), BL__AVX2_LOAD(a + step * m));
}

/* the two accumulator sets' digit sums, each set shifted back apart: a set's lane adds
   < 4 * 192 * 128 per half, at most BL_MAX_IN_FEATURES / 256 + 1 halves, below 2^31 */
BL__FORCE_INLINE __m256i bl__avx2_2bit_sum(const __m256i acc[8])
{
    __m256i total = _mm256_add_epi32(acc[0], acc[4]);
    int m;
    BL__UNROLL
    for (m = 1; m < 4; ++m)
        total = _mm256_add_epi32(total, _mm256_add_epi32(_mm256_srai_epi32(acc[m], 2 * m), _mm256_srai_epi32(acc[4 + m], 2 * m)));
    return total;
}

/* One 2BIT row with one token, two blocks a step; the halves alternate between two
   accumulator sets (acc, acc + 4), 8 vpdpbusd chains in flight. Returns the lane sums:
   the caller folds four rows' horizontally at once (bl__avx2_hsum4). */
static __m256i bl__avx2_2bit_row(const uint8_t *row, int n, const int8_t *a)
{
    __m256i acc[8], mask[4];
    int pos = 0, k;
    BL__UNROLL
    for (k = 0; k < 8; ++k) acc[k] = _mm256_setzero_si256();
    BL__UNROLL
    for (k = 0; k < 4; ++k) mask[k] = _mm256_set1_epi8((char)(3 << (2 * k)));
    for (; pos + 512 <= n; pos += 512, row += 128) {
        BL__AVX2_PREFETCH(row, BL__AVX2_AHEAD_2BIT);
        BL__AVX2_PREFETCH(row, BL__AVX2_AHEAD_2BIT + 64);
        BL__UNROLL
        for (k = 0; k < 4; ++k) BL__KEEP(mask[k]); /* clang would reload them every step */
        BL__UNROLL
        for (k = 0; k < 4; ++k)
            bl__avx2_2bit_half(BL__AVX2_LOAD(row + 32 * k), mask, a + pos + 256 * (k / 2) + 32 * (k % 2), 64, acc + 4 * (k % 2));
    }
#define BL__AVX2_VNNI_HALF(q, off, step, k) bl__avx2_2bit_half(BL__AVX2_LOAD(q), mask, a + (off), step, acc + 4 * (k))
    BL__AVX2_2BIT_ROW_END(row, n, pos, BL__AVX2_VNNI_HALF);
#undef BL__AVX2_VNNI_HALF
    return bl__avx2_2bit_sum(acc);
}

/* BASE3, one 64-byte block of two rows (r0, r1) against the five digits' activations
   (digit m's 64 at a + step * m). With y_m = byte * 3^m mod 256, 3 y_m = 256 code_m +
   y_(m+1), so sum code_m a = (3 dot(y_m, a) - dot(y_(m+1), a)) / 256 exactly: acc[4r]
   and acc[4r + 1] gather row r's first dots, acc[4r + 2] and acc[4r + 3] its second (two
   vpdpbusd per digit, no compares). The four 32-byte halves advance digit by digit
   together, so four independent y chains (two dependent byte adds per digit) overlap, and
   the halves alternate their accumulators by digit parity, so each of the eight chains
   takes five vpdpbusd per block. */
BL__FORCE_INLINE void bl__avx2_base3_block(const uint8_t *r0, const uint8_t *r1, const int8_t *a, int step, __m256i acc[8])
{
    __m256i y[4], av[2];
    int h, m;
    BL__UNROLL
    for (h = 0; h < 4; ++h) y[h] = BL__AVX2_LOAD((h < 2 ? r0 : r1) + 32 * (h & 1));
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        av[0] = BL__AVX2_LOAD(a + step * m);
        av[1] = BL__AVX2_LOAD(a + step * m + 32);
        BL__UNROLL
        for (h = 0; h < 4; ++h) {
            int i = 4 * (h >> 1) + ((m + h) & 1);
            acc[i] = bl__avx2_dpbusd(acc[i], y[h], av[h & 1]);
            y[h] = bl__avx2_times3(y[h]);
            acc[i + 2] = bl__avx2_dpbusd(acc[i + 2], y[h], av[h & 1]);
        }
    }
}

/* Lane arithmetic wraps mod 2^32, so only the true 3 p - q = 256 * (partial dot) must fit
   in int32: < 256 * 5 * 4 * 2 * 128 per half step, below 2^31 for 1638 steps; the pairs
   fold into the totals every 512 blocks (1024 steps) and after the tail block (2 steps). */
BL__FORCE_INLINE void bl__avx2_base3_fold(__m256i acc[8], __m256i total[2])
{
    int r;
    BL__UNROLL
    for (r = 0; r < 2; ++r) {
        __m256i *c = acc + 4 * r;
        __m256i u = _mm256_add_epi32(c[0], c[1]), v = _mm256_add_epi32(c[2], c[3]);
        u = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(u, u), u), v);
        total[r] = _mm256_add_epi32(total[r], _mm256_srai_epi32(u, 8));
        c[0] = c[1] = c[2] = c[3] = _mm256_setzero_si256();
    }
}

/* two rows (16 accumulators would not fit the 16 ymm registers with four) */
BL__FORCE_INLINE void bl__avx2_base3_rows(const uint8_t *row, size_t rb, int n, const int8_t *a, int32_t out[4])
{
    __m256i acc[8], total[4];
    size_t ahead = bl__avx2_ahead(rb, BL__AVX2_AHEAD_BASE3);
    int full = n / 320, b = 0, end, k, split = (rb & 63) != 0;
    BL__UNROLL
    for (k = 0; k < 8; ++k) acc[k] = _mm256_setzero_si256();
    BL__UNROLL
    for (k = 0; k < 4; ++k) total[k] = _mm256_setzero_si256();
    while (b < full) {
        end = full - b <= 512 ? full : b + 512;
        for (; b < end; ++b, row += 64, a += 320) {
            BL__AVX2_FOR_PAIR(bl__avx2_prefetch_row(row + (size_t)r_ * rb, split, ahead));
            bl__avx2_base3_block(row, row + rb, a, 64, acc);
        }
        bl__avx2_base3_fold(acc, total);
    }
    if (n > 320 * full) {
        uint8_t buf[2][64];
        int bytes = (n - 320 * full + 4) / 5;
        bl__avx2_base3_block(bl__simd_tail(row, bytes, 0, buf[0]), bl__simd_tail(row + rb, bytes, 0, buf[1]), a, bytes, acc);
        bl__avx2_base3_fold(acc, total);
    }
    bl__avx2_hsum4(total, out); /* out[2], out[3]: zero */
}

/* the code dots of four consecutive rows with one token: 2BIT one row at a time, BASE3 in
   pairs */
BL__FORCE_INLINE void bl__avx2_vnni_rows4_int8(int d, const uint8_t *row, size_t rb, int n, const int8_t *a, int32_t out[4])
{
    int32_t pair[4]; /* a two-row kernel's sums: the first two of its four lanes */
    int h;
    if (d == 4) {
        __m256i v[4];
        for (h = 0; h < 4; ++h) v[h] = bl__avx2_2bit_row(row + (size_t)h * rb, n, a);
        bl__avx2_hsum4(v, out);
        return;
    }
    for (h = 0; h < 4; h += 2, row += 2 * rb) {
        bl__avx2_base3_rows(row, rb, n, a, pair);
        out[h] = pair[0];
        out[h + 1] = pair[1];
    }
}

/* 32 bytes of one row (digit stride `step`) against T tokens at a (stride apart): the
   codes decoded once, token t's digit m feeding acc[t * A + m % A], so at least 8
   dependency chains are in flight */
BL__FORCE_INLINE void bl__avx2_half_vnni(int d, const uint8_t *p, const int8_t *a, size_t stride, int step, int T,
                                         int A, __m256i *acc)
{
    __m256i c[5];
    int t, m;
    bl__avx2_codes_half(d, BL__AVX2_LOAD(p), c);
    BL__UNROLL
    for (m = 0; m < d; ++m) {
        BL__UNROLL
        for (t = 0; t < T; ++t)
            acc[t * A + m % A] = bl__avx2_dpbusd(acc[t * A + m % A], c[m], BL__AVX2_LOAD(a + (size_t)t * stride + step * m));
    }
}

/* out[t] = sum_i code_i * a_t[i] over one packed row, T tokens */
BL__FORCE_INLINE void bl__avx2_vnni_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride, int T,
                                        int32_t *out)
{
    __m256i acc[BL__AVX2_TOKENS];
    int pos = 0, t, m, span = 64 * d, A = T >= 4 ? 8 / T : 2;
    BL__UNROLL
    for (t = 0; t < T * A; ++t) acc[t] = _mm256_setzero_si256();
    for (; pos + span <= n; pos += span, row += 64) {
        bl__avx2_half_vnni(d, row, a + pos, stride, 64, T, A, acc);
        bl__avx2_half_vnni(d, row + 32, a + pos + 32, stride, 64, T, A, acc);
    }
    if (pos < n) {
        uint8_t buf[64];
        int bytes = (n - pos + d - 1) / d;
        const uint8_t *p = bl__simd_tail(row, bytes, 0, buf);
        bl__avx2_half_vnni(d, p, a + pos, stride, bytes, T, A, acc);
        if (bytes > 32) bl__avx2_half_vnni(d, p + 32, a + pos + 32, stride, bytes, T, A, acc);
    }
    BL__UNROLL
    for (t = 0; t < T; ++t) {
        __m256i s = acc[t * A];
        BL__UNROLL
        for (m = 1; m < A; ++m) s = _mm256_add_epi32(s, acc[t * A + m]);
        out[t] = bl__avx2_hsum(s);
    }
}

BL__SIMD_WALK_INT8(avx2_vnni, BL__AVX2_TOKENS)
BL__X86_WALK_GEMV(avx2_vnni)
#endif /* BL__HAVE_AVXVNNI */

/* AVX-VNNI where the CPU has it (cpu.c), else AVX2 alone; both give the same bits */
static void bl__gemm_int8_avx2(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    int base3 = L->format == BL_FORMAT_BASE3;
#ifdef BL__HAVE_AVXVNNI
    if (bl__cpu_flags() & BL__CPU_AVXVNNI) {
        if (batch > 1) bl__avx2_vnni_walk_int8(L, in, batch, y, r0, r1);
        else if (base3) bl__avx2_vnni_gemv_int8(5, L, in, y, r0, r1);
        else bl__avx2_vnni_gemv_int8(4, L, in, y, r0, r1);
        return;
    }
#endif
    if (batch > 1) bl__avx2_plain_walk_int8(L, in, batch, y, r0, r1);
    else if (base3) bl__avx2_plain_gemv_int8(5, L, in, y, r0, r1);
    else bl__avx2_plain_gemv_int8(4, L, in, y, r0, r1);
}

static float bl__avx2_hsum_ps(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
    return _mm_cvtss_f32(h);
}

/* FLOAT activations, as in the AVX-512 kernels: the trits become floats t in {-1, 0, +1}
   by vpermilps lookups on the widened packed bytes (the index is the low two bits of
   each dword, the table -1, 0, 1, 2 in both 128-bit lanes), and meet the activations in
   FMAs. t * x is exact, so each FMA is exactly the addition or subtraction of x (or
   nothing) that the FLOAT path specifies; only the summation order differs from the
   scalar reference. Batch 1 decodes in registers, two rows sharing each activation load
   (four rows' accumulators do not fit in 16 registers). Larger batches decode a panel of
   16 rows x 2 blocks once (the trits times the row's scale, transposed so that each
   column's 16 weights are two ymm) into a 40 KiB stack buffer, and run a 16 rows x 6
   tokens broadcast-FMA kernel over it, as an sgemm kernel does: 12 accumulators, 2 loads
   and 6 broadcasts per 12 FMAs, no horizontal sums. */
#define BL__AVX2_FROWS 2   /* batch-1 rows per activation load */
#define BL__AVX2_FCHAINS 4 /* batch-1 FMA accumulators per row */
#define BL__AVX2_FTOK 6    /* tokens per panel kernel pass */
#define BL__AVX2_FBLOCKS 2 /* blocks per batched column chunk */
#define BL__AVX2_FAHEAD 16384 /* batch-1 L2 prefetch distance in bytes (at least 3 row groups) */

/* t of the code in index bits 0..1, once per 128-bit lane; code 3 never occurs. The
   in-lane vpermilps, not vpermps: the same result from this table, and on Zen 2 and 3
   vpermps ymm takes several operations where vpermilps takes one. */
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
    if (d == 4) return _mm256_permutevar_ps(tab, _mm256_srli_epi32(*e, 2 * m));
    {
        const __m256i three = _mm256_set1_epi16(3);
        __m256 w = _mm256_permutevar_ps(tab, _mm256_mulhi_epu16(*e, three));
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
   byte << 8 of the first, the high word that of the second. Times 3^m (vpmullw) that is
   y << 8 for digit m (y = byte * 3^m mod 256), whose code is its high half times 3
   (vpmulhuw, bl__base3_code), so each multiply serves both groups, and every digit
   comes straight from the bytes: no chain of multiplies from digit to digit. The
   multiplier is hidden from the compiler (BL__KEEP), which would otherwise turn the
   vpmullw into shifts and adds: more operations, not fewer. Digits alternate between
   the accumulator pairs acc[0..1] and acc[2..3]. */
BL__FORCE_INLINE void bl__avx2_base3_pair(const uint8_t *p, const float *x, __m256 tab, __m256 *acc)
{
    static const short pow3[5] = { 1, 3, 9, 27, 81 };
    const __m256i e = _mm256_or_si256(_mm256_slli_epi32(bl__avx2_fbytes(p), 8), _mm256_slli_epi32(bl__avx2_fbytes(p + 32), 24));
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        __m256i k = _mm256_set1_epi16(pow3[m]), y, c;
        __m256 *pair = acc + 2 * (m & 1);
        BL__KEEP(k);
        y = m ? _mm256_mullo_epi16(e, k) : e;
        c = _mm256_mulhi_epu16(y, _mm256_set1_epi16(3));
        pair[0] = _mm256_fmadd_ps(_mm256_permutevar_ps(tab, c), _mm256_loadu_ps(x + 64 * m), pair[0]);
        pair[1] = _mm256_fmadd_ps(_mm256_permutevar_ps(tab, _mm256_srli_epi32(c, 16)), _mm256_loadu_ps(x + 64 * m + 32),
                                  pair[1]);
    }
}

/* Batch 1: dots of R rows (row + r_ * rb, R = 1 or BL__AVX2_FROWS = 2) with x, 8 bytes of each row at a
   time; each row has BL__AVX2_FCHAINS accumulators, one per digit (m mod 4), because
   FMA's latency times its two pipes needs eight chains in flight. Each row prefetches its
   own stream into L2 (a second line where rows are not whole cache lines). The tail block
   is copied (zero-padded); its activation lanes past `bytes` load as 0. The rows are
   written out (BL__AVX2_FOR_ROWS): clang 14 leaves a loop over them rolled, the decoded
   bytes then in memory. */
#define BL__AVX2_FOR_ROWS(R, STEP)                                                                 \
    do {                                                                                           \
        int r_ = 0;                                                                                \
        STEP;                                                                                      \
        if ((R) == 2) { r_ = 1; STEP; }                                                            \
    } while (0)
BL__FORCE_INLINE void bl__avx2_rows_float(int d, int R, int split, const uint8_t *row, size_t rb, int n,
                                         const float *x, size_t ahead, float *out)
{
    const __m256 tab = bl__avx2_ftable();
    __m256 acc[BL__AVX2_FCHAINS * BL__AVX2_FROWS];
    __m256i e[BL__AVX2_FROWS];
    int pos = 0, s, m, q, span = 64 * d;
    BL__UNROLL
    for (s = 0; s < BL__AVX2_FCHAINS * BL__AVX2_FROWS; ++s) acc[s] = _mm256_setzero_ps();
    for (; pos + span <= n; pos += span, row += 64) {
        BL__AVX2_FOR_ROWS(R, _mm_prefetch((const char *)(row + (size_t)r_ * rb + ahead), _MM_HINT_T1);
                          if (split) _mm_prefetch((const char *)(row + (size_t)r_ * rb + ahead + 63), _MM_HINT_T1));
        if (d == 5) { /* BASE3: groups q and q + 4 share each multiply (bl__avx2_base3_pair) */
            for (q = 0; q < 4; ++q)
                BL__AVX2_FOR_ROWS(R, bl__avx2_base3_pair(row + (size_t)r_ * rb + 8 * q, x + pos + 8 * q, tab,
                                                         &acc[BL__AVX2_FCHAINS * r_]));
            continue;
        }
        for (q = 0; q < 8; ++q) {
            BL__AVX2_FOR_ROWS(R, e[r_] = bl__avx2_fstart(d, bl__avx2_fbytes(row + (size_t)r_ * rb + 8 * q)));
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                __m256 xv = _mm256_loadu_ps(x + pos + 64 * m + 8 * q);
                BL__AVX2_FOR_ROWS(R, acc[BL__AVX2_FCHAINS * r_ + m % 4] = _mm256_fmadd_ps(
                                         bl__avx2_ftrit(d, m, &e[r_], tab), xv, acc[BL__AVX2_FCHAINS * r_ + m % 4]));
            }
        }
    }
    if (pos < n) {
        int bytes = (n - pos + d - 1) / d;
        uint8_t tail[BL__AVX2_FROWS][64];
        BL__AVX2_FOR_ROWS(R, bl__simd_tail(row + (size_t)r_ * rb, bytes, 0, tail[r_]));
        for (q = 0; 8 * q < bytes; ++q) {
            const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(bytes - 8 * q), lanes);
            BL__AVX2_FOR_ROWS(R, e[r_] = bl__avx2_fstart(d, bl__avx2_fbytes(tail[r_] + 8 * q)));
            BL__UNROLL
            for (m = 0; m < d; ++m) {
                __m256 xv = _mm256_maskload_ps(x + pos + bytes * m + 8 * q, valid);
                BL__AVX2_FOR_ROWS(R, acc[BL__AVX2_FCHAINS * r_ + m % 4] = _mm256_fmadd_ps(
                                         bl__avx2_ftrit(d, m, &e[r_], tab), xv, acc[BL__AVX2_FCHAINS * r_ + m % 4]));
            }
        }
    }
    BL__AVX2_FOR_ROWS(R, out[r_] = bl__avx2_hsum_ps(_mm256_add_ps(
                             _mm256_add_ps(acc[BL__AVX2_FCHAINS * r_], acc[BL__AVX2_FCHAINS * r_ + 1]),
                             _mm256_add_ps(acc[BL__AVX2_FCHAINS * r_ + 2], acc[BL__AVX2_FCHAINS * r_ + 3]))));
}

BL__X86_WALK_GEMV_FLOAT(avx2, BL__AVX2_FROWS, bl__avx2_fahead(BL__AVX2_FROWS, rb))

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
            bl__simd_tail(p, bytes, 0, tail);
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

/* Batched pass (BL__X86_WALK_GEMM_FLOAT): component j's `rows` (at most 16) rows from r
   over `blocks` blocks from c, decoded 8 rows at a time, transposed into a panel of 16
   weights per column (rows past `rows` zero), then every token over the panel. */
BL__FORCE_INLINE void bl__avx2_fpass(int d, const bl_linear *L, int j, int r, int rows, int c, int blocks,
                                     const float *x, size_t stride, int T, float *y, size_t ldy)
{
    float tmp[8 * 320], P[BL__AVX2_FBLOCKS * 320 * 16], sc[8];
    size_t rb = L->row_bytes, plane = (size_t)L->out_features * rb;
    int span = 64 * d, len = 0, b, h, s;
    for (b = 0; b < blocks; ++b)
        for (h = 0; h < 16; h += 8) {
            int R = rows - h < 0 ? 0 : (rows - h > 8 ? 8 : rows - h);
            const uint8_t *row = L->packed + (size_t)j * plane + (size_t)(r + h) * rb;
            for (s = 0; s < R; ++s) sc[s] = L->scales[(size_t)j * ldy + (size_t)(r + h + s)];
            if (R == 8) len = bl__avx2_fdecode(d, 8, row, rb, L->in_features, c + b, 1, sc, tmp, 320);
            else if (R > 0) len = bl__avx2_fdecode(d, R, row, rb, L->in_features, c + b, 1, sc, tmp, 320);
            for (s = R; s < 8; ++s) memset(tmp + s * 320, 0, 320 * sizeof(float));
            bl__avx2_transpose8(tmp, 320, len, P + (size_t)b * (size_t)span * 16 + h, 16);
        }
    len += (blocks - 1) * span;
    bl__avx2_fpanel_tokens(P, x, stride, len, rows, T, y, ldy);
}

BL__X86_WALK_GEMM_FLOAT(avx2, d == 4 ? 7 : 2, 16, BL__AVX2_FBLOCKS)

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
