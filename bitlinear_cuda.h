/*
    bitlinear_cuda.h -- the CUDA companion of bitlinear.h: the same ternary layers on
    NVIDIA GPUs, under the same function names, with bit-identical INT8 results.

    DO THIS ONCE
    ============
        #define BITLINEAR_IMPLEMENTATION          // unless another file already does
        #define BITLINEAR_CUDA_IMPLEMENTATION
        #include "bitlinear_cuda.h"
    in exactly one .cu file (compiled by nvcc, C++). Other files include it bare.
    It includes "bitlinear.h" (keep both next to each other) and needs only the CUDA
    runtime API (no cuBLAS or other libraries). Build, for A100 and H100:
        nvcc -O3 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 my.cu
    The tensor-core path needs sm_80 or newer; older targets fall back to the dp4a
    kernels at run time. Do not build with -use_fast_math, -prec-div=false or
    -ftz=true: they change float rounding, and INT8 results would no longer match the
    CPU bit for bit (the header refuses -use_fast_math).

    EXAMPLE
    =======
        bl_linear *host;                           // made with bl_linear_create
        bl_cuda_linear *dev;
        bl_cuda_linear_upload(host, &dev, stream); // one copy of the packed weights
        bl_linear_forward(dev, d_x, batch, d_y, NULL, stream);  // d_x [batch][in] -> d_y
        bl_cuda_linear_destroy(dev);

    API (C++ overloads of the CPU names; device pointers; a trailing cudaStream_t)
    ===
        bl_cuda_linear_upload, bl_cuda_linear_destroy, bl_cuda_linear_nbytes
        bl_linear_scratch_size(const bl_cuda_linear *, batch)       bytes of d_scratch
        bl_linear_forward(layer, d_x, batch, d_y, d_scratch, stream)
        bl_linear_forward_rows(layer, d_x, batch, d_y, row_begin, row_end, d_scratch, stream)
        bl_ternarize, bl_pack, bl_unpack, bl_quantize_activations    (+ cudaStream_t)
        bl_cuda_status(cudaError_t)                                  CUDA error -> bl_status

    ASYNCHRONY AND ERRORS
    =====================
    Every function checks its arguments before launching anything and returns a
    bl_status; CUDA errors are mapped (cudaErrorMemoryAllocation -> BL_ERR_NOMEM,
    invalid values -> BL_ERR_INVALID, missing device or kernel image ->
    BL_ERR_UNSUPPORTED; anything else also -> BL_ERR_UNSUPPORTED, and the CUDA error
    stays readable with cudaPeekAtLastError when it is sticky).
    bl_linear_forward[_rows] are asynchronous on the stream. With d_scratch NULL they
    allocate stream-ordered memory (cudaMallocAsync) and free it on the stream. On
    sm_90 their kernels use programmatic dependent launch and let the next kernel on
    the stream launch early: a kernel of yours launched after a forward with
    programmatic stream serialization must call cudaGridDependencySynchronize() before
    reading the outputs (kernels launched normally need nothing).
    A token whose input holds NaN or Inf gives NaN outputs (the CPU returns
    BL_ERR_NONFINITE; a GPU cannot report it without waiting for the stream).
    bl_ternarize, bl_pack, bl_unpack and bl_quantize_activations validate the data
    on the device first and wait for the stream, so they return exactly the CPU's
    status and write nothing on error. bl_ternarize runs ABSMEAN, ABSMAX and TWN on
    the device; OPTIMAL (sorting within each scale group) runs the CPU's bl_ternarize on
    a host copy and copies the results back: the same results, at PCIe speed.

    DEVICE LAYOUT
    =============
    The packed bytes are the CPU's (README "Packed formats"); on upload a row's tail
    block (fewer than 64 bytes) is re-encoded as a full 64-byte block padded with zero
    trits, so every device row is whole 64-byte blocks and every kernel load is an
    aligned 16 bytes. Everything else is copied as is.

    KERNELS
    =======
    Activations are quantized by one block per token (the CPU rule, through the shared
    helpers of bitlinear.h). batch <= 8: a dp4a GEMV, one warp per 2-4 output rows,
    each lane streaming 16-byte chunks of the packed rows (codes 0..2 times int8
    activations, minus the token's activation sum). More tokens (sm_80+): int8 tensor
    cores (mma.sync m16n8k32) on the codes; up to 16 tokens, or when the tiles would
    not fill the device, from registers (tiles of 64 or 128 rows x 16 or 32 tokens);
    else from a two-stage cp.async ring in shared memory (tiles of 256 rows x 32
    tokens). All end in bl__int8_output, the CPU's epilogue. On sm_90 the kernels
    overlap their launches (programmatic dependent launch) and wait for their inputs.
    FLOAT activations: a GEMV over 8 tokens at a time. README "CUDA companion" has the
    measured speeds (H100, H200).
*/
#ifndef BITLINEAR_CUDA_H_INCLUDED
#define BITLINEAR_CUDA_H_INCLUDED

#ifndef __cplusplus
#  error "bitlinear_cuda.h is C++ (compile it with nvcc)"
#endif

#include <cuda_runtime.h>
#include "bitlinear.h"

#ifndef BITLINEAR_CUDA_API
#  ifdef BITLINEAR_STATIC
#    define BITLINEAR_CUDA_API static
#  else
#    define BITLINEAR_CUDA_API extern
#  endif
#endif

typedef struct bl_cuda_linear bl_cuda_linear;   /* opaque, device-resident */

/* Copies a host layer to the current device (waits for the stream once, for the copy). */
BITLINEAR_CUDA_API bl_status bl_cuda_linear_upload(const bl_linear *host, bl_cuda_linear **out, cudaStream_t s);
BITLINEAR_CUDA_API void      bl_cuda_linear_destroy(bl_cuda_linear *layer);   /* NULL is fine */
BITLINEAR_CUDA_API size_t    bl_cuda_linear_nbytes(const bl_cuda_linear *layer); /* device bytes held */

/* bytes of d_scratch for a forward of `batch` tokens (0 if invalid or overflowing) */
BITLINEAR_CUDA_API size_t    bl_linear_scratch_size(const bl_cuda_linear *layer, int batch);
/* d_x[batch][in] -> d_y[batch][out] on stream s; d_scratch may be NULL */
BITLINEAR_CUDA_API bl_status bl_linear_forward(const bl_cuda_linear *layer, const float *d_x, int batch,
                                               float *d_y, void *d_scratch, cudaStream_t s);
/* the same, writing only output rows [row_begin, row_end) of every token */
BITLINEAR_CUDA_API bl_status bl_linear_forward_rows(const bl_cuda_linear *layer, const float *d_x, int batch,
                                                    float *d_y, int row_begin, int row_end, void *d_scratch,
                                                    cudaStream_t s);

/* Device versions of the CPU utilities: same arguments and results, device pointers.
   They wait for the stream (to report data errors as the CPU does). */
BITLINEAR_CUDA_API bl_status bl_ternarize(const float *d_w, int rows, int cols, bl_method method,
                                          bl_scaling scaling, int8_t *d_trits, float *d_scales, cudaStream_t s);
BITLINEAR_CUDA_API bl_status bl_pack(bl_format f, const int8_t *d_trits, int rows, int cols, void *d_dst,
                                     size_t dst_size, cudaStream_t s);
BITLINEAR_CUDA_API bl_status bl_unpack(bl_format f, const void *d_src, size_t src_size, int rows, int cols,
                                       int8_t *d_trits, cudaStream_t s);
BITLINEAR_CUDA_API bl_status bl_quantize_activations(const float *d_x, int n, int bits, int8_t *d_q,
                                                     float *d_scale, cudaStream_t s);

BITLINEAR_CUDA_API bl_status bl_cuda_status(cudaError_t e);

#endif /* BITLINEAR_CUDA_H_INCLUDED */

/* ======================================================================== */
#if defined(BITLINEAR_CUDA_IMPLEMENTATION) && !defined(BITLINEAR_CUDA_IMPLEMENTATION_DONE)
#define BITLINEAR_CUDA_IMPLEMENTATION_DONE

#ifndef __CUDACC__
#  error "BITLINEAR_CUDA_IMPLEMENTATION needs nvcc (a .cu file)"
#endif
#if defined(__USE_FAST_MATH__)
#  error "bitlinear_cuda.h: -use_fast_math changes float rounding; INT8 results would differ from the CPU"
#endif

#include <stdlib.h>
#include <string.h>
#include <limits.h>

#ifdef BITLINEAR_STATIC
#  define BITLINEAR_CUDA_DEF static
#else
#  define BITLINEAR_CUDA_DEF
#endif

/* ---- constants of the device layout and the kernels ---------------------------- */
#define BL__CUDA_BLOCK 64          /* bytes per packed block (== BL__BLOCK_BYTES) */
#define BL__CUDA_ALIGN 256         /* alignment of every device sub-buffer */
#define BL__CUDA_GEMV_MAX_BATCH 8  /* up to this many tokens: the dp4a GEMV; more: tensor cores */
#define BL__CUDA_GEMV_WARPS 8      /* warps per GEMV block */
#define BL__CUDA_MMA_WARPS 8       /* warps per tensor-core block */
static_assert(BL__CUDA_BLOCK == BL__BLOCK_BYTES, "the device layout uses the core's 64-byte blocks");

struct bl_cuda_linear {
    int in_features, out_features, k, act_bits;
    bl_format format;
    bl_act act;
    int blocks;                 /* 64-byte blocks per device row */
    size_t row_stride;          /* blocks * 64 */
    size_t padded_in;           /* blocks * 64 * trits per byte: activations per padded token */
    const uint8_t *packed;      /* [k][out][row_stride] (device) */
    const float *scales;        /* [k][out] (device) */
    const float *bias;          /* [out] or NULL (device) */
    void *memory;               /* the one device allocation */
    size_t nbytes;
    int device;                 /* where it lives */
    int use_mma;                /* the tensor-core kernels exist for this device */
    int use_smem;               /* ... and the shared-memory one may take its 52 KiB */
    int use_pdl;                /* programmatic dependent launch: sm_90 code on an sm_90+ device */
    int sm_count;
};

/* ---- errors ------------------------------------------------------------------- */
BITLINEAR_CUDA_DEF bl_status bl_cuda_status(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:                   return BL_OK;
    case cudaErrorMemoryAllocation:     return BL_ERR_NOMEM;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidResourceHandle:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidDevice:
    case cudaErrorInvalidPitchValue:
    case cudaErrorInvalidMemcpyDirection:
    case cudaErrorInvalidSymbol:        return BL_ERR_INVALID;
    default:                            return BL_ERR_UNSUPPORTED; /* no device, no kernel image, faults */
    }
}

/* status of the last launch (or of an earlier asynchronous error) */
static bl_status bl__cuda_launched(void) { return bl_cuda_status(cudaGetLastError()); }

static size_t bl__cuda_align(size_t n) { return (n + (BL__CUDA_ALIGN - 1)) & ~(size_t)(BL__CUDA_ALIGN - 1); }

/* a * b into *out, 0 on overflow */
static int bl__cuda_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a) return 0;
    *out = a * b;
    return 1;
}

/* 1 when the current device can dereference p: its own memory, pinned or managed
   memory, or any pointer on systems with pageable-memory access */
static int bl__cuda_reachable(const void *p)
{
    cudaPointerAttributes attr;
    int dev = 0, pageable = 0;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess || cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    if (attr.type == cudaMemoryTypeDevice) return attr.device == dev;
    if (attr.type != cudaMemoryTypeUnregistered) return 1;
    if (cudaDeviceGetAttribute(&pageable, cudaDevAttrPageableMemoryAccess, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return pageable != 0;
}

/* ---- device helpers ------------------------------------------------------------ */

/* Four 2-bit codes of digit m, one per byte of w (values 0..2 as int8 lanes). */
static __host__ __device__ __forceinline__ uint32_t bl__cuda_codes_2bit(uint32_t w, int m)
{
    return (w >> (2 * m)) & 0x03030303u;
}

/* bytes 1 and 3 of e and of o, interleaved: e1 o1 e3 o3 (low to high) */
static __host__ __device__ __forceinline__ uint32_t bl__cuda_gather_odd_bytes(uint32_t e, uint32_t o)
{
#ifdef __CUDA_ARCH__
    return __byte_perm(e, o, 0x7351);
#else
    return ((e >> 8) & 0xFFu) | (((o >> 8) & 0xFFu) << 8) | (((e >> 24) & 0xFFu) << 16) | ((o >> 24) << 24);
#endif
}

/* BASE3 digits of a word, in order: ye/yo hold y = byte * 3^m mod 256 of the even
   bytes (ye = w & 0x00FF00FF to start) and odd bytes (yo = (w >> 8) & 0x00FF00FF) in
   16-bit lanes. bl__base3_code is (y * 3) >> 8, byte 1 of each lane of y * 3 (below
   2^10, so lanes never carry into each other), and y * 3 mod 256 is the next digit's y:
   two multiplies, two masks and one byte permute give four codes. */
static __host__ __device__ __forceinline__ uint32_t bl__cuda_base3_next(uint32_t &ye, uint32_t &yo)
{
    uint32_t e = ye * 3u, o = yo * 3u;
    ye = e & 0x00FF00FFu;
    yo = o & 0x00FF00FFu;
    return bl__cuda_gather_odd_bytes(e, o);
}

/* 16 packed bytes decoded a digit at a time (next() with m = 0, 1, ... in order):
   c[i] gets the codes (0..2, as int8x4) of digit m of word i. */
template <int FMT> struct bl__cuda_dec16;
template <> struct bl__cuda_dec16<BL_FORMAT_2BIT> {
    uint4 w;
    __host__ __device__ __forceinline__ void init(const uint4 &v) { w = v; }
    __host__ __device__ __forceinline__ void next(int m, uint32_t (&c)[4])
    {
        c[0] = bl__cuda_codes_2bit(w.x, m);
        c[1] = bl__cuda_codes_2bit(w.y, m);
        c[2] = bl__cuda_codes_2bit(w.z, m);
        c[3] = bl__cuda_codes_2bit(w.w, m);
    }
};
template <> struct bl__cuda_dec16<BL_FORMAT_BASE3> {
    uint32_t ye[4], yo[4];
    __host__ __device__ __forceinline__ void init(const uint4 &v)
    {
        ye[0] = v.x & 0x00FF00FFu; yo[0] = (v.x >> 8) & 0x00FF00FFu;
        ye[1] = v.y & 0x00FF00FFu; yo[1] = (v.y >> 8) & 0x00FF00FFu;
        ye[2] = v.z & 0x00FF00FFu; yo[2] = (v.z >> 8) & 0x00FF00FFu;
        ye[3] = v.w & 0x00FF00FFu; yo[3] = (v.w >> 8) & 0x00FF00FFu;
    }
    __host__ __device__ __forceinline__ void next(int m, uint32_t (&c)[4])
    {
        (void)m;
        c[0] = bl__cuda_base3_next(ye[0], yo[0]);
        c[1] = bl__cuda_base3_next(ye[1], yo[1]);
        c[2] = bl__cuda_base3_next(ye[2], yo[2]);
        c[3] = bl__cuda_base3_next(ye[3], yo[3]);
    }
};

/* 16-byte load of data read once per forward (the GEMV's weights): evict-first, so the
   activations and outputs keep their place in the caches */
static __device__ __forceinline__ uint4 bl__cuda_load_stream(const uint8_t *p) { return __ldcs((const uint4 *)p); }

static __device__ __forceinline__ uint4 bl__cuda_load16(const void *p) { return __ldg((const uint4 *)p); }

/* word w of v (w a constant after unrolling) */
static __device__ __forceinline__ uint32_t bl__cuda_word(const uint4 &v, int w)
{
    return w == 0 ? v.x : w == 1 ? v.y : w == 2 ? v.z : v.w;
}

static __device__ __forceinline__ int bl__cuda_warp_sum(int v)
{
    int o;
    for (o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}
static __device__ __forceinline__ float bl__cuda_warp_sumf(float v)
{
    int o;
    for (o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

/* Programmatic dependent launch (sm_90). A kernel launched early waits here until the
   grid before it on the stream has finished and its writes are visible (a no-op when
   launched normally): the quantization kernel before it reads the input or touches the
   scratch the previous forward may still be reading; the matrix kernels after their
   first weight loads. The quantization kernel and the GEMV let the next kernel launch
   early. The host asks for early launch only when these instructions are in the code
   that runs. */
static __device__ __forceinline__ void bl__cuda_wait_inputs(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
static __device__ __forceinline__ void bl__cuda_allow_dependents(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* The arguments every forward kernel takes. Pointers to tokens are already offset to
   the first token of this launch. */
typedef struct bl__cuda_fwd {
    const uint8_t *w;           /* [k][out][row_stride] */
    const float *scales, *bias;
    const void *act;            /* int8 codes or floats, [batch][padded_in] */
    const float *act_scale;     /* [batch] (INT8) */
    const int32_t *act_sum;     /* [batch] (INT8) */
    float *y;                   /* [batch][out] */
    size_t row_stride, plane, padded_in;
    int out, k, batch, r0, r1, blocks, tok_tiles;
} bl__cuda_fwd;

/* ---- activation quantization: one block per token ------------------------------- */
#define BL__CUDA_QTHREADS 1024 /* one block per token: enough loads in flight for batch 1 */

static __device__ float bl__cuda_block_max(float v, float *sh)
{
    int lane = (int)threadIdx.x & 31, warp = (int)threadIdx.x >> 5, o;
    for (o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0f;
    for (o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    __syncthreads();
    return v;
}
static __device__ int bl__cuda_block_sum(int v, int *sh)
{
    int lane = (int)threadIdx.x & 31, warp = (int)threadIdx.x >> 5;
    v = bl__cuda_warp_sum(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0;
    v = bl__cuda_warp_sum(v);
    __syncthreads();
    return v;
}

/* Token b: q[b][0..stride) (zeros past n), its scale and code sum: the CPU rule through
   the shared helpers. A token with NaN/Inf gets zero codes and a NaN scale, so its
   outputs are NaN. The product x * inverse is rounded on its own (__fmul_rn) and
   passed with inverse 1, so no compiler contraction can change a code. Tokens of up
   to 4 * BL__CUDA_QVEC floats a thread (aligned, n a multiple of 4) stay in registers
   between the two passes and every thread issues all its loads at once: one trip to
   memory, where a loop would wait once per step. */
#define BL__CUDA_QVEC 8

static __device__ __forceinline__ int bl__cuda_nonfinite(float v) { return !(v - v == 0.0f); }

static __global__ void __launch_bounds__(BL__CUDA_QTHREADS)
bl__cuda_quantize_tokens(const float *x, int n, int qmax, int8_t *q, size_t stride, float *scale, int32_t *sum)
{
    __shared__ float shf[32];
    __shared__ int shi[32];
    const float *xb = x + (size_t)blockIdx.x * (size_t)n;
    int8_t *qb = q + (size_t)blockIdx.x * stride;
    const int n4 = n / 4, tid = (int)threadIdx.x, nth = (int)blockDim.x;
    const int kept = n % 4 == 0 && stride % 4 == 0 && ((uintptr_t)x & 15) == 0 && ((uintptr_t)q & 3) == 0 &&
                     n4 <= BL__CUDA_QVEC * nth;
    float4 v[BL__CUDA_QVEC];
    float amax = 0.0f, inv;
    int bad = 0, total = 0, k;
    bl__cuda_wait_inputs();      /* launched early: x may come from the kernel before */
    bl__cuda_allow_dependents(); /* the matrix kernel may start loading weights */
    if (kept) {
#pragma unroll
        for (k = 0; k < BL__CUDA_QVEC; ++k) {
            int i = tid + k * nth;
            v[k] = i < n4 ? __ldg((const float4 *)xb + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
#pragma unroll
        for (k = 0; k < BL__CUDA_QVEC; ++k) {
            bad |= bl__cuda_nonfinite(v[k].x) | bl__cuda_nonfinite(v[k].y) | bl__cuda_nonfinite(v[k].z) |
                   bl__cuda_nonfinite(v[k].w);
            amax = fmaxf(amax, fmaxf(fmaxf(fabsf(v[k].x), fabsf(v[k].y)), fmaxf(fabsf(v[k].z), fabsf(v[k].w))));
        }
    } else {
#pragma unroll 4
        for (size_t i = (size_t)tid; i < (size_t)n; i += (size_t)nth) {
            float e = xb[i];
            bad |= bl__cuda_nonfinite(e);
            amax = fabsf(e) > amax ? fabsf(e) : amax;
        }
    }
    amax = bl__cuda_block_max(amax, shf);
    bad = __syncthreads_or(bad);
    inv = bad ? 0.0f : bl__act_inverse(amax, qmax);
    if (kept) {
#pragma unroll
        for (k = 0; k < BL__CUDA_QVEC; ++k) {
            int i = tid + k * nth;
            if (i < n4 && !bad) {
                int c0 = bl__act_code(__fmul_rn(v[k].x, inv), 1.0f, qmax);
                int c1 = bl__act_code(__fmul_rn(v[k].y, inv), 1.0f, qmax);
                int c2 = bl__act_code(__fmul_rn(v[k].z, inv), 1.0f, qmax);
                int c3 = bl__act_code(__fmul_rn(v[k].w, inv), 1.0f, qmax);
                ((uint32_t *)qb)[i] = (uint32_t)(c0 & 0xFF) | (uint32_t)(c1 & 0xFF) << 8 |
                                      (uint32_t)(c2 & 0xFF) << 16 | (uint32_t)(c3 & 0xFF) << 24;
                total += c0 + c1 + c2 + c3;
            } else if (i < n4) {
                ((uint32_t *)qb)[i] = 0;
            }
        }
        for (size_t j = (size_t)n + (size_t)tid; j < stride; j += (size_t)nth) qb[j] = 0;
    } else {
#pragma unroll 4
        for (size_t j = (size_t)tid; j < stride; j += (size_t)nth) {
            int8_t c = 0;
            if (j < (size_t)n && !bad) c = bl__act_code(__fmul_rn(xb[j], inv), 1.0f, qmax);
            qb[j] = c;
            total += c;
        }
    }
    total = bl__cuda_block_sum(total, shi);
    if (tid == 0) {
        if (scale) scale[blockIdx.x] = bad ? __int_as_float(0x7FC00000) : bl__act_scale(amax, qmax);
        if (sum) sum[blockIdx.x] = total;
    }
}

/* FLOAT activations: tokens copied into rows of padded_in floats, zeros past n. */
static __global__ void bl__cuda_pad_tokens(const float *x, int n, float *dst, size_t stride, size_t total)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < total; i += step) {
        size_t b = i / stride, c = i - b * stride;
        dst[i] = c < (size_t)n ? x[b * (size_t)n + c] : 0.0f;
    }
}

/* ---- batch <= 8: the dp4a GEMV ---------------------------------------------------- */
/* Each warp owns R rows and T tokens. Lane l walks the 16-byte chunks l, l+32, ... of
   those rows, loading the R rows' chunks together, then using them: with the many
   warps an SM holds at this size (2BIT, batch 1: 64 registers, 32 warps), that keeps
   enough loads in flight to stream the weights (a prefetch a step ahead, or more rows
   a warp, cost registers and measured slower on an H200).
   Chunk c is bytes 16(c%4)..16(c%4)+15 of block c/4, and for digit m its 16 codes pair
   with activations block*64D + 64m + 16(c%4) + 0..15, which are consecutive, so one
   16-byte load of activations per token feeds four dp4a per row. Codes are 0..2
   (trit + 1): the dot is sum(code * q) - sum(q), and padding trits (code 1) meet zero
   activations. The k components run in order; lane i*T+t keeps the dots of row i,
   token t for the shared epilogue bl__int8_output. */
template <int FMT, int R, int T>
static __global__ void __launch_bounds__(BL__CUDA_GEMV_WARPS * 32)
bl__cuda_gemv_int8(bl__cuda_fwd a)
{
    const int D = FMT == BL_FORMAT_BASE3 ? 5 : 4, span = 64 * D;
    const int lane = (int)threadIdx.x & 31;
    const int group = (int)(blockIdx.x / (unsigned)a.tok_tiles), tok0 = (int)(blockIdx.x % (unsigned)a.tok_tiles) * T;
    const int row0 = a.r0 + (group * BL__CUDA_GEMV_WARPS + ((int)threadIdx.x >> 5)) * R;
    const int chunks = a.blocks * 4;
    const int8_t *q = (const int8_t *)a.act;
    const int8_t *qt[T];
    int32_t dots[BL_MAX_K];
    int i, t, j, waiting = 1;
    bl__cuda_allow_dependents(); /* the next forward's quantization may launch (it waits for this grid) */
    if (row0 >= a.r1) return;
    for (t = 0; t < T; ++t) qt[t] = q + (size_t)min(tok0 + t, a.batch - 1) * a.padded_in;
    for (j = 0; j < a.k; ++j) {
        const uint8_t *wr[R];
        int acc[R][T];
#pragma unroll
        for (i = 0; i < R; ++i) {
            wr[i] = a.w + (size_t)j * a.plane + (size_t)min(row0 + i, a.r1 - 1) * a.row_stride;
#pragma unroll
            for (t = 0; t < T; ++t) acc[i][t] = 0;
        }
        for (int c = lane; c < chunks; c += 32) {
            const size_t off = (size_t)(c >> 2) * (size_t)span + (size_t)(c & 3) * 16;
            bl__cuda_dec16<FMT> dec[R];
#pragma unroll
            for (i = 0; i < R; ++i) dec[i].init(bl__cuda_load_stream(wr[i] + (size_t)c * 16));
            if (waiting) { /* the first weights are on their way; now the activations must be ready */
                bl__cuda_wait_inputs();
                waiting = 0;
            }
#pragma unroll
            for (int m = 0; m < D; ++m) {
                uint4 av[T];
                uint32_t cd[R][4];
#pragma unroll
                for (t = 0; t < T; ++t) av[t] = bl__cuda_load16(qt[t] + off + 64 * m);
#pragma unroll
                for (i = 0; i < R; ++i) dec[i].next(m, cd[i]);
                /* word by word over all rows and tokens: R*T independent dp4a in a row */
#pragma unroll
                for (int e = 0; e < 4; ++e)
#pragma unroll
                    for (i = 0; i < R; ++i)
#pragma unroll
                        for (t = 0; t < T; ++t) acc[i][t] = __dp4a((int)cd[i][e], (int)bl__cuda_word(av[t], e), acc[i][t]);
            }
        }
        if (waiting) { /* no chunk for this lane (short rows) */
            bl__cuda_wait_inputs();
            waiting = 0;
        }
#pragma unroll
        for (i = 0; i < R; ++i)
#pragma unroll
            for (t = 0; t < T; ++t) {
                int total = bl__cuda_warp_sum(acc[i][t]) - a.act_sum[min(tok0 + t, a.batch - 1)];
                if (lane == i * T + t) dots[j] = total;
            }
    }
    if (lane < R * T) {
        int row = row0 + lane / T, tok = tok0 + lane % T;
        if (row < a.r1 && tok < a.batch)
            a.y[(size_t)tok * (size_t)a.out + (size_t)row] =
                bl__int8_output(dots, a.scales, a.k, a.out, row, a.act_scale[tok], a.bias);
    }
}

/* ---- FLOAT activations: the same walk with float sums ------------------------------ */
/* A code c becomes the float c - 1 exactly: the bits of 2^23 + c minus 2^23 + 1. */
static __device__ __forceinline__ float bl__cuda_trit_float(uint32_t code)
{
    return __int_as_float((int)(0x4B000000u | code)) - 8388609.0f;
}

template <int FMT, int R, int T>
static __global__ void __launch_bounds__(BL__CUDA_GEMV_WARPS * 32)
bl__cuda_gemv_float(bl__cuda_fwd a)
{
    const int D = FMT == BL_FORMAT_BASE3 ? 5 : 4, span = 64 * D;
    const int lane = (int)threadIdx.x & 31;
    const int group = (int)(blockIdx.x / (unsigned)a.tok_tiles), tok0 = (int)(blockIdx.x % (unsigned)a.tok_tiles) * T;
    const int row0 = a.r0 + (group * BL__CUDA_GEMV_WARPS + ((int)threadIdx.x >> 5)) * R;
    const int chunks = a.blocks * 4;
    const float *x = (const float *)a.act;
    const float *xt[T];
    float result = 0.0f;
    int i, t, j;
    if (row0 >= a.r1) return;
    for (t = 0; t < T; ++t) xt[t] = x + (size_t)min(tok0 + t, a.batch - 1) * a.padded_in;
    for (j = 0; j < a.k; ++j) {
        const uint8_t *wr[R];
        float acc[R][T];
#pragma unroll
        for (i = 0; i < R; ++i) {
            wr[i] = a.w + (size_t)j * a.plane + (size_t)min(row0 + i, a.r1 - 1) * a.row_stride;
#pragma unroll
            for (t = 0; t < T; ++t) acc[i][t] = 0.0f;
        }
        for (int c = lane; c < chunks; c += 32) {
            const size_t off = (size_t)(c >> 2) * (size_t)span + (size_t)(c & 3) * 16;
            uint4 wv[R];
#pragma unroll
            for (i = 0; i < R; ++i) wv[i] = bl__cuda_load_stream(wr[i] + (size_t)c * 16);
#pragma unroll
            for (int m = 0; m < D; ++m) {
#pragma unroll
                for (int e = 0; e < 16; e += 4) {
                    float4 xv[T];
#pragma unroll
                    for (t = 0; t < T; ++t) xv[t] = __ldg((const float4 *)(xt[t] + off + 64 * m + e));
#pragma unroll
                    for (i = 0; i < R; ++i) {
                        uint32_t word = e == 0 ? wv[i].x : e == 4 ? wv[i].y : e == 8 ? wv[i].z : wv[i].w;
                        float tr[4];
#pragma unroll
                        for (int b = 0; b < 4; ++b) {
                            uint32_t byte = (word >> (8 * b)) & 0xFFu;
                            tr[b] = bl__cuda_trit_float(FMT == BL_FORMAT_BASE3 ? bl__base3_code((uint8_t)byte, m)
                                                                               : bl__2bit_code((uint8_t)byte, m));
                        }
#pragma unroll
                        for (t = 0; t < T; ++t) {
                            acc[i][t] = fmaf(tr[0], xv[t].x, acc[i][t]);
                            acc[i][t] = fmaf(tr[1], xv[t].y, acc[i][t]);
                            acc[i][t] = fmaf(tr[2], xv[t].z, acc[i][t]);
                            acc[i][t] = fmaf(tr[3], xv[t].w, acc[i][t]);
                        }
                    }
                }
            }
        }
#pragma unroll
        for (i = 0; i < R; ++i)
#pragma unroll
            for (t = 0; t < T; ++t) {
                float total = bl__cuda_warp_sumf(acc[i][t]);
                if (lane == i * T + t) {
                    int row = min(row0 + i, a.r1 - 1);
                    result += a.scales[(size_t)j * (size_t)a.out + (size_t)row] * total;
                }
            }
    }
    if (lane < R * T) {
        int row = row0 + lane / T, tok = tok0 + lane % T;
        if (row < a.r1 && tok < a.batch)
            a.y[(size_t)tok * (size_t)a.out + (size_t)row] = a.bias ? result + a.bias[row] : result;
    }
}

/* ---- batch > 8: int8 tensor cores ---------------------------------------------------- */
/* D[16x8] += A[16x32] * B[32x8], s8 in, s32 out (sm_80+). Lane l (g = l/4, t = l%4)
   holds A rows g and g+8 at k 4t..4t+3 (a0, a1) and 16+4t.. (a2, a3), B token g at
   the same k (b0, b1), and D rows g, g+8 at tokens 2t, 2t+1. */
static __device__ __forceinline__ void bl__cuda_mma(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                                    uint32_t a3, uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    (void)d; (void)a0; (void)a1; (void)a2; (void)a3; (void)b0; (void)b1;
    __trap(); /* never launched: the host checks the kernel's PTX version first */
#endif
}

/* One digit plane of a warp's MT x NT tiles: the codes of every m-tile first, then the
   mma of the first k half over all tiles and the second half over all tiles, so MT*NT
   independent mma stand between two that add into the same accumulators. */
template <int MT, int NT, typename DEC>
static __device__ __forceinline__ void bl__cuda_mma_digit(int (&acc)[MT][NT][4], DEC (&da)[MT], DEC (&db)[MT], int m,
                                                          const uint4 (&bv)[NT])
{
    uint32_t ca[MT][4], cb[MT][4];
    int mt, n;
#pragma unroll
    for (mt = 0; mt < MT; ++mt) {
        da[mt].next(m, ca[mt]);
        db[mt].next(m, cb[mt]);
    }
#pragma unroll
    for (mt = 0; mt < MT; ++mt)
#pragma unroll
        for (n = 0; n < NT; ++n) bl__cuda_mma(acc[mt][n], ca[mt][0], cb[mt][0], ca[mt][1], cb[mt][1], bv[n].x, bv[n].y);
#pragma unroll
    for (mt = 0; mt < MT; ++mt)
#pragma unroll
        for (n = 0; n < NT; ++n) bl__cuda_mma(acc[mt][n], ca[mt][2], cb[mt][2], ca[mt][3], cb[mt][3], bv[n].z, bv[n].w);
}

/* Stores accumulator element e of the m16n8 tile whose first row and token are row16
   and tok8: rows g and g + 8, tokens 2 tq and 2 tq + 1 (the mma's fragment layout). */
static __device__ __forceinline__ void bl__cuda_store_mma(const bl__cuda_fwd &a, const int32_t *dots, int row16, int tok8,
                                                          int lane, int e)
{
    int row = row16 + (lane >> 2) + (e >= 2 ? 8 : 0), tok = tok8 + 2 * (lane & 3) + (e & 1);
    if (row < a.r1 && tok < a.batch)
        a.y[(size_t)tok * (size_t)a.out + (size_t)row] =
            bl__int8_output(dots, a.scales, a.k, a.out, row, a.act_scale[tok], a.bias);
}

/* A block of 8 warps owns WM*MT*16 rows and NT*8 tokens: WM warps along the rows (MT
   m-tiles of 16 each) and 8/WM along k (warp wk takes the row's 64-byte blocks wk,
   wk + WK, ...), adding their int32 sums through shared memory. The warps along the
   rows read the same activations in step, so those come from L1; the warps along k
   keep loads in flight when there are few row tiles. Each activation fragment serves
   a warp's MT m-tiles and each decoded weight fragment its NT n-tiles. The sum over k
   is order-free, so the 32 k of one mma are not 32 consecutive activations but the
   16 bytes lane t holds (bytes 16t..16t+15 of a row's 64-byte block): words 0,1 form
   one mma's a0/a2 (k 16t+0..7), words 2,3 the next one's (k 16t+8..15), and the
   activations 16t+0..15 of the same digit plane give b0,b1 of both with one 16-byte
   load. Tiles are numbered token-fastest so the blocks that read the same rows run
   together. */
template <int FMT, int WM, int MT, int NT>
static __global__ void __launch_bounds__(BL__CUDA_MMA_WARPS * 32)
bl__cuda_mma_int8(bl__cuda_fwd a)
{
    enum { WK = BL__CUDA_MMA_WARPS / WM, P = (MT + WK - 1) / WK };
    const int D = FMT == BL_FORMAT_BASE3 ? 5 : 4, span = 64 * D;
    const int warp = (int)threadIdx.x >> 5, wm = warp % WM, wk = warp / WM;
    const int lane = (int)threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    const int row_tile = (int)(blockIdx.x / (unsigned)a.tok_tiles), tok_tile = (int)(blockIdx.x % (unsigned)a.tok_tiles);
    const int block_rows = a.r0 + row_tile * (WM * 16 * MT);
    const int row_base = block_rows + wm * 16 * MT;
    const int tok_base = tok_tile * NT * 8;
    const int8_t *q = (const int8_t *)a.act;
    const int8_t *qb[NT];
    /* one n-tile at a time: [wk][wm][mt][e][lane], lane-contiguous */
    __shared__ int part[WK][WM][MT][4][32];
    int32_t dots[NT][P][4][BL_MAX_K]; /* this warp's m-tiles wk, wk + WK, ... of every n-tile */
    int j, mt, n, e, p;
    if (block_rows >= a.r1) return;  /* the whole block (never, with the host's grid) */
#pragma unroll
    for (n = 0; n < NT; ++n)
        qb[n] = q + (size_t)min(tok_base + n * 8 + g, a.batch - 1) * a.padded_in + 16 * tq;
    for (j = 0; j < a.k; ++j) {
        const uint8_t *pa[MT], *pb[MT];
        int acc[MT][NT][4];
        uint4 wa[MT], wb[MT];
        int blk = wk;
#pragma unroll
        for (mt = 0; mt < MT; ++mt) {
            int ra = min(row_base + mt * 16 + g, a.r1 - 1), rb = min(row_base + mt * 16 + g + 8, a.r1 - 1);
            pa[mt] = a.w + (size_t)j * a.plane + (size_t)ra * a.row_stride + 16 * tq;
            pb[mt] = a.w + (size_t)j * a.plane + (size_t)rb * a.row_stride + 16 * tq;
            if (blk < a.blocks) {
                wa[mt] = bl__cuda_load16(pa[mt] + (size_t)blk * BL__CUDA_BLOCK);
                wb[mt] = bl__cuda_load16(pb[mt] + (size_t)blk * BL__CUDA_BLOCK);
            }
#pragma unroll
            for (n = 0; n < NT; ++n)
#pragma unroll
                for (e = 0; e < 4; ++e) acc[mt][n][e] = 0;
        }
        if (j == 0) bl__cuda_wait_inputs();
        for (; blk < a.blocks; blk += WK) {
            uint4 na[MT], nb[MT];
            const size_t off = (size_t)blk * (size_t)span;
            bl__cuda_dec16<FMT> da[MT], db[MT];
#pragma unroll
            for (mt = 0; mt < MT; ++mt) {
                if (blk + WK < a.blocks) {
                    na[mt] = bl__cuda_load16(pa[mt] + (size_t)(blk + WK) * BL__CUDA_BLOCK);
                    nb[mt] = bl__cuda_load16(pb[mt] + (size_t)(blk + WK) * BL__CUDA_BLOCK);
                }
                da[mt].init(wa[mt]);
                db[mt].init(wb[mt]);
            }
#pragma unroll
            for (int m = 0; m < D; ++m) {
                uint4 bv[NT];
#pragma unroll
                for (n = 0; n < NT; ++n) bv[n] = bl__cuda_load16(qb[n] + off + 64 * m);
                bl__cuda_mma_digit<MT, NT>(acc, da, db, m, bv);
            }
#pragma unroll
            for (mt = 0; mt < MT; ++mt) { wa[mt] = na[mt]; wb[mt] = nb[mt]; }
        }
        /* per n-tile, the warps along k add up their parts and split the m-tiles */
#pragma unroll
        for (n = 0; n < NT; ++n) {
#pragma unroll
            for (mt = 0; mt < MT; ++mt)
#pragma unroll
                for (e = 0; e < 4; ++e) part[wk][wm][mt][e][lane] = acc[mt][n][e];
            __syncthreads();
#pragma unroll
            for (p = 0; p < P; ++p) {
                int pm = wk + p * WK, w;
                if (pm < MT) {
#pragma unroll
                    for (e = 0; e < 4; ++e) {
                        int total = 0, tok = min(tok_base + n * 8 + 2 * tq + (e & 1), a.batch - 1);
                        for (w = 0; w < WK; ++w) total += part[w][wm][pm][e][lane];
                        dots[n][p][e][j] = total - a.act_sum[tok];
                    }
                }
            }
            __syncthreads(); /* part is reused by the next n-tile */
        }
    }
#pragma unroll
    for (n = 0; n < NT; ++n)
#pragma unroll
        for (p = 0; p < P; ++p)
            if (wk + p * WK < MT)
#pragma unroll
                for (e = 0; e < 4; ++e)
                    bl__cuda_store_mma(a, dots[n][p][e], row_base + (wk + p * WK) * 16, tok_base + n * 8, lane, e);
}

/* ---- more than 16 tokens: tensor cores fed from shared memory ------------------------ */
/* cp.async (sm_80+): 16 bytes global -> shared without registers; groups complete in order */
static __device__ __forceinline__ void bl__cuda_cp16(void *smem, const void *gmem)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned d = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(gmem) : "memory");
#else
    (void)smem; (void)gmem;
#endif
}
static __device__ __forceinline__ void bl__cuda_cp_commit(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
template <int N>
static __device__ __forceinline__ void bl__cuda_cp_wait(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

/* Bytes of one token's slice of a 64-byte block in shared memory: the span (256 or
   320) padded to 64 mod 128, so the 8 tokens a quarter-warp reads land in distinct banks. */
#define BL__CUDA_ACT_STRIDE 320

/* The block tile is 8*MT*16 rows x NT*8 tokens, one 64-byte block of k at a time
   through an S-stage ring in shared memory: the packed weights of the tile's rows
   (64 bytes a row) and the tokens' activations for that block (span bytes a token) are
   copied by cp.async S-1 steps ahead, so the warps compute from shared memory while
   the next step streams in. Warp w owns the MT m-tiles from row 16*MT*w and all NT
   n-tiles; its fragments follow the mapping of bl__cuda_mma_int8 above, read from
   shared memory instead of global. Two blocks an SM (at most 128 registers a thread)
   measured fastest on an H200. */
template <int FMT, int MT, int NT, int S>
static __global__ void __launch_bounds__(BL__CUDA_MMA_WARPS * 32, 2)
bl__cuda_mma_smem_int8(bl__cuda_fwd a)
{
    enum { BM = BL__CUDA_MMA_WARPS * MT * 16, BN = NT * 8, THREADS = BL__CUDA_MMA_WARPS * 32 };
    enum { W_BYTES = BM * BL__CUDA_BLOCK, A_BYTES = BN * BL__CUDA_ACT_STRIDE, STAGE = W_BYTES + A_BYTES };
    const int D = FMT == BL_FORMAT_BASE3 ? 5 : 4, span = 64 * D;
    const int wm = (int)threadIdx.x >> 5;
    const int lane = (int)threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
    const int row_tile = (int)(blockIdx.x / (unsigned)a.tok_tiles), tok_tile = (int)(blockIdx.x % (unsigned)a.tok_tiles);
    const int block_rows = a.r0 + row_tile * BM, block_toks = tok_tile * BN;
    const int8_t *q = (const int8_t *)a.act;
    extern __shared__ uint4 bl__cuda_smem[];
    uint8_t *smem = (uint8_t *)bl__cuda_smem;
    int32_t dots[MT][NT][4][BL_MAX_K];
    int j, mt, n, e;
    if (block_rows >= a.r1) return;
    for (j = 0; j < a.k; ++j) {
        const uint8_t *wplane = a.w + (size_t)j * a.plane;
        int acc[MT][NT][4];
        int kb, st;
        /* stage st <- k-block kb: weights (BM rows x 4 chunks), activations (BN tokens x D*4 chunks) */
        auto load_weights = [&](int st_, int kb_) {
            uint8_t *sw = smem + (size_t)st_ * STAGE;
            for (int c = (int)threadIdx.x; c < BM * 4; c += THREADS) {
                int r = min(block_rows + (c >> 2), a.r1 - 1);
                bl__cuda_cp16(sw + c * 16, wplane + (size_t)r * a.row_stride + (size_t)kb_ * BL__CUDA_BLOCK + (c & 3) * 16);
            }
        };
        auto load_acts = [&](int st_, int kb_) {
            uint8_t *sa = smem + (size_t)st_ * STAGE + W_BYTES;
            const int per = D * 4;
            for (int c = (int)threadIdx.x; c < BN * per; c += THREADS) {
                int t = c / per, w = c - t * per, tok = min(block_toks + t, a.batch - 1);
                bl__cuda_cp16(sa + t * BL__CUDA_ACT_STRIDE + w * 16, q + (size_t)tok * a.padded_in + (size_t)kb_ * span + w * 16);
            }
        };
#pragma unroll
        for (mt = 0; mt < MT; ++mt)
#pragma unroll
            for (n = 0; n < NT; ++n)
#pragma unroll
                for (e = 0; e < 4; ++e) acc[mt][n][e] = 0;
        if (j > 0) __syncthreads(); /* the ring is free again */
        for (st = 0; st < S - 1; ++st)
            if (st < a.blocks) load_weights(st, st);
        if (j == 0) bl__cuda_wait_inputs();
        for (st = 0; st < S - 1; ++st) {
            if (st < a.blocks) load_acts(st, st);
            bl__cuda_cp_commit();
        }
        for (kb = 0; kb < a.blocks; ++kb) {
            const uint8_t *sw = smem + (size_t)(kb % S) * STAGE, *sa = sw + W_BYTES;
            bl__cuda_dec16<FMT> da[MT], db[MT];
            bl__cuda_cp_wait<S - 2>();
            __syncthreads(); /* stage kb is in; every warp is done with the stage refilled below */
            if (kb + S - 1 < a.blocks) {
                load_weights((kb + S - 1) % S, kb + S - 1);
                load_acts((kb + S - 1) % S, kb + S - 1);
            }
            bl__cuda_cp_commit();
#pragma unroll
            for (mt = 0; mt < MT; ++mt) {
                int r = wm * MT * 16 + mt * 16 + g;
                da[mt].init(*(const uint4 *)(sw + r * BL__CUDA_BLOCK + 16 * tq));
                db[mt].init(*(const uint4 *)(sw + (r + 8) * BL__CUDA_BLOCK + 16 * tq));
            }
#pragma unroll
            for (int m = 0; m < D; ++m) {
                uint4 bv[NT];
#pragma unroll
                for (n = 0; n < NT; ++n)
                    bv[n] = *(const uint4 *)(sa + (n * 8 + g) * BL__CUDA_ACT_STRIDE + 64 * m + 16 * tq);
                bl__cuda_mma_digit<MT, NT>(acc, da, db, m, bv);
            }
        }
        bl__cuda_cp_wait<0>();
#pragma unroll
        for (mt = 0; mt < MT; ++mt)
#pragma unroll
            for (n = 0; n < NT; ++n)
#pragma unroll
                for (e = 0; e < 4; ++e) {
                    int tok = min(block_toks + n * 8 + 2 * tq + (e & 1), a.batch - 1);
                    dots[mt][n][e][j] = acc[mt][n][e] - a.act_sum[tok];
                }
    }
#pragma unroll
    for (mt = 0; mt < MT; ++mt)
#pragma unroll
        for (n = 0; n < NT; ++n)
#pragma unroll
            for (e = 0; e < 4; ++e)
                bl__cuda_store_mma(a, dots[mt][n][e], block_rows + wm * MT * 16 + mt * 16, block_toks + n * 8, lane, e);
}

/* The configuration the forward uses for more than 16 tokens when its tiles fill the
   device: 256 rows x 32 tokens, two stages (52 KiB of shared memory). */
#define BL__CUDA_SMEM_MT 2
#define BL__CUDA_SMEM_NT 4
#define BL__CUDA_SMEM_STAGES 2
#define BL__CUDA_SMEM_ROWS (BL__CUDA_MMA_WARPS * BL__CUDA_SMEM_MT * 16)
#define BL__CUDA_SMEM_TOKENS (BL__CUDA_SMEM_NT * 8)
#define BL__CUDA_SMEM_BYTES \
    (BL__CUDA_SMEM_STAGES * (BL__CUDA_SMEM_ROWS * BL__CUDA_BLOCK + BL__CUDA_SMEM_TOKENS * BL__CUDA_ACT_STRIDE))
template <int FMT>
static void (*bl__cuda_smem_kernel(void))(bl__cuda_fwd)
{
    return bl__cuda_mma_smem_int8<FMT, BL__CUDA_SMEM_MT, BL__CUDA_SMEM_NT, BL__CUDA_SMEM_STAGES>;
}

/* ---- upload ------------------------------------------------------------------------- */

/* Device row: the host row's full blocks as they are, its tail (B < 64 bytes of stride
   B) re-encoded as one full block of stride 64 with zero trits (code 1) as padding. */
static void bl__cuda_relayout_row(int format, int n, const uint8_t *src, uint8_t *dst, int blocks)
{
    int d = bl__digits(format), span = BL__CUDA_BLOCK * d, full = n / span;
    memcpy(dst, src, (size_t)full * BL__CUDA_BLOCK);
    if (full < blocks) {
        int r = n - full * span, width = (r + d - 1) / d, jj, m;
        const uint8_t *tail = src + (size_t)full * BL__CUDA_BLOCK;
        for (jj = 0; jj < BL__CUDA_BLOCK; ++jj) {
            uint8_t codes[5];
            for (m = 0; m < d; ++m) {
                int i = jj + m * BL__CUDA_BLOCK; /* trit of the tail this byte/digit holds */
                codes[m] = 1;
                if (i < r) {
                    uint8_t byte = tail[i % width];
                    codes[m] = (uint8_t)(d == 5 ? bl__base3_code(byte, i / width) : bl__2bit_code(byte, i / width));
                }
            }
            dst[(size_t)full * BL__CUDA_BLOCK + jj] =
                d == 5 ? bl__base3_encode(codes)
                       : (uint8_t)(codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6);
        }
    }
}

template <typename K>
static int bl__cuda_ptx_version(K kernel)
{
    cudaFuncAttributes attr;
    if (cudaFuncGetAttributes(&attr, kernel) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return attr.ptxVersion;
}

BITLINEAR_CUDA_DEF bl_status bl_cuda_linear_upload(const bl_linear *host, bl_cuda_linear **out, cudaStream_t s)
{
    bl_linear_info info;
    bl_cuda_linear *L;
    size_t rows, packed_bytes, scale_bytes, bias_bytes, total, r;
    uint8_t *stage = NULL;
    int d, blocks, major = 0;
    cudaError_t err;
    if (!host || !out || bl_linear_get_info(host, &info) != BL_OK) return BL_ERR_INVALID;
    if (info.hadamard) return BL_ERR_UNSUPPORTED; /* the device kernels do not rotate inputs yet */
    if (info.out_features > INT_MAX - 1024) return BL_ERR_OVERFLOW; /* row indices + a tile stay ints */
    d = bl__digits((int)info.format);
    blocks = (int)(((size_t)info.in_features + (size_t)(BL__CUDA_BLOCK * d) - 1) / (size_t)(BL__CUDA_BLOCK * d));
    rows = (size_t)info.k * (size_t)info.out_features;
    if (!bl__cuda_mul(rows, (size_t)blocks * BL__CUDA_BLOCK, &packed_bytes) ||
        !bl__cuda_mul(rows, sizeof(float), &scale_bytes))
        return BL_ERR_OVERFLOW;
    bias_bytes = info.bias ? (size_t)info.out_features * sizeof(float) : 0;
    packed_bytes = bl__cuda_align(packed_bytes);
    scale_bytes = bl__cuda_align(scale_bytes);
    total = packed_bytes + scale_bytes + bl__cuda_align(bias_bytes);
    if (total < packed_bytes) return BL_ERR_OVERFLOW;

    L = (bl_cuda_linear *)malloc(sizeof *L);
    stage = (uint8_t *)malloc(packed_bytes);
    if (!L || !stage) {
        free(L);
        free(stage);
        return BL_ERR_NOMEM;
    }
    memset(L, 0, sizeof *L);
    L->in_features = info.in_features;
    L->out_features = info.out_features;
    L->k = info.k;
    L->act_bits = info.act_bits;
    L->format = info.format;
    L->act = info.act;
    L->blocks = blocks;
    L->row_stride = (size_t)blocks * BL__CUDA_BLOCK;
    L->padded_in = L->row_stride * (size_t)d;
    L->nbytes = total;
    memset(stage, 0, packed_bytes);
    for (r = 0; r < rows; ++r)
        bl__cuda_relayout_row((int)info.format, info.in_features, info.packed + r * info.row_bytes,
                              stage + r * L->row_stride, blocks);

    err = cudaGetDevice(&L->device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&L->sm_count, cudaDevAttrMultiProcessorCount, L->device);
    if (err == cudaSuccess) err = cudaMalloc(&L->memory, total);
    if (err == cudaSuccess) {
        uint8_t *base = (uint8_t *)L->memory;
        L->packed = base;
        L->scales = (const float *)(base + packed_bytes);
        L->bias = info.bias ? (const float *)(base + packed_bytes + scale_bytes) : NULL;
        err = cudaMemcpyAsync(base, stage, packed_bytes, cudaMemcpyHostToDevice, s);
        if (err == cudaSuccess)
            err = cudaMemcpyAsync(base + packed_bytes, info.scales, rows * sizeof(float), cudaMemcpyHostToDevice, s);
        if (err == cudaSuccess && info.bias)
            err = cudaMemcpyAsync(base + packed_bytes + scale_bytes, info.bias, bias_bytes, cudaMemcpyHostToDevice, s);
        if (err == cudaSuccess) err = cudaStreamSynchronize(s); /* the staging buffer is freed next */
    }
    /* the tensor-core kernels need an sm_80+ device running code built for compute_80+
       (not a JIT of older PTX, where they are stubs); early launch needs sm_90 code */
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, L->device);
    L->use_mma = major >= 8 && bl__cuda_ptx_version(bl__cuda_mma_int8<BL_FORMAT_2BIT, 1, 4, 2>) >= 80;
    L->use_smem = L->use_mma &&
                  cudaFuncSetAttribute(bl__cuda_smem_kernel<BL_FORMAT_2BIT>(), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       BL__CUDA_SMEM_BYTES) == cudaSuccess &&
                  cudaFuncSetAttribute(bl__cuda_smem_kernel<BL_FORMAT_BASE3>(), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       BL__CUDA_SMEM_BYTES) == cudaSuccess;
    if (!L->use_smem) (void)cudaGetLastError();
    L->use_pdl = major >= 9 && bl__cuda_ptx_version(bl__cuda_quantize_tokens) >= 90 &&
                 bl__cuda_ptx_version(bl__cuda_gemv_int8<BL_FORMAT_2BIT, 4, 1>) >= 90 &&
                 bl__cuda_ptx_version(bl__cuda_mma_int8<BL_FORMAT_2BIT, 1, 4, 2>) >= 90;
    free(stage);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        if (L->memory) (void)cudaFree(L->memory);
        free(L);
        return bl_cuda_status(err);
    }
    *out = L;
    return BL_OK;
}

BITLINEAR_CUDA_DEF void bl_cuda_linear_destroy(bl_cuda_linear *layer)
{
    if (!layer) return;
    (void)cudaFree(layer->memory);
    free(layer);
}

BITLINEAR_CUDA_DEF size_t bl_cuda_linear_nbytes(const bl_cuda_linear *layer)
{
    return layer ? layer->nbytes : 0;
}

/* ---- forward ------------------------------------------------------------------------- */

/* Scratch: [act_scale: batch floats][act_sum: batch int32][tokens: batch x padded_in
   int8 or float], each part 256-byte aligned from the first 256-byte boundary of the
   caller's pointer (any alignment is accepted). */
static size_t bl__cuda_scratch_parts(const bl_cuda_linear *L, int batch, size_t *sums, size_t *data)
{
    size_t tokens, total;
    size_t elem = L->act == BL_ACT_INT8 ? 1 : sizeof(float);
    *sums = bl__cuda_align((size_t)batch * sizeof(float));
    *data = *sums + bl__cuda_align((size_t)batch * sizeof(int32_t));
    if (!bl__cuda_mul(L->padded_in * elem, (size_t)batch, &tokens)) return 0;
    total = *data + tokens + BL__CUDA_ALIGN;   /* + room to align the start */
    return total < *data ? 0 : total;
}

BITLINEAR_CUDA_DEF size_t bl_linear_scratch_size(const bl_cuda_linear *layer, int batch)
{
    size_t sums, data;
    if (!layer || batch < 0) return 0;
    return bl__cuda_scratch_parts(layer, batch, &sums, &data);
}

/* Launches a kernel that may start before the one ahead of it on the stream finishes
   (programmatic dependent launch, when the layer allows it): it waits for that one
   with bl__cuda_wait_inputs before reading what it produced (see there). */
template <typename... P, typename... A>
static void bl__cuda_launch_early(void (*kernel)(P...), unsigned blocks, unsigned threads, size_t smem, int pdl,
                                  cudaStream_t s, A... args)
{
    cudaLaunchConfig_t cfg = cudaLaunchConfig_t();
    cudaLaunchAttribute attr[1] = { cudaLaunchAttribute() };
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(threads);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cfg.attrs = attr;
    /* not on the legacy default stream, which orders against every other stream */
    cfg.numAttrs = pdl && s != 0 && s != cudaStreamLegacy ? 1 : 0;
    if (cudaLaunchKernelEx(&cfg, kernel, args...) != cudaSuccess && cfg.numAttrs) {
        (void)cudaGetLastError(); /* refused early launch: launch normally */
        cfg.numAttrs = 0;
        (void)cudaLaunchKernelEx(&cfg, kernel, args...);
    }
    /* the caller reads any launch error with cudaGetLastError */
}

/* a matrix kernel, right after the quantization kernel */
template <typename K>
static void bl__cuda_launch_int8(K kernel, unsigned blocks, unsigned threads, const bl__cuda_fwd &a, int pdl,
                                 cudaStream_t s, size_t smem = 0)
{
    bl__cuda_launch_early(kernel, blocks, threads, smem, pdl, s, a);
}

/* Blocks are numbered token-group-fastest, so groups of tokens that read the same rows
   run together and share them through L2. */
template <int FMT, int R, int T>
static void bl__cuda_launch_gemv(bl__cuda_fwd a, int rows, int act_int8, int pdl, cudaStream_t s)
{
    long long groups = (rows + BL__CUDA_GEMV_WARPS * R - 1) / (BL__CUDA_GEMV_WARPS * R);
    a.tok_tiles = (a.batch + T - 1) / T;
    if (act_int8) bl__cuda_launch_int8(bl__cuda_gemv_int8<FMT, R, T>, (unsigned)(groups * a.tok_tiles),
                                       BL__CUDA_GEMV_WARPS * 32, a, pdl, s);
    else          bl__cuda_gemv_float<FMT, R, T><<<(unsigned)(groups * a.tok_tiles), BL__CUDA_GEMV_WARPS * 32, 0, s>>>(a);
}

template <int FMT>
static void bl__cuda_dispatch(const bl_cuda_linear *L, bl__cuda_fwd a, cudaStream_t s)
{
    const int rows = a.r1 - a.r0, act_int8 = L->act == BL_ACT_INT8;
    if (act_int8 && L->use_mma && a.batch > BL__CUDA_GEMV_MAX_BATCH) {
        const unsigned threads = BL__CUDA_MMA_WARPS * 32;
        const long long smem_tok_tiles = (a.batch + BL__CUDA_SMEM_TOKENS - 1) / BL__CUDA_SMEM_TOKENS;
        const long long smem_tiles = ((long long)rows + BL__CUDA_SMEM_ROWS - 1) / BL__CUDA_SMEM_ROWS * smem_tok_tiles;
        long long tok_tiles, wide;
        int nt;
        if (L->use_smem && a.batch > 16 && smem_tiles >= L->sm_count) {
            a.tok_tiles = (int)smem_tok_tiles;
            bl__cuda_launch_int8(bl__cuda_smem_kernel<FMT>(), (unsigned)smem_tiles, threads, a, L->use_pdl, s,
                                 BL__CUDA_SMEM_BYTES);
            return;
        }
        /* 16-token tiles up to 16 tokens, else 32; 128-row tiles when they fill the
           device, else 64-row tiles with the k split 8 ways */
        nt = a.batch <= 16 ? 2 : 4;
        tok_tiles = (a.batch + 8 * nt - 1) / (8 * nt);
        wide = ((long long)rows + 127) / 128 * tok_tiles;
        a.tok_tiles = (int)tok_tiles;
        if (wide >= L->sm_count) {
            if (nt == 2) bl__cuda_launch_int8(bl__cuda_mma_int8<FMT, 2, 4, 2>, (unsigned)wide, threads, a, L->use_pdl, s);
            else         bl__cuda_launch_int8(bl__cuda_mma_int8<FMT, 2, 4, 4>, (unsigned)wide, threads, a, L->use_pdl, s);
        } else {
            unsigned narrow = (unsigned)(((long long)rows + 63) / 64 * tok_tiles);
            if (nt == 2) bl__cuda_launch_int8(bl__cuda_mma_int8<FMT, 1, 4, 2>, narrow, threads, a, L->use_pdl, s);
            else         bl__cuda_launch_int8(bl__cuda_mma_int8<FMT, 1, 4, 4>, narrow, threads, a, L->use_pdl, s);
        }
        return;
    }
    if (a.batch == 1)      bl__cuda_launch_gemv<FMT, 4, 1>(a, rows, act_int8, L->use_pdl, s);
    else if (a.batch == 2) bl__cuda_launch_gemv<FMT, 4, 2>(a, rows, act_int8, L->use_pdl, s);
    else if (a.batch <= 4) bl__cuda_launch_gemv<FMT, 2, 4>(a, rows, act_int8, L->use_pdl, s);
    else                   bl__cuda_launch_gemv<FMT, 2, 8>(a, rows, act_int8, L->use_pdl, s);
}

/* The most tokens one launch takes: keeps every grid below 2^30 blocks (row tiles of
   16 or more rows times token tiles of 8 or more). */
static int bl__cuda_tokens_per_launch(int rows)
{
    long long row_tiles = (rows + 15) / 16, per = (INT_MAX / 2) / (row_tiles > 0 ? row_tiles : 1) * 8;
    return per < 8 ? 8 : (per > INT_MAX / 2 ? INT_MAX / 2 : (int)per);
}

BITLINEAR_CUDA_DEF bl_status bl_linear_forward_rows(const bl_cuda_linear *layer, const float *d_x, int batch,
                                                    float *d_y, int row_begin, int row_end, void *d_scratch,
                                                    cudaStream_t s)
{
    size_t size, sums, data;
    void *mem = d_scratch;
    uint8_t *base;
    int dev = -1, b0, step, pooled = 1;
    bl_status st = BL_OK;
    cudaError_t err;
    if (!layer || batch < 0 || row_begin < 0 || row_end < row_begin || row_end > layer->out_features)
        return BL_ERR_INVALID;
    if (batch > 0 && (!d_x || !d_y)) return BL_ERR_INVALID;
    if (batch == 0 || row_begin == row_end) return BL_OK;
    size = bl__cuda_scratch_parts(layer, batch, &sums, &data);
    if (!size) return BL_ERR_OVERFLOW;
    if (cudaGetDevice(&dev) != cudaSuccess || dev != layer->device) {
        (void)cudaGetLastError();
        return BL_ERR_INVALID;
    }
    if (!bl__cuda_reachable(d_x) || !bl__cuda_reachable(d_y) || (d_scratch && !bl__cuda_reachable(d_scratch)))
        return BL_ERR_INVALID;
    if (!mem) {
        err = cudaMallocAsync(&mem, size, s);
        if (err == cudaErrorNotSupported) { /* no memory pools on this device: allocate, wait, free */
            (void)cudaGetLastError();
            err = cudaMalloc(&mem, size);
            pooled = 0;
        }
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            return bl_cuda_status(err);
        }
    }
    base = (uint8_t *)(((uintptr_t)mem + (BL__CUDA_ALIGN - 1)) & ~(uintptr_t)(BL__CUDA_ALIGN - 1));
    if (layer->act == BL_ACT_INT8) {
        bl__cuda_launch_early(bl__cuda_quantize_tokens, (unsigned)batch, BL__CUDA_QTHREADS, 0, layer->use_pdl, s, d_x,
                              layer->in_features, (1 << (layer->act_bits - 1)) - 1, (int8_t *)(base + data),
                              layer->padded_in, (float *)base, (int32_t *)(base + sums));
    } else {
        size_t total = layer->padded_in * (size_t)batch;
        size_t blocks = (total + 255) / 256;
        bl__cuda_pad_tokens<<<(unsigned)(blocks > 65535 * 8 ? 65535 * 8 : blocks), 256, 0, s>>>(
            d_x, layer->in_features, (float *)(base + data), layer->padded_in, total);
    }
    st = bl__cuda_launched();
    step = bl__cuda_tokens_per_launch(row_end - row_begin);
    for (b0 = 0; st == BL_OK && b0 < batch; b0 += step) {
        bl__cuda_fwd a;
        size_t elem = layer->act == BL_ACT_INT8 ? 1 : sizeof(float);
        memset(&a, 0, sizeof a);
        a.w = layer->packed;
        a.scales = layer->scales;
        a.bias = layer->bias;
        a.act = base + data + (size_t)b0 * layer->padded_in * elem;
        a.act_scale = (const float *)base + b0;
        a.act_sum = (const int32_t *)(base + sums) + b0;
        a.y = d_y + (size_t)b0 * (size_t)layer->out_features;
        a.row_stride = layer->row_stride;
        a.plane = (size_t)layer->out_features * layer->row_stride;
        a.padded_in = layer->padded_in;
        a.out = layer->out_features;
        a.k = layer->k;
        a.batch = batch - b0 < step ? batch - b0 : step;
        a.r0 = row_begin;
        a.r1 = row_end;
        a.blocks = layer->blocks;
        a.tok_tiles = 1;
        if (layer->format == BL_FORMAT_BASE3) bl__cuda_dispatch<BL_FORMAT_BASE3>(layer, a, s);
        else                                  bl__cuda_dispatch<BL_FORMAT_2BIT>(layer, a, s);
        st = bl__cuda_launched();
    }
    if (mem != d_scratch) {
        if (pooled) {
            err = cudaFreeAsync(mem, s);
        } else {
            cudaError_t freed;
            err = cudaStreamSynchronize(s);
            freed = cudaFree(mem);
            if (err == cudaSuccess) err = freed;
        }
        if (st == BL_OK) st = bl_cuda_status(err);
    }
    return st;
}

BITLINEAR_CUDA_DEF bl_status bl_linear_forward(const bl_cuda_linear *layer, const float *d_x, int batch,
                                               float *d_y, void *d_scratch, cudaStream_t s)
{
    if (!layer) return BL_ERR_INVALID;
    return bl_linear_forward_rows(layer, d_x, batch, d_y, 0, layer->out_features, d_scratch, s);
}

/* ---- utilities: validate on the device, wait, then write ------------------------------ */

static unsigned bl__cuda_grid(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535u * 16u ? 65535u * 16u : (b ? b : 1));
}

/* *flag = 1 when some x[i] is NaN or Inf */
static __global__ void bl__cuda_find_nonfinite(const float *x, size_t n, int *flag)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step)
        if (!(x[i] - x[i] == 0.0f)) *flag = 1;
}

static __global__ void bl__cuda_find_bad_trit(const int8_t *t, size_t n, int *flag)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step)
        if (t[i] < -1 || t[i] > 1) *flag = 1;
}

/* Runs `check` (which sets *flag), waits for it and returns the flag in *found. */
template <typename F>
static bl_status bl__cuda_check(F check, int *found, cudaStream_t s)
{
    int *flag = NULL;
    cudaError_t err = cudaMalloc((void **)&flag, sizeof(int));
    *found = 0;
    if (err == cudaSuccess) err = cudaMemsetAsync(flag, 0, sizeof(int), s);
    if (err == cudaSuccess) {
        check(flag);
        err = cudaGetLastError();
    }
    if (err == cudaSuccess) err = cudaMemcpyAsync(found, flag, sizeof(int), cudaMemcpyDeviceToHost, s);
    if (err == cudaSuccess) err = cudaStreamSynchronize(s);
    if (err != cudaSuccess) (void)cudaGetLastError();
    if (flag) (void)cudaFree(flag);
    return bl_cuda_status(err);
}

/* Where byte p of a packed row of n trits sits: its first trit and the stride between
   its digits (64 in full blocks, B in the tail). */
static __device__ __forceinline__ void bl__cuda_byte_trits(int d, int n, size_t p, size_t *first, size_t *width)
{
    size_t span = (size_t)BL__CUDA_BLOCK * (size_t)d, full = (size_t)n / span;
    if (p < full * BL__CUDA_BLOCK) {
        *first = p / BL__CUDA_BLOCK * span + p % BL__CUDA_BLOCK;
        *width = BL__CUDA_BLOCK;
    } else {
        size_t r = (size_t)n - full * span;
        *first = full * span + (p - full * BL__CUDA_BLOCK);
        *width = (r + (size_t)d - 1) / (size_t)d;
    }
}

static __global__ void bl__cuda_pack_kernel(int format, const int8_t *trits, int rows, int cols, size_t row_bytes,
                                            uint8_t *dst)
{
    size_t total = (size_t)rows * row_bytes, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t step = (size_t)gridDim.x * blockDim.x;
    int d = bl__digits(format);
    for (; i < total; i += step) {
        size_t r = i / row_bytes, p = i - r * row_bytes, first, width;
        const int8_t *t = trits + r * (size_t)cols;
        uint8_t codes[5];
        int m;
        bl__cuda_byte_trits(d, cols, p, &first, &width);
        for (m = 0; m < d; ++m) {
            size_t at = first + (size_t)m * width;
            codes[m] = (uint8_t)(at < (size_t)cols ? t[at] + 1 : 1);
        }
        dst[i] = d == 5 ? bl__base3_encode(codes)
                        : (uint8_t)(codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6);
    }
}

/* trits NULL: sets *flag for a byte that is no valid encoding or has nonzero padding */
static __global__ void bl__cuda_unpack_kernel(int format, const uint8_t *src, int rows, int cols, size_t row_bytes,
                                              int8_t *trits, int *flag)
{
    size_t total = (size_t)rows * row_bytes, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t step = (size_t)gridDim.x * blockDim.x;
    int d = bl__digits(format);
    for (; i < total; i += step) {
        size_t r = i / row_bytes, p = i - r * row_bytes, first, width;
        uint8_t byte = src[i], codes[5];
        int m, bad = 0;
        bl__cuda_byte_trits(d, cols, p, &first, &width);
        for (m = 0; m < d; ++m) {
            size_t at = first + (size_t)m * width;
            codes[m] = (uint8_t)(d == 5 ? bl__base3_code(byte, m) : bl__2bit_code(byte, m));
            if (codes[m] > 2 || (at >= (size_t)cols && codes[m] != 1)) bad = 1;
            else if (trits && at < (size_t)cols) trits[r * (size_t)cols + at] = (int8_t)(codes[m] - 1);
        }
        if (d == 5 && bl__base3_encode(codes) != byte) bad = 1;
        if (bad && flag) *flag = 1;
    }
}

static int bl__cuda_valid_format(int f) { return f == BL_FORMAT_2BIT || f == BL_FORMAT_BASE3; }

BITLINEAR_CUDA_DEF bl_status bl_pack(bl_format f, const int8_t *d_trits, int rows, int cols, void *d_dst,
                                     size_t dst_size, cudaStream_t s)
{
    size_t count, need, row_bytes;
    int found = 0;
    bl_status st;
    if (!d_trits || !d_dst || rows <= 0 || cols <= 0 || !bl__cuda_valid_format((int)f)) return BL_ERR_INVALID;
    if (!bl__cuda_mul((size_t)rows, (size_t)cols, &count)) return BL_ERR_OVERFLOW;
    need = bl_packed_size(f, rows, cols);
    row_bytes = bl_packed_row_bytes(f, cols);
    if (!need) return BL_ERR_OVERFLOW;
    if (dst_size < need) return BL_ERR_INVALID;
    if (!bl__cuda_reachable(d_trits) || !bl__cuda_reachable(d_dst)) return BL_ERR_INVALID;
    st = bl__cuda_check([&](int *flag) { bl__cuda_find_bad_trit<<<bl__cuda_grid(count, 256), 256, 0, s>>>(d_trits, count, flag); },
                        &found, s);
    if (st != BL_OK) return st;
    if (found) return BL_ERR_INVALID;
    bl__cuda_pack_kernel<<<bl__cuda_grid(need, 256), 256, 0, s>>>((int)f, d_trits, rows, cols, row_bytes,
                                                                   (uint8_t *)d_dst);
    return bl__cuda_launched();
}

BITLINEAR_CUDA_DEF bl_status bl_unpack(bl_format f, const void *d_src, size_t src_size, int rows, int cols,
                                       int8_t *d_trits, cudaStream_t s)
{
    size_t count, need, row_bytes;
    int found = 0;
    bl_status st;
    if (!d_src || !d_trits || rows <= 0 || cols <= 0 || !bl__cuda_valid_format((int)f)) return BL_ERR_INVALID;
    if (!bl__cuda_mul((size_t)rows, (size_t)cols, &count)) return BL_ERR_OVERFLOW;
    need = bl_packed_size(f, rows, cols);
    row_bytes = bl_packed_row_bytes(f, cols);
    if (!need) return BL_ERR_OVERFLOW;
    if (src_size < need) return BL_ERR_INVALID;
    if (!bl__cuda_reachable(d_src) || !bl__cuda_reachable(d_trits)) return BL_ERR_INVALID;
    st = bl__cuda_check([&](int *flag) {
        bl__cuda_unpack_kernel<<<bl__cuda_grid(need, 256), 256, 0, s>>>((int)f, (const uint8_t *)d_src, rows, cols,
                                                                         row_bytes, NULL, flag);
    }, &found, s);
    if (st != BL_OK) return st;
    if (found) return BL_ERR_FORMAT;
    bl__cuda_unpack_kernel<<<bl__cuda_grid(need, 256), 256, 0, s>>>((int)f, (const uint8_t *)d_src, rows, cols,
                                                                     row_bytes, d_trits, NULL);
    return bl__cuda_launched();
}

BITLINEAR_CUDA_DEF bl_status bl_quantize_activations(const float *d_x, int n, int bits, int8_t *d_q,
                                                     float *d_scale, cudaStream_t s)
{
    int found = 0;
    bl_status st;
    if (!d_x || !d_q || !d_scale || n <= 0 || bits < 2 || bits > 8) return BL_ERR_INVALID;
    if (!bl__cuda_reachable(d_x) || !bl__cuda_reachable(d_q) || !bl__cuda_reachable(d_scale)) return BL_ERR_INVALID;
    st = bl__cuda_check([&](int *flag) {
        bl__cuda_find_nonfinite<<<bl__cuda_grid((size_t)n, 256), 256, 0, s>>>(d_x, (size_t)n, flag);
    }, &found, s);
    if (st != BL_OK) return st;
    if (found) return BL_ERR_NONFINITE;
    bl__cuda_quantize_tokens<<<1, BL__CUDA_QTHREADS, 0, s>>>(d_x, n, (1 << (bits - 1)) - 1, d_q, (size_t)n,
                                                              d_scale, NULL);
    return bl__cuda_launched();
}

/* ---- ternarize: ABSMEAN, ABSMAX and TWN run one thread per scale group through the
   CPU's sequential double sums, so scales and thresholds come out bit for bit; the trits
   are then elementwise. ---- */

/* the CPU's bl__round_trit: clamp to [-1, 1], round half to even */
static __device__ __forceinline__ int8_t bl__cuda_round_trit(float v)
{
    v = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
    return (int8_t)bl__round_even(v);
}

/* per group: ABSMEAN its scale s, ABSMAX max|w|, TWN its threshold delta */
static __global__ void bl__cuda_group_stat(const float *w, size_t groups, size_t len, int method, double *stat)
{
    size_t gi = (size_t)blockIdx.x * blockDim.x + threadIdx.x, i;
    const float *p;
    double sum = 0.0;
    float amax = 0.0f;
    if (gi >= groups) return;
    p = w + gi * len;
    if (method == BL_METHOD_ABSMAX) {
        for (i = 0; i < len; ++i) amax = fabsf(p[i]) > amax ? fabsf(p[i]) : amax;
        stat[gi] = amax;
        return;
    }
    for (i = 0; i < len; ++i) sum = __dadd_rn(sum, (double)fabsf(p[i]));
    sum = __ddiv_rn(sum, (double)len);
    if (method == BL_METHOD_ABSMEAN) {
        float s = (float)sum;
        stat[gi] = s < 1e-5f ? 1e-5f : s;
    } else {
        stat[gi] = __dmul_rn(0.7, sum);
    }
}

static __global__ void bl__cuda_ternary_codes(const float *w, size_t n, size_t len, int method, const double *stat,
                                              int8_t *t)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step) {
        double st = stat[i / len];
        float v = w[i];
        if (method == BL_METHOD_ABSMEAN) {
            t[i] = bl__cuda_round_trit(__fdiv_rn(v, (float)st));
        } else if (method == BL_METHOD_ABSMAX) {
            t[i] = st > 0.0 ? bl__cuda_round_trit(__fdiv_rn(v, (float)st)) : (int8_t)0;
        } else {
            t[i] = (double)fabsf(v) > st ? (int8_t)((v > 0.0f) - (v < 0.0f)) : (int8_t)0;
        }
    }
}

/* the scale: ABSMEAN its s; otherwise the least-squares fit mean |w| over nonzero trits */
static __global__ void bl__cuda_group_scale(const float *w, const int8_t *t, size_t groups, size_t len, int method,
                                            const double *stat, float *scales)
{
    size_t gi = (size_t)blockIdx.x * blockDim.x + threadIdx.x, i, m = 0;
    double sum = 0.0;
    if (gi >= groups) return;
    if (method == BL_METHOD_ABSMEAN) {
        scales[gi] = (float)stat[gi];
        return;
    }
    for (i = gi * len; i < (gi + 1) * len; ++i)
        if (t[i]) {
            sum = __dadd_rn(sum, (double)fabsf(w[i]));
            ++m;
        }
    scales[gi] = m ? (float)__ddiv_rn(sum, (double)m) : 0.0f;
}

/* OPTIMAL sorts within scale groups: it runs as the CPU's own bl_ternarize on a host copy
   (the very same code, so the very same trits and scales), then the results go back. */
static bl_status bl__cuda_ternarize_on_host(const float *d_w, int rows, int cols, bl_scaling scaling, int8_t *d_trits,
                                            float *d_scales, cudaStream_t s)
{
    size_t count = (size_t)rows * (size_t)cols, groups = scaling == BL_SCALING_ROW ? (size_t)rows : 1;
    float *w = NULL, *scales = NULL;
    int8_t *trits = NULL;
    bl_status st = BL_OK;
    cudaError_t err;
    if (count > (size_t)-1 / sizeof(float)) return BL_ERR_OVERFLOW;
    w = (float *)malloc(count * sizeof(float));
    trits = (int8_t *)malloc(count);
    scales = (float *)malloc(groups * sizeof(float));
    if (!w || !trits || !scales) st = BL_ERR_NOMEM;
    if (st == BL_OK) {
        err = cudaMemcpyAsync(w, d_w, count * sizeof(float), cudaMemcpyDeviceToHost, s);
        if (err == cudaSuccess) err = cudaStreamSynchronize(s);
        st = bl_cuda_status(err);
    }
    if (st == BL_OK) st = bl_ternarize(w, rows, cols, BL_METHOD_OPTIMAL, scaling, trits, scales);
    if (st == BL_OK) {
        err = cudaMemcpyAsync(d_trits, trits, count, cudaMemcpyHostToDevice, s);
        if (err == cudaSuccess) err = cudaMemcpyAsync(d_scales, scales, groups * sizeof(float), cudaMemcpyHostToDevice, s);
        if (err == cudaSuccess) err = cudaStreamSynchronize(s); /* before the host buffers go */
        st = bl_cuda_status(err);
    }
    if (st != BL_OK) (void)cudaGetLastError();
    free(w);
    free(trits);
    free(scales);
    return st;
}

BITLINEAR_CUDA_DEF bl_status bl_ternarize(const float *d_w, int rows, int cols, bl_method method,
                                          bl_scaling scaling, int8_t *d_trits, float *d_scales, cudaStream_t s)
{
    size_t count, groups, len;
    double *stat = NULL;
    int found = 0;
    bl_status st;
    cudaError_t err;
    if (!d_w || !d_trits || !d_scales || rows <= 0 || cols <= 0) return BL_ERR_INVALID;
    if (!bl__cuda_mul((size_t)rows, (size_t)cols, &count)) return BL_ERR_OVERFLOW;
    if ((int)method < BL_METHOD_OPTIMAL || (int)method > BL_METHOD_TWN ||
        (scaling != BL_SCALING_ROW && scaling != BL_SCALING_TENSOR))
        return BL_ERR_INVALID;
    if (!bl__cuda_reachable(d_w) || !bl__cuda_reachable(d_trits) || !bl__cuda_reachable(d_scales))
        return BL_ERR_INVALID;
    st = bl__cuda_check([&](int *flag) {
        bl__cuda_find_nonfinite<<<bl__cuda_grid(count, 256), 256, 0, s>>>(d_w, count, flag);
    }, &found, s);
    if (st != BL_OK) return st;
    if (found) return BL_ERR_NONFINITE;
    if (method == BL_METHOD_OPTIMAL) return bl__cuda_ternarize_on_host(d_w, rows, cols, scaling, d_trits, d_scales, s);
    groups = scaling == BL_SCALING_ROW ? (size_t)rows : 1;
    len = scaling == BL_SCALING_ROW ? (size_t)cols : count;
    err = cudaMalloc((void **)&stat, groups * sizeof(double));
    if (err == cudaSuccess) {
        unsigned gb = (unsigned)((groups + 127) / 128);
        bl__cuda_group_stat<<<gb, 128, 0, s>>>(d_w, groups, len, (int)method, stat);
        bl__cuda_ternary_codes<<<bl__cuda_grid(count, 256), 256, 0, s>>>(d_w, count, len, (int)method, stat, d_trits);
        bl__cuda_group_scale<<<gb, 128, 0, s>>>(d_w, d_trits, groups, len, (int)method, stat, d_scales);
        err = cudaGetLastError();
        if (err == cudaSuccess) err = cudaStreamSynchronize(s); /* before freeing stat */
    }
    if (err != cudaSuccess) (void)cudaGetLastError();
    if (stat) (void)cudaFree(stat);
    return bl_cuda_status(err);
}

#endif /* BITLINEAR_CUDA_IMPLEMENTATION */

/*
    LICENSE: the same as bitlinear.h (see the end of that file).
*/
