/* Exits 0 when the engine computes relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s as the
   spec fixes it for a second operand of 0..127 (exactly: dot + accumulator), 1 otherwise.
   tests/run_wasm.sh runs it under node before trusting node with BITLINEAR_WASM_RELAXED. */
#include <wasm_simd128.h>
#include <stdint.h>
#include <stdio.h>

static volatile uint32_t seed = 7; /* opaque: the compiler must not fold the dots away */

int main(void)
{
    int8_t a[16], b[16];
    int32_t acc[4] = { 1, -2, 3, -4 }, out[4];
    uint32_t r = seed;
    int it, i, lane, bad = 0;
    for (it = 0; it < 1000; ++it) {
        for (i = 0; i < 16; ++i) {
            r = r * 1103515245u + 12345u;
            a[i] = (int8_t)((int)((r >> 16) % 255u) - 127);
            r = r * 1103515245u + 12345u;
            b[i] = (int8_t)((r >> 16) % 128u);
        }
        wasm_v128_store(out, (v128_t)BL_PROBE_DOT((__i8x16)wasm_v128_load(a), (__i8x16)wasm_v128_load(b),
                                                  (__i32x4)wasm_v128_load(acc)));
        for (lane = 0; lane < 4; ++lane) {
            int32_t want = acc[lane];
            for (i = 4 * lane; i < 4 * lane + 4; ++i) want += a[i] * b[i];
            bad += out[lane] != want;
        }
    }
    printf("relaxed_probe: %d wrong lanes of 4000\n", bad);
    return bad != 0;
}
