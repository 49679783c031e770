/* td_proto.c - little-endian payload codec of the device link (docs/protocol.md).
 *
 * Byte-by-byte stores and loads: independent of host endianness and alignment
 * (payloads sit at odd offsets inside frame buffers).
 * Depends on: td_proto.h, <string.h>.
 */
#include "td_proto.h"
#include "td_le.h"

#include <string.h>

/* Signed to unsigned is modular in C (well defined); the reverse direction is spelled out below. */
static uint32_t from_i32(int32_t v)
{
    return (uint32_t)v;
}

static uint16_t from_i16(int16_t v)
{
    return (uint16_t)v;
}

/* Unsigned to signed without the implementation-defined conversion of out-of-range values. */
static int32_t to_i32(uint32_t v)
{
    return v >= 0x80000000u ? -(int32_t)(v ^ 0xFFFFFFFFu) - 1 : (int32_t)v;
}

static int16_t to_i16(uint16_t v)
{
    return v >= 0x8000u ? (int16_t)(-(int32_t)(v ^ 0xFFFFu) - 1) : (int16_t)v;
}

static int8_t to_i8(uint8_t v)
{
    return v >= 0x80u ? (int8_t)(-(int32_t)(v ^ 0xFFu) - 1) : (int8_t)v;
}

/* Common prologue of the fixed-size encoders: output present and large enough. */
static td_status out_ok(const uint8_t *out, size_t cap, const size_t *len, size_t need)
{
    if (out == NULL || len == NULL) {
        return TD_ERR_ARG;
    }
    return cap < need ? TD_ERR_CAPACITY : TD_OK;
}

/* ---- ACK / NACK -------------------------------------------------------------- */

static td_status encode_reply(uint8_t *out, size_t cap, uint8_t type, uint16_t seq, uint32_t value, size_t *len)
{
    const td_status st = out_ok(out, cap, len, TD_PROTO_REPLY_SIZE);
    if (st != TD_OK) {
        return st;
    }
    out[0] = type;
    out[1] = 0u;
    td_le_put_u16(out + 2, seq);
    td_le_put_u32(out + 4, value);
    *len = TD_PROTO_REPLY_SIZE;
    return TD_OK;
}

td_status td_proto_encode_ack(uint8_t *out, size_t cap, uint8_t request_type, uint16_t request_seq, uint32_t value,
                              size_t *len)
{
    return encode_reply(out, cap, request_type, request_seq, value, len);
}

td_status td_proto_encode_nack(uint8_t *out, size_t cap, uint8_t request_type, uint16_t request_seq, td_status error,
                               size_t *len)
{
    if (error >= TD_OK) {
        return TD_ERR_ARG; /* a NACK always carries a failure code */
    }
    return encode_reply(out, cap, request_type, request_seq, from_i32((int32_t)error), len);
}

td_status td_proto_decode_reply(const uint8_t *payload, size_t len, uint8_t *request_type, uint16_t *request_seq,
                                uint32_t *value)
{
    if (payload == NULL || request_type == NULL || request_seq == NULL || value == NULL ||
        len != TD_PROTO_REPLY_SIZE) {
        return TD_ERR_ARG;
    }
    *request_type = payload[0];
    *request_seq = td_le_get_u16(payload + 2);
    *value = td_le_get_u32(payload + 4);
    return TD_OK;
}

/* ---- INFO ----------------------------------------------------------------------- */

td_status td_proto_encode_info(uint8_t *out, size_t cap, const td_proto_info_t *info, size_t *len)
{
    if (info == NULL) {
        return TD_ERR_ARG;
    }
    /* Version 1 had no device uid: its board name starts at 44 (decoders pick the layout by version). */
    const size_t fixed = info->protocol_version >= 2u ? TD_PROTO_INFO_FIXED_SIZE : TD_PROTO_INFO_V1_FIXED_SIZE;
    const td_status st = out_ok(out, cap, len, fixed);
    if (st != TD_OK) {
        return st;
    }
    out[0] = TD_MSG_INFO_REQ;
    out[1] = info->protocol_version;
    td_le_put_u16(out + 2, info->request_seq);
    out[4] = info->board_id;
    out[5] = info->active_slot;
    td_le_put_u16(out + 6, info->max_payload);
    td_le_put_u32(out + 8, info->boot_id);
    td_le_put_u32(out + 12, info->firmware_version);
    td_le_put_u32(out + 16, info->profile_id);
    out[20] = info->profile_channels;
    out[21] = info->max_channels;
    td_le_put_u16(out + 22, info->profile_window);
    td_le_put_u32(out + 24, info->next_seq);
    td_le_put_u32(out + 28, info->oldest_seq);
    td_le_put_u16(out + 32, info->ring_capacity);
    td_le_put_u16(out + 34, info->sensor_rate_hz);
    td_le_put_u32(out + 36, info->frames_processed);
    td_le_put_u32(out + 40, info->link_errors);
    if (fixed == TD_PROTO_INFO_FIXED_SIZE) {
        td_le_put_u32(out + 44, (uint32_t)info->device_uid);
        td_le_put_u32(out + 48, (uint32_t)(info->device_uid >> 32));
    }
    size_t room = (cap < TD_FRAME_MAX_PAYLOAD ? cap : TD_FRAME_MAX_PAYLOAD) - fixed;
    size_t n = 0;
    if (info->board_name != NULL) {
        /* The name ends at its NUL, at board_name_len (if set), or where the payload is full. */
        while (n < room && info->board_name[n] != '\0' && (info->board_name_len == 0u || n < info->board_name_len)) {
            out[fixed + n] = (uint8_t)info->board_name[n];
            n++;
        }
    }
    *len = fixed + n;
    return TD_OK;
}

td_status td_proto_decode_info(const uint8_t *payload, size_t len, td_proto_info_t *info)
{
    if (payload == NULL || info == NULL || len < TD_PROTO_INFO_V1_FIXED_SIZE || len > TD_FRAME_MAX_PAYLOAD ||
        payload[0] != TD_MSG_INFO_REQ) {
        return TD_ERR_ARG;
    }
    const size_t fixed = payload[1] >= 2u ? TD_PROTO_INFO_FIXED_SIZE : TD_PROTO_INFO_V1_FIXED_SIZE;
    if (len < fixed) {
        return TD_ERR_ARG;
    }
    info->protocol_version = payload[1];
    info->request_seq = td_le_get_u16(payload + 2);
    info->board_id = payload[4];
    info->active_slot = payload[5];
    info->max_payload = td_le_get_u16(payload + 6);
    info->boot_id = td_le_get_u32(payload + 8);
    info->firmware_version = td_le_get_u32(payload + 12);
    info->profile_id = td_le_get_u32(payload + 16);
    info->profile_channels = payload[20];
    info->max_channels = payload[21];
    info->profile_window = td_le_get_u16(payload + 22);
    info->next_seq = td_le_get_u32(payload + 24);
    info->oldest_seq = td_le_get_u32(payload + 28);
    info->ring_capacity = td_le_get_u16(payload + 32);
    info->sensor_rate_hz = td_le_get_u16(payload + 34);
    info->frames_processed = td_le_get_u32(payload + 36);
    info->link_errors = td_le_get_u32(payload + 40);
    info->device_uid = fixed == TD_PROTO_INFO_FIXED_SIZE
                           ? (uint64_t)td_le_get_u32(payload + 44) | (uint64_t)td_le_get_u32(payload + 48) << 32
                           : 0u;
    info->board_name = (const char *)(payload + fixed);
    info->board_name_len = (uint16_t)(len - fixed);
    return TD_OK;
}

/* ---- TELEMETRY ---------------------------------------------------------------------- */

td_status td_proto_encode_record(uint8_t *out, size_t cap, const td_proto_record_meta_t *meta,
                                 const td_window_result_t *res, size_t *len)
{
    if (out == NULL || len == NULL || meta == NULL || res == NULL) {
        return TD_ERR_ARG;
    }
    if (meta->n_channels == 0u || meta->n_channels > TD_MAX_CHANNELS) {
        return TD_ERR_LIMIT;
    }
    const size_t size = TD_TELEMETRY_SIZE(meta->n_channels);
    if (cap < size) {
        return TD_ERR_CAPACITY;
    }
    td_le_put_u32(out + 0, meta->seq);
    td_le_put_u32(out + 4, meta->boot_id);
    td_le_put_u32(out + 8, meta->profile_id);
    td_le_put_u32(out + 12, res->window_index);
    td_le_put_u32(out + 16, meta->uptime_ms);
    td_le_put_u32(out + 20, res->score_q8);
    td_le_put_u32(out + 24, res->dist_q8);
    td_le_put_u32(out + 28, res->recon_q8);
    td_le_put_u32(out + 32, res->cusum_q8);
    out[36] = res->trigger;
    out[37] = res->alarm;
    out[38] = res->nearest;
    out[39] = res->top_channel;
    td_le_put_u16(out + 40, res->stuck_mask);
    td_le_put_u16(out + 42, res->saturated_mask);
    td_le_put_u16(out + 44, res->missing_mask);
    td_le_put_u16(out + 46, res->n_embeddings);
    out[48] = meta->n_channels;
    out[49] = meta->flags;
    out[50] = TD_TELEMETRY_VERSION;
    out[51] = 0u;
    for (uint32_t c = 0; c < meta->n_channels; c++) {
        const td_channel_result_t *ch = &res->channels[c];
        uint8_t *p = out + TD_TELEMETRY_HEADER_SIZE + TD_TELEMETRY_CHANNEL_SIZE * c;
        td_le_put_u32(p + 0, from_i32(ch->mean_q8));
        td_le_put_u32(p + 4, from_i32(ch->std_q8));
        td_le_put_u16(p + 8, from_i16(ch->z_mean_q8));
        td_le_put_u16(p + 10, from_i16(ch->z_std_q8));
        td_le_put_u16(p + 12, ch->n_missing);
        td_le_put_u16(p + 14, ch->n_saturated);
    }
    uint8_t *o = out + TD_TELEMETRY_V1_SIZE(meta->n_channels);
    td_le_put_u16(o + 0, res->n_inferences);
    o[2] = res->top_class;
    o[3] = res->ddm_state;
    td_le_put_u32(o + 4, res->mean_confidence_q16);
    td_le_put_u32(o + 8, res->estimated_accuracy_q16);
    td_le_put_u32(o + 12, res->prior_shift_q16);
    td_le_put_u16(o + 16, res->n_labels);
    td_le_put_u16(o + 18, res->n_correct);
    td_le_put_u32(o + 20, res->accuracy_q16);
    *len = size;
    return TD_OK;
}

td_status td_proto_decode_record(const uint8_t *payload, size_t len, td_proto_record_t *rec)
{
    if (payload == NULL || rec == NULL || len < TD_TELEMETRY_HEADER_SIZE) {
        return TD_ERR_ARG;
    }
    const uint8_t n_channels = payload[48];
    if (n_channels == 0u || n_channels > TD_MAX_CHANNELS) {
        return TD_ERR_LIMIT;
    }
    const uint8_t version = payload[50];
    if (!(version == TD_TELEMETRY_VERSION && len == TD_TELEMETRY_SIZE(n_channels)) &&
        !(version == 1u && len == TD_TELEMETRY_V1_SIZE(n_channels))) {
        return TD_ERR_ARG;
    }
    memset(rec, 0, sizeof *rec);
    rec->meta.seq = td_le_get_u32(payload + 0);
    rec->meta.boot_id = td_le_get_u32(payload + 4);
    rec->meta.profile_id = td_le_get_u32(payload + 8);
    rec->window_index = td_le_get_u32(payload + 12);
    rec->meta.uptime_ms = td_le_get_u32(payload + 16);
    rec->score_q8 = td_le_get_u32(payload + 20);
    rec->dist_q8 = td_le_get_u32(payload + 24);
    rec->recon_q8 = td_le_get_u32(payload + 28);
    rec->cusum_q8 = td_le_get_u32(payload + 32);
    rec->trigger = payload[36];
    rec->alarm = payload[37];
    rec->nearest = payload[38];
    rec->top_channel = payload[39];
    rec->stuck_mask = td_le_get_u16(payload + 40);
    rec->saturated_mask = td_le_get_u16(payload + 42);
    rec->missing_mask = td_le_get_u16(payload + 44);
    rec->n_embeddings = td_le_get_u16(payload + 46);
    rec->meta.n_channels = n_channels;
    rec->meta.flags = payload[49];
    rec->version = version;
    for (uint32_t c = 0; c < n_channels; c++) {
        const uint8_t *p = payload + TD_TELEMETRY_HEADER_SIZE + TD_TELEMETRY_CHANNEL_SIZE * c;
        td_proto_channel_t *ch = &rec->channels[c];
        ch->mean_q8 = to_i32(td_le_get_u32(p + 0));
        ch->std_q8 = to_i32(td_le_get_u32(p + 4));
        ch->z_mean_q8 = to_i16(td_le_get_u16(p + 8));
        ch->z_std_q8 = to_i16(td_le_get_u16(p + 10));
        ch->n_missing = td_le_get_u16(p + 12);
        ch->n_saturated = td_le_get_u16(p + 14);
    }
    if (version >= 2u) {
        const uint8_t *o = payload + TD_TELEMETRY_V1_SIZE(n_channels);
        rec->n_inferences = td_le_get_u16(o + 0);
        rec->top_class = o[2];
        rec->ddm_state = o[3];
        rec->mean_confidence_q16 = td_le_get_u32(o + 4);
        rec->estimated_accuracy_q16 = td_le_get_u32(o + 8);
        rec->prior_shift_q16 = td_le_get_u32(o + 12);
        rec->n_labels = td_le_get_u16(o + 16);
        rec->n_correct = td_le_get_u16(o + 18);
        rec->accuracy_q16 = td_le_get_u32(o + 20);
    }
    return TD_OK;
}

/* ---- requests --------------------------------------------------------------------------- */

td_status td_proto_encode_upload_begin(uint8_t *out, size_t cap, uint32_t size, uint32_t crc, size_t *len)
{
    const td_status st = out_ok(out, cap, len, TD_PROTO_UPLOAD_BEGIN_SIZE);
    if (st != TD_OK) {
        return st;
    }
    td_le_put_u32(out, size);
    td_le_put_u32(out + 4, crc);
    *len = TD_PROTO_UPLOAD_BEGIN_SIZE;
    return TD_OK;
}

td_status td_proto_decode_upload_begin(const uint8_t *payload, size_t len, uint32_t *size, uint32_t *crc)
{
    if (payload == NULL || size == NULL || crc == NULL || len != TD_PROTO_UPLOAD_BEGIN_SIZE) {
        return TD_ERR_ARG;
    }
    *size = td_le_get_u32(payload);
    *crc = td_le_get_u32(payload + 4);
    return TD_OK;
}

td_status td_proto_encode_upload_chunk(uint8_t *out, size_t cap, uint32_t offset, const uint8_t *data,
                                       size_t data_len, size_t *len)
{
    if (data == NULL || data_len == 0u || data_len > TD_PROTO_CHUNK_MAX_DATA) {
        return TD_ERR_ARG;
    }
    const td_status st = out_ok(out, cap, len, TD_PROTO_CHUNK_HEADER_SIZE + data_len);
    if (st != TD_OK) {
        return st;
    }
    td_le_put_u32(out, offset);
    memcpy(out + TD_PROTO_CHUNK_HEADER_SIZE, data, data_len);
    *len = TD_PROTO_CHUNK_HEADER_SIZE + data_len;
    return TD_OK;
}

td_status td_proto_decode_upload_chunk(const uint8_t *payload, size_t len, uint32_t *offset, const uint8_t **data,
                                       size_t *data_len)
{
    if (payload == NULL || offset == NULL || data == NULL || data_len == NULL ||
        len <= TD_PROTO_CHUNK_HEADER_SIZE || len > TD_PROTO_CHUNK_HEADER_SIZE + TD_PROTO_CHUNK_MAX_DATA) {
        return TD_ERR_ARG;
    }
    *offset = td_le_get_u32(payload);
    *data = payload + TD_PROTO_CHUNK_HEADER_SIZE;
    *data_len = len - TD_PROTO_CHUNK_HEADER_SIZE;
    return TD_OK;
}

td_status td_proto_encode_inject(uint8_t *out, size_t cap, const int16_t *values, size_t n_values, size_t *len)
{
    if (values == NULL || n_values == 0u || n_values > TD_PROTO_INJECT_MAX_VALUES) {
        return TD_ERR_ARG;
    }
    const td_status st = out_ok(out, cap, len, 2u * n_values);
    if (st != TD_OK) {
        return st;
    }
    for (size_t i = 0; i < n_values; i++) {
        td_le_put_u16(out + 2u * i, from_i16(values[i]));
    }
    *len = 2u * n_values;
    return TD_OK;
}

td_status td_proto_decode_inject(const uint8_t *payload, size_t len, uint8_t n_channels, int16_t *values,
                                 size_t cap_values, uint32_t *n_frames)
{
    if (payload == NULL || values == NULL || n_frames == NULL || n_channels == 0u || len == 0u ||
        len % (2u * (size_t)n_channels) != 0u) {
        return TD_ERR_ARG;
    }
    const size_t n_values = len / 2u;
    if (n_values > cap_values) {
        return TD_ERR_CAPACITY;
    }
    for (size_t i = 0; i < n_values; i++) {
        values[i] = to_i16(td_le_get_u16(payload + 2u * i));
    }
    *n_frames = (uint32_t)(n_values / n_channels);
    return TD_OK;
}

td_status td_proto_encode_inject_embedding(uint8_t *out, size_t cap, const int8_t *values, size_t n_values,
                                           size_t *len)
{
    if (values == NULL || n_values == 0u || n_values > TD_PROTO_EMBEDDING_MAX_VALUES) {
        return TD_ERR_ARG;
    }
    const td_status st = out_ok(out, cap, len, n_values);
    if (st != TD_OK) {
        return st;
    }
    for (size_t i = 0; i < n_values; i++) {
        out[i] = (uint8_t)values[i]; /* modular: two's complement byte */
    }
    *len = n_values;
    return TD_OK;
}

td_status td_proto_decode_inject_embedding(const uint8_t *payload, size_t len, uint8_t n_dims, int8_t *values,
                                           size_t cap_values, uint32_t *n_embeddings)
{
    if (payload == NULL || values == NULL || n_embeddings == NULL || n_dims == 0u || len == 0u ||
        len > TD_PROTO_EMBEDDING_MAX_VALUES || len % n_dims != 0u) {
        return TD_ERR_ARG;
    }
    if (len > cap_values) {
        return TD_ERR_CAPACITY;
    }
    for (size_t i = 0; i < len; i++) {
        values[i] = to_i8(payload[i]);
    }
    *n_embeddings = (uint32_t)(len / n_dims);
    return TD_OK;
}

td_status td_proto_encode_inject_outputs(uint8_t *out, size_t cap, const int8_t *values, size_t n_values,
                                         size_t *len)
{
    /* The same int8 byte layout as INJECT_EMBEDDING, with its own limit. */
    if (n_values > TD_PROTO_OUTPUTS_MAX_VALUES) {
        return TD_ERR_ARG;
    }
    return td_proto_encode_inject_embedding(out, cap, values, n_values, len);
}

td_status td_proto_decode_inject_outputs(const uint8_t *payload, size_t len, uint8_t n_classes, int8_t *values,
                                         size_t cap_values, uint32_t *n_vectors)
{
    if (len > TD_PROTO_OUTPUTS_MAX_VALUES) {
        return TD_ERR_ARG;
    }
    return td_proto_decode_inject_embedding(payload, len, n_classes, values, cap_values, n_vectors);
}

td_status td_proto_encode_label(uint8_t *out, size_t cap, const uint32_t *seqs, const uint8_t *labels, size_t n_pairs,
                                size_t *len)
{
    if (seqs == NULL || labels == NULL || n_pairs == 0u || n_pairs > TD_PROTO_LABEL_MAX_PAIRS) {
        return TD_ERR_ARG;
    }
    const td_status st = out_ok(out, cap, len, TD_PROTO_LABEL_PAIR_SIZE * n_pairs);
    if (st != TD_OK) {
        return st;
    }
    for (size_t i = 0; i < n_pairs; i++) {
        td_le_put_u32(out + TD_PROTO_LABEL_PAIR_SIZE * i, seqs[i]);
        out[TD_PROTO_LABEL_PAIR_SIZE * i + 4u] = labels[i];
    }
    *len = TD_PROTO_LABEL_PAIR_SIZE * n_pairs;
    return TD_OK;
}

td_status td_proto_decode_label(const uint8_t *payload, size_t len, uint32_t *seqs, uint8_t *labels, size_t cap_pairs,
                                uint32_t *n_pairs)
{
    if (payload == NULL || seqs == NULL || labels == NULL || n_pairs == NULL || len == 0u ||
        len % TD_PROTO_LABEL_PAIR_SIZE != 0u || len > TD_PROTO_LABEL_PAIR_SIZE * TD_PROTO_LABEL_MAX_PAIRS) {
        return TD_ERR_ARG;
    }
    const size_t n = len / TD_PROTO_LABEL_PAIR_SIZE;
    if (n > cap_pairs) {
        return TD_ERR_CAPACITY;
    }
    for (size_t i = 0; i < n; i++) {
        seqs[i] = td_le_get_u32(payload + TD_PROTO_LABEL_PAIR_SIZE * i);
        labels[i] = payload[TD_PROTO_LABEL_PAIR_SIZE * i + 4u];
    }
    *n_pairs = (uint32_t)n;
    return TD_OK;
}

td_status td_proto_encode_fetch(uint8_t *out, size_t cap, uint32_t from_seq, uint16_t max_records, size_t *len)
{
    const td_status st = out_ok(out, cap, len, TD_PROTO_FETCH_SIZE);
    if (st != TD_OK) {
        return st;
    }
    td_le_put_u32(out, from_seq);
    td_le_put_u16(out + 4, max_records);
    *len = TD_PROTO_FETCH_SIZE;
    return TD_OK;
}

td_status td_proto_decode_fetch(const uint8_t *payload, size_t len, uint32_t *from_seq, uint16_t *max_records)
{
    if (payload == NULL || from_seq == NULL || max_records == NULL || len != TD_PROTO_FETCH_SIZE) {
        return TD_ERR_ARG;
    }
    *from_seq = td_le_get_u32(payload);
    *max_records = td_le_get_u16(payload + 4);
    return TD_OK;
}

td_status td_proto_encode_sensor(uint8_t *out, size_t cap, uint16_t rate_hz, size_t *len)
{
    const td_status st = out_ok(out, cap, len, TD_PROTO_SENSOR_SIZE);
    if (st != TD_OK) {
        return st;
    }
    td_le_put_u16(out, rate_hz);
    *len = TD_PROTO_SENSOR_SIZE;
    return TD_OK;
}

td_status td_proto_decode_sensor(const uint8_t *payload, size_t len, uint16_t *rate_hz)
{
    if (payload == NULL || rate_hz == NULL || len != TD_PROTO_SENSOR_SIZE) {
        return TD_ERR_ARG;
    }
    *rate_hz = td_le_get_u16(payload);
    return TD_OK;
}

td_status td_proto_encode_log(uint8_t *out, size_t cap, uint8_t level, const char *text, size_t *len)
{
    const td_status st = out_ok(out, cap, len, 1u);
    if (st != TD_OK) {
        return st;
    }
    if (text == NULL || level > TD_LOG_ERROR) {
        return TD_ERR_ARG;
    }
    const size_t room = (cap < TD_FRAME_MAX_PAYLOAD ? cap : TD_FRAME_MAX_PAYLOAD) - 1u;
    size_t n = 0;
    out[0] = level;
    while (n < room && text[n] != '\0') {
        out[1u + n] = (uint8_t)text[n];
        n++;
    }
    *len = 1u + n;
    return TD_OK;
}
