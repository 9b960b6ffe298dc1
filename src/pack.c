/* ==== bitlinear: packing (BL_FORMAT_2BIT, BL_FORMAT_BASE3) ================ */

BITLINEAR_DEF size_t bl_packed_row_bytes(bl_format f, int cols)
{
    int d;
    if (!bl__valid_format((int)f) || cols <= 0) return 0;
    d = bl__digits((int)f);
    return ((size_t)cols + (size_t)d - 1) / (size_t)d;
}

BITLINEAR_DEF size_t bl_packed_size(bl_format f, int rows, int cols)
{
    size_t total;
    if (rows <= 0 || !bl_packed_row_bytes(f, cols)) return 0;
    if (!bl__mul_size((size_t)rows, bl_packed_row_bytes(f, cols), &total)) return 0;
    return total;
}

/* Packs one row of n trits. Walks the layout a block at a time: byte j of a block of
   width b holds the block's trits j, j + b, j + 2b, ... (b = 64, or the tail's width). */
static void bl__pack_row(int format, const int8_t *t, int n, uint8_t *dst)
{
    int d = bl__digits(format), pos = 0;
    while (pos < n) {
        int left = n - pos, width = bl__block_width(format, left);
        int j, m;
        for (j = 0; j < width; ++j) {
            uint8_t codes[5] = { 1, 1, 1, 1, 1 };
            for (m = 0; m < d; ++m) {
                int i = j + m * width;
                codes[m] = (uint8_t)(i < left ? t[pos + i] + 1 : 1);
            }
            if (d == 5) {
                dst[j] = bl__base3_encode(codes);
            } else {
                dst[j] = (uint8_t)(codes[0] | codes[1] << 2 | codes[2] << 4 | codes[3] << 6);
            }
        }
        pos += width * d;
        dst += width;
    }
}

/* Unpacks one row (t NULL: only checks it); 0 if a byte is not a valid encoding or a
   padding trit is not zero. */
static int bl__unpack_row(int format, const uint8_t *src, int n, int8_t *t)
{
    int d = bl__digits(format), pos = 0;
    while (pos < n) {
        int left = n - pos, width = bl__block_width(format, left);
        int j, m;
        for (j = 0; j < width; ++j) {
            uint8_t codes[5] = { 1, 1, 1, 1, 1 };
            for (m = 0; m < d; ++m) {
                int i = j + m * width;
                codes[m] = (uint8_t)(d == 5 ? bl__base3_code(src[j], m) : bl__2bit_code(src[j], m));
                if (codes[m] > 2 || (i >= left && codes[m] != 1)) return 0;
                if (t && i < left) t[pos + i] = (int8_t)(codes[m] - 1);
            }
            if (d == 5 && bl__base3_encode(codes) != src[j]) return 0;
        }
        pos += width * d;
        src += width;
    }
    return 1;
}

BITLINEAR_DEF bl_status bl_pack(bl_format f, const int8_t *trits, int rows, int cols, void *dst,
                                size_t dst_size)
{
    size_t count, i, row_bytes = bl_packed_row_bytes(f, cols);
    bl_status st = bl__check_matrix(trits, dst, dst, rows, cols, &count);
    int r;
    if (st != BL_OK) return st;
    if (!bl__valid_format((int)f)) return BL_ERR_INVALID;
    if (bl_packed_size(f, rows, cols) == 0) return BL_ERR_OVERFLOW;
    if (dst_size < bl_packed_size(f, rows, cols)) return BL_ERR_INVALID;
    for (i = 0; i < count; ++i)
        if (trits[i] < -1 || trits[i] > 1) return BL_ERR_INVALID;
    for (r = 0; r < rows; ++r)
        bl__pack_row((int)f, trits + (size_t)r * (size_t)cols, cols, (uint8_t *)dst + (size_t)r * row_bytes);
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_unpack(bl_format f, const void *src, size_t src_size, int rows, int cols,
                                  int8_t *trits)
{
    size_t count, row_bytes = bl_packed_row_bytes(f, cols);
    bl_status st = bl__check_matrix(src, trits, trits, rows, cols, &count);
    int r;
    if (st != BL_OK) return st;
    if (!bl__valid_format((int)f)) return BL_ERR_INVALID;
    if (bl_packed_size(f, rows, cols) == 0) return BL_ERR_OVERFLOW;
    if (src_size < bl_packed_size(f, rows, cols)) return BL_ERR_INVALID;
    for (r = 0; r < rows; ++r) /* validate everything before writing anything */
        if (!bl__unpack_row((int)f, (const uint8_t *)src + (size_t)r * row_bytes, cols, NULL))
            return BL_ERR_FORMAT;
    for (r = 0; r < rows; ++r)
        (void)bl__unpack_row((int)f, (const uint8_t *)src + (size_t)r * row_bytes, cols,
                             trits + (size_t)r * (size_t)cols);
    return BL_OK;
}
