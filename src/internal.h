/* ==== bitlinear: implementation internals ================================ */
/* The implementation is C99 code, where the C cast is the only cast and NULL the only null
   pointer constant. Compiled as C++ it keeps both, and -Wuseless-cast would flag casts
   between types that coincide on one platform only (size_t and uint64_t on LP64, needed on
   32-bit targets). These warnings are off for the implementation alone:
   src/implementation_end.h pops them, so the including file's own code is checked as its
   flags ask. */
#if defined(__cplusplus) && (defined(__GNUC__) || defined(__clang__))
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wold-style-cast"
#  pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#  if !defined(__clang__)
#    pragma GCC diagnostic ignored "-Wuseless-cast"
#  endif
#endif
/* Each header for what the implementation calls, whatever the configuration macros say:
   string.h (memcpy, memset, strcmp, strlen), math.h (fabsf, sqrt, ...), float.h and
   limits.h (FLT_MAX, INT_MAX), stdlib.h (qsort, and malloc/realloc/free unless hooked). */
#include <string.h>
#include <math.h>
#include <float.h>
#include <limits.h>
#include <stdlib.h>

#if defined(BITLINEAR_MALLOC) && defined(BITLINEAR_FREE) && defined(BITLINEAR_REALLOC)
/* all three given */
#elif !defined(BITLINEAR_MALLOC) && !defined(BITLINEAR_FREE) && !defined(BITLINEAR_REALLOC)
#  define BITLINEAR_MALLOC(size)       malloc(size)
#  define BITLINEAR_REALLOC(ptr, size) realloc(ptr, size)
#  define BITLINEAR_FREE(ptr)          free(ptr)
#else
#  error "bitlinear: define all of BITLINEAR_MALLOC, BITLINEAR_REALLOC and BITLINEAR_FREE, or none"
#endif

#ifndef BITLINEAR_ASSERT
#  include <assert.h>
#  define BITLINEAR_ASSERT(cond) assert(cond)
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define BL__UNUSED __attribute__((unused))
#else
#  define BL__UNUSED
#endif

/* Definitions of public functions: BITLINEAR_STATIC makes them static (and quiet when unused). */
#ifdef BITLINEAR_STATIC
#  define BITLINEAR_DEF static BL__UNUSED
#else
#  define BITLINEAR_DEF
#endif

#define BL__ALIGN 64
static size_t bl__align_up(size_t n) { return (n + (BL__ALIGN - 1)) & ~(size_t)(BL__ALIGN - 1); }
static void *bl__align_ptr(void *p)
{
    return (void *)(((uintptr_t)p + (BL__ALIGN - 1)) & ~(uintptr_t)(BL__ALIGN - 1));
}

/* a * b into *out, 0 on overflow */
static int bl__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}
static int bl__add_size(size_t a, size_t b, size_t *out)
{
    if (b > (size_t)-1 - a) return 0;
    *out = a + b;
    return 1;
}

static int bl__valid_method(int m)  { return m >= BL_METHOD_OPTIMAL && m <= BL_METHOD_TWN; }
static int bl__valid_scaling(int s) { return s == BL_SCALING_ROW || s == BL_SCALING_TENSOR; }
static int bl__valid_format(int f)  { return f == BL_FORMAT_2BIT || f == BL_FORMAT_BASE3; }
static int bl__valid_act(int a)     { return a == BL_ACT_INT8 || a == BL_ACT_FLOAT; }

static int bl__all_finite(const float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (!(x[i] - x[i] == 0.0f)) return 0; /* NaN and Inf give NaN */
    return 1;
}

struct bl_linear {
    int in_features, out_features, k, act_bits;
    bl_format format;
    bl_act act;
    bl_method method;
    bl_scaling scaling;
    size_t row_bytes;          /* ceil(in / trits per byte) */
    int hadamard;              /* inputs are rotated with hadamard_seed before the product */
    uint64_t hadamard_seed;
    const uint8_t *packed;     /* [k][out][row_bytes] */
    const float *scales;       /* [k][out] */
    const float *bias;         /* [out] or NULL */
    bl_allocator alloc;        /* how this block was allocated */
    void *block;               /* the allocation holding this layer */
    int owned;                 /* 1: destroy frees the block; 0: caller memory or a view */
};

/* Prepared input of `batch` tokens: per-token activation scale and code sum, then the
   tokens (int8 codes or floats), each padded with zeros so kernels may read whole
   64-byte vectors past the end of a row. */
typedef struct bl__input {
    const float *act_scale;    /* [batch] (INT8) */
    const int32_t *act_sum;    /* [batch] sum of the codes (INT8) */
    const void *data;          /* [batch][stride] int8 or float */
    size_t stride;             /* elements per token */
} bl__input;

static size_t bl__input_stride(int in_features) { return bl__align_up((size_t)in_features) + 2 * BL__ALIGN; }

/* A backend: y[b][r] for every token b < batch and output row r in [r0, r1). */
typedef void (*bl__gemm_int8_fn)(const bl_linear *layer, const bl__input *in, int batch, float *y,
                                 int r0, int r1);
typedef void (*bl__gemm_float_fn)(const bl_linear *layer, const bl__input *in, int batch, float *y,
                                  int r0, int r1);
/* Activation quantization, the per-token work of every INT8 forward. abs_max: the largest
   |x_i| as its bit pattern (0x7F800000 or more: some x_i is infinite or NaN). quantize: codes
   bl__act_code(x_i, inverse, qmax) into q, returning their sum. Every backend gives the
   scalar backend's bits in the default rounding mode (the mode bl__round_even assumes). */
typedef uint32_t (*bl__abs_max_fn)(const float *x, size_t n);
typedef int32_t (*bl__quantize_fn)(const float *x, size_t n, float inverse, int qmax, int8_t *q);
typedef struct bl__backend_kernels {
    bl__gemm_int8_fn gemm_int8;
    bl__gemm_float_fn gemm_float;
    bl__abs_max_fn abs_max;
    bl__quantize_fn quantize;
} bl__backend_kernels;

static void *bl__alloc(const bl_allocator *a, size_t size)
{
    if (a && a->alloc) return a->alloc(size, a->user);
    return BITLINEAR_MALLOC(size);
}
static void bl__free(const bl_allocator *a, void *p)
{
    if (!p) return;
    if (a && a->alloc) {
        if (a->free) a->free(p, a->user);
    } else {
        BITLINEAR_FREE(p);
    }
}
