/*
    bitlinear.h -- ternary ("1.58-bit") linear layers in one C header.

    A float linear layer y = x W^T + b becomes one whose weights are -1, 0 or +1
    times a per-row scale: about 20x smaller than fp32, and faster, because the
    inner products add and subtract instead of multiplying by weights.

    DO THIS ONCE
    ============
        #define BITLINEAR_IMPLEMENTATION
        #include "bitlinear.h"
    in exactly one C or C++ file. Every other file just includes "bitlinear.h".
    Link with -lm. No other dependencies; no threads, no global state besides the
    backend in use.

    EXAMPLE
    =======
        bl_linear_desc d;
        memset(&d, 0, sizeof d);           // zero means defaults: OPTIMAL, per-row
        d.in_features = 1024;              // scales, 2-bit packing, INT8 activations
        d.out_features = 4096;
        d.weight = w;                      // float [out][in], as PyTorch's nn.Linear
        d.bias = b;                        // optional
        bl_linear *layer;
        if (bl_linear_create(&d, &layer) != BL_OK) ...;
        bl_linear_forward(layer, x, batch, y, NULL);   // x [batch][in] -> y [batch][out]
        bl_linear_destroy(layer);
    (`bl_linear_desc d = {0};` in C and `bl_linear_desc d = {};` in C++ zero it too.)

    CONFIGURATION (define before including, in the implementation file)
    =============
        BITLINEAR_IMPLEMENTATION       compile the implementation here
        BITLINEAR_STATIC               make every function static (private to one file)
        BITLINEAR_API                  decoration of declarations (e.g. __declspec(dllexport))
        BITLINEAR_MALLOC(sz), BITLINEAR_REALLOC(p,sz), BITLINEAR_FREE(p)
                                       allocator hooks: define all three or none
        BITLINEAR_ASSERT(c)            assertion hook (default: assert)
        BITLINEAR_NO_STDIO             leave out everything that uses <stdio.h>
        BITLINEAR_NO_SIMD              scalar kernels only
        BITLINEAR_NO_AVX2, BITLINEAR_NO_AVX512, BITLINEAR_NO_NEON, BITLINEAR_NO_WASM
                                       leave out one instruction set's kernels
        BITLINEAR_NO_AVXVNNI           AVX2 backend: leave out its AVX-VNNI kernels (plain AVX2
                                       kernels only, even on CPUs with AVX-VNNI)
        BITLINEAR_WASM_RELAXED         WebAssembly: relaxed SIMD's integer dot product
                                       (needs clang -mrelaxed-simd and an engine with it)
        BITLINEAR_NO_RUNTIME_DISPATCH  no CPUID: only the kernels the compiler flags enable

    BACKENDS
    ========
    Scalar (the reference), AVX2, AVX-512 with VNNI, NEON (SDOT where available),
    WebAssembly SIMD128 (when built with -msimd128: wasm has no run-time detection). The
    x86 kernels are compiled in target regions, so no -mavx2 is needed: the best one
    this CPU and OS support is picked once at run time (CPUID + XGETBV);
    bl_set_backend forces one. INT8 outputs are identical on every backend.

    LAYERS
    ======
    bl_linear_create quantizes float weights (or takes trits and scales you already
    have) and packs them. k > 1 stacks k ternary components, each fitted to what the
    previous left (greedy decomposition), optionally refined: more accuracy for k
    times the bytes. All components are summed in one pass over the input.
    Memory control, from simplest to most: bl_linear_create (BITLINEAR_MALLOC),
    bl_linear_create_with (your allocator callbacks), or bl_linear_memory_size +
    bl_linear_init (your memory; nothing is allocated for a layer given trits).

    FORWARD AND THREADS
    ===================
    bl_linear_forward allocates nothing when you pass scratch of
    bl_linear_scratch_size(layer, batch) bytes. To split one forward over your own
    job system: bl_linear_prepare_input once (it quantizes the activations), then
    bl_linear_forward_input with disjoint row ranges from any number of threads.
    A const layer may be used by many threads at once, each with its own scratch.

    INT8 ACTIVATIONS (the exact rules; every backend and the CUDA kernels agree bit for bit)
    ================
    Per token, qmax = 2^(bits-1) - 1 and a = max |x_i|:
        if a < 2^-100:  q_i = 0, s = 0
        else            q_i = round_half_even(clamp(x_i * (qmax / a), -qmax, qmax)), s = a / qmax
    (float arithmetic). Per output row r with integer dots d_j = sum_i t_ji q_i:
        acc = sum_j (double)d_j * (double)scale_j[r]          in j order, in double
        y   = (float)((double)(float)acc * (double)s + (double)bias[r])
    Each product there is exact in double (|d_j| < 2^29), so compilers that fuse
    multiply-adds cannot change the result. in_features is at most 2^22.
    Do not build with -ffast-math if you rely on bit-exactness.

    FLOAT ACTIVATIONS
    =================
    y = sum_j scale_j[r] * (sum of x_i where t = +1 minus those where t = -1) + b:
    no multiplications by weights; backends may sum in different orders (1e-5).

    ERRORS
    ======
    Every function returns a bl_status (bl_status_string describes it). Bad
    arguments never crash and never write outside a buffer; on error outputs are
    left untouched. NaN or Inf in weights or inputs gives BL_ERR_NONFINITE.

    TRAINING
    ========
    bl_train_create makes a trainable ternary layer: float shadow weights, a forward
    pass with their ternarization (any method and scaling, or learned LSQ scales),
    optional INT8 activations and Hadamard rotation; bl_train_backward gives
    straight-through gradients; bl_train_step applies Adam or SGD; bl_train_export
    returns a bl_linear with the same outputs. bl_deadzone_stats reports how weights
    sit in the trit bins. desc.hadamard gives any layer a randomised Hadamard
    rotation (weights before quantization, inputs in the forward).

    MODEL FILES
    ===========
    bl_model_save writes named layers into one little-endian file (size query first);
    bl_model_load validates every byte (checksum, fields, packed rows) and copies, or
    bl_model_load_with(..., BL_MODEL_LOAD_VIEW, ...) points the layers straight into
    your 64-byte-aligned bytes (a mapped file, an array compiled in). bl_model_find
    looks a layer up by name. bl_safetensors_open reads F32/F16/BF16 checkpoints.
    Layout byte by byte: docs/models.md in the repository.

    PACKED FORMATS (BITLINEAR_FORMAT_VERSION 1; byte by byte: docs/formats.md)
    ==============
    Trits [rows][cols], row after row, each row ceil(cols / D) bytes: D = 4 trits a byte
    (BL_FORMAT_2BIT), D = 5 (BL_FORMAT_BASE3). A row is full blocks of 64*D trits, trit p
    of a block in byte p % 64, digit p / 64, then a tail of B = ceil(r / D) bytes, trit p
    in byte p % B, digit p / B (bl__trit_position). The code of a trit is t + 1: 2BIT digit
    m is bits 2m..2m+1; BASE3 stores v = sum c_m 3^(4-m) as ceil(v * 256 / 243), and digit m
    is ((byte * 3^m mod 256) * 3) >> 8. Padding digits hold trit 0. Scales are separate
    float32 [k][out].

    VERSION HISTORY
    ===============
        0.2.0   GGUF and Hugging Face import, model contents, bl_version, BL_ERR_IO,
                CMake package and pkg-config, clean under strict warning flags
        0.1.0   first release: quantization, packing, decomposition, layers, SIMD
                backends, training, model files, safetensors, CUDA companion
*/
