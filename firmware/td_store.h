/* td_store.h - two-slot (A/B) profile store on the HAL's flash-like storage region.
 *
 * Layout: slot 0 at offset 0, slot 1 at offset slot_size, where slot_size is
 * TD_APP_SLOT_SIZE rounded up to whole erase pages. Each slot is
 *     commit header (16 bytes): magic "TDSL" | u32 generation | u32 size | u32 crc
 *     blob (size bytes, from offset 16)
 * where crc is the CRC-32 of the header's generation and size fields (8 bytes,
 * little-endian) followed by the blob, so a generation or size that is not the
 * one written (a torn header write, an interrupted erase of an older slot)
 * does not match. The header is written LAST, after the blob has been written
 * and read back, and erased flash reads 0xFF, so an upload interrupted at any
 * point (power loss, dropped link, failed write) leaves a slot without a valid
 * header. A slot is valid when its magic, size and crc match and
 * td_profile_parse accepts the blob; the active slot is the valid one with the
 * highest generation. Uploads always go to the other (inactive) slot, so the
 * active profile stays intact until the new header makes the switch. Nothing is
 * written at boot. tests/c/test_store_powercut.c cuts power at every flash
 * operation of an upload (docs/architecture.md, "Power cuts").
 *
 * Usage:
 *     td_store_t st; uint32_t size;
 *     td_store_init(&st, buf, sizeof buf, &size);          // buf now holds the active blob (size 0: none)
 *     td_store_begin(&st, new_size, &slot);                // erase the inactive slot
 *     td_store_commit(&st, new_blob, new_size);            // write blob, verify, write header: switch
 *
 * Depends on: td_hal.h (storage functions), td_app_config.h, tinydrift/td_profile.h, td_crc32.h.
 */
#ifndef TINYDRIFT_TD_STORE_H
#define TINYDRIFT_TD_STORE_H

#include <stdint.h>

#include "td_app_config.h"
#include "tinydrift/td_status.h"

/** Magic of a slot commit header. */
#define TD_STORE_MAGIC "TDSL"
/** Slot number meaning "none". */
#define TD_STORE_NO_SLOT 0xFFu

/** Store state; fields are private (use the accessors). */
typedef struct {
    uint32_t slot_size;   /**< bytes per slot, whole pages */
    uint32_t generation;  /**< generation of the active slot (0: none) */
    uint32_t active_size; /**< blob bytes in the active slot */
    uint8_t active;       /**< active slot 0/1, or TD_STORE_NO_SLOT */
    uint8_t erased_slot;  /**< slot erased by td_store_begin and not yet committed, or TD_STORE_NO_SLOT */
} td_store_t;

/** Scan both slots using buf (cap bytes) as scratch; on return buf holds the active blob and *blob_size its size (0: none). */
td_status td_store_init(td_store_t *st, uint8_t *buf, uint32_t cap, uint32_t *blob_size) TD_CHECK_RESULT;

/** Active slot number, or TD_STORE_NO_SLOT; total. */
uint8_t td_store_active_slot(const td_store_t *st);

/** Slot the next upload goes to (the one not active); total. */
uint8_t td_store_inactive_slot(const td_store_t *st);

/** Largest blob a slot holds; total. */
uint32_t td_store_max_blob(const td_store_t *st);

/** Prepare an upload of size bytes: TD_ERR_SIZE if it cannot fit, else erase the inactive slot; *slot gets its number. */
td_status td_store_begin(td_store_t *st, uint32_t size, uint8_t *slot) TD_CHECK_RESULT;

/** Write blob into the slot td_store_begin erased, verify it, then write its header: it becomes active. */
td_status td_store_commit(td_store_t *st, const uint8_t *blob, uint32_t size) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_STORE_H */
