/* td_ring.c - telemetry ring buffer (see td_ring.h).
 * Depends on: td_ring.h, <string.h>.
 */
#include "td_ring.h"

#include <string.h>

td_status td_ring_init(td_ring_t *ring)
{
    if (ring == NULL) {
        return TD_ERR_ARG;
    }
    ring->next_seq = 0u;
    ring->count = 0u;
    return TD_OK;
}

td_status td_ring_push(td_ring_t *ring, const uint8_t *record, uint16_t len, uint32_t *seq)
{
    if (ring == NULL || record == NULL || seq == NULL || len == 0u) {
        return TD_ERR_ARG;
    }
    if (len > TD_RING_SLOT_SIZE) {
        return TD_ERR_CAPACITY;
    }
    td_ring_slot_t *slot = &ring->slots[ring->next_seq % (uint32_t)TD_APP_RING_CAPACITY];
    memcpy(slot->data, record, len);
    slot->len = len;
    *seq = ring->next_seq;
    ring->next_seq++;
    if (ring->count < (uint32_t)TD_APP_RING_CAPACITY) {
        ring->count++;
    }
    return TD_OK;
}

uint32_t td_ring_next_seq(const td_ring_t *ring)
{
    return ring == NULL ? 0u : ring->next_seq;
}

uint32_t td_ring_oldest_seq(const td_ring_t *ring)
{
    return ring == NULL ? 0u : ring->next_seq - ring->count;
}

uint32_t td_ring_first_from(const td_ring_t *ring, uint32_t from_seq)
{
    if (ring == NULL) {
        return 0u;
    }
    const uint32_t oldest = ring->next_seq - ring->count;
    /* Sequence numbers do not wrap within a boot in practice (2^32 windows), so plain comparisons hold. */
    if (from_seq < oldest) {
        return oldest;
    }
    return from_seq > ring->next_seq ? ring->next_seq : from_seq;
}

td_status td_ring_get(const td_ring_t *ring, uint32_t seq, const uint8_t **record, uint16_t *len)
{
    if (ring == NULL || record == NULL || len == NULL) {
        return TD_ERR_ARG;
    }
    if (seq >= ring->next_seq || seq < ring->next_seq - ring->count) {
        return TD_ERR_RANGE;
    }
    const td_ring_slot_t *slot = &ring->slots[seq % (uint32_t)TD_APP_RING_CAPACITY];
    *record = slot->data;
    *len = slot->len;
    return TD_OK;
}

uint16_t td_ring_capacity(void)
{
    return (uint16_t)TD_APP_RING_CAPACITY;
}
