/* td_frame.h - device-link frame codec: COBS framing, CRC-32, streaming decoder.
 *
 * Wire format: every frame is COBS(body) followed by one 0x00 delimiter.
 *   body = version u8 (TD_FRAME_VERSION) | type u8 | seq u16 LE | payload (0..352 bytes)
 *          | CRC-32 u32 LE over version..payload (td_crc32_update(0, ...), zlib's crc32)
 * COBS is the standard (Cheshire/Baker) encoding, byte-identical to the Python
 * package cobs (cobs.cobs.encode/decode): the empty string encodes to 01, and a
 * run of 254 non-zero bytes at the end of the input ends with its FF block.
 *
 * The streaming decoder (td_frame_decoder_t) keeps all its state in the
 * caller's struct, decodes COBS incrementally into a body buffer (no second
 * copy of the encoded bytes), silently drops bad frames while counting them,
 * and resynchronizes at the next 0x00. Nothing allocates; nothing blocks.
 *
 * td_frame_decoder_feed convention (call it in a loop until the input is used up):
 *   TD_OK            one valid frame is in *frame; *consumed = bytes used, up to and
 *                    including that frame's delimiter (<= len). Call again with
 *                    data + *consumed, len - *consumed: more frames may follow.
 *   TD_ERR_TRUNCATED "need more bytes": all input used (*consumed == len), no frame
 *                    completed; a partial frame stays buffered in *dec. Not an error.
 *   TD_ERR_ARG       dec, consumed or frame NULL, or data NULL with len > 0;
 *                    *consumed = 0 (when consumed is non-NULL), *dec unchanged.
 * Bad frames never surface as return values: a frame ended by 0x00 whose COBS is
 * invalid, whose body is shorter than TD_FRAME_MIN_BODY or has a wrong version
 * (n_format_errors), whose CRC mismatches (n_crc_errors), or whose body grows past
 * TD_FRAME_MAX_BODY (n_overflows; the rest up to the next 0x00 is dropped) is
 * counted and skipped. Empty frames (consecutive 0x00) are ignored, uncounted.
 * *frame is written only when TD_OK is returned. Bytes received before the first
 * 0x00 are treated as a frame: a receiver that starts mid-stream counts one bad
 * frame, and a sender may send a lone 0x00 first to flush a stale partial frame.
 *
 * td_frame_decode errors, checked in this order: TD_ERR_ARG (frame NULL, or wire
 * NULL with len > 0); TD_ERR_TRUNCATED (nothing before the optional trailing
 * 0x00); the COBS errors of td_cobs_decode (TD_ERR_RANGE for a 0x00 inside,
 * TD_ERR_TRUNCATED for a block past the end); TD_ERR_SIZE (body longer than
 * TD_FRAME_MAX_BODY); TD_ERR_TRUNCATED (body shorter than TD_FRAME_MIN_BODY);
 * TD_ERR_CRC; TD_ERR_VERSION (an intact frame of another version).
 * It decodes into a TD_FRAME_MAX_BODY + 1 byte stack buffer (about 300 bytes of
 * stack on Cortex-M4); the streaming decoder needs no stack buffer.
 *
 * Depends on: td_status.h, td_crc32.h, <stdint.h>, <stddef.h>, <string.h>.
 */
#ifndef TINYDRIFT_TD_FRAME_H
#define TINYDRIFT_TD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tinydrift/td_status.h"

/** Frame format version carried in the first body byte. */
#define TD_FRAME_VERSION 1

/** Bytes before the payload: version, type, seq (u16 LE). */
#define TD_FRAME_HEADER_SIZE 4

/** Bytes after the payload: CRC-32 (u32 LE). */
#define TD_FRAME_CRC_SIZE 4

/** Largest payload of one frame, in bytes (a wire-format constant, not a tunable). */
#define TD_FRAME_MAX_PAYLOAD 352

/** Smallest valid body: header and CRC with an empty payload. */
#define TD_FRAME_MIN_BODY (TD_FRAME_HEADER_SIZE + TD_FRAME_CRC_SIZE)

/** Largest valid body: header, maximum payload and CRC (360 bytes). */
#define TD_FRAME_MAX_BODY (TD_FRAME_HEADER_SIZE + TD_FRAME_MAX_PAYLOAD + TD_FRAME_CRC_SIZE)

/** Bound on one frame on the wire: COBS of the largest body plus the 0x00 delimiter (363 bytes). */
#define TD_FRAME_MAX_WIRE (TD_FRAME_MAX_BODY + TD_FRAME_MAX_BODY / 254 + 1 + 1)

/** One decoded frame. */
typedef struct {
    uint8_t type;                           /**< application message type */
    uint16_t seq;                           /**< sender's sequence number */
    uint16_t payload_len;                   /**< valid bytes in payload, 0..TD_FRAME_MAX_PAYLOAD */
    uint8_t payload[TD_FRAME_MAX_PAYLOAD];  /**< payload bytes */
} td_frame_t;

/** Streaming decoder state, owned by the caller; fields other than the counters are private. */
typedef struct {
    uint8_t body[TD_FRAME_MAX_BODY]; /**< COBS-decoded body of the frame in progress */
    uint16_t body_len;        /**< bytes in body */
    uint8_t code;             /**< current COBS code byte; 0 = no byte since the last delimiter */
    uint8_t remaining;        /**< data bytes still due in the current COBS block */
    uint8_t discarding;       /**< 1: frame overflowed, dropping bytes until the next 0x00 */
    uint32_t n_frames;        /**< valid frames returned (wraps modulo 2^32, as do all counters) */
    uint32_t n_crc_errors;    /**< frames dropped for a CRC mismatch */
    uint32_t n_format_errors; /**< frames dropped for bad COBS, wrong version or a body shorter than 8 bytes */
    uint32_t n_overflows;     /**< frames dropped for a body longer than TD_FRAME_MAX_BODY */
} td_frame_decoder_t;

/** COBS-encode len bytes of src into dst (no delimiter appended); *out_len gets the size (0 on error). */
td_status td_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len) TD_CHECK_RESULT;

/** COBS-decode len bytes (no delimiter) into dst, may be in place (dst == src); 0x00 inside: TD_ERR_RANGE, block past end: TD_ERR_TRUNCATED, dst full: TD_ERR_CAPACITY. */
td_status td_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len) TD_CHECK_RESULT;

/** Encode one frame as COBS(body) + 0x00 into wire; payload_len > TD_FRAME_MAX_PAYLOAD: TD_ERR_LIMIT, cap too small: TD_ERR_CAPACITY. */
td_status td_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t payload_len,
                          uint8_t *wire, size_t cap, size_t *wire_len) TD_CHECK_RESULT;

/** Decode one complete frame, with or without its trailing 0x00; precise errors as listed at the top of this file. */
td_status td_frame_decode(const uint8_t *wire, size_t len, td_frame_t *frame) TD_CHECK_RESULT;

/** Reset a streaming decoder: empty frame buffer, all counters 0. */
td_status td_frame_decoder_init(td_frame_decoder_t *dec) TD_CHECK_RESULT;

/** Consume bytes until one valid frame is complete (TD_OK, *frame filled) or data runs out (TD_ERR_TRUNCATED, *consumed == len). */
td_status td_frame_decoder_feed(td_frame_decoder_t *dec, const uint8_t *data, size_t len, size_t *consumed,
                                td_frame_t *frame) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_FRAME_H */
