/* web: a small ternary model run in a web page (index.html + main.js load this program
   compiled to WebAssembly), and the same program natively, so both can be compared.

   The model is build/tiny.blm (`make build/tiny.blm`: tools/tiny_model.py's checkpoint
   converted by `convert`): fc1 (64 -> 96) + bias, ReLU, fc2 (96 -> 10) + bias, BASE3,
   INT8 activations. The input is text: its bytes become 64 features (byte b adds 1 to
   feature b % 64, then all are scaled by 1 / length), so any input gives a forward.

   WebAssembly, clang + wasi-libc, no Emscripten (`make web` writes build/web/):
       clang --target=wasm32-wasi --sysroot=/usr -O2 -msimd128 -mexec-model=reactor \
             -DBITLINEAR_NO_STDIO -I. examples/web/web.c -o build/web/web.wasm
   Emscripten (the same exports; STANDALONE_WASM keeps the WASI imports main.js stubs):
       emcc -O2 -msimd128 -DBITLINEAR_NO_STDIO -I. examples/web/web.c --no-entry \
            -sSTANDALONE_WASM -o build/web/web.wasm
   Natively:  cc -O2 -I. examples/web/web.c -o build/web/web_native -lm
              build/web/web_native build/tiny.blm "some text"
   Both print or show "logits: ", each output's float bits in hex and the class, for exact
   comparison (the page in its #bits block).

   Exports (wasm): web_alloc(size) -> pointer, web_load(pointer, size) -> bl_status,
   web_forward(text pointer, length) -> bl_status (outputs at web_outputs()),
   web_backend() -> the backend's name. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

#if defined(__wasm__)
#  define WEB_EXPORT(name) __attribute__((export_name(#name)))
#else
#  define WEB_EXPORT(name)
#endif

#define WEB_IN 64
#define WEB_HIDDEN 96
#define WEB_OUT 10

static bl_model *web_model;
static const bl_linear *web_fc1, *web_fc2;
static float web_y[WEB_OUT];

/* memory for the caller to fill (the model's bytes, the text); 64-byte aligned */
WEB_EXPORT(web_alloc) void *web_alloc(size_t size)
{
    void *p = malloc(size + 64), *aligned;
    if (!p) return NULL;
    aligned = (void *)(((uintptr_t)p + 64) & ~(uintptr_t)63);
    ((void **)aligned)[-1] = p; /* at least one pointer's room before `aligned` */
    return aligned;
}

WEB_EXPORT(web_free) void web_free(void *aligned)
{
    if (aligned) free(((void **)aligned)[-1]);
}

/* Loads the .blm in bytes[0, size) (copied: the caller may free it) and finds its layers. */
WEB_EXPORT(web_load) int web_load(const void *bytes, size_t size)
{
    bl_model *m = NULL;
    bl_linear_info a, b;
    bl_status s = bl_model_load(bytes, size, &m);
    if (s != BL_OK) return (int)s;
    web_fc1 = bl_model_find(m, "fc1.weight");
    web_fc2 = bl_model_find(m, "fc2.weight");
    if (!web_fc1 || !web_fc2 || bl_linear_get_info(web_fc1, &a) != BL_OK || bl_linear_get_info(web_fc2, &b) != BL_OK ||
        a.in_features != WEB_IN || a.out_features != WEB_HIDDEN || b.in_features != WEB_HIDDEN || b.out_features != WEB_OUT) {
        bl_model_destroy(m);
        web_fc1 = web_fc2 = NULL;
        return (int)BL_ERR_FORMAT;
    }
    bl_model_destroy(web_model);
    web_model = m;
    return (int)BL_OK;
}

/* The forward on `len` bytes of text; the logits go to web_outputs(). */
WEB_EXPORT(web_forward) int web_forward(const char *text, size_t len)
{
    float x[WEB_IN], h[WEB_HIDDEN];
    size_t i;
    bl_status s;
    if (!web_model) return (int)BL_ERR_INVALID;
    memset(x, 0, sizeof x);
    for (i = 0; i < len; ++i) x[(unsigned char)text[i] % WEB_IN] += 1.0f;
    for (i = 0; i < WEB_IN && len > 0; ++i) x[i] /= (float)len;
    s = bl_linear_forward(web_fc1, x, 1, h, NULL);
    if (s != BL_OK) return (int)s;
    for (i = 0; i < WEB_HIDDEN; ++i) h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    return (int)bl_linear_forward(web_fc2, h, 1, web_y, NULL);
}

WEB_EXPORT(web_outputs) const float *web_outputs(void) { return web_y; }
WEB_EXPORT(web_output_count) int web_output_count(void) { return WEB_OUT; }
WEB_EXPORT(web_backend) const char *web_backend(void) { return bl_backend_name(bl_get_backend()); }

#if !defined(__wasm__)
#include <stdio.h>
/* native: web_native MODEL.blm TEXT -> "logits: <hex bits> ..." and the class */
int main(int argc, char **argv)
{
    FILE *f;
    long size;
    void *bytes;
    int i, best = 0, s;
    if (argc != 3) {
        fprintf(stderr, "usage: web_native model.blm text\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "web_native: cannot read %s\n", argv[1]);
        return 1;
    }
    bytes = web_alloc((size_t)size);
    if (!bytes || fread(bytes, 1, (size_t)size, f) != (size_t)size) return 1;
    fclose(f);
    if ((s = web_load(bytes, (size_t)size)) != 0 || (s = web_forward(argv[2], strlen(argv[2]))) != 0) {
        fprintf(stderr, "web_native: %s\n", bl_status_string((bl_status)s));
        return 1;
    }
    web_free(bytes);
    printf("logits:");
    for (i = 0; i < WEB_OUT; ++i) {
        uint32_t bits;
        memcpy(&bits, &web_y[i], sizeof bits);
        printf(" %08x", (unsigned)bits);
        if (web_y[i] > web_y[best]) best = i;
    }
    printf(" class: %d\nbackend: %s\n", best, web_backend());
    return 0;
}
#endif
