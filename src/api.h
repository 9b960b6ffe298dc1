/* ==== bitlinear: public declarations ==================================== */
#include <stddef.h>
#include <stdint.h>

#define BITLINEAR_VERSION_MAJOR 0
#define BITLINEAR_VERSION_MINOR 2
#define BITLINEAR_VERSION_PATCH 0
/* Version of the packed byte layouts (BL_FORMAT_2BIT, BL_FORMAT_BASE3); bumped on any change. */
#define BITLINEAR_FORMAT_VERSION 1

#ifndef BITLINEAR_API
#  ifdef BITLINEAR_STATIC
#    define BITLINEAR_API static
#  else
#    define BITLINEAR_API extern
#  endif
#endif

/* Functions shared with the CUDA companion are compiled for both sides under nvcc. */
#ifdef __CUDACC__
#  define BITLINEAR_HD __host__ __device__
#else
#  define BITLINEAR_HD
#endif

/* Casts in code every including file compiles: C++ files get C++ casts, so the header
   stays clean under -Wold-style-cast. */
#ifdef __cplusplus
#  define BL__CAST(type, value) static_cast<type>(value)
#else
#  define BL__CAST(type, value) ((type)(value))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- results ------------------------------------------------------------ */
typedef enum bl_status {
    BL_OK = 0,
    BL_ERR_INVALID,      /* bad argument: NULL pointer, bad size, unknown enum, buffer too small */
    BL_ERR_NOMEM,        /* an allocation failed */
    BL_ERR_OVERFLOW,     /* a size computation would overflow */
    BL_ERR_NONFINITE,    /* NaN or Inf in weights or inputs */
    BL_ERR_FORMAT,       /* corrupt or truncated serialized data */
    BL_ERR_UNSUPPORTED,  /* not available in this build or on this CPU */
    BL_ERR_IO = 7,       /* open, read, write or map failed (the stdio helpers; errno has the reason) */
    BL_ERR_DEVICE = 8,   /* CUDA fault or launch failure (bitlinear_cuda.h) */
    BL__STATUS_FORCE_INT32 = 0x7FFFFFFF
} bl_status;
BITLINEAR_API const char *bl_status_string(bl_status s);   /* never NULL */
/* "MAJOR.MINOR.PATCH" of the compiled implementation (the BITLINEAR_VERSION_* macros
   are the version of the header a file was compiled against). */
BITLINEAR_API const char *bl_version(void);

/* ---- enumerations (0 is always the default) ------------------------------ */
/* The *_FORCE_INT32 values keep every enum int-sized, so an unknown value a caller passes
   is a checked error rather than undefined behaviour in C++. */
typedef enum bl_method  { BL_METHOD_OPTIMAL = 0, BL_METHOD_ABSMEAN, BL_METHOD_ABSMAX, BL_METHOD_TWN,
                          BL__METHOD_FORCE_INT32 = 0x7FFFFFFF } bl_method;
typedef enum bl_scaling { BL_SCALING_ROW = 0, BL_SCALING_TENSOR, BL__SCALING_FORCE_INT32 = 0x7FFFFFFF } bl_scaling;
typedef enum bl_format  { BL_FORMAT_2BIT = 0, BL_FORMAT_BASE3, BL__FORMAT_FORCE_INT32 = 0x7FFFFFFF } bl_format;
typedef enum bl_act     { BL_ACT_INT8 = 0, BL_ACT_FLOAT, BL__ACT_FORCE_INT32 = 0x7FFFFFFF } bl_act;
typedef enum bl_backend { BL_BACKEND_AUTO = 0, BL_BACKEND_SCALAR, BL_BACKEND_AVX2,
                          BL_BACKEND_AVX512, BL_BACKEND_NEON, BL_BACKEND_WASM = 5,
                          BL__BACKEND_FORCE_INT32 = 0x7FFFFFFF } bl_backend;

/* Limits. Inner products are exact in int32 and their products with float scales
   exact in double up to BL_MAX_IN_FEATURES (see "INT8 ACTIVATIONS" above). */
#define BL_MAX_IN_FEATURES  (1 << 22)
#define BL_MAX_K            8

/* ---- weight quantization -------------------------------------------------- */
/* w[rows][cols] -> trits[rows][cols] in {-1,0,1}, scales[rows] (ROW) or scales[0] (TENSOR).
   Allocates a small work area (BITLINEAR_MALLOC); trits and scales are written only on success. */
BITLINEAR_API bl_status bl_ternarize(const float *w, int rows, int cols, bl_method method,
                                     bl_scaling scaling, int8_t *trits, float *scales);
/* Greedy ternary decomposition: w ~= sum_j scales[j][r] * trits[j][r][c], trits[k][rows][cols],
   scales[k][rows]. refine_iters > 0 adds refinement passes (never worse than greedy). */
BITLINEAR_API bl_status bl_decompose(const float *w, int rows, int cols, int k, int refine_iters,
                                     int8_t *trits, float *scales);
/* The same for any method and scaling (TENSOR: every row of a component shares one scale). */
BITLINEAR_API bl_status bl_decompose_ex(const float *w, int rows, int cols, int k, int refine_iters,
                                        bl_method method, bl_scaling scaling,
                                        int8_t *trits, float *scales);
/* Relative Frobenius error ||w - sum_j s_j t_j|| / ||w|| of a decomposition (0 when w is 0). */
BITLINEAR_API double bl_decompose_error(const float *w, int rows, int cols, int k,
                                        const int8_t *trits, const float *scales);

/* ---- activation quantization (per token absmax, BitNet's W1.58A8) --------- */
/* x[n] -> q[n] with |q| <= 2^(bits-1)-1, *scale such that x ~= scale * q. bits in 2..8.
   Rules are pinned in "INT8 ACTIVATIONS" at the top; NaN/Inf -> BL_ERR_NONFINITE. */
BITLINEAR_API bl_status bl_quantize_activations(const float *x, int n, int bits, int8_t *q, float *scale);

/* ---- packing ---------------------------------------------------------------- */
BITLINEAR_API size_t    bl_packed_size(bl_format f, int rows, int cols);  /* 0 if invalid or overflowing */
BITLINEAR_API size_t    bl_packed_row_bytes(bl_format f, int cols);      /* 0 if invalid */
BITLINEAR_API bl_status bl_pack(bl_format f, const int8_t *trits, int rows, int cols,
                                void *dst, size_t dst_size);
BITLINEAR_API bl_status bl_unpack(bl_format f, const void *src, size_t src_size, int rows, int cols,
                                  int8_t *trits);

/* ---- layers ----------------------------------------------------------------- */
typedef struct bl_linear_desc {
    int in_features, out_features;
    const float  *weight;   /* [out][in] floats to quantize, or NULL when trits are given */
    const int8_t *trits;    /* [k][out][in] already-ternary weights ... */
    const float  *scales;   /* [k][out] ... with their scales */
    const float  *bias;     /* optional [out] */
    int k;                  /* ternary components; 0 means 1 */
    int refine_iters;       /* decomposition refinement passes */
    bl_method method; bl_scaling scaling; bl_format format; bl_act act;
    int act_bits;           /* INT8 activations: bits per activation, 2..8; 0 means 8 */
    int hadamard;           /* nonzero: randomised Hadamard rotation R (bl_hadamard_rotate with
                               hadamard_seed): rows of float weights are rotated before
                               quantization (given trits are taken as rotated already), and
                               forward rotates every input, so y ~= x W^T + b still holds */
    uint64_t hadamard_seed;
} bl_linear_desc;
typedef struct bl_linear bl_linear;                          /* opaque */

/* Allocator callbacks with a user pointer; a zeroed struct means BITLINEAR_MALLOC/FREE. */
typedef struct bl_allocator {
    void *(*alloc)(size_t size, void *user);
    void  (*free)(void *ptr, void *user);
    void *user;
} bl_allocator;

BITLINEAR_API bl_status bl_linear_create(const bl_linear_desc *desc, bl_linear **out);
BITLINEAR_API bl_status bl_linear_create_with(const bl_linear_desc *desc, const bl_allocator *alloc,
                                              bl_linear **out);
/* Caller-owned memory: *size gets the bytes bl_linear_init needs for this desc (quantization
   work memory is separate: it comes from the allocator, or pass trits to need none). */
BITLINEAR_API bl_status bl_linear_memory_size(const bl_linear_desc *desc, size_t *size);
BITLINEAR_API bl_status bl_linear_init(const bl_linear_desc *desc, void *memory, size_t size,
                                       bl_linear **out);
BITLINEAR_API void      bl_linear_destroy(bl_linear *layer);  /* NULL is fine; no-op for init'd layers */

BITLINEAR_API size_t    bl_linear_scratch_size(const bl_linear *layer, int batch);
/* x[batch][in] -> y[batch][out]; scratch of bl_linear_scratch_size bytes, or NULL (then it allocates) */
BITLINEAR_API bl_status bl_linear_forward(const bl_linear *layer, const float *x, int batch, float *y,
                                          void *scratch);
/* the same, writing only output rows [row_begin, row_end) of every token: for the caller's job system */
BITLINEAR_API bl_status bl_linear_forward_rows(const bl_linear *layer, const float *x, int batch,
                                               float *y, int row_begin, int row_end, void *scratch);

/* Prepared input: quantize (or pad) the activations once, then let many threads run
   row ranges over it. The buffer is bl_linear_input_size bytes, any alignment. Bad
   arguments and non-finite inputs leave it untouched; a Hadamard layer can also refuse
   inputs whose rotation overflows partway through the batch (also BL_ERR_NONFINITE), and
   then the buffer is left unprepared (forward_input refuses it with BL_ERR_INVALID).
   A buffer prepared for one layer serves every layer that reads its input the same way
   (in_features, act, act_bits, hadamard and hadamard_seed equal), so layers fed the same
   x (a transformer's Q, K and V) quantize it once; forward_input refuses any other layer
   with BL_ERR_INVALID. */
BITLINEAR_API size_t    bl_linear_input_size(const bl_linear *layer, int batch);
BITLINEAR_API bl_status bl_linear_prepare_input(const bl_linear *layer, const float *x, int batch,
                                                void *input, size_t input_size);
BITLINEAR_API bl_status bl_linear_forward_input(const bl_linear *layer, const void *input, int batch,
                                                float *y, int row_begin, int row_end);

BITLINEAR_API size_t    bl_linear_nbytes(const bl_linear *layer);  /* packed weights + scales + bias held */

/* Read-only view of a layer's parts (for serializers and the CUDA upload). */
typedef struct bl_linear_info {
    int in_features, out_features, k, act_bits;
    bl_format format; bl_act act; bl_method method; bl_scaling scaling;
    size_t row_bytes;           /* packed bytes per row of one component */
    const uint8_t *packed;      /* [k][out][row_bytes] */
    const float *scales;        /* [k][out] */
    const float *bias;          /* [out] or NULL */
    int hadamard;               /* the layer rotates its inputs ... */
    uint64_t hadamard_seed;     /* ... with this seed */
} bl_linear_info;
BITLINEAR_API bl_status bl_linear_get_info(const bl_linear *layer, bl_linear_info *info);

/* Memory estimate without weights: fp32 bytes, this layer's bytes, and their ratio. */
typedef struct bl_memory_estimate { size_t fp32_bytes, ternary_bytes; double compression; } bl_memory_estimate;
BITLINEAR_API bl_status bl_linear_estimate(int in_features, int out_features, int k, bl_format format,
                                           int has_bias, bl_memory_estimate *est);

/* ---- backends ----------------------------------------------------------------- */
BITLINEAR_API bl_status   bl_set_backend(bl_backend b);   /* BL_ERR_UNSUPPORTED if this CPU or build lacks it */
BITLINEAR_API bl_backend  bl_get_backend(void);           /* the one in use (AUTO resolved) */
BITLINEAR_API const char *bl_backend_name(bl_backend b);

#ifdef __cplusplus
}
#endif
