/* td_frame.c - device-link frame codec: COBS, frame encode/decode, streaming decoder.
 *
 * COBS encoding is done by a small incremental encoder (cobs_enc_t) so that
 * td_frame_encode streams header, payload and CRC straight into the wire
 * buffer without staging the body. A full block (254 data bytes) gets its FF
 * code only once more input follows, which is what makes a trailing 254-byte
 * run end with the FF block and no extra 01 code, exactly as Python's
 * cobs.cobs.encode does. The encoder works a 32-bit word at a time wherever it
 * can (see "COBS encoder" below); with the 256-entry CRC table
 * (TD_CRC32_TABLE_BYTES=1024) it also computes the frame's CRC in the same pass.
 *
 * Decoding checks each block in input order, the same order as the cobs C
 * extension: code byte 0x00 -> TD_ERR_RANGE; block running past the end ->
 * TD_ERR_TRUNCATED; 0x00 among the block's data -> TD_ERR_RANGE; output full
 * -> TD_ERR_CAPACITY.
 *
 * Depends on: td_frame.h, td_crc32.h, td_status.h, <string.h>; <arm_acle.h> on
 * Arm cores with the SIMD32 instructions (Cortex-M4/M7/M33 with DSP).
 */
#include "tinydrift/td_frame.h"

#include <string.h>

#include "tinydrift/td_crc32.h"

/* The Cortex-M4's SIMD instructions find the zero bytes of a word in three instructions instead of
 * eight (GCC >= 10 and Clang have the ACLE intrinsics; the Arduino Mbed core's GCC 7 does not).
 * -DTD_FRAME_COBS_SIMD=0 forces the portable code, e.g. to test it on the target. */
#ifndef TD_FRAME_COBS_SIMD
#if defined(__ARM_FEATURE_SIMD32) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#define TD_FRAME_COBS_SIMD 1
#else
#define TD_FRAME_COBS_SIMD 0
#endif
#endif
#if TD_FRAME_COBS_SIMD
#include <arm_acle.h>
#endif

/* The word loop as a function of its own: inlined into its caller, -Os runs out of registers and
 * spills inside the loop. */
#if defined(__GNUC__)
#define TD_FRAME_NOINLINE __attribute__((noinline))
#else
#define TD_FRAME_NOINLINE
#endif

/* ---- COBS encoder -------------------------------------------------------- */

/* Every input byte takes exactly one output byte: a non-zero byte its own value, a 0x00 the code byte
 * of the block it starts. The only other output bytes are the first code byte and the code byte of a
 * block opened after a full one (254 data bytes, code 0xFF). So as long as no block can fill up, four
 * input bytes become the four output bytes at dst, and a word at a time is exact: the zero bytes of
 * the word get their codes from a 16-entry table indexed by which of the four bytes are 0x00, the
 * first zero closes the open block and the last one opens the next. This matters because telemetry
 * payloads are about half zero bytes, so a byte loop branches on every other byte: on the Cortex-M4
 * (-Os, SIMD zero test) the word loop costs 12 instructions per word without a zero byte and 16 with,
 * plus 13 when it also computes the CRC, against about 13 per byte for the byte loop it replaced.
 * Bytes that do not fill a word, a block about to fill up and the output about to run out go bytewise. */

/* For each zero-byte mask (bit j: byte j of a little-endian word is 0x00), one word holding
 *   bits 0-1, 8-9, 16-17  the codes of the zero bytes but the last: the distance to the next zero byte
 *                         (the last zero byte is a code slot, filled in when its block closes);
 *   bits 18-19            f, the index of the first zero byte (it closes the open block);
 *   bits 29-31            4 - l, l the index of the last zero byte (it opens the next block).
 * One table, so one base register (the loop has none to spare), and each field comes out with the
 * shift built into an ADD/SUB or with a 0x03030303 mask (a Thumb-2 immediate). */
static const uint32_t cobs_word_table[16] = {
    0x00000000u, 0x80000000u, 0x60040000u, 0x60000001u, 0x40080000u, 0x40000002u, 0x40040100u, 0x40000101u,
    0x200C0000u, 0x20000003u, 0x20040200u, 0x20000201u, 0x20090000u, 0x20010002u, 0x20050100u, 0x20010101u,
};
#define COBS_WORD_CODES 0x03030303u
#define COBS_WORD_FIRST_SHIFT 18
#define COBS_WORD_LAST_SHIFT 29

/* A block of 254 data bytes spans dst - code == 255; the word path keeps dst - code <= 251 on entry so
 * that four more bytes never overfill a block. */
#define COBS_FULL_SPAN 255u
#define COBS_WORD_SPAN_MAX (COBS_FULL_SPAN - 4u)

/* Little-endian word access. GCC merges the byte loads into one unaligned LDR on the Cortex-M4, but not
 * the byte stores (-Os: four STRB and three shifts), hence memcpy where the byte order is known to be
 * little-endian: it compiles to one STR (to one MOV on x86). */
static uint32_t cobs_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void cobs_store_le32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

/* The zero-byte mask of w: bit j set when byte j is 0x00. weights is COBS_MASK_WEIGHTS, passed in so
 * that it can stay in a register across the loop. */
#define COBS_MASK_WEIGHTS 0x08040201u
#if TD_FRAME_COBS_SIMD
static uint32_t cobs_zero_mask(uint32_t w, uint32_t weights)
{
    /* USUB8 0 - w sets the GE flag of each byte that does not borrow: the zero bytes; SEL then picks
     * 1, 2, 4 or 8 there and 0 elsewhere, USAD8 adds the four bytes up: three instructions. */
    (void)__usub8(0u, w);
    return __usad8(__sel(weights, 0u), 0u);
}
#else
static uint32_t cobs_zero_mask(uint32_t w, uint32_t weights)
{
    /* 0x80 in each byte of w that is 0x00; exact, as no carry crosses a byte. */
    const uint32_t z = ~(((w & 0x7F7F7F7Fu) + 0x7F7F7F7Fu) | w | 0x7F7F7F7Fu);
    (void)weights;
    /* Gather the bits 7, 15, 23, 31 into 28..31 (the partial products do not overlap). */
    return (z * 0x00204081u) >> 28;
}
#endif

typedef struct {
    uint8_t *dst;  /* next output byte */
    uint8_t *code; /* code byte of the open block (there always is one: a full block is closed lazily) */
    uint8_t *end;  /* end of the usable output */
#if TD_CRC32_TABLE_BYTES == 1024
    uint32_t crc;  /* inverted CRC-32 register over the bytes put so far (with the byte table only) */
#endif
} cobs_enc_t;

/* Reserve the first code byte; 0 when there is no room for it. */
static int cobs_enc_start(cobs_enc_t *enc, uint8_t *dst, size_t cap)
{
    if (cap == 0u) {
        return 0;
    }
    enc->code = dst;
    enc->dst = dst + 1;
    enc->end = dst + cap;
#if TD_CRC32_TABLE_BYTES == 1024
    enc->crc = 0xFFFFFFFFu;
#endif
    return 1;
}

/* The word path: encode n bytes from p (n a multiple of four, n > 0, and at least n output bytes left);
 * returns where it stopped: p + n, or earlier if a block may fill up within the next word. Needs
 * dst - code <= COBS_WORD_SPAN_MAX on entry. */
TD_FRAME_NOINLINE static const uint8_t *cobs_enc_words(cobs_enc_t *enc, const uint8_t *p, size_t n)
{
    const uint8_t *const stop = p + n;
    uint8_t *dst = enc->dst;
    uint8_t *code = enc->code;
#if TD_CRC32_TABLE_BYTES == 1024
    uint32_t crc = enc->crc;
#endif
    uint32_t weights = COBS_MASK_WEIGHTS;
#if TD_FRAME_COBS_SIMD
    __asm__("" : "+r"(weights)); /* opaque: else -Os reloads it from the literal pool for every word */
#endif

    do { /* a do-while: -Os would otherwise test at the top and jump back to it */
        const uint32_t w = cobs_load_le32(p);
        const uint32_t mask = cobs_zero_mask(w, weights);
        p += 4;
#if TD_CRC32_TABLE_BYTES == 1024
        crc ^= w;
        crc = TD_CRC32_STEP8(crc);
        crc = TD_CRC32_STEP8(crc);
        crc = TD_CRC32_STEP8(crc);
        crc = TD_CRC32_STEP8(crc);
#endif
        const size_t span = (size_t)(dst - code);
        dst += 4; /* here, so that both stores below address dst - 4 and no copy of dst is kept */
        if (mask == 0u) {
            cobs_store_le32(dst - 4, w);
            if (span > COBS_WORD_SPAN_MAX - 4u) {
                break; /* the block may fill up within the next word: bytewise from here */
            }
        } else {
            const uint32_t e = cobs_word_table[mask];
            /* The first zero byte is span + f bytes past the open block's code: a code of at most 254,
             * and bits 20-31 of e fall off with the byte store. */
            *code = (uint8_t)(span + (e >> COBS_WORD_FIRST_SHIFT));
            code = dst - (e >> COBS_WORD_LAST_SHIFT);
            cobs_store_le32(dst - 4, w | (e & COBS_WORD_CODES));
        }
    } while (p != stop);
    enc->dst = dst;
    enc->code = code;
#if TD_CRC32_TABLE_BYTES == 1024
    enc->crc = crc;
#endif
    return p;
}

/* Encode len > 0 bytes; 0 when the output ran out (the encoder is then unusable). */
static int cobs_enc_put(cobs_enc_t *enc, const uint8_t *src, size_t len)
{
    const uint8_t *const src_end = src + len;

    while (src != src_end) {
        if ((size_t)(enc->dst - enc->code) <= COBS_WORD_SPAN_MAX) {
            /* Words while four input and four output bytes are left: one bound for both. */
            const size_t in_left = (size_t)(src_end - src);
            const size_t out_left = (size_t)(enc->end - enc->dst);
            const size_t n = (in_left < out_left ? in_left : out_left) & ~(size_t)3u;
            if (n > 0u) {
                src = cobs_enc_words(enc, src, n);
                if (src == src_end) {
                    break;
                }
            }
        }
        /* One byte: the tail, a block about to fill up, or the output about to run out. */
        const uint8_t b = *src++;
#if TD_CRC32_TABLE_BYTES == 1024
        enc->crc ^= b;
        enc->crc = TD_CRC32_STEP8(enc->crc);
#endif
        if ((size_t)(enc->dst - enc->code) == COBS_FULL_SPAN) {
            /* The full block is closed only now that more input follows, as Python's cobs does. */
            *enc->code = 0xFFu;
            if (enc->dst == enc->end) {
                return 0;
            }
            enc->code = enc->dst++;
        }
        if (enc->dst == enc->end) {
            return 0;
        }
        if (b == 0u) {
            *enc->code = (uint8_t)(enc->dst - enc->code);
            enc->code = enc->dst;
        } else {
            *enc->dst = b;
        }
        enc->dst++;
    }
    return 1;
}

/* Encode 4 bytes (the frame's header or CRC): straight to the word path when it can take them, which
 * skips cobs_enc_put's bookkeeping (about 20 instructions). */
static int cobs_enc_put4(cobs_enc_t *enc, const uint8_t *src)
{
    if ((size_t)(enc->dst - enc->code) <= COBS_WORD_SPAN_MAX && (size_t)(enc->end - enc->dst) >= 4u) {
        (void)cobs_enc_words(enc, src, 4u);
        return 1;
    }
    return cobs_enc_put(enc, src, 4u);
}

/* Close the last block; returns the encoded size. */
static size_t cobs_enc_finish(cobs_enc_t *enc, const uint8_t *start)
{
    *enc->code = (uint8_t)(enc->dst - enc->code);
    return (size_t)(enc->dst - start);
}

td_status td_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    cobs_enc_t enc;

    if (out_len == NULL) {
        return TD_ERR_ARG;
    }
    *out_len = 0;
    if ((src == NULL && len > 0u) || dst == NULL) {
        return TD_ERR_ARG;
    }
    /* With TD_CRC32_TABLE_BYTES=1024 this also computes a CRC nobody reads (13 instructions per 4
     * bytes): the price of one copy of the word loop, which td_frame_encode needs with the CRC. */
    if (!cobs_enc_start(&enc, dst, cap) || (len > 0u && !cobs_enc_put(&enc, src, len))) {
        return TD_ERR_CAPACITY;
    }
    *out_len = cobs_enc_finish(&enc, dst);
    return TD_OK;
}

td_status td_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    size_t in = 0;
    size_t out = 0;

    if (out_len == NULL) {
        return TD_ERR_ARG;
    }
    *out_len = 0;
    if ((src == NULL && len > 0u) || (dst == NULL && cap > 0u)) {
        return TD_ERR_ARG;
    }
    while (in < len) {
        const size_t code = src[in];
        size_t end;

        if (code == 0u) {
            return TD_ERR_RANGE;
        }
        in++;
        end = in + code - 1u;
        if (end > len) {
            return TD_ERR_TRUNCATED;
        }
        /* Byte-wise forward copy: out < in always, so dst == src is safe. */
        for (; in < end; in++) {
            if (src[in] == 0u) {
                return TD_ERR_RANGE;
            }
            if (out >= cap) {
                return TD_ERR_CAPACITY;
            }
            dst[out] = src[in];
            out++;
        }
        if (in < len && code < 0xFFu) {
            if (out >= cap) {
                return TD_ERR_CAPACITY;
            }
            dst[out] = 0u;
            out++;
        }
    }
    *out_len = out;
    return TD_OK;
}

/* ---- frames ------------------------------------------------------------- */

static void put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

td_status td_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t payload_len,
                          uint8_t *wire, size_t cap, size_t *wire_len)
{
    uint8_t header[TD_FRAME_HEADER_SIZE];
    uint8_t trailer[TD_FRAME_CRC_SIZE];
    uint32_t crc;
    cobs_enc_t enc;

    if (wire_len == NULL) {
        return TD_ERR_ARG;
    }
    *wire_len = 0;
    if (wire == NULL || (payload == NULL && payload_len > 0u)) {
        return TD_ERR_ARG;
    }
    if (payload_len > (size_t)TD_FRAME_MAX_PAYLOAD) {
        return TD_ERR_LIMIT;
    }
    header[0] = (uint8_t)TD_FRAME_VERSION;
    header[1] = type;
    put_u16le(&header[2], seq);
    /* cap - 1: the delimiter's byte is kept out of the encoder's reach. */
    if (cap == 0u || !cobs_enc_start(&enc, wire, cap - 1u)) {
        return TD_ERR_CAPACITY;
    }
#if TD_CRC32_TABLE_BYTES != 1024
    /* Without the byte table the CRC takes a pass of its own: the nibble table is private to
     * td_crc32.c, and eight nibble steps per word would gain little from sharing the loop. */
    crc = td_crc32_update(0u, header, sizeof header);
    crc = td_crc32_update(crc, payload, payload_len);
#endif
    if (!cobs_enc_put4(&enc, header) || (payload_len > 0u && !cobs_enc_put(&enc, payload, payload_len))) {
        return TD_ERR_CAPACITY;
    }
#if TD_CRC32_TABLE_BYTES == 1024
    /* One pass: the encoder has updated the CRC as it went (the CRC bytes below go through it too, which
     * costs four table steps and saves a second copy of the loop). */
    crc = ~enc.crc;
#endif
    put_u32le(trailer, crc);
    if (!cobs_enc_put4(&enc, trailer)) {
        return TD_ERR_CAPACITY;
    }
    const size_t n = cobs_enc_finish(&enc, wire);
    wire[n] = 0u;
    *wire_len = n + 1u;
    return TD_OK;
}

/* Validate a decoded body and fill *frame; *frame is written only on TD_OK. */
static td_status parse_body(const uint8_t *body, size_t n, td_frame_t *frame)
{
    size_t payload_len;

    if (n < (size_t)TD_FRAME_MIN_BODY) {
        return TD_ERR_TRUNCATED;
    }
    if (n > (size_t)TD_FRAME_MAX_BODY) {
        return TD_ERR_SIZE;
    }
    payload_len = n - (size_t)TD_FRAME_MIN_BODY;
    /* CRC before version: corruption reports TD_ERR_CRC, an intact frame of another version TD_ERR_VERSION. */
    if (td_crc32_update(0u, body, n - (size_t)TD_FRAME_CRC_SIZE) != get_u32le(&body[n - (size_t)TD_FRAME_CRC_SIZE])) {
        return TD_ERR_CRC;
    }
    if (body[0] != (uint8_t)TD_FRAME_VERSION) {
        return TD_ERR_VERSION;
    }
    frame->type = body[1];
    frame->seq = (uint16_t)((uint16_t)body[2] | (uint16_t)((uint16_t)body[3] << 8));
    frame->payload_len = (uint16_t)payload_len;
    if (payload_len > 0u) {
        memcpy(frame->payload, &body[TD_FRAME_HEADER_SIZE], payload_len);
    }
    return TD_OK;
}

td_status td_frame_decode(const uint8_t *wire, size_t len, td_frame_t *frame)
{
    /* One byte of slack so that a body longer than the maximum is reported as TD_ERR_SIZE. */
    uint8_t body[TD_FRAME_MAX_BODY + 1];
    size_t n = 0;
    td_status st;

    if (frame == NULL || (wire == NULL && len > 0u)) {
        return TD_ERR_ARG;
    }
    if (len > 0u && wire[len - 1u] == 0u) {
        len--; /* the delimiter */
    }
    if (len == 0u) {
        return TD_ERR_TRUNCATED;
    }
    st = td_cobs_decode(wire, len, body, sizeof body, &n);
    if (st == TD_ERR_CAPACITY) {
        return TD_ERR_SIZE;
    }
    if (st != TD_OK) {
        return st;
    }
    return parse_body(body, n, frame);
}

/* ---- streaming decoder -------------------------------------------------- */

static void decoder_restart(td_frame_decoder_t *dec)
{
    dec->body_len = 0;
    dec->code = 0;
    dec->remaining = 0;
    dec->discarding = 0;
}

td_status td_frame_decoder_init(td_frame_decoder_t *dec)
{
    if (dec == NULL) {
        return TD_ERR_ARG;
    }
    memset(dec, 0, sizeof *dec);
    decoder_restart(dec);
    return TD_OK;
}

/* Append one decoded byte; on overflow count it and drop the rest of the frame. */
static void decoder_append(td_frame_decoder_t *dec, uint8_t byte)
{
    if (dec->body_len >= (uint16_t)TD_FRAME_MAX_BODY) {
        dec->n_overflows++;
        dec->discarding = 1u;
        return;
    }
    dec->body[dec->body_len] = byte;
    dec->body_len++;
}

/* A delimiter ended the frame in progress: returns 1 if *frame now holds a valid frame. */
static int decoder_finish(td_frame_decoder_t *dec, td_frame_t *frame)
{
    int ok = 0;

    if (dec->discarding) {
        /* already counted as an overflow */
    } else if (dec->code == 0u) {
        /* empty frame (consecutive delimiters): ignored */
    } else if (dec->remaining != 0u) {
        dec->n_format_errors++; /* COBS block cut short by the delimiter */
    } else {
        const td_status st = parse_body(dec->body, dec->body_len, frame);
        if (st == TD_OK) {
            dec->n_frames++;
            ok = 1;
        } else if (st == TD_ERR_CRC) {
            dec->n_crc_errors++;
        } else {
            dec->n_format_errors++;
        }
    }
    decoder_restart(dec);
    return ok;
}

td_status td_frame_decoder_feed(td_frame_decoder_t *dec, const uint8_t *data, size_t len, size_t *consumed,
                                td_frame_t *frame)
{
    if (consumed != NULL) {
        *consumed = 0;
    }
    if (dec == NULL || consumed == NULL || frame == NULL || (data == NULL && len > 0u)) {
        return TD_ERR_ARG;
    }
    for (size_t i = 0; i < len; i++) {
        const uint8_t byte = data[i];

        if (byte == 0u) {
            if (decoder_finish(dec, frame)) {
                *consumed = i + 1u;
                return TD_OK;
            }
        } else if (dec->discarding) {
            /* drop until the next delimiter */
        } else if (dec->remaining == 0u) {
            /* a code byte: the previous block, unless full (FF), stood for a 0x00 */
            if (dec->code != 0u && dec->code != 0xFFu) {
                decoder_append(dec, 0u);
            }
            dec->code = byte;
            dec->remaining = (uint8_t)(byte - 1u);
        } else {
            decoder_append(dec, byte);
            dec->remaining = (uint8_t)(dec->remaining - 1u);
        }
    }
    *consumed = len;
    return TD_ERR_TRUNCATED;
}
