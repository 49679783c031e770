/* test_store_powercut.c - power cut at every flash write and erase of a profile upload, exhaustively.
 *
 * Build and run: make -f firmware/firmware.mk test-fw-c (part of make test; it runs test_app too), which
 * compiles this file with every firmware/td_ and csrc/src/td_ source under -fsanitize=address,undefined
 * (C99, -Werror); build/fw/test_store_powercut runs it alone.
 * Prints the number of cut cases per scenario and "test_store_powercut: N passed, M failed".
 *
 * The test is its own board: td_hal.h over a RAM model of NOR flash (tests/c/td_ram_flash.h under its
 * erased-only rule: the nRF52840's NVMC, the strictest of the three boards' HALs; the cut models below are
 * this file's, in the flash's gate, violation and cut hooks):
 *   - erase sets whole pages to 0xFF; a write programs 32-bit words in ascending address order and
 *     may only target erased words (0xFFFFFFFF) - any other write is a HAL contract violation and
 *     fails the test, it is not just refused;
 *   - a power cut is armed at one operation (one td_hal_storage_write or td_hal_storage_erase call) of
 *     the upload, in one of these modes, after which every storage call fails until the "reboot":
 *       before       the operation has no effect;
 *       prefix p     a write: its first p bytes landed, p = 1 .. len-1 (byte granularity: it contains
 *                    every word-granular prefix, and a storage that tears inside a word);
 *                    an erase: the first p bytes of the region read 0xFF, the rest keeps its old
 *                    content, p = 1 .. len-1 (contains every page- and word-granular prefix);
 *       torn word    a write: the first w words landed, word w holds new | (old & ~new & m): each bit
 *                    the program had to clear is either cleared or still 1, nothing else can happen
 *                    to a NOR cell during a program. Masks: every single bit left uncleared and every
 *                    single bit cleared alone, for every word of the header (in the size word also
 *                    every mask whose size is small enough to be read as a size at all); for the words
 *                    of the blob the lowest bit left uncleared and the lowest bit cleared alone (the
 *                    header is still erased then, so the slot has no magic whatever that word holds);
 *       erase word   an erase: the region keeps its old content except one word, in which a set of
 *                    bits went to 1 (an erase only sets bits): the whole word, for every word of the
 *                    region, and each single bit, for the four header words of every slot it covers;
 *       erase noise  an erase: every 0 bit of the region became 1 with probability 1/2, 1/8 or 1/64
 *                    (8 seeds each): a partly erased page read back as it settled;
 *       garbage      an erase: the region holds pseudo-random bytes (8 seeds), content no flash
 *                    produces, as "arbitrary";
 *       after last   power is lost after the last operation completed (the commit is complete).
 * "Reboot" is td_app_init over the same flash (with an operation counter that must stay 0: the store
 * writes nothing at boot, so there is no boot-time recovery to cut). The oracle: if the target slot now
 * holds exactly the bytes a complete commit writes (header and blob, built here from docs/architecture.md's
 * slot format, independently of td_store.c), the new profile must be active; otherwise the previously
 * active one (or none, on a first upload) must be, byte for byte, in the same slot, with its slot's bytes
 * unchanged. Then a fresh upload must succeed and become active after another reboot, so no cut leaves
 * the store unable to take a new profile (unless the generation is exhausted, where it must refuse).
 * Scenarios: a chain of uploads alternating the slots (the first into empty flash) with 4 KB and 1 KB
 * pages, uploads after a cut left the target slot dirty, one to the last generation, and the main case
 * through the link protocol (td_app_poll handling UPLOAD_BEGIN, CHUNK and COMMIT frames).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td_app.h"
#include "td_hal.h"
#include "td_proto.h"
#include "td_store.h"
#include "tinydrift/td_crc32.h"
#include "tinydrift/td_frame.h"
#include "tinydrift/td_profile.h"

#include "td_check.h"

/* ==== the RAM board (td_hal.h): NOR flash with cut injection ============================= */

#define PC_FLASH_MAX (16u * 1024u)
#define TD_RAM_FLASH_CAPACITY PC_FLASH_MAX
#include "td_ram_flash.h"

#define PC_MAX_OPS 16u

typedef enum {
    CUT_NONE,
    CUT_BEFORE,
    CUT_PREFIX,
    CUT_TORN_WORD,
    CUT_ERASE_WORD,
    CUT_ERASE_NOISE,
    CUT_ERASE_GARBAGE,
    CUT_AFTER_LAST,
    CUT_MODES
} cut_mode_t;

static const char *const k_mode_names[CUT_MODES] = {"none",        "before",      "prefix",  "torn word",
                                                    "erase word",  "erase noise", "garbage", "after last"};

typedef struct {
    cut_mode_t mode;
    uint32_t op;   /* index of the operation (write or erase call) the cut hits */
    uint32_t arg;  /* prefix bytes, word index, or seed */
    uint32_t mask; /* torn / erase-word bits, or noise density shift */
} cut_t;

typedef struct {
    uint8_t erase; /* 1: erase, 0: write */
    uint32_t offset;
    uint32_t len;
} flash_op_t;

static cut_t g_cut;             /* armed cut (mode CUT_NONE: none) */
static int g_dead;              /* power is off: every storage call fails */
static uint32_t g_op;           /* storage write/erase calls since arming */
static unsigned long g_violations; /* writes to non-erased words, misaligned or out-of-range calls */
static flash_op_t g_trace[PC_MAX_OPS];
static uint32_t g_trace_n;

td_status td_hal_init(void)
{
    return TD_OK;
}

/* The link: requests queued in g_in, the device's frames kept in g_out (both reset per upload). */
static uint8_t g_in[8192];
static size_t g_in_len;
static size_t g_in_pos;
static uint8_t g_out[4096];
static size_t g_out_len;

size_t td_hal_link_read(uint8_t *buf, size_t cap)
{
    size_t n = g_in_len - g_in_pos;
    if (n > cap) {
        n = cap;
    }
    memcpy(buf, g_in + g_in_pos, n);
    g_in_pos += n;
    return n;
}

td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (len > sizeof g_out - g_out_len) {
        g_out_len = 0u; /* only the last frames matter */
    }
    if (len <= sizeof g_out) {
        memcpy(g_out + g_out_len, data, len);
        g_out_len += len;
    }
    return TD_OK;
}

uint32_t td_hal_time_ms(void)
{
    return 0u;
}

uint32_t td_hal_boot_id(void)
{
    return 1u;
}

/* The flash's gate hook: after a cut, power is off and every storage call fails. */
static td_status power_gate(td_ram_flash_op_t op)
{
    (void)op;
    return g_dead ? TD_ERR_STATE : TD_OK;
}

/* The flash's violation hook: each call the HAL contract forbids is counted (a case with any fails). */
static void count_violation(td_ram_flash_op_t op, uint32_t offset, uint32_t len)
{
    (void)op;
    (void)offset;
    (void)len;
    g_violations++;
}

/* Record the operation; returns 1 if the armed cut hits it. */
static int next_op(uint8_t erase, uint32_t offset, uint32_t len)
{
    if (g_trace_n < PC_MAX_OPS) {
        g_trace[g_trace_n].erase = erase;
        g_trace[g_trace_n].offset = offset;
        g_trace[g_trace_n].len = len;
    }
    g_trace_n++;
    const uint32_t idx = g_op++;
    return g_cut.mode != CUT_NONE && g_cut.mode != CUT_AFTER_LAST && idx == g_cut.op;
}

static uint32_t xs_state = 0x2545F491u;

/* An erase the armed cut hits: what the region holds when power is lost. */
static void cut_erase(uint32_t offset, uint32_t len)
{
    uint8_t *r = g_flash.mem + offset;
    switch (g_cut.mode) {
    case CUT_PREFIX:
        td_ram_flash_fill(offset, g_cut.arg);
        break;
    case CUT_ERASE_WORD:
        for (uint32_t b = 0; b < 4u; b++) {
            r[4u * g_cut.arg + b] |= (uint8_t)(g_cut.mask >> (8u * b));
        }
        break;
    case CUT_ERASE_NOISE:
        xs_state = g_cut.arg;
        for (uint32_t i = 0; i < len; i++) {
            uint8_t set = 0xFFu;
            for (uint32_t k = 0; k < g_cut.mask; k++) {
                set &= (uint8_t)td_xorshift32(&xs_state); /* each bit 1 with probability 2^-mask */
            }
            r[i] |= set;
        }
        break;
    case CUT_ERASE_GARBAGE:
        xs_state = g_cut.arg;
        for (uint32_t i = 0; i < len; i++) {
            r[i] = (uint8_t)td_xorshift32(&xs_state);
        }
        break;
    default: /* CUT_BEFORE */
        break;
    }
}

/* A write the armed cut hits (its bytes are all erased: the flash checked): what landed when power was lost. */
static void cut_write(uint32_t offset, const uint8_t *data)
{
    if (g_cut.mode == CUT_PREFIX) {
        td_ram_flash_program(offset, data, g_cut.arg);
    } else if (g_cut.mode == CUT_TORN_WORD) {
        const uint32_t w = g_cut.arg;
        td_ram_flash_program(offset, data, 4u * w);
        const uint32_t nw = get_u32(data + 4u * w);
        const uint32_t old = get_u32(g_flash.mem + offset + 4u * w);
        put_u32(g_flash.mem + offset + 4u * w, nw | (old & ~nw & g_cut.mask));
    }
}

/* The flash's cut hook: traces every erase and write (the reads and refused calls are not operations) and, at
 * the armed one, applies the cut's model and turns the power off. */
static td_status trace_and_cut(td_ram_flash_op_t op, uint32_t offset, const uint8_t *data, uint32_t len)
{
    const uint8_t erase = op == TD_RAM_FLASH_ERASE ? 1u : 0u;
    if (!next_op(erase, offset, len)) {
        return TD_OK;
    }
    if (erase) {
        cut_erase(offset, len);
    } else {
        cut_write(offset, data);
    }
    g_dead = 1;
    return TD_ERR_STATE;
}

td_status td_hal_sensor_start(uint16_t rate_hz)
{
    return rate_hz == 0u ? TD_OK : TD_ERR_MODE;
}

int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    (void)frame;
    (void)n_channels;
    return 0;
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
    return "powercut test board";
}

static void arm(const cut_t *cut)
{
    g_cut = *cut;
    g_dead = 0;
    g_op = 0u;
    g_trace_n = 0u;
}

static void disarm(void)
{
    g_cut.mode = CUT_NONE;
    g_dead = 0;
    g_op = 0u;
    g_trace_n = 0u;
}

/* ==== profiles (docs/profile-format.md, PCA mode, as in tests/c/test_app.c) ===================== */

typedef struct {
    uint8_t data[TD_APP_MAX_PROFILE];
    uint32_t size;
    uint32_t profile_id;
} blob_t;

/* A valid PCA profile of n_channels, n_dims, n_centroids, with extra trailing bytes after its CRC. */
static void make_blob(blob_t *b, uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint32_t profile_id,
                      uint32_t extra)
{
    const uint32_t n_features = 2u * n_channels;
    const uint32_t proj = ((uint32_t)n_dims * n_features + 3u) / 4u * 4u;
    const uint32_t size = 64u + 24u * n_channels + 8u * n_features + proj + 4u * n_centroids * n_dims + 4u;
    if (size + extra > sizeof b->data) {
        printf("profile buffer too small\n");
        exit(2);
    }
    uint8_t *p = b->data;
    memset(p, 0, sizeof b->data);
    memcpy(p, "TDPF", 4);
    put_u16(p + 4, 1u);
    put_u16(p + 6, 64u);
    put_u32(p + 8, size);
    put_u32(p + 12, profile_id);
    p[16] = n_channels;
    p[17] = n_dims;
    p[18] = n_centroids;
    p[19] = 6u;
    put_u16(p + 20, 16u);
    put_u32(p + 24, 1000u);
    put_u32(p + 28, 0u);
    put_u32(p + 32, 0xFFFFFFFFu);
    put_u32(p + 36, 0xFFFFFFFFu);
    put_u32(p + 48, 1700000000u);
    uint32_t off = 64u;
    for (uint32_t c = 0; c < n_channels; c++) {
        put_u16(p + off + 0, (uint16_t)(int16_t)-32768);
        put_u16(p + off + 2, 32767u);
        put_u32(p + off + 20, 256u);
        off += 24u;
    }
    for (uint32_t f = 0; f < n_features; f++) {
        put_u32(p + off, (uint32_t)((int32_t)(f * 500u) - 1000));
        put_u32(p + off + 4, 0x00100000u + f * 0x1000u);
        off += 8u;
    }
    for (uint32_t i = 0; i < (uint32_t)n_dims * n_features; i++) {
        p[off + i] = (uint8_t)(int8_t)((int)((i + profile_id) * 37u % 255u) - 127);
    }
    off += proj;
    for (uint32_t i = 0; i < (uint32_t)n_centroids * n_dims; i++) {
        put_u32(p + off, (uint32_t)((int32_t)(i * 4099u + profile_id % 977u) - 20000));
        off += 4u;
    }
    put_u32(p + off, td_crc32_update(0u, p, off));
    for (uint32_t i = 0; i < extra; i++) {
        p[size + i] = (uint8_t)(0x11u * (i + 1u));
    }
    b->size = size + extra;
    b->profile_id = profile_id;
    td_profile_t parsed;
    CHECK_EQ(td_profile_parse(&parsed, p, b->size), TD_OK);
}

/* ==== the slot format, written out here from docs/architecture.md (the oracle) =================== */

static uint32_t slot_size(void)
{
    return (TD_APP_SLOT_SIZE + g_flash.page - 1u) / g_flash.page * g_flash.page;
}

/* Bytes a complete commit leaves in a slot: header (TDSL, generation, size, CRC-32 over generation, size
 * and blob), the blob, 0xFF padding up to a whole word; returns how many bytes are meaningful. */
static uint32_t slot_image(uint8_t *out, uint32_t generation, const blob_t *b)
{
    const uint32_t len = 16u + (b->size + 3u) / 4u * 4u;
    memset(out, 0xFF, len);
    memcpy(out, "TDSL", 4);
    put_u32(out + 4, generation);
    put_u32(out + 8, b->size);
    memcpy(out + 16, b->data, b->size);
    uint32_t crc = td_crc32_update(0u, out + 4, 8u);
    crc = td_crc32_update(crc, b->data, b->size);
    put_u32(out + 12, crc);
    return len;
}

/* Write a slot image directly (a state the store would have written at that generation). */
static void put_slot(uint8_t slot, uint32_t generation, const blob_t *b)
{
    uint8_t *s = g_flash.mem + (uint32_t)slot * slot_size();
    memset(s, 0xFF, slot_size());
    (void)slot_image(s, generation, b);
}

/* ==== uploads and reboots ==================================================================== */

static td_app_t g_app;

/* One upload as the app does it (td_store_begin at UPLOAD_BEGIN, td_store_commit at UPLOAD_COMMIT),
 * preceded by the boot that scans the store. */
static td_status upload(const blob_t *b)
{
    td_store_t st;
    static uint8_t scratch[TD_APP_MAX_PROFILE];
    uint32_t size = 0;
    td_status s = td_store_init(&st, scratch, sizeof scratch, &size);
    uint8_t slot = 0;
    if (s == TD_OK) {
        s = td_store_begin(&st, b->size, &slot);
    }
    if (s == TD_OK) {
        s = td_store_commit(&st, b->data, b->size);
    }
    return s;
}

static td_status queue_request(uint8_t type, uint16_t seq, const uint8_t *payload, size_t len)
{
    size_t wire = 0;
    const td_status s = td_frame_encode(type, seq, payload, len, g_in + g_in_len, sizeof g_in - g_in_len, &wire);
    g_in_len += wire;
    return s;
}

/* The same upload through the link protocol (docs/protocol.md): boot, UPLOAD_BEGIN, 256-byte
 * UPLOAD_CHUNKs, UPLOAD_COMMIT, handled by td_app_poll. TD_OK if the last frame sent is COMMIT's ACK. */
static td_status upload_link(const blob_t *b)
{
    g_in_len = 0u;
    g_in_pos = 0u;
    g_out_len = 0u;
    td_status s = td_app_init(&g_app);
    if (s != TD_OK) {
        return s;
    }
    uint8_t payload[TD_FRAME_MAX_PAYLOAD];
    size_t len = 0;
    uint16_t seq = 1u;
    s = td_proto_encode_upload_begin(payload, sizeof payload, b->size, td_crc32_update(0u, b->data, b->size), &len);
    if (s == TD_OK) {
        s = queue_request(TD_MSG_UPLOAD_BEGIN, seq++, payload, len);
    }
    for (uint32_t off = 0; s == TD_OK && off < b->size; off += TD_PROTO_CHUNK_MAX_DATA) {
        const uint32_t n = b->size - off < TD_PROTO_CHUNK_MAX_DATA ? b->size - off : TD_PROTO_CHUNK_MAX_DATA;
        s = td_proto_encode_upload_chunk(payload, sizeof payload, off, b->data + off, n, &len);
        if (s == TD_OK) {
            s = queue_request(TD_MSG_UPLOAD_CHUNK, seq++, payload, len);
        }
    }
    const uint16_t commit_seq = seq;
    if (s == TD_OK) {
        s = queue_request(TD_MSG_UPLOAD_COMMIT, commit_seq, NULL, 0u);
    }
    if (s != TD_OK) {
        printf("upload_link: cannot encode the requests (%d)\n", (int)s);
        exit(2);
    }
    for (int guard = 0; g_in_pos < g_in_len && guard < 10000; guard++) {
        s = td_app_poll(&g_app);
        if (s != TD_OK) {
            return s;
        }
    }
    /* The last frame the device sent (up to its 0x00 delimiter) is COMMIT's reply. */
    size_t start = g_out_len > 0u ? g_out_len - 1u : 0u;
    while (start > 0u && g_out[start - 1u] != 0u) {
        start--;
    }
    td_frame_t f;
    uint8_t rt = 0;
    uint16_t rs = 0;
    uint32_t rv = 0;
    if (g_out_len == 0u || td_frame_decode(g_out + start, g_out_len - start, &f) != TD_OK ||
        td_proto_decode_reply(f.payload, f.payload_len, &rt, &rs, &rv) != TD_OK || rt != TD_MSG_UPLOAD_COMMIT ||
        rs != commit_seq) {
        return TD_ERR_STATE;
    }
    return f.type == TD_MSG_ACK && rv == b->profile_id ? TD_OK : (td_status)(int32_t)rv;
}

/* Reboot: td_app_init over the current flash. Returns 1 if the app runs blob (NULL: no profile) from slot. */
static int boot_runs(const blob_t *b, uint8_t slot)
{
    const uint32_t ops_before = g_op;
    const td_status s = td_app_init(&g_app);
    if (s != TD_OK || g_op != ops_before) {
        return 0; /* boot must succeed and must not write or erase */
    }
    if (b == NULL) {
        return !g_app.has_profile && td_store_active_slot(&g_app.store) == TD_STORE_NO_SLOT;
    }
    return g_app.has_profile && td_store_active_slot(&g_app.store) == slot && g_app.store.active_size == b->size &&
           g_app.profile.profile_id == b->profile_id &&
           memcmp(g_app.profile_words[g_app.active_buf], b->data, b->size) == 0;
}

/* ==== the exhaustive loop ====================================================================== */

typedef struct {
    const char *name;
    const blob_t *old;     /* active before the upload (NULL: none) */
    uint8_t old_slot;
    uint32_t old_gen;
    const blob_t *new_blob;
    const blob_t *recovery; /* uploaded after the reboot */
    int via_link;           /* 1: the upload under test goes through the link protocol (td_app_poll) */
} scenario_t;

static uint8_t g_snap[PC_FLASH_MAX];  /* flash before the upload */
static uint8_t g_image[PC_FLASH_MAX]; /* the target slot after a complete commit (oracle) */
static unsigned long g_total_cases;
static unsigned long g_case_fail;

/* One cut case from the snapshot; returns 1 if every assertion held. */
static int run_case(const scenario_t *sc, uint8_t target, uint32_t image_len, const cut_t *cut)
{
    const uint32_t ssz = slot_size();
    memcpy(g_flash.mem, g_snap, g_flash.size);
    arm(cut);
    const td_status us = sc->via_link ? upload_link(sc->new_blob) : upload(sc->new_blob);
    const int cut_hit = g_dead;
    disarm();
    if (cut->mode != CUT_AFTER_LAST && (!cut_hit || us == TD_OK)) {
        return 0; /* the armed operation must exist, and a cut upload cannot report success */
    }
    const int complete = memcmp(g_flash.mem + (uint32_t)target * ssz, g_image, image_len) == 0;
    int ok = 1;
    if (complete) {
        ok = boot_runs(sc->new_blob, target);
    } else {
        ok = boot_runs(sc->old, sc->old_slot);
    }
    if (sc->old != NULL) {
        const uint32_t o = (uint32_t)sc->old_slot * ssz;
        ok = ok && memcmp(g_flash.mem + o, g_snap + o, ssz) == 0; /* the active slot is never touched */
    }
    /* Whatever the cut left, a new upload still works (or is refused at the last generation, keeping
     * the active profile). */
    const uint32_t gen = complete ? sc->old_gen + 1u : sc->old_gen;
    const td_status rs = upload(sc->recovery);
    if (gen == 0xFFFFFFFFu) {
        const int still = complete ? boot_runs(sc->new_blob, target) : boot_runs(sc->old, sc->old_slot);
        ok = ok && rs == TD_ERR_RANGE && still;
    } else {
        const uint8_t rslot = (uint8_t)(complete ? 1u - target : target);
        ok = ok && rs == TD_OK && boot_runs(sc->recovery, rslot);
    }
    return ok && g_violations == 0u;
}

static void count_case(const scenario_t *sc, uint8_t target, uint32_t image_len, const cut_t *cut,
                       unsigned long *per_mode, unsigned long *fail_mode)
{
    const int ok = run_case(sc, target, image_len, cut);
    g_total_cases++;
    per_mode[cut->mode]++;
    if (!ok) {
        fail_mode[cut->mode]++;
        g_case_fail++;
        if (g_case_fail <= 10u) {
            printf("FAIL %s: cut %s at op %u arg %u mask 0x%08x\n", sc->name, k_mode_names[cut->mode],
                   (unsigned)cut->op, (unsigned)cut->arg, (unsigned)cut->mask);
        }
    }
}

/* Enumerate every operation of the upload and every cut mode of each; the flash holds the starting state. */
static void run_scenario(const scenario_t *sc)
{
    const uint32_t ssz = slot_size();
    memcpy(g_snap, g_flash.mem, g_flash.size);
    CHECK(boot_runs(sc->old, sc->old_slot));
    const uint8_t target = (uint8_t)(sc->old == NULL || sc->old_slot == 1u ? 0u : 1u);

    /* Dry run without a cut: the operation trace and the complete slot image. */
    disarm();
    CHECK_EQ(sc->via_link ? upload_link(sc->new_blob) : upload(sc->new_blob), TD_OK);
    const uint32_t n_ops = g_trace_n;
    flash_op_t ops[PC_MAX_OPS];
    memcpy(ops, g_trace, sizeof ops);
    const uint32_t image_len = slot_image(g_image, sc->old_gen + 1u, sc->new_blob);
    CHECK(memcmp(g_flash.mem + (uint32_t)target * ssz, g_image, image_len) == 0); /* the documented format */
    CHECK(boot_runs(sc->new_blob, target));
    /* Every operation stays inside the target slot, and the header is the last one written. */
    int trace_ok = n_ops > 0u && n_ops <= PC_MAX_OPS;
    for (uint32_t k = 0; trace_ok && k < n_ops; k++) {
        trace_ok = ops[k].offset >= (uint32_t)target * ssz &&
                   ops[k].offset + ops[k].len <= (uint32_t)(target + 1u) * ssz;
    }
    trace_ok = trace_ok && !ops[n_ops - 1u].erase && ops[n_ops - 1u].offset == (uint32_t)target * ssz;
    CHECK(trace_ok);
    if (!trace_ok) {
        printf("  %s: an operation outside the target slot, or the header not last: no cut loop\n", sc->name);
        memcpy(g_flash.mem, g_snap, g_flash.size);
        return;
    }

    unsigned long per_mode[CUT_MODES] = {0};
    unsigned long fail_mode[CUT_MODES] = {0};
    const unsigned long fail_before = g_case_fail;
    for (uint32_t k = 0; k < n_ops; k++) {
        const flash_op_t *op = &ops[k];
        cut_t cut = {CUT_BEFORE, k, 0u, 0u};
        count_case(sc, target, image_len, &cut, per_mode, fail_mode);
        cut.mode = CUT_PREFIX;
        for (uint32_t p = 1; p < op->len; p++) {
            cut.arg = p;
            count_case(sc, target, image_len, &cut, per_mode, fail_mode);
        }
        if (op->erase) {
            cut.mode = CUT_ERASE_WORD;
            for (uint32_t w = 0; w < op->len / 4u; w++) {
                cut.arg = w;
                cut.mask = 0xFFFFFFFFu;
                count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                if ((op->offset + 4u * w) % ssz < 16u) {
                    for (uint32_t b = 0; b < 32u; b++) {
                        cut.mask = 1u << b;
                        count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                    }
                }
            }
            cut.mode = CUT_ERASE_NOISE;
            for (uint32_t shift = 1; shift <= 6u; shift += (shift == 1u ? 2u : 3u)) { /* 1/2, 1/8, 1/64 */
                for (uint32_t seed = 1; seed <= 8u; seed++) {
                    cut.arg = seed * 0x9E3779B1u;
                    cut.mask = shift;
                    count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                }
            }
            cut.mode = CUT_ERASE_GARBAGE;
            for (uint32_t seed = 1; seed <= 8u; seed++) {
                cut.arg = seed * 0x85EBCA6Bu;
                count_case(sc, target, image_len, &cut, per_mode, fail_mode);
            }
        } else {
            /* The bytes this write programs, as the dry run wrote them. */
            const uint8_t *data = g_image + (op->offset - (uint32_t)target * ssz);
            cut.mode = CUT_TORN_WORD;
            for (uint32_t w = 0; w < op->len / 4u; w++) {
                const uint32_t nw = get_u32(data + 4u * w);
                const uint32_t clear = ~nw; /* bits the program clears (the target word is erased) */
                if (clear == 0u) {
                    continue; /* an all-0xFF word cannot tear */
                }
                cut.arg = w;
                const int header = (op->offset + 4u * w) % ssz < 16u;
                for (uint32_t b = 0; b < 32u; b++) {
                    const uint32_t bit = 1u << b;
                    if ((clear & bit) == 0u) {
                        continue;
                    }
                    const int first = (clear & (bit - 1u)) == 0u;
                    if (header || first) {
                        cut.mask = bit; /* this bit alone still 1 */
                        count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                        if (clear != bit) {
                            cut.mask = clear & ~bit; /* this bit alone cleared */
                            count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                        }
                    }
                }
                if (header && (op->offset + 4u * w) % ssz == 8u) {
                    /* The size word: every torn value that still reads as a size the store accepts. */
                    const uint32_t max_blob = ssz - 16u;
                    for (uint32_t v = nw + 1u; v <= max_blob; v++) {
                        if ((v & nw) == nw && ((v & ~nw) & ((v & ~nw) - 1u)) != 0u) { /* 2+ bits: singles done */
                            cut.mask = v & ~nw;
                            count_case(sc, target, image_len, &cut, per_mode, fail_mode);
                        }
                    }
                }
            }
        }
    }
    cut_t last = {CUT_AFTER_LAST, n_ops, 0u, 0u};
    count_case(sc, target, image_len, &last, per_mode, fail_mode);

    unsigned long n = 0;
    for (int m = 0; m < CUT_MODES; m++) {
        n += per_mode[m];
    }
    printf("  %-44s %u ops, %6lu cases:", sc->name, (unsigned)n_ops, n);
    for (int m = CUT_BEFORE; m < CUT_MODES; m++) {
        if (per_mode[m] > 0u) {
            printf(" %s %lu%s", k_mode_names[m], per_mode[m], fail_mode[m] > 0u ? "" : ",");
            if (fail_mode[m] > 0u) {
                printf(" (%lu FAIL),", fail_mode[m]);
            }
        }
    }
    printf(" %lu failed\n", g_case_fail - fail_before);
    CHECK(g_case_fail == fail_before);
    memcpy(g_flash.mem, g_snap, g_flash.size);
}

/* ==== scenarios =============================================================================== */

static blob_t g_blobs[6];

/* A chain of uploads with a power-cut loop on each: the slots alternate 0, 1, 0, 1, ... */
static void run_chain(const char *label, uint32_t n)
{
    memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
    static char names[8][64];
    for (uint32_t k = 0; k < n; k++) {
        scenario_t sc;
        snprintf(names[k], sizeof names[k], "%s upload %u -> slot %u", label, (unsigned)(k + 1u), (unsigned)(k % 2u));
        sc.name = names[k];
        sc.old = k == 0u ? NULL : &g_blobs[k - 1u];
        sc.old_slot = k == 0u ? (uint8_t)TD_STORE_NO_SLOT : (uint8_t)((k - 1u) % 2u);
        sc.old_gen = k;
        sc.new_blob = &g_blobs[k];
        sc.recovery = &g_blobs[5];
        sc.via_link = 0;
        run_scenario(&sc);
        /* Then the upload completes and the chain goes on from there. */
        CHECK_EQ(upload(&g_blobs[k]), TD_OK);
    }
}

static void test_flash_model(void)
{
    g_flash.page = 4096u;
    g_flash.size = 8192u;
    memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
    disarm();
    const uint8_t w1[4] = {0x0F, 0xFF, 0x00, 0xF0};
    CHECK_EQ(td_hal_storage_write(0u, w1, 4u), TD_OK);
    CHECK_EQ(g_violations, 0);
    CHECK_EQ(td_hal_storage_write(0u, w1, 4u), TD_ERR_STATE); /* not erased: a contract violation */
    CHECK_EQ(g_violations, 1);
    g_violations = 0u;
    /* A torn word: only bits the program clears can differ from the new value. */
    const cut_t torn = {CUT_TORN_WORD, 0u, 1u, 0x0000FF00u};
    arm(&torn);
    const uint8_t w2[8] = {0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00};
    CHECK_EQ(td_hal_storage_write(4u, w2, 8u), TD_ERR_STATE);
    CHECK(get_u32(g_flash.mem + 4) == 0x78563412u && get_u32(g_flash.mem + 8) == 0x0000FF00u);
    CHECK_EQ(td_hal_storage_read(0u, g_snap, 4u), TD_ERR_STATE); /* power is off */
    disarm();
    /* An erase cut at a prefix and an erase that only sets bits. */
    const cut_t ep = {CUT_PREFIX, 0u, 6u, 0u};
    arm(&ep);
    CHECK_EQ(td_hal_storage_erase(0u, 4096u), TD_ERR_STATE);
    CHECK(g_flash.mem[4] == 0xFFu && g_flash.mem[5] == 0xFFu && g_flash.mem[6] == 0x56u && g_flash.mem[8] == 0x00u);
    disarm();
    const cut_t ew = {CUT_ERASE_WORD, 0u, 2u, 0x00010001u};
    arm(&ew);
    CHECK_EQ(td_hal_storage_erase(0u, 4096u), TD_ERR_STATE);
    CHECK_EQ(get_u32(g_flash.mem + 8), 0x0001FF01u);
    disarm();
    CHECK_EQ(g_violations, 0);
}

/* A cut upload leaves the target slot dirty (half a blob; a header torn in its size word); after the reboot
 * the next upload erases that slot again, with a cut at every operation. */
static void test_after_cut(void)
{
    static const cut_t first[2] = {
        {CUT_PREFIX, 1u, 100u, 0u},             /* the blob write stops after 100 bytes */
        {CUT_TORN_WORD, 3u, 2u, 0x00000F00u},   /* header: magic and generation in, size torn to 4,039 */
    };
    static const char *const names[2] = {"after a cut mid-blob: -> slot 0", "after a cut in the header: -> slot 0"};
    for (int i = 0; i < 2; i++) {
        memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
        CHECK_EQ(upload(&g_blobs[0]), TD_OK);
        CHECK_EQ(upload(&g_blobs[1]), TD_OK);
        arm(&first[i]);
        CHECK(upload(&g_blobs[2]) != TD_OK && g_dead);
        disarm();
        if (i == 0) {
            CHECK(get_u32(g_flash.mem) == 0xFFFFFFFFu && g_flash.mem[16] == g_blobs[2].data[0] &&
                  g_flash.mem[116] == 0xFFu);
        } else {
            CHECK(memcmp(g_flash.mem, "TDSL", 4) == 0 && get_u32(g_flash.mem + 8) == 4039u &&
                  get_u32(g_flash.mem + 12) == 0xFFFFFFFFu);
        }
        scenario_t sc = {names[i], &g_blobs[1], 1u, 2u, &g_blobs[3], &g_blobs[5], 0};
        run_scenario(&sc);
    }
}

/* The store refuses the generation after 0xFFFFFFFF (2^32 commits: far past any flash's endurance). */
static void test_generation_end(void)
{
    memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
    put_slot(0u, 0xFFFFFFFDu, &g_blobs[0]);
    put_slot(1u, 0xFFFFFFFEu, &g_blobs[1]);
    scenario_t sc = {"near the last generation: -> slot 0", &g_blobs[1], 1u, 0xFFFFFFFEu, &g_blobs[2], &g_blobs[5], 0};
    run_scenario(&sc);
}

/* The upload of the main case (a second upload over the active one, into the slot of the first) sent
 * through the link: UPLOAD_BEGIN erases, UPLOAD_COMMIT writes, td_app_poll answers. */
static void test_via_link(void)
{
    memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
    CHECK_EQ(upload_link(&g_blobs[0]), TD_OK);
    CHECK_EQ(upload_link(&g_blobs[1]), TD_OK);
    scenario_t sc = {"via the link: upload 3 -> slot 0", &g_blobs[1], 1u, 2u, &g_blobs[3], &g_blobs[5], 1};
    run_scenario(&sc);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    g_flash.size = 8192u;
    g_flash.page = 4096u;
    g_flash.rule = TD_RAM_FLASH_ERASED_ONLY;
    g_flash.gate = power_gate;
    g_flash.violation = count_violation;
    g_flash.cut = trace_and_cut;
    make_blob(&g_blobs[0], 3u, 2u, 2u, 0xA0000001u, 0u);  /* small */
    make_blob(&g_blobs[1], 8u, 16u, 16u, 0xB0000002u, 0u); /* 1,668 bytes, like the bench's profiles */
    make_blob(&g_blobs[2], 2u, 3u, 3u, 0xC0000003u, 3u);  /* not a multiple of 4: the padded tail word */
    make_blob(&g_blobs[3], 6u, 6u, 12u, 0xD0000004u, 1u);
    make_blob(&g_blobs[4], 4u, 2u, 4u, 0xE0000005u, 0u);
    make_blob(&g_blobs[5], 1u, 1u, 2u, 0xF0000006u, 2u);  /* the recovery upload */
    test_flash_model();

    printf("power cut at every flash operation of an upload (4 KB pages, nRF52840):\n");
    g_flash.page = 4096u;
    g_flash.size = 8192u;
    run_chain("4 KB pages:", 5u);
    test_after_cut();
    test_generation_end();
    test_via_link();
    printf("1 KB pages (a slot is 4 pages, one erase call):\n");
    g_flash.page = 1024u;
    g_flash.size = 8192u;
    run_chain("1 KB pages:", 3u);
    printf("power-cut cases: %lu, failed: %lu\n", g_total_cases, g_case_fail);
    CHECK(g_total_cases > 0u);

    printf("test_store_powercut: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
