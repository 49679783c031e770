/* fuzz_profile.c - libFuzzer target for the profile parser (td_profile.h), running the monitor on every accepted
 * profile.
 *
 * Input: byte 0 = harness options, then the blob; bytes past the blob's total_size feed the monitor.
 *   option bit 0: write the correct CRC-32 at total_size - 4 before parsing, so that mutations reach the range
 *                 checks behind the CRC (about half of all inputs);
 *   option bits 1-2: windows to run (1..4); bits 3-7: seed of the samples when the input has no tail.
 * An accepted profile is copied into a heap buffer of exactly total_size bytes (so AddressSanitizer sees any read
 * past the profile) and must parse again from there; one byte shorter must be refused. Its channels and outputs
 * section must decode, and its size must match td_profile_size. Then a monitor runs windows over it in blocks of
 * varying size (frames, embeddings, outputs and labels as the profile's mode needs), with td_monitor_reset_alarm in
 * between. Each window result is checked against what follows from the profile alone: window numbering, ranges of
 * nearest / top_channel / masks, the per-channel min <= mean <= max, and the CUSUM recursion, instant threshold and
 * alarm latch recomputed here in 64-bit arithmetic. Any violation traps.
 * Public headers only; links csrc/src/ (all of it). Build and run: make fuzz (fuzz/fuzz.mk).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinydrift/td_crc32.h"
#include "tinydrift/td_monitor.h"
#include "tinydrift/td_profile.h"

#include "fuzz_check.h"

/** Largest blob + tail the harness takes (libFuzzer's -max_len keeps inputs below this). */
#define MAX_INPUT 16384u
/** Frames pushed per td_monitor_push call at most (also the sample buffer's size in frames). */
#define MAX_BLOCK 256u

static uint8_t g_blob[MAX_INPUT];
static int16_t g_frames[MAX_BLOCK * TD_MAX_CHANNELS];
static td_window_result_t g_results[MAX_BLOCK];
static td_monitor_t g_mon;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Sample source: the tail bytes (cycled) or, without a tail, xorshift32. */
typedef struct {
    const uint8_t *tail;
    size_t tail_len;
    size_t pos;
    uint32_t x;
} source_t;

static uint8_t next_byte(source_t *s)
{
    if (s->tail_len > 0) {
        const uint8_t b = s->tail[s->pos % s->tail_len];
        s->pos++;
        return b;
    }
    s->x ^= s->x << 13;
    s->x ^= s->x >> 17;
    s->x ^= s->x << 5;
    return (uint8_t)(s->x >> 11);
}

static int16_t next_sample(source_t *s)
{
    const uint8_t lo = next_byte(s);
    const uint8_t hi = next_byte(s);
    /* Half of the samples small (near the usual means), half anywhere in int16 (rails, sentinels). */
    if (hi & 0x80u) {
        return (int16_t)((uint16_t)lo | ((uint16_t)hi << 8));
    }
    return (int16_t)((int16_t)(int8_t)lo * (int16_t)((hi & 0x07u) + 1));
}

typedef struct {
    uint64_t cusum;     /* expected CUSUM statistic */
    uint8_t alarm;      /* expected latched alarm */
    uint32_t window;    /* expected index of the next result */
} expect_t;

static void check_result(const td_profile_t *p, const td_window_result_t *r, expect_t *e)
{
    const uint16_t all = (uint16_t)((1u << p->n_channels) - 1u);
    CHECK(r->window_index == e->window);
    e->window++;
    CHECK(r->nearest < p->n_centroids);
    CHECK(r->top_channel < p->n_channels);
    CHECK((r->stuck_mask & ~all) == 0 && (r->saturated_mask & ~all) == 0 && (r->missing_mask & ~all) == 0);
    CHECK(r->alarm <= 1u);
    CHECK(r->score_q8 == (r->dist_q8 + (uint64_t)r->recon_q8 > UINT32_MAX ? UINT32_MAX : r->dist_q8 + r->recon_q8));
    if (p->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        CHECK(r->recon_q8 == 0u);
    }
    for (uint8_t c = 0; c < p->n_channels; c++) {
        const td_channel_result_t *ch = &r->channels[c];
        CHECK(ch->n_missing <= p->window && ch->n_saturated <= p->window);
        const uint32_t valid = (uint32_t)p->window - ch->n_missing;
        if (valid > 0u) {
            CHECK(ch->min <= ch->max);
            CHECK((int64_t)ch->mean_q8 >= (int64_t)ch->min * 256 && (int64_t)ch->mean_q8 <= (int64_t)ch->max * 256);
            CHECK((int64_t)ch->sum >= (int64_t)ch->min * valid && (int64_t)ch->sum <= (int64_t)ch->max * valid);
            CHECK(ch->std_q8 >= 0 && ch->sumsq >= 0);
        }
    }
    /* Decision, recomputed: S = max(0, S + score - k) saturating; INSTANT iff score > instant; CUSUM iff S > h;
     * HEALTH iff a health mask; any trigger latches the alarm. */
    const uint64_t raised = e->cusum + r->score_q8;
    e->cusum = raised > p->cusum_k_q8 ? raised - p->cusum_k_q8 : 0u;
    if (e->cusum > UINT32_MAX) {
        e->cusum = UINT32_MAX;
    }
    CHECK(r->cusum_q8 == e->cusum);
    CHECK(((r->trigger & TD_TRIGGER_INSTANT) != 0) == (r->score_q8 > p->instant_q8));
    CHECK(((r->trigger & TD_TRIGGER_CUSUM) != 0) == (e->cusum > p->cusum_h_q8));
    CHECK(((r->trigger & TD_TRIGGER_HEALTH) != 0) == ((r->stuck_mask | r->saturated_mask | r->missing_mask) != 0));
    e->alarm = (uint8_t)(e->alarm | (r->trigger != 0u));
    CHECK(r->alarm == e->alarm);
}

static void run_monitor(const td_profile_t *p, source_t *src, uint32_t n_windows)
{
    CHECK(td_monitor_init(&g_mon, p) == TD_OK);
    expect_t e = {0u, 0u, 0u};
    const uint8_t ext = (p->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) != 0u;
    td_outputs_config_t ocfg;
    const uint8_t outputs = td_profile_outputs(p, &ocfg) == TD_OK;
    uint32_t inferences = 0;
    for (uint32_t w = 0; w < n_windows; w++) {
        if (w == 2u) {
            CHECK(td_monitor_reset_alarm(&g_mon) == TD_OK);
            e.cusum = 0u;
            e.alarm = 0u;
        }
        /* The last window is left one frame short: its samples stay pending. */
        uint32_t left = p->window - (w + 1u == n_windows ? 1u : 0u);
        while (left > 0u) {
            uint32_t block = (uint32_t)next_byte(src) + 1u;
            if (block > left) {
                block = left;
            }
            const uint32_t values = block * p->n_channels;
            for (uint32_t i = 0; i < values; i++) {
                g_frames[i] = next_sample(src);
            }
            if (ext && (next_byte(src) & 1u)) {
                int8_t emb[TD_MAX_DIMS];
                for (uint8_t j = 0; j < p->n_dims; j++) {
                    emb[j] = (int8_t)next_byte(src);
                }
                CHECK(td_monitor_push_embedding(&g_mon, emb, p->n_dims) == TD_OK);
                CHECK(td_monitor_push_embedding(&g_mon, emb, (uint32_t)p->n_dims + 1u) == TD_ERR_ARG);
            }
            if (outputs && (next_byte(src) & 1u)) {
                int8_t probs[TD_MAX_CLASSES];
                for (uint8_t j = 0; j < ocfg.n_classes; j++) {
                    probs[j] = (int8_t)next_byte(src);
                }
                uint32_t seq = 0;
                CHECK(td_monitor_push_outputs(&g_mon, probs, ocfg.n_classes, &seq) == TD_OK && seq == inferences);
                inferences++;
                const uint8_t b = next_byte(src);
                const uint32_t back = b & 7u;
                if (back < inferences) {
                    const td_status s = td_monitor_push_label(&g_mon, inferences - 1u - back,
                                                              (uint8_t)(next_byte(src) % (ocfg.n_classes + 1u)));
                    CHECK(s == TD_OK || s == TD_ERR_ARG || s == TD_ERR_STATE);
                }
            }
            uint32_t n_res = 0;
            /* Too little room for the window this block completes: refused, nothing consumed. */
            if (block == left && w + 1u < n_windows) {
                CHECK(td_monitor_push(&g_mon, g_frames, block, g_results, 0u, &n_res) == TD_ERR_CAPACITY);
            }
            CHECK(td_monitor_push(&g_mon, g_frames, block, g_results, MAX_BLOCK, &n_res) == TD_OK);
            CHECK(n_res == (block == left && w + 1u < n_windows ? 1u : 0u));
            for (uint32_t i = 0; i < n_res; i++) {
                check_result(p, &g_results[i], &e);
            }
            left -= block;
        }
    }
    td_lifetime_t life;
    CHECK(td_monitor_lifetime(&g_mon, (uint8_t)(p->n_channels - 1u), &life) == TD_OK);
    CHECK(td_monitor_lifetime(&g_mon, p->n_channels, &life) == TD_ERR_ARG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u || size - 1u > MAX_INPUT) {
        return 0;
    }
    const uint8_t opts = data[0];
    const size_t len = size - 1u;
    memcpy(g_blob, data + 1, len);
    if ((opts & 1u) && len >= 12u) {
        const uint32_t total = rd32(g_blob + 8);
        if (total >= 4u && total <= len) {
            const uint32_t crc = td_crc32_update(0u, g_blob, total - 4u);
            g_blob[total - 4u] = (uint8_t)crc;
            g_blob[total - 3u] = (uint8_t)(crc >> 8);
            g_blob[total - 2u] = (uint8_t)(crc >> 16);
            g_blob[total - 1u] = (uint8_t)(crc >> 24);
        }
    }
    td_profile_t p;
    const td_status s = td_profile_parse(&p, g_blob, len);
    if (s != TD_OK) {
        CHECK(s == TD_ERR_TRUNCATED || s == TD_ERR_MAGIC || s == TD_ERR_VERSION || s == TD_ERR_CRC ||
              s == TD_ERR_SIZE || s == TD_ERR_LIMIT || s == TD_ERR_RANGE);
        return 0;
    }
    CHECK(p.blob == g_blob && p.size >= TD_PROFILE_HEADER_SIZE + 4u && p.size <= len);
    CHECK(p.n_channels >= 1u && p.n_channels <= TD_MAX_CHANNELS && p.n_features == 2u * p.n_channels);
    CHECK(p.n_dims >= 1u && p.n_dims <= TD_MAX_DIMS && p.n_centroids >= 1u && p.n_centroids <= TD_MAX_CENTROIDS);
    CHECK(p.window >= 2u && p.window <= TD_MAX_WINDOW);
    if (!(p.flags & TD_PROFILE_FLAG_OUTPUTS)) {
        /* A names section (flag bit 6) takes 4..512 bytes, a multiple of 4, between the sections and the CRC. */
        const uint32_t fixed = td_profile_size(p.n_channels, p.n_dims, p.n_centroids, p.flags);
        if (p.flags & TD_PROFILE_FLAG_NAMES) {
            CHECK(p.size >= fixed + 4u && p.size - fixed <= TD_PROFILE_NAMES_MAX_SIZE && (p.size - fixed) % 4u == 0u);
        } else {
            CHECK(fixed == p.size);
        }
    }

    /* The profile alone, in a buffer of exactly its size. */
    uint8_t *exact = malloc(p.size);
    CHECK(exact != NULL);
    memcpy(exact, g_blob, p.size);
    td_profile_t q;
    CHECK(td_profile_parse(&q, exact, p.size - 1u) == TD_ERR_TRUNCATED);
    CHECK(td_profile_parse(&q, exact, p.size) == TD_OK);
    CHECK(q.size == p.size && q.flags == p.flags && q.n_channels == p.n_channels && q.window == p.window);
    for (uint8_t c = 0; c < q.n_channels; c++) {
        td_channel_config_t cc;
        CHECK(td_profile_channel(&q, c, &cc) == TD_OK);
        CHECK(cc.rail_lo < cc.rail_hi && cc.max_missing <= q.window && cc.max_saturated <= q.window);
    }
    td_channel_config_t cc;
    CHECK(td_profile_channel(&q, q.n_channels, &cc) == TD_ERR_ARG);
    td_outputs_config_t ocfg;
    const td_status so = td_profile_outputs(&q, &ocfg);
    CHECK((q.flags & TD_PROFILE_FLAG_OUTPUTS) ? so == TD_OK : so == TD_ERR_MODE);
    if (so == TD_OK) {
        CHECK(ocfg.n_classes >= 2u && ocfg.n_classes <= TD_MAX_CLASSES);
        CHECK(ocfg.n_bins >= 1u && ocfg.n_bins <= TD_MAX_CONFIDENCE_BINS);
        CHECK(td_profile_size_outputs(q.n_channels, q.n_dims, q.n_centroids, q.flags, ocfg.n_classes, ocfg.n_bins) ==
              q.size);
    }

    source_t src = {g_blob + p.size, len - p.size, 0u, 0x9E3779B9u ^ ((uint32_t)opts << 24) ^ p.size};
    run_monitor(&q, &src, 1u + ((opts >> 1) & 3u));
    free(exact);
    return 0;
}
