/* Split one forward over N threads: quantize the activations once with
   bl_linear_prepare_input, then let every thread compute its own slice of output rows
   with bl_linear_forward_input (no locks: the layer and the prepared input are only
   read). The result is checked against a single-threaded bl_linear_forward.

     cc -O2 -I. examples/threads.c -lm -lpthread && ./a.out [threads]            */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slice {
    const bl_linear *layer;
    const void *input; /* prepared once, shared by all threads */
    float *y;
    int batch, row_begin, row_end;
    bl_status status;
} slice;

static void *run_slice(void *arg)
{
    slice *s = (slice *)arg;
    s->status = bl_linear_forward_input(s->layer, s->input, s->batch, s->y, s->row_begin, s->row_end);
    return NULL;
}

int main(int argc, char **argv)
{
    enum { IN = 1000, OUT = 777, BATCH = 5, MAX_THREADS = 64 };
    int nthreads = argc > 1 ? atoi(argv[1]) : 4, i, ok = 1;
    float *w = (float *)malloc(sizeof(float) * IN * OUT), *x = (float *)malloc(sizeof(float) * IN * BATCH);
    float *y1 = (float *)malloc(sizeof(float) * OUT * BATCH), *yn = (float *)malloc(sizeof(float) * OUT * BATCH);
    pthread_t threads[MAX_THREADS];
    slice slices[MAX_THREADS];
    bl_linear_desc desc;
    bl_linear *layer = NULL;
    void *input = NULL;
    size_t input_size;
    unsigned seed = 1;

    if (nthreads < 1 || nthreads > MAX_THREADS) nthreads = 4;
    if (!w || !x || !y1 || !yn) return 1;
    for (i = 0; i < IN * OUT; ++i) { seed = seed * 1103515245u + 12345u; w[i] = (float)(seed >> 16) / 65536.0f - 0.5f; }
    for (i = 0; i < IN * BATCH; ++i) { seed = seed * 1103515245u + 12345u; x[i] = (float)(seed >> 16) / 32768.0f - 1.0f; }

    memset(&desc, 0, sizeof desc); /* defaults: OPTIMAL ternary, 2BIT, INT8 activations */
    desc.in_features = IN;
    desc.out_features = OUT;
    desc.weight = w;
    if (bl_linear_create(&desc, &layer) != BL_OK) return 1;

    /* reference: one thread */
    if (bl_linear_forward(layer, x, BATCH, y1, NULL) != BL_OK) return 1;

    /* N threads: prepare the input once, then one row slice per thread */
    input_size = bl_linear_input_size(layer, BATCH);
    input = malloc(input_size);
    if (!input || bl_linear_prepare_input(layer, x, BATCH, input, input_size) != BL_OK) return 1;
    for (i = 0; i < nthreads; ++i) {
        slices[i].layer = layer;
        slices[i].input = input;
        slices[i].y = yn;
        slices[i].batch = BATCH;
        slices[i].row_begin = (int)((long)OUT * i / nthreads);
        slices[i].row_end = (int)((long)OUT * (i + 1) / nthreads);
        pthread_create(&threads[i], NULL, run_slice, &slices[i]);
    }
    for (i = 0; i < nthreads; ++i) {
        pthread_join(threads[i], NULL);
        if (slices[i].status != BL_OK) ok = 0;
    }

    /* INT8 activations are exact integer sums: the slices must give the same bits */
    if (ok && memcmp(y1, yn, sizeof(float) * OUT * BATCH) != 0) ok = 0;
    printf("%d threads (%s backend): %s\n", nthreads, bl_backend_name(bl_get_backend()),
           ok ? "identical to the single-thread forward" : "MISMATCH");
    free(input);
    bl_linear_destroy(layer);
    free(w); free(x); free(y1); free(yn);
    return ok ? 0 : 1;
}
