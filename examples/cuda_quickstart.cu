/* A float layer quantized on the CPU, run on the GPU, checked against the CPU.
   Build: nvcc -O3 -I. examples/cuda_quickstart.cu -o cuda_quickstart */
#define BITLINEAR_IMPLEMENTATION
#define BITLINEAR_CUDA_IMPLEMENTATION
#include "bitlinear_cuda.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 1000
#define OUT 300
#define BATCH 4

int main(void)
{
    static float w[OUT * IN], x[BATCH * IN], y_cpu[BATCH * OUT], y_gpu[BATCH * OUT];
    bl_linear_desc desc;
    bl_linear *layer = NULL;
    bl_cuda_linear *dev = NULL;
    float *d_x = NULL, *d_y = NULL;
    int i, devices = 0, rc = 1;
    bl_status st;

    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        printf("no CUDA device\n");
        return 0;
    }
    srand(1);
    for (i = 0; i < OUT * IN; ++i) w[i] = (float)rand() / RAND_MAX - 0.5f;
    for (i = 0; i < BATCH * IN; ++i) x[i] = (float)rand() / RAND_MAX - 0.5f;

    memset(&desc, 0, sizeof desc);      /* zero means defaults: OPTIMAL, 2-bit, INT8 activations */
    desc.in_features = IN;
    desc.out_features = OUT;
    desc.weight = w;
    if ((st = bl_linear_create(&desc, &layer)) != BL_OK) goto fail;
    if ((st = bl_cuda_linear_upload(layer, &dev, 0)) != BL_OK) goto fail;

    if (cudaMalloc((void **)&d_x, sizeof x) != cudaSuccess || cudaMalloc((void **)&d_y, sizeof y_gpu) != cudaSuccess ||
        cudaMemcpy(d_x, x, sizeof x, cudaMemcpyHostToDevice) != cudaSuccess) {
        st = BL_ERR_NOMEM;
        goto fail;
    }
    if ((st = bl_linear_forward(dev, d_x, BATCH, d_y, NULL, 0)) != BL_OK) goto fail;   /* GPU */
    if (cudaMemcpy(y_gpu, d_y, sizeof y_gpu, cudaMemcpyDeviceToHost) != cudaSuccess) {
        st = BL_ERR_UNSUPPORTED;
        goto fail;
    }
    if ((st = bl_linear_forward(layer, x, BATCH, y_cpu, NULL)) != BL_OK) goto fail;     /* CPU */
    printf("y[0][0..3] = %g %g %g %g; GPU and CPU outputs %s\n", y_gpu[0], y_gpu[1], y_gpu[2], y_gpu[3],
           memcmp(y_cpu, y_gpu, sizeof y_cpu) == 0 ? "are bit-identical" : "DIFFER");
    rc = memcmp(y_cpu, y_gpu, sizeof y_cpu) != 0;
    goto done;
fail:
    printf("error: %s\n", bl_status_string(st));
done:
    cudaFree(d_x);
    cudaFree(d_y);
    bl_cuda_linear_destroy(dev);
    bl_linear_destroy(layer);
    return rc;
}
