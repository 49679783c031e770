/* td_app.h - the board-independent firmware application: link server, profile store, telemetry ring.
 *
 * A board's main() is:
 *     static td_app_t app;
 *     if (td_hal_init() != TD_OK || td_app_init(&app) != TD_OK) { halt(); }
 *     for (;;) { (void)td_app_poll(&app); td_hal_idle(); }
 * td_app_poll never blocks (beyond td_hal_link_write queuing replies): it drains
 * received link bytes, answers requests (docs/protocol.md), feeds sensor frames
 * to the monitor and sends telemetry. A board whose application computes its own
 * embeddings (external-embedding profiles) passes them to td_app_push_embeddings;
 * one whose model's outputs are monitored (outputs profiles) passes each inference's
 * class probabilities to td_app_push_outputs and ground truth to td_app_push_labels.
 * All state lives in td_app_t, a complete type so boards can place it in static
 * storage (no malloc anywhere).
 *
 * The active profile is copied from its flash slot into one of two RAM buffers
 * (portable: the HAL has no memory-mapped view of storage); the other buffer
 * receives uploads, so a failed upload never disturbs the running monitor.
 *
 * Depends on: td_hal.h (at link time), td_app_config.h, td_proto.h, td_ring.h, td_store.h,
 *             tinydrift core headers (td_monitor.h, td_profile.h, td_frame.h).
 */
#ifndef TINYDRIFT_TD_APP_H
#define TINYDRIFT_TD_APP_H

#include <stdint.h>

#include "td_app_config.h"
#include "td_proto.h"
#include "td_ring.h"
#include "td_store.h"
#include "tinydrift/td_frame.h"
#include "tinydrift/tinydrift.h"

/** Firmware version reported in INFO: major << 16 | minor << 8 | patch. */
#define TD_FIRMWARE_VERSION 0x000100u

/** 32-bit words of one RAM profile buffer (words keep the blob 4-byte aligned for flash writes). */
#define TD_APP_PROFILE_WORDS ((TD_APP_MAX_PROFILE + 3) / 4)

/** Bytes read from the link per td_hal_link_read call. */
#define TD_APP_RX_CHUNK 64

/** Most link bytes one td_app_poll consumes, so sensor frames are not starved by a busy link. */
#define TD_APP_RX_BUDGET 1024u

/** Upload in progress (private). */
typedef struct {
    uint8_t in_progress;  /**< 1 between a successful UPLOAD_BEGIN and COMMIT/ABORT/failure */
    uint8_t slot;         /**< storage slot being filled */
    uint8_t have_last;    /**< 1 once a chunk was accepted (last_offset valid) */
    uint32_t size;        /**< announced blob size */
    uint32_t crc;         /**< announced blob CRC-32 */
    uint32_t received;    /**< bytes received in order */
    uint32_t last_offset; /**< offset of the last accepted chunk (a repeat is a retry) */
} td_app_upload_t;

/** The last executed request and its reply, so a retried request is answered without running twice (private). */
typedef struct {
    uint8_t valid;        /**< 1 if the fields below describe a cacheable request */
    uint8_t type;         /**< request type */
    uint16_t seq;         /**< request seq */
    uint16_t payload_len; /**< request payload length */
    uint8_t reply_type;   /**< TD_MSG_ACK or TD_MSG_NACK */
    uint32_t payload_crc; /**< CRC-32 of the request payload */
    uint8_t reply[TD_PROTO_REPLY_SIZE]; /**< the reply payload sent, resent verbatim on a retry */
} td_app_last_t;

/** Application state; fields are private to td_app.c (the struct is complete only so it can be static). */
struct td_app {
    td_monitor_t monitor;                 /**< the drift monitor bound to profile */
    td_profile_t profile;                 /**< parsed view of the active RAM profile buffer */
    td_store_t store;                     /**< A/B profile slots in storage */
    td_ring_t ring;                       /**< recent telemetry records for FETCH */
    td_frame_decoder_t decoder;           /**< streaming link decoder */
    td_frame_t request;                   /**< the request being handled */
    td_window_result_t result;            /**< the window just completed */
    uint32_t profile_words[2][TD_APP_PROFILE_WORDS]; /**< [active_buf] holds the active blob, the other stages uploads */
    td_app_upload_t upload;               /**< upload state */
    td_app_last_t last;                   /**< retry cache */
    uint32_t boot_id;                     /**< td_hal_boot_id() at init */
    uint32_t window_fill;                 /**< frames in the monitor's current window */
    uint32_t window_embeddings;           /**< external mode: embeddings in the monitor's current window */
    uint32_t window_inferences;           /**< outputs profiles: inferences in the monitor's current window */
    uint32_t frames_processed;            /**< frames fed to the monitor since boot */
    uint32_t tx_errors;                   /**< td_hal_link_write failures (frames lost; records stay in the ring) */
    uint16_t tx_seq;                      /**< seq of the next frame the device sends */
    uint16_t sensor_rate_hz;              /**< current sampling rate, 0 = off */
    uint8_t active_buf;                   /**< index into profile_words of the active blob */
    uint8_t has_profile;                  /**< 1 when profile and monitor are valid */
    uint8_t n_classes;                    /**< classes of the profile's outputs section, 0 without one */
    union {
        int16_t frames[TD_PROTO_INJECT_MAX_VALUES];       /**< decoded INJECT or sensor frames */
        int8_t embeddings[TD_PROTO_EMBEDDING_MAX_VALUES]; /**< decoded INJECT_EMBEDDING */
        int8_t outputs[TD_PROTO_OUTPUTS_MAX_VALUES];      /**< decoded INJECT_OUTPUTS */
        struct {
            uint32_t seqs[TD_PROTO_LABEL_MAX_PAIRS];      /**< inference numbers */
            uint8_t labels[TD_PROTO_LABEL_MAX_PAIRS];     /**< their true classes */
        } label;                                          /**< decoded LABEL */
    } io;                                 /**< one decode buffer: a request is handled completely before the next */
    uint8_t rx[TD_APP_RX_CHUNK];          /**< raw link bytes */
    uint8_t tx_payload[TD_FRAME_MAX_PAYLOAD]; /**< payload being sent */
    uint8_t tx_wire[TD_FRAME_MAX_WIRE];   /**< encoded frame being sent */
};

/** Application state: declare one with static storage duration. */
typedef struct td_app td_app_t;

/** Load the active profile from storage (if any), reset the monitor and telemetry ring. */
td_status td_app_init(td_app_t *app) TD_CHECK_RESULT;

/** Handle everything pending: received bytes, sensor frames, outgoing telemetry; never blocks. */
td_status td_app_poll(td_app_t *app) TD_CHECK_RESULT;

/** Feed frames (n_frames x the profile's channels, interleaved) to the monitor and emit telemetry. */
td_status td_app_push_frames(td_app_t *app, const int16_t *frames, uint32_t n_frames) TD_CHECK_RESULT;

/** External-embedding profiles: add n_embeddings int8 embeddings (n_dims values each, row-major) to the
 *  current window, in order (td_monitor_push_embedding). All or nothing: TD_ERR_STATE without a profile,
 *  TD_ERR_MODE for a PCA profile, TD_ERR_CAPACITY if the window would exceed TD_MAX_EMBEDDINGS_PER_WINDOW.
 *  A board running its own model calls this; INJECT_EMBEDDING does the same over the link. */
td_status td_app_push_embeddings(td_app_t *app, const int8_t *embeddings, uint32_t n_embeddings) TD_CHECK_RESULT;

/** Outputs profiles: add n_vectors int8 class-probability vectors (the profile's n_classes values each, row-major)
 *  to the current window, in order (td_monitor_push_outputs); *first_seq (may be NULL) gets the inference number of
 *  the first, the rest are consecutive. All or nothing: TD_ERR_STATE without a profile, TD_ERR_MODE without an
 *  outputs section, TD_ERR_CAPACITY if the window would exceed 65,535 inferences.
 *  A board running its own classifier calls this; INJECT_OUTPUTS does the same over the link. */
td_status td_app_push_outputs(td_app_t *app, const int8_t *probs, uint32_t n_vectors,
                              uint32_t *first_seq) TD_CHECK_RESULT;

/** Outputs profiles: the true classes of earlier inferences (td_monitor_push_label), applied in order. Stops at the
 *  first pair the monitor rejects and returns its td_status (earlier pairs stay applied); *n_applied (may be NULL)
 *  gets the number applied. TD_ERR_STATE without a profile, TD_ERR_MODE without an outputs section. */
td_status td_app_push_labels(td_app_t *app, const uint32_t *seqs, const uint8_t *labels, uint32_t n_pairs,
                             uint32_t *n_applied) TD_CHECK_RESULT;

/** Start (rate_hz > 0) or stop (0) the board's sensor as a SENSOR request does; TD_ERR_STATE without a profile. */
td_status td_app_sensor_start(td_app_t *app, uint16_t rate_hz) TD_CHECK_RESULT;

/** Tell the app the link was reconnected (new host session): drop a partial frame and forget the retry cache. */
td_status td_app_link_reset(td_app_t *app) TD_CHECK_RESULT;

/** Send a LOG message (level TD_LOG_*, ASCII text cut to fit one frame). */
td_status td_app_log(td_app_t *app, uint8_t level, const char *text) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_APP_H */
