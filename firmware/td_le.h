/* td_le.h - little-endian loads and stores for link payloads and storage headers.
 *
 * Byte by byte, so they are independent of host endianness and alignment
 * (payloads sit at odd offsets inside frame buffers and flash pages).
 * Depends on: <stdint.h>.
 */
#ifndef TINYDRIFT_TD_LE_H
#define TINYDRIFT_TD_LE_H

#include <stdint.h>

/** Store v at p[0..1], least significant byte first; total. */
static inline void td_le_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

/** Store v at p[0..3], least significant byte first; total. */
static inline void td_le_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

/** Load a little-endian uint16 from p[0..1]; total. */
static inline uint16_t td_le_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

/** Load a little-endian uint32 from p[0..3]; total. */
static inline uint32_t td_le_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif /* TINYDRIFT_TD_LE_H */
