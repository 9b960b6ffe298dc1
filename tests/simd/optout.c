/* Which backends a build offers under the SIMD configuration macros. Built by
   tests/run_simd.sh with -DWANT_AVX2=0/1 -DWANT_AVX512=0/1 (what the macros allow);
   a backend must be available exactly when the build allows it and the CPU has it
   (cross-checked with the compiler's own CPU detection). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>

#if defined(BITLINEAR_NO_AVXVNNI) && defined(BL__HAVE_AVXVNNI)
#  error "BITLINEAR_NO_AVXVNNI left the AVX-VNNI kernels in"
#endif

int main(void)
{
    int cpu_avx2 = 0, cpu_avx512 = 0, bad = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); /* the AVX2 backend needs both */
    cpu_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vnni");
#endif
    if ((bl_set_backend(BL_BACKEND_AVX2) == BL_OK) != (WANT_AVX2 && cpu_avx2)) { bad = 1; puts("avx2 availability wrong"); }
    if ((bl_set_backend(BL_BACKEND_AVX512) == BL_OK) != (WANT_AVX512 && cpu_avx512)) { bad = 1; puts("avx512 availability wrong"); }
    if (bl_set_backend(BL_BACKEND_AUTO) != BL_OK) bad = 1;
    if (bl_get_backend() != (WANT_AVX512 && cpu_avx512 ? BL_BACKEND_AVX512
                             : WANT_AVX2 && cpu_avx2 ? BL_BACKEND_AVX2 : BL_BACKEND_SCALAR)) {
        bad = 1;
        puts("auto picked the wrong backend");
    }
    return bad;
}
