/* test_frame.c - standalone test of the device-link frame codec (td_frame.h).
 *
 * Build and run:
 *   gcc -std=c99 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include tests/c/test_frame.c csrc/src/td_frame.c csrc/src/td_crc32.c csrc/src/td_status.c \
 *       -o /tmp/test_frame && /tmp/test_frame
 * Prints "test_frame: N passed, M failed" and exits non-zero on any failure.
 *
 * Reference values (PY_*, the short COBS vectors and the golden frame) were
 * produced with the Python package cobs (cobs.cobs.encode, C extension) and
 * zlib.crc32, using the same xorshift32 generator as gen_bytes() below.
 */
#include <stdio.h>
#include <string.h>

#include "tinydrift/td_crc32.h"
#include "tinydrift/td_frame.h"

#include "td_check.h"

/* Python reference: crc32 over all cobs.encode() outputs of the round-trip set, and their total length. */
#define PY_RT_DIGEST 0x96919080u
#define PY_RT_TOTAL 227284u

/* ---- helpers ------------------------------------------------------------ */

static uint32_t g_xs;

static uint32_t xs_next(void)
{
    return td_xorshift32(&g_xs);
}

/* n bytes; each forced to 0 with probability zero_permille/1000 (else its natural value, possibly 0). */
static void gen_bytes(uint8_t *out, size_t n, uint32_t zero_permille)
{
    for (size_t i = 0; i < n; i++) {
        const uint32_t r = xs_next();
        uint8_t b = (uint8_t)(r & 0xFFu);
        if (((r >> 8) % 1000u) < zero_permille) {
            b = 0u;
        }
        out[i] = b;
    }
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
    size_t len = strlen(hex);
    if (len % 2u != 0u || len / 2u > cap) {
        return 0;
    }
    for (size_t i = 0; i < len / 2u; i++) {
        unsigned v = 0;
        for (size_t k = 0; k < 2u; k++) {
            const char c = hex[2u * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= (unsigned)(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= (unsigned)(c - 'a' + 10);
            } else {
                return 0;
            }
        }
        out[i] = (uint8_t)v;
    }
    *n = len / 2u;
    return 1;
}

static int frames_equal(const td_frame_t *f, uint8_t type, uint16_t seq, const uint8_t *payload, size_t len)
{
    return f->type == type && f->seq == seq && f->payload_len == len &&
           (len == 0u || memcmp(f->payload, payload, len) == 0);
}

/* Feed everything; collect up to max_frames frames. Returns frames decoded, or -1 on a contract violation. */
static int feed_all(td_frame_decoder_t *dec, const uint8_t *data, size_t len, td_frame_t *frames, int max_frames)
{
    int n = 0;
    td_frame_t scratch;
    while (1) {
        size_t used = 0;
        td_frame_t *dst = (n < max_frames) ? &frames[n] : &scratch;
        const td_status st = td_frame_decoder_feed(dec, data, len, &used, dst);
        if (st == TD_OK) {
            if (used == 0u || used > len) {
                return -1;
            }
            n++;
        } else if (st == TD_ERR_TRUNCATED) {
            if (used != len) {
                return -1;
            }
            return n;
        } else {
            return -1;
        }
        data += used;
        len -= used;
    }
}

/* Build a body with arbitrary version and COBS-encode it with a delimiter; returns the wire length. */
static size_t make_raw_frame(uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload, size_t plen,
                             int good_crc, uint8_t *wire, size_t cap)
{
    uint8_t body[TD_FRAME_MAX_BODY + 16];
    uint32_t crc;
    size_t n = 0;
    body[0] = version;
    body[1] = type;
    body[2] = (uint8_t)(seq & 0xFFu);
    body[3] = (uint8_t)(seq >> 8);
    if (plen > 0u) {
        memcpy(&body[4], payload, plen);
    }
    crc = td_crc32_update(0u, body, 4u + plen);
    if (!good_crc) {
        crc ^= 0x00010000u;
    }
    body[4u + plen] = (uint8_t)(crc & 0xFFu);
    body[5u + plen] = (uint8_t)((crc >> 8) & 0xFFu);
    body[6u + plen] = (uint8_t)((crc >> 16) & 0xFFu);
    body[7u + plen] = (uint8_t)(crc >> 24);
    if (td_cobs_encode(body, 8u + plen, wire, cap - 1u, &n) != TD_OK) {
        return 0;
    }
    wire[n] = 0u;
    return n + 1u;
}

/* ---- COBS --------------------------------------------------------------- */

static void check_cobs_vector(const uint8_t *raw, size_t raw_len, const uint8_t *enc, size_t enc_len)
{
    static uint8_t out[1024];
    size_t n = 12345;
    CHECK(td_cobs_encode(raw, raw_len, out, sizeof out, &n) == TD_OK);
    CHECK(n == enc_len && memcmp(out, enc, enc_len) == 0);
    /* exact capacity works, one byte less does not */
    CHECK(td_cobs_encode(raw, raw_len, out, enc_len, &n) == TD_OK && n == enc_len);
    CHECK(td_cobs_encode(raw, raw_len, out, enc_len - 1u, &n) == TD_ERR_CAPACITY && n == 0u);
    n = 12345;
    CHECK(td_cobs_decode(enc, enc_len, out, sizeof out, &n) == TD_OK);
    CHECK(n == raw_len && (raw_len == 0u || memcmp(out, raw, raw_len) == 0));
    CHECK(td_cobs_decode(enc, enc_len, out, raw_len, &n) == TD_OK && n == raw_len);
    if (raw_len > 0u) {
        CHECK(td_cobs_decode(enc, enc_len, out, raw_len - 1u, &n) == TD_ERR_CAPACITY && n == 0u);
    }
}

static void test_cobs_known_vectors(void)
{
    /* Wikipedia / Cheshire-Baker examples (short ones) plus Python-generated ones. */
    static const struct {
        const char *raw;
        const char *enc;
    } vec[] = {
        {"", "01"},
        {"00", "0101"},
        {"0000", "010101"},
        {"001100", "01021101"},
        {"11220033", "0311220233"},
        {"11223344", "0511223344"},
        {"11000000", "0211010101"},
        /* from cobs.cobs.encode */
        {"a5", "02a5"},
        {"a300", "02a301"},
        {"008800", "01028801"},
        {"1d29a711f8", "061d29a711f8"},
        {"f8a015c669929d", "08f8a015c669929d"},
        {"0000000000000000", "010101010101010101"},
        {"68f9847bfaac0000ac07ac9a", "0768f9847bfaac0105ac07ac9a"},
        {"620eeed2290d000000195dc0a500cdef", "07620eeed2290d010105195dc0a503cdef"},
        {"04080eca5fecb879988717b9fc651373d3632482", "1504080eca5fecb879988717b9fc651373d3632482"},
        {"825c00090a00002d5cc31779007a00ef007000dd00baad18f208a500821500",
         "03825c03090a01062d5cc31779027a02ef027002dd07baad18f208a503821501"},
    };
    uint8_t raw[64];
    uint8_t enc[64];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t rn = 0;
        size_t en = 0;
        CHECK(hex_to_bytes(vec[i].raw, raw, sizeof raw, &rn) && hex_to_bytes(vec[i].enc, enc, sizeof enc, &en));
        check_cobs_vector(raw, rn, enc, en);
    }
}

static void test_cobs_block_edges(void)
{
    static uint8_t raw[600];
    static uint8_t enc[700];
    size_t k;

    /* 01..FE (254 bytes) -> FF 01..FE : a trailing 254-run ends with its FF block, no extra 01 */
    for (k = 0; k < 254u; k++) {
        raw[k] = (uint8_t)(k + 1u);
    }
    enc[0] = 0xFFu;
    memcpy(&enc[1], raw, 254u);
    check_cobs_vector(raw, 254u, enc, 255u);

    /* 00 01..FE (255) -> 01 FF 01..FE */
    raw[0] = 0u;
    for (k = 0; k < 254u; k++) {
        raw[k + 1u] = (uint8_t)(k + 1u);
    }
    enc[0] = 0x01u;
    enc[1] = 0xFFu;
    memcpy(&enc[2], &raw[1], 254u);
    check_cobs_vector(raw, 255u, enc, 256u);

    /* 01..FF (255) -> FF 01..FE 02 FF */
    for (k = 0; k < 255u; k++) {
        raw[k] = (uint8_t)(k + 1u);
    }
    enc[0] = 0xFFu;
    memcpy(&enc[1], raw, 254u);
    enc[255] = 0x02u;
    enc[256] = 0xFFu;
    check_cobs_vector(raw, 255u, enc, 257u);

    /* 02..FF 00 (255) -> FF 02..FF 01 01 */
    for (k = 0; k < 254u; k++) {
        raw[k] = (uint8_t)(k + 2u);
    }
    raw[254] = 0u;
    enc[0] = 0xFFu;
    memcpy(&enc[1], raw, 254u);
    enc[255] = 0x01u;
    enc[256] = 0x01u;
    check_cobs_vector(raw, 255u, enc, 257u);

    /* 03..FF 00 01 (255) -> FE 03..FF 02 01 */
    for (k = 0; k < 253u; k++) {
        raw[k] = (uint8_t)(k + 3u);
    }
    raw[253] = 0u;
    raw[254] = 1u;
    enc[0] = 0xFEu;
    memcpy(&enc[1], raw, 253u);
    enc[254] = 0x02u;
    enc[255] = 0x01u;
    check_cobs_vector(raw, 255u, enc, 256u);

    /* 253 x 11 -> FE + 253 x 11 ; 253 x 11 00 -> FE + 253 x 11 + 01 */
    memset(raw, 0x11, sizeof raw);
    enc[0] = 0xFEu;
    memset(&enc[1], 0x11, 253u);
    check_cobs_vector(raw, 253u, enc, 254u);
    raw[253] = 0u;
    enc[254] = 0x01u;
    check_cobs_vector(raw, 254u, enc, 255u);

    /* 254 x 11 00 -> FF + 254 x 11 + 01 01 */
    memset(raw, 0x11, sizeof raw);
    raw[254] = 0u;
    enc[0] = 0xFFu;
    memset(&enc[1], 0x11, 254u);
    enc[255] = 0x01u;
    enc[256] = 0x01u;
    check_cobs_vector(raw, 255u, enc, 257u);

    /* 508 x 11 -> (FF + 254 x 11) x 2 ; 509 x 11 -> ... + 02 11 */
    memset(raw, 0x11, sizeof raw);
    memset(enc, 0x11, sizeof enc);
    enc[0] = 0xFFu;
    enc[255] = 0xFFu;
    check_cobs_vector(raw, 508u, enc, 510u);
    enc[510] = 0x02u;
    enc[511] = 0x11u;
    check_cobs_vector(raw, 509u, enc, 512u);
}

static void test_cobs_errors(void)
{
    static const uint8_t z[] = {0x00};
    static const uint8_t t1[] = {0x05, 0x11};
    static const uint8_t r1[] = {0x02, 0x00};
    static const uint8_t t2[] = {0x03, 0x00};
    static const uint8_t t3[] = {0x05, 0x11, 0x00};
    static const uint8_t r2[] = {0x02, 0x11, 0x00};
    static const uint8_t ff_only[] = {0xFF};
    static const uint8_t one[] = {0x01};
    static const uint8_t oneone[] = {0x01, 0x01};
    uint8_t out[16];
    uint8_t buf[300];
    size_t n = 99;

    CHECK(td_cobs_decode(z, 1u, out, sizeof out, &n) == TD_ERR_RANGE && n == 0u);
    CHECK(td_cobs_decode(t1, 2u, out, sizeof out, &n) == TD_ERR_TRUNCATED);
    CHECK(td_cobs_decode(r1, 2u, out, sizeof out, &n) == TD_ERR_RANGE);
    CHECK(td_cobs_decode(t2, 2u, out, sizeof out, &n) == TD_ERR_TRUNCATED); /* as the cobs C extension */
    CHECK(td_cobs_decode(t3, 3u, out, sizeof out, &n) == TD_ERR_TRUNCATED);
    CHECK(td_cobs_decode(r2, 3u, out, sizeof out, &n) == TD_ERR_RANGE);
    CHECK(td_cobs_decode(ff_only, 1u, out, sizeof out, &n) == TD_ERR_TRUNCATED);
    /* empty input decodes to nothing (Python: decode(b'') == b''), 01 to nothing, 01 01 to one zero */
    n = 99;
    CHECK(td_cobs_decode(NULL, 0u, NULL, 0u, &n) == TD_OK && n == 0u);
    CHECK(td_cobs_decode(one, 1u, NULL, 0u, &n) == TD_OK && n == 0u);
    CHECK(td_cobs_decode(oneone, 2u, out, sizeof out, &n) == TD_OK && n == 1u && out[0] == 0u);
    CHECK(td_cobs_decode(oneone, 2u, NULL, 0u, &n) == TD_ERR_CAPACITY);
    /* argument errors */
    CHECK(td_cobs_decode(NULL, 1u, out, sizeof out, &n) == TD_ERR_ARG);
    CHECK(td_cobs_decode(one, 1u, NULL, 4u, &n) == TD_ERR_ARG);
    CHECK(td_cobs_decode(one, 1u, out, sizeof out, NULL) == TD_ERR_ARG);
    CHECK(td_cobs_encode(NULL, 1u, out, sizeof out, &n) == TD_ERR_ARG);
    CHECK(td_cobs_encode(one, 1u, NULL, 4u, &n) == TD_ERR_ARG);
    CHECK(td_cobs_encode(one, 1u, out, sizeof out, NULL) == TD_ERR_ARG);
    CHECK(td_cobs_encode(NULL, 0u, out, sizeof out, &n) == TD_OK && n == 1u && out[0] == 1u);
    CHECK(td_cobs_encode(NULL, 0u, out, 0u, &n) == TD_ERR_CAPACITY);

    /* in-place decode */
    gen_bytes(buf, 100u, 200u);
    {
        uint8_t orig[100];
        uint8_t enc[110];
        size_t en = 0;
        memcpy(orig, buf, sizeof orig);
        CHECK(td_cobs_encode(orig, sizeof orig, enc, sizeof enc, &en) == TD_OK);
        CHECK(td_cobs_decode(enc, en, enc, sizeof enc, &n) == TD_OK && n == sizeof orig &&
              memcmp(enc, orig, sizeof orig) == 0);
    }
}

static void test_cobs_round_trip(void)
{
    static const uint32_t densities[] = {0u, 4u, 100u, 500u, 1000u};
    static uint8_t raw[301];
    static uint8_t enc[310];
    static uint8_t dec[310];
    uint32_t digest = 0;
    uint32_t total = 0;
    int ok = 1;

    g_xs = 0x2545F491u;
    for (size_t d = 0; d < sizeof densities / sizeof densities[0]; d++) {
        for (size_t n = 0; n <= 300u; n++) {
            size_t en = 0;
            size_t dn = 0;
            gen_bytes(raw, n, densities[d]);
            CHECK_QUIET(ok, td_cobs_encode(raw, n, enc, sizeof enc, &en) == TD_OK);
            CHECK_QUIET(ok, en >= n + 1u && en <= n + n / 254u + 1u);
            CHECK_QUIET(ok, memchr(enc, 0, en) == NULL);
            CHECK_QUIET(ok, td_cobs_decode(enc, en, dec, sizeof dec, &dn) == TD_OK);
            CHECK_QUIET(ok, dn == n && (n == 0u || memcmp(dec, raw, n) == 0));
            /* digest first: a failed encode leaves enc's contents unspecified */
            digest = td_crc32_update(digest, enc, en);
            total += (uint32_t)en;
            CHECK_QUIET(ok, td_cobs_encode(raw, n, enc, en - 1u, &dn) == TD_ERR_CAPACITY);
        }
    }
    CHECK(ok);
    /* byte-identical to Python's cobs.cobs.encode over the same 1505 inputs */
    CHECK(digest == PY_RT_DIGEST);
    CHECK(total == PY_RT_TOTAL);
    if (digest != PY_RT_DIGEST || total != PY_RT_TOTAL) {
        printf("  round-trip digest 0x%08lX total %lu\n", (unsigned long)digest, (unsigned long)total);
    }
}

/* ---- word-path encoder and CRC against independent references ---------- */

/* The textbook COBS encoder (Wikipedia's cobsEncode), bytewise: a block closes on a 0x00 or at 254
 * data bytes, and a full block opens the next one only if more input follows (as cobs.cobs.encode).
 * dst needs len + len / 254 + 2 bytes (the last code byte may be written one past the result). */
static size_t ref_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    uint8_t *out = dst;
    uint8_t *codep = out++;
    uint8_t code = 1u;
    for (size_t i = 0; i < len; i++) {
        if (src[i] != 0u) {
            *out++ = src[i];
            code++;
        }
        if (src[i] == 0u || code == 0xFFu) {
            *codep = code;
            code = 1u;
            codep = out;
            if (src[i] == 0u || i + 1u < len) {
                out++;
            }
        }
    }
    *codep = code;
    return (size_t)(out - dst);
}

/* Bit-at-a-time CRC-32 (reflected, poly 0xEDB88320): zlib's crc32, no table. */
static uint32_t ref_crc32(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* n bytes of one of the test patterns: 0..3 random with 0, 4, 500 and 1000 per mille zeros; 4 no zero
 * at all (runs of 254, 255, 508, ... zero-free bytes); 5 zero-free runs of 250..258 bytes between zeros. */
static void gen_pattern(uint8_t *out, size_t n, unsigned pattern)
{
    static const uint32_t densities[] = {0u, 4u, 500u, 1000u};
    if (pattern < 4u) {
        gen_bytes(out, n, densities[pattern]);
        return;
    }
    size_t run = 250u + (size_t)(xs_next() % 9u);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(1u + xs_next() % 255u);
        if (pattern == 5u && run-- == 0u) {
            out[i] = 0u;
            run = 250u + (size_t)(xs_next() % 9u);
        }
    }
}

/* td_cobs_encode, all lengths 0..600 of every pattern, src and dst at every alignment, against the
 * reference; exact capacity works, one byte less fails; every capacity for the short and block-edge sizes. */
static void test_cobs_vs_reference(void)
{
    static uint8_t raw[604];
    static uint8_t enc[620];
    static uint8_t ref[620];
    int ok = 1;

    g_xs = 0x9E3779B9u;
    for (unsigned pattern = 0; pattern < 6u; pattern++) {
        for (size_t n = 0; n <= 600u; n++) {
            const size_t src_off = (n + pattern) % 4u;
            const size_t dst_off = (n / 4u + pattern) % 4u;
            size_t en = 0;
            size_t rn;
            gen_pattern(&raw[src_off], n, pattern);
            rn = ref_cobs_encode(&raw[src_off], n, ref);
            memset(enc, 0xEE, sizeof enc);
            CHECK_QUIET(ok, td_cobs_encode(&raw[src_off], n, &enc[dst_off], sizeof enc - dst_off, &en) == TD_OK);
            CHECK_QUIET(ok, en == rn && memcmp(&enc[dst_off], ref, rn) == 0);
            CHECK_QUIET(ok, enc[dst_off + en] == 0xEEu); /* nothing written past the result */
            CHECK_QUIET(ok, td_cobs_encode(&raw[src_off], n, &enc[dst_off], rn, &en) == TD_OK && en == rn);
            CHECK_QUIET(ok, memcmp(&enc[dst_off], ref, rn) == 0);
            CHECK_QUIET(ok, td_cobs_encode(&raw[src_off], n, &enc[dst_off], rn - 1u, &en) == TD_ERR_CAPACITY);
            CHECK_QUIET(ok, en == 0u);
            if (n <= 24u || (n >= 246u && n <= 262u)) {
                for (size_t cap = 0; cap < rn; cap++) {
                    CHECK_QUIET(ok, td_cobs_encode(&raw[src_off], n, enc, cap, &en) == TD_ERR_CAPACITY);
                }
            }
        }
    }
    CHECK(ok);
}

/* td_crc32_update against the bitwise reference: all lengths 0..600 at every alignment, and split in two
 * at every point of a 64-byte buffer (the word loop and the byte tail meet anywhere). */
static void test_crc_vs_reference(void)
{
    static uint8_t buf[604];
    int ok = 1;

    g_xs = 0x7F4A7C15u;
    gen_bytes(buf, sizeof buf, 100u);
    for (size_t n = 0; n <= 600u; n++) {
        const size_t off = n % 4u;
        CHECK_QUIET(ok, td_crc32_update(0u, &buf[off], n) == ref_crc32(0u, &buf[off], n));
        CHECK_QUIET(ok, td_crc32_update(0x12345678u, &buf[off], n) == ref_crc32(0x12345678u, &buf[off], n));
    }
    for (size_t cut = 0; cut <= 64u; cut++) {
        CHECK_QUIET(ok, td_crc32_update(td_crc32_update(0u, buf, cut), &buf[cut], 64u - cut) == ref_crc32(0u, buf, 64u));
    }
    CHECK(ok);
    /* zlib.crc32(b"123456789") */
    CHECK(td_crc32_update(0u, (const uint8_t *)"123456789", 9u) == 0xCBF43926u);
}

/* td_frame_encode, every payload length 0..TD_FRAME_MAX_PAYLOAD of every pattern, against the reference
 * COBS of header | payload | reference CRC; misaligned payload and wire; exact capacity works, one less fails. */
static void test_frame_encode_vs_reference(void)
{
    static uint8_t payload[TD_FRAME_MAX_PAYLOAD + 4];
    static uint8_t body[TD_FRAME_MAX_BODY];
    static uint8_t ref[TD_FRAME_MAX_WIRE + 4];
    static uint8_t wire[TD_FRAME_MAX_WIRE + 8];
    int ok = 1;

    g_xs = 0x51ED270Bu;
    for (unsigned pattern = 0; pattern < 6u; pattern++) {
        for (size_t plen = 0; plen <= TD_FRAME_MAX_PAYLOAD; plen++) {
            const size_t p_off = (plen + pattern) % 4u;
            const size_t w_off = (plen / 4u) % 4u;
            /* header bytes of 0x00 and 0xFF too: type and seq are part of the COBS input */
            const uint8_t type = (uint8_t)((plen % 3u == 0u) ? 0u : xs_next());
            const uint16_t seq = (uint16_t)((plen % 5u == 0u) ? (plen % 2u) * 0xFF00u : xs_next());
            size_t n = 0;
            size_t rn;
            uint32_t crc;
            gen_pattern(&payload[p_off], plen, pattern);
            body[0] = (uint8_t)TD_FRAME_VERSION;
            body[1] = type;
            body[2] = (uint8_t)(seq & 0xFFu);
            body[3] = (uint8_t)(seq >> 8);
            if (plen > 0u) {
                memcpy(&body[4], &payload[p_off], plen);
            }
            crc = ref_crc32(0u, body, 4u + plen);
            for (size_t k = 0; k < 4u; k++) {
                body[4u + plen + k] = (uint8_t)(crc >> (8u * k));
            }
            rn = ref_cobs_encode(body, 8u + plen, ref);
            ref[rn++] = 0u;
            CHECK_QUIET(ok, td_frame_encode(type, seq, &payload[p_off], plen, &wire[w_off], sizeof wire - w_off, &n) == TD_OK);
            CHECK_QUIET(ok, n == rn && memcmp(&wire[w_off], ref, rn) == 0);
            CHECK_QUIET(ok, td_frame_encode(type, seq, &payload[p_off], plen, &wire[w_off], rn, &n) == TD_OK && n == rn);
            CHECK_QUIET(ok, memcmp(&wire[w_off], ref, rn) == 0);
            CHECK_QUIET(ok, td_frame_encode(type, seq, &payload[p_off], plen, &wire[w_off], rn - 1u, &n) == TD_ERR_CAPACITY);
            CHECK_QUIET(ok, n == 0u);
        }
    }
    CHECK(ok);
}

/* ---- frames ------------------------------------------------------------- */

static void test_frame_golden(void)
{
    static const uint8_t payload[] = {0x00, 0x01, 0x02, 'h', 'e', 'l', 'l', 'o', 0x00};
    uint8_t expect[32];
    uint8_t wire[TD_FRAME_MAX_WIRE];
    size_t en = 0;
    size_t n = 0;
    td_frame_t f;

    CHECK(TD_FRAME_MAX_BODY == 360 && TD_FRAME_MAX_WIRE == 363);
    CHECK(hex_to_bytes("050142341208010268656c6c6f0509b64a8900", expect, sizeof expect, &en));
    CHECK(td_frame_encode(0x42u, 0x1234u, payload, sizeof payload, wire, sizeof wire, &n) == TD_OK);
    CHECK(n == en && memcmp(wire, expect, en) == 0);
    memset(&f, 0xAA, sizeof f);
    CHECK(td_frame_decode(wire, n, &f) == TD_OK && frames_equal(&f, 0x42u, 0x1234u, payload, sizeof payload));
    memset(&f, 0xAA, sizeof f);
    CHECK(td_frame_decode(wire, n - 1u, &f) == TD_OK && frames_equal(&f, 0x42u, 0x1234u, payload, sizeof payload));
}

static void test_frame_encode_args(void)
{
    uint8_t payload[TD_FRAME_MAX_PAYLOAD + 1];
    uint8_t wire[TD_FRAME_MAX_WIRE + 8];
    size_t n = 7;
    size_t full = 0;
    int ok = 1;

    memset(payload, 0x5A, sizeof payload);
    CHECK(td_frame_encode(1u, 2u, payload, TD_FRAME_MAX_PAYLOAD + 1u, wire, sizeof wire, &n) == TD_ERR_LIMIT && n == 0u);
    CHECK(td_frame_encode(1u, 2u, NULL, 1u, wire, sizeof wire, &n) == TD_ERR_ARG);
    CHECK(td_frame_encode(1u, 2u, payload, 1u, NULL, sizeof wire, &n) == TD_ERR_ARG);
    CHECK(td_frame_encode(1u, 2u, payload, 1u, wire, sizeof wire, NULL) == TD_ERR_ARG);
    CHECK(td_frame_encode(1u, 2u, NULL, 0u, wire, sizeof wire, &n) == TD_OK && n >= TD_FRAME_MIN_BODY + 2u);
    /* the largest frame fills TD_FRAME_MAX_WIRE (360-byte body + 2 COBS code bytes + delimiter) */
    CHECK(td_frame_encode(0xFFu, 0xFFFFu, payload, TD_FRAME_MAX_PAYLOAD, wire, sizeof wire, &full) == TD_OK);
    CHECK(full <= TD_FRAME_MAX_WIRE && full == TD_FRAME_MAX_BODY + 2u + 1u);
    CHECK(wire[full - 1u] == 0u && memchr(wire, 0, full - 1u) == NULL);
    for (size_t cap = 0; cap < full; cap++) {
        CHECK_QUIET(ok, td_frame_encode(0xFFu, 0xFFFFu, payload, TD_FRAME_MAX_PAYLOAD, wire, cap, &n) == TD_ERR_CAPACITY);
        CHECK_QUIET(ok, n == 0u);
    }
    CHECK(ok);
    CHECK(td_frame_encode(0xFFu, 0xFFFFu, payload, TD_FRAME_MAX_PAYLOAD, wire, full, &n) == TD_OK && n == full);
}

static void test_frame_round_trip(void)
{
    static uint8_t payload[TD_FRAME_MAX_PAYLOAD];
    static uint8_t wire[TD_FRAME_MAX_WIRE];
    static td_frame_decoder_t dec;
    static td_frame_t f;
    int ok = 1;

    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    g_xs = 0xC0FFEE11u;
    for (int iter = 0; iter < 2000; iter++) {
        const size_t plen = (iter < 257) ? (size_t)iter : (size_t)(xs_next() % (TD_FRAME_MAX_PAYLOAD + 1u));
        const uint8_t type = (uint8_t)(xs_next() & 0xFFu);
        const uint16_t seq = (uint16_t)(xs_next() & 0xFFFFu);
        const uint32_t density = (uint32_t)(iter % 4) * 150u; /* 0, 150, 300, 450 per mille */
        size_t n = 0;
        size_t used = 0;
        gen_bytes(payload, plen, density);
        CHECK_QUIET(ok, td_frame_encode(type, seq, payload, plen, wire, sizeof wire, &n) == TD_OK);
        CHECK_QUIET(ok, n <= TD_FRAME_MAX_WIRE && wire[n - 1u] == 0u && memchr(wire, 0, n - 1u) == NULL);
        /* one-shot, with and without delimiter */
        CHECK_QUIET(ok, td_frame_decode(wire, n, &f) == TD_OK && frames_equal(&f, type, seq, payload, plen));
        CHECK_QUIET(ok, td_frame_decode(wire, n - 1u, &f) == TD_OK && frames_equal(&f, type, seq, payload, plen));
        /* streaming, whole buffer */
        memset(&f, 0, sizeof f);
        CHECK_QUIET(ok, td_frame_decoder_feed(&dec, wire, n, &used, &f) == TD_OK && used == n);
        CHECK_QUIET(ok, frames_equal(&f, type, seq, payload, plen));
        /* streaming, byte by byte: TD_ERR_TRUNCATED until the delimiter */
        for (size_t i = 0; i < n; i++) {
            const td_status st = td_frame_decoder_feed(&dec, &wire[i], 1u, &used, &f);
            CHECK_QUIET(ok, used == 1u);
            CHECK_QUIET(ok, st == ((i + 1u == n) ? TD_OK : TD_ERR_TRUNCATED));
        }
        CHECK_QUIET(ok, frames_equal(&f, type, seq, payload, plen));
    }
    CHECK(ok);
    CHECK(dec.n_frames == 4000u && dec.n_crc_errors == 0u && dec.n_format_errors == 0u && dec.n_overflows == 0u);
}

static void test_frame_decode_errors(void)
{
    static const uint8_t delim[] = {0x00};
    static const uint8_t mid_zero[] = {0x03, 0x11, 0x00, 0x22, 0x00};
    static const uint8_t cobs_trunc[] = {0x09, 0x01, 0x02, 0x00};
    uint8_t payload[TD_FRAME_MAX_PAYLOAD + 1];
    uint8_t wire[TD_FRAME_MAX_WIRE + 16];
    size_t n;
    td_frame_t f;

    memset(payload, 0x33, sizeof payload);
    CHECK(td_frame_decode(NULL, 0u, &f) == TD_ERR_TRUNCATED);
    CHECK(td_frame_decode(delim, 1u, &f) == TD_ERR_TRUNCATED);
    CHECK(td_frame_decode(NULL, 3u, &f) == TD_ERR_ARG);
    CHECK(td_frame_decode(delim, 1u, NULL) == TD_ERR_ARG);
    CHECK(td_frame_decode(mid_zero, sizeof mid_zero, &f) == TD_ERR_RANGE);
    CHECK(td_frame_decode(cobs_trunc, sizeof cobs_trunc, &f) == TD_ERR_TRUNCATED);

    n = make_raw_frame(1u, 7u, 9u, payload, 5u, 1, wire, sizeof wire);
    CHECK(n > 0u && td_frame_decode(wire, n, &f) == TD_OK && frames_equal(&f, 7u, 9u, payload, 5u));
    n = make_raw_frame(1u, 7u, 9u, payload, 5u, 0, wire, sizeof wire);
    CHECK(n > 0u && td_frame_decode(wire, n, &f) == TD_ERR_CRC);
    n = make_raw_frame(2u, 7u, 9u, payload, 5u, 1, wire, sizeof wire);
    CHECK(n > 0u && td_frame_decode(wire, n, &f) == TD_ERR_VERSION);
    n = make_raw_frame(0u, 7u, 9u, payload, 0u, 1, wire, sizeof wire);
    CHECK(n > 0u && td_frame_decode(wire, n, &f) == TD_ERR_VERSION);
    /* body of 265 bytes (payload 257), valid CRC: too long */
    n = make_raw_frame(1u, 7u, 9u, payload, TD_FRAME_MAX_PAYLOAD + 1u, 1, wire, sizeof wire);
    CHECK(n > 0u && td_frame_decode(wire, n, &f) == TD_ERR_SIZE);
    /* bodies of 0..7 bytes: too short */
    for (size_t len = 0; len < TD_FRAME_MIN_BODY; len++) {
        uint8_t body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        size_t en = 0;
        CHECK(td_cobs_encode(body, len, wire, sizeof wire, &en) == TD_OK);
        CHECK(td_frame_decode(wire, en, &f) == TD_ERR_TRUNCATED);
    }
}

/* Every single-byte corruption of an encoded frame is rejected (one-shot and streaming), and the
 * streaming decoder still decodes the next valid frame. */
static void test_frame_corruption(void)
{
    static const size_t lens[] = {0u, 1u, 9u, 60u, 253u, 256u};
    static uint8_t payload[TD_FRAME_MAX_PAYLOAD];
    static uint8_t sent_payload[16];
    static uint8_t wire[TD_FRAME_MAX_WIRE];
    static uint8_t sentinel[TD_FRAME_MAX_WIRE];
    static uint8_t stream[2 * TD_FRAME_MAX_WIRE + 1];
    static td_frame_decoder_t dec;
    static td_frame_t frames[4];
    size_t sent_len = 0;
    unsigned long cases = 0;
    int ok = 1;

    memset(sent_payload, 0xEE, sizeof sent_payload);
    CHECK(td_frame_encode(0x99u, 0xBEEFu, sent_payload, sizeof sent_payload, sentinel, sizeof sentinel, &sent_len) == TD_OK);
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    g_xs = 0x1BADB002u;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t plen = lens[li];
        size_t n = 0;
        gen_bytes(payload, plen, (li % 2u) ? 100u : 0u);
        CHECK(td_frame_encode(0x21u, (uint16_t)(0x100u + li), payload, plen, wire, sizeof wire, &n) == TD_OK);
        for (size_t pos = 0; pos < n; pos++) {
            /* every other value for short frames; a spread of values for long ones */
            for (unsigned v = 0; v < 256u; v++) {
                const uint8_t orig = wire[pos];
                const uint32_t before_err = dec.n_crc_errors + dec.n_format_errors + dec.n_overflows;
                td_frame_t one;
                int got;
                if (v == orig || (n > 64u && v != 0u && v != 1u && v != 0xFFu && v != (orig ^ 0x01u) &&
                                  v != (orig ^ 0x80u) && v != (uint8_t)(orig + 1u) && (v % 37u) != 5u)) {
                    continue;
                }
                cases++;
                memcpy(stream, wire, n);
                stream[pos] = (uint8_t)v;
                /* one-shot: must not yield a frame */
                CHECK_QUIET(ok, td_frame_decode(stream, n, &one) != TD_OK);
                /* streaming: corrupted frame, a flush delimiter, then a valid sentinel frame */
                stream[n] = 0u;
                memcpy(&stream[n + 1u], sentinel, sent_len);
                got = feed_all(&dec, stream, n + 1u + sent_len, frames, 4);
                CHECK_QUIET(ok, got == 1);
                CHECK_QUIET(ok, got >= 1 && frames_equal(&frames[0], 0x99u, 0xBEEFu, sent_payload, sizeof sent_payload));
                /* the bad frame was counted (a corrupted delimiter just glues it to the flush) */
                CHECK_QUIET(ok, dec.n_crc_errors + dec.n_format_errors + dec.n_overflows > before_err);
            }
        }
    }
    CHECK(ok);
    CHECK(cases > 5000u);
}

/* Every truncation of an encoded frame is rejected. */
static void test_frame_truncation(void)
{
    static const size_t lens[] = {0u, 3u, 40u, 250u, 256u};
    static uint8_t payload[TD_FRAME_MAX_PAYLOAD];
    static uint8_t wire[TD_FRAME_MAX_WIRE];
    static uint8_t stream[2 * TD_FRAME_MAX_WIRE + 1];
    static uint8_t sentinel[TD_FRAME_MAX_WIRE];
    static td_frame_decoder_t dec;
    static td_frame_t frames[4];
    size_t sent_len = 0;
    int ok = 1;

    CHECK(td_frame_encode(0x77u, 0x0102u, NULL, 0u, sentinel, sizeof sentinel, &sent_len) == TD_OK);
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    g_xs = 0x0DDBA11u;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t plen = lens[li];
        size_t n = 0;
        td_frame_t one;
        gen_bytes(payload, plen, 200u);
        CHECK(td_frame_encode(3u, 4u, payload, plen, wire, sizeof wire, &n) == TD_OK);
        /* prefixes shorter than the undelimited frame: one-shot must fail */
        for (size_t k = 0; k + 1u < n; k++) {
            const uint32_t before = dec.n_crc_errors + dec.n_format_errors;
            int got;
            CHECK_QUIET(ok, td_frame_decode(wire, k, &one) != TD_OK);
            /* the same prefix closed by a delimiter, then a valid frame: only the valid one comes out */
            memcpy(stream, wire, k);
            stream[k] = 0u;
            memcpy(&stream[k + 1u], sentinel, sent_len);
            got = feed_all(&dec, stream, k + 1u + sent_len, frames, 4);
            CHECK_QUIET(ok, got == 1 && frames_equal(&frames[0], 0x77u, 0x0102u, NULL, 0u));
            /* k == 0 is an empty frame: ignored, not counted */
            CHECK_QUIET(ok, dec.n_crc_errors + dec.n_format_errors == before + (k > 0u ? 1u : 0u));
        }
        CHECK_QUIET(ok, td_frame_decode(wire, n - 1u, &one) == TD_OK);
    }
    CHECK(ok);
    CHECK(dec.n_overflows == 0u);
}

/* Random garbage (ending in a delimiter) between valid frames, fed in random chunks. */
static void test_frame_garbage(void)
{
    enum { N_FRAMES = 200 };
    static uint8_t stream[N_FRAMES * (TD_FRAME_MAX_WIRE + 700)];
    static uint8_t payloads[N_FRAMES][TD_FRAME_MAX_PAYLOAD];
    static size_t plens[N_FRAMES];
    static td_frame_decoder_t dec;
    size_t len = 0;
    size_t pos = 0;
    int next = 0;
    int ok = 1;

    g_xs = 0xFEEDF00Du;
    for (int i = 0; i < N_FRAMES; i++) {
        size_t glen = xs_next() % 700u;
        size_t n = 0;
        /* garbage: sometimes dense with zeros, sometimes long zero-free runs (overflow) */
        gen_bytes(&stream[len], glen, (i % 3 == 0) ? 0u : 20u);
        len += glen;
        stream[len++] = 0u;
        plens[i] = xs_next() % (TD_FRAME_MAX_PAYLOAD + 1u);
        gen_bytes(payloads[i], plens[i], 100u);
        CHECK_QUIET(ok, td_frame_encode((uint8_t)i, (uint16_t)(i * 3), payloads[i], plens[i], &stream[len],
                                        sizeof stream - len, &n) == TD_OK);
        len += n;
    }
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    while (pos < len) {
        size_t chunk = 1u + xs_next() % 300u;
        if (chunk > len - pos) {
            chunk = len - pos;
        }
        while (chunk > 0u) {
            size_t used = 0;
            td_frame_t f;
            const td_status st = td_frame_decoder_feed(&dec, &stream[pos], chunk, &used, &f);
            CHECK_QUIET(ok, st == TD_OK || st == TD_ERR_TRUNCATED);
            CHECK_QUIET(ok, used > 0u && used <= chunk);
            if (st == TD_OK) {
                CHECK_QUIET(ok, next < N_FRAMES);
                if (next < N_FRAMES) {
                    CHECK_QUIET(ok, frames_equal(&f, (uint8_t)next, (uint16_t)(next * 3), payloads[next], plens[next]));
                }
                next++;
            } else {
                CHECK_QUIET(ok, used == chunk);
            }
            if (used == 0u) {
                break;
            }
            pos += used;
            chunk -= used;
        }
    }
    CHECK(ok);
    CHECK(next == N_FRAMES);
    CHECK(dec.n_frames == (uint32_t)N_FRAMES);
    CHECK(dec.n_overflows > 0u);
    CHECK(dec.n_crc_errors + dec.n_format_errors > 0u);
}

static void test_decoder_counters(void)
{
    static const uint8_t empties[] = {0x00, 0x00, 0x00};
    static const uint8_t cobs_trunc[] = {0x05, 0x11, 0x00};
    static const uint8_t lone[] = {0x01, 0x00}; /* empty body */
    static uint8_t buf[4 * TD_FRAME_MAX_WIRE];
    static uint8_t payload[TD_FRAME_MAX_PAYLOAD + 1];
    static td_frame_decoder_t dec;
    td_frame_t f;
    size_t used = 77;
    size_t n;
    size_t n2;
    int got;

    CHECK(td_frame_decoder_init(NULL) == TD_ERR_ARG);
    memset(&dec, 0xA5, sizeof dec);
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    CHECK(dec.n_frames == 0u && dec.n_crc_errors == 0u && dec.n_format_errors == 0u && dec.n_overflows == 0u);

    /* argument errors */
    CHECK(td_frame_decoder_feed(NULL, empties, 1u, &used, &f) == TD_ERR_ARG && used == 0u);
    CHECK(td_frame_decoder_feed(&dec, NULL, 1u, &used, &f) == TD_ERR_ARG);
    CHECK(td_frame_decoder_feed(&dec, empties, 1u, NULL, &f) == TD_ERR_ARG);
    CHECK(td_frame_decoder_feed(&dec, empties, 1u, &used, NULL) == TD_ERR_ARG);
    used = 77;
    CHECK(td_frame_decoder_feed(&dec, NULL, 0u, &used, &f) == TD_ERR_TRUNCATED && used == 0u);

    /* empty frames are ignored and uncounted */
    CHECK(feed_all(&dec, empties, sizeof empties, &f, 1) == 0);
    CHECK(dec.n_frames == 0u && dec.n_crc_errors == 0u && dec.n_format_errors == 0u && dec.n_overflows == 0u);

    /* COBS block cut by the delimiter; empty body: format errors */
    CHECK(feed_all(&dec, cobs_trunc, sizeof cobs_trunc, &f, 1) == 0 && dec.n_format_errors == 1u);
    CHECK(feed_all(&dec, lone, sizeof lone, &f, 1) == 0 && dec.n_format_errors == 2u);

    /* bad CRC */
    memset(payload, 0x44, sizeof payload);
    n = make_raw_frame(1u, 1u, 1u, payload, 10u, 0, buf, sizeof buf);
    CHECK(feed_all(&dec, buf, n, &f, 1) == 0 && dec.n_crc_errors == 1u);
    /* wrong version */
    n = make_raw_frame(9u, 1u, 1u, payload, 10u, 1, buf, sizeof buf);
    CHECK(feed_all(&dec, buf, n, &f, 1) == 0 && dec.n_format_errors == 3u);
    /* body of 265 bytes: overflow, counted once */
    n = make_raw_frame(1u, 1u, 1u, payload, TD_FRAME_MAX_PAYLOAD + 1u, 1, buf, sizeof buf);
    CHECK(feed_all(&dec, buf, n, &f, 1) == 0 && dec.n_overflows == 1u);
    /* 900 non-zero bytes without delimiter: one overflow, rest discarded up to the 0x00 */
    memset(buf, 0x11, 900u);
    buf[900] = 0u;
    CHECK(feed_all(&dec, buf, 901u, &f, 1) == 0 && dec.n_overflows == 2u);
    CHECK(dec.n_frames == 0u && dec.n_crc_errors == 1u && dec.n_format_errors == 3u);

    /* the largest valid frame is not an overflow */
    CHECK(td_frame_encode(5u, 6u, payload, TD_FRAME_MAX_PAYLOAD, buf, sizeof buf, &n) == TD_OK);
    CHECK(feed_all(&dec, buf, n, &f, 1) == 1 && frames_equal(&f, 5u, 6u, payload, TD_FRAME_MAX_PAYLOAD));
    CHECK(dec.n_frames == 1u && dec.n_overflows == 2u);

    /* two frames in one buffer: consumed stops after the first delimiter */
    CHECK(td_frame_encode(1u, 10u, payload, 3u, buf, sizeof buf, &n) == TD_OK);
    CHECK(td_frame_encode(2u, 11u, payload, 4u, &buf[n], sizeof buf - n, &n2) == TD_OK);
    CHECK(td_frame_decoder_feed(&dec, buf, n + n2, &used, &f) == TD_OK && used == n && f.seq == 10u);
    CHECK(td_frame_decoder_feed(&dec, &buf[n], n2, &used, &f) == TD_OK && used == n2 && f.seq == 11u);
    CHECK(td_frame_decoder_feed(&dec, &buf[n + n2], 0u, &used, &f) == TD_ERR_TRUNCATED && used == 0u);

    /* *frame untouched unless TD_OK */
    memset(&f, 0x5C, sizeof f);
    CHECK(td_frame_decoder_feed(&dec, buf, n - 1u, &used, &f) == TD_ERR_TRUNCATED && used == n - 1u);
    CHECK(f.type == 0x5Cu && f.payload[0] == 0x5Cu);
    CHECK(td_frame_decoder_feed(&dec, &buf[n - 1u], 1u, &used, &f) == TD_OK && used == 1u && f.seq == 10u);

    /* init resets a half-received frame */
    CHECK(td_frame_decoder_feed(&dec, buf, 3u, &used, &f) == TD_ERR_TRUNCATED);
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    got = feed_all(&dec, &buf[n], n2, &f, 1);
    CHECK(got == 1 && f.seq == 11u && dec.n_frames == 1u && dec.n_format_errors == 0u);
}

int main(void)
{
    test_cobs_known_vectors();
    test_cobs_block_edges();
    test_cobs_errors();
    test_cobs_round_trip();
    test_cobs_vs_reference();
    test_crc_vs_reference();
    test_frame_encode_vs_reference();
    test_frame_golden();
    test_frame_encode_args();
    test_frame_round_trip();
    test_frame_decode_errors();
    test_frame_corruption();
    test_frame_truncation();
    test_frame_garbage();
    test_decoder_counters();
    printf("test_frame: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
