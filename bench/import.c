/* Import speed: bl_linear_import of TQ2_0, TQ1_0 and I2_S tensors (one core), in GB/s
   of file bytes, beside the machine's memcpy bandwidth for context. Medians (and the
   best, for a shared machine) of many runs after a warm-up; each run allocates, fills and frees the layer, as a loader does.
   Prints a table, then one JSON line ("import_json: {...}"). */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27; return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32); }

/* A random file tensor of the type whose every row imports exactly (one fp16 d per row). */
static uint8_t *make(bl_dtype dt, int rows, int cols, size_t *nbytes)
{
    size_t i, n = (size_t)rows * cols;
    int r, b, nb = cols / 256;
    uint8_t *p;
    if (dt == BL_DTYPE_I2_S) {
        float s = 0.0123f;
        *nbytes = n / 4 + 32;
        p = (uint8_t *)malloc(*nbytes);
        for (i = 0; i < n / 4; ++i) p[i] = (uint8_t)rnd();
        memset(p + n / 4, 0, 32);
        memcpy(p + n / 4, &s, 4); /* little-endian hosts: the bench runs where it was built */
        return p;
    }
    *nbytes = (size_t)rows * nb * (dt == BL_DTYPE_TQ2_0 ? 66 : 54);
    p = (uint8_t *)malloc(*nbytes);
    for (r = 0; r < rows; ++r) {
        unsigned d = 0x2000u + (rnd() & 0xFFFu);
        for (b = 0; b < nb; ++b) {
            uint8_t *blk = p + ((size_t)r * nb + b) * (dt == BL_DTYPE_TQ2_0 ? 66 : 54);
            int j, m, len = dt == BL_DTYPE_TQ2_0 ? 64 : 52;
            for (j = 0; j < len; ++j) {
                if (dt == BL_DTYPE_TQ1_0) { blk[j] = (uint8_t)rnd(); continue; }
                blk[j] = 0;
                for (m = 0; m < 4; ++m) blk[j] = (uint8_t)(blk[j] | (rnd() % 3u) << (2 * m)); /* codes 0..2 */
            }
            blk[len] = (uint8_t)d;
            blk[len + 1] = (uint8_t)(d >> 8);
        }
    }
    return p;
}

int main(void)
{
    static const int shapes[][2] = { { 2560, 6912 }, { 6912, 2560 }, { 4096, 4096 } };
    static const bl_dtype types[] = { BL_DTYPE_TQ2_0, BL_DTYPE_TQ1_0, BL_DTYPE_I2_S };
    static const char *tnames[] = { "TQ2_0", "TQ1_0", "I2_S" };
    enum { RUNS = 15 };
    double t[RUNS], memcpy_gbs;
    size_t big = (size_t)64 << 20;
    char json[4096];
    int si, ti, f, k, pos;
    /* memcpy: read bandwidth of a buffer far larger than the caches */
    {
        uint8_t *a = (uint8_t *)malloc(big), *b = (uint8_t *)malloc(big);
        memset(a, 1, big);
        memset(b, 2, big);
        for (k = 0; k < RUNS; ++k) {
            double t0 = now();
            memcpy(b, a, big);
            t[k] = now() - t0;
            a[k] = b[big - 1 - (size_t)k]; /* keep the copies */
        }
        memcpy_gbs = (double)big / median(t, RUNS) / 1e9;
        free(a);
        free(b);
    }
    printf("memcpy (64 MiB, bytes read per second): %.2f GB/s\n\n", memcpy_gbs);
    printf("%-6s %-10s %-6s %12s %10s %10s %8s %9s\n", "type", "shape", "format", "file bytes", "median ms", "GB/s",
           "% memcpy", "best GB/s");
    pos = snprintf(json, sizeof json, "import_json: {\"memcpy_gbs\": %.3f, \"runs\": [", memcpy_gbs);
    for (si = 0; si < 3; ++si)
        for (ti = 0; ti < 3; ++ti)
            for (f = 0; f < 2; ++f) {
                int rows = shapes[si][0], cols = shapes[si][1];
                size_t nbytes;
                uint8_t *p = make(types[ti], rows, cols, &nbytes);
                bl_tensor ten;
                bl_import_desc d;
                double ms, gbs, best = 1e30;
                if (types[ti] == BL_DTYPE_TQ2_0 || types[ti] == BL_DTYPE_TQ1_0 ? cols % 256 : cols % 128) { free(p); continue; }
                memset(&ten, 0, sizeof ten);
                ten.dtype = types[ti];
                ten.ndim = 2;
                ten.shape[0] = rows;
                ten.shape[1] = cols;
                ten.data = p;
                ten.nbytes = nbytes;
                memset(&d, 0, sizeof d);
                d.format = f ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
                d.flags = BL_IMPORT_STRICT;
                for (k = -2; k < RUNS; ++k) {
                    bl_linear *L = NULL;
                    double t0 = now();
                    bl_status st = bl_linear_import(&ten, &d, &L, NULL);
                    double dt = now() - t0;
                    if (st != BL_OK) { fprintf(stderr, "import failed: %s\n", bl_status_string(st)); return 1; }
                    bl_linear_destroy(L);
                    if (k >= 0) t[k] = dt;
                    if (k >= 0 && dt < best) best = dt;
                }
                ms = median(t, RUNS) * 1e3;
                gbs = (double)nbytes / (ms * 1e-3) / 1e9;
                printf("%-6s %4dx%-5d %-6s %12zu %10.3f %10.2f %7.0f%% %9.2f\n", tnames[ti], rows, cols,
                       f ? "BASE3" : "2BIT", nbytes, ms, gbs, 100.0 * gbs / memcpy_gbs, (double)nbytes / best / 1e9);
                if (pos < (int)sizeof json - 200)
                    pos += snprintf(json + pos, sizeof json - (size_t)pos,
                                    "%s{\"type\": \"%s\", \"rows\": %d, \"cols\": %d, \"format\": \"%s\", \"bytes\": %zu, "
                                    "\"median_ms\": %.4f, \"gbs\": %.3f, \"best_gbs\": %.3f}",
                                    pos > 60 && json[pos - 1] == '}' ? ", " : "", tnames[ti], rows, cols,
                                    f ? "BASE3" : "2BIT", nbytes, ms, gbs, (double)nbytes / best / 1e9);
                free(p);
            }
    printf("\n%s]}\n", json);
    return 0;
}
