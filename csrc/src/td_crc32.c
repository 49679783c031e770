/* td_crc32.c - table-light nibble-wise CRC-32.
 *
 * A 16-entry table keeps flash use at 64 bytes; a 256-entry table (1 KB) would
 * not fit the core's flash budget. The bulk runs a 32-bit word at a time: one
 * load and one XOR per four bytes, then eight table steps, which is about 60 %
 * of the instructions of the byte-wise loop.
 */
#include "tinydrift/td_crc32.h"

static const uint32_t crc_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

/* One table step consumes four bits; written out, as -Os would otherwise keep a counted loop. */
#define CRC_NIBBLE(crc) ((crc) = ((crc) >> 4) ^ crc_nibble_table[(crc) & 0x0Fu])

uint32_t td_crc32_update(uint32_t crc, const uint8_t *data, size_t len)
{
    if (data == NULL) {
        return crc;
    }
    crc = ~crc;
    const uint8_t *p = data;
    const uint8_t *const end = data + len;
    /* The reflected CRC consumes bytes from its low end, so a little-endian word is four bytes at
     * once (the byte loads below merge into one unaligned load on the Cortex-M4). */
    for (size_t words = len / 4u; words > 0u; words--) {
        crc ^= (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        /* Four steps written out, twice: a full unrolling would cost 48 more bytes of flash. */
        for (unsigned half = 0; half < 2u; half++) {
            CRC_NIBBLE(crc);
            CRC_NIBBLE(crc);
            CRC_NIBBLE(crc);
            CRC_NIBBLE(crc);
        }
        p += 4;
    }
    while (p != end) {
        crc ^= *p++;
        CRC_NIBBLE(crc);
        CRC_NIBBLE(crc);
    }
    return ~crc;
}
