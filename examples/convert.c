/* convert: a checkpoint (safetensors, sharded safetensors, GGUF) -> a bitlinear model
   file (.blm) or a GGUF file llama.cpp loads.

       cc -O2 -I. examples/convert.c -o convert -lm
       ./convert IN OUT [options]        (./convert --help lists them)

   IN is a .safetensors file (one shard alone is fine), a directory holding
   model.safetensors.index.json and its shards (or one model.safetensors), the index
   json itself, or a .gguf file; or a .blm, whose layers, tensors and metadata go out as
   they are (to GGUF for llama.cpp). OUT ends in .blm or .gguf.

   What becomes a layer (named as the source tensor):
     - GGUF TQ1_0, TQ2_0 and I2_S tensors: imported losslessly (bl_linear_import);
       "exact", or "re-quantized" when a row's blocks carry different scales (--strict
       refuses those instead);
     - Hugging Face packed BitNet weights (U8 "X.weight" beside "X.weight_scale"):
       imported losslessly; the scale multiplies (transformers' AutoBitLinear,
       quantization_config.linear_class "autobitlinear") or divides (BitLinear, the
       default linear_class) the trits: read from config.json beside the checkpoint, else
       --hf-scale must say which;
     - 2-D float tensors (F32, F16, BF16, F64) selected by --include/--exclude: quantized
       with --method/--scaling/--k. For safetensors every 2-D float tensor is selected
       unless the patterns say otherwise; for GGUF only those an --include names
       (--include also selects Q8_0 tensors, which are dequantized first).
   "X.bias" (1-D float, [out]) goes with "X.weight". Every other float tensor
   (embeddings, norms, ...) is copied along as a float tensor, and metadata too (GGUF
   key/value pairs; safetensors __metadata__ as "safetensors.metadata.KEY"; config.json
   as the string "hf.config.json"). Anything else is skipped, and the skip report says
   why. Patterns are globs: '*' any run, '?' one character. BitNet b1.58's own rule for
   float checkpoints is --method absmean --scaling tensor.

   Prints one line per layer (shape, source type, how it was made, bytes before and
   after, relative error ||W - W_layer|| / ||W|| against the source's values), the
   totals, and the skip report. Exit status: 0 on success, 1 when the input or output is
   refused, 2 for a usage error. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PATTERNS 64
#define MAX_SHARDS 4096
#define HADAMARD_SEED 0x243F6A8885A308D3ull /* any fixed seed: it is stored in the file */

static int g_progress; /* a progress bar is on stderr's current line */

typedef struct options {
    const char *in, *out;
    bl_method method;
    bl_scaling scaling;
    bl_format format;
    bl_act act;
    int act_bits, k, refine, transpose, hadamard, strict, list, hf_scale; /* hf_scale: 0 unset, 1 multiply, 2 divide */
    const char *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
    int n_include, n_exclude;
} options;

/* ---- small helpers ---- */

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

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = (char *)malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* the directory part of a file path ("." when there is none) */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;
    if (!slash) return xstrdup(".");
    d = (char *)malloc((size_t)(slash - path) + 2);
    if (!d) return NULL;
    memcpy(d, path, (size_t)(slash - path));
    d[slash - path] = 0;
    if (slash == path) strcpy(d, "/");
    return d;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* The whole file; NULL with errno set on failure. */
static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int err;
    if (!f) return NULL;
    for (;;) {
        size_t got;
        if (n == cap) {
            unsigned char *grown;
            cap = cap ? cap * 2 : (size_t)1 << 20;
            grown = (unsigned char *)realloc(buf, cap);
            if (!grown) { free(buf); fclose(f); errno = ENOMEM; return NULL; }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        err = errno;
        free(buf);
        fclose(f);
        errno = err ? err : EIO;
        return NULL;
    }
    fclose(f);
    *size = n;
    return buf;
}

static const char *dtype_name(bl_dtype d)
{
    static const char *names[] = { "F32", "F16", "BF16", "other", "F64", "I8", "U8", "BOOL", "I16",
                                   "U16", "I32", "U32", "I64", "U64", "Q8_0", "TQ1_0", "TQ2_0", "I2_S" };
    return (int)d >= 0 && (size_t)d < sizeof names / sizeof names[0] ? names[d] : "other";
}

static int is_float(bl_dtype d)
{
    return d == BL_DTYPE_F32 || d == BL_DTYPE_F16 || d == BL_DTYPE_BF16 || d == BL_DTYPE_F64;
}
static int is_ternary(bl_dtype d) { return d == BL_DTYPE_TQ1_0 || d == BL_DTYPE_TQ2_0 || d == BL_DTYPE_I2_S; }

/* ---- a small JSON reader (index and config files): a tree of values ---- */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
    jtype type;
    double num;
    char *str;                /* J_STR: the decoded text */
    int n;                    /* J_ARR, J_OBJ: members */
    char **keys;              /* J_OBJ */
    struct jval *items;
} jval;

typedef struct jparser { const char *p, *end; int depth; } jparser;

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) ++j->p;
}

static void jput(char *d, size_t *n, unsigned cp)
{
    if (cp < 0x80) d[(*n)++] = (char)cp;
    else if (cp < 0x800) { d[(*n)++] = (char)(0xC0 | cp >> 6); d[(*n)++] = (char)(0x80 | (cp & 63)); }
    else if (cp < 0x10000) {
        d[(*n)++] = (char)(0xE0 | cp >> 12); d[(*n)++] = (char)(0x80 | ((cp >> 6) & 63)); d[(*n)++] = (char)(0x80 | (cp & 63));
    } else {
        d[(*n)++] = (char)(0xF0 | cp >> 18); d[(*n)++] = (char)(0x80 | ((cp >> 12) & 63));
        d[(*n)++] = (char)(0x80 | ((cp >> 6) & 63)); d[(*n)++] = (char)(0x80 | (cp & 63));
    }
}

static int jhex(const char *p, unsigned *v)
{
    int i;
    *v = 0;
    for (i = 0; i < 4; ++i) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16u) return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

/* a string at j->p (the opening quote); the decoded text is never longer than the source */
static char *jstring(jparser *j)
{
    const char *start = ++j->p;
    char *d;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') j->p += *j->p == '\\' && j->p + 1 < j->end ? 2 : 1;
    if (j->p >= j->end) return NULL;
    d = (char *)malloc((size_t)(j->p - start) + 1);
    if (!d) return NULL;
    j->p = start;
    while (*j->p != '"') {
        unsigned cp = (unsigned char)*j->p++;
        if (cp == '\\') {
            char c = *j->p++;
            if (c == 'n') cp = '\n'; else if (c == 't') cp = '\t'; else if (c == 'r') cp = '\r';
            else if (c == 'b') cp = '\b'; else if (c == 'f') cp = '\f';
            else if (c == 'u') {
                unsigned lo;
                if (j->end - j->p < 4 || !jhex(j->p, &cp)) { free(d); return NULL; }
                j->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                    jhex(j->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
                if (cp == 0) cp = 0xFFFD; /* keys become C strings */
                jput(d, &n, cp);
                continue;
            } else cp = (unsigned char)c;
        }
        d[n++] = (char)cp;
    }
    ++j->p;
    d[n] = 0;
    return d;
}

static void jfree(jval *v)
{
    int i;
    if (!v) return;
    for (i = 0; i < v->n; ++i) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

static int jvalue(jparser *j, jval *v)
{
    memset(v, 0, sizeof *v);
    jws(j);
    if (j->p >= j->end || ++j->depth > 64) return 0;
    if (*j->p == '{' || *j->p == '[') {
        int obj = *j->p == '{', cap = 0;
        char close = obj ? '}' : ']';
        v->type = obj ? J_OBJ : J_ARR;
        ++j->p;
        jws(j);
        if (j->p < j->end && *j->p == close) { ++j->p; --j->depth; return 1; }
        for (;;) {
            if (v->n == cap) {
                jval *items;
                char **keys;
                cap = cap ? 2 * cap : 8;
                items = (jval *)realloc(v->items, (size_t)cap * sizeof *items);
                if (!items) return 0;
                v->items = items;
                if (obj) {
                    keys = (char **)realloc(v->keys, (size_t)cap * sizeof *keys);
                    if (!keys) return 0;
                    v->keys = keys;
                }
            }
            if (obj) {
                jws(j);
                if (j->p >= j->end || *j->p != '"' || !(v->keys[v->n] = jstring(j))) return 0;
                jws(j);
                if (j->p >= j->end || *j->p != ':') { free(v->keys[v->n]); return 0; }
                ++j->p;
            }
            if (!jvalue(j, &v->items[v->n])) {
                if (obj) free(v->keys[v->n]);
                jfree(&v->items[v->n]);
                return 0;
            }
            ++v->n;
            jws(j);
            if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
            if (j->p < j->end && *j->p == close) { ++j->p; break; }
            return 0;
        }
    } else if (*j->p == '"') {
        v->type = J_STR;
        if (!(v->str = jstring(j))) return 0;
    } else if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) { v->type = J_BOOL; v->num = 1; j->p += 4; }
    else if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) { v->type = J_BOOL; j->p += 5; }
    else if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) { v->type = J_NULL; j->p += 4; }
    else {
        char buf[64], *stop;
        size_t n = 0;
        while (j->p + n < j->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", j->p[n])) ++n;
        memcpy(buf, j->p, n);
        buf[n] = 0;
        v->type = J_NUM;
        v->num = strtod(buf, &stop);
        if (n == 0 || *stop) return 0;
        j->p += n;
    }
    --j->depth;
    return 1;
}

/* the whole text as one value; 0 if it is not JSON */
static int jparse(const char *text, size_t size, jval *v)
{
    jparser j;
    j.p = text;
    j.end = text + size;
    j.depth = 0;
    if (!jvalue(&j, v)) { jfree(v); return 0; }
    jws(&j);
    if (j.p != j.end) { jfree(v); return 0; }
    return 1;
}

static const jval *jget(const jval *obj, const char *key)
{
    int i;
    if (!obj || obj->type != J_OBJ) return NULL;
    for (i = 0; i < obj->n; ++i)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

/* ---- the input: files, tensors, metadata ---- */

typedef enum action {
    A_SKIP = 0,     /* reason says why */
    A_LAYER,        /* quantized or imported */
    A_COPY,         /* copied as a float tensor */
    A_BIAS,         /* goes with its layer */
    A_SCALE         /* an HF weight_scale, goes with its layer */
} action;

typedef struct item {
    const bl_tensor *t;
    const char *file;           /* the file it came from */
    action act;
    const char *reason;
    int hf;                     /* HF packed weights */
    const bl_tensor *bias, *scale;
} item;

typedef struct input {
    int gguf;
    int n_files;
    char *paths[MAX_SHARDS];
    unsigned char *bytes[MAX_SHARDS];
    bl_safetensors *st[MAX_SHARDS];
    bl_gguf *g;
    item *items;
    int n_items;
    /* metadata: kvs point into gguf bytes or the strings below */
    bl_kv *kvs;
    int n_kvs;
    bl_str *strs;               /* one per safetensors metadata value and config.json */
    char **owned;               /* strings to free */
    int n_owned;
    char *config_text;          /* config.json beside the input, or NULL */
    char *config_path;
    jval config;
} input;

static int keep(input *in, char *s)
{
    char **grown = (char **)realloc(in->owned, (size_t)(in->n_owned + 1) * sizeof *grown);
    if (!grown || !s) { free(s); return 0; }
    in->owned = grown;
    in->owned[in->n_owned++] = s;
    return 1;
}

static int add_kv_string(input *in, const char *key, const char *value, size_t len)
{
    bl_kv *kvs = (bl_kv *)realloc(in->kvs, (size_t)(in->n_kvs + 1) * sizeof *kvs);
    bl_str *s = (bl_str *)malloc(sizeof *s);
    char *k = xstrdup(key);
    if (!kvs || !s || !k) { free(s); free(k); if (kvs) in->kvs = kvs; return 0; }
    in->kvs = kvs;
    s->data = value;
    s->size = len;
    if (!keep(in, k) || !keep(in, (char *)s)) return 0;
    memset(&kvs[in->n_kvs], 0, sizeof kvs[0]);
    kvs[in->n_kvs].key = k;
    kvs[in->n_kvs].type = BL_VALUE_STRING;
    kvs[in->n_kvs].elem_type = BL_VALUE_STRING;
    kvs[in->n_kvs].count = 1;
    kvs[in->n_kvs].data = s;
    ++in->n_kvs;
    return 1;
}

/* safetensors "__metadata__" {string: string} -> kvs "safetensors.metadata.KEY" */
static int st_metadata(input *in, const unsigned char *bytes, size_t size)
{
    uint64_t n = 0;
    int i;
    jval root;
    const jval *md;
    for (i = 7; i >= 0; --i) n = n << 8 | bytes[i];
    if (size < 8 || n > size - 8 || !jparse((const char *)bytes + 8, (size_t)n, &root)) return 1; /* already validated */
    md = jget(&root, "__metadata__");
    for (i = 0; md && md->type == J_OBJ && i < md->n; ++i) {
        char *key, *val;
        size_t kl = strlen(md->keys[i]);
        if (md->items[i].type != J_STR) continue;
        key = (char *)malloc(kl + 32);
        val = xstrdup(md->items[i].str);
        if (!key || !val) { free(key); free(val); jfree(&root); return 0; }
        sprintf(key, "safetensors.metadata.%s", md->keys[i]);
        if (!keep(in, val) || !add_kv_string(in, key, val, strlen(val))) { free(key); jfree(&root); return 0; }
        free(key);
    }
    jfree(&root);
    return 1;
}

static int open_st(input *in, const char *path)
{
    size_t size = 0;
    bl_status s;
    int f = in->n_files;
    if (f == MAX_SHARDS) { fprintf(stderr, "convert: %s: more than %d shards\n", path, MAX_SHARDS); return 0; }
    in->paths[f] = xstrdup(path);
    in->bytes[f] = read_file(path, &size);
    ++in->n_files;
    if (!in->bytes[f]) { fprintf(stderr, "convert: cannot read %s: %s\n", path, strerror(errno)); return 0; }
    s = bl_safetensors_open(in->bytes[f], size, &in->st[f]);
    if (s != BL_OK) {
        fprintf(stderr, "convert: %s: not a valid safetensors file: %s\n", path, bl_status_string(s));
        return 0;
    }
    if (!st_metadata(in, in->bytes[f], size)) { fprintf(stderr, "convert: out of memory\n"); return 0; }
    return 1;
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}};
   the shards are opened in the order they first appear. */
static int open_index(input *in, const char *index_path)
{
    size_t size = 0;
    unsigned char *text = read_file(index_path, &size);
    char *dir;
    jval root;
    const jval *map;
    int i, j, ok = 1;
    if (!text) { fprintf(stderr, "convert: cannot read %s: %s\n", index_path, strerror(errno)); return 0; }
    if (!jparse((const char *)text, size, &root)) {
        fprintf(stderr, "convert: %s: not valid JSON\n", index_path);
        free(text);
        return 0;
    }
    free(text);
    map = jget(&root, "weight_map");
    if (!map || map->type != J_OBJ || map->n == 0) {
        fprintf(stderr, "convert: %s: no \"weight_map\" object of tensor names and shard files\n", index_path);
        jfree(&root);
        return 0;
    }
    dir = dir_of(index_path);
    for (i = 0; i < map->n && ok; ++i) {
        char *path;
        int seen = 0;
        if (map->items[i].type != J_STR || strchr(map->items[i].str, '/') || map->items[i].str[0] == 0) {
            fprintf(stderr, "convert: %s: tensor %s: the shard must be a file name in the same directory\n",
                    index_path, map->keys[i]);
            ok = 0;
            break;
        }
        for (j = 0; j < i && !seen; ++j) seen = strcmp(map->items[j].str, map->items[i].str) == 0;
        if (seen) continue;
        path = join_path(dir, map->items[i].str);
        ok = path && open_st(in, path);
        free(path);
    }
    /* every tensor the index names is in the shard it names */
    for (i = 0; i < map->n && ok; ++i) {
        int found = 0;
        for (j = 0; j < in->n_files && !found; ++j)
            found = ends_with(in->paths[j], map->items[i].str) && bl_safetensors_find(in->st[j], map->keys[i]);
        if (!found) {
            fprintf(stderr, "convert: %s: tensor %s: not in its shard %s\n", index_path, map->keys[i], map->items[i].str);
            ok = 0;
        }
    }
    free(dir);
    jfree(&root);
    return ok;
}

static int open_gguf(input *in, const char *path)
{
    size_t size = 0;
    bl_status s;
    int i;
    in->gguf = 1;
    in->paths[0] = xstrdup(path);
    in->bytes[0] = read_file(path, &size);
    in->n_files = 1;
    if (!in->bytes[0]) { fprintf(stderr, "convert: cannot read %s: %s\n", path, strerror(errno)); return 0; }
    s = bl_gguf_open(in->bytes[0], size, &in->g);
    if (s != BL_OK) {
        fprintf(stderr, "convert: %s: not a valid GGUF file: %s\n", path, bl_status_string(s));
        return 0;
    }
    in->kvs = (bl_kv *)malloc(((size_t)bl_gguf_kv_count(in->g) + 1) * sizeof(bl_kv));
    if (!in->kvs) { fprintf(stderr, "convert: out of memory\n"); return 0; }
    for (i = 0; i < bl_gguf_kv_count(in->g); ++i) {
        const bl_kv *kv = bl_gguf_kv(in->g, i);
        if (strcmp(kv->key, "general.alignment") == 0) continue; /* the writer's own */
        in->kvs[in->n_kvs++] = *kv;
    }
    return 1;
}

/* Opens IN (see the top comment) and reads config.json beside it, if there is one. */
static int open_input(input *in, const char *path)
{
    char *index = join_path(path, "model.safetensors.index.json");
    char *single = join_path(path, "model.safetensors");
    char *dir = NULL;
    int ok;
    size_t size = 0;
    memset(in, 0, sizeof *in);
    if (index && file_exists(index)) { /* a directory of shards */
        ok = open_index(in, index);
        dir = xstrdup(path);
    } else if (single && file_exists(single)) { /* a directory with one file */
        ok = open_st(in, single);
        dir = xstrdup(path);
    } else if (ends_with(path, ".gguf")) {
        ok = open_gguf(in, path);
    } else if (ends_with(path, ".json")) {
        ok = open_index(in, path);
        dir = dir_of(path);
    } else {
        ok = open_st(in, path);
        dir = dir_of(path);
    }
    free(index);
    free(single);
    if (ok && dir) {
        in->config_path = join_path(dir, "config.json");
        if (in->config_path && file_exists(in->config_path)) {
            in->config_text = (char *)read_file(in->config_path, &size);
            if (!in->config_text) {
                fprintf(stderr, "convert: cannot read %s: %s\n", in->config_path, strerror(errno));
                ok = 0;
            } else if (!jparse(in->config_text, size, &in->config)) {
                fprintf(stderr, "convert: %s: not valid JSON\n", in->config_path);
                ok = 0;
            } else {
                ok = add_kv_string(in, "hf.config.json", in->config_text, size);
            }
        }
    }
    free(dir);
    return ok;
}

static void close_input(input *in)
{
    int i;
    for (i = 0; i < in->n_files; ++i) {
        bl_safetensors_close(in->st[i]);
        free(in->bytes[i]);
        free(in->paths[i]);
    }
    bl_gguf_close(in->g);
    for (i = 0; i < in->n_owned; ++i) free(in->owned[i]);
    free(in->owned);
    free(in->kvs);
    free(in->items);
    free(in->config_text);
    free(in->config_path);
    jfree(&in->config);
}

static item *find_item(input *in, const char *name)
{
    int i;
    for (i = 0; i < in->n_items; ++i)
        if (strcmp(in->items[i].t->name, name) == 0) return &in->items[i];
    return NULL;
}

/* out, in of a layer made from item it ([out][in]; --transpose reads [in][out] floats;
   HF packed rows hold 4 output rows per byte) */
static void layer_dims(const options *o, const item *it, int64_t *out, int64_t *in)
{
    const bl_tensor *t = it->t;
    *out = t->shape[0];
    *in = t->shape[1];
    if (it->hf) *out = 4 * t->shape[0];
    else if (o->transpose && is_float(t->dtype)) { *out = t->shape[1]; *in = t->shape[0]; }
}

static int hf_scale_from_config(const input *in);

/* Decides what happens to every tensor; 0 on a refusal (printed). */
static int plan(input *in, const options *o)
{
    int f, i, n = 0;
    for (f = 0; f < (in->gguf ? 1 : in->n_files); ++f) n += in->gguf ? bl_gguf_count(in->g) : bl_safetensors_count(in->st[f]);
    in->items = (item *)calloc((size_t)n + 1, sizeof(item));
    if (!in->items) { fprintf(stderr, "convert: out of memory\n"); return 0; }
    for (f = 0; f < (in->gguf ? 1 : in->n_files); ++f) {
        int count = in->gguf ? bl_gguf_count(in->g) : bl_safetensors_count(in->st[f]);
        for (i = 0; i < count; ++i) {
            const bl_tensor *t = in->gguf ? bl_gguf_get(in->g, i) : bl_safetensors_get(in->st[f], i);
            item *dup = find_item(in, t->name);
            if (dup) {
                fprintf(stderr, "convert: %s: tensor %s: also in %s\n", in->paths[f], t->name, dup->file);
                return 0;
            }
            in->items[in->n_items].t = t;
            in->items[in->n_items].file = in->paths[f];
            ++in->n_items;
        }
    }
    /* HF packed weights: U8 "X.weight" [out/4][in] beside "X.weight_scale" */
    for (i = 0; i < in->n_items; ++i) {
        item *it = &in->items[i], *w;
        const char *name = it->t->name;
        size_t len = strlen(name);
        char *wname;
        if (!ends_with(name, ".weight_scale")) continue;
        wname = xstrdup(name);
        if (!wname) return 0;
        wname[len - 6] = 0; /* "X.weight" */
        w = find_item(in, wname);
        free(wname);
        if (w && w->t->dtype == BL_DTYPE_U8 && w->t->ndim == 2) {
            w->hf = 1;
            w->scale = it->t;
            it->act = A_SCALE;
        }
    }
    for (i = 0; i < in->n_items; ++i) {
        item *it = &in->items[i];
        const bl_tensor *t = it->t;
        int sel = selected(o, t->name);
        if (it->act == A_SCALE) continue;
        if (it->hf || is_ternary(t->dtype)) {
            if (t->ndim != 2) { it->reason = "a ternary tensor that is not 2-D"; continue; }
            if (!sel) { it->reason = "excluded (a ternary tensor cannot be copied as a float tensor)"; continue; }
            it->act = A_LAYER;
        } else if (t->ndim == 2 && sel && (is_float(t->dtype) || t->dtype == BL_DTYPE_Q8_0) &&
                   (!in->gguf || o->n_include > 0)) {
            it->act = A_LAYER;
        } else if (t->dtype == BL_DTYPE_F32 || t->dtype == BL_DTYPE_F16 || t->dtype == BL_DTYPE_BF16 ||
                   t->dtype == BL_DTYPE_F64) {
            it->act = A_COPY;
        } else if (t->dtype == BL_DTYPE_Q8_0) {
            it->reason = "Q8_0 is not stored as a float tensor (--include it to make it a layer)";
        } else {
            it->reason = "not a float type the output stores";
        }
        if (it->act == A_LAYER) {
            int64_t out, inf;
            layer_dims(o, it, &out, &inf);
            if (inf < 1 || inf > BL_MAX_IN_FEATURES || out < 1 || out > 0x7FFFFFFF) {
                it->act = is_float(t->dtype) && t->dtype != BL_DTYPE_F64 ? A_COPY : A_SKIP;
                it->reason = "shape outside a layer's limits";
            }
        }
    }
    /* "X.bias" with the layer "X.weight" */
    for (i = 0; i < in->n_items; ++i) {
        item *it = &in->items[i], *b;
        size_t len = strlen(it->t->name);
        char *bname;
        int64_t out, inf;
        if (it->act != A_LAYER || !ends_with(it->t->name, ".weight")) continue;
        bname = (char *)malloc(len);
        if (!bname) return 0;
        memcpy(bname, it->t->name, len - 7);
        strcpy(bname + len - 7, ".bias");
        b = find_item(in, bname);
        free(bname);
        layer_dims(o, it, &out, &inf);
        if (b && b->t->ndim == 1 && b->t->shape[0] == out && is_float(b->t->dtype)) {
            b->act = A_BIAS;
            it->bias = b->t;
        }
    }
    /* scale direction of HF packed weights */
    for (i = 0; i < in->n_items; ++i)
        if (in->items[i].hf && in->items[i].act == A_LAYER) break;
    if (i < in->n_items && !o->hf_scale && !hf_scale_from_config(in)) {
        if (in->config_text)
            fprintf(stderr, "convert: %s: tensor %s: Hugging Face packed weights, and %s has no quantization_config "
                            "with quant_method \"bitnet\"", in->items[i].file, in->items[i].t->name, in->config_path);
        else
            fprintf(stderr, "convert: %s: tensor %s: Hugging Face packed weights, and there is no %s", in->items[i].file,
                    in->items[i].t->name, in->config_path ? in->config_path : "config.json beside it");
        fprintf(stderr, ": say whether weight_scale multiplies (transformers' AutoBitLinear) or divides (BitLinear) "
                        "with --hf-scale multiply|divide\n");
        return 0;
    }
    return 1;
}

/* --hf-scale from config.json's quantization_config, when the option is absent:
   quant_method "bitnet" with linear_class "autobitlinear" multiplies (AutoBitLinear:
   output * weight_scale); any other linear_class (default "bitlinear") divides
   (BitLinear: output / weight_scale). */
static int hf_scale_from_config(const input *in)
{
    const jval *qc = jget(&in->config, "quantization_config"), *m = jget(qc, "quant_method"), *lc;
    if (!m || m->type != J_STR || strcmp(m->str, "bitnet") != 0) return 0;
    lc = jget(qc, "linear_class");
    return lc && lc->type == J_STR && strcmp(lc->str, "autobitlinear") == 0 ? 1 : 2;
}

/* ---- options ---- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: convert IN OUT [options]\n"
            "  IN   .safetensors file, a directory with model.safetensors.index.json and its shards\n"
            "       (or model.safetensors), the index json, or a .gguf file; or a .blm (copied as stored)\n"
            "  OUT  .blm (bitlinear model) or .gguf (layers as TQ2_0, or TQ1_0 with --format base3)\n"
            "options:\n"
            "  --method optimal|absmean|absmax|twn   quantizing float tensors (default optimal)\n"
            "  --scaling row|tensor                  one scale per row or per tensor (default row)\n"
            "  --k N --refine N                      ternary components (1..%d) and refinement passes\n"
            "  --format 2bit|base3                   packing (default 2bit)\n"
            "  --act int8|float  --act-bits N        activation mode, INT8 bits 2..8 (default int8, 8)\n"
            "  --include PATTERN --exclude PATTERN   glob patterns choosing the layers (repeatable)\n"
            "  --transpose                           float weights stored [in][out] (GPT-2 Conv1D)\n"
            "  --hadamard                            rotate float weights before quantizing\n"
            "  --hf-scale multiply|divide            Hugging Face packed weights without config.json:\n"
            "                                        AutoBitLinear multiplies, BitLinear divides\n"
            "  --strict                              refuse to re-quantize a ternary tensor\n"
            "  --list                                show what would be converted and skipped; write nothing\n"
            "  --help                                this text\n"
            "BitNet b1.58's rule for float checkpoints: --method absmean --scaling tensor\n",
            BL_MAX_K);
}

static int pick(const char *opt, const char *v, const char *const *names, int n, int *out)
{
    int i;
    for (i = 0; i < n; ++i)
        if (strcmp(v, names[i]) == 0) { *out = i; return 1; }
    fprintf(stderr, "convert: %s: unknown value '%s'\n", opt, v);
    return 0;
}

/* 1: go on; 0: usage error (exit 2); -1: --help printed (exit 0) */
static int parse(int argc, char **argv, options *o)
{
    static const char *const methods[] = { "optimal", "absmean", "absmax", "twn" };
    static const char *const scalings[] = { "row", "tensor" };
    static const char *const formats[] = { "2bit", "base3" };
    static const char *const acts[] = { "int8", "float" };
    static const char *const hf[] = { "", "multiply", "divide" };
    int i, pos = 0, v_int;
    memset(o, 0, sizeof *o);
    o->k = 1;
    for (i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return -1; }
        if (strcmp(a, "--hadamard") == 0) { o->hadamard = 1; continue; }
        if (strcmp(a, "--transpose") == 0) { o->transpose = 1; continue; }
        if (strcmp(a, "--strict") == 0) { o->strict = 1; continue; }
        if (strcmp(a, "--list") == 0) { o->list = 1; continue; }
        if (a[0] == '-' && a[1] == '-') {
            if (!v) { fprintf(stderr, "convert: %s needs a value\n", a); return 0; }
            ++i;
            if (strcmp(a, "--method") == 0) {
                if (!pick(a, v, methods, 4, &v_int)) return 0;
                o->method = (bl_method)v_int;
            } else if (strcmp(a, "--scaling") == 0) {
                if (!pick(a, v, scalings, 2, &v_int)) return 0;
                o->scaling = (bl_scaling)v_int;
            } else if (strcmp(a, "--format") == 0) {
                if (!pick(a, v, formats, 2, &v_int)) return 0;
                o->format = (bl_format)v_int;
            } else if (strcmp(a, "--act") == 0) {
                if (!pick(a, v, acts, 2, &v_int)) return 0;
                o->act = (bl_act)v_int;
            } else if (strcmp(a, "--hf-scale") == 0) {
                if (!pick(a, v, hf, 3, &o->hf_scale) || o->hf_scale == 0) return 0;
            } else if (strcmp(a, "--act-bits") == 0) {
                o->act_bits = atoi(v);
                if (o->act_bits < 2 || o->act_bits > 8) { fprintf(stderr, "convert: --act-bits must be 2..8\n"); return 0; }
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
                fprintf(stderr, "convert: unknown option %s (or given more than %d times)\n", a, MAX_PATTERNS);
                return 0;
            }
        } else if (pos == 0) { o->in = a; ++pos; }
        else if (pos == 1) { o->out = a; ++pos; }
        else { fprintf(stderr, "convert: unexpected argument '%s'\n", a); return 0; }
    }
    if (!o->in || (!o->out && !o->list)) { usage(stderr); return 0; }
    if (o->out && !ends_with(o->out, ".blm") && !ends_with(o->out, ".gguf")) {
        fprintf(stderr, "convert: %s: the output must end in .blm or .gguf\n", o->out);
        return 0;
    }
    return 1;
}

/* Can OUT be written? Opened for appending (nothing truncated), then closed; a file
   that did not exist is removed again. */
static int check_writable(const char *path)
{
    int existed = file_exists(path);
    FILE *f = fopen(path, "ab");
    if (!f) {
        fprintf(stderr, "convert: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    fclose(f);
    if (!existed) remove(path);
    return 1;
}

/* ---- converting ---- */

/* The source's own values of a layer's tensor, [out][in] (after --transpose). */
static float *source_values(const options *o, const item *it, int out, int in, int divide)
{
    const bl_tensor *t = it->t;
    size_t elems = (size_t)out * (size_t)in, r, c;
    float *w = (float *)malloc(elems * sizeof(float)), *raw;
    if (!w) return NULL;
    if (it->hf) { /* transformers' pack_weights: row i*out/4 + r is ((byte[r][c] >> 2i) & 3) - 1 */
        const unsigned char *p = (const unsigned char *)t->data;
        size_t groups = (size_t)out / 4, ns = (size_t)(it->scale->nbytes / (size_t)it->scale->elem_bytes);
        float *s = (float *)malloc((ns ? ns : 1) * sizeof(float));
        int i;
        if (!s || ns == 0 || bl_tensor_to_f32(it->scale, s, ns) != BL_OK) { free(s); free(w); return NULL; }
        for (i = 0; i < 4; ++i)
            for (r = 0; r < groups; ++r)
                for (c = 0; c < (size_t)in; ++c) {
                    size_t row = (size_t)i * groups + r;
                    float sc = s[ns == 1 ? 0 : row % ns];
                    float trit = (float)((int)((p[r * (size_t)in + c] >> (2 * i)) & 3) - 1);
                    w[row * (size_t)in + c] = divide ? trit / sc : trit * sc;
                }
        free(s);
        return w;
    }
    if (t->dtype == BL_DTYPE_F64 || t->dtype == BL_DTYPE_F32 || t->dtype == BL_DTYPE_F16 || t->dtype == BL_DTYPE_BF16) {
        if (bl_tensor_to_f32(t, w, elems) != BL_OK) { free(w); return NULL; }
    } else if (bl_tensor_dequantize(t, w, elems) != BL_OK) {
        free(w);
        return NULL;
    }
    if (o->transpose && is_float(t->dtype)) { /* [in][out] -> [out][in] */
        raw = w;
        w = (float *)malloc(elems * sizeof(float));
        if (!w) { free(raw); return NULL; }
        for (r = 0; r < (size_t)in; ++r)
            for (c = 0; c < (size_t)out; ++c) w[c * (size_t)in + r] = raw[r * (size_t)out + c];
        free(raw);
    }
    return w;
}

/* ||ref - layer|| / ||ref|| of the stored trits and scales, or -1 */
static double layer_error(const bl_linear *L, const float *ref, int out, int in)
{
    bl_linear_info info;
    size_t elems = (size_t)out * (size_t)in, j;
    int8_t *trits;
    double err, n2 = 0;
    memset(&info, 0, sizeof info);
    bl_linear_get_info(L, &info);
    trits = (int8_t *)malloc(elems * (size_t)info.k);
    if (!trits) return -1;
    for (j = 0; j < (size_t)info.k; ++j)
        (void)bl_unpack(info.format, info.packed + j * (size_t)out * info.row_bytes, (size_t)out * info.row_bytes, out,
                        in, trits + j * elems);
    for (j = 0; j < elems; ++j) n2 += (double)ref[j] * ref[j];
    err = n2 > 0 ? bl_decompose_error(ref, out, in, info.k, trits, info.scales) : 0.0;
    free(trits);
    return err;
}

static void progress(double done, double total, const char *name)
{
    int i, width = 30, filled = total > 0 ? (int)(width * done / total) : width;
    fprintf(stderr, "\r[");
    for (i = 0; i < width; ++i) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%%  %-40.40s", total > 0 ? (int)(100.0 * done / total) : 100, name);
    fflush(stderr);
}

static void shape_text(const bl_tensor *t, char *buf, size_t cap)
{
    int d;
    size_t n = 0;
    buf[0] = 0;
    for (d = 0; d < t->ndim && n + 24 < cap; ++d)
        n += (size_t)sprintf(buf + n, d ? " x %lld" : "%lld", (long long)t->shape[d]);
    if (t->ndim == 0) strcpy(buf, "scalar");
}

static void print_skips(const input *in)
{
    int i, n = 0;
    for (i = 0; i < in->n_items; ++i) n += in->items[i].act == A_SKIP;
    if (!n) return;
    printf("skipped %d tensor%s:\n", n, n == 1 ? "" : "s");
    for (i = 0; i < in->n_items; ++i)
        if (in->items[i].act == A_SKIP)
            printf("  %-44s %-6s %s\n", in->items[i].t->name, dtype_name(in->items[i].t->dtype), in->items[i].reason);
}

static int list_only(const input *in, const options *o)
{
    int i, layers = 0, copies = 0;
    printf("%-44s %-16s %-6s %s\n", "tensor", "shape", "type", "becomes");
    for (i = 0; i < in->n_items; ++i) {
        const item *it = &in->items[i];
        char shape[128];
        const char *what = it->act == A_LAYER ? (it->hf || is_ternary(it->t->dtype) ? "layer (import)" : "layer (quantize)")
                         : it->act == A_COPY ? "float tensor" : it->act == A_BIAS ? "bias of its layer"
                         : it->act == A_SCALE ? "scale of its layer" : NULL;
        if (!what) continue;
        shape_text(it->t, shape, sizeof shape);
        printf("%-44s %-16s %-6s %s\n", it->t->name, shape, dtype_name(it->t->dtype), what);
        layers += it->act == A_LAYER;
        copies += it->act == A_COPY;
    }
    print_skips(in);
    printf("%d layer%s, %d float tensor%s, %d metadata key%s would be written%s%s\n", layers, layers == 1 ? "" : "s",
           copies, copies == 1 ? "" : "s", in->n_kvs, in->n_kvs == 1 ? "" : "s", o->out ? " to " : "",
           o->out ? o->out : "");
    return 0;
}

/* Everything in main's care, freed on every way out. */
typedef struct work {
    input in;
    bl_model_entry *entries;
    bl_linear **layers;
    bl_tensor *tensors;
    float **buffers;          /* converted copies (F64 tensors, biases) */
    int n_layers, n_tensors, n_buffers;
} work;

static void work_free(work *w)
{
    int i;
    for (i = 0; i < w->n_layers; ++i) bl_linear_destroy(w->layers[i]);
    for (i = 0; i < w->n_buffers; ++i) free(w->buffers[i]);
    free(w->entries);
    free(w->layers);
    free(w->tensors);
    free(w->buffers);
    close_input(&w->in);
}

static float *tensor_floats(work *w, const bl_tensor *t)
{
    size_t n = t->nbytes / (size_t)t->elem_bytes;
    float *f = (float *)malloc((n ? n : 1) * sizeof(float));
    if (!f) return NULL;
    w->buffers[w->n_buffers++] = f;
    if (bl_tensor_to_f32(t, f, n) != BL_OK) return NULL;
    return f;
}

/* One layer from item it; prints its table row. */
static int make_layer(work *w, const options *o, const item *it, int hf_scale, double *e2, double *n2,
                      size_t *bytes_in)
{
    const bl_tensor *t = it->t;
    int64_t out64, in64;
    int out, in, how;
    bl_linear *L = NULL;
    bl_status s;
    bl_import_kind kind = BL_IMPORT_QUANTIZED;
    float *ref, *bias = NULL;
    double err;
    size_t before = t->nbytes, j;
    char shape[64];
    static const char *const hows[] = { "exact", "re-quantized", "quantized" };
    layer_dims(o, it, &out64, &in64);
    out = (int)out64;
    in = (int)in64;
    if (it->bias) {
        bias = tensor_floats(w, it->bias);
        if (!bias) { fprintf(stderr, "\nconvert: %s: tensor %s: cannot read the bias\n", it->file, it->bias->name); return 0; }
        before += it->bias->nbytes;
    }
    if (it->scale) before += it->scale->nbytes;
    ref = source_values(o, it, out, in, hf_scale == 2);
    if (!ref) {
        fprintf(stderr, "\nconvert: %s: tensor %s: cannot read its values (type %s)\n", it->file, t->name, dtype_name(t->dtype));
        return 0;
    }
    if (it->hf || is_ternary(t->dtype) || t->dtype == BL_DTYPE_Q8_0) {
        bl_import_desc d;
        memset(&d, 0, sizeof d);
        d.format = o->format;
        d.act = o->act;
        d.act_bits = o->act_bits;
        d.method = o->method;
        d.scaling = o->scaling;
        d.flags = (o->strict ? BL_IMPORT_STRICT : 0u) | (it->hf ? BL_IMPORT_HF_PACKED : 0u) |
                  (it->hf && hf_scale == 2 ? BL_IMPORT_SCALE_DIVIDE : 0u);
        d.weight_scale = it->scale;
        d.bias = bias;
        s = bl_linear_import(t, &d, &L, &kind);
        if (s == BL_ERR_UNSUPPORTED && o->strict) {
            fprintf(stderr, "\nconvert: %s: tensor %s: its rows' blocks carry different scales, so it would be "
                            "re-quantized; --strict refuses that\n", it->file, t->name);
            free(ref);
            return 0;
        }
    } else {
        bl_linear_desc d;
        memset(&d, 0, sizeof d);
        d.in_features = in;
        d.out_features = out;
        d.weight = ref;
        d.bias = bias;
        d.k = o->k;
        d.refine_iters = o->refine;
        d.method = o->method;
        d.scaling = o->scaling;
        d.format = o->format;
        d.act = o->act;
        d.act_bits = o->act_bits;
        d.hadamard = o->hadamard; /* the layer rotates weights now and inputs at run time */
        d.hadamard_seed = HADAMARD_SEED;
        s = bl_linear_create(&d, &L);
        kind = BL_IMPORT_QUANTIZED;
    }
    if (s != BL_OK) {
        fprintf(stderr, "\nconvert: %s: tensor %s: %s\n", it->file, t->name, bl_status_string(s));
        free(ref);
        return 0;
    }
    /* R is orthonormal: the error of the rotated fit is the error in the original space */
    if (o->hadamard && kind == BL_IMPORT_QUANTIZED && !it->hf && !is_ternary(t->dtype) && t->dtype != BL_DTYPE_Q8_0)
        (void)bl_hadamard_rotate(ref, in, out, HADAMARD_SEED, 0);
    err = layer_error(L, ref, out, in);
    {
        double nn = 0;
        for (j = 0; j < (size_t)out * (size_t)in; ++j) nn += (double)ref[j] * ref[j];
        *n2 += nn;
        *e2 += err * err * nn;
    }
    free(ref);
    w->layers[w->n_layers] = L;
    w->entries[w->n_layers].name = t->name;
    w->entries[w->n_layers].layer = L;
    ++w->n_layers;
    how = (int)kind;
    sprintf(shape, "%d x %d", out, in);
    if (g_progress) fprintf(stderr, "\r%*s\r", 80, "");
    printf("%-40.40s %13s %-6s %-12s %11lu %11lu %9.4f\n", t->name, shape, it->hf ? "U8/HF" : dtype_name(t->dtype),
           hows[how >= 0 && how <= 2 ? how : 2], (unsigned long)before, (unsigned long)bl_linear_nbytes(L), err);
    fflush(stdout);
    *bytes_in += before;
    return 1;
}

/* IN is a .blm: its layers, tensors and metadata go out as they are (to a GGUF file for
   llama.cpp, or to another .blm holding the layers --include/--exclude choose). */
static int convert_blm(const options *o, int gguf_out)
{
    size_t size = 0;
    unsigned char *bytes = read_file(o->in, &size);
    bl_model *m = NULL;
    bl_model_entry *e;
    bl_tensor *t;
    bl_kv *kv;
    bl_model_contents c;
    bl_status s;
    int i, n = 0, nt, nk, skipped = 0;
    if (!bytes) { fprintf(stderr, "convert: cannot read %s: %s\n", o->in, strerror(errno)); return 1; }
    s = bl_model_load(bytes, size, &m);
    if (s != BL_OK) {
        uint32_t version = 0, format_version = 0;
        if (s == BL_ERR_UNSUPPORTED && bl_model_file_version(bytes, size, &version, &format_version) == BL_OK)
            fprintf(stderr, "convert: %s: file version %lu (packed format %lu), this build reads up to version %d "
                            "(packed format %d)\n", o->in, (unsigned long)version, (unsigned long)format_version,
                    BITLINEAR_MODEL_VERSION, BITLINEAR_FORMAT_VERSION);
        else
            fprintf(stderr, "convert: %s: not a valid model file: %s\n", o->in, bl_status_string(s));
        free(bytes);
        return 1;
    }
    free(bytes); /* the model holds copies */
    nt = bl_model_tensor_count(m);
    nk = bl_model_kv_count(m);
    e = (bl_model_entry *)calloc((size_t)bl_model_count(m) + 1, sizeof *e);
    t = (bl_tensor *)calloc((size_t)nt + 1, sizeof *t);
    kv = (bl_kv *)calloc((size_t)nk + 1, sizeof *kv);
    if (!e || !t || !kv) { fprintf(stderr, "convert: out of memory\n"); bl_model_destroy(m); return 1; }
    printf("%-40s %13s %-6s %-12s %11s\n", "layer", "[out x in]", "source", "how", "bytes");
    for (i = 0; i < bl_model_count(m); ++i) {
        const bl_linear *L = bl_model_layer(m, i);
        bl_linear_info info;
        char shape[64];
        if (!selected(o, bl_model_name(m, i))) {
            printf("%-40.40s %13s %-6s %-12s\n", bl_model_name(m, i), "", "blm", "excluded");
            ++skipped;
            continue;
        }
        memset(&info, 0, sizeof info);
        bl_linear_get_info(L, &info);
        e[n].name = bl_model_name(m, i);
        e[n].layer = L;
        e[n].flags = bl_model_flags(m, i, &e[n].hadamard_seed) & BL_LAYER_FLAG_HADAMARD;
        sprintf(shape, "%d x %d", info.out_features, info.in_features);
        printf("%-40.40s %13s %-6s %-12s %11lu\n", e[n].name, shape, "blm", "as stored",
                   (unsigned long)bl_linear_nbytes(L));
        ++n;
    }
    for (i = 0; i < nt; ++i) t[i] = *bl_model_tensor(m, i);
    for (i = 0; i < nk; ++i) kv[i] = *bl_model_kv(m, i);
    memset(&c, 0, sizeof c);
    c.layers = e;
    c.layer_count = n;
    c.tensors = t;
    c.tensor_count = nt;
    c.kvs = kv;
    c.kv_count = nk;
    if (o->list) {
        printf("%d layer%s, %d float tensor%s, %d metadata key%s would be written%s%s\n", n, n == 1 ? "" : "s", nt,
               nt == 1 ? "" : "s", nk, nk == 1 ? "" : "s", o->out ? " to " : "", o->out ? o->out : "");
        s = BL_OK;
    } else {
        s = gguf_out ? bl_gguf_save_path(&c, o->format == BL_FORMAT_BASE3 ? BL_DTYPE_TQ1_0 : BL_DTYPE_TQ2_0, o->out)
                     : bl_model_save_contents_path(&c, o->out);
        if (s != BL_OK)
            fprintf(stderr, "convert: cannot write %s: %s%s\n", o->out, s == BL_ERR_IO ? strerror(errno) : bl_status_string(s),
                    s == BL_ERR_UNSUPPORTED && gguf_out ? " (GGUF holds layers of one component without rotation)" : "");
        else
            printf("%d layer%s, %d float tensor%s, %d metadata key%s: wrote %s\n", n, n == 1 ? "" : "s", nt,
                   nt == 1 ? "" : "s", nk, nk == 1 ? "" : "s", o->out);
    }
    free(e);
    free(t);
    free(kv);
    bl_model_destroy(m);
    (void)skipped;
    return s == BL_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    options o;
    work w;
    int i, r, show_progress, hf_scale, gguf_out;
    size_t before_total = 0, after_total = 0, copied = 0;
    double total_elems = 0, done_elems = 0, e2 = 0, n2 = 0;
    bl_model_contents c;
    bl_status s;
    clock_t t0 = clock();

    r = parse(argc, argv, &o);
    if (r <= 0) return r < 0 ? 0 : 2;
    memset(&w, 0, sizeof w);
    gguf_out = o.out && ends_with(o.out, ".gguf");
    if (gguf_out && (o.k > 1 || o.hadamard)) {
        fprintf(stderr, "convert: %s: GGUF holds one ternary component without rotation: drop --k/--hadamard or write .blm\n",
                o.out);
        return 1;
    }
    if (!o.list && !check_writable(o.out)) return 1;
    if (ends_with(o.in, ".blm")) return convert_blm(&o, gguf_out);
    if (!open_input(&w.in, o.in) || !plan(&w.in, &o)) {
        work_free(&w);
        return 1;
    }
    hf_scale = o.hf_scale ? o.hf_scale : hf_scale_from_config(&w.in);
    if (o.hf_scale && hf_scale_from_config(&w.in) && hf_scale_from_config(&w.in) != o.hf_scale)
        fprintf(stderr, "convert: note: --hf-scale %s overrides %s's quantization_config\n",
                o.hf_scale == 1 ? "multiply" : "divide", w.in.config_path);
    if (o.list) {
        r = list_only(&w.in, &o);
        work_free(&w);
        return r;
    }

    w.entries = (bl_model_entry *)calloc((size_t)w.in.n_items + 1, sizeof *w.entries);
    w.layers = (bl_linear **)calloc((size_t)w.in.n_items + 1, sizeof *w.layers);
    w.tensors = (bl_tensor *)calloc((size_t)w.in.n_items + 1, sizeof *w.tensors);
    w.buffers = (float **)calloc(2 * (size_t)w.in.n_items + 1, sizeof *w.buffers);
    if (!w.entries || !w.layers || !w.tensors || !w.buffers) {
        fprintf(stderr, "convert: out of memory\n");
        work_free(&w);
        return 1;
    }
    for (i = 0; i < w.in.n_items; ++i)
        if (w.in.items[i].act == A_LAYER) total_elems += (double)w.in.items[i].t->nbytes;
    show_progress = total_elems >= 16e6; /* a bar only where the wait is noticeable */

    printf("%-40s %13s %-6s %-12s %11s %11s %9s\n", "layer", "[out x in]", "source", "how", "bytes in", "bytes out",
           "rel.error");
    for (i = 0; i < w.in.n_items; ++i) {
        const item *it = &w.in.items[i];
        if (it->act != A_LAYER) continue;
        g_progress = show_progress;
        if (show_progress) progress(done_elems, total_elems, it->t->name);
        if (!make_layer(&w, &o, it, hf_scale, &e2, &n2, &before_total)) {
            work_free(&w);
            return 1;
        }
        after_total += bl_linear_nbytes(w.layers[w.n_layers - 1]);
        done_elems += (double)it->t->nbytes;
    }
    if (w.n_layers == 0) {
        fprintf(stderr, "convert: %s: no tensor became a layer (see --list)\n", o.in);
        print_skips(&w.in);
        work_free(&w);
        return 1;
    }
    /* float tensors copied along (F64 as F32) */
    for (i = 0; i < w.in.n_items; ++i) {
        const item *it = &w.in.items[i];
        bl_tensor *t = &w.tensors[w.n_tensors];
        if (it->act != A_COPY) continue;
        *t = *it->t;
        if (t->dtype == BL_DTYPE_F64) {
            float *f = tensor_floats(&w, it->t);
            if (!f) { fprintf(stderr, "convert: %s: tensor %s: cannot read\n", it->file, it->t->name); work_free(&w); return 1; }
            t->dtype = BL_DTYPE_F32;
            t->elem_bytes = 4;
            t->nbytes = it->t->nbytes / 2;
            t->data = f;
        }
        copied += t->nbytes;
        ++w.n_tensors;
    }

    memset(&c, 0, sizeof c);
    c.layers = w.entries;
    c.layer_count = w.n_layers;
    c.tensors = w.tensors;
    c.tensor_count = w.n_tensors;
    c.kvs = w.in.kvs;
    c.kv_count = w.in.n_kvs;
    s = gguf_out ? bl_gguf_save_path(&c, o.format == BL_FORMAT_BASE3 ? BL_DTYPE_TQ1_0 : BL_DTYPE_TQ2_0, o.out)
                 : bl_model_save_contents_path(&c, o.out);
    if (s != BL_OK) {
        fprintf(stderr, "convert: cannot write %s: %s\n", o.out, s == BL_ERR_IO ? strerror(errno) : bl_status_string(s));
        work_free(&w);
        return 1;
    }
    {
        FILE *f = fopen(o.out, "rb");
        long file_bytes = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) file_bytes = ftell(f);
        if (f) fclose(f);
        printf("%-40s %13s %-6s %-12s %11lu %11lu %9.4f\n", "total", "", "", "", (unsigned long)before_total,
               (unsigned long)after_total, n2 > 0 ? sqrt(e2 / n2) : 0.0);
        printf("copied %d float tensor%s (%lu bytes) and %d metadata key%s\n", w.n_tensors, w.n_tensors == 1 ? "" : "s",
               (unsigned long)copied, w.in.n_kvs, w.in.n_kvs == 1 ? "" : "s");
        print_skips(&w.in);
        printf("%d layer%s, k=%d, %s, %s activations: wrote %s (%ld bytes) in %.1f s\n", w.n_layers,
               w.n_layers == 1 ? "" : "s", o.k, o.format == BL_FORMAT_2BIT ? "2bit" : "base3",
               o.act == BL_ACT_INT8 ? "int8" : "float", o.out, file_bytes, (double)(clock() - t0) / CLOCKS_PER_SEC);
    }
    work_free(&w);
    return 0;
}
