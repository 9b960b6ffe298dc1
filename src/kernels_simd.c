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
#endif
