/* ==== bitlinear: importing tensors as layers (GGUF TQ1_0/TQ2_0/I2_S, HF packed) ==== */
/* A ternary tensor from another program becomes a layer with the file's own trits and
   scales that reproduce the file's dequantized values bit for bit: every peer below
   dequantizes a weight as (float)trit * scale with trit in {-1, 0, 1} (or trit / scale
   for transformers' BitLinear), and (float)t * s is exact for such t, so the layer's
   trit * scale equals the peer's float exactly. docs/import.md has the rules.

   The exact paths decode straight into the layer's 2BIT bytes (BL_FORMAT_2BIT: a row
   of 64-byte blocks, byte j of a block holding the block's trits j, j+64, j+128, j+192
   as codes trit+1 in bits 0-1, 2-3, 4-5, 6-7; src/layout.h). The peers use the same
   code (trit + 1) in 2-bit fields but another order, so a block is re-ordered with
   64-bit word operations whose masks keep every field inside its own byte: the result
   is the same on little- and big-endian hosts, with no per-weight branch. BASE3 layers
   are packed from a row of code bytes (bl__codes_to_base3), which TQ1_0 decodes to
   directly and the other types reach through their 2BIT bytes. */

#define BL__QK_K        256   /* weights per TQ1_0 / TQ2_0 block */
#define BL__TQ2_BYTES   66    /* ggml block_tq2_0: qs[64], fp16 d */
#define BL__TQ1_BYTES   54    /* ggml block_tq1_0: qs[48], qh[4], fp16 d */
#define BL__Q8_BYTES    34    /* ggml block_q8_0: fp16 d, qs[32] */
#define BL__QK8         32
#define BL__I2S_BLOCK   128   /* bitnet.cpp I2_S: 128 weights in 32 bytes */
#define BL__I2S_TAIL    32    /* after the codes: the float32 scale, then padding */

#define BL__W55 0x5555555555555555ull  /* every 2-bit field holding code 1 (trit 0) */
#define BL__W03 0x0303030303030303ull
#define BL__W0C 0x0C0C0C0C0C0C0C0Cull
#define BL__W30 0x3030303030303030ull
#define BL__WC0 0xC0C0C0C0C0C0C0C0ull

static uint64_t bl__ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static void bl__st64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* 2-bit fields holding code 3, which is no trit */
static uint64_t bl__code3(uint64_t w) { return w & (w >> 1) & BL__W55; }

/* ---- what each source type is ---------------------------------------------------- */

typedef struct bl__source {
    bl_dtype type;
    int rows, cols;               /* [out][in] */
    const uint8_t *data;
    size_t row_bytes;             /* source bytes per row (HF: per byte row of out/4 rows) */
    int groups;                   /* HF: out / 4 */
    const float *row_scales;      /* HF: per-row scales already in multiply direction, or NULL */
    float tensor_scale;           /* I2_S, HF with one scale */
    int divide;                   /* HF: w = trit / scale */
    const float *hf_raw;          /* HF: the checkpoint's scales as stored */
    size_t hf_count;              /* 1 or rows */
    uint8_t *codes;               /* TQ1_0 into BASE3: cols + 8 bytes of work memory */
    const uint8_t *enc;           /* TQ1_0 into BASE3: the BASE3 byte of each base-3 value */
} bl__source;

/* Digit n (0..4) of a TQ1_0 byte as ggml reads it (ggml/src/ggml-quants.c,
   dequantize_row_tq1_0): q = byte * 3^n modulo 256, digit = (q * 3) >> 8. */
static unsigned bl__tq1_digit(unsigned byte, int n)
{
    static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
    unsigned q = (byte * pow3[n]) & 0xFFu;
    return (q * 3u) >> 8;
}

/* Base-3 digits of eight TQ1_0 bytes at once, in 16-bit lanes (even bytes in E, odd
   in O; lane values stay below 2^16, so no lane spills into the next): each call
   returns the next digit of every byte, (q * 3) >> 8, in that byte's low bits and
   steps q to q * 3 modulo 256, as dequantize_row_tq1_0 does byte by byte. */
#define BL__L16 0x00FF00FF00FF00FFull
#define BL__D16 0x0003000300030003ull
static uint64_t bl__tq1_next(uint64_t *E, uint64_t *O)
{
    uint64_t pe = *E * 3u, po = *O * 3u;
    *E = pe & BL__L16;
    *O = po & BL__L16;
    return (pe >> 8 & BL__D16) | (po & BL__D16 << 8);
}

static int bl__half_finite(unsigned h) { return (h & 0x7C00u) != 0x7C00u; }
static unsigned bl__rd16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* A TQ row's scale (docs/import.md): the fp16 d, compared as raw bits, that every block
   holding a nonzero trit shares; an all-zero row keeps its first block's d. */
typedef struct bl__tq_scale {
    unsigned ref;
    int have, mixed;
} bl__tq_scale;
static void bl__tq_scale_block(bl__tq_scale *t, unsigned d, int nonzero)
{
    if (!nonzero) return;
    if (!t->have) t->ref = d;
    t->mixed |= t->have && d != t->ref;
    t->have = 1;
}

/* Float of a double that may be out of float range (the plain conversion would be
   undefined there): at or above FLT_MAX + half an ulp it rounds to infinity. */
static float bl__f64_to_f32(double v)
{
    const double limit = 3.4028235677973366e38; /* 2^128 - 2^103 */
    if (v >= limit) return (float)HUGE_VAL;
    if (v <= -limit) return -(float)HUGE_VAL;
    return (float)v;
}

/* ---- the row decoders: 2BIT bytes, per-row scale, exactness ----------------------- */
/* Each writes the row's 2BIT bytes into dst and its scale into *scale and returns 1 if
   the row is exact (the bytes are its trits and trit * *scale its values), 0 if not
   (then the caller re-ternarizes it), -1 if a scale is NaN or infinite. */

/* TQ2_0 (block_tq2_0: qs[64] then fp16 d; dequantize_row_tq2_0 in ggml-quants.c):
   element 128h + 32l + m is qs[32h + m] field l. In 2BIT that is byte (32l + m) % 64,
   field 2h + l / 2: the two 32-byte halves A (h = 0) and B (h = 1) interleave. */
static int bl__row_tq2(const bl__source *s, int r, uint8_t *dst, float *scale)
{
    const uint8_t *src = s->data + (size_t)r * s->row_bytes;
    int nb = s->cols / BL__QK_K, b, w;
    bl__tq_scale ts;
    unsigned bad = 0;
    ts.ref = bl__rd16(src + 64);
    ts.have = ts.mixed = 0;
    for (b = 0; b < nb; ++b, src += BL__TQ2_BYTES, dst += 64) {
        unsigned d = bl__rd16(src + 64);
        uint64_t nz = 0, three = 0;
        for (w = 0; w < 32; w += 8) {
            uint64_t A = bl__ld64(src + w), B = bl__ld64(src + 32 + w);
            uint64_t lo = (A & BL__W03) | (A & BL__W30) >> 2 | (B & BL__W03) << 4 | (B & BL__W30) << 2;
            uint64_t hi = (A & BL__W0C) >> 2 | (A & BL__WC0) >> 4 | (B & BL__W0C) << 2 | (B & BL__WC0);
            bl__st64(dst + w, lo);
            bl__st64(dst + 32 + w, hi);
            nz |= (lo ^ BL__W55) | (hi ^ BL__W55);
            three |= bl__code3(lo) | bl__code3(hi);
        }
        if (!bl__half_finite(d)) return -1;
        bad |= three != 0;
        bl__tq_scale_block(&ts, d, nz != 0);
    }
    *scale = bl__f16_to_f32(ts.ref);
    return !(bad || ts.mixed);
}

/* TQ1_0 (ggml/src/ggml-common.h block_tq1_0: qs[48], qh[4], fp16 d; element order of
   dequantize_row_tq1_0 in ggml-quants.c): qs[m] (m < 32) digit n is element 32n + m;
   qs[32 + m] (m < 16) digit n is element 160 + 16n + m; qh[j] digit n (n < 4) is
   element 240 + 4n + j. In 2BIT element e is byte e % 64, field e / 64, so byte m
   (m < 32) takes qs[m] digits 0, 2, 4 and byte 32 + m digits 1, 3; the qs[32 + m]
   digits fill field 3 of bytes m, 16 + m, 32 + m and field 2 of bytes 32 + m, 48 + m;
   qh fills field 3 of bytes 48..63. */
static int bl__row_tq1(const bl__source *s, int r, uint8_t *dst, float *scale)
{
    static const uint8_t first4[8] = { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 };
    const uint8_t *src = s->data + (size_t)r * s->row_bytes;
    const uint64_t lead = bl__ld64(first4); /* the word's first four bytes in memory, on any host */
    int nb = s->cols / BL__QK_K, b, w, n;
    bl__tq_scale ts;
    ts.ref = bl__rd16(src + 52);
    ts.have = ts.mixed = 0;
    for (b = 0; b < nb; ++b, src += BL__TQ1_BYTES, dst += 64) {
        unsigned d = bl__rd16(src + 52);
        uint64_t e[2][5], q[4], x, E, O, d0, d1, d2, d3, d4, lo, hi, nz = 0;
        uint32_t h;
        /* everything is built in registers and each output word stored once */
        for (w = 0; w < 2; ++w) {
            x = bl__ld64(src + 32 + 8 * w);
            E = x & BL__L16;
            O = x >> 8 & BL__L16;
            for (n = 0; n < 5; ++n) e[w][n] = bl__tq1_next(&E, &O);
        }
        memcpy(&h, src + 48, 4); /* qh[0..3] twice: bytes 48..55 take digits 0, 1; 56..63 digits 2, 3 */
        x = (uint64_t)h | (uint64_t)h << 32;
        E = x & BL__L16;
        O = x >> 8 & BL__L16;
        for (n = 0; n < 4; ++n) q[n] = bl__tq1_next(&E, &O);
        for (w = 0; w < 4; ++w) {
            x = bl__ld64(src + 8 * w);
            E = x & BL__L16;
            O = x >> 8 & BL__L16;
            d0 = bl__tq1_next(&E, &O); d1 = bl__tq1_next(&E, &O); d2 = bl__tq1_next(&E, &O);
            d3 = bl__tq1_next(&E, &O); d4 = bl__tq1_next(&E, &O);
            lo = d0 | d2 << 2 | d4 << 4 | e[w & 1][w < 2 ? 2 : 3] << 6;  /* elements 192 + m, 208 + m */
            hi = d1 | d3 << 2 |
                 (w < 2 ? e[w][0] << 4 | e[w][4] << 6                     /* 160 + m, 224 + m */
                        : e[w & 1][1] << 4 | ((q[2 * (w & 1)] & lead) | (q[2 * (w & 1) + 1] & ~lead)) << 6);
            bl__st64(dst + 8 * w, lo);
            bl__st64(dst + 32 + 8 * w, hi);
            nz |= (lo ^ BL__W55) | (hi ^ BL__W55);
        }
        if (!bl__half_finite(d)) return -1;
        bl__tq_scale_block(&ts, d, nz != 0);
    }
    *scale = bl__f16_to_f32(ts.ref);
    return !ts.mixed;
}

/* I2_S (bitnet.cpp: src/ggml-bitnet-mad.cpp quantize_i2_s, x86 ACT_PARALLEL branch, and
   dequantize_row_i2_s in its ggml fork): blocks of 128 weights in 32 bytes, weight
   32g + p in byte p, bits 6 - 2g; codes 0, 1, 2, 3 are -1, 0, +1, 0. Code 3 becomes
   code 1 first. Two blocks X, Y fill one 64-byte 2BIT block: byte p takes X fields
   0, 2 and Y fields 0, 2; byte 32 + p the fields 1, 3. A row ending in half a 2BIT
   block (cols % 256 == 128) keeps I2_S's order with the fields reversed. */
static uint64_t bl__i2s_fix(uint64_t w) { return w & ~(bl__code3(w) << 1); }
static int bl__row_i2s(const bl__source *s, int r, uint8_t *dst, float *scale)
{
    const uint8_t *src = s->data + (size_t)r * s->row_bytes;
    int pairs = s->cols / 256, b, w;
    for (b = 0; b < pairs; ++b, src += 64, dst += 64)
        for (w = 0; w < 32; w += 8) {
            uint64_t X = bl__i2s_fix(bl__ld64(src + w)), Y = bl__i2s_fix(bl__ld64(src + 32 + w));
            bl__st64(dst + w, (X >> 6 & BL__W03) | (X & BL__W0C) | (Y >> 2 & BL__W30) | (Y << 4 & BL__WC0));
            bl__st64(dst + 32 + w, (X >> 4 & BL__W03) | (X << 2 & BL__W0C) | (Y & BL__W30) | (Y << 6 & BL__WC0));
        }
    if (s->cols % 256)
        for (w = 0; w < 32; w += 8) {
            uint64_t X = bl__i2s_fix(bl__ld64(src + w));
            bl__st64(dst + w, (X >> 6 & BL__W03) | (X >> 2 & BL__W0C) | (X << 2 & BL__W30) | (X << 6 & BL__WC0));
        }
    *scale = s->tensor_scale;
    return 1;
}

/* Hugging Face packed BitNet weights (transformers, src/transformers/integrations/
   bitnet.py, pack_weights / unpack_weights): a uint8 [out/4][in]; weight row
   i * (out/4) + r, column c is ((byte[r][c] >> 2i) & 3) - 1, so the 2-bit field is
   already the code trit + 1. Code 3 (the value 2) is no trit: such a row is inexact. */
static float bl__hf_row_scale(const bl__source *s, int r)
{
    return s->row_scales ? s->row_scales[r] : s->tensor_scale;
}
static int bl__row_hf(const bl__source *s, int r, uint8_t *dst, float *scale)
{
    int i = r / s->groups, shift = 2 * i, full = s->cols / 256, b, w, left, width, j;
    const uint8_t *src = s->data + (size_t)(r % s->groups) * s->row_bytes;
    uint64_t three = 0;
    for (b = 0; b < full; ++b, src += 256, dst += 64)
        for (w = 0; w < 64; w += 8) {
            uint64_t v = (bl__ld64(src + w) >> shift & BL__W03) | (bl__ld64(src + 64 + w) >> shift & BL__W03) << 2 |
                         (bl__ld64(src + 128 + w) >> shift & BL__W03) << 4 |
                         (bl__ld64(src + 192 + w) >> shift & BL__W03) << 6;
            bl__st64(dst + w, v);
            three |= bl__code3(v);
        }
    left = s->cols - full * 256;
    if (left) { /* the tail: trit t at byte t % width, field t / width; padding is code 1 */
        width = (left + 3) / 4;
        for (j = 0; j < width; ++j) {
            unsigned v = 0;
            int f;
            for (f = 0; f < 4; ++f) {
                int t = j + f * width;
                unsigned code = t < left ? (unsigned)(src[t] >> shift) & 3u : 1u;
                three |= code == 3u;
                v |= code << (2 * f);
            }
            dst[j] = (uint8_t)v;
        }
    }
    *scale = bl__hf_row_scale(s, r);
    return three == 0;
}

/* One row of n codes (one byte each, code = trit + 1, in row order) packed as BASE3
   (src/layout.h): blocks of 64 bytes (a short last block of width w = ceil(left / 5))
   whose byte j holds the block's trits j, j + w, ..., j + 4w as the byte
   enc[v] = ceil(v * 256 / 243) of their codes read in base 3, first most significant
   (bl__base3_encode). Codes are at most 2, so eight base-3 sums form in one 64-bit word
   with no carry between bytes; the word goes through memory so that its bytes are read in
   memory order on any host, and its eight look-ups are written out so that no loop runs
   per byte. codes: n + 8 bytes, the tail's padding codes set to 1 (trit 0) here, as BASE3
   requires. */
static void bl__codes_to_base3(uint8_t *codes, int n, const uint8_t *enc, uint8_t *dst)
{
    int full = n / 320, b, j, i, left, w;
    for (b = 0; b < full; ++b, dst += 64) {
        const uint8_t *c = codes + 320 * b;
        for (j = 0; j < 64; j += 8) {
            uint8_t v[8];
            bl__st64(v, 81u * bl__ld64(c + j) + 27u * bl__ld64(c + j + 64) + 9u * bl__ld64(c + j + 128) +
                            3u * bl__ld64(c + j + 192) + bl__ld64(c + j + 256));
            dst[j] = enc[v[0]];
            dst[j + 1] = enc[v[1]];
            dst[j + 2] = enc[v[2]];
            dst[j + 3] = enc[v[3]];
            dst[j + 4] = enc[v[4]];
            dst[j + 5] = enc[v[5]];
            dst[j + 6] = enc[v[6]];
            dst[j + 7] = enc[v[7]];
        }
    }
    left = n - 320 * full;
    if (left) {
        uint8_t *c = codes + 320 * full;
        w = (left + 4) / 5;
        for (i = left; i < 5 * w; ++i) c[i] = 1;
        for (j = 0; j < w; ++j)
            dst[j] = enc[81u * c[j] + 27u * c[j + w] + 9u * c[j + 2 * w] + 3u * c[j + 3 * w] + c[j + 4 * w]];
    }
}

/* One 2BIT row of n trits repacked as BASE3: its codes in row order first (2BIT block
   byte j holds the block's trits j, j + w, j + 2w, j + 3w in bits 0-1, 2-3, 4-5, 6-7, w = 64
   or the tail's ceil(left / 4)), then bl__codes_to_base3. codes: n + 8 bytes. */
static void bl__2bit_to_base3(const uint8_t *src, int n, uint8_t *codes, const uint8_t *enc, uint8_t *dst)
{
    int full = n / 256, b, j, m, left, w;
    for (b = 0; b < full; ++b)
        for (m = 0; m < 4; ++m)
            for (j = 0; j < 64; j += 8)
                bl__st64(codes + 256 * b + 64 * m + j, bl__ld64(src + 64 * b + j) >> (2 * m) & BL__W03);
    left = n - 256 * full;
    if (left) {
        w = (left + 3) / 4;
        for (m = 0; m < 4; ++m)
            for (j = 0; j < w; ++j) codes[256 * full + m * w + j] = (uint8_t)((src[64 * full + j] >> (2 * m)) & 3u);
    }
    bl__codes_to_base3(codes, n, enc, dst);
}

/* TQ1_0 straight into BASE3 (s->codes and s->enc set): each block's digits become one
   code byte per weight in row order (element e at codes[256 b + e], the element order
   of bl__row_tq1), then bl__codes_to_base3 packs the row: no 2BIT fields to shuffle and
   unpack again. The digit words are stored as they come out, eight codes to a store, and
   two source words advance side by side so that their digit chains overlap. */
#define BL__ONES 0x0101010101010101ull  /* every byte holding code 1 (trit 0) */
static void bl__tq1_split(const uint8_t *p, uint64_t *E, uint64_t *O)
{
    uint64_t x = bl__ld64(p);
    *E = x & BL__L16;
    *O = x >> 8 & BL__L16;
}
/* the next digit of the eight bytes in E, O stored as eight codes at c; nonzero if one is
   not code 1 */
static uint64_t bl__tq1_put(uint64_t *E, uint64_t *O, uint8_t *c)
{
    uint64_t v = bl__tq1_next(E, O);
    bl__st64(c, v);
    return v ^ BL__ONES;
}
/* Digits 0..4 of the 16 bytes at p: digit n of byte i as the code at c + n * stride + i.
   Forced inline: the strides become constants and the two chains stay in registers. */
BL__FORCE_INLINE uint64_t bl__tq1_codes16(const uint8_t *p, uint8_t *c, int stride)
{
    uint64_t E0, O0, E1, O1, nz;
    bl__tq1_split(p, &E0, &O0);
    bl__tq1_split(p + 8, &E1, &O1);
    nz = bl__tq1_put(&E0, &O0, c) | bl__tq1_put(&E1, &O1, c + 8);
    c += stride;
    nz |= bl__tq1_put(&E0, &O0, c) | bl__tq1_put(&E1, &O1, c + 8);
    c += stride;
    nz |= bl__tq1_put(&E0, &O0, c) | bl__tq1_put(&E1, &O1, c + 8);
    c += stride;
    nz |= bl__tq1_put(&E0, &O0, c) | bl__tq1_put(&E1, &O1, c + 8);
    c += stride;
    return nz | bl__tq1_put(&E0, &O0, c) | bl__tq1_put(&E1, &O1, c + 8);
}
/* One block's 256 codes at c: qs[m] digit n is element 32n + m, qs[32 + m] digit n is
   160 + 16n + m, qh[j] digit n (n < 4) is 240 + 4n + j. Writes up to c + 260 (the next
   block's first four codes, which that block rewrites, or the buffer's slack); nonzero if
   a trit is nonzero. */
static uint64_t bl__tq1_codes(const uint8_t *src, uint8_t *c)
{
    uint64_t E, O, nz;
    uint8_t qh[8];
    nz = bl__tq1_codes16(src, c, 32) | bl__tq1_codes16(src + 16, c + 16, 32) | bl__tq1_codes16(src + 32, c + 160, 16);
    memcpy(qh, src + 48, 4); /* qh[0..3] twice, so that every code stored is one of qh's */
    memcpy(qh + 4, src + 48, 4);
    bl__tq1_split(qh, &E, &O);
    nz |= bl__tq1_put(&E, &O, c + 240); /* of each store the first four codes count */
    nz |= bl__tq1_put(&E, &O, c + 244);
    nz |= bl__tq1_put(&E, &O, c + 248);
    return nz | bl__tq1_put(&E, &O, c + 252);
}
static int bl__row_tq1_base3(const bl__source *s, int r, uint8_t *dst, float *scale)
{
    const uint8_t *src = s->data + (size_t)r * s->row_bytes;
    int nb = s->cols / BL__QK_K, b;
    bl__tq_scale ts;
    ts.ref = bl__rd16(src + 52);
    ts.have = ts.mixed = 0;
    for (b = 0; b < nb; ++b, src += BL__TQ1_BYTES) {
        unsigned d = bl__rd16(src + 52);
        uint64_t nz = bl__tq1_codes(src, s->codes + 256 * b);
        if (!bl__half_finite(d)) return -1;
        bl__tq_scale_block(&ts, d, nz != 0);
    }
    bl__codes_to_base3(s->codes, s->cols, s->enc, dst);
    *scale = bl__f16_to_f32(ts.ref);
    return !ts.mixed;
}

/* ---- dequantized rows (the peers' own float values) -------------------------------- */

static void bl__dequant_row(const bl__source *s, int r, float *y)
{
    int n = s->cols, b, j, l, m;
    const uint8_t *src = s->data + (size_t)r * s->row_bytes;
    switch (s->type) {
    case BL_DTYPE_TQ2_0: /* dequantize_row_tq2_0: (float)(q - 1) * d */
        for (b = 0; b < n / BL__QK_K; ++b, src += BL__TQ2_BYTES) {
            float d = bl__f16_to_f32(bl__rd16(src + 64));
            for (j = 0; j < 64; j += 32)
                for (l = 0; l < 4; ++l)
                    for (m = 0; m < 32; ++m) *y++ = (float)((int)((src[j + m] >> (2 * l)) & 3u) - 1) * d;
        }
        break;
    case BL_DTYPE_TQ1_0: /* dequantize_row_tq1_0 */
        for (b = 0; b < n / BL__QK_K; ++b, src += BL__TQ1_BYTES) {
            float d = bl__f16_to_f32(bl__rd16(src + 52));
            for (l = 0; l < 5; ++l)
                for (m = 0; m < 32; ++m) *y++ = (float)((int)bl__tq1_digit(src[m], l) - 1) * d;
            for (l = 0; l < 5; ++l)
                for (m = 0; m < 16; ++m) *y++ = (float)((int)bl__tq1_digit(src[32 + m], l) - 1) * d;
            for (l = 0; l < 4; ++l)
                for (m = 0; m < 4; ++m) *y++ = (float)((int)bl__tq1_digit(src[48 + m], l) - 1) * d;
        }
        break;
    case BL_DTYPE_I2_S: { /* dequantize_row_i2_s: scale * {-1, 0, +1, 0}[code] */
        static const float map[4] = { -1.0f, 0.0f, 1.0f, 0.0f };
        for (b = 0; b < n / BL__I2S_BLOCK; ++b, src += 32)
            for (l = 0; l < 4; ++l)
                for (m = 0; m < 32; ++m) *y++ = s->tensor_scale * map[(src[m] >> (6 - 2 * l)) & 3u];
        break;
    }
    case BL_DTYPE_Q8_0: /* dequantize_row_q8_0: qs[j] * d */
        for (b = 0; b < n / BL__QK8; ++b, src += BL__Q8_BYTES) {
            float d = bl__f16_to_f32(bl__rd16(src));
            for (j = 0; j < BL__QK8; ++j) *y++ = (float)(int8_t)src[2 + j] * d;
        }
        break;
    case BL_DTYPE_U8: { /* HF packed: (code - 1) times or divided by the scale, as transformers does */
        int shift = 2 * (r / s->groups);
        float sc = s->hf_raw[s->hf_count == 1 ? 0 : r];
        src = s->data + (size_t)(r % s->groups) * s->row_bytes;
        for (j = 0; j < n; ++j) {
            float t = (float)((int)((src[j] >> shift) & 3u) - 1);
            y[j] = s->divide ? t / sc : t * sc;
        }
        break;
    }
    default:
        break;
    }
}

/* ---- checking a source tensor ------------------------------------------------------- */

/* Elements of t (1 for a 0-D tensor); 0 if a dimension is negative or the count overflows. */
static int bl__tensor_elems(const bl_tensor *t, size_t *count)
{
    int i;
    size_t n = 1;
    if (t->ndim < 0 || t->ndim > BL_ST_MAX_DIMS) return 0;
    for (i = 0; i < t->ndim; ++i)
        if (t->shape[i] < 0 || (uint64_t)t->shape[i] > (uint64_t)(size_t)-1 ||
            !bl__mul_size(n, (size_t)t->shape[i], &n))
            return 0;
    *count = n;
    return 1;
}

/* Bytes of `count` elements of dtype, or 0 (unknown type, not whole blocks of rows of
   `row` elements, overflow). */
static size_t bl__type_bytes(bl_dtype type, size_t count, size_t row)
{
    size_t per = 0, block = 1, out;
    switch (type) {
    case BL_DTYPE_F32: per = 4; break;
    case BL_DTYPE_F16: case BL_DTYPE_BF16: per = 2; break;
    case BL_DTYPE_F64: per = 8; break;
    case BL_DTYPE_Q8_0: per = BL__Q8_BYTES; block = BL__QK8; break;
    case BL_DTYPE_TQ1_0: per = BL__TQ1_BYTES; block = BL__QK_K; break;
    case BL_DTYPE_TQ2_0: per = BL__TQ2_BYTES; block = BL__QK_K; break;
    case BL_DTYPE_I2_S: /* count / 4 bytes of codes, then the 32-byte tail */
        if (count == 0 || count % BL__I2S_BLOCK || row % BL__I2S_BLOCK) return 0;
        return count / 4 + BL__I2S_TAIL;
    default: return 0;
    }
    if (block > 1 && (row == 0 || row % block)) return 0;
    if (!bl__mul_size(count / block, per, &out)) return 0;
    return out;
}

/* The float of element i of a plain float tensor (F32, F16, BF16, F64). */
static float bl__plain_elem(bl_dtype type, const uint8_t *p, size_t i)
{
    switch (type) {
    case BL_DTYPE_F32: return bl__rdf32(p + 4 * i);
    case BL_DTYPE_F16: return bl__f16_to_f32(bl__rd16(p + 2 * i));
    case BL_DTYPE_BF16: {
        uint32_t bits = (uint32_t)bl__rd16(p + 2 * i) << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case BL_DTYPE_F64: {
        uint64_t u = bl__rd64(p + 8 * i);
        double v;
        memcpy(&v, &u, sizeof v);
        return bl__f64_to_f32(v);
    }
    default: return 0.0f;
    }
}

BITLINEAR_DEF bl_status bl_tensor_dequantize(const bl_tensor *t, float *dst, size_t count)
{
    size_t n, row, i;
    bl__source s;
    if (!t || !dst) return BL_ERR_INVALID;
    if (!bl__tensor_elems(t, &n)) return BL_ERR_INVALID;
    row = t->ndim > 0 ? (size_t)t->shape[t->ndim - 1] : 1;
    switch (t->dtype) {
    case BL_DTYPE_F32: case BL_DTYPE_F16: case BL_DTYPE_BF16: case BL_DTYPE_F64:
    case BL_DTYPE_Q8_0: case BL_DTYPE_TQ1_0: case BL_DTYPE_TQ2_0: case BL_DTYPE_I2_S:
        break;
    default:
        return BL_ERR_UNSUPPORTED;
    }
    if (count != n || n == 0 || !t->data || bl__type_bytes(t->dtype, n, row) != t->nbytes) return BL_ERR_INVALID;
    if (t->dtype == BL_DTYPE_F32 || t->dtype == BL_DTYPE_F16 || t->dtype == BL_DTYPE_BF16 ||
        t->dtype == BL_DTYPE_F64) {
        const uint8_t *p = (const uint8_t *)t->data;
        for (i = 0; i < n; ++i) dst[i] = bl__plain_elem(t->dtype, p, i);
        return BL_OK;
    }
    /* block types, one block at a time: a block's values depend on that block alone */
    memset(&s, 0, sizeof s);
    s.type = t->dtype;
    s.cols = t->dtype == BL_DTYPE_Q8_0 ? BL__QK8 : t->dtype == BL_DTYPE_I2_S ? BL__I2S_BLOCK : BL__QK_K;
    s.row_bytes = t->dtype == BL_DTYPE_I2_S ? BL__I2S_BLOCK / 4 : bl__type_bytes(t->dtype, (size_t)s.cols, (size_t)s.cols);
    if (t->dtype == BL_DTYPE_I2_S) s.tensor_scale = bl__rdf32((const uint8_t *)t->data + n / 4);
    for (i = 0; i < n / (size_t)s.cols; ++i) {
        s.data = (const uint8_t *)t->data + i * s.row_bytes;
        bl__dequant_row(&s, 0, dst + i * (size_t)s.cols);
    }
    return BL_OK;
}

/* ---- import ------------------------------------------------------------------------- */

static int bl__import_kind_of(bl_dtype type)
{
    return type == BL_DTYPE_TQ1_0 || type == BL_DTYPE_TQ2_0 || type == BL_DTYPE_I2_S;
}

/* The checkpoint's weight_scale: one value or one per row, any float type; finite and,
   for division, nonzero. *raw gets the stored values, *mult the multipliers. */
static bl_status bl__hf_scales(const bl_tensor *ws, int rows, int divide, const bl_allocator *alloc,
                               float **raw, float **mult, size_t *count)
{
    size_t n, i;
    bl_status st;
    float *a, *b;
    if (!ws || !bl__tensor_elems(ws, &n)) return BL_ERR_INVALID;
    if (ws->dtype != BL_DTYPE_F32 && ws->dtype != BL_DTYPE_F16 && ws->dtype != BL_DTYPE_BF16)
        return BL_ERR_UNSUPPORTED;
    if (n != 1 && n != (size_t)rows) return BL_ERR_INVALID;
    a = (float *)bl__alloc(alloc, n * sizeof(float));
    b = (float *)bl__alloc(alloc, n * sizeof(float));
    st = a && b ? bl_tensor_dequantize(ws, a, n) : BL_ERR_NOMEM;
    for (i = 0; st == BL_OK && i < n; ++i) {
        b[i] = divide ? 1.0f / a[i] : a[i]; /* t / s == t * (1 / s) exactly for t in {-1, 0, 1} */
        if (!bl__all_finite(&a[i], 1) || !bl__all_finite(&b[i], 1)) st = BL_ERR_NONFINITE;
    }
    if (st != BL_OK) {
        bl__free(alloc, a);
        bl__free(alloc, b);
        return st;
    }
    *raw = a;
    *mult = b;
    *count = n;
    return BL_OK;
}

/* Float tensors (and Q8_0): dequantize, then ternarize with the desc's method. */
static bl_status bl__import_float(const bl_tensor *t, const bl_linear_desc *ld, const bl_allocator *alloc,
                                  bl_linear **out)
{
    size_t count = (size_t)ld->in_features * (size_t)ld->out_features;
    float *w = (float *)bl__alloc(alloc, count * sizeof(float));
    bl_linear_desc d = *ld;
    bl_status st;
    if (!w) return BL_ERR_NOMEM;
    st = bl_tensor_dequantize(t, w, count);
    if (st == BL_OK) {
        d.weight = w;
        st = bl_linear_create_with(&d, alloc, out);
    }
    bl__free(alloc, w);
    return st;
}

BITLINEAR_DEF bl_status bl_linear_import(const bl_tensor *t, const bl_import_desc *desc, bl_linear **out,
                                         bl_import_kind *kind)
{
    bl_import_desc zero_desc;
    const bl_import_desc *id = desc;
    const bl_allocator *alloc;
    bl_linear_desc ld;
    bl__source *s = NULL;
    bl__layout lay;
    bl_linear *L;
    bl_status st = BL_OK;
    int (*row_fn)(const bl__source *, int, uint8_t *, float *) = NULL;
    int rows, cols, r, inexact = 0, hf, direct;
    size_t elems, row_bytes_2bit;
    void *memory = NULL;
    uint8_t *tmp2 = NULL, *packed;
    int8_t *trits = NULL;
    float *fl = NULL, *scales, *hf_raw = NULL, *hf_mult = NULL;
    uint8_t enc[256];
    unsigned v;

    if (!id) {
        memset(&zero_desc, 0, sizeof zero_desc);
        id = &zero_desc;
    }
    alloc = id->alloc && id->alloc->alloc ? id->alloc : NULL;
    if (!t || !out) return BL_ERR_INVALID;
    hf = (id->flags & BL_IMPORT_HF_PACKED) != 0;
    if ((id->flags & ~(BL_IMPORT_STRICT | BL_IMPORT_HF_PACKED | BL_IMPORT_SCALE_DIVIDE)) ||
        ((id->flags & BL_IMPORT_SCALE_DIVIDE) && !hf) || !bl__valid_format((int)id->format) ||
        !bl__valid_act((int)id->act) || !bl__valid_method((int)id->method) ||
        !bl__valid_scaling((int)id->scaling) || id->act_bits < 0 || id->act_bits == 1 || id->act_bits > 8)
        return BL_ERR_INVALID;
    if (t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 || !t->data || t->shape[1] > BL_MAX_IN_FEATURES ||
        t->shape[0] > (hf ? INT_MAX / 4 : INT_MAX))
        return BL_ERR_INVALID;
    cols = (int)t->shape[1];
    rows = hf ? 4 * (int)t->shape[0] : (int)t->shape[0];
    if (!bl__mul_size((size_t)rows, (size_t)cols, &elems)) return BL_ERR_OVERFLOW;
    if (id->bias && !bl__all_finite(id->bias, (size_t)rows)) return BL_ERR_NONFINITE;
    memset(&ld, 0, sizeof ld);
    ld.in_features = cols;
    ld.out_features = rows;
    ld.k = 1;
    ld.bias = id->bias;
    ld.method = id->method;
    ld.scaling = id->scaling;
    ld.format = id->format;
    ld.act = id->act;
    ld.act_bits = id->act_bits;

    if (hf) {
        if (t->dtype != BL_DTYPE_U8) return BL_ERR_UNSUPPORTED;
        if (t->nbytes != elems / 4) return BL_ERR_INVALID;
    } else if (!bl__import_kind_of(t->dtype)) { /* a float tensor: ternarize it */
        if (t->dtype != BL_DTYPE_F32 && t->dtype != BL_DTYPE_F16 && t->dtype != BL_DTYPE_BF16 &&
            t->dtype != BL_DTYPE_F64 && t->dtype != BL_DTYPE_Q8_0)
            return BL_ERR_UNSUPPORTED;
        if (bl__type_bytes(t->dtype, elems, (size_t)cols) != t->nbytes) return BL_ERR_INVALID;
        st = bl__import_float(t, &ld, alloc, out);
        if (st == BL_OK && kind) *kind = BL_IMPORT_QUANTIZED;
        return st;
    } else if (bl__type_bytes(t->dtype, elems, (size_t)cols) != t->nbytes) {
        return BL_ERR_INVALID;
    }

    s = (bl__source *)bl__alloc(alloc, sizeof *s);
    if (!s) return BL_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    s->type = hf ? BL_DTYPE_U8 : t->dtype;
    s->rows = rows;
    s->cols = cols;
    s->data = (const uint8_t *)t->data;
    switch (s->type) {
    case BL_DTYPE_TQ2_0:
        s->row_bytes = (size_t)(cols / BL__QK_K) * BL__TQ2_BYTES;
        row_fn = bl__row_tq2;
        break;
    case BL_DTYPE_TQ1_0:
        s->row_bytes = (size_t)(cols / BL__QK_K) * BL__TQ1_BYTES;
        row_fn = bl__row_tq1;
        break;
    case BL_DTYPE_I2_S:
        s->row_bytes = (size_t)cols / 4;
        s->tensor_scale = bl__rdf32(s->data + elems / 4);
        if (!bl__all_finite(&s->tensor_scale, 1)) st = BL_ERR_NONFINITE;
        ld.scaling = BL_SCALING_TENSOR;
        row_fn = bl__row_i2s;
        break;
    default: /* HF packed */
        s->groups = rows / 4;
        s->row_bytes = (size_t)cols;
        s->divide = (id->flags & BL_IMPORT_SCALE_DIVIDE) != 0;
        st = bl__hf_scales(id->weight_scale, rows, s->divide, alloc, &hf_raw, &hf_mult, &s->hf_count);
        if (st == BL_OK) {
            s->hf_raw = hf_raw;
            if (s->hf_count == 1) {
                s->tensor_scale = hf_mult[0];
                ld.scaling = BL_SCALING_TENSOR;
            } else {
                s->row_scales = hf_mult;
                ld.scaling = BL_SCALING_ROW;
            }
        }
        row_fn = bl__row_hf;
        break;
    }
    for (v = 0; v < 256; ++v) enc[v] = (uint8_t)(v < 243u ? (v * 256u + 242u) / 243u : 0u); /* BASE3 bytes */
    /* the row decoder writes the layer's own format: 2BIT always, BASE3 from TQ1_0; the
       others decode to 2BIT, then repack */
    direct = id->format == BL_FORMAT_2BIT || s->type == BL_DTYPE_TQ1_0;
    if (s->type == BL_DTYPE_TQ1_0 && id->format == BL_FORMAT_BASE3) row_fn = bl__row_tq1_base3;
    if (st == BL_OK) st = bl__layer_layout(cols, rows, 1, id->format, id->bias != NULL, &lay);
    if (st == BL_OK) {
        memory = bl__alloc(alloc, lay.total);
        row_bytes_2bit = bl_packed_row_bytes(BL_FORMAT_2BIT, cols);
        if (id->format != BL_FORMAT_2BIT) trits = (int8_t *)bl__alloc(alloc, (size_t)cols + 8); /* codes */
        if (!direct) tmp2 = (uint8_t *)bl__alloc(alloc, row_bytes_2bit);
        if (!memory || (id->format != BL_FORMAT_2BIT && !trits) || (!direct && !tmp2)) st = BL_ERR_NOMEM;
        s->codes = (uint8_t *)trits;
        s->enc = enc;
    }
    if (st == BL_OK) {
        uint8_t *base = (uint8_t *)bl__align_ptr(memory);
        L = bl__linear_header(&ld, &lay, memory, alloc, 1);
        packed = base + lay.packed;
        scales = (float *)(void *)(base + lay.scales);
        for (r = 0; r < rows && st == BL_OK; ++r) {
            uint8_t *row = packed + (size_t)r * L->row_bytes;
            int exact = row_fn(s, r, direct ? row : tmp2, &scales[r]);
            if (exact < 0) {
                st = BL_ERR_NONFINITE;
            } else if (exact == 0) { /* no one scale reproduces this row: re-ternarize its values */
                if (id->flags & BL_IMPORT_STRICT) {
                    st = BL_ERR_UNSUPPORTED;
                    break;
                }
                inexact = 1;
                if (!fl) fl = (float *)bl__alloc(alloc, (size_t)cols * sizeof(float));
                if (!trits) trits = (int8_t *)bl__alloc(alloc, (size_t)cols + 8);
                if (!fl || !trits) {
                    st = BL_ERR_NOMEM;
                    break;
                }
                bl__dequant_row(s, r, fl);
                st = bl_ternarize(fl, 1, cols, id->method, BL_SCALING_ROW, trits, &scales[r]);
                if (st == BL_OK) bl__pack_row((int)id->format, trits, cols, row);
            } else if (!direct) {
                bl__2bit_to_base3(tmp2, cols, (uint8_t *)trits, enc, row);
            }
        }
        if (st == BL_OK) {
            if (id->bias) memcpy(base + lay.bias, id->bias, (size_t)rows * sizeof(float));
            if (inexact) L->scaling = BL_SCALING_ROW;
            *out = L;
            if (kind) *kind = inexact ? BL_IMPORT_REQUANTIZED : BL_IMPORT_EXACT;
        }
    }
    if (st != BL_OK) bl__free(alloc, memory);
    bl__free(alloc, tmp2);
    bl__free(alloc, trits);
    bl__free(alloc, fl);
    bl__free(alloc, hf_raw);
    bl__free(alloc, hf_mult);
    bl__free(alloc, s);
    return st;
}
