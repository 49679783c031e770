/* fuzz_frame.c - libFuzzer target for the link frame codec (td_frame.h).
 *
 * Each input is used three ways:
 *   1. as wire bytes: one-shot td_frame_decode of the whole input, and three streaming decoders fed the whole
 *      input at once, byte by byte and in chunks whose sizes come from the input. The three must return the same
 *      frames and counters, and every delimited segment must be accepted by the streaming decoders exactly when
 *      td_frame_decode accepts it on its own, with the same contents;
 *   2. any frame decoded in one shot is re-encoded and decoded again: the same type, seq and payload;
 *   3. as a message (type, seq, payload = the rest): td_frame_encode, then one-shot and streaming decode must
 *      reproduce it, and the wire bytes must stay within TD_FRAME_MAX_WIRE with a single 0x00 at the end.
 * Any mismatch is a crash (__builtin_trap). Public headers only; links csrc/src/ (all of it).
 * Build and run: make fuzz (fuzz/fuzz.mk).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinydrift/td_frame.h"

#include "fuzz_check.h"

/** Frames one streaming pass may return before the harness stops recording them. */
#define MAX_FRAMES 64

typedef struct {
    td_frame_decoder_t dec;
    td_frame_t frames[MAX_FRAMES];
    uint32_t n;
} pass_t;

static int same_frame(const td_frame_t *a, const td_frame_t *b)
{
    return a->type == b->type && a->seq == b->seq && a->payload_len == b->payload_len &&
           memcmp(a->payload, b->payload, a->payload_len) == 0;
}

/* Feed data[0..len) to p's decoder (which must make progress on every call); record the frames returned. */
static void feed(pass_t *p, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        size_t used = 0;
        td_frame_t f;
        const td_status s = td_frame_decoder_feed(&p->dec, data + pos, len - pos, &used, &f);
        CHECK(used > 0 && used <= len - pos);
        if (s == TD_OK) {
            CHECK(f.payload_len <= TD_FRAME_MAX_PAYLOAD);
            CHECK(data[pos + used - 1] == 0x00); /* a frame ends at its delimiter */
            if (p->n < MAX_FRAMES) {
                p->frames[p->n] = f;
            }
            p->n++;
        } else {
            CHECK(s == TD_ERR_TRUNCATED && used == len - pos);
        }
        pos += used;
    }
}

static void same_pass(const pass_t *a, const pass_t *b)
{
    CHECK(a->n == b->n);
    CHECK(a->dec.n_frames == b->dec.n_frames && a->dec.n_crc_errors == b->dec.n_crc_errors &&
          a->dec.n_format_errors == b->dec.n_format_errors && a->dec.n_overflows == b->dec.n_overflows);
    for (uint32_t i = 0; i < a->n && i < MAX_FRAMES; i++) {
        CHECK(same_frame(&a->frames[i], &b->frames[i]));
    }
}

static pass_t g_whole, g_bytes, g_chunks;
static uint8_t g_wire[TD_FRAME_MAX_WIRE];
static uint8_t g_wire2[TD_FRAME_MAX_WIRE];

/* 1: the input as wire bytes. */
static void decode_wire(const uint8_t *data, size_t size)
{
    td_frame_t one;
    const td_status s1 = td_frame_decode(data, size, &one);
    if (s1 == TD_OK) {
        /* 2: a decoded frame re-encodes to a frame that decodes to the same contents. */
        size_t wl = 0;
        CHECK(one.payload_len <= TD_FRAME_MAX_PAYLOAD);
        CHECK(td_frame_encode(one.type, one.seq, one.payload, one.payload_len, g_wire, sizeof g_wire, &wl) == TD_OK);
        td_frame_t again;
        CHECK(td_frame_decode(g_wire, wl, &again) == TD_OK && same_frame(&one, &again));
    } else {
        CHECK(s1 == TD_ERR_TRUNCATED || s1 == TD_ERR_RANGE || s1 == TD_ERR_SIZE || s1 == TD_ERR_CRC ||
              s1 == TD_ERR_VERSION);
    }

    CHECK(td_frame_decoder_init(&g_whole.dec) == TD_OK);
    CHECK(td_frame_decoder_init(&g_bytes.dec) == TD_OK);
    CHECK(td_frame_decoder_init(&g_chunks.dec) == TD_OK);
    g_whole.n = g_bytes.n = g_chunks.n = 0;
    feed(&g_whole, data, size);
    for (size_t i = 0; i < size; i++) {
        feed(&g_bytes, data + i, 1);
    }
    /* Chunk sizes 1..16 from the input bytes themselves (cycled), plus empty feeds in between. */
    size_t pos = 0;
    size_t k = 0;
    while (pos < size) {
        size_t n = (size_t)(data[k % size] & 0x0Fu) + 1u;
        k++;
        if (n > size - pos) {
            n = size - pos;
        }
        feed(&g_chunks, data + pos, n);
        feed(&g_chunks, data + pos, 0);
        pos += n;
    }
    /* A final delimiter closes the last segment (an overflowing one is counted before its delimiter arrives). */
    static const uint8_t zero = 0x00;
    feed(&g_whole, &zero, 1);
    feed(&g_bytes, &zero, 1);
    feed(&g_chunks, &zero, 1);
    same_pass(&g_whole, &g_bytes);
    same_pass(&g_whole, &g_chunks);
    CHECK(g_whole.dec.n_frames == g_whole.n);

    /* Every non-empty delimited segment is one frame or one counted error; it is a frame exactly when
     * td_frame_decode accepts the segment alone, with the same contents. */
    uint32_t segments = 0;
    uint32_t accepted = 0;
    size_t start = 0;
    while (start <= size) {
        const uint8_t *z = start < size ? memchr(data + start, 0x00, size - start) : NULL;
        const size_t end = z != NULL ? (size_t)(z - data) : size;
        if (end > start) {
            td_frame_t f;
            const td_status s = td_frame_decode(data + start, end - start, &f);
            if (s == TD_OK) {
                CHECK(accepted < g_whole.n);
                if (accepted < MAX_FRAMES) {
                    CHECK(same_frame(&f, &g_whole.frames[accepted]));
                }
                accepted++;
            }
            segments++;
        }
        start = end + 1;
    }
    CHECK(accepted == g_whole.n);
    const td_frame_decoder_t *d = &g_whole.dec;
    CHECK(d->n_frames + d->n_crc_errors + d->n_format_errors + d->n_overflows == segments);
}

/* 3: the input as a message to encode. */
static void round_trip(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return;
    }
    const uint8_t type = data[0];
    const uint16_t seq = (uint16_t)(data[1] | (data[2] << 8));
    const uint8_t *payload = data + 3;
    const size_t len = size - 3;
    size_t wl = 0;
    const td_status s = td_frame_encode(type, seq, payload, len, g_wire, sizeof g_wire, &wl);
    if (len > TD_FRAME_MAX_PAYLOAD) {
        CHECK(s == TD_ERR_LIMIT);
        return;
    }
    CHECK(s == TD_OK && wl >= TD_FRAME_MIN_BODY + 2 && wl <= TD_FRAME_MAX_WIRE);
    CHECK(memchr(g_wire, 0x00, wl) == g_wire + wl - 1);
    /* One byte short of room: refused, nothing claimed written. */
    size_t wl_short = 1;
    CHECK(td_frame_encode(type, seq, payload, len, g_wire2, wl - 1, &wl_short) == TD_ERR_CAPACITY);

    td_frame_t f;
    CHECK(td_frame_decode(g_wire, wl, &f) == TD_OK);
    CHECK(f.type == type && f.seq == seq && f.payload_len == len && memcmp(f.payload, payload, len) == 0);
    CHECK(td_frame_decode(g_wire, wl - 1, &f) == TD_OK); /* without its delimiter */
    CHECK(f.type == type && f.seq == seq && f.payload_len == len && memcmp(f.payload, payload, len) == 0);

    /* Streaming, whole and byte by byte, after a lone 0x00 flush. */
    td_frame_decoder_t dec;
    CHECK(td_frame_decoder_init(&dec) == TD_OK);
    size_t used = 0;
    static const uint8_t zero = 0x00;
    CHECK(td_frame_decoder_feed(&dec, &zero, 1, &used, &f) == TD_ERR_TRUNCATED && used == 1);
    CHECK(td_frame_decoder_feed(&dec, g_wire, wl, &used, &f) == TD_OK && used == wl);
    CHECK(f.type == type && f.seq == seq && f.payload_len == len && memcmp(f.payload, payload, len) == 0);
    uint32_t got = 0;
    for (size_t i = 0; i < wl; i++) {
        const td_status st = td_frame_decoder_feed(&dec, g_wire + i, 1, &used, &f);
        CHECK(used == 1);
        if (st == TD_OK) {
            CHECK(i == wl - 1);
            CHECK(f.type == type && f.seq == seq && f.payload_len == len && memcmp(f.payload, payload, len) == 0);
            got++;
        } else {
            CHECK(st == TD_ERR_TRUNCATED);
        }
    }
    CHECK(got == 1 && dec.n_frames == 2 && dec.n_crc_errors == 0 && dec.n_format_errors == 0 &&
          dec.n_overflows == 0);

    /* COBS alone: encode then decode in place gives the input back. */
    size_t cl = 0;
    CHECK(td_cobs_encode(data, size, g_wire2, sizeof g_wire2, &cl) == TD_OK || size + size / 254 + 1 > sizeof g_wire2);
    if (cl > 0) {
        CHECK(memchr(g_wire2, 0x00, cl) == NULL);
        size_t dl = 0;
        CHECK(td_cobs_decode(g_wire2, cl, g_wire2, sizeof g_wire2, &dl) == TD_OK);
        CHECK(dl == size && memcmp(g_wire2, data, size) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_wire(data, size);
    round_trip(data, size);
    return 0;
}
