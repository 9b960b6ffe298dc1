/* `make bench-cuda`: bitlinear_cuda.h forward against the device's own limits and cuBLAS.

   For each shape (out x in) and batch: the median time of bl_linear_forward (activation
   quantization + kernel) over many runs after warm-up, the packed weights' GB/s and its
   share of the measured device read bandwidth, and cuBLAS fp16 GEMM (cublasGemmEx,
   fp16 in/out, fp32 accumulation) on the same shape. Weights (ours and cuBLAS's) are
   rotated through enough copies that the working set exceeds the L2 cache, so every run
   streams from device memory. Outputs are checked against the CPU before timing. Prints
   a Markdown table and writes JSON (build/bench/bench_cuda.json, or the path given as
   the first argument). */
#define BITLINEAR_IMPLEMENTATION
#define BITLINEAR_CUDA_IMPLEMENTATION
#include "bitlinear_cuda.h"
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <vector>
#include <algorithm>

#define WARMUP 10
#define SAMPLES 15
#define GROUP 20 /* calls between one pair of events: launch gaps stay out of the figure */

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CKB(call)                                                                                  \
    do {                                                                                           \
        cublasStatus_t e_ = (call);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #call, (int)e_);  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CKL(call)                                                                                  \
    do {                                                                                           \
        bl_status e_ = (call);                                                                     \
        if (e_ != BL_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, bl_status_string(e_));   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void)
{
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Median over SAMPLES of the time per call of GROUP calls fn(i) queued back to back
   between two events: the device time per call once the host keeps ahead, as in a
   model that launches its layers asynchronously. */
template <typename F>
static double median_ms(F fn, cudaStream_t s)
{
    std::vector<float> t(SAMPLES);
    cudaEvent_t a, b;
    int i, r;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (i = 0; i < WARMUP; ++i) fn(i);
    CK(cudaStreamSynchronize(s));
    for (r = 0; r < SAMPLES; ++r) {
        CK(cudaEventRecord(a, s));
        for (i = 0; i < GROUP; ++i) fn(WARMUP + r * GROUP + i);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&t[r], a, b));
        t[r] /= GROUP;
    }
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(t.begin(), t.end());
    return (double)t[SAMPLES / 2];
}

/* reads n uint4 and writes one word per block, so the loads cannot be dropped */
static __global__ void read_kernel(const uint4 *p, size_t n, unsigned *sink)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    unsigned acc = 0;
    for (; i < n; i += step) {
        uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) sink[blockIdx.x] = acc;
}

static __global__ void fill_half(__half *p, size_t n, uint32_t seed)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        p[i] = __float2half(((float)(h & 0xFFFF) / 65536.0f - 0.5f) * 0.05f);
    }
}

static __global__ void fill_float(float *p, size_t n, uint32_t seed)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13;
        p[i] = ((float)(h & 0xFFFF) / 65536.0f - 0.5f) * 4.0f;
    }
}

static __global__ void to_half(const float *x, __half *h, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += step) h[i] = __float2half(x[i]);
}

/* copies needed so `bytes` per copy add up to at least 4x the L2 size */
static int rotation(size_t bytes, int l2)
{
    size_t want = (size_t)l2 * 4;
    size_t n = (want + bytes - 1) / bytes;
    return n < 2 ? 2 : (int)n;
}

int main(int argc, char **argv)
{
    static const int shapes[][2] = { { 8192, 8192 }, { 28672, 8192 }, { 8192, 28672 } }; /* out x in */
    static const int batches[] = { 1, 16, 128 };
    static const bl_format formats[] = { BL_FORMAT_2BIT, BL_FORMAT_BASE3 };
    const char *json_path = argc > 1 ? argv[1] : "build/bench/bench_cuda.json";
    int devices = 0, dev = 0, l2 = 0;
    cudaDeviceProp prop;
    cudaStream_t s;
    cublasHandle_t blas;
    double read_gbs, copy_gbs;
    FILE *json;
    size_t si, bi, fi;
    int first = 1;

    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("skipped: no CUDA device\n");
        return 0;
    }
    CK(cudaGetDevice(&dev));
    CK(cudaGetDeviceProperties(&prop, dev));
    CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    CK(cudaStreamCreate(&s));
    CKB(cublasCreate(&blas));
    CKB(cublasSetStream(blas, s));
    CKB(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));

    /* the device's limits: a streaming read kernel and a device-to-device copy of 1 GiB */
    {
        size_t bytes = (size_t)1 << 30;
        uint8_t *a, *b;
        unsigned *sink;
        CK(cudaMalloc((void **)&a, bytes));
        CK(cudaMalloc((void **)&b, bytes));
        CK(cudaMalloc((void **)&sink, 65536 * sizeof(unsigned)));
        CK(cudaMemset(a, 1, bytes));
        double ms = median_ms([&](int) { read_kernel<<<prop.multiProcessorCount * 8, 512, 0, s>>>((const uint4 *)a, bytes / 16, sink); }, s);
        CK(cudaGetLastError());
        read_gbs = (double)bytes / (ms * 1e6);
        ms = median_ms([&](int) { CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); }, s);
        copy_gbs = 2.0 * (double)bytes / (ms * 1e6); /* read + write */
        CK(cudaFree(a));
        CK(cudaFree(b));
        CK(cudaFree(sink));
    }
    printf("device: %s (sm_%d%d, %d SMs, L2 %d MB)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
           l2 >> 20);
    printf("measured: read kernel %.0f GB/s, cudaMemcpy D2D %.0f GB/s (read+write)\n\n", read_gbs, copy_gbs);
    json = fopen(json_path, "w");
    if (json)
        fprintf(json, "{\n  \"device\": \"%s\",\n  \"read_gbs\": %.1f,\n  \"copy_gbs\": %.1f,\n  \"results\": [\n",
                prop.name, read_gbs, copy_gbs);
    printf("| shape (out x in) | format | batch | bitlinear us | weights GB/s | %% of read BW | %% of copy BW | cuBLAS fp16 us | speedup |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");

    for (si = 0; si < sizeof shapes / sizeof shapes[0]; ++si) {
        int out = shapes[si][0], in = shapes[si][1];
        size_t nw = (size_t)out * in, hbytes = nw * sizeof(__half);
        int hcopies = rotation(hbytes, l2);
        std::vector<__half *> hw(hcopies);
        float *d_x;
        __half *d_xh, *d_yh;
        float *d_y;
        size_t max_batch = 128;
        double cublas_us[sizeof batches / sizeof batches[0]];
        int c;
        for (c = 0; c < hcopies; ++c) {
            CK(cudaMalloc((void **)&hw[c], hbytes));
            fill_half<<<1024, 256, 0, s>>>(hw[c], nw, 1234u + (uint32_t)c);
        }
        CK(cudaMalloc((void **)&d_x, max_batch * in * sizeof(float) * 4));
        CK(cudaMalloc((void **)&d_xh, max_batch * in * sizeof(__half)));
        CK(cudaMalloc((void **)&d_y, max_batch * out * sizeof(float)));
        CK(cudaMalloc((void **)&d_yh, max_batch * out * sizeof(__half)));
        fill_float<<<1024, 256, 0, s>>>(d_x, max_batch * in * 4, 99u);
        to_half<<<1024, 256, 0, s>>>(d_x, d_xh, max_batch * in);
        CK(cudaGetLastError());

        for (fi = 0; fi < sizeof formats / sizeof formats[0]; ++fi) {
            bl_linear_desc d;
            bl_linear *host = NULL;
            std::vector<int8_t> trits(nw);
            std::vector<float> scales(out);
            size_t i;
            int copies;
            std::vector<bl_cuda_linear *> layers;
            void *scratch;
            for (i = 0; i < nw; ++i) {
                uint32_t r = next_u32() % 3;
                trits[i] = (int8_t)((int)r - 1);
            }
            for (i = 0; i < (size_t)out; ++i) scales[i] = 0.01f + (float)(next_u32() % 1000) * 1e-5f;
            memset(&d, 0, sizeof d);
            d.in_features = in;
            d.out_features = out;
            d.trits = trits.data();
            d.scales = scales.data();
            d.format = formats[fi];
            CKL(bl_linear_create(&d, &host));
            {
                bl_cuda_linear *probe;
                CKL(bl_cuda_linear_upload(host, &probe, s));
                copies = rotation(bl_cuda_linear_nbytes(probe), l2);
                layers.push_back(probe);
            }
            for (c = 1; c < copies; ++c) {
                bl_cuda_linear *L;
                CKL(bl_cuda_linear_upload(host, &L, s));
                layers.push_back(L);
            }
            CK(cudaMalloc(&scratch, bl_linear_scratch_size(layers[0], (int)max_batch)));

            /* the result is checked once against the CPU, so the timing times real work */
            if (fi == 0) {
                std::vector<float> x(in), ref(out), got(out);
                CK(cudaMemcpy(x.data(), d_x, in * sizeof(float), cudaMemcpyDeviceToHost));
                CKL(bl_set_backend(BL_BACKEND_SCALAR));
                CKL(bl_linear_forward(host, x.data(), 1, ref.data(), NULL));
                CKL(bl_linear_forward(layers[0], d_x, 1, d_y, scratch, s));
                CK(cudaMemcpy(got.data(), d_y, out * sizeof(float), cudaMemcpyDeviceToHost));
                if (memcmp(got.data(), ref.data(), out * sizeof(float)) != 0) {
                    fprintf(stderr, "bench: GPU output differs from the CPU at %dx%d\n", out, in);
                    return 1;
                }
            }
            /* and tokens 0 and 127 of a batch of 128 (the tensor-core path), both formats;
               the CPU's SIMD backends give the scalar backend's bits (tests/test_backends.c) */
            {
                const size_t last = max_batch - 1;
                std::vector<float> x2(2 * (size_t)in), ref2(2 * (size_t)out), got2(max_batch * (size_t)out);
                CK(cudaMemcpy(x2.data(), d_x, in * sizeof(float), cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(x2.data() + in, d_x + last * in, in * sizeof(float), cudaMemcpyDeviceToHost));
                CKL(bl_set_backend(BL_BACKEND_AUTO));
                CKL(bl_linear_forward(host, x2.data(), 2, ref2.data(), NULL));
                CKL(bl_linear_forward(layers[0], d_x, (int)max_batch, d_y, scratch, s));
                CK(cudaMemcpy(got2.data(), d_y, got2.size() * sizeof(float), cudaMemcpyDeviceToHost));
                if (memcmp(got2.data(), ref2.data(), out * sizeof(float)) != 0 ||
                    memcmp(got2.data() + last * out, ref2.data() + out, out * sizeof(float)) != 0) {
                    fprintf(stderr, "bench: GPU batch-128 output differs from the CPU at %dx%d\n", out, in);
                    return 1;
                }
            }

            for (bi = 0; bi < sizeof batches / sizeof batches[0]; ++bi) {
                int batch = batches[bi];
                size_t packed = (size_t)out * bl_packed_row_bytes(formats[fi], in);
                double ours = median_ms([&](int it) {
                    const float *x = d_x + (size_t)(it % 4) * max_batch * in; /* fresh inputs */
                    CKL(bl_linear_forward(layers[(size_t)it % layers.size()], x, batch, d_y, scratch, s));
                }, s);
                double theirs;
                if (fi == 0) {
                    const float alpha = 1.0f, beta = 0.0f;
                    theirs = median_ms([&](int it) {
                        /* y^T[out x batch] = W[out x in] x^T: W row-major is the column-major W^T */
                        CKB(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, out, batch, in, &alpha,
                                         hw[(size_t)it % hw.size()], CUDA_R_16F, in, d_xh, CUDA_R_16F, in, &beta,
                                         d_yh, CUDA_R_16F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
                    }, s);
                    cublas_us[bi] = theirs;
                }
                theirs = cublas_us[bi];
                double gbs = (double)packed / (ours * 1e6);
                printf("| %dx%d | %s | %d | %.1f | %.0f | %.0f%% | %.0f%% | %.1f | %.2fx |\n", out, in,
                       formats[fi] == BL_FORMAT_2BIT ? "2bit" : "base3", batch, ours * 1e3, gbs,
                       100.0 * gbs / read_gbs, 100.0 * gbs / copy_gbs, theirs * 1e3, theirs / ours);
                fflush(stdout);
                if (json) {
                    fprintf(json, "%s    {\"out\": %d, \"in\": %d, \"format\": \"%s\", \"batch\": %d, \"us\": %.2f, "
                                  "\"weights_gbs\": %.1f, \"read_bw_fraction\": %.4f, \"copy_bw_fraction\": %.4f, "
                                  "\"cublas_fp16_us\": %.2f}",
                            first ? "" : ",\n", out, in, formats[fi] == BL_FORMAT_2BIT ? "2bit" : "base3", batch,
                            ours * 1e3, gbs, gbs / read_gbs, gbs / copy_gbs, theirs * 1e3);
                    first = 0;
                }
            }
            for (c = 0; c < (int)layers.size(); ++c) bl_cuda_linear_destroy(layers[c]);
            CK(cudaFree(scratch));
            bl_linear_destroy(host);
        }
        for (c = 0; c < hcopies; ++c) CK(cudaFree(hw[c]));
        CK(cudaFree(d_x));
        CK(cudaFree(d_xh));
        CK(cudaFree(d_y));
        CK(cudaFree(d_yh));
    }
    if (json) {
        fprintf(json, "\n  ]\n}\n");
        fclose(json);
        printf("\nJSON: %s\n", json_path);
    }
    cublasDestroy(blas);
    cudaStreamDestroy(s);
    return 0;
}
