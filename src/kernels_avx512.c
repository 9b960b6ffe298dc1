/* ==== bitlinear: AVX-512 kernels (F, BW, VNNI) ============================ */
/* One 64-byte block is one zmm; digit m of it is 64 consecutive trits. INT8: the codes
   (trit + 1, unsigned 0..2) meet the signed activations in vpdpbusd, and the token's
   code sum is subtracted once per row (the offset trick). FLOAT: table lookups turn the
   codes into floats -1, 0, +1 that meet the activations in FMAs. Several tokens share each decoded
   block (the GEMM path); rows are walked in tiles that stay in L1/L2 while the tokens
   pass over them. */
#ifdef BL__HAVE_AVX512
BL__TARGET_BEGIN("avx512f,avx512bw,avx512vnni")

#define BL__AVX512_TOKENS 8  /* INT8 tokens per decoded block */

/* Batch 1 streams every weight once. Prefetching into L2 pages ahead keeps DRAM reads
   in flight across 4 KiB page boundaries, where the hardware prefetchers restart: the
   2BIT row kernel two pages ahead, the row-group paths whole row groups at least 16 KiB
   ahead (BL__AVX512_AHEAD_FLOAT, BL__AVX512_AHEAD_BASE3); into L2, as the lines must not evict the activations from L1.
   Past the end of the weights it is a harmless hint: prefetches never fault. Figures:
   docs/performance.md, "Kernel tuning record". */
#define BL__AVX512_PREFETCH(p, ahead) _mm_prefetch((const char *)((uintptr_t)(p) + (ahead)), _MM_HINT_T1)
#define BL__AVX512_PREFETCH_L1(p, ahead) _mm_prefetch((const char *)((uintptr_t)(p) + (ahead)), _MM_HINT_T0)

/* acc += u (unsigned bytes) . s (signed bytes) in groups of four, updating acc in place.
   With the intrinsic, GCC 12 copies the 16 accumulators of the four-row loops through
   other registers and the stack every iteration; this one-instruction asm keeps them in
   place. Clang keeps them in place by itself. */
#if defined(__GNUC__) && !defined(__clang__)
BL__FORCE_INLINE __m512i bl__avx512_dpbusd(__m512i acc, __m512i u, __m512i s)
{
    __asm__("vpdpbusd {%2, %1, %0|%0, %1, %2}" : "+v"(acc) : "v"(u), "vm"(s));
    return acc;
}
#else
#  define bl__avx512_dpbusd _mm512_dpbusd_epi32
#endif

/* byte * 3 mod 256 in every lane: the next BASE3 digit's y */
BL__FORCE_INLINE __m512i bl__avx512_times3(__m512i y)
{
    y = _mm512_add_epi8(_mm512_add_epi8(y, y), y);
    BL__KEEP(y);
    return y;
}

static inline __mmask64 bl__avx512_valid(int bytes)
{
    return bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
}

/* 64 packed bytes streamed from memory, loaded as two 32-byte halves: the 2BIT batch-1
   row kernel reads DRAM faster so on Zen 5 (docs/performance.md, "Kernel tuning
   record"); the compute-bound BASE3 loops keep one load, as the insert costs them more
   than it saves. */
BL__FORCE_INLINE __m512i bl__avx512_load_stream(const uint8_t *p)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)p)),
                              _mm256_loadu_si256((const __m256i *)(const void *)(p + 32)), 1);
}

/* the block's bytes; bytes past `bytes` read as 0 and never touch memory */
BL__FORCE_INLINE __m512i bl__avx512_load_block(const uint8_t *p, int bytes)
{
    return bytes >= 64 ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi8(bl__avx512_valid(bytes), p);
}

/* Horizontal sums and maxima by in-register shuffles, in their zero-masking forms: the
   unmasked and extract/cast intrinsics trip g++ 12's -W(maybe-)uninitialized inside its
   own headers. */
static inline int32_t bl__avx512_hsum(__m512i v)
{
    const __mmask16 all = 0xFFFF;
    v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i32x4(all, v, v, 0x4E));
    v = _mm512_add_epi32(v, _mm512_maskz_shuffle_i32x4(all, v, v, 0xB1));
    v = _mm512_add_epi32(v, _mm512_maskz_shuffle_epi32(all, v, (_MM_PERM_ENUM)0x4E));
    v = _mm512_add_epi32(v, _mm512_maskz_shuffle_epi32(all, v, (_MM_PERM_ENUM)0xB1));
    return _mm512_cvtsi512_si32(v);
}
static inline uint32_t bl__avx512_hmax_epu32(__m512i v)
{
    const __mmask16 all = 0xFFFF;
    v = _mm512_maskz_max_epu32(all, v, _mm512_maskz_shuffle_i32x4(all, v, v, 0x4E));
    v = _mm512_maskz_max_epu32(all, v, _mm512_maskz_shuffle_i32x4(all, v, v, 0xB1));
    v = _mm512_maskz_max_epu32(all, v, _mm512_maskz_shuffle_epi32(all, v, (_MM_PERM_ENUM)0x4E));
    v = _mm512_maskz_max_epu32(all, v, _mm512_maskz_shuffle_epi32(all, v, (_MM_PERM_ENUM)0xB1));
    return (uint32_t)_mm512_cvtsi512_si32(v);
}
static inline float bl__avx512_hsum_ps(__m512 v)
{
    const __mmask16 all = 0xFFFF;
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, 0xB1));
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, 0xB1));
    return _mm512_cvtss_f32(v);
}

/* codes 0..2 of each digit; a zero byte gives codes 0 (no contribution) in both formats */
BL__FORCE_INLINE void bl__avx512_codes(int d, __m512i w, __m512i c[5])
{
    if (d == 4) {
        const __m512i three = _mm512_set1_epi8(3);
        c[0] = _mm512_and_si512(w, three);
        c[1] = _mm512_and_si512(_mm512_srli_epi16(w, 2), three);
        c[2] = _mm512_and_si512(_mm512_srli_epi16(w, 4), three);
        c[3] = _mm512_and_si512(_mm512_srli_epi16(w, 6), three);
    } else {
        /* y = byte * 3^m mod 256 (two byte adds per digit); code = (y > 85) + (y > 170) */
        const __m512i one = _mm512_set1_epi8(1), lo = _mm512_set1_epi8(85), hi = _mm512_set1_epi8((char)170);
        int m;
        BL__UNROLL
        for (m = 0; m < 5; ++m) {
            __m512i v = _mm512_maskz_mov_epi8(_mm512_cmpgt_epu8_mask(w, lo), one);
            c[m] = _mm512_mask_add_epi8(v, _mm512_cmpgt_epu8_mask(w, hi), v, one);
            w = bl__avx512_times3(w);
        }
    }
}

/* out[t] = sum_i code_i * a_t[i] over one packed row, tokens a_t = a + t * stride.
   A = 8 / T accumulators per token (digit m feeds m % A) keep 8 vpdpbusd chains in
   flight whatever the token count, so the adds' latency never limits. */
BL__FORCE_INLINE void bl__avx512_row_int8(int d, const uint8_t *row, int n, const int8_t *a, size_t stride,
                                        int T, int32_t *out)
{
    __m512i acc[8], c[5];
    int pos = 0, t, m, span = 64 * d, A = T >= 8 ? 1 : 8 / T > d ? d : 8 / T;
    BL__UNROLL
    for (t = 0; t < T * A; ++t) acc[t] = _mm512_setzero_si512();
    for (; pos + span <= n; pos += span, row += 64) {
        bl__avx512_codes(d, bl__avx512_load_block(row, 64), c);
        BL__UNROLL
        for (m = 0; m < d; ++m) {
            BL__UNROLL
            for (t = 0; t < T; ++t)
                acc[t * A + m % A] = bl__avx512_dpbusd(acc[t * A + m % A], c[m],
                    _mm512_loadu_si512((const void *)(a + (size_t)t * stride + pos + 64 * m)));
        }
    }
    if (pos < n) {
        int bytes = (n - pos + d - 1) / d;
        bl__avx512_codes(d, bl__avx512_load_block(row, bytes), c);
        BL__UNROLL
        for (m = 0; m < d; ++m) {
            BL__UNROLL
            for (t = 0; t < T; ++t)
                acc[t * A + m % A] = bl__avx512_dpbusd(acc[t * A + m % A], c[m],
                    _mm512_loadu_si512((const void *)(a + (size_t)t * stride + pos + bytes * m)));
        }
    }
    BL__UNROLL
    for (t = 0; t < T; ++t) {
        __m512i s = acc[t * A];
        BL__UNROLL
        for (m = 1; m < A; ++m) s = _mm512_add_epi32(s, acc[t * A + m]);
        out[t] = bl__avx512_hsum(s);
    }
}

/* Batch-1 BASE3: with y_m = byte * 3^m mod 256, 3 y_m = 256 code_m + y_(m+1), so
   sum code_m a = (3 dot(y_m, a) - dot(y_(m+1), a)) / 256 exactly, lane by lane and
   digit by digit: two vpdpbusd per digit and no compares. One accumulator pair per
   digit (short dependency chains), folded into the total every 64 blocks so that
   3 * acc1 (< 3 * 64 * 4 * 255 * 127 < 2^31) cannot overflow in int32. A pair's
   partial dot, (3 acc1 - acc2) / 256: */
BL__FORCE_INLINE __m512i bl__avx512_base3_dot(__m512i acc1, __m512i acc2)
{
    return _mm512_srai_epi32(_mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(acc1, acc1), acc1), acc2), 8);
}

BL__FORCE_INLINE __m512i bl__avx512_base3_flush(__m512i total, __m512i *acc1, __m512i *acc2)
{
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        total = _mm512_add_epi32(total, bl__avx512_base3_dot(acc1[m], acc2[m]));
        acc1[m] = acc2[m] = _mm512_setzero_si512();
    }
    return total;
}

BL__FORCE_INLINE void bl__avx512_base3_block(__m512i y, const int8_t *a, int step, __m512i *acc1, __m512i *acc2)
{
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        __m512i av = _mm512_loadu_si512((const void *)(a + step * m));
        acc1[m] = bl__avx512_dpbusd(acc1[m], y, av);
        y = bl__avx512_times3(y);
        acc2[m] = bl__avx512_dpbusd(acc2[m], y, av);
    }
}

static int32_t bl__avx512_row_int8_base3_gemv(const uint8_t *row, int n, const int8_t *a)
{
    __m512i total = _mm512_setzero_si512(), acc1[5], acc2[5];
    int pos = 0, m, blocks = 0;
    BL__UNROLL
    for (m = 0; m < 5; ++m) acc1[m] = acc2[m] = total;
    for (; pos + 320 <= n; pos += 320, row += 64) {
        bl__avx512_base3_block(_mm512_loadu_si512((const void *)row), a + pos, 64, acc1, acc2);
        if (++blocks == 64) {
            total = bl__avx512_base3_flush(total, acc1, acc2);
            blocks = 0;
        }
    }
    if (pos < n) {
        int bytes = (n - pos + 4) / 5;
        bl__avx512_base3_block(bl__avx512_load_block(row, bytes), a + pos, bytes, acc1, acc2);
    }
    return bl__avx512_hsum(bl__avx512_base3_flush(total, acc1, acc2));
}

/* Batch-1 2BIT: digit m masked in place (byte & 3 << 2m) feeds vpdpbusd as 4^m * code,
   so one AND per digit decodes it; lane sums are exact multiples of 4^m and shift back.
   Two accumulator sets (even and odd blocks) keep 8 chains in flight. No lane can
   overflow: at most BL_MAX_IN_FEATURES / 512 + 1 blocks per set, each adding
   < 4 * 192 * 127 per lane, stays below 2^30. */
BL__FORCE_INLINE void bl__avx512_2bit_digits(__m512i w, const __m512i av[4], __m512i *acc)
{
    int m;
    BL__UNROLL
    for (m = 0; m < 4; ++m)
        acc[m] = bl__avx512_dpbusd(acc[m], _mm512_and_si512(w, _mm512_set1_epi8((char)(3 << (2 * m)))), av[m]);
}

BL__FORCE_INLINE void bl__avx512_2bit_block(__m512i w, const int8_t *a, int step, __m512i *acc)
{
    __m512i av[4];
    int m;
    BL__UNROLL
    for (m = 0; m < 4; ++m) av[m] = _mm512_loadu_si512((const void *)(a + step * m));
    bl__avx512_2bit_digits(w, av, acc);
}

BL__FORCE_INLINE __m512i bl__avx512_2bit_sum(__m512i *acc)
{
    __m512i total = _mm512_add_epi32(acc[0], acc[4]);
    total = _mm512_add_epi32(total, _mm512_srai_epi32(_mm512_add_epi32(acc[1], acc[5]), 2));
    total = _mm512_add_epi32(total, _mm512_srai_epi32(_mm512_add_epi32(acc[2], acc[6]), 4));
    total = _mm512_add_epi32(total, _mm512_srai_epi32(_mm512_add_epi32(acc[3], acc[7]), 6));
    return total;
}

/* Batch 1, 2BIT (memory bound): one row at a time, a single stream that the hardware
   prefetchers follow, its weights loaded in 32-byte halves (bl__avx512_load_stream) and
   prefetched into L2 two pages ahead, which keeps DRAM reads in flight across the 4 KiB
   page boundaries where those prefetchers restart. Rows in groups (one activation load
   for several rows, a prefetch stream each) and 64-byte loads were slower from DRAM and
   no faster from cache: docs/performance.md, "Kernel tuning record". */
#define BL__AVX512_AHEAD_2BIT 8192 /* bytes; chosen from 4 and 8 KiB */

static int32_t bl__avx512_row_int8_2bit_gemv(const uint8_t *row, int n, const int8_t *a)
{
    __m512i total = _mm512_setzero_si512(), acc[8];
    int pos = 0, m;
    BL__UNROLL
    for (m = 0; m < 8; ++m) acc[m] = total;
    for (; pos + 512 <= n; pos += 512, row += 128) {
        BL__AVX512_PREFETCH(row, BL__AVX512_AHEAD_2BIT);
        BL__AVX512_PREFETCH(row, BL__AVX512_AHEAD_2BIT + 64);
        bl__avx512_2bit_block(bl__avx512_load_stream(row), a + pos, 64, acc);
        bl__avx512_2bit_block(bl__avx512_load_stream(row + 64), a + pos + 256, 64, acc + 4);
    }
    if (pos + 256 <= n) {
        bl__avx512_2bit_block(bl__avx512_load_stream(row), a + pos, 64, acc);
        pos += 256;
        row += 64;
    }
    if (pos < n) {
        int bytes = (n - pos + 3) / 4;
        bl__avx512_2bit_block(bl__avx512_load_block(row, bytes), a + pos, bytes, acc + 4);
    }
    return bl__avx512_hsum(bl__avx512_2bit_sum(acc));
}

/* four rows' horizontal sums together: interleave, then fold the 128-bit lanes */
BL__FORCE_INLINE void bl__avx512_hsum4(const __m512i v[4], int32_t out[4])
{
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
    __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
    s = _mm512_add_epi32(_mm512_unpacklo_epi64(s, t), _mm512_unpackhi_epi64(s, t));
    s = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, 0x4E));
    s = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, 0xB1));
    _mm512_mask_storeu_epi32(out, 0xF, s);
}

/* Batch 1, BASE3 (compute bound) and FLOAT: R consecutive rows at once, each activation
   load feeding R rows. Each row prefetches its own stream into L2 a fixed distance ahead;
   over a row group the prefetched bytes are exactly the next stretch of the contiguous
   rows. Rows that are not whole cache lines long also fetch the line that each load's
   second half falls in. BASE3 takes four rows while they span at most 64 KiB, else pairs,
   whose three groups of prefetch distance stay within L2. The constants' measurements:
   docs/performance.md, "Kernel tuning record". */
#define BL__AVX512_AHEAD_BASE3 16384 /* bytes; chosen from 8, 16 and 32 KiB */
#define BL__AVX512_AHEAD_FLOAT 16384 /* bytes; at least 3 row groups (2752-byte rows: 16.5 KiB) */
#define BL__AVX512_SPAN_BASE3 65536  /* bytes of four BASE3 rows that still go four at a time */

/* a whole number of R-row groups, at least `bytes` and at least three groups */
static inline size_t bl__avx512_ahead(int R, size_t rb, size_t bytes)
{
    size_t group = (size_t)R * rb, groups = (bytes + group - 1) / group;
    return group * (groups < 3 ? 3 : groups);
}

/* split: the rows are not whole cache lines long, so loads straddle two lines */
BL__FORCE_INLINE void bl__avx512_prefetch_row(const uint8_t *p, int split, size_t ahead)
{
    BL__AVX512_PREFETCH(p, ahead);
    if (split) BL__AVX512_PREFETCH(p, ahead + 63);
}

/* One row's block: per digit m, acc1 += y . a_m, y = 3y, acc2 += y . a_m. Written as one asm
   block for GCC and clang, which otherwise reorder the same instructions so that the
   vpdpbusd chain waits on the byte adds; the bound is one vpdpbusd a cycle. */
#if defined(__GNUC__) || defined(__clang__)
#  define BL__AVX512_DIGIT(k) "vpdpbusd {%[a" #k "], %[y], %[p]|%[p], %[y], %[a" #k "]}\n\t" \
                            "vpaddb {%[y], %[y], %[t]|%[t], %[y], %[y]}\n\t"              \
                            "vpaddb {%[y], %[t], %[y]|%[y], %[t], %[y]}\n\t"              \
                            "vpdpbusd {%[a" #k "], %[y], %[q]|%[q], %[y], %[a" #k "]}\n\t"
BL__FORCE_INLINE void bl__avx512_base3_digits(__m512i y, const __m512i av[5], __m512i *acc1, __m512i *acc2)
{
    __m512i p = *acc1, q = *acc2, t = y; /* t: scratch, read-write so nvcc sees it used */
    __asm__(BL__AVX512_DIGIT(0) BL__AVX512_DIGIT(1) BL__AVX512_DIGIT(2) BL__AVX512_DIGIT(3) BL__AVX512_DIGIT(4)
            : [p] "+v"(p), [q] "+v"(q), [y] "+v"(y), [t] "+v"(t)
            : [a0] "v"(av[0]), [a1] "v"(av[1]), [a2] "v"(av[2]), [a3] "v"(av[3]), [a4] "v"(av[4]));
    *acc1 = p;
    *acc2 = q;
}
#  undef BL__AVX512_DIGIT
#else
BL__FORCE_INLINE void bl__avx512_base3_digits(__m512i y, const __m512i av[5], __m512i *acc1, __m512i *acc2)
{
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        *acc1 = bl__avx512_dpbusd(*acc1, y, av[m]);
        y = bl__avx512_times3(y);
        *acc2 = bl__avx512_dpbusd(*acc2, y, av[m]);
    }
}
#endif

/* One digit of four independent streams (rows, or rows and blocks): stream s adds
   y_s . lo (s < 2) or y_s . hi to acc1[s], triples y_s, and adds the new y_s the same way to
   acc2[s]. The streams' instructions are interleaved in one asm block, so each vpdpbusd
   finds its inputs ready and the loop approaches its bound, one vpdpbusd a cycle. */
#if defined(__GNUC__) || defined(__clang__)
#  define BL__AVX512_DP(a, y, acc) "vpdpbusd {%[" a "], %[" y "], %[" acc "]|%[" acc "], %[" y "], %[" a "]}\n\t"
#  define BL__AVX512_TWICE(y, t) "vpaddb {%[" y "], %[" y "], %%" t "|" t ", %[" y "], %[" y "]}\n\t"
#  define BL__AVX512_PLUS(t, y) "vpaddb {%[" y "], %%" t ", %[" y "]|%[" y "], " t ", %[" y "]}\n\t"
/* zmm28-31 are the scratch registers: as write-only operands nvcc warns they are never
   used, and as read-write ones they pass the 30 operands asm allows */
BL__FORCE_INLINE void bl__avx512_base3_digit4(__m512i y[4], __m512i lo, __m512i hi, __m512i acc1[4], __m512i acc2[4])
{
    __asm__(BL__AVX512_DP("lo", "y0", "p0") BL__AVX512_DP("lo", "y1", "p1") BL__AVX512_DP("hi", "y2", "p2") BL__AVX512_DP("hi", "y3", "p3")
            BL__AVX512_TWICE("y0", "zmm28") BL__AVX512_TWICE("y1", "zmm29") BL__AVX512_TWICE("y2", "zmm30") BL__AVX512_TWICE("y3", "zmm31")
            BL__AVX512_PLUS("zmm28", "y0") BL__AVX512_PLUS("zmm29", "y1") BL__AVX512_PLUS("zmm30", "y2") BL__AVX512_PLUS("zmm31", "y3")
            BL__AVX512_DP("lo", "y0", "q0") BL__AVX512_DP("lo", "y1", "q1") BL__AVX512_DP("hi", "y2", "q2") BL__AVX512_DP("hi", "y3", "q3")
            : [p0] "+v"(acc1[0]), [p1] "+v"(acc1[1]), [p2] "+v"(acc1[2]), [p3] "+v"(acc1[3]),
              [q0] "+v"(acc2[0]), [q1] "+v"(acc2[1]), [q2] "+v"(acc2[2]), [q3] "+v"(acc2[3]),
              [y0] "+v"(y[0]), [y1] "+v"(y[1]), [y2] "+v"(y[2]), [y3] "+v"(y[3])
            : [lo] "v"(lo), [hi] "v"(hi)
            : "xmm28", "xmm29", "xmm30", "xmm31");
}
#  undef BL__AVX512_DP
#  undef BL__AVX512_TWICE
#  undef BL__AVX512_PLUS
#else
BL__FORCE_INLINE void bl__avx512_base3_digit4(__m512i y[4], __m512i lo, __m512i hi, __m512i acc1[4], __m512i acc2[4])
{
    int s;
    BL__UNROLL
    for (s = 0; s < 4; ++s) {
        __m512i a = s < 2 ? lo : hi;
        acc1[s] = bl__avx512_dpbusd(acc1[s], y[s], a);
        y[s] = bl__avx512_times3(y[s]);
        acc2[s] = bl__avx512_dpbusd(acc2[s], y[s], a);
    }
}
#endif

BL__FORCE_INLINE void bl__avx512_base3_fold4(__m512i *acc1, __m512i *acc2, __m512i *total)
{
    int r;
    BL__UNROLL
    for (r = 0; r < 4; ++r) {
        total[r] = _mm512_add_epi32(total[r], bl__avx512_base3_dot(acc1[r], acc2[r]));
        acc1[r] = acc2[r] = _mm512_setzero_si512();
    }
}

/* BASE3 (the identity of the one-row kernel above): all five digits share one
   accumulator pair per stream. Lane arithmetic wraps mod 2^32, so only the true value of
   3 acc1 - acc2 = 256 * (partial dot) must fit in int32: < 256 * 5 * 4 * 2 * 128 per
   block per lane, below 2^31 for up to 1638 blocks; the pairs are folded before each
   further run of 1024 whole blocks and once at the end (the first run follows the tail
   block: at most 1025 blocks between folds). Whole blocks go as four streams: four rows a block, or two rows
   two blocks at a time (stream s: row s % 2, block s / 2), so each vpdpbusd of one digit
   finds its inputs ready. */
BL__FORCE_INLINE void bl__avx512_base3_step(int R, const uint8_t *row, size_t rb, const int8_t *a, size_t ahead,
                                          size_t second, __m512i acc1[4], __m512i acc2[4])
{
    __m512i lo[5], hi[5], y[4];
    int m, s;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        lo[m] = _mm512_loadu_si512((const void *)(a + 64 * m));
        hi[m] = R == 4 ? lo[m] : _mm512_loadu_si512((const void *)(a + 320 + 64 * m));
    }
    BL__UNROLL
    for (s = 0; s < 4; ++s) {
        const uint8_t *p = row + (R == 4 ? (size_t)s * rb : (size_t)(s % 2) * rb + (size_t)(64 * (s / 2)));
        BL__AVX512_PREFETCH(p, ahead);
        BL__AVX512_PREFETCH(p, second);
        y[s] = _mm512_loadu_si512((const void *)p);
    }
    BL__UNROLL
    for (m = 0; m < 5; ++m) bl__avx512_base3_digit4(y, lo[m], hi[m], acc1, acc2);
}

BL__FORCE_INLINE void bl__avx512_base3_rows(int R, const uint8_t *row, size_t rb, int n, const int8_t *a, int32_t out[4])
{
    __m512i acc1[4], acc2[4], total[4], av[5];
    /* rows that straddle cache lines prefetch the next line too; else the same line twice */
    size_t ahead = bl__avx512_ahead(R, rb, BL__AVX512_AHEAD_BASE3), second = ahead + (rb & 63 ? 63 : 0);
    int full = n / 320, b = 0, end, m, r, per = 4 / R;
    BL__UNROLL
    for (r = 0; r < 4; ++r) acc1[r] = acc2[r] = total[r] = _mm512_setzero_si512();
    /* the next four rows' first loads (tail block, first block) into L1 now: they are the
       first thing that group waits for */
    if (R == 4) {
        BL__UNROLL
        for (r = 4; r < 8; ++r) {
            BL__AVX512_PREFETCH_L1(row, (size_t)r * rb + 64 * (size_t)full);
            BL__AVX512_PREFETCH_L1(row, (size_t)r * rb);
        }
    }
    if (n > 320 * full) { /* the tail block first: its latency hides under the whole blocks */
        const uint8_t *tail = row + 64 * full;
        int bytes = (n - 320 * full + 4) / 5;
        BL__UNROLL
        for (m = 0; m < 5; ++m) av[m] = _mm512_loadu_si512((const void *)(a + 320 * full + bytes * m));
        if (R == 4) {
            __m512i y[4];
            BL__UNROLL
            for (r = 0; r < 4; ++r) y[r] = bl__avx512_load_block(tail + (size_t)r * rb, bytes);
            BL__UNROLL
            for (m = 0; m < 5; ++m) bl__avx512_base3_digit4(y, av[m], av[m], acc1, acc2);
        } else {
            BL__UNROLL
            for (r = 0; r < 2; ++r) bl__avx512_base3_digits(bl__avx512_load_block(tail + (size_t)r * rb, bytes), av, &acc1[r], &acc2[r]);
        }
    }
    while (b < full) {
        if (b) bl__avx512_base3_fold4(acc1, acc2, total);
        end = full - b > 1024 ? b + 1024 : full;
        for (; b + per <= end; b += per, row += 64 * per, a += 320 * per)
            bl__avx512_base3_step(R, row, rb, a, ahead, second, acc1, acc2);
        if (b < end) { /* two rows, one block left */
            BL__UNROLL
            for (m = 0; m < 5; ++m) av[m] = _mm512_loadu_si512((const void *)(a + 64 * m));
            BL__UNROLL
            for (r = 0; r < 2; ++r)
                bl__avx512_base3_digits(_mm512_loadu_si512((const void *)(row + (size_t)r * rb)), av, &acc1[r], &acc2[r]);
            ++b, row += 64, a += 320;
        }
    }
    if (full <= 1024) { /* one run, nothing folded yet: the totals are still zero */
        BL__UNROLL
        for (r = 0; r < 4; ++r) total[r] = bl__avx512_base3_dot(acc1[r], acc2[r]);
    } else {
        bl__avx512_base3_fold4(acc1, acc2, total);
    }
    if (R == 2) {
        total[0] = _mm512_add_epi32(total[0], total[2]);
        total[1] = _mm512_add_epi32(total[1], total[3]);
    }
    bl__avx512_hsum4(total, out);
}

/* the code dots of four consecutive rows with one token: 2BIT one row at a time, BASE3
   as R-row groups */
BL__FORCE_INLINE void bl__avx512_rows4_int8(int d, int R, const uint8_t *row, size_t rb, int n, const int8_t *a,
                                          int32_t out[4])
{
    int32_t pair[4]; /* a two-row kernel's sums: the first two of its four lanes */
    int h;
    if (d == 4)
        for (h = 0; h < 4; ++h) out[h] = bl__avx512_row_int8_2bit_gemv(row + (size_t)h * rb, n, a);
    else if (R == 4)
        bl__avx512_base3_rows(4, row, rb, n, a, out);
    else
        for (h = 0; h < 4; h += 2, row += 2 * rb) {
            bl__avx512_base3_rows(2, row, rb, n, a, pair);
            out[h] = pair[0];
            out[h + 1] = pair[1];
        }
}

/* Batch 1 BASE3 turns the dots of up to 16 four-row groups into outputs together, so the
   conversion's chain of double operations does not hold up the next group's decode.
   2BIT (memory-bound, the decode is short) converts per group, as do the AVX2 kernels. */
#define BL__AVX512_GROUPS 16

/* Batch 1: all rows as one tile (tiles exist for token reuse, and each tile's last rows,
   out of a group, run slower), in four-row groups (bl__avx512_rows4_int8) */
BL__FORCE_INLINE void bl__avx512_gemv_int8(int d, const bl_linear *L, const bl__input *in, float *y, int r0, int r1)
{
    size_t plane = (size_t)L->out_features * L->row_bytes;
    const int8_t *a = (const int8_t *)in->data;
    int R = 4 * L->row_bytes <= BL__AVX512_SPAN_BASE3 ? 4 : 2; /* BASE3 rows per group */
    int r, j;
    for (r = r0; r < r1; ++r) {
        int32_t dot[BL_MAX_K];
        if (r1 - r >= 4) {
            int32_t dots[BL__AVX512_GROUPS][BL_MAX_K][4];
            int g, groups;
            for (groups = 0; groups < (d == 5 ? BL__AVX512_GROUPS : 1) && r1 - r - 4 * groups >= 4; ++groups)
                for (j = 0; j < L->k; ++j)
                    bl__avx512_rows4_int8(d, R, L->packed + (size_t)j * plane + (size_t)(r + 4 * groups) * L->row_bytes,
                                          L->row_bytes, L->in_features, a, dots[groups][j]);
            for (g = 0; g < groups; ++g) bl__x86_store_rows4_int8(L, in, dots[g], 0, r + 4 * g, y);
            r += 4 * groups - 1;
            continue;
        }
        for (j = 0; j < L->k; ++j) {
            const uint8_t *row = L->packed + (size_t)j * plane + (size_t)r * L->row_bytes;
            dot[j] = d == 5 ? bl__avx512_row_int8_base3_gemv(row, L->in_features, a)
                            : bl__avx512_row_int8_2bit_gemv(row, L->in_features, a);
        }
        bl__simd_store_int8(L, in, dot, 1, 0, 1, r, y);
    }
}

/* several tokens: the shared walk over bl__avx512_row_int8 */
BL__SIMD_WALK_INT8(avx512, BL__AVX512_TOKENS)

static void bl__gemm_int8_avx512(const bl_linear *L, const bl__input *in, int batch, float *y, int r0, int r1)
{
    if (batch > 1) bl__avx512_walk_int8(L, in, batch, y, r0, r1);
    else if (L->format == BL_FORMAT_BASE3) bl__avx512_gemv_int8(5, L, in, y, r0, r1);
    else bl__avx512_gemv_int8(4, L, in, y, r0, r1);
}

/* FLOAT activations. The trits become floats t in {-1, 0, +1} by vpermps lookups on the
   widened packed bytes (the index is the low four bits of each dword) and meet the
   activations in FMAs. t * x is exact, so each FMA is exactly the addition or
   subtraction of x (or nothing) that the FLOAT path specifies; only the summation order
   differs from the scalar reference. Batch 1 decodes in registers, four rows sharing each
   activation load. Larger batches decode a few rows' column chunk once into an L1 buffer
   (the trits times the row's scale) and run a register-blocked FMA kernel over it:
   4 rows x 6 tokens of accumulators, 10 loads per 24 FMAs, as an sgemm kernel does. */
#define BL__AVX512_FROWS 4  /* rows per decoded group */
#define BL__AVX512_FTOK 6   /* tokens per FMA kernel pass */

/* t of code bits 0..1 (lo) and 2..3 (hi) of an index; code 3 never occurs */
BL__FORCE_INLINE __m512 bl__avx512_ftable_lo(void)
{
    return _mm512_setr_ps(-1, 0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2, -1, 0, 1, 2);
}
BL__FORCE_INLINE __m512 bl__avx512_ftable_hi(void)
{
    return _mm512_setr_ps(-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2);
}

/* the weights of 16 consecutive packed bytes, zero-extended into the dwords of e: w[m]
   lane l is digit m of byte l, looked up in lo / hi (t, or t times a scale). BASE3 keeps
   y << 8 (y = byte * 3^m mod 256) in the low word of each dword: the high half of
   y * 3 << 8 is the code (3y) >> 8 (bl__base3_code), its low half the next y << 8. */
BL__FORCE_INLINE void bl__avx512_ftrits(int d, __m512i e, __m512 lo, __m512 hi, __m512 *w)
{
    if (d == 4) {
        __m512i f = _mm512_srli_epi32(e, 4);
        w[0] = _mm512_permutexvar_ps(e, lo);
        w[1] = _mm512_permutexvar_ps(e, hi);
        w[2] = _mm512_permutexvar_ps(f, lo);
        w[3] = _mm512_permutexvar_ps(f, hi);
    } else {
        const __m512i three = _mm512_set1_epi16(3);
        int m;
        e = _mm512_slli_epi32(e, 8);
        BL__UNROLL
        for (m = 0; m < 5; ++m) {
            w[m] = _mm512_permutexvar_ps(_mm512_mulhi_epu16(e, three), lo);
            e = _mm512_mullo_epi16(e, three);
        }
    }
}

BL__FORCE_INLINE __m512i bl__avx512_fbytes(const uint8_t *p)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Batch 1, BASE3, one whole block's quarters q (bytes p[0..15]) and q + 2 (p[32..47])
   against x (the block's activations from quarter q on): the low word of each dword
   holds byte << 8 of the first, the high word that of the second. Times 3^m (vpmullw)
   that is y << 8 for digit m (y = byte * 3^m mod 256), whose code is its high half times
   3 (vpmulhuw, bl__base3_code), so each multiply serves both quarters, and every digit
   comes straight from the bytes: no chain of multiplies from digit to digit. The
   multiplier is hidden from the compiler (BL__KEEP), which would otherwise turn the
   vpmullw into shifts and adds: more operations, not fewer. */
BL__FORCE_INLINE void bl__avx512_base3_pair(const uint8_t *p, const float *x, __m512 lo, __m512 *acc)
{
    static const short pow3[5] = { 1, 3, 9, 27, 81 };
    const __m512i e = _mm512_or_si512(_mm512_slli_epi32(bl__avx512_fbytes(p), 8), _mm512_slli_epi32(bl__avx512_fbytes(p + 32), 24));
    int m;
    BL__UNROLL
    for (m = 0; m < 5; ++m) {
        __m512i k = _mm512_set1_epi16(pow3[m]), y, c;
        BL__KEEP(k);
        y = m ? _mm512_mullo_epi16(e, k) : e;
        c = _mm512_mulhi_epu16(y, _mm512_set1_epi16(3));
        acc[0] = _mm512_fmadd_ps(_mm512_permutexvar_ps(c, lo), _mm512_loadu_ps(x + 64 * m), acc[0]);
        acc[1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(c, 16), lo), _mm512_loadu_ps(x + 64 * m + 32),
                                 acc[1]);
    }
}

/* Batch 1: dots of R rows (row + s * rb) with x. Accumulators alternate by digit parity:
   2R FMA chains in flight. The tail block is copied (zero-padded) so nothing past the
   row is read; its activation lanes past `bytes` load as 0. */
BL__FORCE_INLINE void bl__avx512_rows_float(int d, int R, int split, const uint8_t *row, size_t rb, int n,
                                          const float *x, size_t ahead, float *out)
{
    const __m512 lo = bl__avx512_ftable_lo(), hi = bl__avx512_ftable_hi();
    __m512 acc[2 * BL__AVX512_FROWS], xv[5], w[5];
    int pos = 0, s, m, q, span = 64 * d;
    BL__UNROLL
    for (s = 0; s < 2 * R; ++s) acc[s] = _mm512_setzero_ps();
    for (; pos + span <= n; pos += span, row += 64) {
        BL__UNROLL
        for (s = 0; s < R; ++s) bl__avx512_prefetch_row(row + (size_t)s * rb, split, ahead);
        if (d == 5) { /* BASE3: quarters q and q + 2 share each multiply (bl__avx512_base3_pair) */
            BL__UNROLL
            for (q = 0; q < 2; ++q) {
                BL__UNROLL
                for (s = 0; s < R; ++s)
                    bl__avx512_base3_pair(row + (size_t)s * rb + 16 * q, x + pos + 16 * q, lo, &acc[2 * s]);
            }
            continue;
        }
        BL__UNROLL
        for (q = 0; q < 4; ++q) {
            BL__UNROLL
            for (m = 0; m < d; ++m) xv[m] = _mm512_loadu_ps(x + pos + 64 * m + 16 * q);
            BL__UNROLL
            for (s = 0; s < R; ++s) {
                bl__avx512_ftrits(d, bl__avx512_fbytes(row + (size_t)s * rb + 16 * q), lo, hi, w);
                BL__UNROLL
                for (m = 0; m < d; ++m) acc[2 * s + (m & 1)] = _mm512_fmadd_ps(w[m], xv[m], acc[2 * s + (m & 1)]);
            }
        }
    }
    if (pos < n) {
        int bytes = (n - pos + d - 1) / d;
        __mmask64 valid = bl__avx512_valid(bytes);
        uint8_t tail[BL__AVX512_FROWS][64];
        BL__UNROLL
        for (s = 0; s < R; ++s) _mm512_storeu_si512((void *)tail[s], bl__avx512_load_block(row + (size_t)s * rb, bytes));
        for (q = 0; 16 * q < bytes; ++q) {
            __mmask16 v16 = (__mmask16)(valid >> (16 * q));
            BL__UNROLL
            for (m = 0; m < d; ++m) xv[m] = _mm512_maskz_loadu_ps(v16, x + pos + bytes * m + 16 * q);
            BL__UNROLL
            for (s = 0; s < R; ++s) {
                bl__avx512_ftrits(d, bl__avx512_fbytes(tail[s] + 16 * q), lo, hi, w);
                BL__UNROLL
                for (m = 0; m < d; ++m) acc[2 * s + (m & 1)] = _mm512_fmadd_ps(w[m], xv[m], acc[2 * s + (m & 1)]);
            }
        }
    }
    BL__UNROLL
    for (s = 0; s < R; ++s) out[s] = bl__avx512_hsum_ps(_mm512_add_ps(acc[2 * s], acc[2 * s + 1]));
}

BL__X86_WALK_GEMV_FLOAT(avx512, BL__AVX512_FROWS, bl__avx512_ahead(BL__AVX512_FROWS, rb, BL__AVX512_AHEAD_FLOAT))

/* Batched: chunk `blocks` blocks from block b0 of R rows (row + s * rb, scales sc[s])
   into buf[s][..] as floats s_r * t, zero up to a multiple of 16. Returns the chunk's
   floats per row. */
BL__FORCE_INLINE int bl__avx512_fdecode(int d, int R, const uint8_t *row, size_t rb, int n, int b0, int blocks,
                                      const float *sc, float *buf, int ld)
{
    int span = 64 * d, pos = b0 * span, end = pos + blocks * span, s, q, m, len;
    __m512 w[5];
    if (end > n) end = n;
    for (s = 0; s < R; ++s) {
        const __m512 scale = _mm512_set1_ps(sc[s]);
        const __m512 lo = _mm512_mul_ps(bl__avx512_ftable_lo(), scale), hi = _mm512_mul_ps(bl__avx512_ftable_hi(), scale);
        const uint8_t *p = row + (size_t)s * rb + (size_t)b0 * 64;
        float *o = buf + (size_t)s * (size_t)ld;
        int at = pos;
        for (; at + span <= end; at += span, p += 64, o += span) {
            BL__UNROLL
            for (q = 0; q < 4; ++q) {
                bl__avx512_ftrits(d, bl__avx512_fbytes(p + 16 * q), lo, hi, w);
                BL__UNROLL
                for (m = 0; m < d; ++m) _mm512_storeu_ps(o + 64 * m + 16 * q, w[m]);
            }
        }
        if (at < end) { /* the row's tail block: digit stride `bytes`, zeros up to 16 */
            int bytes = (n - at + d - 1) / d, cover = bytes * d;
            __mmask64 valid = bl__avx512_valid(bytes);
            uint8_t tail[64];
            _mm512_storeu_si512((void *)tail, bl__avx512_load_block(p, bytes));
            for (q = 0; 16 * q < bytes; ++q) {
                __mmask16 v16 = (__mmask16)(valid >> (16 * q));
                bl__avx512_ftrits(d, bl__avx512_fbytes(tail + 16 * q), lo, hi, w);
                BL__UNROLL
                for (m = 0; m < d; ++m) _mm512_mask_storeu_ps(o + bytes * m + 16 * q, v16, w[m]);
            }
            for (; cover % 16; ++cover) o[cover] = 0.0f;
        }
    }
    len = end - pos;
    return (len + 15) / 16 * 16;
}

/* y[t * ldy + s] += sum_i w[s][i] x_t[i] for R rows and T tokens over len floats
   (a multiple of 16): R x T accumulators, each step R + T loads for R * T FMAs */
BL__FORCE_INLINE void bl__avx512_fkernel(int R, int T, const float *w, int ld, const float *x, size_t stride, int len,
                                       float *y, size_t ldy)
{
    __m512 acc[BL__AVX512_FROWS * BL__AVX512_FTOK], wv[BL__AVX512_FROWS];
    int i, s, t;
    BL__UNROLL
    for (s = 0; s < R * T; ++s) acc[s] = _mm512_setzero_ps();
    for (i = 0; i < len; i += 16) {
        BL__UNROLL
        for (s = 0; s < R; ++s) wv[s] = _mm512_loadu_ps(w + (size_t)s * (size_t)ld + i);
        BL__UNROLL
        for (t = 0; t < T; ++t) {
            __m512 xv = _mm512_loadu_ps(x + (size_t)t * stride + i);
            BL__UNROLL
            for (s = 0; s < R; ++s) acc[s * T + t] = _mm512_fmadd_ps(wv[s], xv, acc[s * T + t]);
        }
    }
    BL__UNROLL
    for (t = 0; t < T; ++t) {
        float *out = y + (size_t)t * ldy;
        if (R == 4) { /* four rows' sums together: interleave, then fold the 128-bit lanes */
            const __mmask16 all = 0xFFFF;
            __m512 a = _mm512_add_ps(_mm512_unpacklo_ps(acc[t], acc[T + t]), _mm512_unpackhi_ps(acc[t], acc[T + t]));
            __m512 b = _mm512_add_ps(_mm512_unpacklo_ps(acc[2 * T + t], acc[3 * T + t]),
                                     _mm512_unpackhi_ps(acc[2 * T + t], acc[3 * T + t]));
            __m512 c = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))),
                                     _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))));
            c = _mm512_add_ps(c, _mm512_maskz_shuffle_f32x4(all, c, c, 0x4E));
            c = _mm512_add_ps(c, _mm512_maskz_shuffle_f32x4(all, c, c, 0xB1));
            _mm512_mask_storeu_ps(out, 0xF, _mm512_add_ps(c, _mm512_maskz_loadu_ps(0xF, out)));
        } else {
            BL__UNROLL
            for (s = 0; s < R; ++s) out[s] += bl__avx512_hsum_ps(acc[s * T + t]);
        }
    }
}

/* the kernel over T tokens (at most BL__AVX512_FTOK) in passes of 6, 4, 2 and 1 */
BL__FORCE_INLINE void bl__avx512_fkernel_tokens(int R, const float *w, int ld, const float *x, size_t stride, int len,
                                              int T, float *y, size_t ldy)
{
    int t = 0;
    for (; T - t >= 6; t += 6) bl__avx512_fkernel(R, 6, w, ld, x + (size_t)t * stride, stride, len, y + (size_t)t * ldy, ldy);
    if (T - t >= 4) bl__avx512_fkernel(R, 4, w, ld, x + (size_t)t * stride, stride, len, y + (size_t)t * ldy, ldy), t += 4;
    if (T - t >= 2) bl__avx512_fkernel(R, 2, w, ld, x + (size_t)t * stride, stride, len, y + (size_t)t * ldy, ldy), t += 2;
    if (T - t >= 1) bl__avx512_fkernel(R, 1, w, ld, x + (size_t)t * stride, stride, len, y + (size_t)t * ldy, ldy);
}

/* Batched pass (BL__X86_WALK_GEMM_FLOAT): component j's `rows` (at most 4) rows from r
   over `blocks` blocks from c, decoded once into an L1 buffer, then every token over it:
   four rows together, fewer one at a time. */
BL__FORCE_INLINE void bl__avx512_fpass(int d, const bl_linear *L, int j, int r, int rows, int c, int blocks,
                                       const float *x, size_t stride, int T, float *y, size_t ldy)
{
    float buf[BL__AVX512_FROWS * 1024], sc[BL__AVX512_FROWS];
    size_t rb = L->row_bytes;
    const uint8_t *row = L->packed + (size_t)j * (size_t)L->out_features * rb + (size_t)r * rb;
    int ld = 1024 / (64 * d) * (64 * d), len, s;
    for (s = 0; s < rows; ++s) sc[s] = L->scales[(size_t)j * ldy + (size_t)(r + s)];
    if (rows == BL__AVX512_FROWS) {
        len = bl__avx512_fdecode(d, BL__AVX512_FROWS, row, rb, L->in_features, c, blocks, sc, buf, ld);
        bl__avx512_fkernel_tokens(BL__AVX512_FROWS, buf, ld, x, stride, len, T, y, ldy);
        return;
    }
    for (s = 0; s < rows; ++s) {
        len = bl__avx512_fdecode(d, 1, row + (size_t)s * rb, rb, L->in_features, c, blocks, sc + s, buf, ld);
        bl__avx512_fkernel_tokens(1, buf, ld, x, stride, len, T, y + s, ldy);
    }
}

/* two tokens: the batch-1 kernel twice beats a decoded pass; chunks of 1 KiB floats */
BL__X86_WALK_GEMM_FLOAT(avx512, 2, BL__AVX512_FROWS, 1024 / (64 * d))

/* Activation quantization, 64 floats a step, then 16 with lanes past n loaded as 0 (code
   0). cvtps2dq rounds to nearest even (the default mode), as bl__round_even does. */
static uint32_t bl__abs_max_avx512(const float *x, size_t n)
{
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i m[4];
    size_t i = 0;
    int j;
    BL__UNROLL
    for (j = 0; j < 4; ++j) m[j] = _mm512_setzero_si512();
    for (; i + 64 <= n; i += 64) {
        BL__UNROLL
        for (j = 0; j < 4; ++j)
            m[j] = _mm512_maskz_max_epu32(0xFFFF, m[j], _mm512_and_si512(_mm512_loadu_si512(x + i + 16 * j), magnitude));
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        m[0] = _mm512_maskz_max_epu32(0xFFFF, m[0], _mm512_and_si512(_mm512_maskz_loadu_epi32(k, x + i), magnitude));
    }
    m[0] = _mm512_maskz_max_epu32(0xFFFF, m[0], m[1]);
    m[2] = _mm512_maskz_max_epu32(0xFFFF, m[2], m[3]);
    return bl__avx512_hmax_epu32(_mm512_maskz_max_epu32(0xFFFF, m[0], m[2]));
}

BL__FORCE_INLINE __m512i bl__avx512_act_codes(__m512 x, __m512 inv, __m512 lo, __m512 hi)
{
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, inv), lo), hi));
}

static int32_t bl__quantize_avx512(const float *x, size_t n, float inverse, int qmax, int8_t *q)
{
    const __m512 inv = _mm512_set1_ps(inverse), hi = _mm512_set1_ps((float)qmax), lo = _mm512_set1_ps(-(float)qmax);
    /* the packs work within 128-bit lanes; this puts the 64 codes back in order */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i sum = _mm512_setzero_si512(), c[4], p;
    size_t i = 0;
    int j;
    for (; i + 64 <= n; i += 64) {
        BL__UNROLL
        for (j = 0; j < 4; ++j) {
            c[j] = bl__avx512_act_codes(_mm512_loadu_ps(x + i + 16 * j), inv, lo, hi);
            sum = _mm512_add_epi32(sum, c[j]);
        }
        p = _mm512_packs_epi16(_mm512_packs_epi32(c[0], c[1]), _mm512_packs_epi32(c[2], c[3]));
        _mm512_storeu_si512((void *)(q + i), _mm512_permutexvar_epi32(order, p));
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        c[0] = bl__avx512_act_codes(_mm512_maskz_loadu_ps(k, x + i), inv, lo, hi);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, k, c[0]);
        sum = _mm512_add_epi32(sum, c[0]);
    }
    return bl__avx512_hsum(sum);
}

static const bl__backend_kernels bl__kernels_avx512 = { bl__gemm_int8_avx512, bl__gemm_float_avx512,
                                                        bl__abs_max_avx512, bl__quantize_avx512 };

BL__TARGET_END
#endif /* BL__HAVE_AVX512 */
