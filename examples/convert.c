/* convert: a safetensors checkpoint -> a bitlinear model file.

       cc -O2 -I. examples/convert.c -o convert -lm
       ./convert in.safetensors out.blm [--method optimal|absmean|absmax|twn] [--k N]
                 [--refine N] [--format 2bit|base3] [--act int8|float] [--transpose]
                 [--include PATTERN]... [--exclude PATTERN]... [--hadamard]

   Every 2-D F32/F16/BF16 tensor whose name matches an --include pattern (all, when there
   is none) and no --exclude pattern becomes a ternary layer of the same name; "X.bias"
   (1-D, [out]) goes with "X.weight". Patterns are globs: '*' any run, '?' one character.
   Weights are [out][in] (nn.Linear); --transpose reads [in][out] (GPT-2's Conv1D).
   Prints one line per layer (shape, bytes before and after, relative error
   ||W - W_ternary|| / ||W||) and the totals; a progress bar goes to stderr. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PATTERNS 64

#define HADAMARD_SEED 0x243F6A8885A308D3ull /* any fixed seed: it is stored in the file */

typedef struct options {
    const char *in, *out;
    bl_method method;
    bl_format format;
    bl_act act;
    int k, refine, transpose, hadamard;
    const char *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
    int n_include, n_exclude;
} options;

static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') { star = p++; resume = s; }
        else if (*p == '?' || *p == *s) { ++p; ++s; }
        else if (star) { p = star + 1; s = ++resume; }
        else return 0;
    }
    while (*p == '*') ++p;
    return *p == 0;
}

static int selected(const options *o, const char *name)
{
    int i, in = o->n_include == 0;
    for (i = 0; i < o->n_include && !in; ++i) in = glob_match(o->include[i], name);
    for (i = 0; i < o->n_exclude && in; ++i) in = !glob_match(o->exclude[i], name);
    return in;
}

static void usage(void)
{
    fprintf(stderr, "usage: convert in.safetensors out.blm [--method optimal|absmean|absmax|twn] [--k N]\n"
                    "               [--refine N] [--format 2bit|base3] [--act int8|float] [--transpose]\n"
                    "               [--include PATTERN]... [--exclude PATTERN]... [--hadamard]\n");
}

static int parse(int argc, char **argv, options *o)
{
    int i, pos = 0;
    memset(o, 0, sizeof *o);
    o->k = 1;
    for (i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hadamard") == 0) { o->hadamard = 1; continue; }
        if (strcmp(a, "--transpose") == 0) { o->transpose = 1; continue; }
        if (a[0] == '-' && a[1] == '-') {
            if (!v) { fprintf(stderr, "convert: %s needs a value\n", a); return 0; }
            ++i;
            if (strcmp(a, "--method") == 0) {
                if (strcmp(v, "optimal") == 0) o->method = BL_METHOD_OPTIMAL;
                else if (strcmp(v, "absmean") == 0) o->method = BL_METHOD_ABSMEAN;
                else if (strcmp(v, "absmax") == 0) o->method = BL_METHOD_ABSMAX;
                else if (strcmp(v, "twn") == 0) o->method = BL_METHOD_TWN;
                else { fprintf(stderr, "convert: unknown method '%s'\n", v); return 0; }
            } else if (strcmp(a, "--format") == 0) {
                if (strcmp(v, "2bit") == 0) o->format = BL_FORMAT_2BIT;
                else if (strcmp(v, "base3") == 0) o->format = BL_FORMAT_BASE3;
                else { fprintf(stderr, "convert: unknown format '%s'\n", v); return 0; }
            } else if (strcmp(a, "--act") == 0) {
                if (strcmp(v, "int8") == 0) o->act = BL_ACT_INT8;
                else if (strcmp(v, "float") == 0) o->act = BL_ACT_FLOAT;
                else { fprintf(stderr, "convert: unknown activation mode '%s'\n", v); return 0; }
            } else if (strcmp(a, "--k") == 0) {
                o->k = atoi(v);
                if (o->k < 1 || o->k > BL_MAX_K) { fprintf(stderr, "convert: --k must be 1..%d\n", BL_MAX_K); return 0; }
            } else if (strcmp(a, "--refine") == 0) {
                o->refine = atoi(v);
                if (o->refine < 0 || o->refine > 100) { fprintf(stderr, "convert: --refine must be 0..100\n"); return 0; }
            } else if (strcmp(a, "--include") == 0 && o->n_include < MAX_PATTERNS) {
                o->include[o->n_include++] = v;
            } else if (strcmp(a, "--exclude") == 0 && o->n_exclude < MAX_PATTERNS) {
                o->exclude[o->n_exclude++] = v;
            } else {
                fprintf(stderr, "convert: unknown or repeated-too-often option %s\n", a);
                return 0;
            }
        } else if (pos == 0) { o->in = a; ++pos; }
        else if (pos == 1) { o->out = a; ++pos; }
        else { fprintf(stderr, "convert: unexpected argument '%s'\n", a); return 0; }
    }
    if (!o->out) { usage(); return 0; }
    return 1;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f) return NULL;
    for (;;) {
        size_t got;
        if (n == cap) {
            unsigned char *grown;
            cap = cap ? cap * 2 : (size_t)1 << 20;
            grown = (unsigned char *)realloc(buf, cap);
            if (!grown) { free(buf); fclose(f); return NULL; }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) { free(buf); buf = NULL; }
    fclose(f);
    *size = n;
    return buf;
}

/* A tensor this tool converts: 2-D, float, within the library's limits. */
static int convertible(const options *o, const bl_tensor *t)
{
    int64_t in, out;
    if (t->ndim != 2 || t->dtype == BL_DTYPE_OTHER || !selected(o, t->name)) return 0;
    out = o->transpose ? t->shape[1] : t->shape[0];
    in = o->transpose ? t->shape[0] : t->shape[1];
    return in >= 1 && in <= BL_MAX_IN_FEATURES && out >= 1 && out <= 0x7FFFFFFF;
}

/* "X.weight" -> the 1-D "X.bias" of length out, if the file has one */
static const bl_tensor *find_bias(const bl_safetensors *st, const char *name, int64_t out)
{
    size_t n = strlen(name);
    const bl_tensor *b;
    char *bias_name;
    if (n < 7 || strcmp(name + n - 7, ".weight") != 0) return NULL;
    bias_name = (char *)malloc(n);
    memcpy(bias_name, name, n - 7);
    strcpy(bias_name + n - 7, ".bias");
    b = bl_safetensors_find(st, bias_name);
    free(bias_name);
    return b && b->ndim == 1 && b->shape[0] == out && b->dtype != BL_DTYPE_OTHER ? b : NULL;
}

static void progress(double done, double total, const char *name)
{
    int i, width = 30, filled = total > 0 ? (int)(width * done / total) : width;
    fprintf(stderr, "\r[");
    for (i = 0; i < width; ++i) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%%  %-40.40s", total > 0 ? (int)(100.0 * done / total) : 100, name);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    options o;
    unsigned char *bytes;
    size_t size = 0, before_total = 0, after_total = 0;
    bl_safetensors *st = NULL;
    bl_model_entry *entries;
    bl_linear **layers;
    double total_elems = 0, done_elems = 0, err2_total = 0, norm2_total = 0;
    int i, n, count = 0, show_progress;
    bl_status s;
    clock_t t0 = clock();

    if (!parse(argc, argv, &o)) return 2;
    bytes = read_file(o.in, &size);
    if (!bytes) { fprintf(stderr, "convert: cannot read %s\n", o.in); return 1; }
    s = bl_safetensors_open(bytes, size, &st);
    if (s != BL_OK) { fprintf(stderr, "convert: %s: %s\n", o.in, bl_status_string(s)); free(bytes); return 1; }
    n = bl_safetensors_count(st);
    for (i = 0; i < n; ++i) {
        const bl_tensor *t = bl_safetensors_get(st, i);
        if (convertible(&o, t)) total_elems += (double)t->shape[0] * (double)t->shape[1];
    }
    show_progress = total_elems >= 4e6; /* a bar only where the wait is noticeable */
    entries = (bl_model_entry *)calloc((size_t)n + 1, sizeof *entries);
    layers = (bl_linear **)calloc((size_t)n + 1, sizeof *layers);

    printf("%-44s %14s %12s %12s %8s %10s\n", "layer", "shape [out,in]", "bytes in", "bytes out", "ratio", "rel.error");
    for (i = 0; i < n; ++i) {
        const bl_tensor *t = bl_safetensors_get(st, i), *bt;
        int in, out, r, c;
        size_t elems, j, before;
        float *raw, *w, *bias = NULL;
        bl_linear_desc d;
        bl_linear_info info;
        int8_t *trits;
        double err, e2 = 0, n2 = 0;
        if (!convertible(&o, t)) continue;
        out = (int)(o.transpose ? t->shape[1] : t->shape[0]);
        in = (int)(o.transpose ? t->shape[0] : t->shape[1]);
        elems = (size_t)in * (size_t)out;
        if (show_progress) progress(done_elems, total_elems, t->name);
        raw = (float *)malloc(elems * sizeof(float));
        if (!raw || bl_tensor_to_f32(t, raw, elems) != BL_OK) { fprintf(stderr, "\nconvert: %s: cannot read\n", t->name); return 1; }
        w = raw;
        if (o.transpose) { /* [in][out] -> [out][in] */
            w = (float *)malloc(elems * sizeof(float));
            if (!w) { fprintf(stderr, "\nconvert: out of memory\n"); return 1; }
            for (r = 0; r < in; ++r)
                for (c = 0; c < out; ++c) w[(size_t)c * in + r] = raw[(size_t)r * out + c];
            free(raw);
        }
        before = t->nbytes;
        bt = find_bias(st, t->name, out);
        if (bt) {
            bias = (float *)malloc((size_t)out * sizeof(float));
            if (!bias || bl_tensor_to_f32(bt, bias, (size_t)out) != BL_OK) { fprintf(stderr, "\nconvert: bad bias\n"); return 1; }
            before += bt->nbytes;
        }
        memset(&d, 0, sizeof d);
        d.in_features = in;
        d.out_features = out;
        d.weight = w;
        d.bias = bias;
        d.k = o.k;
        d.refine_iters = o.refine;
        d.method = o.method;
        d.format = o.format;
        d.act = o.act;
        d.hadamard = o.hadamard; /* the layer rotates weights now and inputs at run time */
        d.hadamard_seed = HADAMARD_SEED;
        s = bl_linear_create(&d, &layers[count]);
        if (s != BL_OK) {
            fprintf(stderr, "\nconvert: %s: %s\n", t->name, bl_status_string(s));
            return 1;
        }
        /* the error of what was stored: unpack the packed trits again */
        memset(&info, 0, sizeof info);
        bl_linear_get_info(layers[count], &info);
        trits = (int8_t *)malloc(elems * (size_t)info.k);
        if (!trits) { fprintf(stderr, "\nconvert: out of memory\n"); return 1; }
        for (j = 0; j < (size_t)info.k; ++j)
            (void)bl_unpack(info.format, info.packed + j * (size_t)out * info.row_bytes, (size_t)out * info.row_bytes,
                            out, in, trits + j * elems);
        /* R is orthonormal: the error of the rotated fit is the error in the original space */
        if (o.hadamard) (void)bl_hadamard_rotate(w, in, out, HADAMARD_SEED, 0);
        err = bl_decompose_error(w, out, in, info.k, trits, info.scales);
        for (j = 0; j < elems; ++j) n2 += (double)w[j] * w[j];
        e2 = err * err * n2;
        err2_total += e2;
        norm2_total += n2;
        entries[count].name = t->name;
        entries[count].layer = layers[count];
        if (show_progress) fprintf(stderr, "\r%*s\r", 80, "");
        printf("%-44.44s %6d x %-6d %12lu %12lu %7.1fx %10.4f\n", t->name, out, in, (unsigned long)before,
               (unsigned long)bl_linear_nbytes(layers[count]),
               (double)before / (double)bl_linear_nbytes(layers[count]), err);
        fflush(stdout);
        before_total += before;
        after_total += bl_linear_nbytes(layers[count]);
        done_elems += (double)elems;
        ++count;
        free(trits);
        free(w);
        free(bias);
    }
    if (show_progress) progress(total_elems, total_elems, "done"), fputc('\n', stderr);
    if (count == 0) {
        fprintf(stderr, "convert: no 2-D float tensor matched\n");
        return 1;
    }
    s = bl_model_save_path(entries, count, o.out);
    if (s != BL_OK) { fprintf(stderr, "convert: writing %s: %s\n", o.out, bl_status_string(s)); return 1; }
    {
        FILE *f = fopen(o.out, "rb");
        long file_bytes = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) file_bytes = ftell(f);
        if (f) fclose(f);
        printf("%-44s %14s %12lu %12lu %7.1fx %10.4f\n", "total", "", (unsigned long)before_total,
               (unsigned long)after_total, after_total ? (double)before_total / (double)after_total : 0.0,
               norm2_total > 0 ? sqrt(err2_total / norm2_total) : 0.0);
        printf("%d layers, k=%d, %s, %s activations: wrote %s (%ld bytes) in %.1f s\n", count, o.k,
               o.format == BL_FORMAT_2BIT ? "2bit" : "base3", o.act == BL_ACT_INT8 ? "int8" : "float", o.out,
               file_bytes, (double)(clock() - t0) / CLOCKS_PER_SEC);
    }
    for (i = 0; i < count; ++i) bl_linear_destroy(layers[i]);
    free(layers);
    free(entries);
    bl_safetensors_close(st);
    free(bytes);
    return 0;
}
