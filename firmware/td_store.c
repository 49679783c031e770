/* td_store.c - two-slot profile store (see td_store.h).
 *
 * All storage access goes through td_hal.h; writes respect its rules (offsets
 * and lengths multiples of 4, only to erased bytes), so the blob's last partial
 * word is padded with 0xFF, which leaves those erased bytes unchanged.
 * Depends on: td_store.h, td_hal.h, tinydrift/td_profile.h, tinydrift/td_crc32.h, <string.h>.
 */
#include "td_store.h"
#include "td_le.h"

#include <string.h>

#include "td_hal.h"
#include "tinydrift/td_crc32.h"
#include "tinydrift/td_profile.h"

/* Commit header fields as read from a slot. */
typedef struct {
    uint32_t generation;
    uint32_t size;
    uint32_t crc;
} slot_header_t;

static uint32_t slot_offset(const td_store_t *st, uint8_t slot)
{
    return (uint32_t)slot * st->slot_size;
}

uint32_t td_store_max_blob(const td_store_t *st)
{
    return st == NULL || st->slot_size < TD_APP_SLOT_HEADER_SIZE ? 0u : st->slot_size - TD_APP_SLOT_HEADER_SIZE;
}

/* The header's CRC-32 runs over its generation and size fields, then the blob: a header whose
 * generation or size is not the one written (a torn write, an interrupted erase) does not match. */
static uint32_t crc_seed(uint32_t generation, uint32_t size)
{
    uint8_t fields[8];
    td_le_put_u32(fields, generation);
    td_le_put_u32(fields + 4, size);
    return td_crc32_update(0u, fields, sizeof fields);
}

/* Read and check slot's commit header; TD_ERR_MAGIC for an erased or foreign slot. */
static td_status read_header(const td_store_t *st, uint8_t slot, slot_header_t *hdr)
{
    uint8_t raw[TD_APP_SLOT_HEADER_SIZE];
    const td_status rs = td_hal_storage_read(slot_offset(st, slot), raw, sizeof raw);
    if (rs != TD_OK) {
        return rs;
    }
    if (memcmp(raw, TD_STORE_MAGIC, 4) != 0) {
        return TD_ERR_MAGIC;
    }
    hdr->generation = td_le_get_u32(raw + 4);
    hdr->size = td_le_get_u32(raw + 8);
    hdr->crc = td_le_get_u32(raw + 12);
    if (hdr->size == 0u || hdr->size > td_store_max_blob(st)) {
        return TD_ERR_SIZE; /* a torn or foreign header: never read past the slot */
    }
    return TD_OK;
}

/* Validate slot completely (header, crc32, profile parser), leaving its blob in buf. */
static td_status check_slot(const td_store_t *st, uint8_t slot, uint8_t *buf, uint32_t cap, slot_header_t *hdr)
{
    td_status s = read_header(st, slot, hdr);
    if (s != TD_OK) {
        return s;
    }
    if (hdr->size > cap) {
        return TD_ERR_CAPACITY; /* valid on flash perhaps, but this firmware cannot hold it in RAM */
    }
    s = td_hal_storage_read(slot_offset(st, slot) + TD_APP_SLOT_HEADER_SIZE, buf, hdr->size);
    if (s != TD_OK) {
        return s;
    }
    if (td_crc32_update(crc_seed(hdr->generation, hdr->size), buf, hdr->size) != hdr->crc) {
        return TD_ERR_CRC;
    }
    td_profile_t prof;
    return td_profile_parse(&prof, buf, hdr->size);
}

td_status td_store_init(td_store_t *st, uint8_t *buf, uint32_t cap, uint32_t *blob_size)
{
    if (st == NULL || buf == NULL || blob_size == NULL) {
        return TD_ERR_ARG;
    }
    *blob_size = 0u;
    const uint32_t page = td_hal_storage_page_size();
    if (page == 0u || page % 4u != 0u) {
        return TD_ERR_RANGE;
    }
    st->slot_size = (TD_APP_SLOT_SIZE + page - 1u) / page * page;
    st->generation = 0u;
    st->active_size = 0u;
    st->active = TD_STORE_NO_SLOT;
    st->erased_slot = TD_STORE_NO_SLOT;
    if (td_hal_storage_size() / 2u < st->slot_size) {
        return TD_ERR_CAPACITY; /* the board must provide two slots */
    }
    slot_header_t hdr[2];
    td_status status[2];
    for (uint8_t slot = 0; slot < 2u; slot++) {
        status[slot] = check_slot(st, slot, buf, cap, &hdr[slot]);
    }
    uint8_t best = TD_STORE_NO_SLOT;
    for (uint8_t slot = 0; slot < 2u; slot++) {
        if (status[slot] == TD_OK && (best == TD_STORE_NO_SLOT || hdr[slot].generation > hdr[best].generation)) {
            best = slot;
        }
    }
    if (best == TD_STORE_NO_SLOT) {
        return TD_OK; /* no profile yet: a valid state, not an error */
    }
    if (best == 0u) {
        /* Slot 1 was scanned last and may have overwritten buf: read the winner again. */
        const td_status s = check_slot(st, 0u, buf, cap, &hdr[0]);
        if (s != TD_OK) {
            return s;
        }
    }
    st->active = best;
    st->generation = hdr[best].generation;
    st->active_size = hdr[best].size;
    *blob_size = hdr[best].size;
    return TD_OK;
}

uint8_t td_store_active_slot(const td_store_t *st)
{
    return st == NULL ? TD_STORE_NO_SLOT : st->active;
}

uint8_t td_store_inactive_slot(const td_store_t *st)
{
    return (uint8_t)(st == NULL || st->active != 0u ? 0u : 1u);
}

td_status td_store_begin(td_store_t *st, uint32_t size, uint8_t *slot)
{
    if (st == NULL || slot == NULL || st->slot_size == 0u) {
        return TD_ERR_ARG;
    }
    if (size == 0u || size > td_store_max_blob(st)) {
        return TD_ERR_SIZE;
    }
    const uint8_t target = td_store_inactive_slot(st);
    st->erased_slot = TD_STORE_NO_SLOT; /* until the erase has succeeded */
    const td_status s = td_hal_storage_erase(slot_offset(st, target), st->slot_size);
    if (s != TD_OK) {
        return s;
    }
    st->erased_slot = target;
    *slot = target;
    return TD_OK;
}

/* CRC-32 (continued from seed) of len bytes of storage at offset, read in small pieces (no big buffer needed). */
static td_status storage_crc(uint32_t offset, uint32_t len, uint32_t seed, uint32_t *crc)
{
    uint8_t piece[64];
    uint32_t c = seed;
    uint32_t done = 0u;
    while (done < len) {
        const uint32_t n = len - done < (uint32_t)sizeof piece ? len - done : (uint32_t)sizeof piece;
        const td_status s = td_hal_storage_read(offset + done, piece, n);
        if (s != TD_OK) {
            return s;
        }
        c = td_crc32_update(c, piece, n);
        done += n;
    }
    *crc = c;
    return TD_OK;
}

td_status td_store_commit(td_store_t *st, const uint8_t *blob, uint32_t size)
{
    if (st == NULL || blob == NULL) {
        return TD_ERR_ARG;
    }
    if (size == 0u || size > td_store_max_blob(st)) {
        return TD_ERR_SIZE;
    }
    const uint8_t target = td_store_inactive_slot(st);
    if (st->erased_slot != target) {
        return TD_ERR_STATE; /* only freshly erased flash can be written */
    }
    if (st->generation == 0xFFFFFFFFu) {
        return TD_ERR_RANGE;
    }
    /* The slot is dirty from here on, whatever happens: a later commit needs a new erase. */
    st->erased_slot = TD_STORE_NO_SLOT;
    const uint32_t base = slot_offset(st, target);
    const uint32_t whole = size & ~3u;
    td_status s = TD_OK;
    if (whole > 0u) {
        s = td_hal_storage_write(base + TD_APP_SLOT_HEADER_SIZE, blob, whole);
    }
    if (s == TD_OK && whole < size) {
        uint8_t tail[4] = {0xFFu, 0xFFu, 0xFFu, 0xFFu};
        memcpy(tail, blob + whole, size - whole);
        s = td_hal_storage_write(base + TD_APP_SLOT_HEADER_SIZE + whole, tail, 4u);
    }
    if (s != TD_OK) {
        return s;
    }
    /* Read the blob back: the header must only vouch for bytes that really are in flash. */
    const uint32_t generation = st->generation + 1u;
    const uint32_t seed = crc_seed(generation, size);
    const uint32_t crc = td_crc32_update(seed, blob, size);
    uint32_t stored_crc = 0u;
    s = storage_crc(base + TD_APP_SLOT_HEADER_SIZE, size, seed, &stored_crc);
    if (s != TD_OK) {
        return s;
    }
    if (stored_crc != crc) {
        return TD_ERR_CRC;
    }
    uint8_t hdr[TD_APP_SLOT_HEADER_SIZE];
    memcpy(hdr, TD_STORE_MAGIC, 4);
    td_le_put_u32(hdr + 4, generation);
    td_le_put_u32(hdr + 8, size);
    td_le_put_u32(hdr + 12, crc);
    s = td_hal_storage_write(base, hdr, sizeof hdr);
    if (s != TD_OK) {
        return s;
    }
    uint8_t check[TD_APP_SLOT_HEADER_SIZE];
    s = td_hal_storage_read(base, check, sizeof check);
    if (s != TD_OK) {
        return s;
    }
    if (memcmp(check, hdr, sizeof hdr) != 0) {
        return TD_ERR_CRC;
    }
    st->active = target;
    st->generation = generation;
    st->active_size = size;
    return TD_OK;
}
