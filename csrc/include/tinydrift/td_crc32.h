/* td_crc32.h - CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), the same value as zlib's crc32().
 * Depends on: <stdint.h>, <stddef.h>.
 */
#ifndef TINYDRIFT_TD_CRC32_H
#define TINYDRIFT_TD_CRC32_H

#include <stddef.h>
#include <stdint.h>

/** Continue a CRC-32 over len bytes; start with crc = 0; total (len 0 or NULL data returns crc unchanged). */
uint32_t td_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

#endif /* TINYDRIFT_TD_CRC32_H */
