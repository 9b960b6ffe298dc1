/* ==== bitlinear: which SIMD kernels this build carries, and CPU detection == */
/* x86: the kernels are compiled inside target regions, so a build without -mavx2 still
   carries them; the CPU (CPUID) and the OS (XGETBV: the register state is saved on
   context switches) are checked once at run time. BITLINEAR_NO_RUNTIME_DISPATCH keeps
   only what the compiler flags enable. aarch64: NEON is part of the base ISA.
   wasm32/wasm64: SIMD128 when the compiler targets it (-msimd128). */

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(BITLINEAR_NO_SIMD)
#  if defined(BITLINEAR_NO_RUNTIME_DISPATCH)
#    if defined(__AVX2__) && defined(__FMA__) && !defined(BITLINEAR_NO_AVX2)
#      define BL__HAVE_AVX2 1
#    endif
#    if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && !defined(BITLINEAR_NO_AVX512)
#      define BL__HAVE_AVX512 1
#    endif
#    if defined(BL__HAVE_AVX2) && defined(__AVXVNNI__) && (defined(__GNUC__) || defined(__clang__)) && \
        !defined(BITLINEAR_NO_AVXVNNI)
#      define BL__HAVE_AVXVNNI 1
#    endif
#  elif defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8) || defined(_MSC_VER)
#    define BL__RUNTIME_DISPATCH 1
#    ifndef BITLINEAR_NO_AVX2
#      define BL__HAVE_AVX2 1
/* the AVX2 kernels' AVX-VNNI variant: its one instruction is inline asm (kernels_avx2.c),
   which needs a compiler and assembler that know AVX-VNNI (GCC 11 with binutils 2.36,
   LLVM 12) */
#      if ((defined(__clang__) && ((defined(__apple_build_version__) && __clang_major__ >= 13) ||        \
                                   (!defined(__apple_build_version__) && __clang_major__ >= 12))) ||     \
           (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)) &&                              \
          !defined(BITLINEAR_NO_AVXVNNI)
#        define BL__HAVE_AVXVNNI 1
#      endif
#    endif
#    ifndef BITLINEAR_NO_AVX512
#      define BL__HAVE_AVX512 1
#    endif
#  endif
#endif
#if (defined(__aarch64__) || defined(_M_ARM64)) && !defined(BITLINEAR_NO_SIMD) && !defined(BITLINEAR_NO_NEON)
#  define BL__HAVE_NEON 1
#endif
/* WebAssembly: SIMD128 is a compile-time choice (-msimd128); there is no run-time check. */
#if defined(__wasm_simd128__) && !defined(BITLINEAR_NO_SIMD) && !defined(BITLINEAR_NO_WASM)
#  define BL__HAVE_WASM 1
#endif

#if defined(BL__HAVE_AVX2) || defined(BL__HAVE_AVX512)
/* g++ 12 reports its own _mm*_undefined_* helpers as (maybe-)uninitialized when they are
   inlined (GCC PR 105593); the warning's location is in this header region */
#  if defined(__GNUC__) && !defined(__clang__)
#    pragma GCC diagnostic push
#    pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#    pragma GCC diagnostic ignored "-Wuninitialized"
#  endif
#  include <immintrin.h>
#  if defined(__GNUC__) && !defined(__clang__)
#    pragma GCC diagnostic pop
#  endif
#endif
#ifdef BL__HAVE_NEON
#  include <arm_neon.h>
#endif
#ifdef BL__HAVE_WASM
#  include <wasm_simd128.h>
#endif

/* Target regions: every function between BEGIN and END may use the named ISA. */
#if defined(__clang__)
#  define BL__PRAGMA(x) _Pragma(#x)
#  define BL__TARGET_BEGIN(isa) BL__PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#  define BL__TARGET_END BL__PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#  define BL__PRAGMA(x) _Pragma(#x)
#  define BL__TARGET_BEGIN(isa) BL__PRAGMA(GCC push_options) BL__PRAGMA(GCC target(isa))
#  define BL__TARGET_END BL__PRAGMA(GCC pop_options)
#else
#  define BL__TARGET_BEGIN(isa)
#  define BL__TARGET_END
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define BL__FORCE_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#  define BL__FORCE_INLINE static __forceinline
#else
#  define BL__FORCE_INLINE static inline
#endif
/* A function kept out of line: each variant of the shared walk (kernels_simd.c) stays a
   function of its own, which engines that compile one function at a time need */
#if defined(__GNUC__) || defined(__clang__)
#  define BL__NOINLINE static __attribute__((noinline))
#elif defined(_MSC_VER)
#  define BL__NOINLINE static __declspec(noinline)
#else
#  define BL__NOINLINE static
#endif

/* Full unrolling of the small token and digit loops keeps the accumulators in registers. */
#if defined(__CUDACC__) /* nvcc's front end knows neither spelling (host code only here) */
#  define BL__UNROLL
#elif defined(__clang__)
#  define BL__UNROLL BL__PRAGMA(unroll)
#elif defined(__GNUC__)
#  define BL__UNROLL BL__PRAGMA(GCC unroll 8)
#else
#  define BL__UNROLL
#endif

/* Keeps a vector value as computed: an empty asm the optimizer cannot see through. Clang
   otherwise folds the BASE3 chains of byte adds (y + y + y, again and again) into byte
   multiplies by 3^m (unpack, vpmullw, pack): three instructions where one add was
   (docs/performance.md, "Kernel tuning record"). */
#if defined(__GNUC__) || defined(__clang__)
#  define BL__KEEP(v) __asm__("" : "+v"(v))
#else
#  define BL__KEEP(v) ((void)0)
#endif

/* A word every thread may compute and publish: all threads compute the same value, so
   the only requirement is a race-free load and store. */
#if defined(__GNUC__) || defined(__clang__)
static BL__UNUSED int bl__atomic_load(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static BL__UNUSED void bl__atomic_store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#elif defined(_MSC_VER)
#  include <intrin.h>
static BL__UNUSED int bl__atomic_load(const int *p) { return (int)_InterlockedOr((volatile long *)p, 0); }
static BL__UNUSED void bl__atomic_store(int *p, int v) { (void)_InterlockedExchange((volatile long *)p, (long)v); }
#else
static BL__UNUSED int bl__atomic_load(const int *p) { return *(const volatile int *)p; }
static BL__UNUSED void bl__atomic_store(int *p, int v) { *(volatile int *)p = v; }
#endif

#define BL__CPU_AVX2   1   /* AVX2 + FMA */
#define BL__CPU_AVX512 2   /* F + BW + VNNI, with the OS saving the zmm and mask state */
#define BL__CPU_AVXVNNI 4  /* AVX-VNNI (VEX vpdpbusd on ymm), with AVX2 */
#define BL__CPU_KNOWN  (1 << 30)

#ifdef BL__RUNTIME_DISPATCH
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
static void bl__cpuid(int leaf, int sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, leaf, sub);
    r[0] = (unsigned)v[0]; r[1] = (unsigned)v[1]; r[2] = (unsigned)v[2]; r[3] = (unsigned)v[3];
}
static unsigned bl__xgetbv0(void) { return (unsigned)_xgetbv(0); }
#  else
static void bl__cpuid(int leaf, int sub, unsigned r[4])
{
    unsigned a, b, c, d;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
    r[0] = a; r[1] = b; r[2] = c; r[3] = d;
}
static unsigned bl__xgetbv0(void)
{
    unsigned r[2]; /* eax, edx: only the low word (x87/SSE/AVX/AVX-512 state bits) matters */
    __asm__ __volatile__(".byte 0x0f, 0x01, 0xd0" : "=a"(r[0]), "=d"(r[1]) : "c"(0)); /* xgetbv */
    return r[0];
}
#  endif

static int bl__detect_cpu(void)
{
    unsigned r[4], max_leaf, xcr0, fma, flags = 0;
    bl__cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 7) return 0;
    bl__cpuid(1, 0, r);
    if (!(r[2] & (1u << 27)) || !(r[2] & (1u << 28))) return 0; /* OSXSAVE and AVX */
    fma = r[2] & (1u << 12);
    xcr0 = bl__xgetbv0();
    if ((xcr0 & 0x6u) != 0x6u) return 0;                         /* xmm and ymm state */
    bl__cpuid(7, 0, r);
    if ((r[1] & (1u << 5)) && fma) flags |= BL__CPU_AVX2;         /* AVX2 with FMA (the FLOAT kernels) */
    if ((xcr0 & 0xE6u) == 0xE6u && (r[1] & (1u << 16)) && (r[1] & (1u << 30)) && (r[2] & (1u << 11)))
        flags |= BL__CPU_AVX512;                                  /* opmask, zmm state; F, BW, VNNI */
    if (r[0] >= 1 && (flags & BL__CPU_AVX2)) {                    /* subleaf 1 exists */
        bl__cpuid(7, 1, r);
        if (r[0] & (1u << 4)) flags |= BL__CPU_AVXVNNI;           /* EAX bit 4: AVX-VNNI */
    }
    return (int)flags;
}

static int bl__cpu_flags_cache;
static int bl__cpu_flags(void)
{
    int f = bl__atomic_load(&bl__cpu_flags_cache);
    if (!(f & BL__CPU_KNOWN)) {
        f = bl__detect_cpu() | BL__CPU_KNOWN;
        bl__atomic_store(&bl__cpu_flags_cache, f);
    }
    return f;
}
#else
/* without run-time dispatch a compiled-in kernel is one the compiler flags allow */
static BL__UNUSED int bl__cpu_flags(void) { return BL__CPU_AVX2 | BL__CPU_AVX512 | BL__CPU_AVXVNNI; }
#endif
