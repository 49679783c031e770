/* td_frame.c - device-link frame codec: COBS, frame encode/decode, streaming decoder.
 *
 * COBS encoding is done by a small incremental encoder (cobs_enc_t) so that
 * td_frame_encode streams header, payload and CRC straight into the wire
 * buffer without staging the body. Its blocks are opened lazily after a full
 * 254-byte block, which is what makes a trailing 254-byte run end with the FF
 * block and no extra 01 code, exactly as Python's cobs.cobs.encode does.
 *
 * Decoding checks each block in input order, the same order as the cobs C
 * extension: code byte 0x00 -> TD_ERR_RANGE; block running past the end ->
 * TD_ERR_TRUNCATED; 0x00 among the block's data -> TD_ERR_RANGE; output full
 * -> TD_ERR_CAPACITY.
 *
 * Depends on: td_frame.h, td_crc32.h, td_status.h, <string.h>.
 */
#include "tinydrift/td_frame.h"

#include <string.h>

#include "tinydrift/td_crc32.h"

/* ---- incremental COBS encoder ------------------------------------------ */

typedef struct {
    uint8_t *dst;
    size_t cap;
    size_t pos;       /* next write position */
    size_t code_pos;  /* where the open block's code byte goes */
    uint8_t code;     /* 1 + data bytes in the open block */
    uint8_t open;     /* 1 if a block is open (its code byte slot reserved) */
    uint8_t failed;   /* 1 once dst ran out of room */
} cobs_enc_t;

static void cobs_enc_open(cobs_enc_t *enc)
{
    if (enc->pos >= enc->cap) {
        enc->failed = 1u;
        return;
    }
    enc->code_pos = enc->pos;
    enc->pos++;
    enc->code = 1u;
    enc->open = 1u;
}

static void cobs_enc_start(cobs_enc_t *enc, uint8_t *dst, size_t cap)
{
    enc->dst = dst;
    enc->cap = cap;
    enc->pos = 0;
    enc->code_pos = 0;
    enc->code = 1u;
    enc->open = 0;
    enc->failed = 0;
    cobs_enc_open(enc); /* even empty input has one block: "" -> 01 */
}

static void cobs_enc_put(cobs_enc_t *enc, const uint8_t *src, size_t len)
{
    /* Same state machine as before, with the state in locals so it lives in registers. */
    uint8_t *const dst = enc->dst;
    const size_t cap = enc->cap;
    size_t pos = enc->pos;
    size_t code_pos = enc->code_pos;
    uint32_t code = enc->code;
    uint32_t open = enc->open;
    const uint8_t *const end = src + len;

    if (enc->failed) {
        return;
    }
    for (const uint8_t *p = src; p != end; p++) {
        if (!open) {
            if (pos >= cap) {
                goto fail;
            }
            code_pos = pos++;
            code = 1u;
            open = 1u;
        }
        const uint8_t b = *p;
        if (b == 0u) {
            dst[code_pos] = (uint8_t)code;
            if (pos >= cap) {
                goto fail;
            }
            code_pos = pos++;
            code = 1u; /* a zero always starts a new block, even at the end */
        } else {
            if (pos >= cap) {
                goto fail;
            }
            dst[pos++] = b;
            if (++code == 0xFFu) {
                dst[code_pos] = (uint8_t)code;
                open = 0u; /* the next block opens only if more input follows */
            }
        }
    }
    enc->pos = pos;
    enc->code_pos = code_pos;
    enc->code = (uint8_t)code;
    enc->open = (uint8_t)open;
    return;
fail:
    enc->pos = pos;
    enc->code_pos = code_pos;
    enc->code = (uint8_t)code;
    enc->open = (uint8_t)open;
    enc->failed = 1u;
}

/* Close the last block; returns the encoded size or 0 when dst was too small. */
static size_t cobs_enc_finish(cobs_enc_t *enc)
{
    if (enc->failed) {
        return 0;
    }
    if (enc->open) {
        enc->dst[enc->code_pos] = enc->code;
        enc->open = 0;
    }
    return enc->pos;
}

td_status td_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    cobs_enc_t enc;
    size_t n;

    if (out_len == NULL) {
        return TD_ERR_ARG;
    }
    *out_len = 0;
    if ((src == NULL && len > 0u) || dst == NULL) {
        return TD_ERR_ARG;
    }
    cobs_enc_start(&enc, dst, cap);
    cobs_enc_put(&enc, src, len);
    n = cobs_enc_finish(&enc);
    if (n == 0u) {
        return TD_ERR_CAPACITY;
    }
    *out_len = n;
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
    size_t n;

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
    crc = td_crc32_update(0u, header, sizeof header);
    crc = td_crc32_update(crc, payload, payload_len);
    put_u32le(trailer, crc);

    cobs_enc_start(&enc, wire, cap);
    cobs_enc_put(&enc, header, sizeof header);
    cobs_enc_put(&enc, payload, payload_len);
    cobs_enc_put(&enc, trailer, sizeof trailer);
    n = cobs_enc_finish(&enc);
    if (n == 0u || n >= cap) {
        return TD_ERR_CAPACITY; /* no room for the encoded body or for the delimiter */
    }
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
