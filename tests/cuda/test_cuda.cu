/* bitlinear_cuda.h against the CPU scalar backend.

   test_cuda          the device tests: INT8 outputs bit for bit equal to the CPU, FLOAT
                      outputs within rounding, row ranges, poisoned outputs, bad input,
                      device ternarize/pack/unpack/quantize equal to the host functions.
                      Without a device: "skipped: no CUDA device" and zero counts.
   test_cuda --host   host-only checks that need no GPU: the upload re-layout and the
                      kernels' decode and tensor-core fragment mapping, emulated lane by
                      lane on the CPU and compared with the scalar backend. */
#define BITLINEAR_IMPLEMENTATION
#define BITLINEAR_CUDA_IMPLEMENTATION
#include "bitlinear_cuda.h"
#include "tests/test.h"

#ifdef BITLINEAR_TEST_QUICK
#  define BT_CASES 40
#else
#  define BT_CASES 120
#endif

/* every CUDA call is checked; a failure counts and stops the current case */
#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        bt_check(e_ == cudaSuccess, #call, __FILE__, __LINE__);                                    \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "  CUDA: %s\n", cudaGetErrorString(e_));                               \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

static const uint32_t bt_poison = 0x7FBADBADu; /* a NaN that no kernel computes */
static cudaStream_t bt_stream; /* a non-blocking stream: the forward may launch early there */

/* cudaFree, checked too (NULL is fine) */
static void bt_free(void *p) { CHECK(cudaFree(p) == cudaSuccess); }

static int bt_is_poison(float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return u == bt_poison;
}

static void bt_random_trits(int8_t *t, size_t n, int zero_pct)
{
    size_t i;
    for (i = 0; i < n; ++i) t[i] = (int)(bt_u32() % 100) < zero_pct ? 0 : (bt_u32() & 1 ? 1 : -1);
}

static void bt_random_x(float *x, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) x[i] = bt_gauss() * (bt_u32() % 16 == 0 ? 8.0f : 1.0f);
}

/* A layer from random trits and scales (no quantization: fast for big shapes). */
static bl_linear *bt_layer(int in, int out, int k, bl_format f, bl_act act, int bits, int with_bias)
{
    bl_linear_desc d;
    bl_linear *L = NULL;
    size_t n = (size_t)in * (size_t)out * (size_t)k, i;
    int8_t *t = (int8_t *)bt_alloc(n);
    float *s = (float *)bt_alloc((size_t)out * (size_t)k * sizeof(float));
    float *b = (float *)bt_alloc((size_t)out * sizeof(float));
    bt_random_trits(t, n, (int)(bt_u32() % 60));
    for (i = 0; i < (size_t)out * (size_t)k; ++i) s[i] = bt_uniform(0.001f, 0.1f);
    for (i = 0; i < (size_t)out; ++i) b[i] = bt_gauss();
    memset(&d, 0, sizeof d);
    d.in_features = in;
    d.out_features = out;
    d.trits = t;
    d.scales = s;
    d.bias = with_bias ? b : NULL;
    d.k = k;
    d.format = f;
    d.act = act;
    d.act_bits = bits;
    if (bl_linear_create(&d, &L) != BL_OK) L = NULL;
    free(t);
    free(s);
    free(b);
    return L;
}

/* ======================= host-only emulation of the kernels ======================= */

/* The dp4a GEMV's walk (chunk c of 16 bytes, digit m, 4 words) and the tensor-core
   kernel's fragment mapping, run for one 16-row x 8-token tile on the CPU with the
   same decode helpers, against the scalar backend. */
static void bt_emulate_case(int in, int out, int k, bl_format f, int batch)
{
    bl_linear *L = bt_layer(in, out, k, f, BL_ACT_INT8, 8, bt_u32() & 1);
    bl_linear_info info;
    int d = f == BL_FORMAT_BASE3 ? 5 : 4, span = 64 * d;
    int blocks = (in + span - 1) / span, r, b, j, m, c, i;
    size_t stride = (size_t)blocks * 64, padded = stride * (size_t)d;
    uint8_t *dev = NULL;
    int8_t *q = NULL;
    float *x = NULL, *ref = NULL, *act_scale = NULL, *emu_gemv = NULL, *emu_mma = NULL;
    int32_t *act_sum = NULL;
    CHECK(L != NULL);
    if (!L) return;
    bl_linear_get_info(L, &info);
    dev = (uint8_t *)bt_alloc((size_t)k * out * stride);
    q = (int8_t *)bt_alloc((size_t)batch * padded);
    x = (float *)bt_alloc((size_t)batch * in * sizeof(float));
    ref = (float *)bt_alloc((size_t)batch * out * sizeof(float));
    emu_gemv = (float *)bt_alloc((size_t)batch * out * sizeof(float));
    emu_mma = (float *)bt_alloc((size_t)batch * out * sizeof(float));
    act_scale = (float *)bt_alloc((size_t)batch * sizeof(float));
    act_sum = (int32_t *)bt_alloc((size_t)batch * sizeof(int32_t));
    for (r = 0; r < k * out; ++r)
        bl__cuda_relayout_row((int)f, in, info.packed + (size_t)r * info.row_bytes, dev + (size_t)r * stride, blocks);
    bt_random_x(x, (size_t)batch * in);
    memset(q, 0, (size_t)batch * padded);
    for (b = 0; b < batch; ++b) {
        CHECK(bl_quantize_activations(x + (size_t)b * in, in, 8, q + (size_t)b * padded, &act_scale[b]) == BL_OK);
        act_sum[b] = 0;
        for (i = 0; i < in; ++i) act_sum[b] += q[(size_t)b * padded + i];
    }
    CHECK(bl_set_backend(BL_BACKEND_SCALAR) == BL_OK);
    CHECK(bl_linear_forward(L, x, batch, ref, NULL) == BL_OK);

    /* GEMV: per row and token, the sum over lanes of the lane's chunks */
    for (b = 0; b < batch; ++b)
        for (r = 0; r < out; ++r) {
            int32_t dots[BL_MAX_K];
            for (j = 0; j < k; ++j) {
                const uint8_t *w = dev + ((size_t)j * out + r) * stride;
                int acc = 0;
                for (c = 0; c < blocks * 4; ++c) {
                    uint4 v;
                    uint32_t codes[4];
                    size_t off = (size_t)(c >> 2) * span + (size_t)(c & 3) * 16;
                    bl__cuda_dec16<BL_FORMAT_2BIT> d2;
                    bl__cuda_dec16<BL_FORMAT_BASE3> d3;
                    memcpy(&v, w + (size_t)c * 16, 16);
                    d2.init(v);
                    d3.init(v);
                    for (m = 0; m < d; ++m) {
                        const int8_t *a = q + (size_t)b * padded + off + 64 * m;
                        if (f == BL_FORMAT_BASE3) d3.next(m, codes);
                        else d2.next(m, codes);
                        for (i = 0; i < 16; ++i) acc += (int)((codes[i / 4] >> (8 * (i % 4))) & 0xFF) * a[i];
                    }
                }
                dots[j] = acc - act_sum[b];
            }
            emu_gemv[(size_t)b * out + r] = bl__int8_output(dots, info.scales, k, out, r, act_scale[b], info.bias);
        }

    /* MMA: tiles of 16 rows x 8 tokens; 32 lanes build their fragments, then the
       PTX-defined product D[row][tok] = sum_k A[row][k] * B[k][tok] */
    for (r = 0; r < out; r += 16)
        for (b = 0; b < batch; b += 8) {
            int32_t dots[16][8][BL_MAX_K];
            for (j = 0; j < k; ++j) {
                int acc[32][4];
                memset(acc, 0, sizeof acc);
                for (int blk = 0; blk < blocks; ++blk) {
                    /* each lane's decoders, advanced one digit per m as in the kernel */
                    bl__cuda_dec16<BL_FORMAT_2BIT> da2[32], db2[32];
                    bl__cuda_dec16<BL_FORMAT_BASE3> da3[32], db3[32];
                    for (int lane = 0; lane < 32; ++lane) {
                        int g = lane >> 2, tq = lane & 3;
                        int ra = r + g < out ? r + g : out - 1, rb = r + g + 8 < out ? r + g + 8 : out - 1;
                        uint4 wa, wb;
                        memcpy(&wa, dev + ((size_t)j * out + ra) * stride + (size_t)blk * 64 + 16 * tq, 16);
                        memcpy(&wb, dev + ((size_t)j * out + rb) * stride + (size_t)blk * 64 + 16 * tq, 16);
                        da2[lane].init(wa); db2[lane].init(wb);
                        da3[lane].init(wa); db3[lane].init(wb);
                    }
                    for (m = 0; m < d; ++m) {
                        int8_t A[2][16][32], B[2][32][8];
                        for (int lane = 0; lane < 32; ++lane) {
                            int g = lane >> 2, tq = lane & 3, h, e;
                            int tok = b + g < batch ? b + g : batch - 1;
                            uint4 bv;
                            uint32_t ca[4], cb[4];
                            memcpy(&bv, q + (size_t)tok * padded + (size_t)blk * span + 64 * m + 16 * tq, 16);
                            if (f == BL_FORMAT_BASE3) {
                                da3[lane].next(m, ca);
                                db3[lane].next(m, cb);
                            } else {
                                da2[lane].next(m, ca);
                                db2[lane].next(m, cb);
                            }
                            /* mma h uses a0..a3 = {ca[2h], cb[2h], ca[2h+1], cb[2h+1]}, b0,b1 = words 2h, 2h+1 */
                            for (h = 0; h < 2; ++h) {
                                uint32_t a_reg[4] = { ca[2 * h], cb[2 * h], ca[2 * h + 1], cb[2 * h + 1] };
                                uint32_t b_reg[2] = { h ? bv.z : bv.x, h ? bv.w : bv.y };
                                for (e = 0; e < 4; ++e) {
                                    A[h][g][4 * tq + e] = (int8_t)(a_reg[0] >> (8 * e));
                                    A[h][g + 8][4 * tq + e] = (int8_t)(a_reg[1] >> (8 * e));
                                    A[h][g][16 + 4 * tq + e] = (int8_t)(a_reg[2] >> (8 * e));
                                    A[h][g + 8][16 + 4 * tq + e] = (int8_t)(a_reg[3] >> (8 * e));
                                    B[h][4 * tq + e][g] = (int8_t)(b_reg[0] >> (8 * e));
                                    B[h][16 + 4 * tq + e][g] = (int8_t)(b_reg[1] >> (8 * e));
                                }
                            }
                        }
                        for (int lane = 0; lane < 32; ++lane) {
                            int g = lane >> 2, tq = lane & 3, h, e, kk;
                            for (e = 0; e < 4; ++e) {
                                int row = g + (e >= 2 ? 8 : 0), col = 2 * tq + (e & 1);
                                for (h = 0; h < 2; ++h)
                                    for (kk = 0; kk < 32; ++kk) acc[lane][e] += A[h][row][kk] * B[h][kk][col];
                            }
                        }
                    }
                }
                for (int lane = 0; lane < 32; ++lane) {
                    int g = lane >> 2, tq = lane & 3, e;
                    for (e = 0; e < 4; ++e) {
                        int row = g + (e >= 2 ? 8 : 0), col = 2 * tq + (e & 1);
                        int tok = b + col < batch ? b + col : batch - 1;
                        dots[row][col][j] = acc[lane][e] - act_sum[tok];
                    }
                }
            }
            for (int row = 0; row < 16 && r + row < out; ++row)
                for (int col = 0; col < 8 && b + col < batch; ++col)
                    emu_mma[(size_t)(b + col) * out + r + row] =
                        bl__int8_output(dots[row][col], info.scales, k, out, r + row, act_scale[b + col], info.bias);
        }
    CHECK(memcmp(ref, emu_gemv, (size_t)batch * out * sizeof(float)) == 0);
    CHECK(memcmp(ref, emu_mma, (size_t)batch * out * sizeof(float)) == 0);
    bl_linear_destroy(L);
    free(dev); free(q); free(x); free(ref); free(emu_gemv); free(emu_mma); free(act_scale); free(act_sum);
}

static void bt_host_tests(void)
{
    static const int ins[] = { 1, 3, 5, 63, 64, 65, 255, 256, 257, 319, 320, 321, 641, 1000 };
    size_t i;
    int fmt;
    /* the decoders against the shared per-byte helpers: every byte in every lane, and
       random words (lanes must not leak into each other) */
    for (i = 0; i < 256 + 4000; ++i) {
        uint4 v;
        uint32_t c2[4], c3[4];
        bl__cuda_dec16<BL_FORMAT_2BIT> d2;
        bl__cuda_dec16<BL_FORMAT_BASE3> d3;
        int m, e, ok = 1;
        if (i < 256) {
            v.x = v.y = v.z = v.w = (uint32_t)i * 0x01010101u;
        } else {
            v.x = bt_u32(); v.y = bt_u32(); v.z = bt_u32(); v.w = bt_u32();
        }
        d2.init(v);
        d3.init(v);
        for (m = 0; m < 5; ++m) {
            d3.next(m, c3);
            if (m < 4) d2.next(m, c2);
            for (e = 0; e < 16; ++e) {
                uint32_t word = e < 4 ? v.x : e < 8 ? v.y : e < 12 ? v.z : v.w;
                uint8_t byte = (uint8_t)(word >> (8 * (e % 4)));
                ok &= ((c3[e / 4] >> (8 * (e % 4))) & 0xFFu) == bl__base3_code(byte, m);
                if (m < 4) ok &= ((c2[e / 4] >> (8 * (e % 4))) & 0xFFu) == bl__2bit_code(byte, m);
            }
        }
        CHECK(ok);
    }
    for (fmt = 0; fmt < 2; ++fmt)
        for (i = 0; i < sizeof ins / sizeof ins[0]; ++i)
            bt_emulate_case(ins[i], 1 + (int)(bt_u32() % 40), 1 + (int)(bt_u32() % 3), (bl_format)fmt,
                            1 + (int)(bt_u32() % 12));
}

/* ============================== device tests ============================== */

/* One forward on the device vs the CPU scalar backend. */
static void bt_forward_case(int in, int out, int k, bl_format f, bl_act act, int bits, int batch, int bias,
                            int use_scratch, int ranged)
{
    bl_linear *L = bt_layer(in, out, k, f, act, bits, bias);
    bl_cuda_linear *D = NULL;
    size_t ny = (size_t)batch * out, nx = (size_t)batch * in, i;
    float *x = (float *)bt_alloc(nx * sizeof(float)), *ref = (float *)bt_alloc(ny * sizeof(float));
    float *got = (float *)bt_alloc(ny * sizeof(float));
    float *d_x = NULL, *d_y = NULL;
    void *d_scratch = NULL;
    int r0 = 0, r1 = out, bad = 0, outside = 0, b, r;
    double worst = 0.0;
    CHECK(L != NULL);
    if (!L) goto done;
    bt_random_x(x, nx);
    if (ranged) {
        r0 = (int)(bt_u32() % (unsigned)out);
        r1 = r0 + 1 + (int)(bt_u32() % (unsigned)(out - r0));
    }
    CHECK(bl_set_backend(BL_BACKEND_SCALAR) == BL_OK);
    CHECK(bl_linear_forward(L, x, batch, ref, NULL) == BL_OK);
    CHECK_EQ_INT(bl_cuda_linear_upload(L, &D, 0), BL_OK);
    if (!D) goto done;
    CK(cudaMalloc((void **)&d_x, nx * sizeof(float)));
    CK(cudaMalloc((void **)&d_y, ny * sizeof(float)));
    /* use_scratch 2: a scratch pointer off any alignment */
    if (use_scratch) CK(cudaMalloc(&d_scratch, bl_linear_scratch_size(D, batch) + 4));
    CK(cudaMemcpy(d_x, x, nx * sizeof(float), cudaMemcpyHostToDevice));
    for (i = 0; i < ny; ++i) memcpy(&got[i], &bt_poison, 4);
    CK(cudaMemcpy(d_y, got, ny * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaDeviceSynchronize()); /* the copies above are done before another stream reads them */
    {
        cudaStream_t s = bt_u32() & 1 ? bt_stream : 0;
        CHECK_EQ_INT(bl_linear_forward_rows(D, d_x, batch, d_y, r0, r1,
                                            use_scratch == 2 ? (void *)((char *)d_scratch + 3) : d_scratch, s),
                     BL_OK);
        CK(cudaStreamSynchronize(s));
    }
    CK(cudaMemcpy(got, d_y, ny * sizeof(float), cudaMemcpyDeviceToHost));
    for (b = 0; b < batch; ++b)
        for (r = 0; r < out; ++r) {
            size_t at = (size_t)b * out + r;
            if (r < r0 || r >= r1) {
                outside += !bt_is_poison(got[at]);
            } else if (act == BL_ACT_INT8) {
                bad += memcmp(&got[at], &ref[at], 4) != 0;
            } else {
                double e = fabs((double)got[at] - (double)ref[at]) / (1.0 + fabs((double)ref[at]));
                worst = e > worst ? e : worst;
                bad += !(e < 1e-4);
            }
        }
    if (bad || outside)
        fprintf(stderr, "  forward in=%d out=%d k=%d fmt=%d act=%d bits=%d batch=%d rows=[%d,%d): %d wrong, %d "
                        "outside written (worst rel %g)\n", in, out, k, (int)f, (int)act, bits, batch, r0, r1, bad,
                outside, worst);
    CHECK(bad == 0);
    CHECK(outside == 0);
done:
    bt_free(d_x);
    bt_free(d_y);
    bt_free(d_scratch);
    bl_cuda_linear_destroy(D);
    bl_linear_destroy(L);
    free(x); free(ref); free(got);
}

static void bt_forward_tests(void)
{
    static const int ins[] = { 1, 2, 3, 5, 17, 63, 64, 65, 255, 256, 257, 319, 320, 321, 511, 640, 641, 1000, 1023,
                               2049, 4097 };
    static const int batches[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64 };
    int c;
    for (c = 0; c < BT_CASES; ++c) {
        int in = ins[bt_u32() % (sizeof ins / sizeof ins[0])];
        int out = bt_int(1, 300);
        int k = 1 + (int)(bt_u32() % 3);
        bl_format f = (bl_format)(bt_u32() % 2);
        bl_act act = bt_u32() % 5 == 0 ? BL_ACT_FLOAT : BL_ACT_INT8;
        int bits = bt_u32() % 4 == 0 ? 2 + (int)(bt_u32() % 7) : 8;
        int batch = batches[bt_u32() % (sizeof batches / sizeof batches[0])];
        bt_forward_case(in, out, k, f, act, bits, batch, (int)(bt_u32() & 1), bt_int(0, 2),
                        (int)(bt_u32() % 3 == 0));
    }
    /* every k up to the maximum, and the largest rows of the tensor-core tiling */
    for (c = 1; c <= BL_MAX_K; ++c) bt_forward_case(333, 77, c, (bl_format)(c & 1), BL_ACT_INT8, 8, c * 7, 1, 1, 0);
    /* enough rows for the 128-row tensor-core tiles (16- and 32-token tiles), and long rows */
    bt_forward_case(300, 17000, 1, BL_FORMAT_2BIT, BL_ACT_INT8, 8, 64, 1, 1, 0);
    /* enough 256-row x 32-token tiles for the shared-memory kernel on any current GPU */
    bt_forward_case(257, 33000, 2, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 37, 1, 2, 0);
    bt_forward_case(300, 33001, 1, BL_FORMAT_2BIT, BL_ACT_INT8, 6, 64, 0, 0, 0);
    bt_forward_case(700, 33000, 1, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 40, 0, 1, 0); /* 3 blocks: the ring wraps */
    bt_forward_case(200, 17001, 2, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 12, 0, 2, 1);
    bt_forward_case(5000, 200, 1, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 33, 1, 1, 0);
    bt_forward_case(6001, 90, 1, BL_FORMAT_2BIT, BL_ACT_INT8, 7, 16, 1, 0, 0);
    bt_forward_case(1111, 3000, 2, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 40, 0, 0, 1);
    bt_forward_case(8192, 64, 1, BL_FORMAT_2BIT, BL_ACT_INT8, 8, 1, 0, 1, 0);
    bt_forward_case(8193, 64, 1, BL_FORMAT_BASE3, BL_ACT_INT8, 8, 1, 1, 1, 0);
    bt_forward_case(700, 50, 1, BL_FORMAT_BASE3, BL_ACT_FLOAT, 8, 20, 1, 0, 1);
}

/* Forwards queued back to back on one stream and one scratch, each output the next
   input, waited for once: the early launches between them (sm_90) must still order
   every read of the scratch before the next forward's writes. */
static void bt_chain_case(int n, int k, bl_format f, int batch)
{
    enum { STEPS = 4 };
    bl_linear *L = bt_layer(n, n, k, f, BL_ACT_INT8, 8, 1);
    bl_cuda_linear *D = NULL;
    size_t nx = (size_t)batch * n, s;
    float *h[STEPS + 1], *got = (float *)bt_alloc(nx * sizeof(float));
    float *d[STEPS + 1] = { NULL };
    void *d_scratch = NULL;
    CHECK(L != NULL);
    for (s = 0; s <= STEPS; ++s) h[s] = (float *)bt_alloc(nx * sizeof(float));
    if (!L) goto done;
    bt_random_x(h[0], nx);
    CHECK(bl_set_backend(BL_BACKEND_SCALAR) == BL_OK);
    for (s = 0; s < STEPS; ++s) CHECK(bl_linear_forward(L, h[s], batch, h[s + 1], NULL) == BL_OK);
    CHECK_EQ_INT(bl_cuda_linear_upload(L, &D, 0), BL_OK);
    if (!D) goto done;
    for (s = 0; s <= STEPS; ++s) CK(cudaMalloc((void **)&d[s], nx * sizeof(float)));
    CK(cudaMalloc(&d_scratch, bl_linear_scratch_size(D, batch)));
    CK(cudaMemcpy(d[0], h[0], nx * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaDeviceSynchronize());
    for (s = 0; s < STEPS; ++s) CHECK_EQ_INT(bl_linear_forward(D, d[s], batch, d[s + 1], d_scratch, bt_stream), BL_OK);
    CK(cudaStreamSynchronize(bt_stream));
    for (s = 1; s <= STEPS; ++s) {
        CK(cudaMemcpy(got, d[s], nx * sizeof(float), cudaMemcpyDeviceToHost));
        CHECK(memcmp(got, h[s], nx * sizeof(float)) == 0);
    }
done:
    for (s = 0; s <= STEPS; ++s) {
        bt_free(d[s]);
        free(h[s]);
    }
    bt_free(d_scratch);
    bl_cuda_linear_destroy(D);
    bl_linear_destroy(L);
    free(got);
}

/* bad arguments: refused before any launch, outputs untouched */
static void bt_bad_input_tests(void)
{
    bl_linear *L = bt_layer(100, 30, 1, BL_FORMAT_2BIT, BL_ACT_INT8, 8, 1);
    bl_cuda_linear *D = NULL;
    float *d_x = NULL, *d_y = NULL, *hx = (float *)bt_alloc(4 * 100 * sizeof(float));
    float *y = (float *)bt_alloc(4 * 30 * sizeof(float));
    int i, untouched = 1;
    CHECK(L != NULL);
    if (!L) goto done;
    CHECK_EQ_INT(bl_cuda_linear_upload(NULL, &D, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_cuda_linear_upload(L, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_cuda_linear_upload(L, &D, 0), BL_OK);
    if (!D) goto done;
    CHECK(bl_cuda_linear_nbytes(D) >= 30 * 64);
    CK(cudaMalloc((void **)&d_x, 4 * 100 * sizeof(float)));
    CK(cudaMalloc((void **)&d_y, 4 * 30 * sizeof(float)));
    for (i = 0; i < 400; ++i) hx[i] = (float)i * 0.01f;
    CK(cudaMemcpy(d_x, hx, 400 * sizeof(float), cudaMemcpyHostToDevice));
    for (i = 0; i < 120; ++i) memcpy(&y[i], &bt_poison, 4);
    CK(cudaMemcpy(d_y, y, 120 * sizeof(float), cudaMemcpyHostToDevice));
    CHECK_EQ_INT(bl_linear_forward((const bl_cuda_linear *)NULL, d_x, 4, d_y, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward(D, d_x, -1, d_y, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward(D, NULL, 4, d_y, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward(D, d_x, 4, NULL, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward_rows(D, d_x, 4, d_y, 5, 4, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward_rows(D, d_x, 4, d_y, -1, 4, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward_rows(D, d_x, 4, d_y, 0, 31, NULL, 0), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_forward(D, d_x, 0, d_y, NULL, 0), BL_OK);
    CHECK_EQ_INT(bl_linear_forward_rows(D, d_x, 4, d_y, 7, 7, NULL, 0), BL_OK);
    CHECK_EQ_INT(bl_linear_scratch_size((const bl_cuda_linear *)NULL, 4), 0);
    CHECK_EQ_INT(bl_linear_scratch_size(D, -1), 0);
    CHECK(bl_linear_scratch_size(D, 4) > 0);
    {
        /* a plain host pointer is not device memory (unless this system can read pageable memory) */
        int pageable = 0, dev = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&pageable, cudaDevAttrPageableMemoryAccess, dev));
        if (!pageable) CHECK_EQ_INT(bl_linear_forward(D, hx, 4, d_y, NULL, 0), BL_ERR_INVALID);
    }
    CK(cudaMemcpy(y, d_y, 120 * sizeof(float), cudaMemcpyDeviceToHost));
    for (i = 0; i < 120; ++i) untouched &= bt_is_poison(y[i]);
    CHECK(untouched);
    /* NaN in token 1: its outputs are NaN, the others still exact */
    hx[100 + 7] = NAN;
    CK(cudaMemcpy(d_x, hx, 400 * sizeof(float), cudaMemcpyHostToDevice));
    CHECK_EQ_INT(bl_linear_forward(D, d_x, 4, d_y, NULL, 0), BL_OK);
    CK(cudaMemcpy(y, d_y, 120 * sizeof(float), cudaMemcpyDeviceToHost));
    {
        float ref[30];
        int nan_ok = 1;
        for (i = 0; i < 30; ++i) nan_ok &= y[30 + i] != y[30 + i];
        CHECK(nan_ok);
        CHECK(bl_linear_forward(L, hx + 200, 1, ref, NULL) == BL_OK);
        CHECK(memcmp(ref, y + 60, sizeof ref) == 0);
    }
    CK(cudaDeviceSynchronize());
    CK(cudaGetLastError());
done:
    bt_free(d_x);
    bt_free(d_y);
    bl_cuda_linear_destroy(D);
    bl_cuda_linear_destroy(NULL);
    bl_linear_destroy(L);
    free(hx);
    free(y);
}

/* a byte no row may hold: a code 3 (2BIT), or a value no five digits encode to (BASE3) */
static uint8_t bt_invalid_byte(bl_format f)
{
    int b, m;
    if (f == BL_FORMAT_2BIT) return 0xFF;
    for (b = 255; b > 0; --b) {
        uint8_t codes[5];
        for (m = 0; m < 5; ++m) codes[m] = (uint8_t)bl__base3_code((uint8_t)b, m);
        if (bl__base3_encode(codes) != b) return (uint8_t)b;
    }
    return 0;
}

/* device pack / unpack / quantize / ternarize against the host functions */
static void bt_utility_tests(void)
{
    int c;
    for (c = 0; c < 24; ++c) {
        int rows = 1 + (int)(bt_u32() % 40), cols = 1 + (int)(bt_u32() % 1500), fmt = c & 1;
        bl_format f = (bl_format)fmt;
        size_t n = (size_t)rows * cols, psize = bl_packed_size(f, rows, cols), i;
        int8_t *t = (int8_t *)bt_alloc(n), *t2 = (int8_t *)bt_alloc(n), *d_t = NULL;
        uint8_t *p = (uint8_t *)bt_alloc(psize), *p2 = (uint8_t *)bt_alloc(psize), *d_p = NULL;
        float *w = (float *)bt_alloc(n * sizeof(float)), *d_w = NULL, *d_s = NULL;
        float *s = (float *)bt_alloc(rows * sizeof(float)), *s2 = (float *)bt_alloc(rows * sizeof(float));
        int8_t *q = (int8_t *)bt_alloc((size_t)cols), *q2 = (int8_t *)bt_alloc((size_t)cols);
        float qs = 0.0f, qs2 = 0.0f;
        int bits = 2 + (int)(bt_u32() % 7), method, scaling;
        bt_random_trits(t, n, 30);
        CHECK(bl_pack(f, t, rows, cols, p, psize) == BL_OK);
        CK(cudaMalloc((void **)&d_t, n));
        CK(cudaMalloc((void **)&d_p, psize));
        CK(cudaMalloc((void **)&d_w, n * sizeof(float)));
        CK(cudaMalloc((void **)&d_s, rows * sizeof(float)));
        CK(cudaMemcpy(d_t, t, n, cudaMemcpyHostToDevice));
        CHECK_EQ_INT(bl_pack(f, d_t, rows, cols, d_p, psize, 0), BL_OK);
        CHECK_EQ_INT(bl_pack(f, d_t, rows, cols, d_p, psize - 1, 0), BL_ERR_INVALID);
        CK(cudaMemcpy(p2, d_p, psize, cudaMemcpyDeviceToHost));
        CHECK(memcmp(p, p2, psize) == 0);
        CK(cudaMemset(d_t, 0, n));
        CHECK_EQ_INT(bl_unpack(f, d_p, psize, rows, cols, d_t, 0), BL_OK);
        CK(cudaMemcpy(t2, d_t, n, cudaMemcpyDeviceToHost));
        CHECK(memcmp(t, t2, n) == 0);
        /* a bad trit; a corrupt byte: refused, outputs untouched */
        t2[n / 2] = 2;
        CK(cudaMemcpy(d_t, t2, n, cudaMemcpyHostToDevice));
        CHECK_EQ_INT(bl_pack(f, d_t, rows, cols, d_p, psize, 0), BL_ERR_INVALID);
        CK(cudaMemcpy(p2, d_p, psize, cudaMemcpyDeviceToHost));
        CHECK(memcmp(p, p2, psize) == 0);
        p2[psize - 1] = bt_invalid_byte(f);
        CK(cudaMemcpy(d_p, p2, psize, cudaMemcpyHostToDevice));
        CHECK_EQ_INT(bl_unpack(f, d_p, psize, rows, cols, d_t, 0), BL_ERR_FORMAT);
        CK(cudaMemcpy(t, d_t, n, cudaMemcpyDeviceToHost));
        CHECK(memcmp(t, t2, n) == 0);

        /* activations, one token */
        bt_random_x(w, n);
        if (c % 5 == 0) memset(w, 0, (size_t)cols * sizeof(float));
        CK(cudaMemcpy(d_w, w, n * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(bl_quantize_activations(w, cols, bits, q, &qs) == BL_OK);
        CHECK_EQ_INT(bl_quantize_activations(d_w, cols, bits, d_t, d_s, 0), BL_OK);
        CK(cudaMemcpy(q2, d_t, (size_t)cols, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(&qs2, d_s, sizeof(float), cudaMemcpyDeviceToHost));
        CHECK(memcmp(q, q2, (size_t)cols) == 0);
        CHECK(memcmp(&qs, &qs2, 4) == 0);

        /* ternarize: every method, both scalings */
        for (method = BL_METHOD_OPTIMAL; method <= BL_METHOD_TWN; ++method)
            for (scaling = 0; scaling < 2; ++scaling) {
                int groups = scaling == BL_SCALING_ROW ? rows : 1;
                CHECK(bl_ternarize(w, rows, cols, (bl_method)method, (bl_scaling)scaling, t, s) == BL_OK);
                CHECK_EQ_INT(bl_ternarize(d_w, rows, cols, (bl_method)method, (bl_scaling)scaling, d_t, d_s, 0), BL_OK);
                CK(cudaMemcpy(t2, d_t, n, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(s2, d_s, groups * sizeof(float), cudaMemcpyDeviceToHost));
                CHECK(memcmp(t, t2, n) == 0);
                CHECK(memcmp(s, s2, groups * sizeof(float)) == 0);
            }
        CHECK_EQ_INT(bl_ternarize(d_w, rows, cols, (bl_method)9, BL_SCALING_ROW, d_t, d_s, 0), BL_ERR_INVALID);
        w[n - 1] = INFINITY;
        CK(cudaMemcpy(d_w, w, n * sizeof(float), cudaMemcpyHostToDevice));
        CHECK_EQ_INT(bl_ternarize(d_w, rows, cols, BL_METHOD_ABSMEAN, BL_SCALING_ROW, d_t, d_s, 0), BL_ERR_NONFINITE);
        CHECK_EQ_INT(bl_quantize_activations(d_w + (size_t)(rows - 1) * cols, cols, 8, d_t, d_s, 0), BL_ERR_NONFINITE);
        CHECK_EQ_INT(bl_quantize_activations(d_w, 0, 8, d_t, d_s, 0), BL_ERR_INVALID);
        for (i = 0; i < 1; ++i) CHECK_EQ_INT(bl_pack(f, (const int8_t *)NULL, rows, cols, d_p, psize, 0), BL_ERR_INVALID);
    done:
        bt_free(d_t); bt_free(d_p); bt_free(d_w); bt_free(d_s);
        free(t); free(t2); free(p); free(p2); free(w); free(s); free(s2); free(q); free(q2);
    }
}

int main(int argc, char **argv)
{
    int devices = 0;
    cudaError_t err;
    bt_seed(20261126);
    if (argc > 1 && strcmp(argv[1], "--host") == 0) {
        bt_host_tests();
        return bt_summary("test_cuda_host");
    }
    err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
        printf("skipped: no CUDA device (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "none");
        return bt_summary("test_cuda");
    }
    if (cudaStreamCreateWithFlags(&bt_stream, cudaStreamNonBlocking) != cudaSuccess) {
        printf("test_cuda: cannot create a stream\n");
        CHECK(0);
        return bt_summary("test_cuda");
    }
    bt_bad_input_tests();
    bt_utility_tests();
    bt_forward_tests();
    bt_chain_case(1537, 2, BL_FORMAT_2BIT, 1);
    bt_chain_case(1001, 1, BL_FORMAT_BASE3, 3);
    bt_chain_case(3000, 1, BL_FORMAT_2BIT, 40);
    CHECK(cudaStreamDestroy(bt_stream) == cudaSuccess);
    return bt_summary("test_cuda");
}
