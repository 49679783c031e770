/* td_le.h - little-endian loads and stores for link payloads and storage headers.
 *
 * Independent of host endianness and alignment (payloads sit at odd offsets inside frame
 * buffers and flash pages): stores are a memcpy on little-endian targets, which the compiler
 * turns into one store where unaligned stores are allowed, and bytes elsewhere.
 * Depends on: <stdint.h>, <string.h>.
 */
#ifndef TINYDRIFT_TD_LE_H
#define TINYDRIFT_TD_LE_H

#include <stdint.h>
#include <string.h>

/* -Os keeps these as calls otherwise; inlined they merge into one unaligned load or store on the Cortex-M4. */
#if defined(__GNUC__)
#define TD_LE_INLINE inline __attribute__((always_inline))
#else
#define TD_LE_INLINE inline
#endif

/** Store v at p[0..1], least significant byte first; total. */
static TD_LE_INLINE void td_le_put_u16(uint8_t *p, uint16_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
#endif
}

/** Store v at p[0..3], least significant byte first; total. */
static TD_LE_INLINE void td_le_put_u32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v); /* one store where the target allows unaligned ones, bytes otherwise */
#else
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
#endif
}

/** Load a little-endian uint16 from p[0..1]; total. */
static TD_LE_INLINE uint16_t td_le_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

/** Load a little-endian uint32 from p[0..3]; total. */
static TD_LE_INLINE uint32_t td_le_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif /* TINYDRIFT_TD_LE_H */
