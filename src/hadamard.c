/* ==== bitlinear: Hadamard rotation ======================================== */
/* A random-sign Hadamard rotation spreads a row's outliers over many coordinates, so
   the rotated weights are closer to Gaussian and ternarize with less error; rotating the
   input the same way keeps y = (R x) . (R w) = x . w exact before quantization. */

/* splitmix64: a stateless hash, so signs need no table, only the seed */
static uint64_t bl__splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* In-place unnormalised FWHT of one power-of-two block: log2(n) passes of butterflies. */
static void bl__fwht(float *x, size_t n)
{
    size_t h, i, j;
    for (h = 1; h < n; h <<= 1)
        for (i = 0; i < n; i += 2 * h)
            for (j = i; j < i + h; ++j) {
                float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

static void bl__flip_signs(float *x, size_t n, uint64_t seed)
{
    size_t i;
    uint64_t bits = 0;
    for (i = 0; i < n; ++i) {
        if ((i & 63) == 0) bits = bl__splitmix64(seed ^ bl__splitmix64((uint64_t)(i >> 6)));
        if ((bits >> (i & 63)) & 1u) x[i] = -x[i];
    }
}

/* The blocks: the powers of two of n's binary form, largest first, each normalised. */
static void bl__blocks_orthonormal(float *x, size_t n)
{
    size_t b, off = 0, i;
    for (b = (size_t)1 << (sizeof(size_t) * CHAR_BIT - 1); b; b >>= 1) {
        if (!(n & b)) continue;
        bl__fwht(x + off, b);
        if (b > 1) {
            float norm = (float)(1.0 / sqrt((double)b));
            for (i = 0; i < b; ++i) x[off + i] *= norm;
        }
        off += b;
    }
}

/* R (inverse 0) or R^T (inverse 1) of one vector; x is finite. */
static void bl__rotate_one(float *x, size_t n, uint64_t seed, int inverse)
{
    if (!inverse) bl__flip_signs(x, n, seed);
    bl__blocks_orthonormal(x, n);
    if (inverse) bl__flip_signs(x, n, seed);
}

static bl_status bl__check_vectors(const float *x, int n, int count, size_t *total)
{
    if (!x || n <= 0 || count < 0) return BL_ERR_INVALID;
    if (!bl__mul_size((size_t)n, (size_t)count, total)) return BL_ERR_OVERFLOW;
    if (!bl__all_finite(x, *total)) return BL_ERR_NONFINITE;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_hadamard_transform(float *x, int n, int count)
{
    size_t total, c;
    bl_status st;
    if (n <= 0 || (n & (n - 1)) != 0) return BL_ERR_INVALID;
    st = bl__check_vectors(x, n, count, &total);
    if (st != BL_OK) return st;
    for (c = 0; c < (size_t)count; ++c) bl__fwht(x + c * (size_t)n, (size_t)n);
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_hadamard_rotate(float *x, int n, int count, uint64_t seed, int inverse)
{
    size_t total, c;
    bl_status st = bl__check_vectors(x, n, count, &total);
    if (st != BL_OK) return st;
    for (c = 0; c < (size_t)count; ++c) bl__rotate_one(x + c * (size_t)n, (size_t)n, seed, inverse != 0);
    return BL_OK;
}
