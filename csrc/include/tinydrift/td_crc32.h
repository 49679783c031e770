/* td_crc32.h - CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), the same value as zlib's crc32().
 *
 * Compile-time option TD_CRC32_TABLE_BYTES, the flash spent on the lookup table (define it the same
 * for every file of a build, e.g. -DTD_CRC32_TABLE_BYTES=1024):
 *   64   (default) 16-entry nibble table: td_crc32.o is 196 bytes on the Cortex-M4 (-Os), about 9.4
 *        instructions per byte. The core's 8 KB flash budget (tools/size_report.py) counts this one.
 *   1024 256-entry byte table: td_crc32.o is 1,124 bytes (+928), about 4.4 instructions per byte,
 *        and td_frame_encode computes the CRC inside its COBS pass (wire frame of a 172-byte payload:
 *        1,441 instructions against 2,506). The firmware builds enable it (FW_CORE_DEFS in
 *        firmware/firmware.mk and boards/mps2-an386/board.mk; the Nano 33 BLE sketch's copy of this
 *        header defaults to it, boards/nano33ble/board.mk).
 * Both give identical results.
 *
 * Depends on: <stdint.h>, <stddef.h>.
 */
#ifndef TINYDRIFT_TD_CRC32_H
#define TINYDRIFT_TD_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifndef TD_CRC32_TABLE_BYTES
#define TD_CRC32_TABLE_BYTES 64
#endif
#if TD_CRC32_TABLE_BYTES != 64 && TD_CRC32_TABLE_BYTES != 1024
#error "TD_CRC32_TABLE_BYTES must be 64 or 1024"
#endif

/** Continue a CRC-32 over len bytes; start with crc = 0; total (len 0 or NULL data returns crc unchanged). */
uint32_t td_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

#if TD_CRC32_TABLE_BYTES == 1024
/** The byte table behind td_crc32_update, for codecs that fold the CRC into their own loop (td_frame.c). */
extern const uint32_t td_crc32_table[256];

/** One byte step on the inverted CRC register r (a variable: used twice) whose low byte already holds the
 *  data byte XORed in. A macro, not a function, as -Os keeps small inline functions out of line. */
#define TD_CRC32_STEP8(r) (((r) >> 8) ^ td_crc32_table[(r) & 0xFFu])
#endif

#endif /* TINYDRIFT_TD_CRC32_H */
