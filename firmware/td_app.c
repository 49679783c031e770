/* td_app.c - the firmware application: request server of docs/protocol.md, monitor driver, telemetry.
 *
 * One request is handled completely before the next byte is decoded: the host
 * waits for each response, so there is never more than one request in flight.
 * Every request gets exactly one ACK, NACK or INFO whose payload echoes the
 * request's type and seq; the frame header's seq is the device's own counter.
 * Depends on: td_app.h, td_hal.h, td_proto.h, td_ring.h, td_store.h, tinydrift core, <string.h>.
 */
#include "td_app.h"

#include <string.h>

#include "td_hal.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint8_t *profile_buf(td_app_t *app, uint8_t index)
{
    return (uint8_t *)app->profile_words[index];
}

/* Encode and send one frame; a failed write only counts (the record, if any, stays in the ring). */
static void send_frame(td_app_t *app, uint8_t type, const uint8_t *payload, size_t len)
{
    size_t wire_len = 0;
    if (td_frame_encode(type, app->tx_seq, payload, len, app->tx_wire, sizeof app->tx_wire, &wire_len) != TD_OK ||
        td_hal_link_write(app->tx_wire, wire_len) != TD_OK) {
        app->tx_errors++;
    }
    app->tx_seq++;
}

/* Send ACK(value) for TD_OK, else NACK(status), echoing the request; remember it for retries. */
static void reply(td_app_t *app, const td_frame_t *req, td_status status, uint32_t value, uint8_t cacheable)
{
    uint8_t payload[TD_PROTO_REPLY_SIZE];
    size_t len = 0;
    const uint8_t type = status == TD_OK ? (uint8_t)TD_MSG_ACK : (uint8_t)TD_MSG_NACK;
    const td_status st = status == TD_OK ? td_proto_encode_ack(payload, sizeof payload, req->type, req->seq, value, &len)
                                         : td_proto_encode_nack(payload, sizeof payload, req->type, req->seq, status, &len);
    if (st != TD_OK) {
        return; /* cannot happen: the buffer is exactly TD_PROTO_REPLY_SIZE */
    }
    send_frame(app, type, payload, len);
    app->last.valid = cacheable;
    app->last.type = req->type;
    app->last.seq = req->seq;
    app->last.payload_len = req->payload_len;
    app->last.payload_crc = td_crc32_update(0u, req->payload, req->payload_len);
    app->last.reply_type = type;
    memcpy(app->last.reply, payload, sizeof app->last.reply);
}

/* A retry of the last request (same type, seq and payload): resend its reply without executing it again. */
static int replay_if_retry(td_app_t *app, const td_frame_t *req)
{
    const td_app_last_t *last = &app->last;
    if (!last->valid || last->type != req->type || last->seq != req->seq || last->payload_len != req->payload_len ||
        last->payload_crc != td_crc32_update(0u, req->payload, req->payload_len)) {
        return 0;
    }
    send_frame(app, last->reply_type, last->reply, sizeof last->reply);
    return 1;
}

/* Bind the monitor to the blob in profile buffer index (already validated by the store or the upload). */
static td_status activate(td_app_t *app, uint8_t index, uint32_t size)
{
    td_profile_t parsed;
    td_status s = td_profile_parse(&parsed, profile_buf(app, index), size);
    if (s != TD_OK) {
        return s;
    }
    app->profile = parsed;
    app->active_buf = index;
    app->window_fill = 0u;
    app->window_embeddings = 0u;
    app->window_inferences = 0u;
    app->n_classes = 0u;
    td_outputs_config_t outputs;
    if (parsed.outputs != NULL && td_profile_outputs(&parsed, &outputs) == TD_OK) {
        app->n_classes = outputs.n_classes;
    }
    s = td_monitor_init(&app->monitor, &app->profile);
    app->has_profile = s == TD_OK ? 1u : 0u;
    return s;
}

/* ---- telemetry --------------------------------------------------------------------- */

/* Encode the window just completed, keep it in the ring and send it. */
static void emit_record(td_app_t *app)
{
    td_proto_record_meta_t meta;
    meta.seq = td_ring_next_seq(&app->ring);
    meta.boot_id = app->boot_id;
    meta.profile_id = app->profile.profile_id;
    meta.uptime_ms = td_hal_time_ms();
    meta.n_channels = app->profile.n_channels;
    meta.flags = 0u;
    size_t len = 0;
    uint32_t seq = 0;
    if (td_proto_encode_record(app->tx_payload, sizeof app->tx_payload, &meta, &app->result, &len) != TD_OK ||
        td_ring_push(&app->ring, app->tx_payload, (uint16_t)len, &seq) != TD_OK) {
        app->tx_errors++; /* cannot happen with a parsed profile; counted rather than silently lost */
        return;
    }
    send_frame(app, TD_MSG_TELEMETRY, app->tx_payload, len);
}

td_status td_app_push_frames(td_app_t *app, const int16_t *frames, uint32_t n_frames)
{
    if (app == NULL || (frames == NULL && n_frames > 0u)) {
        return TD_ERR_ARG;
    }
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    const uint32_t channels = app->profile.n_channels;
    const uint32_t window = app->profile.window;
    uint32_t done = 0;
    while (done < n_frames) {
        /* Stop at each window boundary so one result buffer suffices, whatever the block size. */
        uint32_t take = window - app->window_fill;
        if (take > n_frames - done) {
            take = n_frames - done;
        }
        uint32_t n_results = 0;
        const td_status s = td_monitor_push(&app->monitor, frames + (size_t)done * channels, take, &app->result, 1u,
                                            &n_results);
        if (s != TD_OK) {
            return s;
        }
        app->window_fill = (app->window_fill + take) % window;
        app->frames_processed += take;
        done += take;
        if (n_results > 0u) {
            app->window_embeddings = 0u; /* the closed window took its embeddings and inferences with it */
            app->window_inferences = 0u;
            emit_record(app);
        }
    }
    return TD_OK;
}

td_status td_app_push_embeddings(td_app_t *app, const int8_t *embeddings, uint32_t n_embeddings)
{
    if (app == NULL || (embeddings == NULL && n_embeddings > 0u)) {
        return TD_ERR_ARG;
    }
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (!(app->profile.flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) {
        return TD_ERR_MODE;
    }
    if (n_embeddings > TD_MAX_EMBEDDINGS_PER_WINDOW - app->window_embeddings) {
        return TD_ERR_CAPACITY; /* checked up front: a rejected batch adds nothing */
    }
    const uint32_t dims = app->profile.n_dims;
    for (uint32_t i = 0; i < n_embeddings; i++) {
        const td_status s = td_monitor_push_embedding(&app->monitor, embeddings + (size_t)i * dims, dims);
        if (s != TD_OK) {
            return s; /* cannot happen: mode, length and capacity are checked above */
        }
        app->window_embeddings++;
    }
    return TD_OK;
}

td_status td_app_push_outputs(td_app_t *app, const int8_t *probs, uint32_t n_vectors, uint32_t *first_seq)
{
    if (app == NULL || (probs == NULL && n_vectors > 0u)) {
        return TD_ERR_ARG;
    }
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (app->n_classes == 0u) {
        return TD_ERR_MODE;
    }
    if (n_vectors > 65535u - app->window_inferences) {
        return TD_ERR_CAPACITY; /* checked up front: a rejected batch adds nothing */
    }
    const uint32_t n_classes = app->n_classes;
    for (uint32_t i = 0; i < n_vectors; i++) {
        uint32_t seq = 0;
        const td_status s = td_monitor_push_outputs(&app->monitor, probs + (size_t)i * n_classes, n_classes, &seq);
        if (s != TD_OK) {
            return s; /* cannot happen: mode, length and capacity are checked above */
        }
        if (i == 0u && first_seq != NULL) {
            *first_seq = seq;
        }
        app->window_inferences++;
    }
    return TD_OK;
}

td_status td_app_push_labels(td_app_t *app, const uint32_t *seqs, const uint8_t *labels, uint32_t n_pairs,
                             uint32_t *n_applied)
{
    if (n_applied != NULL) {
        *n_applied = 0u;
    }
    if (app == NULL || ((seqs == NULL || labels == NULL) && n_pairs > 0u)) {
        return TD_ERR_ARG;
    }
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (app->n_classes == 0u) {
        return TD_ERR_MODE;
    }
    for (uint32_t i = 0; i < n_pairs; i++) {
        const td_status s = td_monitor_push_label(&app->monitor, seqs[i], labels[i]);
        if (s != TD_OK) {
            return s; /* earlier pairs stay applied */
        }
        if (n_applied != NULL) {
            *n_applied = i + 1u;
        }
    }
    return TD_OK;
}

/* ---- requests ------------------------------------------------------------------------ */

static void handle_info(td_app_t *app, const td_frame_t *req)
{
    if (req->payload_len != 0u) {
        reply(app, req, TD_ERR_ARG, 0u, 0u);
        return;
    }
    td_proto_info_t info;
    memset(&info, 0, sizeof info);
    info.request_seq = req->seq;
    info.protocol_version = TD_PROTO_VERSION;
    info.board_id = td_hal_board_id();
    info.active_slot = app->has_profile ? td_store_active_slot(&app->store) : (uint8_t)TD_PROTO_NO_SLOT;
    info.max_payload = TD_FRAME_MAX_PAYLOAD;
    info.boot_id = app->boot_id;
    info.firmware_version = TD_FIRMWARE_VERSION;
    info.profile_id = app->has_profile ? app->profile.profile_id : 0u;
    info.profile_channels = app->has_profile ? app->profile.n_channels : 0u;
    info.max_channels = TD_MAX_CHANNELS;
    info.profile_window = app->has_profile ? app->profile.window : 0u;
    info.next_seq = td_ring_next_seq(&app->ring);
    info.oldest_seq = td_ring_oldest_seq(&app->ring);
    info.ring_capacity = td_ring_capacity();
    info.sensor_rate_hz = app->sensor_rate_hz;
    info.frames_processed = app->frames_processed;
    info.link_errors = app->decoder.n_crc_errors + app->decoder.n_format_errors + app->decoder.n_overflows;
    info.device_uid = td_hal_device_uid();
    info.board_name = td_hal_board_name();
    size_t len = 0;
    if (td_proto_encode_info(app->tx_payload, sizeof app->tx_payload, &info, &len) != TD_OK) {
        reply(app, req, TD_ERR_CAPACITY, 0u, 0u);
        return;
    }
    send_frame(app, TD_MSG_INFO, app->tx_payload, len);
    app->last.valid = 0u; /* INFO is read-only: a retry simply runs again */
}

static td_status do_upload_begin(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    uint32_t size = 0;
    uint32_t crc = 0;
    td_status s = td_proto_decode_upload_begin(req->payload, req->payload_len, &size, &crc);
    if (s != TD_OK) {
        return s;
    }
    app->upload.in_progress = 0u; /* a new BEGIN restarts any upload, also when it fails */
    if (size == 0u || size > (uint32_t)TD_APP_MAX_PROFILE) {
        return TD_ERR_SIZE;
    }
    uint8_t slot = 0;
    s = td_store_begin(&app->store, size, &slot);
    if (s != TD_OK) {
        return s;
    }
    app->upload.in_progress = 1u;
    app->upload.slot = slot;
    app->upload.have_last = 0u;
    app->upload.size = size;
    app->upload.crc = crc;
    app->upload.received = 0u;
    app->upload.last_offset = 0u;
    *value = slot;
    return TD_OK;
}

static td_status do_upload_chunk(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    uint32_t offset = 0;
    const uint8_t *data = NULL;
    size_t len = 0;
    const td_status s = td_proto_decode_upload_chunk(req->payload, req->payload_len, &offset, &data, &len);
    if (s != TD_OK) {
        return s;
    }
    td_app_upload_t *up = &app->upload;
    if (!up->in_progress) {
        return TD_ERR_STATE;
    }
    if (offset == up->received && len <= up->size - up->received) {
        memcpy(profile_buf(app, (uint8_t)(1u - app->active_buf)) + offset, data, len);
        up->last_offset = offset;
        up->have_last = 1u;
        up->received += (uint32_t)len;
    } else if (!(up->have_last && offset == up->last_offset)) {
        return TD_ERR_RANGE; /* neither the next chunk nor a retry of the previous one */
    }
    *value = up->received;
    return TD_OK;
}

static td_status do_upload_commit(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (req->payload_len != 0u) {
        return TD_ERR_ARG;
    }
    td_app_upload_t *up = &app->upload;
    if (!up->in_progress) {
        return TD_ERR_STATE;
    }
    if (up->received != up->size) {
        return TD_ERR_TRUNCATED; /* the upload stays open: the host may still send the missing chunks */
    }
    const uint8_t staging = (uint8_t)(1u - app->active_buf);
    const uint8_t *blob = profile_buf(app, staging);
    up->in_progress = 0u; /* from here on, any failure ends the upload */
    if (td_crc32_update(0u, blob, up->size) != up->crc) {
        return TD_ERR_CRC;
    }
    td_profile_t parsed;
    td_status s = td_profile_parse(&parsed, blob, up->size);
    if (s != TD_OK) {
        return s;
    }
    s = td_store_commit(&app->store, blob, up->size);
    if (s != TD_OK) {
        return s; /* the old header was never touched: the old profile stays active */
    }
    s = activate(app, staging, up->size);
    if (s != TD_OK) {
        return s;
    }
    *value = app->profile.profile_id;
    return TD_OK;
}

static td_status do_inject(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    uint32_t n_frames = 0;
    td_status s = td_proto_decode_inject(req->payload, req->payload_len, app->profile.n_channels, app->io.frames,
                                         TD_PROTO_INJECT_MAX_VALUES, &n_frames);
    if (s != TD_OK) {
        return s;
    }
    s = td_app_push_frames(app, app->io.frames, n_frames);
    if (s != TD_OK) {
        return s;
    }
    *value = n_frames;
    return TD_OK;
}

static td_status do_inject_embedding(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (!(app->profile.flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) {
        return TD_ERR_MODE;
    }
    uint32_t n = 0;
    td_status s = td_proto_decode_inject_embedding(req->payload, req->payload_len, app->profile.n_dims,
                                                   app->io.embeddings, sizeof app->io.embeddings, &n);
    if (s != TD_OK) {
        return s;
    }
    s = td_app_push_embeddings(app, app->io.embeddings, n);
    if (s != TD_OK) {
        return s;
    }
    *value = n;
    return TD_OK;
}

static td_status do_inject_outputs(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (app->n_classes == 0u) {
        return TD_ERR_MODE;
    }
    uint32_t n = 0;
    td_status s = td_proto_decode_inject_outputs(req->payload, req->payload_len, app->n_classes,
                                                 app->io.outputs, sizeof app->io.outputs, &n);
    if (s != TD_OK) {
        return s;
    }
    return td_app_push_outputs(app, app->io.outputs, n, value);
}

static td_status do_label(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    if (app->n_classes == 0u) {
        return TD_ERR_MODE;
    }
    uint32_t n = 0;
    const td_status s = td_proto_decode_label(req->payload, req->payload_len, app->io.label.seqs, app->io.label.labels,
                                              TD_PROTO_LABEL_MAX_PAIRS, &n);
    if (s != TD_OK) {
        return s;
    }
    return td_app_push_labels(app, app->io.label.seqs, app->io.label.labels, n, value);
}

/* Resend records >= from_seq as replayed TELEMETRY; ACK value = the from_seq to continue with. */
static void handle_fetch(td_app_t *app, const td_frame_t *req)
{
    uint32_t from_seq = 0;
    uint16_t max_records = 0;
    const td_status s = td_proto_decode_fetch(req->payload, req->payload_len, &from_seq, &max_records);
    if (s != TD_OK) {
        reply(app, req, s, 0u, 0u);
        return;
    }
    uint32_t seq = td_ring_first_from(&app->ring, from_seq);
    uint32_t sent = 0;
    while (seq != td_ring_next_seq(&app->ring) && sent < max_records) {
        const uint8_t *rec = NULL;
        uint16_t len = 0;
        if (td_ring_get(&app->ring, seq, &rec, &len) != TD_OK) {
            break; /* cannot happen: seq lies between oldest and next */
        }
        memcpy(app->tx_payload, rec, len);
        app->tx_payload[TD_TELEMETRY_FLAGS_OFFSET] |= TD_TELEMETRY_FLAG_REPLAYED;
        send_frame(app, TD_MSG_TELEMETRY, app->tx_payload, len);
        seq++;
        sent++;
    }
    reply(app, req, TD_OK, seq, 0u); /* read-only: a retry runs again */
}

static td_status do_reset_alarm(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    if (req->payload_len != 0u) {
        return TD_ERR_ARG;
    }
    if (!app->has_profile) {
        return TD_ERR_STATE;
    }
    *value = 0u;
    return td_monitor_reset_alarm(&app->monitor);
}

static td_status do_sensor(td_app_t *app, const td_frame_t *req, uint32_t *value)
{
    uint16_t rate = 0;
    td_status s = td_proto_decode_sensor(req->payload, req->payload_len, &rate);
    if (s != TD_OK) {
        return s;
    }
    s = td_app_sensor_start(app, rate);
    if (s == TD_OK) {
        *value = rate;
    }
    return s;
}

td_status td_app_sensor_start(td_app_t *app, uint16_t rate_hz)
{
    if (app == NULL) {
        return TD_ERR_ARG;
    }
    if (rate_hz > 0u && !app->has_profile) {
        return TD_ERR_STATE; /* frames need the profile's channel count */
    }
    const td_status s = td_hal_sensor_start(rate_hz);
    if (s != TD_OK) {
        return s;
    }
    app->sensor_rate_hz = rate_hz;
    return TD_OK;
}

static void handle_request(td_app_t *app, const td_frame_t *req)
{
    if (req->type == TD_MSG_INFO_REQ) {
        handle_info(app, req);
        return;
    }
    if (req->type == TD_MSG_FETCH) {
        handle_fetch(app, req);
        return;
    }
    if (replay_if_retry(app, req)) {
        return;
    }
    uint32_t value = 0;
    td_status s;
    switch (req->type) {
    case TD_MSG_UPLOAD_BEGIN:
        s = do_upload_begin(app, req, &value);
        break;
    case TD_MSG_UPLOAD_CHUNK:
        s = do_upload_chunk(app, req, &value);
        break;
    case TD_MSG_UPLOAD_COMMIT:
        s = do_upload_commit(app, req, &value);
        break;
    case TD_MSG_UPLOAD_ABORT:
        s = req->payload_len == 0u ? TD_OK : TD_ERR_ARG;
        if (s == TD_OK) {
            app->upload.in_progress = 0u;
        }
        break;
    case TD_MSG_INJECT:
        s = do_inject(app, req, &value);
        break;
    case TD_MSG_INJECT_EMBEDDING:
        s = do_inject_embedding(app, req, &value);
        break;
    case TD_MSG_INJECT_OUTPUTS:
        s = do_inject_outputs(app, req, &value);
        break;
    case TD_MSG_LABEL:
        s = do_label(app, req, &value);
        break;
    case TD_MSG_RESET_ALARM:
        s = do_reset_alarm(app, req, &value);
        break;
    case TD_MSG_SENSOR:
        s = do_sensor(app, req, &value);
        break;
    default:
        reply(app, req, TD_ERR_ARG, 0u, 0u); /* unknown type: nothing executed, nothing to cache */
        return;
    }
    reply(app, req, s, value, 1u);
}

/* ---- public entry points -------------------------------------------------------------- */

td_status td_app_init(td_app_t *app)
{
    if (app == NULL) {
        return TD_ERR_ARG;
    }
    memset(app, 0, sizeof *app);
    app->boot_id = td_hal_boot_id();
    td_status s = td_frame_decoder_init(&app->decoder);
    if (s == TD_OK) {
        s = td_ring_init(&app->ring);
    }
    uint32_t size = 0;
    if (s == TD_OK) {
        s = td_store_init(&app->store, profile_buf(app, 0u), (uint32_t)TD_APP_MAX_PROFILE, &size);
    }
    if (s == TD_OK && size > 0u) {
        s = activate(app, 0u, size);
    }
    return s;
}

td_status td_app_poll(td_app_t *app)
{
    if (app == NULL) {
        return TD_ERR_ARG;
    }
    uint32_t budget = TD_APP_RX_BUDGET;
    while (budget > 0u) {
        size_t n = td_hal_link_read(app->rx, sizeof app->rx);
        if (n == 0u) {
            break;
        }
        if (n > sizeof app->rx) {
            n = sizeof app->rx; /* a HAL bug must not become a buffer overrun */
        }
        budget = n >= budget ? 0u : budget - (uint32_t)n;
        size_t pos = 0;
        while (pos < n) {
            size_t used = 0;
            const td_status s = td_frame_decoder_feed(&app->decoder, app->rx + pos, n - pos, &used, &app->request);
            pos += used;
            if (s == TD_OK) {
                handle_request(app, &app->request);
            } else if (s != TD_ERR_TRUNCATED) {
                return s; /* only TD_ERR_ARG, impossible with these arguments */
            }
        }
    }
    if (app->sensor_rate_hz > 0u && app->has_profile) {
        const uint8_t channels = app->profile.n_channels;
        const uint32_t max_frames = TD_PROTO_INJECT_MAX_VALUES / channels;
        uint32_t n_frames = 0;
        while (n_frames < max_frames && td_hal_sensor_read(app->io.frames + (size_t)n_frames * channels, channels)) {
            n_frames++;
        }
        if (n_frames > 0u) {
            return td_app_push_frames(app, app->io.frames, n_frames);
        }
    }
    return TD_OK;
}

td_status td_app_link_reset(td_app_t *app)
{
    if (app == NULL) {
        return TD_ERR_ARG;
    }
    /* A partial frame cut off by a disconnect is not a line error: keep the counters, drop the rest. */
    const uint32_t n_frames = app->decoder.n_frames;
    const uint32_t n_crc = app->decoder.n_crc_errors;
    const uint32_t n_format = app->decoder.n_format_errors;
    const uint32_t n_overflows = app->decoder.n_overflows;
    const td_status s = td_frame_decoder_init(&app->decoder);
    app->decoder.n_frames = n_frames;
    app->decoder.n_crc_errors = n_crc;
    app->decoder.n_format_errors = n_format;
    app->decoder.n_overflows = n_overflows;
    app->last.valid = 0u; /* a new host session restarts its seq numbers */
    return s;
}

td_status td_app_log(td_app_t *app, uint8_t level, const char *text)
{
    if (app == NULL) {
        return TD_ERR_ARG;
    }
    size_t len = 0;
    const td_status s = td_proto_encode_log(app->tx_payload, sizeof app->tx_payload, level, text, &len);
    if (s != TD_OK) {
        return s;
    }
    send_frame(app, TD_MSG_LOG, app->tx_payload, len);
    return TD_OK;
}
