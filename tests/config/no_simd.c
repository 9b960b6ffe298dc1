/* BITLINEAR_NO_SIMD: only the scalar backend exists. */
#define BITLINEAR_NO_SIMD
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int main(void)
{
    return bl_get_backend() == BL_BACKEND_SCALAR && bl_set_backend(BL_BACKEND_AVX2) == BL_ERR_UNSUPPORTED &&
                   bl_set_backend(BL_BACKEND_AVX512) == BL_ERR_UNSUPPORTED &&
                   bl_set_backend(BL_BACKEND_NEON) == BL_ERR_UNSUPPORTED
               ? 0 : 1;
}
