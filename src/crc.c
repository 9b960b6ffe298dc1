/* ==== bitlinear: CRC-32C checksum ========================================= */
/* CRC-32C (Castagnoli): the checksum of model files, chosen because it is standard
   (iSCSI, ext4, Btrfs; any language has it) and catches every burst error up to 32 bits.
   Slicing-by-8 with its 8 KiB table built on the stack per call: no global tables,
   no static data in tiny binaries, and the build (2048 steps) is noise next to the
   megabytes a model file holds. */
BITLINEAR_DEF uint32_t bl_crc32c(uint32_t crc, const void *data, size_t size)
{
    uint32_t t[8][256];
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    int i, k;
    if (!p) return crc;
    for (i = 0; i < 256; ++i) {
        uint32_t v = (uint32_t)i;
        for (k = 0; k < 8; ++k) v = (v >> 1) ^ (0x82F63B78u & (0u - (v & 1u)));
        t[0][i] = v;
    }
    for (k = 1; k < 8; ++k)
        for (i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
    while (size >= 8) { /* bytes are read one by one: the same on every host */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
            t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        size -= 8;
    }
    while (size--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
    return ~c;
}
