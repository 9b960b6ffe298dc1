/* Uses bitlinear through CMake or pkg-config; prints "consumer: ok" and exits 0. */
#include <stdio.h>
#include <string.h>
#ifdef CONSUMER_IMPLEMENTATION
#  define BITLINEAR_IMPLEMENTATION
#endif
#include "bitlinear.h"

#if BITLINEAR_VERSION_MAJOR == 0 && BITLINEAR_VERSION_MINOR < 2
#  error "expected bitlinear 0.2 or newer"
#endif

int main(void)
{
    float w[2 * 4] = { 1, -1, 1, -1, 0, 2, 0, -2 }, x[4] = { 1, 2, 3, 4 }, y[2];
    bl_linear_desc d;
    bl_linear *layer = NULL;
    memset(&d, 0, sizeof d);
    d.in_features = 4; d.out_features = 2; d.weight = w; d.act = BL_ACT_FLOAT;
    if (bl_linear_create(&d, &layer) != BL_OK) { printf("consumer: create failed\n"); return 1; }
    if (bl_linear_forward(layer, x, 1, y, NULL) != BL_OK) { printf("consumer: forward failed\n"); return 1; }
    bl_linear_destroy(layer);
    /* the weights are ternary times a per-row scale already: exact up to rounding */
    if (!(y[0] > -2.01f && y[0] < -1.99f && y[1] > -4.01f && y[1] < -3.99f)) {
        printf("consumer: wrong output %g %g\n", (double)y[0], (double)y[1]);
        return 1;
    }
    {   /* the implementation linked in is the header's version */
        char want[32];
        snprintf(want, sizeof want, "%d.%d.%d", BITLINEAR_VERSION_MAJOR, BITLINEAR_VERSION_MINOR,
                 BITLINEAR_VERSION_PATCH);
        if (strcmp(bl_version(), want) != 0) {
            printf("consumer: bl_version() %s, header %s\n", bl_version(), want);
            return 1;
        }
    }
    printf("consumer: ok (bitlinear %s)\n", bl_version());
    return 0;
}
