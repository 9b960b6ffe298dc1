/* ==== bitlinear: layout and arithmetic rules shared by CPU and GPU ======= */
/* These small inline functions are the one definition of the packed formats and of
   the INT8 rounding rules. The CUDA companion calls the very same code on the device. */

#define BL__BLOCK_BYTES 64   /* a full block is 64 bytes: 256 (2BIT) or 320 (BASE3) trits */

/* trits per byte: 4 for BL_FORMAT_2BIT, 5 for BL_FORMAT_BASE3 */
static inline BITLINEAR_HD int bl__digits(int format) { return format == BL_FORMAT_BASE3 ? 5 : 4; }

/* Bytes of the block that starts with `left` trits still to place: a full 64-byte block,
   or the tail's ceil(left / D). */
static inline BITLINEAR_HD int bl__block_width(int format, int left)
{
    int d = bl__digits(format);
    return left >= BL__BLOCK_BYTES * d ? BL__BLOCK_BYTES : (left + d - 1) / d;
}

/* Where trit i of a row of n lives: the byte (from the row's start) and the digit within it.
   Full blocks put trit j + 64*m of the block in byte j, digit m; the tail of r trits uses
   B = ceil(r/D) bytes the same way with stride B, so a row takes ceil(n/D) bytes. */
static inline BITLINEAR_HD void bl__trit_position(int format, int n, int i, int *byte, int *digit)
{
    int d = bl__digits(format), span = BL__BLOCK_BYTES * d;
    int full = n / span, block = i / span;
    if (block < full) {
        int off = i - block * span;
        *byte = block * BL__BLOCK_BYTES + off % BL__BLOCK_BYTES;
        *digit = off / BL__BLOCK_BYTES;
    } else {
        int r = n - full * span, b = (r + d - 1) / d, off = i - full * span;
        *byte = full * BL__BLOCK_BYTES + off % b;
        *digit = off / b;
    }
}

/* BASE3 byte of five codes c0..c4 (code = trit + 1, c0 most significant): the value
   v = sum c_m 3^(4-m) scaled to ceil(v * 256 / 243), so digits come out by multiplication. */
static inline BITLINEAR_HD uint8_t bl__base3_encode(const uint8_t codes[5])
{
    unsigned v = 0;
    int m;
    for (m = 0; m < 5; ++m) v = v * 3u + codes[m];
    return BL__CAST(uint8_t, (v * 256u + 242u) / 243u);
}

/* Code (0, 1 or 2) of digit m of a BASE3 byte: multiply by 3^m modulo 256 drops the
   leading digits, then the top digit is (y * 3) >> 8. No division, no table. */
static inline BITLINEAR_HD unsigned bl__base3_code(uint8_t byte, int m)
{
    unsigned pow3 = BL__CAST(unsigned, (0x511B090301ull >> (8 * m)) & 0xFFu); /* 1, 3, 9, 27, 81 */
    unsigned y = BL__CAST(uint8_t, byte * pow3);
    return (y * 3u) >> 8;
}

static inline BITLINEAR_HD unsigned bl__2bit_code(uint8_t byte, int m) { return (byte >> (2 * m)) & 3u; }

/* Round to nearest, ties to even, for |v| < 2^22, in the default rounding mode: the
   same rule as cvtps2dq, NEON vcvtnq and CUDA __float2int_rn. */
static inline BITLINEAR_HD float bl__round_even(float v)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: the sum keeps no fraction bits */
    float sum = v + magic;           /* the assignment rounds, also where FLT_EVAL_METHOD is 1 (s390x) */
    return sum - magic;
}

/* Inputs whose absmax is below this quantize to zero (their 1/absmax would overflow). */
#define BL__ACT_TINY 7.888609052210118e-31f /* 2^-100 */

/* Per token: scale = absmax / qmax, q = round_even(clamp(x * (qmax / absmax))). */
static inline BITLINEAR_HD float bl__act_inverse(float absmax, int qmax)
{
    return absmax < BL__ACT_TINY ? 0.0f : BL__CAST(float, qmax) / absmax;
}
static inline BITLINEAR_HD float bl__act_scale(float absmax, int qmax)
{
    return absmax < BL__ACT_TINY ? 0.0f : absmax / BL__CAST(float, qmax);
}
static inline BITLINEAR_HD int8_t bl__act_code(float x, float inverse, int qmax)
{
    float v = x * inverse, lim = BL__CAST(float, qmax);
    v = v > lim ? lim : (v < -lim ? -lim : v);
    return BL__CAST(int8_t, bl__round_even(v));
}

/* INT8 output of row r: every product below is exact in double (|dot| < 2^29 and a float
   has 24 significant bits), so fused or separate multiply-adds give the same bits and
   every backend, CPU or GPU, agrees exactly. */
static inline BITLINEAR_HD float bl__int8_output(const int32_t *dot, const float *scales, int k,
                                                 int out_features, int r, float act_scale,
                                                 const float *bias)
{
    double acc = 0.0, v;
    int j;
    for (j = 0; j < k; ++j) {
        size_t at = BL__CAST(size_t, j) * BL__CAST(size_t, out_features) + BL__CAST(size_t, r);
        acc += BL__CAST(double, dot[j]) * BL__CAST(double, scales[at]);
    }
    v = BL__CAST(double, BL__CAST(float, acc)) * BL__CAST(double, act_scale);
    if (bias) v += BL__CAST(double, bias[r]);
    return BL__CAST(float, v);
}
