/* ==== bitlinear: activation quantization (INT8 path) ===================== */
/* Per token absmax quantization, BitNet's W1.58A8: the rules are bl__act_inverse,
   bl__act_scale and bl__act_code (layout.h, shared with the CUDA companion) and are
   spelled out in "INT8 ACTIVATIONS" at the top of the header. The per-element work runs
   on the active backend's abs_max and quantize kernels, which all give the scalar bits. */

/* One token into int8 codes by the active backend (the same bits on every one), its scale
   into *scale and the codes' sum into *sum; a token with an infinite or NaN value is
   refused with nothing written (its abs_max says so, one pass). */
static bl_status bl__quantize_token(const float *x, size_t n, int qmax, int8_t *q, float *scale, int32_t *sum)
{
    const bl__backend_kernels *kern = bl__active_kernels();
    uint32_t bits = kern->abs_max(x, n);
    float amax = bl__bits_float(bits);
    if (bits >= 0x7F800000u) return BL_ERR_NONFINITE;
    *scale = bl__act_scale(amax, qmax);
    *sum = kern->quantize(x, n, bl__act_inverse(amax, qmax), qmax, q);
    return BL_OK;
}

/* all of x finite, in tokens of n (by the active backend's abs_max) */
static int bl__tokens_finite(const float *x, size_t n, int batch)
{
    const bl__backend_kernels *kern = bl__active_kernels();
    int b;
    for (b = 0; b < batch; ++b)
        if (kern->abs_max(x + (size_t)b * n, n) >= 0x7F800000u) return 0;
    return 1;
}

BITLINEAR_DEF bl_status bl_quantize_activations(const float *x, int n, int bits, int8_t *q, float *scale)
{
    int32_t sum;
    if (!x || !q || !scale || n <= 0 || bits < 2 || bits > 8) return BL_ERR_INVALID;
    return bl__quantize_token(x, (size_t)n, (1 << (bits - 1)) - 1, q, scale, &sum);
}
