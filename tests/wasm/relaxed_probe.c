/* Exits 0 when the engine computes relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s as the
   spec fixes it for a second operand of 0..127 and pair sums inside int16 (exactly), 1
   otherwise.
   tests/run_wasm.sh runs it under node before trusting node with BITLINEAR_WASM_RELAXED. */
#include <wasm_simd128.h>
#include <stdint.h>
#include <stdio.h>

static volatile uint32_t seed = 7; /* opaque: the compiler must not fold the dots away */

int main(void)
{
    int8_t a[16], b[16];
    int16_t out[8];
    uint32_t r = seed;
    int it, i, lane, bad = 0;
    for (it = 0; it < 1000; ++it) {
        for (i = 0; i < 16; ++i) {
            r = r * 1103515245u + 12345u;
            a[i] = (int8_t)((int)((r >> 16) % 255u) - 127);
            r = r * 1103515245u + 12345u;
            b[i] = (int8_t)((r >> 16) % 128u);
        }
        wasm_v128_store(out, (v128_t)BL_PROBE_DOT((__i8x16)wasm_v128_load(a), (__i8x16)wasm_v128_load(b)));
        for (lane = 0; lane < 8; ++lane) /* |pair sum| <= 2 * 127 * 127: inside int16 */
            bad += out[lane] != a[2 * lane] * b[2 * lane] + a[2 * lane + 1] * b[2 * lane + 1];
    }
    printf("relaxed_probe: %d wrong lanes of 8000\n", bad);
    return bad != 0;
}
