/* test_app.c - standalone test of the firmware application: td_proto, td_ring, td_store and td_app.
 *
 * Build and run: make -f firmware/firmware.mk test-fw-c, which compiles this file with
 * every firmware/td_ and csrc/src/td_ source under -fsanitize=address,undefined (C99, -Werror).
 * Prints "test_app: N passed, M failed" and exits non-zero on any failure.
 *
 * The test is its own board: it implements td_hal.h over RAM. Storage is the
 * static array of tests/c/td_ram_flash.h with flash semantics (erase sets 0xFF
 * by page; a write that would turn a 0 bit into 1 fails), with a write budget
 * (its cut hook) to simulate power loss or write failures. The link is two
 * byte buffers: requests are encoded with td_frame_encode into the input,
 * replies are decoded from the output.
 * Telemetry is checked against td_proto's encoding of a second monitor fed the
 * same frames directly; protocol byte vectors were computed by hand from
 * docs/protocol.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_app.h"
#include "td_hal.h"
#include "td_proto.h"
#include "td_ring.h"
#include "td_store.h"
#include "tinydrift/td_crc32.h"
#include "tinydrift/td_frame.h"

#include "td_check.h"

/* ==== the RAM board (td_hal.h) ======================================================== */

#define TD_RAM_FLASH_CAPACITY (64u * 1024u)
#include "td_ram_flash.h"

static long g_writes_left = -1; /* -1: unlimited; n >= 0: n more writes succeed, then every write fails */
static uint32_t g_boot = 1u;
static uint64_t g_uid = 0x0123456789ABCDEFull; /* what td_hal_device_uid reports */
static uint32_t g_time = 0u;
static td_status g_sensor_status = TD_ERR_MODE;
static uint16_t g_sensor_rate;
static int16_t g_sensor_frames[4096];
static uint32_t g_sensor_n;   /* values queued */
static uint32_t g_sensor_pos; /* values consumed */

static uint8_t g_in[1u << 16];
static size_t g_in_len;
static size_t g_in_pos;
static size_t g_read_chunk = 64u; /* most bytes one td_hal_link_read returns */
static uint8_t g_out[1u << 18];
static size_t g_out_len;
static int g_link_down;

td_status td_hal_init(void)
{
    return TD_OK;
}

size_t td_hal_link_read(uint8_t *buf, size_t cap)
{
    size_t n = g_in_len - g_in_pos;
    if (n > cap) {
        n = cap;
    }
    if (n > g_read_chunk) {
        n = g_read_chunk;
    }
    memcpy(buf, g_in + g_in_pos, n);
    g_in_pos += n;
    return n;
}

td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (g_link_down) {
        return TD_ERR_STATE;
    }
    if (len > sizeof g_out - g_out_len) {
        printf("test output buffer overflow\n");
        exit(2);
    }
    memcpy(g_out + g_out_len, data, len);
    g_out_len += len;
    return TD_OK;
}

uint32_t td_hal_time_ms(void)
{
    return g_time;
}

uint32_t td_hal_boot_id(void)
{
    return g_boot;
}

uint64_t td_hal_device_uid(void)
{
    return g_uid;
}

/* The flash's cut hook: the write budget. A write refused by the budget has no effect; one the flash then
 * refuses (it would set a bit) does not use the budget up. */
static td_status budget_cut(td_ram_flash_op_t op, uint32_t offset, const uint8_t *data, uint32_t len)
{
    if (op != TD_RAM_FLASH_WRITE) {
        return TD_OK;
    }
    if (g_writes_left == 0) {
        return TD_ERR_STATE; /* simulated write failure / power cut before this write */
    }
    if (g_writes_left > 0 && td_ram_flash_can_program(offset, data, len)) {
        g_writes_left--;
    }
    return TD_OK;
}

td_status td_hal_sensor_start(uint16_t rate_hz)
{
    if (rate_hz == 0u) {
        g_sensor_rate = 0u;
        return TD_OK;
    }
    if (g_sensor_status == TD_OK) {
        g_sensor_rate = rate_hz;
    }
    return g_sensor_status;
}

int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    if (g_sensor_rate == 0u || g_sensor_pos + n_channels > g_sensor_n) {
        return 0;
    }
    memcpy(frame, g_sensor_frames + g_sensor_pos, (size_t)n_channels * sizeof *frame);
    g_sensor_pos += n_channels;
    return 1;
}

void td_hal_idle(void)
{
}

uint8_t td_hal_board_id(void)
{
    return TD_BOARD_HOST;
}

const char *td_hal_board_name(void)
{
    return "test board";
}

/* ==== profile writer (docs/profile-format.md, as in tests/c/td_test_model.h) =============== */

typedef struct {
    uint8_t n_channels, n_dims, n_centroids;
    uint16_t window;
    uint32_t profile_id;
} pspec_t;

/* Writes a valid profile: PCA mode (ext == 0) or external-embedding mode (ext == 1). */
static uint32_t write_profile(uint8_t *b, uint32_t cap, const pspec_t *s, int ext, uint32_t scale_q24,
                              int32_t zero_point)
{
    const uint32_t n_features = 2u * s->n_channels;
    const uint32_t proj = ext ? 0u : ((uint32_t)s->n_dims * n_features + 3u) / 4u * 4u;
    const uint32_t size = 64u + 24u * s->n_channels + 8u * n_features + proj + 4u * s->n_centroids * s->n_dims + 4u;
    if (size > cap) {
        printf("profile buffer too small\n");
        exit(2);
    }
    memset(b, 0, size);
    memcpy(b, "TDPF", 4);
    put_u16(b + 4, 1u);
    put_u16(b + 6, 64u);
    put_u32(b + 8, size);
    put_u32(b + 12, s->profile_id);
    b[16] = s->n_channels;
    b[17] = s->n_dims;
    b[18] = s->n_centroids;
    b[19] = ext ? 0u : 6u; /* proj_shift: 0 in external mode */
    put_u16(b + 20, s->window);
    put_u16(b + 22, ext ? TD_PROFILE_FLAG_EXTERNAL_EMBEDDING : 0u);
    put_u32(b + 24, 1000u); /* false_alarm_ppb */
    if (ext) {
        put_u32(b + 28, 20u * 256u);  /* cusum k */
        put_u32(b + 32, 400u * 256u); /* cusum h */
        put_u32(b + 36, 60u * 256u);  /* instant */
        put_u32(b + 40, scale_q24);
        put_u32(b + 44, (uint32_t)zero_point);
    } else {
        put_u32(b + 28, 0u);          /* cusum k */
        put_u32(b + 32, 0xFFFFFFFFu); /* cusum h: never */
        put_u32(b + 36, 0xFFFFFFFFu); /* instant: never; only health triggers, so alarms are predictable */
    }
    put_u32(b + 48, 1700000000u); /* created */
    uint32_t off = 64u;
    for (uint32_t c = 0; c < s->n_channels; c++) {
        put_u16(b + off + 0, (uint16_t)(int16_t)-32768);
        put_u16(b + off + 2, 32767u);
        put_u16(b + off + 6, !ext && c == 0u ? TD_CHANNEL_FLAG_STUCK_CHECK : 0u);
        put_u32(b + off + 20, 256u);
        off += 24u;
    }
    for (uint32_t f = 0; f < n_features; f++) {
        put_u32(b + off, (uint32_t)((int32_t)(f * 500u) - 1000));
        put_u32(b + off + 4, 0x00100000u + f * 0x1000u);
        off += 8u;
    }
    if (!ext) {
        for (uint32_t i = 0; i < (uint32_t)s->n_dims * n_features; i++) {
            b[off + i] = (uint8_t)(int8_t)((int)(i * 37u % 255u) - 127);
        }
        off += proj;
    }
    for (uint32_t i = 0; i < (uint32_t)s->n_centroids * s->n_dims; i++) {
        const int32_t c = ext ? (int32_t)(i * 997u % 4001u) - 2000 /* within +-7.8 embedding units */
                              : (int32_t)(i * 4099u) - 20000;
        put_u32(b + off, (uint32_t)c);
        off += 4u;
    }
    put_u32(b + off, td_crc32_update(0u, b, off));
    return size;
}

/* A valid PCA profile; channel 0 has the stuck check on (tolerance 0), so a flat window raises HEALTH. */
static uint32_t build_profile(uint8_t *b, uint32_t cap, const pspec_t *s)
{
    return write_profile(b, cap, s, 0, 0u, 0);
}

/* A valid external-embedding profile (flag bit 0, no projection): no health checks, thresholds low enough
 * that instant and CUSUM triggers occur with random embeddings. */
static uint32_t build_ext_profile(uint8_t *b, uint32_t cap, const pspec_t *s, uint32_t scale_q24, int32_t zero_point)
{
    return write_profile(b, cap, s, 1, scale_q24, zero_point);
}

/* ==== pseudo-random frames ============================================================== */

static uint32_t g_xs = 0x12345678u;

static uint32_t xs_next(void)
{
    return td_xorshift32(&g_xs);
}

static void gen_frames(int16_t *out, uint32_t n_frames, uint8_t n_channels, int32_t center)
{
    for (uint32_t i = 0; i < n_frames * n_channels; i++) {
        out[i] = (int16_t)(center + (int32_t)(xs_next() % 2001u) - 1000);
    }
}

/* ==== td_proto byte vectors ============================================================= */

static void test_proto(void)
{
    uint8_t out[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;

    static const uint8_t ack[] = {0x06, 0x00, 0x34, 0x12, 0x04, 0x03, 0x02, 0x01};
    CHECK_EQ(td_proto_encode_ack(out, sizeof out, 0x06u, 0x1234u, 0x01020304u, &len), TD_OK);
    CHECK(len == sizeof ack && memcmp(out, ack, sizeof ack) == 0);
    static const uint8_t nack[] = {0x04, 0x00, 0x07, 0x00, 0xFB, 0xFF, 0xFF, 0xFF};
    CHECK_EQ(td_proto_encode_nack(out, sizeof out, 0x04u, 7u, TD_ERR_CRC, &len), TD_OK);
    CHECK(len == sizeof nack && memcmp(out, nack, sizeof nack) == 0);
    CHECK_EQ(td_proto_encode_nack(out, sizeof out, 0x04u, 7u, TD_OK, &len), TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_ack(out, 7u, 0x06u, 1u, 0u, &len), TD_ERR_CAPACITY);
    uint8_t rt = 0;
    uint16_t rs = 0;
    uint32_t rv = 0;
    CHECK_EQ(td_proto_decode_reply(nack, sizeof nack, &rt, &rs, &rv), TD_OK);
    CHECK(rt == 0x04u && rs == 7u && (int32_t)rv == TD_ERR_CRC);
    CHECK_EQ(td_proto_decode_reply(nack, 7u, &rt, &rs, &rv), TD_ERR_ARG);

    static const uint8_t begin[] = {0xC4, 0x08, 0x00, 0x00, 0xEF, 0xBE, 0xAD, 0xDE};
    CHECK_EQ(td_proto_encode_upload_begin(out, sizeof out, 0x8C4u, 0xDEADBEEFu, &len), TD_OK);
    CHECK(len == sizeof begin && memcmp(out, begin, sizeof begin) == 0);
    uint32_t a = 0;
    uint32_t b = 0;
    CHECK_EQ(td_proto_decode_upload_begin(begin, sizeof begin, &a, &b), TD_OK);
    CHECK(a == 0x8C4u && b == 0xDEADBEEFu);
    CHECK_EQ(td_proto_decode_upload_begin(begin, 9u, &a, &b), TD_ERR_ARG);

    static const uint8_t data[] = {0xAA, 0xBB};
    static const uint8_t chunk[] = {0x00, 0x01, 0x00, 0x00, 0xAA, 0xBB};
    CHECK_EQ(td_proto_encode_upload_chunk(out, sizeof out, 0x100u, data, sizeof data, &len), TD_OK);
    CHECK(len == sizeof chunk && memcmp(out, chunk, sizeof chunk) == 0);
    const uint8_t *dp = NULL;
    size_t dl = 0;
    CHECK_EQ(td_proto_decode_upload_chunk(chunk, sizeof chunk, &a, &dp, &dl), TD_OK);
    CHECK(a == 0x100u && dl == 2u && dp == chunk + 4);
    CHECK_EQ(td_proto_decode_upload_chunk(chunk, 4u, &a, &dp, &dl), TD_ERR_ARG); /* no data */
    CHECK_EQ(td_proto_encode_upload_chunk(out, sizeof out, 0u, data, 257u, &len), TD_ERR_ARG);

    static const uint8_t fetch[] = {0x04, 0x03, 0x02, 0x01, 0x06, 0x05};
    CHECK_EQ(td_proto_encode_fetch(out, sizeof out, 0x01020304u, 0x0506u, &len), TD_OK);
    CHECK(len == sizeof fetch && memcmp(out, fetch, sizeof fetch) == 0);
    uint16_t m = 0;
    CHECK_EQ(td_proto_decode_fetch(fetch, sizeof fetch, &a, &m), TD_OK);
    CHECK(a == 0x01020304u && m == 0x0506u);

    static const uint8_t sensor[] = {0x02, 0x01};
    CHECK_EQ(td_proto_encode_sensor(out, sizeof out, 0x0102u, &len), TD_OK);
    CHECK(len == 2u && memcmp(out, sensor, 2) == 0);
    CHECK_EQ(td_proto_decode_sensor(sensor, 2u, &m), TD_OK);
    CHECK_EQ(m, 0x0102);
    CHECK_EQ(td_proto_decode_sensor(sensor, 1u, &m), TD_ERR_ARG);

    static const int16_t vals[] = {1, -2, 0x1234};
    static const uint8_t inject[] = {0x01, 0x00, 0xFE, 0xFF, 0x34, 0x12};
    CHECK_EQ(td_proto_encode_inject(out, sizeof out, vals, 3u, &len), TD_OK);
    CHECK(len == sizeof inject && memcmp(out, inject, sizeof inject) == 0);
    int16_t dec[8];
    uint32_t nf = 0;
    CHECK_EQ(td_proto_decode_inject(inject, sizeof inject, 1u, dec, 8u, &nf), TD_OK);
    CHECK(nf == 3u && dec[0] == 1 && dec[1] == -2 && dec[2] == 0x1234);
    CHECK_EQ(td_proto_decode_inject(inject, sizeof inject, 2u, dec, 8u, &nf), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject(inject, 0u, 1u, dec, 8u, &nf), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject(inject, 5u, 1u, dec, 8u, &nf), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject(inject, sizeof inject, 3u, dec, 2u, &nf), TD_ERR_CAPACITY);

    static const int8_t emb[] = {1, -2, 127, -128, 0, -1};
    static const uint8_t inject_emb[] = {0x01, 0xFE, 0x7F, 0x80, 0x00, 0xFF};
    CHECK_EQ(td_proto_encode_inject_embedding(out, sizeof out, emb, 6u, &len), TD_OK);
    CHECK(len == sizeof inject_emb && memcmp(out, inject_emb, sizeof inject_emb) == 0);
    int8_t dec8[8];
    uint32_t ne = 0;
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, sizeof inject_emb, 3u, dec8, 8u, &ne), TD_OK);
    CHECK(ne == 2u && memcmp(dec8, emb, sizeof emb) == 0);
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, sizeof inject_emb, 6u, dec8, 8u, &ne), TD_OK);
    CHECK_EQ(ne, 1u);
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, sizeof inject_emb, 4u, dec8, 8u, &ne), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, 0u, 1u, dec8, 8u, &ne), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, sizeof inject_emb, 0u, dec8, 8u, &ne), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_inject_embedding(inject_emb, sizeof inject_emb, 2u, dec8, 4u, &ne), TD_ERR_CAPACITY);
    CHECK_EQ(td_proto_decode_inject_embedding(out, TD_PROTO_EMBEDDING_MAX_VALUES + 1u, 1u, dec8, 8u, &ne),
             TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_inject_embedding(out, sizeof out, emb, 0u, &len), TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_inject_embedding(out, sizeof out, emb, TD_PROTO_EMBEDDING_MAX_VALUES + 1u, &len),
             TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_inject_embedding(out, 5u, emb, 6u, &len), TD_ERR_CAPACITY);

    static const uint8_t log[] = {0x02, 'h', 'i'};
    CHECK_EQ(td_proto_encode_log(out, sizeof out, TD_LOG_WARNING, "hi", &len), TD_OK);
    CHECK(len == sizeof log && memcmp(out, log, sizeof log) == 0);
    CHECK_EQ(td_proto_encode_log(out, sizeof out, 4u, "hi", &len), TD_ERR_ARG);

    /* INFO, field by field from the table in docs/protocol.md. */
    static const uint8_t info_bytes[] = {
        0x01, 0x01, 0x0B, 0x0A, /* request type, protocol version, request seq */
        0x01, 0x00, 0x40, 0x01, /* board id, active slot, max payload 320 */
        0x14, 0x13, 0x12, 0x11, /* boot id */
        0x00, 0x01, 0x00, 0x00, /* firmware version 0.1.0 */
        0x24, 0x23, 0x22, 0x21, /* profile id */
        0x06, 0x10, 0x40, 0x00, /* channels, max channels, window 64 */
        0x34, 0x33, 0x32, 0x31, /* next seq */
        0x44, 0x43, 0x42, 0x41, /* oldest seq */
        0x80, 0x00, 0x02, 0x01, /* ring capacity 128, sensor rate 0x0102 */
        0x54, 0x53, 0x52, 0x51, /* frames processed */
        0x64, 0x63, 0x62, 0x61, /* link errors */
        'a',  'b',              /* board name */
    };
    td_proto_info_t info;
    memset(&info, 0, sizeof info);
    info.request_seq = 0x0A0Bu;
    info.protocol_version = 1u;
    info.board_id = 1u;
    info.active_slot = 0u;
    info.max_payload = 320u;
    info.boot_id = 0x11121314u;
    info.firmware_version = TD_FIRMWARE_VERSION;
    info.profile_id = 0x21222324u;
    info.profile_channels = 6u;
    info.max_channels = 16u;
    info.profile_window = 64u;
    info.next_seq = 0x31323334u;
    info.oldest_seq = 0x41424344u;
    info.ring_capacity = 128u;
    info.sensor_rate_hz = 0x0102u;
    info.frames_processed = 0x51525354u;
    info.link_errors = 0x61626364u;
    info.board_name = "ab";
    CHECK_EQ(td_proto_encode_info(out, sizeof out, &info, &len), TD_OK);
    CHECK(len == sizeof info_bytes && memcmp(out, info_bytes, sizeof info_bytes) == 0);
    td_proto_info_t back;
    CHECK_EQ(td_proto_decode_info(info_bytes, sizeof info_bytes, &back), TD_OK);
    CHECK(back.request_seq == 0x0A0Bu && back.boot_id == 0x11121314u && back.profile_window == 64u &&
          back.next_seq == 0x31323334u && back.oldest_seq == 0x41424344u && back.ring_capacity == 128u &&
          back.link_errors == 0x61626364u && back.board_name_len == 2u && memcmp(back.board_name, "ab", 2) == 0);
    CHECK(back.protocol_version == 1u && back.device_uid == 0u);
    /* Version 2: the same fields, then the device uid (u64 LE) at 44, then the board name at 52. */
    static const uint8_t uid_bytes[] = {0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01};
    uint8_t info2[sizeof info_bytes + 8u];
    memcpy(info2, info_bytes, 44u);
    info2[1] = 2u;
    memcpy(info2 + 44, uid_bytes, sizeof uid_bytes);
    memcpy(info2 + 52, "ab", 2u);
    info.protocol_version = 2u;
    info.device_uid = 0x0123456789ABCDEFull;
    CHECK_EQ(td_proto_encode_info(out, sizeof out, &info, &len), TD_OK);
    CHECK(len == sizeof info2 && memcmp(out, info2, sizeof info2) == 0);
    memset(&back, 0, sizeof back);
    CHECK_EQ(td_proto_decode_info(info2, sizeof info2, &back), TD_OK);
    CHECK(back.protocol_version == 2u && back.device_uid == 0x0123456789ABCDEFull && back.link_errors == 0x61626364u &&
          back.board_name_len == 2u && memcmp(back.board_name, "ab", 2) == 0);
    /* A version-2 INFO shorter than its fixed part is malformed. */
    CHECK_EQ(td_proto_decode_info(info2, 50u, &back), TD_ERR_ARG);
    /* A long board name is cut at the payload limit. */
    static char long_name[400];
    memset(long_name, 'x', sizeof long_name - 1u);
    info.board_name = long_name;
    CHECK_EQ(td_proto_encode_info(out, sizeof out, &info, &len), TD_OK);
    CHECK_EQ(len, TD_FRAME_MAX_PAYLOAD);

    /* TELEMETRY record of one channel, field by field. */
    static const uint8_t rec_bytes[] = {
        0x04, 0x03, 0x02, 0x01, /* seq */
        0x14, 0x13, 0x12, 0x11, /* boot id */
        0x24, 0x23, 0x22, 0x21, /* profile id */
        0x34, 0x33, 0x32, 0x31, /* window index */
        0x44, 0x43, 0x42, 0x41, /* uptime */
        0x54, 0x53, 0x52, 0x51, /* score */
        0x64, 0x63, 0x62, 0x61, /* dist */
        0x74, 0x73, 0x72, 0x71, /* recon */
        0x84, 0x83, 0x82, 0x81, /* cusum */
        0x05, 0x01, 0x02, 0x00, /* trigger, alarm, nearest, top channel */
        0x01, 0x00, 0x02, 0x01, /* stuck, saturated masks */
        0x04, 0x03, 0x06, 0x05, /* missing mask, n_embeddings */
        0x01, 0x00, 0x02, 0x00, /* n_channels, flags, record version, reserved */
        0xD4, 0xFE, 0xFF, 0xFF, /* ch0 mean -300 */
        0x03, 0x02, 0x01, 0x00, /* ch0 std */
        0xFE, 0xFF, 0x02, 0x01, /* ch0 z mean -2, z std 0x0102 */
        0x03, 0x00, 0x05, 0x04, /* ch0 missing 3, saturated 0x0405 */
        0x07, 0x06, 0x03, 0x02, /* outputs block at 52 + 16: n_inferences, top class, ddm state */
        0xA4, 0xA3, 0xA2, 0xA1, /* mean confidence */
        0xB4, 0xB3, 0xB2, 0xB1, /* estimated accuracy */
        0xC4, 0xC3, 0xC2, 0xC1, /* prior shift */
        0x09, 0x08, 0x0B, 0x0A, /* n_labels, n_correct */
        0xD4, 0xD3, 0xD2, 0xD1, /* accuracy */
    };
    td_window_result_t res;
    memset(&res, 0, sizeof res);
    res.window_index = 0x31323334u;
    res.score_q8 = 0x51525354u;
    res.dist_q8 = 0x61626364u;
    res.recon_q8 = 0x71727374u;
    res.cusum_q8 = 0x81828384u;
    res.trigger = 5u;
    res.alarm = 1u;
    res.nearest = 2u;
    res.top_channel = 0u;
    res.stuck_mask = 1u;
    res.saturated_mask = 0x0102u;
    res.missing_mask = 0x0304u;
    res.n_embeddings = 0x0506u;
    res.channels[0].mean_q8 = -300;
    res.channels[0].std_q8 = 0x00010203;
    res.channels[0].z_mean_q8 = -2;
    res.channels[0].z_std_q8 = 0x0102;
    res.channels[0].n_missing = 3u;
    res.channels[0].n_saturated = 0x0405u;
    res.n_inferences = 0x0607u;
    res.top_class = 3u;
    res.ddm_state = 2u;
    res.mean_confidence_q16 = 0xA1A2A3A4u;
    res.estimated_accuracy_q16 = 0xB1B2B3B4u;
    res.prior_shift_q16 = 0xC1C2C3C4u;
    res.n_labels = 0x0809u;
    res.n_correct = 0x0A0Bu;
    res.accuracy_q16 = 0xD1D2D3D4u;
    td_proto_record_meta_t meta = {0x01020304u, 0x11121314u, 0x21222324u, 0x41424344u, 1u, 0u};
    CHECK_EQ(td_proto_encode_record(out, sizeof out, &meta, &res, &len), TD_OK);
    CHECK(len == sizeof rec_bytes && memcmp(out, rec_bytes, sizeof rec_bytes) == 0);
    td_proto_record_t rec;
    CHECK_EQ(td_proto_decode_record(rec_bytes, sizeof rec_bytes, &rec), TD_OK);
    CHECK(rec.meta.seq == 0x01020304u && rec.meta.uptime_ms == 0x41424344u && rec.window_index == 0x31323334u &&
          rec.cusum_q8 == 0x81828384u && rec.trigger == 5u && rec.n_embeddings == 0x0506u && rec.version == 2u &&
          rec.channels[0].mean_q8 == -300 && rec.channels[0].z_mean_q8 == -2 && rec.channels[0].n_saturated == 0x0405u);
    CHECK(rec.n_inferences == 0x0607u && rec.top_class == 3u && rec.ddm_state == 2u &&
          rec.mean_confidence_q16 == 0xA1A2A3A4u && rec.estimated_accuracy_q16 == 0xB1B2B3B4u &&
          rec.prior_shift_q16 == 0xC1C2C3C4u && rec.n_labels == 0x0809u && rec.n_correct == 0x0A0Bu &&
          rec.accuracy_q16 == 0xD1D2D3D4u);
    CHECK_EQ(td_proto_decode_record(rec_bytes, sizeof rec_bytes - 1u, &rec), TD_ERR_ARG);
    CHECK_EQ(td_proto_decode_record(rec_bytes, sizeof rec_bytes - 24u, &rec), TD_ERR_ARG); /* v2 without its block */
    {
        /* A version-1 record (52 + 16 C bytes, no outputs block) still decodes, with the outputs fields 0. */
        uint8_t v1[sizeof rec_bytes - 24u];
        memcpy(v1, rec_bytes, sizeof v1);
        v1[50] = 1u;
        CHECK_EQ(td_proto_decode_record(v1, sizeof v1, &rec), TD_OK);
        CHECK(rec.version == 1u && rec.window_index == 0x31323334u && rec.channels[0].n_saturated == 0x0405u &&
              rec.n_inferences == 0u && rec.accuracy_q16 == 0u && rec.n_labels == 0u);
        CHECK_EQ(td_proto_decode_record(v1, sizeof v1 - 1u, &rec), TD_ERR_ARG);
        v1[50] = 3u;
        CHECK_EQ(td_proto_decode_record(v1, sizeof v1, &rec), TD_ERR_ARG);
    }
    CHECK_EQ(td_proto_encode_record(out, sizeof rec_bytes - 1u, &meta, &res, &len), TD_ERR_CAPACITY);
    meta.n_channels = 0u;
    CHECK_EQ(td_proto_encode_record(out, sizeof out, &meta, &res, &len), TD_ERR_LIMIT);
    meta.n_channels = 6u;
    CHECK_EQ(td_proto_encode_record(out, sizeof out, &meta, &res, &len), TD_OK);
    CHECK_EQ(len, 172u); /* docs/protocol.md: 172 bytes for 6 channels */
    CHECK_EQ(TD_TELEMETRY_SIZE(16), 332u);
    CHECK(TD_TELEMETRY_MAX_SIZE <= TD_FRAME_MAX_PAYLOAD);

    /* INJECT_OUTPUTS: int8 vectors back to back, like INJECT_EMBEDDING. */
    {
        static const int8_t probs[6] = {-128, 127, 0, -1, 5, -6};
        static const uint8_t probs_bytes[6] = {0x80, 0x7F, 0x00, 0xFF, 0x05, 0xFA};
        int8_t back_probs[8];
        uint32_t n_vec = 0;
        CHECK_EQ(td_proto_encode_inject_outputs(out, sizeof out, probs, 6u, &len), TD_OK);
        CHECK(len == 6u && memcmp(out, probs_bytes, 6u) == 0);
        CHECK_EQ(td_proto_decode_inject_outputs(probs_bytes, 6u, 3u, back_probs, sizeof back_probs, &n_vec), TD_OK);
        CHECK(n_vec == 2u && memcmp(back_probs, probs, 6u) == 0);
        CHECK_EQ(td_proto_decode_inject_outputs(probs_bytes, 5u, 3u, back_probs, sizeof back_probs, &n_vec),
                 TD_ERR_ARG);
        CHECK_EQ(td_proto_decode_inject_outputs(probs_bytes, 0u, 3u, back_probs, sizeof back_probs, &n_vec),
                 TD_ERR_ARG);
        CHECK_EQ(td_proto_decode_inject_outputs(probs_bytes, 6u, 3u, back_probs, 5u, &n_vec), TD_ERR_CAPACITY);
        static uint8_t big[TD_PROTO_OUTPUTS_MAX_VALUES + 2u];
        static int8_t big_out[TD_PROTO_OUTPUTS_MAX_VALUES + 2u];
        CHECK_EQ(td_proto_decode_inject_outputs(big, TD_PROTO_OUTPUTS_MAX_VALUES, 2u, big_out, sizeof big_out, &n_vec),
                 TD_OK);
        CHECK_EQ(n_vec, TD_PROTO_OUTPUTS_MAX_VALUES / 2u);
        CHECK_EQ(td_proto_decode_inject_outputs(big, TD_PROTO_OUTPUTS_MAX_VALUES + 2u, 2u, big_out, sizeof big_out,
                                                &n_vec), TD_ERR_ARG);
        CHECK_EQ(td_proto_encode_inject_outputs(out, sizeof out, big_out, TD_PROTO_OUTPUTS_MAX_VALUES + 1u, &len),
                 TD_ERR_ARG);
    }
    /* LABEL: pairs of u32 inference seq and u8 label, 5 bytes each. */
    {
        static const uint32_t seqs[2] = {0x01020304u, 7u};
        static const uint8_t labels[2] = {3u, 0xFFu};
        static const uint8_t label_bytes[10] = {0x04, 0x03, 0x02, 0x01, 0x03, 0x07, 0x00, 0x00, 0x00, 0xFF};
        uint32_t back_seqs[TD_PROTO_LABEL_MAX_PAIRS + 1u];
        uint8_t back_labels[TD_PROTO_LABEL_MAX_PAIRS + 1u];
        uint32_t n_pairs = 0;
        CHECK_EQ(td_proto_encode_label(out, sizeof out, seqs, labels, 2u, &len), TD_OK);
        CHECK(len == 10u && memcmp(out, label_bytes, 10u) == 0);
        CHECK_EQ(td_proto_decode_label(label_bytes, 10u, back_seqs, back_labels, 64u, &n_pairs), TD_OK);
        CHECK(n_pairs == 2u && back_seqs[0] == 0x01020304u && back_seqs[1] == 7u && back_labels[0] == 3u &&
              back_labels[1] == 0xFFu);
        CHECK_EQ(td_proto_decode_label(label_bytes, 9u, back_seqs, back_labels, 64u, &n_pairs), TD_ERR_ARG);
        CHECK_EQ(td_proto_decode_label(label_bytes, 0u, back_seqs, back_labels, 64u, &n_pairs), TD_ERR_ARG);
        CHECK_EQ(td_proto_decode_label(label_bytes, 10u, back_seqs, back_labels, 1u, &n_pairs), TD_ERR_CAPACITY);
        static uint8_t big[TD_PROTO_LABEL_PAIR_SIZE * (TD_PROTO_LABEL_MAX_PAIRS + 1u)];
        CHECK_EQ(td_proto_decode_label(big, TD_PROTO_LABEL_PAIR_SIZE * TD_PROTO_LABEL_MAX_PAIRS, back_seqs,
                                       back_labels, TD_PROTO_LABEL_MAX_PAIRS, &n_pairs), TD_OK);
        CHECK_EQ(n_pairs, TD_PROTO_LABEL_MAX_PAIRS);
        CHECK_EQ(td_proto_decode_label(big, sizeof big, back_seqs, back_labels, TD_PROTO_LABEL_MAX_PAIRS + 1u,
                                       &n_pairs), TD_ERR_ARG);
        CHECK_EQ(td_proto_encode_label(out, sizeof out, back_seqs, back_labels, 0u, &len), TD_ERR_ARG);
        CHECK_EQ(td_proto_encode_label(out, sizeof out, back_seqs, back_labels, 65u, &len), TD_ERR_ARG);
        CHECK_EQ(td_proto_encode_label(out, 9u, seqs, labels, 2u, &len), TD_ERR_CAPACITY);
    }
}

/* ==== td_ring ============================================================================ */

static td_ring_t g_ring;

static void test_ring(void)
{
    const uint8_t *rec = NULL;
    uint16_t len = 0;
    uint32_t seq = 0;
    uint8_t buf[TD_RING_SLOT_SIZE + 1u];
    CHECK_EQ(td_ring_init(&g_ring), TD_OK);
    CHECK_EQ(td_ring_next_seq(&g_ring), 0);
    CHECK_EQ(td_ring_oldest_seq(&g_ring), 0);
    CHECK_EQ(td_ring_first_from(&g_ring, 5u), 0);
    CHECK_EQ(td_ring_get(&g_ring, 0u, &rec, &len), TD_ERR_RANGE);
    const uint32_t total = 2u * TD_APP_RING_CAPACITY - 56u;
    int ok = 1;
    for (uint32_t i = 0; i < total; i++) {
        memset(buf, (int)(i & 0xFFu), sizeof buf);
        ok &= td_ring_push(&g_ring, buf, (uint16_t)(1u + i % 50u), &seq) == TD_OK && seq == i;
    }
    CHECK(ok);
    const uint32_t oldest = total - TD_APP_RING_CAPACITY;
    CHECK_EQ(td_ring_next_seq(&g_ring), total);
    CHECK_EQ(td_ring_oldest_seq(&g_ring), oldest);
    CHECK_EQ(td_ring_get(&g_ring, oldest - 1u, &rec, &len), TD_ERR_RANGE);
    CHECK_EQ(td_ring_get(&g_ring, total, &rec, &len), TD_ERR_RANGE);
    ok = 1;
    for (uint32_t s = oldest; s < total; s++) {
        ok &= td_ring_get(&g_ring, s, &rec, &len) == TD_OK && len == 1u + s % 50u && rec[0] == (uint8_t)s &&
              rec[len - 1u] == (uint8_t)s;
    }
    CHECK(ok);
    CHECK_EQ(td_ring_first_from(&g_ring, 0u), oldest);
    CHECK_EQ(td_ring_first_from(&g_ring, oldest + 3u), oldest + 3u);
    CHECK_EQ(td_ring_first_from(&g_ring, total + 100u), total);
    CHECK_EQ(td_ring_push(&g_ring, buf, 0u, &seq), TD_ERR_ARG);
    CHECK_EQ(td_ring_push(&g_ring, buf, (uint16_t)(TD_RING_SLOT_SIZE + 1u), &seq), TD_ERR_CAPACITY);
    CHECK_EQ(td_ring_capacity(), TD_APP_RING_CAPACITY);
    CHECK_EQ(td_ring_init(&g_ring), TD_OK);
    CHECK_EQ(td_ring_next_seq(&g_ring), 0);
}

/* ==== td_store =========================================================================== */

static uint8_t g_blob_a[TD_APP_MAX_PROFILE];
static uint8_t g_blob_b[TD_APP_MAX_PROFILE];
static uint8_t g_blob_c[TD_APP_MAX_PROFILE];
static uint32_t g_size_a;
static uint32_t g_size_b;
static uint32_t g_size_c;
static uint8_t g_scratch[TD_APP_MAX_PROFILE];

static void make_profiles(void)
{
    const pspec_t a = {3u, 2u, 2u, 8u, 0xA1A2A3A4u};
    const pspec_t b = {2u, 3u, 3u, 4u, 0xB1B2B3B4u};
    const pspec_t c = {6u, 4u, 3u, 16u, 0xC1C2C3C4u};
    g_size_a = build_profile(g_blob_a, sizeof g_blob_a, &a);
    g_size_b = build_profile(g_blob_b, sizeof g_blob_b, &b);
    g_size_c = build_profile(g_blob_c, sizeof g_blob_c, &c);
    td_profile_t p;
    CHECK_EQ(td_profile_parse(&p, g_blob_a, g_size_a), TD_OK);
    CHECK_EQ(td_profile_parse(&p, g_blob_b, g_size_b), TD_OK);
    CHECK_EQ(td_profile_parse(&p, g_blob_c, g_size_c), TD_OK);
}

/* A slot header's CRC-32: over its generation and size fields (little-endian), then the blob. */
static uint32_t slot_crc(uint32_t generation, const uint8_t *blob, uint32_t size)
{
    uint8_t fields[8];
    put_u32(fields, generation);
    put_u32(fields + 4, size);
    return td_crc32_update(td_crc32_update(0u, fields, 8u), blob, size);
}

/* Scan storage with a fresh store; returns the active slot (TD_STORE_NO_SLOT if none) and checks the blob. */
static uint8_t rescan(const uint8_t *expect_blob, uint32_t expect_size)
{
    td_store_t st;
    uint32_t size = 1234u;
    memset(g_scratch, 0x5A, sizeof g_scratch);
    const td_status s = td_store_init(&st, g_scratch, sizeof g_scratch, &size);
    CHECK_EQ(s, TD_OK);
    if (expect_blob == NULL) {
        CHECK_EQ(size, 0);
    } else {
        CHECK(size == expect_size && memcmp(g_scratch, expect_blob, size) == 0);
    }
    return td_store_active_slot(&st);
}

static void test_flash_semantics(void)
{
    td_ram_flash_erase_all();
    const uint8_t w1[4] = {0x0F, 0xFF, 0x00, 0xF0};
    const uint8_t w2[4] = {0x0E, 0xFF, 0x00, 0x00}; /* only clears bits: allowed */
    const uint8_t w3[4] = {0x1E, 0xFF, 0x00, 0x00}; /* sets bit 4 of byte 0 again: refused */
    CHECK_EQ(td_hal_storage_write(0u, w1, 4u), TD_OK);
    CHECK_EQ(td_hal_storage_write(0u, w2, 4u), TD_OK);
    CHECK_EQ(td_hal_storage_write(0u, w3, 4u), TD_ERR_STATE);
    CHECK_EQ(g_flash.mem[0], 0x0E);
    CHECK_EQ(td_hal_storage_write(2u, w1, 4u), TD_ERR_ARG);
    CHECK_EQ(td_hal_storage_erase(0u, g_flash.page), TD_OK);
    CHECK_EQ(g_flash.mem[0], 0xFF);
}

static void test_store(void)
{
    td_store_t st;
    uint32_t size = 0;
    uint8_t slot = 0;
    g_flash.page = 4096u;
    g_flash.size = 8192u;
    td_ram_flash_erase_all();

    CHECK_EQ(td_store_init(&st, g_scratch, sizeof g_scratch, &size), TD_OK);
    CHECK_EQ(size, 0);
    CHECK_EQ(td_store_active_slot(&st), TD_STORE_NO_SLOT);
    CHECK_EQ(td_store_inactive_slot(&st), 0);
    CHECK_EQ(td_store_max_blob(&st), 4096u - 16u);
    CHECK_EQ(td_store_commit(&st, g_blob_a, g_size_a), TD_ERR_STATE); /* no begin: slot not erased */
    CHECK_EQ(td_store_begin(&st, 0u, &slot), TD_ERR_SIZE);
    CHECK_EQ(td_store_begin(&st, 4096u - 15u, &slot), TD_ERR_SIZE);

    /* First profile goes to slot 0, generation 1. */
    CHECK_EQ(td_store_begin(&st, g_size_a, &slot), TD_OK);
    CHECK_EQ(slot, 0);
    CHECK_EQ(td_store_commit(&st, g_blob_a, g_size_a), TD_OK);
    CHECK_EQ(td_store_active_slot(&st), 0);
    CHECK(memcmp(g_flash.mem, "TDSL", 4) == 0 && get_u32(g_flash.mem + 4) == 1u &&
          get_u32(g_flash.mem + 8) == g_size_a && get_u32(g_flash.mem + 12) == slot_crc(1u, g_blob_a, g_size_a));
    CHECK_EQ(td_store_commit(&st, g_blob_a, g_size_a), TD_ERR_STATE); /* needs a new erase */
    CHECK_EQ(rescan(g_blob_a, g_size_a), 0);

    /* Second goes to slot 1, generation 2, and wins the scan. */
    CHECK_EQ(td_store_begin(&st, g_size_b, &slot), TD_OK);
    CHECK_EQ(slot, 1);
    CHECK_EQ(td_store_commit(&st, g_blob_b, g_size_b), TD_OK);
    CHECK_EQ(get_u32(g_flash.mem + 4096u + 4u), 2u);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);

    /* An upload that is begun (slot 0 erased) but never committed leaves B active. */
    CHECK_EQ(td_store_begin(&st, g_size_c, &slot), TD_OK);
    CHECK_EQ(slot, 0);
    CHECK_EQ(g_flash.mem[0], 0xFF);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);

    /* Power cut after the blob write, before the header: slot 0 has data but no header. */
    g_writes_left = 1;
    CHECK_EQ(td_store_commit(&st, g_blob_c, g_size_c), TD_ERR_STATE);
    g_writes_left = -1;
    CHECK(g_flash.mem[16] == g_blob_c[0] && g_flash.mem[0] == 0xFF);
    CHECK_EQ(td_store_active_slot(&st), 1);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);
    /* Power cut before anything was written. */
    CHECK_EQ(td_store_begin(&st, g_size_c, &slot), TD_OK);
    g_writes_left = 0;
    CHECK_EQ(td_store_commit(&st, g_blob_c, g_size_c), TD_ERR_STATE);
    g_writes_left = -1;
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);

    /* A blob whose length is not a multiple of 4 (profile + 3 trailing bytes) is padded with 0xFF. */
    memcpy(g_scratch, g_blob_c, g_size_c);
    static uint8_t c3[TD_APP_MAX_PROFILE + 3u];
    memcpy(c3, g_blob_c, g_size_c);
    c3[g_size_c] = 0x11u;
    c3[g_size_c + 1u] = 0x22u;
    c3[g_size_c + 2u] = 0x33u;
    CHECK_EQ(td_store_begin(&st, g_size_c + 3u, &slot), TD_OK);
    CHECK_EQ(td_store_commit(&st, c3, g_size_c + 3u), TD_OK);
    CHECK_EQ(td_store_active_slot(&st), 0);
    CHECK_EQ(g_flash.mem[16u + g_size_c + 3u], 0xFF);
    CHECK_EQ(get_u32(g_flash.mem + 4), 3u);
    {
        td_store_t st2;
        uint32_t size2 = 0;
        static uint8_t big[TD_APP_MAX_PROFILE + 3u];
        CHECK_EQ(td_store_init(&st2, big, sizeof big, &size2), TD_OK);
        CHECK(size2 == g_size_c + 3u && memcmp(big, c3, size2) == 0 && td_store_active_slot(&st2) == 0u);
    }

    /* Bit rot in the newest blob: the scan falls back to the older valid slot. */
    g_flash.mem[16u + 100u] &= 0xFEu;
    g_flash.mem[16u + 100u] ^= 0x02u;
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);

    /* A header with a matching crc32 over something that is not a profile is not valid either. */
    memset(g_flash.mem, 0xFF, 4096u);
    memset(g_flash.mem + 16u, 0x42, 200u);
    memcpy(g_flash.mem, "TDSL", 4);
    put_u32(g_flash.mem + 4, 99u);
    put_u32(g_flash.mem + 8, 200u);
    put_u32(g_flash.mem + 12, slot_crc(99u, g_flash.mem + 16u, 200u));
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);
    /* A torn header claiming a huge size is ignored without reading past the slot. */
    put_u32(g_flash.mem + 8, 0x7FFFFFFFu);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);
    /* A profile larger than the RAM buffer cannot be loaded: also ignored. */
    {
        td_store_t st2;
        uint32_t size2 = 0;
        CHECK_EQ(td_store_init(&st2, g_scratch, g_size_b - 1u, &size2), TD_OK);
        CHECK_EQ(size2, 0);
    }

    /* Other page sizes: 1 KB pages (slot = 4 pages) and 8 KB pages (slot = 1 page of 8 KB). */
    g_flash.page = 1024u;
    td_ram_flash_erase_all();
    CHECK_EQ(td_store_init(&st, g_scratch, sizeof g_scratch, &size), TD_OK);
    CHECK_EQ(td_store_begin(&st, g_size_a, &slot), TD_OK);
    CHECK_EQ(td_store_commit(&st, g_blob_a, g_size_a), TD_OK);
    CHECK_EQ(td_store_begin(&st, g_size_b, &slot), TD_OK);
    CHECK_EQ(td_store_commit(&st, g_blob_b, g_size_b), TD_OK);
    CHECK(memcmp(g_flash.mem + 4096u, "TDSL", 4) == 0);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);
    g_flash.page = 8192u;
    g_flash.size = 16384u;
    td_ram_flash_erase_all();
    CHECK_EQ(td_store_init(&st, g_scratch, sizeof g_scratch, &size), TD_OK);
    CHECK_EQ(td_store_max_blob(&st), 8192u - 16u);
    CHECK_EQ(td_store_begin(&st, g_size_a, &slot), TD_OK);
    CHECK_EQ(td_store_commit(&st, g_blob_a, g_size_a), TD_OK);
    CHECK_EQ(td_store_begin(&st, g_size_b, &slot), TD_OK);
    CHECK_EQ(td_store_commit(&st, g_blob_b, g_size_b), TD_OK);
    CHECK(memcmp(g_flash.mem + 8192u, "TDSL", 4) == 0);
    CHECK_EQ(rescan(g_blob_b, g_size_b), 1);
    /* Storage smaller than two slots is refused. */
    g_flash.page = 4096u;
    g_flash.size = 4096u;
    CHECK_EQ(td_store_init(&st, g_scratch, sizeof g_scratch, &size), TD_ERR_CAPACITY);
    g_flash.size = 8192u;
    td_ram_flash_erase_all();
}

/* ==== the app over an in-memory link ========================================================= */

static td_app_t g_app;
static uint16_t g_hseq = 100u; /* host's frame counter */

#define MAX_RX_FRAMES 400u
static td_frame_t g_rx[MAX_RX_FRAMES];
static uint32_t g_n_rx;

/* Expected records: a second monitor fed the same frames, encoded with td_proto. */
static td_profile_t g_ref_profile;
static uint8_t g_ref_blob[TD_APP_MAX_PROFILE];
static td_monitor_t g_ref_mon;
static td_window_result_t g_ref_res[64];
static uint32_t g_ref_next_seq;
static uint8_t g_expect[1024][TD_TELEMETRY_MAX_SIZE]; /* by seq, as sent live (flags 0) */
static uint16_t g_expect_len[1024];

static void ref_start(const uint8_t *blob, uint32_t size)
{
    memcpy(g_ref_blob, blob, size);
    CHECK_EQ(td_profile_parse(&g_ref_profile, g_ref_blob, size), TD_OK);
    CHECK_EQ(td_monitor_init(&g_ref_mon, &g_ref_profile), TD_OK);
}

/* Push frames into the reference monitor; returns the number of windows completed and records them as expected. */
static uint32_t ref_push(const int16_t *frames, uint32_t n_frames)
{
    uint32_t n = 0;
    CHECK_EQ(td_monitor_push(&g_ref_mon, frames, n_frames, g_ref_res, 64u, &n), TD_OK);
    for (uint32_t i = 0; i < n; i++) {
        td_proto_record_meta_t meta = {g_ref_next_seq, g_boot, g_ref_profile.profile_id, g_time,
                                       g_ref_profile.n_channels, 0u};
        size_t len = 0;
        CHECK_EQ(td_proto_encode_record(g_expect[g_ref_next_seq], TD_TELEMETRY_MAX_SIZE, &meta, &g_ref_res[i], &len),
                 TD_OK);
        g_expect_len[g_ref_next_seq] = (uint16_t)len;
        g_ref_next_seq++;
    }
    return n;
}

static void queue_bytes(const uint8_t *data, size_t len)
{
    memcpy(g_in + g_in_len, data, len);
    g_in_len += len;
}

static void queue_frame(uint8_t type, uint16_t seq, const uint8_t *payload, size_t len)
{
    size_t wire_len = 0;
    CHECK_EQ(td_frame_encode(type, seq, payload, len, g_in + g_in_len, sizeof g_in - g_in_len, &wire_len), TD_OK);
    g_in_len += wire_len;
}

/* Run the app until all queued input is consumed, then decode everything it sent into g_rx. */
static void run_app(void)
{
    int guard = 0;
    while (g_in_pos < g_in_len && guard++ < 100000) {
        CHECK_EQ(td_app_poll(&g_app), TD_OK);
    }
    for (int i = 0; i < 8; i++) { /* idle polls: sensor frames, nothing else pending */
        CHECK_EQ(td_app_poll(&g_app), TD_OK);
    }
    g_in_len = 0u;
    g_in_pos = 0u;
    g_n_rx = 0u;
    size_t start = 0;
    for (size_t i = 0; i < g_out_len; i++) {
        if (g_out[i] == 0u) {
            if (g_n_rx < MAX_RX_FRAMES) {
                CHECK_EQ(td_frame_decode(g_out + start, i + 1u - start, &g_rx[g_n_rx]), TD_OK);
                g_n_rx++;
            }
            start = i + 1u;
        }
    }
    CHECK_EQ(start, g_out_len); /* every frame the device sends ends with its delimiter */
    g_out_len = 0u;
}

/* Send one request and run the app; returns the request's seq. */
static uint16_t request(uint8_t type, const uint8_t *payload, size_t len)
{
    const uint16_t seq = g_hseq++;
    queue_frame(type, seq, payload, len);
    run_app();
    return seq;
}

/* The last received frame is the ACK (value) or NACK (error) of request (type, seq). */
static int is_reply(const td_frame_t *f, uint8_t type, uint16_t seq, int ack, uint32_t value)
{
    uint8_t rt = 0;
    uint16_t rs = 0;
    uint32_t rv = 0;
    return f->type == (ack ? TD_MSG_ACK : TD_MSG_NACK) &&
           td_proto_decode_reply(f->payload, f->payload_len, &rt, &rs, &rv) == TD_OK && rt == type && rs == seq &&
           rv == value;
}

#define EXPECT_ACK(type, seq, value) CHECK(g_n_rx >= 1u && is_reply(&g_rx[g_n_rx - 1u], (type), (seq), 1, (value)))
#define EXPECT_NACK(type, seq, err) \
    CHECK(g_n_rx == 1u && is_reply(&g_rx[0], (type), (seq), 0, (uint32_t)(int32_t)(err)))

static td_proto_info_t get_info(void)
{
    td_proto_info_t info;
    memset(&info, 0, sizeof info);
    const uint16_t seq = request(TD_MSG_INFO_REQ, NULL, 0u);
    CHECK(g_n_rx == 1u && g_rx[0].type == TD_MSG_INFO);
    if (g_n_rx == 1u) {
        CHECK_EQ(td_proto_decode_info(g_rx[0].payload, g_rx[0].payload_len, &info), TD_OK);
        CHECK_EQ(info.request_seq, seq);
    }
    return info;
}

/* Upload blob with chunk bytes per UPLOAD_CHUNK; announced crc = crc32 ^ crc_xor; returns the COMMIT seq. */
static uint16_t upload(const uint8_t *blob, uint32_t size, uint32_t chunk, uint32_t crc_xor, uint8_t expect_slot)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, size, td_crc32_update(0u, blob, size) ^ crc_xor, &len), TD_OK);
    uint16_t seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_BEGIN, seq, expect_slot);
    for (uint32_t off = 0; off < size; off += chunk) {
        const uint32_t n = size - off < chunk ? size - off : chunk;
        CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, off, blob + off, n, &len), TD_OK);
        seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
        EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, off + n);
    }
    return request(TD_MSG_UPLOAD_COMMIT, NULL, 0u);
}

/* INJECT n_frames; checks TELEMETRY (before the ACK) against the reference and the ACK value. */
static void inject_and_check(const int16_t *frames, uint32_t n_frames)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const uint8_t c = g_ref_profile.n_channels;
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, frames, (size_t)n_frames * c, &len), TD_OK);
    const uint32_t first = g_ref_next_seq;
    const uint32_t n_windows = ref_push(frames, n_frames);
    const uint16_t seq = request(TD_MSG_INJECT, p, len);
    CHECK_EQ(g_n_rx, n_windows + 1u);
    int ok = g_n_rx == n_windows + 1u;
    for (uint32_t i = 0; ok && i < n_windows; i++) {
        const td_frame_t *f = &g_rx[i];
        ok = f->type == TD_MSG_TELEMETRY && f->payload_len == g_expect_len[first + i] &&
             memcmp(f->payload, g_expect[first + i], f->payload_len) == 0;
    }
    CHECK(ok);
    EXPECT_ACK(TD_MSG_INJECT, seq, n_frames);
}

/* Inject a whole recording in INJECT frames of varying sizes. */
static void inject_stream(const int16_t *frames, uint32_t n_frames)
{
    const uint32_t c = g_ref_profile.n_channels;
    const uint32_t max = TD_PROTO_INJECT_MAX_VALUES / c;
    uint32_t done = 0;
    uint32_t k = 0;
    while (done < n_frames) {
        uint32_t n = 1u + (k * 7u) % max;
        if (n > n_frames - done) {
            n = n_frames - done;
        }
        g_time += 13u;
        inject_and_check(frames + (size_t)done * c, n);
        done += n;
        k++;
    }
}

static td_proto_record_t decode_rec(const td_frame_t *f)
{
    td_proto_record_t rec;
    memset(&rec, 0, sizeof rec);
    CHECK_EQ(td_proto_decode_record(f->payload, f->payload_len, &rec), TD_OK);
    return rec;
}

static int16_t g_frames[4096];

static void test_app_basics(void)
{
    td_ram_flash_erase_all();
    g_boot = 7u;
    g_time = 1000u;
    CHECK_EQ(td_app_init(&g_app), TD_OK);

    td_proto_info_t info = get_info();
    CHECK(info.protocol_version == 2u && info.device_uid == 0x0123456789ABCDEFull);
    CHECK(info.board_id == TD_BOARD_HOST && info.active_slot == 0xFFu &&
          info.max_payload == 352u && info.boot_id == 7u && info.firmware_version == TD_FIRMWARE_VERSION &&
          info.profile_id == 0u && info.profile_channels == 0u && info.max_channels == TD_MAX_CHANNELS &&
          info.profile_window == 0u && info.next_seq == 0u && info.oldest_seq == 0u &&
          info.ring_capacity == TD_APP_RING_CAPACITY && info.sensor_rate_hz == 0u && info.frames_processed == 0u &&
          info.link_errors == 0u && info.board_name_len == 10u && memcmp(info.board_name, "test board", 10) == 0);
    /* The uid is the HAL's, asked at every INFO (a high word that would not survive a u32 truncation). */
    g_uid = 0xFEDCBA9876543210ull;
    info = get_info();
    CHECK(info.device_uid == 0xFEDCBA9876543210ull && info.board_name_len == 10u);
    g_uid = 0x0123456789ABCDEFull;

    /* Nothing to monitor yet. */
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const int16_t vals[3] = {1, 2, 3};
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, vals, 3u, &len), TD_OK);
    uint16_t seq = request(TD_MSG_INJECT, p, len);
    EXPECT_NACK(TD_MSG_INJECT, seq, TD_ERR_STATE);
    seq = request(TD_MSG_RESET_ALARM, NULL, 0u);
    EXPECT_NACK(TD_MSG_RESET_ALARM, seq, TD_ERR_STATE);
    const int8_t emb[2] = {1, 2};
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, emb, 2u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_STATE);
    CHECK_EQ(td_app_push_embeddings(&g_app, emb, 1u), TD_ERR_STATE);
    CHECK_EQ(td_proto_encode_sensor(p, sizeof p, 5u, &len), TD_OK);
    seq = request(TD_MSG_SENSOR, p, len);
    EXPECT_NACK(TD_MSG_SENSOR, seq, TD_ERR_STATE);
    CHECK_EQ(td_proto_encode_sensor(p, sizeof p, 0u, &len), TD_OK);
    seq = request(TD_MSG_SENSOR, p, len);
    EXPECT_ACK(TD_MSG_SENSOR, seq, 0u);
    CHECK_EQ(td_app_push_frames(&g_app, vals, 1u), TD_ERR_STATE);

    /* Upload requests out of order. */
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_a, 10u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_NACK(TD_MSG_UPLOAD_CHUNK, seq, TD_ERR_STATE);
    seq = request(TD_MSG_UPLOAD_COMMIT, NULL, 0u);
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_STATE);
    seq = request(TD_MSG_UPLOAD_ABORT, NULL, 0u);
    EXPECT_ACK(TD_MSG_UPLOAD_ABORT, seq, 0u);

    /* Malformed and unknown requests. */
    seq = request(0x42u, NULL, 0u);
    EXPECT_NACK(0x42u, seq, TD_ERR_ARG);
    seq = request(TD_MSG_ACK, p, 8u);
    EXPECT_NACK(TD_MSG_ACK, seq, TD_ERR_ARG);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, 7u);
    EXPECT_NACK(TD_MSG_UPLOAD_BEGIN, seq, TD_ERR_ARG);
    seq = request(TD_MSG_INFO_REQ, p, 1u);
    EXPECT_NACK(TD_MSG_INFO_REQ, seq, TD_ERR_ARG);
    seq = request(TD_MSG_FETCH, p, 5u);
    EXPECT_NACK(TD_MSG_FETCH, seq, TD_ERR_ARG);
    seq = request(TD_MSG_UPLOAD_ABORT, p, 1u);
    EXPECT_NACK(TD_MSG_UPLOAD_ABORT, seq, TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, 0u, 0u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_NACK(TD_MSG_UPLOAD_BEGIN, seq, TD_ERR_SIZE);
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, TD_APP_MAX_PROFILE + 1u, 0u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_NACK(TD_MSG_UPLOAD_BEGIN, seq, TD_ERR_SIZE);

    /* FETCH on an empty ring: nothing, ACK 0. */
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, 0u, 10u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_FETCH, seq, 0u);

    info = get_info();
    CHECK_EQ(info.link_errors, 0u);
    CHECK_EQ(info.active_slot, 0xFFu);
}

static void test_app_upload_and_telemetry(void)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;

    /* Upload A with chunk checks: retry, gap, overrun. */
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, g_size_a, td_crc32_update(0u, g_blob_a, g_size_a), &len),
             TD_OK);
    uint16_t seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_BEGIN, seq, 0u);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_a, 100u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 100u);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len); /* retry with a new seq: ACKed again, not appended */
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 100u);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 101u, g_blob_a + 101, 10u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_NACK(TD_MSG_UPLOAD_CHUNK, seq, TD_ERR_RANGE);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_a, 50u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len); /* an older offset that is not the previous chunk's */
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 100u); /* offset 0 is the previous chunk's offset: a retry */
    uint32_t off = 100u;
    while (off < g_size_a) {
        const uint32_t n = g_size_a - off < 256u ? g_size_a - off : 256u;
        CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, off, g_blob_a + off, n, &len), TD_OK);
        seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
        EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, off + n);
        off += n;
    }
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_a, 50u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len); /* no longer the previous chunk */
    EXPECT_NACK(TD_MSG_UPLOAD_CHUNK, seq, TD_ERR_RANGE);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, g_size_a, g_blob_a, 4u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len); /* past size */
    EXPECT_NACK(TD_MSG_UPLOAD_CHUNK, seq, TD_ERR_RANGE);
    seq = request(TD_MSG_UPLOAD_COMMIT, NULL, 0u);
    EXPECT_ACK(TD_MSG_UPLOAD_COMMIT, seq, 0xA1A2A3A4u);
    /* A retried COMMIT (same seq, ACK lost) is answered again from the retry cache. */
    queue_frame(TD_MSG_UPLOAD_COMMIT, seq, NULL, 0u);
    run_app();
    EXPECT_ACK(TD_MSG_UPLOAD_COMMIT, seq, 0xA1A2A3A4u);
    CHECK_EQ(g_n_rx, 1u);

    td_proto_info_t info = get_info();
    CHECK(info.active_slot == 0u && info.profile_id == 0xA1A2A3A4u && info.profile_channels == 3u &&
          info.profile_window == 8u);
    ref_start(g_blob_a, g_size_a);
    g_ref_next_seq = 0u;

    /* Telemetry equals the reference monitor's results, window by window, sent before the ACK. */
    gen_frames(g_frames, 200u, 3u, 300);
    inject_stream(g_frames, 200u);
    info = get_info();
    CHECK_EQ(info.next_seq, 25u);
    CHECK_EQ(info.frames_processed, 200u);
    CHECK_EQ(info.oldest_seq, 0u);

    /* Byte-by-byte delivery and garbage between frames: ignored, counted as link errors. */
    g_read_chunk = 1u;
    gen_frames(g_frames, 16u, 3u, 300);
    static const uint8_t garbage[] = {0x13, 0x37, 0x42, 0xFF, 0x01, 0x00, 0x00, 0x00, 0x05, 0x01, 0x06, 0x82, 0x00};
    queue_bytes(garbage, sizeof garbage);
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, g_frames, 48u, &len), TD_OK);
    seq = g_hseq++;
    queue_frame(TD_MSG_INJECT, seq, p, len);
    queue_bytes(garbage, sizeof garbage);
    const uint32_t first = g_ref_next_seq;
    CHECK_EQ(ref_push(g_frames, 16u), 2u);
    run_app();
    CHECK_EQ(g_n_rx, 3u);
    CHECK(g_n_rx == 3u && g_rx[0].type == TD_MSG_TELEMETRY &&
          memcmp(g_rx[0].payload, g_expect[first], g_expect_len[first]) == 0 &&
          memcmp(g_rx[1].payload, g_expect[first + 1u], g_expect_len[first + 1u]) == 0);
    EXPECT_ACK(TD_MSG_INJECT, seq, 16u);
    g_read_chunk = 64u;
    info = get_info();
    CHECK(info.link_errors >= 2u);
    CHECK_EQ(info.link_errors, g_app.decoder.n_crc_errors + g_app.decoder.n_format_errors + g_app.decoder.n_overflows);
    const uint32_t errors_before = info.link_errors;

    /* A bad CRC in an otherwise valid frame is dropped (no reply) and counted. */
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, g_frames, 3u, &len), TD_OK);
    queue_frame(TD_MSG_INJECT, g_hseq++, p, len);
    g_in[2] ^= 0x01u; /* inside the COBS-encoded body */
    run_app();
    CHECK_EQ(g_n_rx, 0u);
    info = get_info();
    CHECK_EQ(info.link_errors, errors_before + 1u);

    /* A retried INJECT (same seq and payload, the ACK was lost) is not fed twice: same ACK, no telemetry. */
    gen_frames(g_frames, 8u, 3u, 300);
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, g_frames, 24u, &len), TD_OK);
    g_time += 5u;
    info = get_info();
    const uint32_t frames_before = info.frames_processed;
    const uint32_t first2 = g_ref_next_seq;
    CHECK_EQ(ref_push(g_frames, 8u), 1u);
    seq = request(TD_MSG_INJECT, p, len);
    CHECK(g_n_rx == 2u && memcmp(g_rx[0].payload, g_expect[first2], g_expect_len[first2]) == 0);
    EXPECT_ACK(TD_MSG_INJECT, seq, 8u);
    queue_frame(TD_MSG_INJECT, seq, p, len);
    run_app();
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_INJECT, seq, 8u);
    info = get_info();
    CHECK_EQ(info.frames_processed, frames_before + 8u);
    /* ...but the same payload with a new seq is new data. */
    CHECK_EQ(ref_push(g_frames, 8u), 1u);
    seq = request(TD_MSG_INJECT, p, len);
    CHECK_EQ(g_n_rx, 2u);
    EXPECT_ACK(TD_MSG_INJECT, seq, 8u);

    /* INJECT that is not whole frames. */
    seq = request(TD_MSG_INJECT, p, 4u);
    EXPECT_NACK(TD_MSG_INJECT, seq, TD_ERR_ARG);
    seq = request(TD_MSG_INJECT, p, 0u);
    EXPECT_NACK(TD_MSG_INJECT, seq, TD_ERR_ARG);

    /* Health alarm: a flat channel 0 raises HEALTH and latches; RESET_ALARM clears it. */
    gen_frames(g_frames, 8u, 3u, 300);
    for (uint32_t i = 0; i < 8u; i++) {
        g_frames[3u * i] = 77;
    }
    inject_and_check(g_frames, 8u);
    td_proto_record_t rec = decode_rec(&g_rx[0]);
    CHECK(rec.trigger == TD_TRIGGER_HEALTH && rec.alarm == 1u && rec.stuck_mask == 1u);
    gen_frames(g_frames, 8u, 3u, 300);
    inject_and_check(g_frames, 8u);
    rec = decode_rec(&g_rx[0]);
    CHECK(rec.trigger == 0u && rec.alarm == 1u); /* latched */
    seq = request(TD_MSG_RESET_ALARM, NULL, 0u);
    EXPECT_ACK(TD_MSG_RESET_ALARM, seq, 0u);
    CHECK_EQ(td_monitor_reset_alarm(&g_ref_mon), TD_OK);
    gen_frames(g_frames, 8u, 3u, 300);
    inject_and_check(g_frames, 8u);
    rec = decode_rec(&g_rx[0]);
    CHECK(rec.trigger == 0u && rec.alarm == 0u && rec.meta.n_channels == 3u && rec.meta.boot_id == 7u &&
          rec.meta.profile_id == 0xA1A2A3A4u && rec.meta.flags == 0u);

    /* td_app_push_frames directly (what a board with its own sensor loop calls). */
    gen_frames(g_frames, 9u, 3u, 300);
    CHECK_EQ(ref_push(g_frames, 9u), 1u);
    CHECK_EQ(td_app_push_frames(&g_app, g_frames, 9u), TD_OK);
    run_app();
    CHECK(g_n_rx == 1u && g_rx[0].type == TD_MSG_TELEMETRY &&
          memcmp(g_rx[0].payload, g_expect[g_ref_next_seq - 1u], g_rx[0].payload_len) == 0);
    CHECK_EQ(td_app_push_frames(&g_app, NULL, 1u), TD_ERR_ARG);
    CHECK_EQ(td_app_push_frames(&g_app, g_frames, 0u), TD_OK);
    gen_frames(g_frames, 7u, 3u, 300); /* finish the window the 9 frames started */
    inject_and_check(g_frames, 7u);

    /* Sensor sampling: the board's frames become telemetry on td_app_poll. */
    g_sensor_status = TD_OK;
    CHECK_EQ(td_proto_encode_sensor(p, sizeof p, 50u, &len), TD_OK);
    seq = request(TD_MSG_SENSOR, p, len);
    EXPECT_ACK(TD_MSG_SENSOR, seq, 50u);
    gen_frames(g_sensor_frames, 100u, 3u, -200);
    g_sensor_n = 300u;
    g_sensor_pos = 0u;
    const uint32_t first3 = g_ref_next_seq;
    CHECK_EQ(ref_push(g_sensor_frames, 100u), 12u);
    run_app();
    CHECK_EQ(g_n_rx, 12u);
    int ok = g_n_rx == 12u;
    for (uint32_t i = 0; ok && i < 12u; i++) {
        ok = memcmp(g_rx[i].payload, g_expect[first3 + i], g_expect_len[first3 + i]) == 0;
    }
    CHECK(ok);
    info = get_info();
    CHECK_EQ(info.sensor_rate_hz, 50u);
    CHECK_EQ(td_proto_encode_sensor(p, sizeof p, 0u, &len), TD_OK);
    seq = request(TD_MSG_SENSOR, p, len);
    EXPECT_ACK(TD_MSG_SENSOR, seq, 0u);
    gen_frames(g_frames, 4u, 3u, 300); /* complete the window the sensor frames left open */
    inject_and_check(g_frames, 4u);
    g_sensor_status = TD_ERR_MODE;
    CHECK_EQ(td_proto_encode_sensor(p, sizeof p, 10u, &len), TD_OK);
    seq = request(TD_MSG_SENSOR, p, len);
    EXPECT_NACK(TD_MSG_SENSOR, seq, TD_ERR_MODE);

    /* FETCH: replayed copies of the live records, flag set, oldest first; ACK = where to continue. */
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, 0u, 1000u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK_EQ(g_n_rx, g_ref_next_seq + 1u);
    ok = g_n_rx == g_ref_next_seq + 1u;
    for (uint32_t s = 0; ok && s < g_ref_next_seq; s++) {
        const td_frame_t *f = &g_rx[s];
        ok = f->type == TD_MSG_TELEMETRY && f->payload_len == g_expect_len[s] &&
             f->payload[TD_TELEMETRY_FLAGS_OFFSET] == TD_TELEMETRY_FLAG_REPLAYED &&
             memcmp(f->payload, g_expect[s], TD_TELEMETRY_FLAGS_OFFSET) == 0 &&
             memcmp(f->payload + 50, g_expect[s] + 50, g_expect_len[s] - 50u) == 0;
    }
    CHECK(ok);
    EXPECT_ACK(TD_MSG_FETCH, seq, g_ref_next_seq);
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, 2u, 3u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK(g_n_rx == 4u && decode_rec(&g_rx[0]).meta.seq == 2u && decode_rec(&g_rx[2]).meta.seq == 4u);
    EXPECT_ACK(TD_MSG_FETCH, seq, 5u);
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, g_ref_next_seq + 10u, 3u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_FETCH, seq, g_ref_next_seq);

    /* A dead link loses live frames but not records: FETCH brings them back. */
    const uint32_t lost = g_ref_next_seq;
    gen_frames(g_frames, 16u, 3u, 300);
    CHECK_EQ(ref_push(g_frames, 16u), 2u);
    g_link_down = 1;
    CHECK_EQ(td_app_push_frames(&g_app, g_frames, 16u), TD_OK);
    g_link_down = 0;
    run_app();
    CHECK_EQ(g_n_rx, 0u);
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, lost, 100u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK(g_n_rx == 3u && memcmp(g_rx[1].payload + 50, g_expect[lost + 1u] + 50, g_expect_len[lost + 1u] - 50u) == 0);
    EXPECT_ACK(TD_MSG_FETCH, seq, lost + 2u);

    /* Overflow the ring: FETCH from 0 starts at the oldest record held (the host sees the gap). */
    gen_frames(g_frames, 1200u, 3u, 300);
    inject_stream(g_frames, 1200u);
    info = get_info();
    CHECK_EQ(info.next_seq, g_ref_next_seq);
    CHECK_EQ(info.oldest_seq, g_ref_next_seq - TD_APP_RING_CAPACITY);
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, 0u, 2u, &len), TD_OK);
    seq = request(TD_MSG_FETCH, p, len);
    CHECK(g_n_rx == 3u && decode_rec(&g_rx[0]).meta.seq == info.oldest_seq);
    EXPECT_ACK(TD_MSG_FETCH, seq, info.oldest_seq + 2u);

    /* LOG. */
    CHECK_EQ(td_app_log(&g_app, TD_LOG_INFO, "hello"), TD_OK);
    run_app();
    CHECK(g_n_rx == 1u && g_rx[0].type == TD_MSG_LOG && g_rx[0].payload_len == 6u && g_rx[0].payload[0] == 1u &&
          memcmp(g_rx[0].payload + 1, "hello", 5) == 0);
}

static void test_app_failed_uploads_and_reboot(void)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;

    /* Wrong CRC: COMMIT is refused, A stays active and keeps monitoring. */
    uint16_t seq = upload(g_blob_b, g_size_b, 64u, 1u, 1u);
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_CRC);
    td_proto_info_t info = get_info();
    CHECK(info.profile_id == 0xA1A2A3A4u && info.active_slot == 0u);
    gen_frames(g_frames, 16u, 3u, 300);
    inject_and_check(g_frames, 16u);
    seq = request(TD_MSG_UPLOAD_COMMIT, NULL, 0u); /* the failed upload is over */
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_STATE);

    /* Missing bytes: TRUNCATED. */
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, g_size_b, td_crc32_update(0u, g_blob_b, g_size_b), &len),
             TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_BEGIN, seq, 1u);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_b, 100u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 100u);
    seq = request(TD_MSG_UPLOAD_COMMIT, NULL, 0u);
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_TRUNCATED);

    /* Right CRC over something that is not a profile: the parser's code. */
    static uint8_t junk[300];
    memset(junk, 0x42, sizeof junk);
    seq = upload(junk, sizeof junk, 100u, 0u, 1u);
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_MAGIC);

    /* ABORT ends an upload. */
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, g_size_b, 0u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    seq = request(TD_MSG_UPLOAD_ABORT, NULL, 0u);
    EXPECT_ACK(TD_MSG_UPLOAD_ABORT, seq, 0u);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_b, 10u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_NACK(TD_MSG_UPLOAD_CHUNK, seq, TD_ERR_STATE);

    /* Flash write failure during COMMIT: NACKed, A stays active now and after a reboot. */
    g_writes_left = 0;
    seq = upload(g_blob_b, g_size_b, 256u, 0u, 1u);
    g_writes_left = -1;
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_STATE);
    info = get_info();
    CHECK_EQ(info.profile_id, 0xA1A2A3A4u);

    /* Interrupted upload: BEGIN and some chunks, then the device reboots. A survives. */
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, g_size_b, td_crc32_update(0u, g_blob_b, g_size_b), &len),
             TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_BEGIN, seq, 1u);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_b, 100u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 100u);
    g_boot = 8u;
    CHECK_EQ(td_app_init(&g_app), TD_OK);
    info = get_info();
    CHECK(info.profile_id == 0xA1A2A3A4u && info.active_slot == 0u && info.boot_id == 8u && info.next_seq == 0u &&
          info.oldest_seq == 0u && info.frames_processed == 0u && info.link_errors == 0u);
    seq = request(TD_MSG_UPLOAD_COMMIT, NULL, 0u); /* the upload died with the reboot */
    EXPECT_NACK(TD_MSG_UPLOAD_COMMIT, seq, TD_ERR_STATE);
    ref_start(g_blob_a, g_size_a);
    g_ref_next_seq = 0u;
    gen_frames(g_frames, 24u, 3u, 300);
    inject_and_check(g_frames, 24u);
    CHECK_EQ(decode_rec(&g_rx[0]).meta.seq, 0u);
    CHECK_EQ(decode_rec(&g_rx[0]).window_index, 0u);

    /* Interrupted upload then a new BEGIN: the new upload starts over and succeeds. */
    CHECK_EQ(td_proto_encode_upload_begin(p, sizeof p, g_size_c, td_crc32_update(0u, g_blob_c, g_size_c), &len),
             TD_OK);
    seq = request(TD_MSG_UPLOAD_BEGIN, p, len);
    CHECK_EQ(td_proto_encode_upload_chunk(p, sizeof p, 0u, g_blob_c, 200u, &len), TD_OK);
    seq = request(TD_MSG_UPLOAD_CHUNK, p, len);
    EXPECT_ACK(TD_MSG_UPLOAD_CHUNK, seq, 200u);
    seq = upload(g_blob_b, g_size_b, 37u, 0u, 1u);
    EXPECT_ACK(TD_MSG_UPLOAD_COMMIT, seq, 0xB1B2B3B4u);
    info = get_info();
    CHECK(info.profile_id == 0xB1B2B3B4u && info.active_slot == 1u && info.profile_channels == 2u &&
          info.profile_window == 4u);
    /* The monitor restarted on B: window index 0, 2-channel records; the ring keeps its seq. */
    ref_start(g_blob_b, g_size_b);
    gen_frames(g_frames, 44u, 2u, -5000);
    inject_stream(g_frames, 40u);
    inject_and_check(g_frames + 80, 4u);
    CHECK(g_n_rx == 2u && g_rx[1].seq == (uint16_t)(g_rx[0].seq + 1u)); /* the device's own frame counter */
    CHECK_EQ(decode_rec(&g_rx[0]).meta.n_channels, 2u);
    CHECK_EQ(decode_rec(&g_rx[0]).meta.profile_id, 0xB1B2B3B4u);
    /* 5 values are not whole 2-channel frames. */
    const int16_t five[5] = {1, 2, 3, 4, 5};
    CHECK_EQ(td_proto_encode_inject(p, sizeof p, five, 5u, &len), TD_OK);
    seq = request(TD_MSG_INJECT, p, len);
    EXPECT_NACK(TD_MSG_INJECT, seq, TD_ERR_ARG);

    /* Reboot: B (generation 2, slot 1) is loaded. */
    g_boot = 9u;
    CHECK_EQ(td_app_init(&g_app), TD_OK);
    info = get_info();
    CHECK(info.profile_id == 0xB1B2B3B4u && info.active_slot == 1u && info.boot_id == 9u && info.next_seq == 0u);
    ref_start(g_blob_b, g_size_b);
    g_ref_next_seq = 0u;
    gen_frames(g_frames, 12u, 2u, 100);
    inject_stream(g_frames, 12u);

    /* The next upload goes to slot 0 (generation 3) and wins after a reboot too. */
    seq = upload(g_blob_c, g_size_c, 256u, 0u, 0u);
    EXPECT_ACK(TD_MSG_UPLOAD_COMMIT, seq, 0xC1C2C3C4u);
    g_boot = 10u;
    CHECK_EQ(td_app_init(&g_app), TD_OK);
    info = get_info();
    CHECK(info.profile_id == 0xC1C2C3C4u && info.active_slot == 0u && info.profile_channels == 6u);
    ref_start(g_blob_c, g_size_c);
    g_ref_next_seq = 0u;
    gen_frames(g_frames, 80u, 6u, 0);
    inject_stream(g_frames, 64u);
    inject_and_check(g_frames + 64 * 6, 16u);
    CHECK_EQ(g_rx[0].payload_len, 172u); /* 6-channel record */

    /* Reconnect: a partial frame from the old session is dropped without counting an error. */
    const uint32_t errors = get_info().link_errors;
    uint8_t wire[TD_FRAME_MAX_WIRE];
    size_t wire_len = 0;
    CHECK_EQ(td_frame_encode(TD_MSG_INFO_REQ, 1u, NULL, 0u, wire, sizeof wire, &wire_len), TD_OK);
    queue_bytes(wire, 5u);
    run_app();
    CHECK_EQ(g_n_rx, 0u);
    CHECK_EQ(td_app_link_reset(&g_app), TD_OK);
    info = get_info();
    CHECK_EQ(info.link_errors, errors);
}

/* ==== external-embedding profiles: INJECT_EMBEDDING ================================================ */

static uint8_t g_blob_e[TD_APP_MAX_PROFILE];
static uint8_t g_blob_f[TD_APP_MAX_PROFILE];
static int8_t g_emb[70000];

/* Upload blob into the inactive slot and check it became active. */
static void activate_blob(const uint8_t *blob, uint32_t size, uint32_t profile_id)
{
    const td_proto_info_t before = get_info();
    const uint8_t slot = before.active_slot == 0u ? 1u : 0u;
    const uint16_t seq = upload(blob, size, 256u, 0u, slot);
    EXPECT_ACK(TD_MSG_UPLOAD_COMMIT, seq, profile_id);
    ref_start(blob, size);
}

/* INJECT_EMBEDDING of n embeddings (one message); the reference monitor gets the same embeddings. */
static uint16_t inject_embeddings_and_check(const int8_t *emb, uint32_t n)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const uint32_t dims = g_ref_profile.n_dims;
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, emb, (size_t)n * dims, &len), TD_OK);
    for (uint32_t i = 0; i < n; i++) {
        CHECK_EQ(td_monitor_push_embedding(&g_ref_mon, emb + (size_t)i * dims, dims), TD_OK);
    }
    const uint16_t seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
    CHECK_EQ(g_n_rx, 1u); /* embeddings never complete a window: the ACK only */
    EXPECT_ACK(TD_MSG_INJECT_EMBEDDING, seq, n);
    return seq;
}

static void gen_embeddings(int8_t *out, uint32_t n_values)
{
    for (uint32_t i = 0; i < n_values; i++) {
        out[i] = (int8_t)((int32_t)(xs_next() % 256u) - 128);
    }
}

static void test_app_external_embeddings(void)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const int8_t two[2] = {5, -5};

    /* A PCA profile is active (C from the previous test): INJECT_EMBEDDING is the wrong mode. */
    td_proto_info_t info = get_info();
    CHECK_EQ(info.profile_id, 0xC1C2C3C4u);
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, two, 2u, &len), TD_OK);
    uint16_t seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_MODE);
    CHECK_EQ(td_app_push_embeddings(&g_app, two, 1u), TD_ERR_MODE);

    /* External profile E: 3 channels, 5 dims, 4 centroids, window 8, scale 0.1, zero point 3. */
    const pspec_t e = {3u, 5u, 4u, 8u, 0xE1E2E3E4u};
    const uint32_t size_e = build_ext_profile(g_blob_e, sizeof g_blob_e, &e, 1677722u, 3);
    td_profile_t parsed;
    CHECK_EQ(td_profile_parse(&parsed, g_blob_e, size_e), TD_OK);
    CHECK(parsed.flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING);
    activate_blob(g_blob_e, size_e, 0xE1E2E3E4u);
    const uint32_t first_seq = g_ref_next_seq = get_info().next_seq;

    /* Malformed: not whole 5-value embeddings, empty. Nothing is added (the records below prove it). */
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb, 7u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_ARG);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, 0u);
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_ARG);

    /* 60 windows: 0..3 embeddings per window at random frame positions (before a window's first frame,
     * between INJECT messages, in messages of several embeddings), frames in INJECT messages of random
     * sizes that also span windows. Every record equals the directly driven monitor's, byte for byte. */
    const uint32_t n_windows = 60u;
    const uint32_t total = n_windows * e.window;
    static int16_t frames[60u * 8u * 3u];
    gen_frames(frames, total, 3u, 200);
    static uint32_t pos[60u * 3u];
    uint32_t n_pos = 0;
    uint32_t per_window[60];
    for (uint32_t w = 0; w < n_windows; w++) {
        per_window[w] = xs_next() % 4u;
        for (uint32_t k = 0; k < per_window[w]; k++) {
            pos[n_pos++] = w * e.window + xs_next() % e.window; /* after pos frames: inside window w */
        }
    }
    for (uint32_t i = 1; i < n_pos; i++) { /* insertion sort */
        const uint32_t v = pos[i];
        uint32_t j = i;
        for (; j > 0u && pos[j - 1u] > v; j--) {
            pos[j] = pos[j - 1u];
        }
        pos[j] = v;
    }
    gen_embeddings(g_emb, n_pos * e.n_dims);
    uint32_t done = 0;
    uint32_t next = 0;
    while (done < total || next < n_pos) {
        if (next < n_pos && pos[next] == done) {
            uint32_t group = 1u;
            while (next + group < n_pos && pos[next + group] == done) {
                group++;
            }
            inject_embeddings_and_check(g_emb + (size_t)next * e.n_dims, group);
            next += group;
            continue;
        }
        uint32_t upto = next < n_pos ? pos[next] : total;
        uint32_t n = 1u + xs_next() % 20u; /* up to 20 frames: often across a window boundary */
        if (n > upto - done) {
            n = upto - done;
        }
        g_time += 3u;
        inject_and_check(frames + (size_t)done * 3u, n);
        done += n;
    }
    CHECK_EQ(g_ref_next_seq, first_seq + n_windows);
    /* The records carry each window's embedding count; some windows alarm, empty windows score 0. */
    CHECK_EQ(td_proto_encode_fetch(p, sizeof p, first_seq, 100u, &len), TD_OK);
    request(TD_MSG_FETCH, p, len);
    CHECK_EQ(g_n_rx, n_windows + 1u);
    int counts_ok = g_n_rx == n_windows + 1u;
    uint32_t triggered = 0;
    for (uint32_t w = 0; counts_ok && w < n_windows; w++) {
        const td_proto_record_t rec = decode_rec(&g_rx[w]);
        counts_ok = rec.n_embeddings == per_window[w] && rec.window_index == w && rec.recon_q8 == 0u &&
                    rec.score_q8 == rec.dist_q8 && (per_window[w] > 0u || rec.dist_q8 == 0u);
        triggered += rec.trigger != 0u;
    }
    CHECK(counts_ok);
    CHECK(triggered > 0u);

    /* A retried INJECT_EMBEDDING (same seq and payload, ACK lost) is not added twice. */
    gen_embeddings(g_emb, 2u * e.n_dims);
    seq = inject_embeddings_and_check(g_emb, 2u);
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb, 2u * e.n_dims, &len), TD_OK);
    queue_frame(TD_MSG_INJECT_EMBEDDING, seq, p, len);
    run_app();
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_INJECT_EMBEDDING, seq, 2u);
    /* The same payload with a new seq is new data. */
    inject_embeddings_and_check(g_emb, 2u);
    gen_frames(frames, 8u, 3u, 200);
    inject_and_check(frames, 8u);
    CHECK_EQ(decode_rec(&g_rx[0]).n_embeddings, 4u);

    /* td_app_push_embeddings directly (a board running its own model). */
    gen_embeddings(g_emb, 3u * e.n_dims);
    CHECK_EQ(td_app_push_embeddings(&g_app, g_emb, 3u), TD_OK);
    for (uint32_t i = 0; i < 3u; i++) {
        CHECK_EQ(td_monitor_push_embedding(&g_ref_mon, g_emb + (size_t)i * e.n_dims, e.n_dims), TD_OK);
    }
    CHECK_EQ(td_app_push_embeddings(&g_app, g_emb, 0u), TD_OK);
    CHECK_EQ(td_app_push_embeddings(&g_app, NULL, 1u), TD_ERR_ARG);
    CHECK_EQ(td_app_push_embeddings(NULL, g_emb, 1u), TD_ERR_ARG);
    inject_and_check(frames, 8u);
    CHECK_EQ(decode_rec(&g_rx[0]).n_embeddings, 3u);

    /* Capacity: a 1-dim profile takes 320 embeddings per message, at most 65535 per window. */
    const pspec_t f = {2u, 1u, 2u, 4u, 0xF1F2F3F4u};
    const uint32_t size_f = build_ext_profile(g_blob_f, sizeof g_blob_f, &f, 1u << 24, -128);
    activate_blob(g_blob_f, size_f, 0xF1F2F3F4u);
    g_ref_next_seq = get_info().next_seq;
    gen_embeddings(g_emb, 65535u + 320u);
    uint32_t added = 0;
    int acks_ok = 1;
    for (uint32_t m = 0; m < 204u; m++) { /* 204 x 320 = 65280 */
        CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb + added, 320u, &len), TD_OK);
        seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
        acks_ok &= g_n_rx == 1u && is_reply(&g_rx[0], TD_MSG_INJECT_EMBEDDING, seq, 1, 320u);
        added += 320u;
    }
    CHECK(acks_ok);
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb + added, 320u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, len); /* 65600 > 65535: none of the 320 is added */
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_CAPACITY);
    CHECK_EQ(td_app_push_embeddings(&g_app, g_emb, 256u), TD_ERR_CAPACITY);
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb + added, 255u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, len); /* exactly to the limit */
    EXPECT_ACK(TD_MSG_INJECT_EMBEDDING, seq, 255u);
    added += 255u;
    CHECK_EQ(td_proto_encode_inject_embedding(p, sizeof p, g_emb, 1u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_EMBEDDING, p, len);
    EXPECT_NACK(TD_MSG_INJECT_EMBEDDING, seq, TD_ERR_CAPACITY);
    int ref_ok = 1;
    for (uint32_t i = 0; i < added; i++) {
        ref_ok &= td_monitor_push_embedding(&g_ref_mon, g_emb + i, 1u) == TD_OK;
    }
    CHECK(ref_ok);
    gen_frames(frames, 4u, 2u, 0);
    inject_and_check(frames, 4u);
    const td_proto_record_t full = decode_rec(&g_rx[0]);
    CHECK_EQ(full.n_embeddings, 65535u);
    CHECK(full.dist_q8 > 0u);
    /* The next window starts empty again. */
    inject_embeddings_and_check(g_emb, 320u);
    inject_and_check(frames, 4u);
    CHECK_EQ(decode_rec(&g_rx[0]).n_embeddings, 320u);

    /* A new upload restarts the window: its pending embeddings are dropped with it. */
    inject_embeddings_and_check(g_emb, 320u);
    activate_blob(g_blob_e, size_e, 0xE1E2E3E4u);
    g_ref_next_seq = get_info().next_seq;
    inject_embeddings_and_check(g_emb, 64u); /* 64 x 5 = 320 bytes: a full message */
    gen_frames(frames, 8u, 3u, 200);
    inject_and_check(frames, 8u);
    CHECK_EQ(decode_rec(&g_rx[0]).n_embeddings, 64u);
}

/* ==== outputs profiles: INJECT_OUTPUTS and LABEL ==================================================== */

static uint8_t g_blob_o[TD_APP_MAX_PROFILE];
static int8_t g_probs[80u * 16u];

/* Append a valid outputs section (n_classes, n_bins; int8 softmax quantization) to a built profile. */
static uint32_t add_outputs(uint8_t *b, uint32_t cap, uint32_t size, uint8_t n_classes, uint8_t n_bins)
{
    const uint32_t off = size - 4u; /* the section replaces the CRC, which moves to the end */
    const uint32_t new_size = size + 12u + 4u * n_classes + 4u * n_bins;
    if (new_size > cap) {
        printf("profile buffer too small\n");
        exit(2);
    }
    put_u16(b + 22, (uint16_t)(b[22] | (b[23] << 8) | TD_PROFILE_FLAG_OUTPUTS));
    put_u32(b + 8, new_size);
    b[off] = n_classes;
    b[off + 1u] = n_bins;
    b[off + 2u] = 0u;
    b[off + 3u] = 0u;
    put_u32(b + off + 4u, 1u << 16);      /* scale 1/256 */
    put_u32(b + off + 8u, (uint32_t)-128); /* zero point */
    uint32_t left = 65536u;
    for (uint32_t c = 0; c < n_classes; c++) {
        const uint32_t prior = c + 1u == n_classes ? left : left / 2u;
        put_u32(b + off + 12u + 4u * c, prior);
        left -= prior;
    }
    for (uint32_t k = 0; k < n_bins; k++) {
        put_u32(b + off + 12u + 4u * n_classes + 4u * k, (uint32_t)(((uint64_t)k * 2u + 1u) * 65536u / (2u * n_bins)));
    }
    put_u32(b + new_size - 4u, td_crc32_update(0u, b, new_size - 4u));
    return new_size;
}

/* n random probability vectors of n_classes int8 values; predicted[i] gets the argmax (lowest index on ties). */
static void gen_probs(int8_t *out, uint32_t n, uint8_t n_classes, uint8_t *predicted)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t best = 0u;
        for (uint32_t c = 0; c < n_classes; c++) {
            out[i * n_classes + c] = (int8_t)((int32_t)(xs_next() % 256u) - 128);
            if (out[i * n_classes + c] > out[i * n_classes + best]) {
                best = (uint8_t)c;
            }
        }
        if (predicted != NULL) {
            predicted[i] = best;
        }
    }
}

/* INJECT_OUTPUTS of n vectors (one message): the reference monitor gets the same; ACK = first inference seq. */
static uint16_t inject_outputs_and_check(const int8_t *probs, uint32_t n)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const uint32_t k = g_ref_mon.out.cfg.n_classes;
    CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, probs, (size_t)n * k, &len), TD_OK);
    uint32_t first = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t seq = 0;
        CHECK_EQ(td_monitor_push_outputs(&g_ref_mon, probs + (size_t)i * k, k, &seq), TD_OK);
        if (i == 0u) {
            first = seq;
        }
    }
    const uint16_t seq = request(TD_MSG_INJECT_OUTPUTS, p, len);
    CHECK_EQ(g_n_rx, 1u); /* outputs never complete a window: the ACK only */
    EXPECT_ACK(TD_MSG_INJECT_OUTPUTS, seq, first);
    return seq;
}

/* LABEL of n pairs that all apply: the reference monitor gets the same; ACK = n. */
static uint16_t label_and_check(const uint32_t *seqs, const uint8_t *labels, uint32_t n)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    CHECK_EQ(td_proto_encode_label(p, sizeof p, seqs, labels, n, &len), TD_OK);
    int ok = 1;
    for (uint32_t i = 0; i < n; i++) {
        ok &= td_monitor_push_label(&g_ref_mon, seqs[i], labels[i]) == TD_OK;
    }
    CHECK(ok);
    const uint16_t seq = request(TD_MSG_LABEL, p, len);
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_LABEL, seq, n);
    return seq;
}

static void test_app_outputs(void)
{
    uint8_t p[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    const int8_t four[4] = {1, 2, 3, 4};
    const uint32_t one_seq = 0u;
    const uint8_t one_label = 0u;
    static int16_t frames[8u * 3u * 4u];

    /* An external-embedding profile without outputs section is active (previous test): TD_ERR_MODE. */
    CHECK_EQ(get_info().profile_id, 0xE1E2E3E4u);
    CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, four, 4u, &len), TD_OK);
    uint16_t seq = request(TD_MSG_INJECT_OUTPUTS, p, len);
    EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_MODE);
    CHECK_EQ(td_proto_encode_label(p, sizeof p, &one_seq, &one_label, 1u, &len), TD_OK);
    seq = request(TD_MSG_LABEL, p, len);
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_MODE);
    CHECK_EQ(td_app_push_outputs(&g_app, four, 1u, NULL), TD_ERR_MODE);
    CHECK_EQ(td_app_push_labels(&g_app, &one_seq, &one_label, 1u, NULL), TD_ERR_MODE);

    /* No profile at all (erased storage, reboot): TD_ERR_STATE. */
    td_ram_flash_erase_all();
    g_boot++;
    CHECK_EQ(td_app_init(&g_app), TD_OK);
    CHECK_EQ(get_info().active_slot, TD_PROTO_NO_SLOT);
    CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, four, 4u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_OUTPUTS, p, len);
    EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_STATE);
    CHECK_EQ(td_proto_encode_label(p, sizeof p, &one_seq, &one_label, 1u, &len), TD_OK);
    seq = request(TD_MSG_LABEL, p, len);
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_STATE);
    CHECK_EQ(td_app_push_outputs(&g_app, four, 1u, NULL), TD_ERR_STATE);
    CHECK_EQ(td_app_push_labels(&g_app, &one_seq, &one_label, 1u, NULL), TD_ERR_STATE);
    CHECK_EQ(td_app_push_outputs(NULL, four, 1u, NULL), TD_ERR_ARG);
    CHECK_EQ(td_app_push_labels(NULL, &one_seq, &one_label, 1u, NULL), TD_ERR_ARG);

    /* Outputs profile O: PCA, 3 channels, 2 dims, 2 centroids, window 8; 4 classes, 4 confidence bins. */
    const pspec_t o = {3u, 2u, 2u, 8u, 0x0A0B0C0Du};
    uint32_t size_o = build_profile(g_blob_o, sizeof g_blob_o, &o);
    size_o = add_outputs(g_blob_o, sizeof g_blob_o, size_o, 4u, 4u);
    td_profile_t parsed;
    CHECK_EQ(td_profile_parse(&parsed, g_blob_o, size_o), TD_OK);
    CHECK(parsed.outputs != NULL);
    activate_blob(g_blob_o, size_o, 0x0A0B0C0Du);
    g_ref_next_seq = get_info().next_seq;
    const uint32_t first_rec = g_ref_next_seq;

    /* Malformed messages change nothing (the records below prove it). */
    CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, g_probs, 6u, &len), TD_OK);
    seq = request(TD_MSG_INJECT_OUTPUTS, p, len); /* 6 bytes: not whole 4-class vectors */
    EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_ARG);
    seq = request(TD_MSG_INJECT_OUTPUTS, p, 0u);
    EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_ARG);
    memset(p, 0, sizeof p);
    seq = request(TD_MSG_INJECT_OUTPUTS, p, 324u); /* whole vectors, but more than 320 bytes */
    EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_ARG);
    seq = request(TD_MSG_LABEL, p, 7u);
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_ARG);
    seq = request(TD_MSG_LABEL, p, 0u);
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_ARG);
    seq = request(TD_MSG_LABEL, p, 5u * 65u); /* 65 pairs */
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_ARG);
    CHECK_EQ(td_proto_encode_label(p, sizeof p, &one_seq, &one_label, 1u, &len), TD_OK);
    seq = request(TD_MSG_LABEL, p, len); /* inference 0 was not pushed yet */
    EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_RANGE);

    /* 80 windows: 0..5 inferences per window in INJECT_OUTPUTS messages at random frame positions, labels for
     * them now or a few messages later; the first 200 labels are right 90 % of the time, later ones always
     * wrong, so DDM signals concept drift. Every record equals the directly driven monitor's, byte for byte. */
    static uint8_t predicted[1024];
    static uint32_t pending_seqs[1024];
    static uint8_t pending_labels[1024];
    uint32_t n_pending = 0;
    uint32_t n_inferences = 0;
    uint32_t n_labelled = 0;
    uint32_t concept = 0;
    uint32_t records = 0;
    for (uint32_t w = 0; w < 80u; w++) {
        uint32_t done = 0;
        while (done < o.window) {
            const uint32_t r = xs_next() % 4u;
            if (r == 0u) {
                const uint32_t n = 1u + xs_next() % 3u;
                gen_probs(g_probs, n, 4u, predicted + n_inferences);
                inject_outputs_and_check(g_probs, n);
                for (uint32_t i = 0; i < n; i++) {
                    const uint8_t pred = predicted[n_inferences + i];
                    const int right = n_labelled + n_pending < 200u ? xs_next() % 10u != 0u : 0;
                    pending_seqs[n_pending] = n_inferences + i;
                    pending_labels[n_pending] = right ? pred : (uint8_t)((pred + 1u) % 4u);
                    n_pending++;
                }
                n_inferences += n;
            } else if (r == 1u && n_pending > 0u) {
                label_and_check(pending_seqs, pending_labels, n_pending);
                n_labelled += n_pending;
                n_pending = 0u;
            } else {
                uint32_t n = 1u + xs_next() % 5u;
                if (n > o.window - done) {
                    n = o.window - done;
                }
                gen_frames(frames, n, 3u, 0);
                g_time += 2u;
                inject_and_check(frames, n);
                for (uint32_t i = 0; i + 1u < g_n_rx; i++) {
                    const td_proto_record_t rec = decode_rec(&g_rx[i]);
                    concept += (rec.trigger & TD_TRIGGER_CONCEPT) != 0u;
                    records++;
                }
                done += n;
            }
        }
    }
    CHECK_EQ(records, 80u);
    CHECK_EQ(g_ref_next_seq, first_rec + 80u);
    CHECK(n_labelled > 200u);
    CHECK(concept > 0u);

    /* Retries (same seq and payload, ACK lost) are not applied twice; the cached ACK is resent. */
    gen_probs(g_probs, 2u, 4u, predicted);
    seq = inject_outputs_and_check(g_probs, 2u);
    CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, g_probs, 8u, &len), TD_OK);
    queue_frame(TD_MSG_INJECT_OUTPUTS, seq, p, len);
    run_app();
    EXPECT_ACK(TD_MSG_INJECT_OUTPUTS, seq, n_inferences);
    pending_seqs[0] = n_inferences;
    pending_labels[0] = predicted[0];
    seq = label_and_check(pending_seqs, pending_labels, 1u);
    CHECK_EQ(td_proto_encode_label(p, sizeof p, pending_seqs, pending_labels, 1u, &len), TD_OK);
    queue_frame(TD_MSG_LABEL, seq, p, len);
    run_app();
    CHECK_EQ(g_n_rx, 1u);
    EXPECT_ACK(TD_MSG_LABEL, seq, 1u); /* run again, it would be NACKed TD_ERR_STATE (labelled already) */

    /* A failing pair: the ones before it stay applied, the ones after it are not; NACK with its status. */
    {
        const uint32_t seqs[3] = {n_inferences + 1u, n_inferences, n_inferences + 1u};
        const uint8_t labels[3] = {predicted[1], 0u, 0u};
        CHECK_EQ(td_proto_encode_label(p, sizeof p, seqs, labels, 3u, &len), TD_OK);
        CHECK_EQ(td_monitor_push_label(&g_ref_mon, seqs[0], labels[0]), TD_OK);
        seq = request(TD_MSG_LABEL, p, len);
        EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_STATE);
        const uint32_t bad_class[1] = {n_inferences};
        const uint8_t bad_label[1] = {4u};
        CHECK_EQ(td_proto_encode_label(p, sizeof p, bad_class, bad_label, 1u, &len), TD_OK);
        seq = request(TD_MSG_LABEL, p, len);
        EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_ARG);
        const uint32_t future[1] = {n_inferences + 2u};
        CHECK_EQ(td_proto_encode_label(p, sizeof p, future, bad_label, 1u, &len), TD_OK);
        seq = request(TD_MSG_LABEL, p, len);
        EXPECT_NACK(TD_MSG_LABEL, seq, TD_ERR_RANGE);
    }
    n_inferences += 2u;
    gen_frames(frames, 8u, 3u, 0);
    inject_and_check(frames, 8u);
    {
        const td_proto_record_t rec = decode_rec(&g_rx[0]);
        CHECK(rec.version == 2u && rec.n_inferences == 2u && rec.n_labels == 2u && rec.n_correct == 2u);
    }

    /* td_app_push_outputs / td_app_push_labels directly (a board running its own classifier). */
    {
        uint32_t first = 0;
        uint32_t applied = 99u;
        gen_probs(g_probs, 3u, 4u, predicted);
        CHECK_EQ(td_app_push_outputs(&g_app, g_probs, 3u, &first), TD_OK);
        CHECK_EQ(first, n_inferences);
        for (uint32_t i = 0; i < 3u; i++) {
            CHECK_EQ(td_monitor_push_outputs(&g_ref_mon, g_probs + 4u * i, 4u, NULL), TD_OK);
        }
        const uint32_t seqs[2] = {n_inferences + 2u, n_inferences + 7u};
        const uint8_t labels[2] = {predicted[2], 1u};
        CHECK_EQ(td_app_push_labels(&g_app, seqs, labels, 2u, &applied), TD_ERR_RANGE);
        CHECK_EQ(applied, 1u);
        CHECK_EQ(td_monitor_push_label(&g_ref_mon, seqs[0], labels[0]), TD_OK);
        CHECK_EQ(td_app_push_outputs(&g_app, g_probs, 0u, NULL), TD_OK);
        CHECK_EQ(td_app_push_outputs(&g_app, NULL, 1u, NULL), TD_ERR_ARG);
        CHECK_EQ(td_app_push_labels(&g_app, NULL, labels, 1u, NULL), TD_ERR_ARG);
        n_inferences += 3u;
        inject_and_check(frames, 8u);
        const td_proto_record_t rec = decode_rec(&g_rx[0]);
        CHECK(rec.n_inferences == 3u && rec.n_labels == 1u && rec.n_correct == 1u);
    }

    /* Capacity: at most 65,535 inferences per window; a message that would pass it adds none of its vectors. */
    {
        uint32_t added = 0;
        int ok = 1;
        gen_probs(g_probs, 80u, 4u, NULL);
        while (added + 80u <= 65535u) {
            ok &= td_app_push_outputs(&g_app, g_probs, 80u, NULL) == TD_OK;
            for (uint32_t i = 0; i < 80u; i++) {
                ok &= td_monitor_push_outputs(&g_ref_mon, g_probs + 4u * i, 4u, NULL) == TD_OK;
            }
            added += 80u;
        }
        CHECK(ok);
        const uint32_t room = 65535u - added; /* 15 */
        CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, g_probs, 4u * (room + 1u), &len), TD_OK);
        seq = request(TD_MSG_INJECT_OUTPUTS, p, len);
        EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_CAPACITY);
        CHECK_EQ(td_app_push_outputs(&g_app, g_probs, room + 1u, NULL), TD_ERR_CAPACITY);
        inject_outputs_and_check(g_probs, room);
        CHECK_EQ(td_proto_encode_inject_outputs(p, sizeof p, g_probs, 4u, &len), TD_OK);
        seq = request(TD_MSG_INJECT_OUTPUTS, p, len);
        EXPECT_NACK(TD_MSG_INJECT_OUTPUTS, seq, TD_ERR_CAPACITY);
        inject_and_check(frames, 8u);
        CHECK_EQ(decode_rec(&g_rx[0]).n_inferences, 65535u);
        /* The next window starts empty again. */
        inject_outputs_and_check(g_probs, 80u);
        inject_and_check(frames, 8u);
        CHECK_EQ(decode_rec(&g_rx[0]).n_inferences, 80u);
    }
}

int main(void)
{
    g_flash.size = 8192u;
    g_flash.page = 4096u;
    g_flash.rule = TD_RAM_FLASH_AND;
    g_flash.cut = budget_cut;
    test_proto();
    test_ring();
    make_profiles();
    test_flash_semantics();
    test_store();
    test_app_basics();
    test_app_upload_and_telemetry();
    test_app_failed_uploads_and_reboot();
    test_app_external_embeddings();
    test_app_outputs();
    printf("test_app: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
