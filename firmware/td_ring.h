/* td_ring.h - telemetry ring buffer: the last TD_APP_RING_CAPACITY encoded records, by sequence number.
 *
 * Records are stored as their encoded TELEMETRY payloads (td_proto.h), so FETCH
 * resends exactly the bytes that went out live. Sequence numbers start at 0 on
 * every boot (td_ring_init) and grow by one per record; the ring overwrites the
 * oldest record when full. Record seq s lives in slot s % capacity, so lookups
 * are O(1) and no per-record seq is stored.
 *
 * Usage:
 *     uint32_t seq = td_ring_next_seq(&ring);   // encode the record with this seq, then
 *     td_ring_push(&ring, payload, len, &seq);
 *     for (uint32_t s = td_ring_first_from(&ring, from); s != td_ring_next_seq(&ring); s++) { td_ring_get(...); }
 *
 * Depends on: td_app_config.h, td_proto.h (record size), tinydrift/td_status.h.
 */
#ifndef TINYDRIFT_TD_RING_H
#define TINYDRIFT_TD_RING_H

#include <stdint.h>

#include "td_app_config.h"
#include "td_proto.h"
#include "tinydrift/td_status.h"

/** Bytes of one ring slot: the largest telemetry record. */
#define TD_RING_SLOT_SIZE TD_TELEMETRY_MAX_SIZE

/** One stored record. */
typedef struct {
    uint16_t len;                     /**< bytes used in data */
    uint8_t data[TD_RING_SLOT_SIZE];  /**< encoded record */
} td_ring_slot_t;

/** Ring state; fields are private. */
typedef struct {
    td_ring_slot_t slots[TD_APP_RING_CAPACITY]; /**< record seq s is in slots[s % capacity] */
    uint32_t next_seq;                          /**< seq the next pushed record gets */
    uint32_t count;                             /**< records held, <= capacity */
} td_ring_t;

/** Empty the ring and restart sequence numbers at 0. */
td_status td_ring_init(td_ring_t *ring) TD_CHECK_RESULT;

/** Store a record of 1..TD_RING_SLOT_SIZE bytes (evicting the oldest when full); *seq gets its sequence number. */
td_status td_ring_push(td_ring_t *ring, const uint8_t *record, uint16_t len, uint32_t *seq) TD_CHECK_RESULT;

/** Point *record at the stored record with sequence number seq; TD_ERR_RANGE if it is not (or no longer) held. */
td_status td_ring_get(const td_ring_t *ring, uint32_t seq, const uint8_t **record, uint16_t *len) TD_CHECK_RESULT;

/** Sequence number the next pushed record gets; total. */
uint32_t td_ring_next_seq(const td_ring_t *ring);

/** Oldest sequence number held (== td_ring_next_seq when empty); total. */
uint32_t td_ring_oldest_seq(const td_ring_t *ring);

/** First held seq >= from_seq (td_ring_next_seq if none): where a fetch from from_seq starts; total. */
uint32_t td_ring_first_from(const td_ring_t *ring, uint32_t from_seq);

/** Records the ring can hold; total. */
uint16_t td_ring_capacity(void);

#endif /* TINYDRIFT_TD_RING_H */
