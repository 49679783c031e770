/* fuzz_app.c - libFuzzer target for the firmware's protocol handler (td_app_poll) on a RAM board.
 *
 * The harness is the board (td_hal.h): storage is the RAM array of tests/c/td_ram_flash.h with flash semantics (erase
 * to 0xFF by page, a write may only clear bits; a call out of range or misaligned traps), the link's input is built
 * from the fuzz data and its output is decoded as it is written. Every input starts from one of three storage images
 * made once at start-up (erased; a PCA profile committed; an external-embedding profile committed) and the app as
 * td_app_init left it on that image (a snapshot restored in place: booting is deterministic, and this keeps the slot
 * CRCs and the profile parse out of every run), then runs operations:
 *
 *   byte 0: storage image (value % 3)
 *   then repeated: op byte, op % 16 selects (requests more often than the rest; REBOOT, which re-reads and
 *   checks both slots, less often)
 *     0-4 REQUEST type u8, seq u16, len u16 (% 353), payload: a 0x00 flush, then the frame encoded by the harness
 *                 (valid CRC); the device must answer with exactly one ACK/NACK/INFO echoing type and seq
 *     5 RAW       len u8, bytes: fed to the link as they are (corrupt frames, partial frames, garbage)
 *     6 UPLOAD    flags u8, len u16 (% (TD_APP_MAX_PROFILE + 64)), blob: UPLOAD_BEGIN(len, crc32), the chunks,
 *                 UPLOAD_COMMIT; flags bit 0: write the blob's own profile CRC first (so mutated profiles reach
 *                 the parser's range checks), bits 1-2: chunk size 256/128/64/17, bit 3: no COMMIT, bit 4: a wrong
 *                 CRC in BEGIN, bit 5: resend every chunk once (retries)
 *     7 CUT       ops u8, partial u8: after `ops` more storage erases/writes, the next one lands partly (a write:
 *                 a prefix of `partial` bytes; an erase: `partial` % pages whole pages) and fails, and so does every
 *                 later one until REBOOT: a power cut, or a flash that died
 *     8 REBOOT    td_app_init over the same storage; the active profile must then be the last committed one or
 *                 the one whose commit the cut interrupted
 *     9 LINK_RESET td_app_link_reset
 *     10 TIME     u8: the clock advances by that many x 37 ms
 *     11 LINK_DOWN toggles a link whose writes fail
 *     12 SENSOR   u8: that many sensor frames become available (served while sampling is on)
 *     13-15 INJECT u8 frames: an INJECT request of whole frames of the active profile, values from the input
 *
 * Checks (a violation traps): every frame the device writes decodes (no CRC or format error) and is a device
 * message (0x81..0x85); TELEMETRY payloads decode with td_proto_decode_record; each harness-encoded request gets
 * exactly one reply for its type and seq while the link is up; td_app_init and td_app_poll return TD_OK; the
 * profile after a reboot is one that was committed. The harness reads two fields of td_app_t (has_profile,
 * profile.profile_id) and the staging buffer's profile id at a COMMIT, to know which profiles may be active.
 * Public headers only (firmware/ and csrc/include/, and the test board tests/c/td_ram_flash.h); links every .c file
 * of firmware/ and csrc/src/.
 * Build and run: make fuzz (fuzz/fuzz.mk).
 */
#include <stdint.h>
#include <string.h>
#ifdef FUZZ_TRACE
#include <stdio.h>
#endif

#include "td_app.h"
#include "td_hal.h"
#include "td_proto.h"
#include "tinydrift/td_crc32.h"
#include "tinydrift/td_frame.h"

#include "fuzz_check.h"

/* ==== the RAM board =========================================================================================== */

#define FLASH_SIZE 8192u
#define PAGE_SIZE 4096u
#define N_IMAGES 3u

#define TD_RAM_FLASH_CAPACITY FLASH_SIZE
#include "td_ram_flash.h"

static uint8_t g_images[N_IMAGES][FLASH_SIZE];
static td_app_t g_app_images[N_IMAGES]; /* the app just after booting from each image (restored in place) */
static long g_ops_left = -1;  /* storage operations that still complete; -1: no cut armed */
static uint32_t g_partial;    /* what the interrupted operation still does */
static int g_dead;            /* 1 after the cut: every storage operation fails until REBOOT */
static uint32_t g_boot = 1u;
static uint32_t g_time;
static uint16_t g_sensor_rate;
static uint32_t g_sensor_avail;
static uint32_t g_sensor_x = 1u;
static int g_link_down;

static const uint8_t *g_in;
static size_t g_in_len;
static size_t g_in_pos;

/* Output side: a streaming decoder over everything the device writes. */
static td_frame_decoder_t g_out_dec;
static td_frame_t g_out_frame;
static uint32_t g_replies;     /* ACK/NACK/INFO frames since the counter was cleared */
static uint8_t g_reply_type;   /* request type echoed by the last reply */
static uint16_t g_reply_seq;   /* request seq echoed by the last reply */
static uint8_t g_reply_msg;    /* message type of the last reply */
static uint32_t g_reply_value; /* value of the last ACK or NACK */

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
    if (n == 0u) {
        return 0u;
    }
    memcpy(buf, g_in + g_in_pos, n);
    g_in_pos += n;
    return n;
}

static void check_output_frame(const td_frame_t *f)
{
    CHECK(f->type >= TD_MSG_INFO && f->type <= TD_MSG_LOG);
    if (f->type == TD_MSG_TELEMETRY) {
        td_proto_record_t rec;
        CHECK(td_proto_decode_record(f->payload, f->payload_len, &rec) == TD_OK);
    } else if (f->type == TD_MSG_INFO) {
        td_proto_info_t info;
        CHECK(td_proto_decode_info(f->payload, f->payload_len, &info) == TD_OK);
        g_replies++;
        g_reply_msg = f->type;
        g_reply_type = TD_MSG_INFO_REQ;
        g_reply_seq = info.request_seq;
    } else if (f->type == TD_MSG_ACK || f->type == TD_MSG_NACK) {
        CHECK(td_proto_decode_reply(f->payload, f->payload_len, &g_reply_type, &g_reply_seq, &g_reply_value) ==
              TD_OK);
        g_replies++;
        g_reply_msg = f->type;
    }
}

td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (g_link_down) {
        return TD_ERR_STATE;
    }
    size_t pos = 0;
    while (pos < len) {
        size_t used = 0;
        const td_status s = td_frame_decoder_feed(&g_out_dec, data + pos, len - pos, &used, &g_out_frame);
        pos += used;
        if (s == TD_OK) {
            check_output_frame(&g_out_frame);
        }
    }
    CHECK(g_out_dec.n_crc_errors == 0u && g_out_dec.n_format_errors == 0u && g_out_dec.n_overflows == 0u);
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

/* The flash's violation hook: the app never calls storage out of range or misaligned, reads included. */
static void trap_violation(td_ram_flash_op_t op, uint32_t offset, uint32_t len)
{
    (void)op;
    (void)offset;
    (void)len;
    CHECK(0);
}

/* 1: the operation may run in full; 0: the cut happens now (after the partial effect the caller applies). */
static int storage_op_allowed(void)
{
    if (g_dead) {
        return 0;
    }
    if (g_ops_left == 0) {
        g_dead = 1;
        return 0;
    }
    if (g_ops_left > 0) {
        g_ops_left--;
    }
    return 1;
}

/* The flash's cut hook (CUT): the interrupted operation lands partly, and every later one fails until REBOOT. */
static td_status partial_cut(td_ram_flash_op_t op, uint32_t offset, const uint8_t *data, uint32_t len)
{
    const int was_dead = g_dead;
    if (storage_op_allowed()) {
        return TD_OK;
    }
    if (!was_dead && op == TD_RAM_FLASH_ERASE) {
        const uint32_t pages = g_partial % (len / PAGE_SIZE + 1u);
        td_ram_flash_fill(offset, pages * PAGE_SIZE);
    } else if (!was_dead) {
        td_ram_flash_program(offset, data, g_partial < len ? g_partial : len); /* programming only clears bits */
    }
    return TD_ERR_STATE;
}

td_status td_hal_sensor_start(uint16_t rate_hz)
{
    g_sensor_rate = rate_hz;
    return TD_OK;
}

int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    if (g_sensor_rate == 0u || g_sensor_avail == 0u) {
        return 0;
    }
    g_sensor_avail--;
    for (uint8_t c = 0; c < n_channels; c++) {
        g_sensor_x ^= g_sensor_x << 13;
        g_sensor_x ^= g_sensor_x >> 17;
        g_sensor_x ^= g_sensor_x << 5;
        frame[c] = (int16_t)((int32_t)(g_sensor_x % 2001u) - 1000);
    }
    return 1;
}

void td_hal_idle(void)
{
}

uint64_t td_hal_device_uid(void)
{
    return 0x7464000000000001ull;
}

uint8_t td_hal_board_id(void)
{
    return TD_BOARD_HOST;
}

const char *td_hal_board_name(void)
{
    return "fuzz board";
}

/* ==== driving the app ========================================================================================= */

static td_app_t g_app;
static uint16_t g_host_seq;
static uint8_t g_link_buf[1u + TD_FRAME_MAX_WIRE];
static uint8_t g_payload[TD_FRAME_MAX_PAYLOAD];

/* What may be active after a reboot: the last committed profile (0: none) or the one whose commit was cut. */
static uint32_t g_committed_id;
static uint8_t g_committed_known;
static uint32_t g_pending_id;
static uint8_t g_pending_valid;

static uint32_t active_id(void)
{
    return g_app.has_profile ? g_app.profile.profile_id : 0u;
}

/* Feed bytes to the link and poll until the app has read all of them. */
static void run_link(const uint8_t *bytes, size_t len)
{
    g_in = bytes;
    g_in_len = len;
    g_in_pos = 0;
    do {
        CHECK(td_app_poll(&g_app) == TD_OK);
    } while (g_in_pos < g_in_len);
    g_in_len = 0;
    g_in_pos = 0;
}

/* Send one well-formed frame (after a 0x00 flush); returns 1 and sets g_reply_* when its single reply came. */
static int request(uint8_t type, uint16_t seq, const uint8_t *payload, size_t len)
{
    size_t wl = 0;
    g_link_buf[0] = 0x00;
    CHECK(td_frame_encode(type, seq, payload, len, g_link_buf + 1, sizeof g_link_buf - 1, &wl) == TD_OK);
    const uint32_t before = g_replies;
    if (type == TD_MSG_UPLOAD_COMMIT && !g_dead) {
        /* The staging buffer holds the upload; its id (offset 12) may become active if the commit is cut. */
        const uint8_t *staged = (const uint8_t *)g_app.profile_words[g_app.active_buf ^ 1u];
        g_pending_id = (uint32_t)staged[12] | ((uint32_t)staged[13] << 8) | ((uint32_t)staged[14] << 16) |
                       ((uint32_t)staged[15] << 24);
        g_pending_valid = 1u;
    }
    run_link(g_link_buf, wl + 1u);
    if (g_link_down) {
        CHECK(g_replies == before);
        return 0;
    }
    CHECK(g_replies == before + 1u);
    CHECK(g_reply_type == type && g_reply_seq == seq);
#ifdef FUZZ_TRACE /* -DFUZZ_TRACE: print every request and its reply (to read a crashing input) */
    fprintf(stderr, "request type 0x%02x seq %u len %zu -> %s %d\n", type, seq, len,
            g_reply_msg == TD_MSG_ACK ? "ACK" : g_reply_msg == TD_MSG_NACK ? "NACK" : "INFO", (int)g_reply_value);
#endif
    if (type == TD_MSG_UPLOAD_COMMIT && g_reply_msg == TD_MSG_ACK) {
        CHECK(g_reply_value == active_id());
        g_committed_id = g_reply_value;
        g_committed_known = 1u;
        g_pending_valid = 0u;
    }
    return 1;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void upload(const uint8_t *blob, size_t len, uint8_t flags)
{
    static const size_t chunk_sizes[4] = {256u, 128u, 64u, 17u};
    const size_t chunk = chunk_sizes[(flags >> 1) & 3u];
    put32(g_payload, (uint32_t)len);
    put32(g_payload + 4, td_crc32_update(0u, blob, len) ^ ((flags & 0x10u) ? 1u : 0u));
    (void)request(TD_MSG_UPLOAD_BEGIN, ++g_host_seq, g_payload, 8u);
    for (size_t off = 0; off < len; off += chunk) {
        const size_t n = len - off < chunk ? len - off : chunk;
        put32(g_payload, (uint32_t)off);
        memcpy(g_payload + 4, blob + off, n);
        (void)request(TD_MSG_UPLOAD_CHUNK, ++g_host_seq, g_payload, 4u + n);
        if (flags & 0x20u) {
            (void)request(TD_MSG_UPLOAD_CHUNK, g_host_seq, g_payload, 4u + n);
        }
    }
    if (!(flags & 0x08u)) {
        (void)request(TD_MSG_UPLOAD_COMMIT, ++g_host_seq, NULL, 0u);
    }
}

static void reboot(void)
{
    g_dead = 0;
    g_ops_left = -1;
    g_boot++;
    CHECK(td_frame_decoder_init(&g_out_dec) == TD_OK);
    CHECK(td_app_init(&g_app) == TD_OK);
}

/* ==== boot images: valid profiles written by the app itself ================================================== */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* A valid profile (docs/profile-format.md): 3 channels, window 32, 2 dims, 3 centroids; PCA or external mode. */
static uint32_t make_profile(uint8_t *b, int ext, uint32_t id)
{
    const uint32_t n_ch = 3u, n_dims = 2u, n_cent = 3u, n_feat = 2u * n_ch;
    const uint32_t proj = ext ? 0u : (n_dims * n_feat + 3u) / 4u * 4u;
    const uint32_t size = 64u + 24u * n_ch + 8u * n_feat + proj + 4u * n_cent * n_dims + 4u;
    memset(b, 0, size);
    memcpy(b, "TDPF", 4);
    put16(b + 4, 1u);
    put16(b + 6, 64u);
    put32(b + 8, size);
    put32(b + 12, id);
    b[16] = (uint8_t)n_ch;
    b[17] = (uint8_t)n_dims;
    b[18] = (uint8_t)n_cent;
    b[19] = ext ? 0u : 6u;
    put16(b + 20, 32u);
    put16(b + 22, ext ? TD_PROFILE_FLAG_EXTERNAL_EMBEDDING : 0u);
    put32(b + 24, 1000u);
    put32(b + 28, 20u * 256u);
    put32(b + 32, 400u * 256u);
    put32(b + 36, 60u * 256u);
    if (ext) {
        put32(b + 40, 1u << 20);
    }
    uint32_t off = 64u;
    for (uint32_t c = 0; c < n_ch; c++) {
        put16(b + off + 0, (uint16_t)(int16_t)-1000);
        put16(b + off + 2, 1000u);
        put16(b + off + 4, (uint16_t)(int16_t)-32768);
        put16(b + off + 6, TD_CHANNEL_FLAG_STUCK_CHECK | TD_CHANNEL_FLAG_SENTINEL);
        put16(b + off + 10, 2u);
        put16(b + off + 12, 2u);
        put32(b + off + 20, 256u);
        off += 24u;
    }
    for (uint32_t f = 0; f < n_feat; f++) {
        put32(b + off, (uint32_t)((int32_t)(f * 500u) - 1000));
        put32(b + off + 4, 0x00100000u + f * 0x1000u);
        off += 8u;
    }
    for (uint32_t i = 0; i < proj; i++) {
        b[off + i] = i < n_dims * n_feat ? (uint8_t)(int8_t)((int)(i * 37u % 255u) - 127) : 0u;
    }
    off += proj;
    for (uint32_t i = 0; i < n_cent * n_dims; i++) {
        put32(b + off, (uint32_t)((int32_t)(i * 997u % 4001u) - 2000));
        off += 4u;
    }
    put32(b + off, td_crc32_update(0u, b, off));
    return size;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static uint8_t blob[1024];
    g_flash.size = FLASH_SIZE;
    g_flash.page = PAGE_SIZE;
    g_flash.rule = TD_RAM_FLASH_AND;
    g_flash.violation = trap_violation;
    g_flash.cut = partial_cut;
    for (uint32_t k = 0; k < N_IMAGES; k++) {
        td_ram_flash_erase_all();
        reboot();
        if (k > 0u) {
            const uint32_t size = make_profile(blob, k == 2u, 0x1000u + k);
            upload(blob, size, 0u);
            CHECK(active_id() == 0x1000u + k); /* the image must hold a committed profile */
        }
        reboot(); /* the state a board has right after booting from this storage */
        memcpy(g_images[k], g_flash.mem, sizeof g_flash.mem);
        memcpy(&g_app_images[k], &g_app, sizeof g_app);
    }
    return 0;
}

/* ==== the input ================================================================================================ */

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} reader_t;

static uint8_t rd8(reader_t *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0u;
}

static uint16_t rd16(reader_t *r)
{
    const uint16_t lo = rd8(r);
    return (uint16_t)(lo | (rd8(r) << 8));
}

/* Up to n bytes of the input (fewer at its end); *got receives the count. */
static const uint8_t *take(reader_t *r, size_t n, size_t *got)
{
    const size_t left = r->size - r->pos;
    *got = n < left ? n : left;
    const uint8_t *p = r->data + r->pos;
    r->pos += *got;
    return p;
}

static uint8_t g_blob[TD_APP_MAX_PROFILE + 64u];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t r = {data, size, 0};
    const uint8_t image = rd8(&r) % N_IMAGES;
    /* Booting is deterministic: restore its result instead of running td_app_init and re-reading the slots. The
     * snapshot was taken at this same address, so the app's pointers into itself stay valid. */
    memcpy(g_flash.mem, g_images[image], sizeof g_flash.mem);
    memcpy(&g_app, &g_app_images[image], sizeof g_app);
    g_dead = 0;
    g_ops_left = -1;
    g_boot = 100u;
    CHECK(td_frame_decoder_init(&g_out_dec) == TD_OK);
    g_time = 0u;
    g_sensor_rate = 0u;
    g_sensor_avail = 0u;
    g_link_down = 0;
    g_replies = 0u;
    g_host_seq = 0u;
    g_committed_id = active_id();
    g_committed_known = 1u;
    g_pending_valid = 0u;

    while (r.pos < r.size) {
        const uint8_t op = rd8(&r);
        switch (op % 16u) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4: {
            const uint8_t type = rd8(&r);
            const uint16_t seq = rd16(&r);
            const size_t len = rd16(&r) % (TD_FRAME_MAX_PAYLOAD + 1u);
            size_t got = 0;
            const uint8_t *p = take(&r, len, &got);
            memset(g_payload, 0, len);
            memcpy(g_payload, p, got);
            (void)request(type, seq, g_payload, len);
            break;
        }
        case 5: {
            size_t got = 0;
            const uint8_t *p = take(&r, rd8(&r), &got);
            const uint32_t was_dead = g_dead;
            run_link(p, got);
            /* Raw bytes can hold a whole upload session (the seeds do), committed without request()'s
             * bookkeeping: a completed commit is the new expectation; one cut by a power failure here has an
             * unknown staged id, so the next reboot's check is skipped. */
            if (g_dead && !was_dead) {
                g_committed_known = 0u;
            } else if (!g_dead && g_committed_known && active_id() != g_committed_id) {
                g_committed_id = active_id();
                g_pending_valid = 0u;
            }
            break;
        }
        case 6: {
            const uint8_t flags = rd8(&r);
            const size_t len = rd16(&r) % sizeof g_blob;
            size_t got = 0;
            const uint8_t *p = take(&r, len, &got);
            memcpy(g_blob, p, got);
            if ((flags & 1u) && got >= 12u) {
                const uint32_t total = (uint32_t)g_blob[8] | ((uint32_t)g_blob[9] << 8) |
                                       ((uint32_t)g_blob[10] << 16) | ((uint32_t)g_blob[11] << 24);
                if (total >= 4u && total <= got) {
                    put32(g_blob + total - 4u, td_crc32_update(0u, g_blob, total - 4u));
                }
            }
            if (got > 0u) {
                upload(g_blob, got, flags);
            }
            break;
        }
        case 7:
            g_ops_left = rd8(&r);
            g_partial = rd8(&r);
            break;
        case 8: {
            reboot();
            const uint32_t id = active_id();
#ifdef FUZZ_TRACE
            fprintf(stderr, "reboot: active profile id %u (committed %u, pending %u)\n", id, g_committed_id,
                    g_pending_valid ? g_pending_id : 0u);
#endif
            CHECK(!g_committed_known || id == g_committed_id || (g_pending_valid && id == g_pending_id));
            g_committed_id = id;
            g_committed_known = 1u;
            g_pending_valid = 0u;
            break;
        }
        case 9:
            CHECK(td_app_link_reset(&g_app) == TD_OK);
            break;
        case 10:
            g_time += 37u * rd8(&r);
            break;
        case 11:
            g_link_down = !g_link_down;
            break;
        case 12:
            g_sensor_avail += rd8(&r);
            run_link(NULL, 0);
            break;
        default: {
            const uint8_t n_frames = rd8(&r);
            const uint32_t ch = g_app.has_profile ? g_app.profile.n_channels : 1u;
            uint32_t values = n_frames * ch;
            if (values > TD_PROTO_INJECT_MAX_VALUES) {
                values = TD_PROTO_INJECT_MAX_VALUES / ch * ch;
            }
            size_t got = 0;
            const uint8_t *p = take(&r, 2u * values, &got);
            memset(g_payload, 0, 2u * values);
            memcpy(g_payload, p, got);
            if (values > 0u) {
                (void)request(TD_MSG_INJECT, ++g_host_seq, g_payload, 2u * values);
            }
            break;
        }
        }
        /* While the board is powered, the profile it runs is what a reboot must bring back: a commit completes
         * inside td_app_poll, also one whose ACK a down link swallowed or one sent as raw link bytes. */
        if (!g_dead && g_committed_known) {
            g_committed_id = active_id();
            g_pending_valid = 0u;
        }
    }
    return 0;
}
