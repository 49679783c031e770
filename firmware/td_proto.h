/* td_proto.h - little-endian pack/unpack of every message payload of the device link (docs/protocol.md).
 *
 * Frames (COBS, header, CRC) are td_frame.h's job; this module only turns
 * payload bytes into values and back, so the encoding is testable on its own
 * and the app never does byte arithmetic inline. Encoders write into a caller
 * buffer (TD_ERR_CAPACITY if it is too small) and report the length; decoders
 * check the exact payload length (TD_ERR_ARG on a mismatch, the NACK code the
 * protocol uses for malformed requests). Nothing allocates.
 *
 * Usage (device side):
 *     uint32_t size, crc;
 *     if (td_proto_decode_upload_begin(frame.payload, frame.payload_len, &size, &crc) != TD_OK) { nack(); }
 *     td_proto_encode_ack(out, sizeof out, frame.type, frame.seq, slot, &len);
 *
 * Depends on: tinydrift/td_status.h, td_frame.h (payload limit), td_monitor.h (td_window_result_t).
 */
#ifndef TINYDRIFT_TD_PROTO_H
#define TINYDRIFT_TD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_frame.h"
#include "tinydrift/td_monitor.h"
#include "tinydrift/td_status.h"

/** Link protocol version reported in INFO (2: INFO carries the device uid; otherwise as version 1). */
#define TD_PROTO_VERSION 2u

/** Request: ask for INFO (empty payload). */
#define TD_MSG_INFO_REQ 0x01u
/** Request: start a profile upload (u32 size, u32 crc32). */
#define TD_MSG_UPLOAD_BEGIN 0x02u
/** Request: profile data (u32 offset, 1..256 bytes). */
#define TD_MSG_UPLOAD_CHUNK 0x03u
/** Request: validate and activate the uploaded profile (empty). */
#define TD_MSG_UPLOAD_COMMIT 0x04u
/** Request: drop the upload in progress (empty). */
#define TD_MSG_UPLOAD_ABORT 0x05u
/** Request: int16 frames to feed to the monitor. */
#define TD_MSG_INJECT 0x06u
/** Request: resend ring records (u32 from_seq, u16 max_records). */
#define TD_MSG_FETCH 0x07u
/** Request: clear the latched alarm (empty). */
#define TD_MSG_RESET_ALARM 0x08u
/** Request: start/stop sensor sampling (u16 rate_hz). */
#define TD_MSG_SENSOR 0x09u
/** Request: int8 embeddings to add to the current window (external-embedding profiles). */
#define TD_MSG_INJECT_EMBEDDING 0x0Au
/** Request: int8 class-probability vectors of inferences (profiles with an outputs section). */
#define TD_MSG_INJECT_OUTPUTS 0x0Bu
/** Request: true classes of earlier inferences (1..64 pairs of u32 inference seq, u8 label). */
#define TD_MSG_LABEL 0x0Cu
/** Response: device description (answers INFO_REQ). */
#define TD_MSG_INFO 0x81u
/** Response: request succeeded (u8 type, u8 0, u16 seq, u32 value). */
#define TD_MSG_ACK 0x82u
/** Response: request failed (u8 type, u8 0, u16 seq, i32 td_status). */
#define TD_MSG_NACK 0x83u
/** Device message: one telemetry record. */
#define TD_MSG_TELEMETRY 0x84u
/** Device message: u8 level + ASCII text. */
#define TD_MSG_LOG 0x85u

/** Payload bytes of ACK and NACK. */
#define TD_PROTO_REPLY_SIZE 8u
/** Payload bytes of INFO before the board name (protocol version 2 and later). */
#define TD_PROTO_INFO_FIXED_SIZE 52u
/** Payload bytes of INFO before the board name in protocol version 1 (no device uid). */
#define TD_PROTO_INFO_V1_FIXED_SIZE 44u
/** Payload bytes of UPLOAD_BEGIN. */
#define TD_PROTO_UPLOAD_BEGIN_SIZE 8u
/** Payload bytes of UPLOAD_CHUNK before its data. */
#define TD_PROTO_CHUNK_HEADER_SIZE 4u
/** Most data bytes in one UPLOAD_CHUNK. */
#define TD_PROTO_CHUNK_MAX_DATA 256u
/** Payload bytes of FETCH. */
#define TD_PROTO_FETCH_SIZE 6u
/** Payload bytes of SENSOR. */
#define TD_PROTO_SENSOR_SIZE 2u
/** Most int16 values in one INJECT (320-byte payload). */
#define TD_PROTO_INJECT_MAX_VALUES 160u
/** Most int8 values in one INJECT_EMBEDDING (320-byte payload). */
#define TD_PROTO_EMBEDDING_MAX_VALUES 320u
/** Most int8 values in one INJECT_OUTPUTS (320-byte payload). */
#define TD_PROTO_OUTPUTS_MAX_VALUES 320u
/** Bytes of one LABEL pair (u32 inference seq, u8 label). */
#define TD_PROTO_LABEL_PAIR_SIZE 5u
/** Most pairs in one LABEL (320-byte payload). */
#define TD_PROTO_LABEL_MAX_PAIRS 64u

/** Telemetry record bytes before the per-channel blocks. */
#define TD_TELEMETRY_HEADER_SIZE 52u
/** Telemetry record bytes per channel. */
#define TD_TELEMETRY_CHANNEL_SIZE 16u
/** Telemetry record bytes of the model-outputs block after the channel blocks (record version 2). */
#define TD_TELEMETRY_OUTPUTS_SIZE 24u
/** Size of a version-1 record (no outputs block) for c channels; the decoder still accepts it. */
#define TD_TELEMETRY_V1_SIZE(c) (TD_TELEMETRY_HEADER_SIZE + TD_TELEMETRY_CHANNEL_SIZE * (uint32_t)(c))
/** Telemetry record size (version 2) for c channels. */
#define TD_TELEMETRY_SIZE(c) (TD_TELEMETRY_V1_SIZE(c) + TD_TELEMETRY_OUTPUTS_SIZE)
/** Largest telemetry record this firmware emits. */
#define TD_TELEMETRY_MAX_SIZE TD_TELEMETRY_SIZE(TD_MAX_CHANNELS)
/** Record layout version written at offset 50. */
#define TD_TELEMETRY_VERSION 2u
/** Offset of the flags byte in a record (FETCH sets TD_TELEMETRY_FLAG_REPLAYED in place). */
#define TD_TELEMETRY_FLAGS_OFFSET 49u
/** Record flag: resent by FETCH. */
#define TD_TELEMETRY_FLAG_REPLAYED 0x01u

/** INFO's active-slot value when no profile is active. */
#define TD_PROTO_NO_SLOT 0xFFu

/** LOG level: debug. */
#define TD_LOG_DEBUG 0u
/** LOG level: info. */
#define TD_LOG_INFO 1u
/** LOG level: warning. */
#define TD_LOG_WARNING 2u
/** LOG level: error. */
#define TD_LOG_ERROR 3u

/** Fields of an INFO payload; board_name need not be NUL-terminated (board_name_len bytes). */
typedef struct {
    uint16_t request_seq;       /**< seq of the INFO_REQ answered */
    uint8_t protocol_version;   /**< TD_PROTO_VERSION */
    uint8_t board_id;           /**< TD_BOARD_* */
    uint8_t active_slot;        /**< 0, 1 or TD_PROTO_NO_SLOT */
    uint16_t max_payload;       /**< TD_FRAME_MAX_PAYLOAD */
    uint32_t boot_id;           /**< changes on every boot */
    uint32_t firmware_version;  /**< major << 16 | minor << 8 | patch */
    uint32_t profile_id;        /**< active profile id, 0 if none */
    uint8_t profile_channels;   /**< 0 if none */
    uint8_t max_channels;       /**< TD_MAX_CHANNELS */
    uint16_t profile_window;    /**< 0 if none */
    uint32_t next_seq;          /**< seq the next telemetry record gets */
    uint32_t oldest_seq;        /**< oldest seq in the ring (== next_seq when it is empty) */
    uint16_t ring_capacity;     /**< ring records */
    uint16_t sensor_rate_hz;    /**< 0 when not sampling */
    uint32_t frames_processed;  /**< frames fed to the monitor since boot */
    uint32_t link_errors;       /**< dropped frames since boot (CRC + format + overflow) */
    uint64_t device_uid;        /**< td_hal_device_uid(); 0 when decoding a version-1 INFO */
    const char *board_name;     /**< ASCII, not NUL-terminated on decode */
    uint16_t board_name_len;    /**< bytes of board_name */
} td_proto_info_t;

/** Record-level fields of a telemetry record that do not come from td_window_result_t. */
typedef struct {
    uint32_t seq;        /**< ring sequence number */
    uint32_t boot_id;    /**< td_hal_boot_id() */
    uint32_t profile_id; /**< active profile id */
    uint32_t uptime_ms;  /**< td_hal_time_ms() when the window completed */
    uint8_t n_channels;  /**< profile channels (C) */
    uint8_t flags;       /**< TD_TELEMETRY_FLAG_* */
} td_proto_record_meta_t;

/** One channel block of a decoded telemetry record. */
typedef struct {
    int32_t mean_q8;      /**< window mean, Q8 */
    int32_t std_q8;       /**< window standard deviation, Q8 */
    int16_t z_mean_q8;    /**< z of the mean, Q8 */
    int16_t z_std_q8;     /**< z of the std, Q8 */
    uint16_t n_missing;   /**< missing samples */
    uint16_t n_saturated; /**< saturated samples */
} td_proto_channel_t;

/** A decoded telemetry record. */
typedef struct {
    td_proto_record_meta_t meta; /**< seq, boot id, profile id, uptime, channels, flags */
    uint32_t window_index;       /**< window since the profile became active */
    uint32_t score_q8;           /**< score, Q8 */
    uint32_t dist_q8;            /**< distance, Q8 */
    uint32_t recon_q8;           /**< reconstruction error, Q8 */
    uint32_t cusum_q8;           /**< CUSUM statistic, Q8 */
    uint8_t trigger;             /**< TD_TRIGGER_* bits */
    uint8_t alarm;               /**< latched alarm */
    uint8_t nearest;             /**< nearest centroid */
    uint8_t top_channel;         /**< channel with the largest |z| */
    uint16_t stuck_mask;         /**< stuck channels */
    uint16_t saturated_mask;     /**< saturated channels */
    uint16_t missing_mask;       /**< channels with missing samples */
    uint16_t n_embeddings;       /**< external mode: embeddings in the window */
    uint8_t version;             /**< record version: 2 (TD_TELEMETRY_VERSION), or 1 (outputs fields 0) */
    uint16_t n_inferences;       /**< inferences in the window (outputs profiles) */
    uint8_t top_class;           /**< most frequent predicted class */
    uint8_t ddm_state;           /**< worst DDM verdict of the window's labels */
    uint32_t mean_confidence_q16;    /**< mean top-1 confidence, Q16 */
    uint32_t estimated_accuracy_q16; /**< label-free accuracy estimate, Q16 */
    uint32_t prior_shift_q16;    /**< prediction drift vs the class prior, Q16 */
    uint16_t n_labels;           /**< labels received during the window */
    uint16_t n_correct;          /**< correct predictions among them */
    uint32_t accuracy_q16;       /**< accuracy of all labelled predictions since the profile became active, Q16 */
    td_proto_channel_t channels[TD_MAX_CHANNELS]; /**< meta.n_channels used */
} td_proto_record_t;

/** Encode ACK(request_type, request_seq, value) into out (8 bytes). */
td_status td_proto_encode_ack(uint8_t *out, size_t cap, uint8_t request_type, uint16_t request_seq, uint32_t value,
                              size_t *len) TD_CHECK_RESULT;

/** Encode NACK(request_type, request_seq, error) into out (8 bytes); error is a negative td_status. */
td_status td_proto_encode_nack(uint8_t *out, size_t cap, uint8_t request_type, uint16_t request_seq, td_status error,
                               size_t *len) TD_CHECK_RESULT;

/** Decode an ACK or NACK payload; *value gets the u32 field (a NACK's i32 error cast to u32). */
td_status td_proto_decode_reply(const uint8_t *payload, size_t len, uint8_t *request_type, uint16_t *request_seq,
                                uint32_t *value) TD_CHECK_RESULT;

/** Encode INFO; the board name is cut to what fits in cap and TD_FRAME_MAX_PAYLOAD. */
td_status td_proto_encode_info(uint8_t *out, size_t cap, const td_proto_info_t *info, size_t *len) TD_CHECK_RESULT;

/** Decode INFO; board_name points into payload. */
td_status td_proto_decode_info(const uint8_t *payload, size_t len, td_proto_info_t *info) TD_CHECK_RESULT;

/** Encode a telemetry record (TD_TELEMETRY_SIZE(meta->n_channels) bytes) from a monitor result. */
td_status td_proto_encode_record(uint8_t *out, size_t cap, const td_proto_record_meta_t *meta,
                                 const td_window_result_t *res, size_t *len) TD_CHECK_RESULT;

/** Decode a telemetry record of version 2 (len == TD_TELEMETRY_SIZE(n_channels)) or version 1 (len ==
 *  TD_TELEMETRY_V1_SIZE(n_channels), outputs fields 0); TD_ERR_ARG for any other length or version, TD_ERR_LIMIT for
 *  too many channels. */
td_status td_proto_decode_record(const uint8_t *payload, size_t len, td_proto_record_t *rec) TD_CHECK_RESULT;

/** Encode UPLOAD_BEGIN(size, crc). */
td_status td_proto_encode_upload_begin(uint8_t *out, size_t cap, uint32_t size, uint32_t crc,
                                       size_t *len) TD_CHECK_RESULT;

/** Decode UPLOAD_BEGIN. */
td_status td_proto_decode_upload_begin(const uint8_t *payload, size_t len, uint32_t *size,
                                       uint32_t *crc) TD_CHECK_RESULT;

/** Encode UPLOAD_CHUNK(offset, 1..256 data bytes). */
td_status td_proto_encode_upload_chunk(uint8_t *out, size_t cap, uint32_t offset, const uint8_t *data,
                                       size_t data_len, size_t *len) TD_CHECK_RESULT;

/** Decode UPLOAD_CHUNK; *data points into payload. */
td_status td_proto_decode_upload_chunk(const uint8_t *payload, size_t len, uint32_t *offset, const uint8_t **data,
                                       size_t *data_len) TD_CHECK_RESULT;

/** Encode INJECT from n_values int16 values (1..160). */
td_status td_proto_encode_inject(uint8_t *out, size_t cap, const int16_t *values, size_t n_values,
                                 size_t *len) TD_CHECK_RESULT;

/** Decode INJECT into whole frames of n_channels values; TD_ERR_ARG if empty or not whole frames. */
td_status td_proto_decode_inject(const uint8_t *payload, size_t len, uint8_t n_channels, int16_t *values,
                                 size_t cap_values, uint32_t *n_frames) TD_CHECK_RESULT;

/** Encode INJECT_EMBEDDING from n_values int8 values (1..320). */
td_status td_proto_encode_inject_embedding(uint8_t *out, size_t cap, const int8_t *values, size_t n_values,
                                           size_t *len) TD_CHECK_RESULT;

/** Decode INJECT_EMBEDDING into whole embeddings of n_dims int8 values; TD_ERR_ARG if empty, longer than
 *  TD_PROTO_EMBEDDING_MAX_VALUES or not whole embeddings, TD_ERR_CAPACITY if cap_values is too small. */
td_status td_proto_decode_inject_embedding(const uint8_t *payload, size_t len, uint8_t n_dims, int8_t *values,
                                           size_t cap_values, uint32_t *n_embeddings) TD_CHECK_RESULT;

/** Encode INJECT_OUTPUTS from n_values int8 values (1..320). */
td_status td_proto_encode_inject_outputs(uint8_t *out, size_t cap, const int8_t *values, size_t n_values,
                                         size_t *len) TD_CHECK_RESULT;

/** Decode INJECT_OUTPUTS into whole vectors of n_classes int8 values; TD_ERR_ARG if empty, longer than
 *  TD_PROTO_OUTPUTS_MAX_VALUES or not whole vectors, TD_ERR_CAPACITY if cap_values is too small. */
td_status td_proto_decode_inject_outputs(const uint8_t *payload, size_t len, uint8_t n_classes, int8_t *values,
                                         size_t cap_values, uint32_t *n_vectors) TD_CHECK_RESULT;

/** Encode LABEL from n_pairs (1..64) pairs of inference seq and label. */
td_status td_proto_encode_label(uint8_t *out, size_t cap, const uint32_t *seqs, const uint8_t *labels, size_t n_pairs,
                                size_t *len) TD_CHECK_RESULT;

/** Decode LABEL; TD_ERR_ARG if empty, not whole 5-byte pairs or more than TD_PROTO_LABEL_MAX_PAIRS pairs,
 *  TD_ERR_CAPACITY if cap_pairs is too small. */
td_status td_proto_decode_label(const uint8_t *payload, size_t len, uint32_t *seqs, uint8_t *labels, size_t cap_pairs,
                                uint32_t *n_pairs) TD_CHECK_RESULT;

/** Encode FETCH(from_seq, max_records). */
td_status td_proto_encode_fetch(uint8_t *out, size_t cap, uint32_t from_seq, uint16_t max_records,
                                size_t *len) TD_CHECK_RESULT;

/** Decode FETCH. */
td_status td_proto_decode_fetch(const uint8_t *payload, size_t len, uint32_t *from_seq,
                                uint16_t *max_records) TD_CHECK_RESULT;

/** Encode SENSOR(rate_hz). */
td_status td_proto_encode_sensor(uint8_t *out, size_t cap, uint16_t rate_hz, size_t *len) TD_CHECK_RESULT;

/** Decode SENSOR. */
td_status td_proto_decode_sensor(const uint8_t *payload, size_t len, uint16_t *rate_hz) TD_CHECK_RESULT;

/** Encode LOG(level, text); text is cut to what fits in cap and TD_FRAME_MAX_PAYLOAD. */
td_status td_proto_encode_log(uint8_t *out, size_t cap, uint8_t level, const char *text, size_t *len) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_PROTO_H */
