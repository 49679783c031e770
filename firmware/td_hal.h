/* td_hal.h - the board interface the firmware application (td_app) runs on.
 *
 * Each board folder (boards/host, boards/mps2-an386, boards/nano33ble) implements
 * every function here; the application never touches hardware directly.
 * Storage is a flash-like region: erase sets bytes to 0xFF in whole pages, writes
 * only happen to erased bytes. Boards without flash emulate that (file, semihosting).
 * Depends on: td_status.h.
 */
#ifndef TINYDRIFT_TD_HAL_H
#define TINYDRIFT_TD_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "tinydrift/td_status.h"

/** Board ids reported in INFO (docs/protocol.md). */
#define TD_BOARD_HOST 1u
#define TD_BOARD_MPS2_AN386 2u
#define TD_BOARD_NANO33BLE 3u

/** Bring up clocks, link, storage and timers; called once before td_app_init. */
td_status td_hal_init(void) TD_CHECK_RESULT;

/** Read up to cap received link bytes without blocking; returns the count (0 if none); total. */
size_t td_hal_link_read(uint8_t *buf, size_t cap);

/** Send len bytes on the link, blocking until they are queued. */
td_status td_hal_link_write(const uint8_t *data, size_t len) TD_CHECK_RESULT;

/** Milliseconds since boot (wraps after 49 days); total. */
uint32_t td_hal_time_ms(void);

/** Identifier of this boot, different on every boot (persisted counter or random); total. */
uint32_t td_hal_boot_id(void);

/** This board's 64-bit unique id (a factory id, or one made once and persisted); 0 if it has none; total. */
uint64_t td_hal_device_uid(void);

/** Size in bytes of the persistent storage region; total. */
uint32_t td_hal_storage_size(void);

/** Erase granularity of the storage region in bytes; total. */
uint32_t td_hal_storage_page_size(void);

/** Copy len bytes at offset of persistent storage into buf. */
td_status td_hal_storage_read(uint32_t offset, uint8_t *buf, uint32_t len) TD_CHECK_RESULT;

/** Erase the pages covering [offset, offset + len) to 0xFF; offset and len are page-aligned. */
td_status td_hal_storage_erase(uint32_t offset, uint32_t len) TD_CHECK_RESULT;

/** Write len bytes at offset (offset and len multiples of 4; target bytes erased). */
td_status td_hal_storage_write(uint32_t offset, const uint8_t *data, uint32_t len) TD_CHECK_RESULT;

/** Start sampling the board's sensors at rate_hz frames per second (0 stops); TD_ERR_MODE without sensors. */
td_status td_hal_sensor_start(uint16_t rate_hz) TD_CHECK_RESULT;

/** Fetch one sampled frame of n_channels int16 values if one is ready; returns 1 if *frame was written; total. */
int td_hal_sensor_read(int16_t *frame, uint8_t n_channels);

/** Wait briefly for something to do (interrupt, received byte, timer); may return at once; total. */
void td_hal_idle(void);

/** Board id (TD_BOARD_*); total. */
uint8_t td_hal_board_id(void);

/** Human-readable board name; total. */
const char *td_hal_board_name(void);

#endif /* TINYDRIFT_TD_HAL_H */
