/* The program examples/tiny.c would be without bitlinear: the same embedded array, the
   same input, output and printing, a trivial stand-in for the layers. `make tiny-size`
   subtracts its .text from tiny's to get the bytes the library adds. */
#include "build/tiny_model.h"
#include <stdio.h>
#include <math.h>

int main(void)
{
    float x[64], y[10];
    int i, best = 0;
    for (i = 0; i < 64; ++i) x[i] = sinf(0.37f * (float)i);
    for (i = 0; i < 10; ++i) y[i] = x[i] * (float)tiny_model[i];
    for (i = 1; i < 10; ++i) if (y[i] > y[best]) best = i;
    printf("tiny: %d-byte model, %d layers, viewed in place; logits:", (int)sizeof tiny_model, 2);
    for (i = 0; i < 10; ++i) printf(" %.3f", y[i]);
    printf("; class %d\n", best);
    return 0;
}
