/* td_test_model.h - what the core's C tests share: pseudo-random numbers, reference arithmetic (128-bit where the
 * compiler has it), a profile writer (byte-by-byte little-endian stores, following docs/profile-format.md), the parser
 * helpers and the reference model of the monitor's window close (statistics, z, embedding, nearest centroid, fitted
 * shifts and attribution, feature chart, detector; the writer has no occupancy section: tests/test_occupancy.py checks
 * that test against its Python reference). None of it uses the core's own fixed-point helpers, so the tests do not
 * check the core against itself.
 *
 * Included once by each test program (test_profile.c, test_stats.c, test_detector.c, test_monitor.c, test_outputs.c),
 * after which it may call any of it: the functions are static inline so that a program need not use them all.
 *
 * These programs also run on the Cortex-M4 (make test-core-m4, QEMU mps2-an386), where the DSP and assembly paths of
 * the core are compiled in. That target has no 128-bit integers: there the references compute in 64 bits, which
 * every one still compiled holds (the profiles and windows here keep them below 2^62), and the checks that need more
 * (TD_TEST_WIDE) run on the host only.
 */
#ifndef TINYDRIFT_TESTS_TD_TEST_MODEL_H
#define TINYDRIFT_TESTS_TD_TEST_MODEL_H

#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinydrift/tinydrift.h"

#include "td_check.h"

#if defined(__SIZEOF_INT128__) && !defined(TD_TEST_NARROW)
#define TD_TEST_WIDE 1
__extension__ typedef __int128 iwide; /* __extension__: no -Wpedantic warning */
__extension__ typedef unsigned __int128 uwide;
#else
/* 32-bit targets; TD_TEST_NARROW forces it on a host, so UBSan can check the 64-bit bounds. */
#define TD_TEST_WIDE 0
typedef int64_t iwide;
typedef uint64_t uwide;
#endif

/* ---- pseudo-random numbers (xorshift64) ------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t rnd64(void)
{
    return td_xorshift64(&g_rng);
}

/* Uniform-ish integer in [lo, hi] (hi - lo < 2^63). */
static inline int64_t rnd_range(int64_t lo, int64_t hi)
{
    const uint64_t span = (uint64_t)(hi - lo) + 1u;
    return lo + (int64_t)(rnd64() % span);
}

/* ---- reference arithmetic ---------------------------------------------------- */

/* num / den rounded to nearest, ties away from zero; den > 0. The remainder decides (r >= den - r: at or past the
 * half) rather than (2 |num| + den) / (2 den), which needs a bit more than num. */
static inline iwide ref_round_div(iwide num, iwide den)
{
    const iwide mag = num < 0 ? -num : num;
    const iwide q = mag / den + (mag % den >= den - mag % den ? 1 : 0);
    return num < 0 ? -q : q;
}

static inline int64_t ref_clamp(iwide v, int64_t limit)
{
    return v > limit ? limit : (v < -limit ? -limit : (int64_t)v);
}

static inline int16_t ref_sat16(iwide v)
{
    return v > 32767 ? (int16_t)32767 : (v < -32768 ? (int16_t)-32768 : (int16_t)v);
}

static inline uint32_t ref_sat_u32(uwide v)
{
    return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)v;
}

/* Floor square root by bisection over [0, 2^32). */
static inline uint32_t ref_isqrt(uint64_t v)
{
    uint64_t lo = 0u;
    uint64_t hi = 0xFFFFFFFFu;
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo + 1u) / 2u;
        if ((uwide)mid * mid <= v) {
            lo = mid;
        } else {
            hi = mid - 1u;
        }
    }
    return (uint32_t)lo;
}

/* r^2 <= v < (r + 1)^2, in 64 bits: (r + 1)^2 only overflows at r = 2^32 - 1, where it exceeds every v. */
static inline int is_floor_sqrt(uint32_t r, uint64_t v)
{
    return (uint64_t)r * r <= v && (r == 0xFFFFFFFFu || ((uint64_t)r + 1u) * ((uint64_t)r + 1u) > v);
}

/* 256 * log2(x): integer part by counting halvings, 8 fraction bits by squaring the exact mantissa (truncated). */
static inline uint32_t ref_log2_q8(uint32_t x)
{
    if (x == 0u) {
        return 0u;
    }
    uint32_t n = 0;
    while ((x >> n) > 1u) {
        n++;
    }
    uwide m = (uwide)x << (31u - n); /* mantissa in [1, 2) as Q31 */
    uint32_t frac = 0;
    for (int i = 0; i < 8; i++) {
        m = m * m; /* Q62 in [1, 4) */
        frac <<= 1;
        if (m >= ((uwide)2 << 62)) {
            frac |= 1u;
            m >>= 32;
        } else {
            m >>= 31;
        }
    }
    return (n << 8) | frac;
}

static inline int32_t ref_mean_q8(int64_t sum, uint32_t n)
{
    return n == 0u ? 0 : (int32_t)ref_round_div((iwide)sum * 256, n);
}

static inline uint64_t ref_var_q32(int64_t sum, int64_t sumsq, uint32_t n)
{
    if (n == 0u) {
        return 0u;
    }
#if TD_TEST_WIDE
    iwide d = (iwide)n * sumsq - (iwide)sum * sum;
    if (d < 0) {
        d = 0;
    }
    return (uint64_t)ref_round_div(d << 32, (iwide)n * n);
#else
    /* D 2^32 / n^2 in two steps, D < 2^63 (n sumsq < 2^63): the whole quotient, then 32 fraction bits of the
     * remainder by long division (r < n^2 <= 2^40 here, so 2 r never overflows), rounded half up. */
    const int64_t d = n * sumsq - sum * sum;
    if (d <= 0) {
        return 0u;
    }
    const uint64_t nn = (uint64_t)n * n;
    uint64_t q = (uint64_t)d / nn;
    uint64_t r = (uint64_t)d % nn;
    for (int i = 0; i < 32; i++) {
        r <<= 1;
        q = (q << 1) | (r >= nn ? 1u : 0u);
        r -= r >= nn ? nn : 0u;
    }
    return q + (r >= nn - r ? 1u : 0u);
#endif
}

static inline int32_t ref_std_q8(uint64_t var_q32)
{
    return (int32_t)(((uint64_t)ref_isqrt(var_q32) + 128u) >> 8);
}

/* ---- profile writer ------------------------------------------------------------ */

#define W_MAX_CH 20
#define W_MAX_DIMS 20
#define W_MAX_CENT 20
#define W_MAX_CLASSES 40
#define W_MAX_BINS 40

typedef struct {
    int16_t rail_lo, rail_hi, sentinel;
    uint16_t flags, stuck_tol, max_missing, max_saturated, reserved; /* reserved: std_floor with flag bit 2 */
    int32_t ref_mean_q8, ref_std_q8;
} w_channel_t;

typedef struct {
    uint8_t magic[4];
    uint16_t version;
    uint16_t header_size;
    int total_size_override; /* 1: write total_size as given instead of the computed size */
    uint32_t total_size;
    uint32_t profile_id;
    uint8_t n_channels, n_dims, n_centroids, proj_shift;
    uint16_t window, flags;
    uint32_t false_alarm_ppb, cusum_k_q8, cusum_h_q8, instant_q8, ext_scale_q24;
    int32_t ext_zero_point;
    uint32_t created_unix;
    uint8_t reserved[12];
    w_channel_t ch[W_MAX_CH];
    int32_t mu_q8[2 * W_MAX_CH];
    uint32_t inv_sigma_q24[2 * W_MAX_CH];
    int8_t proj[W_MAX_DIMS * 2 * W_MAX_CH]; /* row-major n_dims x n_features */
    uint8_t proj_pad[3];
    int32_t centroid_q8[W_MAX_CENT * W_MAX_DIMS]; /* row-major n_centroids x n_dims */
    /* Centroid scales section, written when flags has TD_PROFILE_FLAG_CENTROID_SCALES. */
    uint32_t cs_offset_q8[W_MAX_CENT];
    uint32_t cs_inv_scale_q16[W_MAX_CENT * W_MAX_DIMS]; /* row-major n_centroids x n_dims */
    /* Feature chart section, written when flags has TD_PROFILE_FLAG_FEATURE_CHART (after the scales). */
    uint16_t chart_k_q8, chart_h_q8;
    uint32_t chart_root[W_MAX_CENT * 2 * W_MAX_CH]; /* row-major n_centroids x n_features */
    /* Outputs section, written when flags has TD_PROFILE_FLAG_OUTPUTS. */
    uint8_t out_n_classes, out_n_bins;
    uint16_t out_reserved;
    uint32_t out_scale_q24;
    int32_t out_zero_point;
    uint32_t out_prior_q16[W_MAX_CLASSES];
    uint32_t out_accuracy_q16[W_MAX_BINS];
} w_spec_t;

static inline uint32_t w_proj_bytes(const w_spec_t *s)
{
    if (s->flags & 1u) {
        return 0u;
    }
    const uint32_t used = (uint32_t)s->n_dims * 2u * s->n_channels;
    return (used + 3u) / 4u * 4u;
}

static inline uint32_t w_scales_bytes(const w_spec_t *s)
{
    return (s->flags & 8u) ? 4u * s->n_centroids * (s->n_dims + 1u) : 0u;
}

static inline uint32_t w_chart_bytes(const w_spec_t *s)
{
    return (s->flags & 0x20u) ? 4u + 4u * s->n_centroids * 2u * s->n_channels : 0u;
}

static inline uint32_t w_outputs_bytes(const w_spec_t *s)
{
    return (s->flags & 2u) ? 12u + 4u * ((uint32_t)s->out_n_classes + s->out_n_bins) : 0u;
}

/* Size from the counts: header, channels, features, padded projection, centroids, scales, feature chart, outputs
 * section, CRC. */
static inline uint32_t w_size(const w_spec_t *s)
{
    return 64u + 24u * s->n_channels + 16u * s->n_channels + w_proj_bytes(s) + 4u * s->n_centroids * s->n_dims +
           w_scales_bytes(s) + w_chart_bytes(s) + w_outputs_bytes(s) + 4u;
}

/* Rewrite the trailing CRC-32 over blob[0 .. size-4). */
static inline void w_recrc(uint8_t *blob, uint32_t size)
{
    put_u32(blob + size - 4u, td_crc32_update(0u, blob, size - 4u));
}

/* Serialize s into a new heap buffer of exactly w_size(s) bytes. */
static inline uint8_t *w_build(const w_spec_t *s, uint32_t *size_out)
{
    const uint32_t size = w_size(s);
    const uint32_t n_features = 2u * s->n_channels;
    uint8_t *b = malloc(size);
    if (b == NULL) {
        printf("out of memory\n");
        exit(2);
    }
    memset(b, 0xEE, size); /* every byte below must be written explicitly */
    memcpy(b + 0, s->magic, 4);
    put_u16(b + 4, s->version);
    put_u16(b + 6, s->header_size);
    put_u32(b + 8, s->total_size_override ? s->total_size : size);
    put_u32(b + 12, s->profile_id);
    b[16] = s->n_channels;
    b[17] = s->n_dims;
    b[18] = s->n_centroids;
    b[19] = s->proj_shift;
    put_u16(b + 20, s->window);
    put_u16(b + 22, s->flags);
    put_u32(b + 24, s->false_alarm_ppb);
    put_u32(b + 28, s->cusum_k_q8);
    put_u32(b + 32, s->cusum_h_q8);
    put_u32(b + 36, s->instant_q8);
    put_u32(b + 40, s->ext_scale_q24);
    put_u32(b + 44, (uint32_t)s->ext_zero_point);
    put_u32(b + 48, s->created_unix);
    memcpy(b + 52, s->reserved, 12);
    uint32_t off = 64u;
    for (uint32_t c = 0; c < s->n_channels; c++) {
        const w_channel_t *ch = &s->ch[c];
        put_u16(b + off + 0, (uint16_t)ch->rail_lo);
        put_u16(b + off + 2, (uint16_t)ch->rail_hi);
        put_u16(b + off + 4, (uint16_t)ch->sentinel);
        put_u16(b + off + 6, ch->flags);
        put_u16(b + off + 8, ch->stuck_tol);
        put_u16(b + off + 10, ch->max_missing);
        put_u16(b + off + 12, ch->max_saturated);
        put_u16(b + off + 14, ch->reserved);
        put_u32(b + off + 16, (uint32_t)ch->ref_mean_q8);
        put_u32(b + off + 20, (uint32_t)ch->ref_std_q8);
        off += 24u;
    }
    for (uint32_t f = 0; f < n_features; f++) {
        put_u32(b + off, (uint32_t)s->mu_q8[f]);
        put_u32(b + off + 4, s->inv_sigma_q24[f]);
        off += 8u;
    }
    const uint32_t proj = w_proj_bytes(s);
    if (proj != 0u) {
        const uint32_t used = (uint32_t)s->n_dims * n_features;
        for (uint32_t i = 0; i < used; i++) {
            b[off + i] = (uint8_t)s->proj[i];
        }
        for (uint32_t i = used; i < proj; i++) {
            b[off + i] = s->proj_pad[i - used];
        }
        off += proj;
    }
    for (uint32_t i = 0; i < (uint32_t)s->n_centroids * s->n_dims; i++) {
        put_u32(b + off, (uint32_t)s->centroid_q8[i]);
        off += 4u;
    }
    if (s->flags & 8u) {
        for (uint32_t k = 0; k < s->n_centroids; k++) {
            put_u32(b + off, s->cs_offset_q8[k]);
            off += 4u;
            for (uint32_t j = 0; j < s->n_dims; j++) {
                put_u32(b + off, s->cs_inv_scale_q16[k * s->n_dims + j]);
                off += 4u;
            }
        }
    }
    if (s->flags & 0x20u) {
        put_u16(b + off, s->chart_k_q8);
        put_u16(b + off + 2u, s->chart_h_q8);
        off += 4u;
        for (uint32_t i = 0; i < (uint32_t)s->n_centroids * n_features; i++) {
            put_u32(b + off, s->chart_root[i]);
            off += 4u;
        }
    }
    if (s->flags & 2u) {
        b[off] = s->out_n_classes;
        b[off + 1u] = s->out_n_bins;
        put_u16(b + off + 2u, s->out_reserved);
        put_u32(b + off + 4u, s->out_scale_q24);
        put_u32(b + off + 8u, (uint32_t)s->out_zero_point);
        off += 12u;
        for (uint32_t c = 0; c < s->out_n_classes; c++) {
            put_u32(b + off, s->out_prior_q16[c]);
            off += 4u;
        }
        for (uint32_t k = 0; k < s->out_n_bins; k++) {
            put_u32(b + off, s->out_accuracy_q16[k]);
            off += 4u;
        }
    }
    if (off + 4u != size) {
        printf("writer layout error\n");
        exit(2);
    }
    w_recrc(b, size);
    *size_out = size;
    return b;
}

/* Common header fields of a valid profile. */
static inline void w_defaults(w_spec_t *s)
{
    memset(s, 0, sizeof *s);
    memcpy(s->magic, "TDPF", 4);
    s->version = 1u;
    s->header_size = 64u;
    s->profile_id = 0x11223344u;
    s->window = 16u;
    s->false_alarm_ppb = 1000u;
    s->cusum_k_q8 = 300u;
    s->cusum_h_q8 = 5000u;
    s->instant_q8 = 20000u;
    s->created_unix = 1700000000u;
}

static inline void w_default_channel(w_channel_t *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->rail_lo = -32768;
    ch->rail_hi = 32767;
}

/* Valid PCA profile: 3 channels, n_dims dimensions, 3 centroids, window 16, sentinel on channel 1. */
static inline void w_pca(w_spec_t *s, uint8_t n_dims)
{
    w_defaults(s);
    s->n_channels = 3u;
    s->n_dims = n_dims;
    s->n_centroids = 3u;
    s->proj_shift = 6u;
    for (uint32_t c = 0; c < 3u; c++) {
        w_default_channel(&s->ch[c]);
        s->ch[c].ref_mean_q8 = (int32_t)(c * 1000u) - 700;
        s->ch[c].ref_std_q8 = 256 * (int32_t)(c + 1u);
    }
    s->ch[0].flags = TD_CHANNEL_FLAG_STUCK_CHECK;
    s->ch[0].stuck_tol = 2u;
    s->ch[1].rail_lo = -2000;
    s->ch[1].rail_hi = 2000;
    s->ch[1].sentinel = -32768;
    s->ch[1].flags = TD_CHANNEL_FLAG_SENTINEL;
    s->ch[1].max_missing = 3u;
    s->ch[1].max_saturated = 4u;
    s->ch[2].rail_lo = -30000;
    s->ch[2].rail_hi = 30000;
    s->ch[2].max_saturated = 16u;
    for (uint32_t f = 0; f < 6u; f++) {
        s->mu_q8[f] = (int32_t)(f * 3000u) - 7000;
        s->inv_sigma_q24[f] = 0x00100000u + f * 0x1000u;
    }
    for (uint32_t i = 0; i < (uint32_t)n_dims * 6u; i++) {
        s->proj[i] = (int8_t)((int)(i * 37u % 255u) - 127);
    }
    for (uint32_t i = 0; i < 3u * n_dims; i++) {
        s->centroid_q8[i] = (int32_t)(i * 4099u) - 20000;
    }
}

/* Valid external-embedding profile: 2 channels, n_dims 5 (> n_features), 2 centroids. */
static inline void w_ext(w_spec_t *s)
{
    w_defaults(s);
    s->flags = TD_PROFILE_FLAG_EXTERNAL_EMBEDDING;
    s->n_channels = 2u;
    s->n_dims = 5u;
    s->n_centroids = 2u;
    s->ext_scale_q24 = 0x00200000u; /* 0.125 */
    s->ext_zero_point = -3;
    s->window = 32u;
    for (uint32_t c = 0; c < 2u; c++) {
        w_default_channel(&s->ch[c]);
    }
    s->ch[1].rail_lo = -1000;
    s->ch[1].rail_hi = 1000;
    s->ch[1].sentinel = 1000;
    s->ch[1].flags = TD_CHANNEL_FLAG_SENTINEL | TD_CHANNEL_FLAG_STUCK_CHECK;
    for (uint32_t f = 0; f < 4u; f++) {
        s->mu_q8[f] = -(int32_t)f * 256;
        s->inv_sigma_q24[f] = 0x01000000u;
    }
    for (uint32_t i = 0; i < 10u; i++) {
        s->centroid_q8[i] = (int32_t)(i * 100u) - 500;
    }
}

/* Add a valid outputs section: n_classes classes (uneven prior), n_bins bins (rising accuracy), int8 softmax
 * quantization (scale 1/256, zero point -128). */
static inline void w_outputs(w_spec_t *s, uint8_t n_classes, uint8_t n_bins)
{
    s->flags |= TD_PROFILE_FLAG_OUTPUTS;
    s->out_n_classes = n_classes;
    s->out_n_bins = n_bins;
    s->out_reserved = 0u;
    s->out_scale_q24 = 1u << 16;
    s->out_zero_point = -128;
    uint32_t left = 65536u;
    for (uint32_t c = 0; c < n_classes; c++) {
        s->out_prior_q16[c] = c + 1u == n_classes ? left : left / 2u;
        left -= s->out_prior_q16[c];
    }
    for (uint32_t k = 0; k < n_bins; k++) {
        s->out_accuracy_q16[k] = (uint32_t)(((uint64_t)k * 2u + 1u) * 65536u / (2u * n_bins));
    }
}

/* Add a feature chart section: k, h and a spread of roots over 0 .. TD_PROFILE_CHART_MAX_ROOT (not the true roots;
 * the parser does not care). */
static inline void w_chart(w_spec_t *s, uint16_t k_q8, uint16_t h_q8)
{
    s->flags |= TD_PROFILE_FLAG_FEATURE_CHART;
    s->chart_k_q8 = k_q8;
    s->chart_h_q8 = h_q8;
    const uint32_t n = (uint32_t)s->n_centroids * 2u * s->n_channels;
    for (uint32_t i = 0; i < n; i++) {
        s->chart_root[i] = (uint32_t)(((uint64_t)i * 2654435761u) % (TD_PROFILE_CHART_MAX_ROOT + 1u));
    }
}

/* ---- parser helpers -------------------------------------------------------------- */

/* Parse the first len bytes of src from a heap copy of exactly len bytes. */
static inline td_status parse_exact(const uint8_t *src, size_t len, td_profile_t *out)
{
    uint8_t *buf = malloc(len);
    static uint8_t dummy;
    uint8_t *p = buf != NULL ? buf : &dummy;
    if (len > 0u) {
        memcpy(p, src, len);
    }
    const td_status st = td_profile_parse(out, p, len);
    free(buf);
    return st;
}

/* Build s and parse it; returns the parser's status. */
static inline td_status spec_status(const w_spec_t *s)
{
    uint32_t size;
    uint8_t *b = w_build(s, &size);
    td_profile_t prof;
    const td_status st = parse_exact(b, size, &prof);
    free(b);
    return st;
}

/* Build s, let edit change bytes at offset off to value v (little-endian, width bytes), re-CRC, parse. */
static inline td_status poke_status(const w_spec_t *s, uint32_t off, uint32_t width, uint32_t v)
{
    uint32_t size;
    uint8_t *b = w_build(s, &size);
    for (uint32_t i = 0; i < width; i++) {
        b[off + i] = (uint8_t)(v >> (8u * i));
    }
    w_recrc(b, size);
    td_profile_t prof;
    const td_status st = parse_exact(b, size, &prof);
    free(b);
    return st;
}


/* ---- window accumulator ---------------------------------------------------------------- */

typedef struct {
    int64_t sum, sumsq;
    int16_t min, max;
    uint32_t n_missing, n_saturated;
} ref_acc_t;

static inline void ref_acc_reset(ref_acc_t *r)
{
    r->sum = 0;
    r->sumsq = 0;
    r->min = INT16_MAX;
    r->max = INT16_MIN;
    r->n_missing = 0;
    r->n_saturated = 0;
}

static inline void ref_acc_add(ref_acc_t *r, const td_sample_rules_t *rules, int16_t x)
{
    if (rules->use_sentinel && x == rules->sentinel) {
        r->n_missing++;
        return;
    }
    if (x <= rules->rail_lo || x >= rules->rail_hi) {
        r->n_saturated++;
    }
    r->min = x < r->min ? x : r->min;
    r->max = x > r->max ? x : r->max;
    r->sum += x;
    r->sumsq += (int64_t)x * x;
}

static inline int acc_matches(const td_window_acc_t *a, const ref_acc_t *r)
{
    return a->sum == r->sum && a->sumsq == r->sumsq && a->min == r->min && a->max == r->max &&
           a->n_missing == r->n_missing && a->n_saturated == r->n_saturated;
}

/* A random sample, biased towards the interesting values of the rules. */
static inline int16_t rnd_sample(const td_sample_rules_t *r, int32_t center, int32_t amp)
{
    switch (rnd64() % 16u) {
    case 0: return r->sentinel;
    case 1: return r->rail_lo;
    case 2: return r->rail_hi;
    case 3: return (int16_t)rnd_range(-32768, 32767);
    case 4: return (int16_t)(r->rail_lo > -32768 ? r->rail_lo - 1 : r->rail_lo);
    case 5: return (int16_t)(r->rail_hi < 32767 ? r->rail_hi + 1 : r->rail_hi);
    case 6: return (int16_t)(r->rail_lo < 32767 ? r->rail_lo + 1 : r->rail_lo);
    default: {
        int64_t v = center + rnd_range(-amp, amp);
        return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
    }
    }
}

static inline void random_rules(td_sample_rules_t *r)
{
    switch (rnd64() % 4u) {
    case 0:
        r->rail_lo = -32768;
        r->rail_hi = 32767;
        break;
    case 1: {
        const int16_t a = (int16_t)rnd_range(-32768, 32766);
        r->rail_lo = a;
        const int32_t top = rnd64() % 3u == 0u ? (a + 3 < 32767 ? a + 3 : 32767) : 32767;
        r->rail_hi = (int16_t)rnd_range(a + 1, top);
        break;
    }
    default:
        r->rail_lo = (int16_t)rnd_range(-32768, -1);
        r->rail_hi = (int16_t)rnd_range(0, 32767);
        break;
    }
    r->use_sentinel = (uint8_t)(rnd64() & 1u);
    /* The sentinel lies outside the open interval (rail_lo, rail_hi), as a profile requires. */
    switch (rnd64() % 4u) {
    case 0: r->sentinel = r->rail_lo; break;
    case 1: r->sentinel = r->rail_hi; break;
    case 2: r->sentinel = (int16_t)rnd_range(-32768, r->rail_lo); break;
    default: r->sentinel = (int16_t)rnd_range(r->rail_hi, 32767); break;
    }
}

/* ---- monitor: reference model ----------------------------------------------------------- */

typedef struct {
    uint64_t cusum;
    uint8_t alarm;
    uint32_t window_index;
    uint64_t blame[W_MAX_CH]; /* per channel, over the current CUSUM run (saturated at 2^32 - 1 when compared) */
    int64_t chart_up[2 * W_MAX_CH], chart_down[2 * W_MAX_CH]; /* feature chart, per feature, 0 .. 65535 */
} ref_mon_t;

/* How often the reference model met each edge case: the random test asserts it met all of them. */
static struct {
    unsigned long z_clamped, e_clamped_pca, e_clamped_ext, recon_clamped, centroid_ties, no_valid;
    unsigned long instant, cusum, health, stuck, missing, saturated, top_nonzero, recon_saturated;
    /* The CUSUM-run attribution: some channel blamed, a different choice than the |z| rule, clamped deviations. */
    unsigned long blamed, blame_moved, blame_clamped;
    /* The fitted shifts: windows that compute them in a CUSUM run without a chart section, with the section outside
     * a run, with both. Inverse scales shifted by 8 bits or more (a up to 2^22); fitted lengths from |n| < 2^32 (one
     * 32-bit division), beyond it (shifted division and its correction step), clamped to +32767 and to -32767; a
     * zero root with n != 0 (shift 0); a stored root that is not the true one and changes the shift. */
    unsigned long shifts_run_only, shifts_chart_only, shifts_both, blame_wide_inv, blame_len_narrow, blame_len_wide;
    unsigned long shift_clamped_pos, shift_clamped_neg, root_zero, root_stored_differs;
    /* The feature chart: statistics clamped at 0 and at 65535, ties for the largest above 0, windows over h (alarms),
     * of which outside a CUSUM run (naming the channel) and of those naming another channel than the |z| rule, windows
     * at or under h, of which at h. */
    unsigned long chart_zero, chart_saturated, chart_ties, chart_alarm, chart_alarm_outside, chart_alarm_named;
    unsigned long chart_quiet, chart_at_h;
    /* The monitor's fast paths and their fallbacks: a power-of-two count of valid samples (exact shifts) or not;
     * scaled centroid differences below 2^15 (one rounded high-word multiply) or not; PCA dimensions in pairs with
     * an odd one left over, features beyond the last group of four, fewer than four features. */
    unsigned long n_valid_pow2, n_valid_other, scaled_narrow, scaled_wide, pca_odd_dims, pca_tail, pca_no_quads;
    /* Fitted shifts of whole groups of four features (the M4's col_sums) over one dimension (its first row only), an
     * odd number above one and an even number of dimensions. */
    unsigned long shifts_quads_one_dim, shifts_quads_odd_dims, shifts_quads_even_dims;
} g_cov;

/* The inverse scales of centroid k (65536 each without scales), shifted right by the least shift that brings the
 * largest under 2^15, into inv[0 .. n_dims); returns the shift. */
static inline uint32_t ref_shifted_inv(const w_spec_t *s, uint32_t k, iwide *inv)
{
    const uint32_t D = s->n_dims;
    const int scaled = (s->flags & TD_PROFILE_FLAG_CENTROID_SCALES) != 0;
    uint64_t inv_max = 0u;
    for (uint32_t j = 0; j < D; j++) {
        const uint64_t v = scaled ? s->cs_inv_scale_q16[k * D + j] : 65536u;
        inv_max = v > inv_max ? v : inv_max;
    }
    uint32_t sh = 0u;
    while ((inv_max >> sh) >= 32768u) {
        sh++;
    }
    for (uint32_t j = 0; j < D; j++) {
        inv[j] = (iwide)((scaled ? s->cs_inv_scale_q16[k * D + j] : 65536u) >> sh);
    }
    return sh;
}

/* The root the profile builder stores for centroid k and feature f: floor(sqrt(sum_j (P[j, f] inv_j)^2)). */
static inline uint32_t ref_chart_root(const w_spec_t *s, uint32_t k, uint32_t f)
{
    const uint32_t F = 2u * s->n_channels;
    iwide inv[TD_MAX_DIMS];
    (void)ref_shifted_inv(s, k, inv);
    iwide d = 0;
    for (uint32_t j = 0; j < s->n_dims; j++) {
        const iwide a = (iwide)s->proj[j * F + f] * inv[j];
        d += a * a;
    }
    return ref_isqrt((uint64_t)d);
}

/* The monitor after td_monitor_reset_alarm: no alarm, CUSUM and feature chart at 0. */
static inline void ref_reset_alarm(ref_mon_t *st)
{
    st->cusum = 0u;
    st->alarm = 0u;
    memset(st->chart_up, 0, sizeof st->chart_up);
    memset(st->chart_down, 0, sizeof st->chart_down);
}

/* Reference result of one window: frames[window * n_channels], and in external mode the
 * embeddings pushed during the window (n_emb rows of n_dims int8). */
static inline void ref_window(const w_spec_t *s, ref_mon_t *st, const int16_t *frames, const int8_t *emb, uint32_t n_emb,
                       td_window_result_t *res)
{
    const uint32_t C = s->n_channels;
    const uint32_t F = 2u * C;
    const uint32_t D = s->n_dims;
    int16_t z[2 * W_MAX_CH];
    memset(res, 0, sizeof *res);
    res->window_index = st->window_index;
    uint32_t top_abs = 0;
    for (uint32_t c = 0; c < C; c++) {
        const w_channel_t *ch = &s->ch[c];
        const td_sample_rules_t rules = {ch->rail_lo, ch->rail_hi, ch->sentinel,
                                         (uint8_t)((ch->flags & TD_CHANNEL_FLAG_SENTINEL) ? 1 : 0)};
        ref_acc_t a;
        ref_acc_reset(&a);
        for (uint32_t i = 0; i < s->window; i++) {
            ref_acc_add(&a, &rules, frames[i * C + c]);
        }
        const uint32_t n_valid = s->window - a.n_missing;
        g_cov.n_valid_pow2 += n_valid > 0u && (n_valid & (n_valid - 1u)) == 0u;
        g_cov.n_valid_other += (n_valid & (n_valid - 1u)) != 0u;
        td_channel_result_t *o = &res->channels[c];
        o->sum = (int32_t)a.sum;
        o->sumsq = a.sumsq;
        o->min = a.min;
        o->max = a.max;
        o->n_missing = (uint16_t)a.n_missing;
        o->n_saturated = (uint16_t)a.n_saturated;
        o->mean_q8 = ref_mean_q8(a.sum, n_valid);
        o->std_q8 = ref_std_q8(ref_var_q32(a.sum, a.sumsq, n_valid));
        if (a.n_missing > ch->max_missing) {
            res->missing_mask |= (uint16_t)(1u << c);
        }
        if (a.n_saturated > ch->max_saturated) {
            res->saturated_mask |= (uint16_t)(1u << c);
        }
        g_cov.no_valid += n_valid == 0u;
        if ((ch->flags & TD_CHANNEL_FLAG_STUCK_CHECK) && n_valid >= 2u && a.max - a.min <= ch->stuck_tol) {
            res->stuck_mask |= (uint16_t)(1u << c);
        }
        const int32_t spread = (s->flags & TD_PROFILE_FLAG_LOG_STD)
                                   ? (int32_t)ref_log2_q8((uint32_t)o->std_q8 + ((uint32_t)ch->reserved << 8)) - 2048
                                   : o->std_q8;
        const int32_t feat[2] = {o->mean_q8, spread};
        for (uint32_t k = 0; k < 2u; k++) {
            const uint32_t f = 2u * c + k;
            const iwide centred = n_valid > 0u ? (iwide)feat[k] - s->mu_q8[f] : 0;
            const iwide zr = ref_round_div(centred * s->inv_sigma_q24[f], (iwide)1 << 24);
            z[f] = ref_sat16(zr);
            g_cov.z_clamped += zr != z[f];
        }
        o->z_mean_q8 = z[2u * c];
        o->z_std_q8 = z[2u * c + 1u];
        const uint32_t am = (uint32_t)(z[2u * c] < 0 ? -z[2u * c] : z[2u * c]);
        const uint32_t as = (uint32_t)(z[2u * c + 1u] < 0 ? -z[2u * c + 1u] : z[2u * c + 1u]);
        const uint32_t a_max = am > as ? am : as;
        if (a_max > top_abs) {
            top_abs = a_max;
            res->top_channel = (uint8_t)c;
        }
    }
    const int64_t LIM = (int64_t)1 << 24;
    int have_embedding = 1;
    if (s->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        res->n_embeddings = (uint16_t)n_emb;
        have_embedding = n_emb > 0u;
        for (uint32_t j = 0; j < D && have_embedding; j++) {
            iwide sum = 0;
            for (uint32_t e = 0; e < n_emb; e++) {
                sum += (iwide)emb[e * D + j] - s->ext_zero_point;
            }
            const iwide e = ref_round_div(sum * s->ext_scale_q24, (iwide)n_emb << 16);
            res->embedding_q8[j] = (int32_t)ref_clamp(e, LIM);
            g_cov.e_clamped_ext += e != res->embedding_q8[j];
        }
    } else {
        const iwide den = (iwide)1 << s->proj_shift;
        g_cov.pca_odd_dims += D % 2u == 1u;
        g_cov.pca_tail += F % 4u != 0u;
        g_cov.pca_no_quads += F < 4u;
        for (uint32_t j = 0; j < D; j++) {
            iwide dot = 0;
            for (uint32_t f = 0; f < F; f++) {
                dot += (iwide)s->proj[j * F + f] * z[f];
            }
            const iwide e = ref_round_div(dot, den);
            res->embedding_q8[j] = (int32_t)ref_clamp(e, LIM);
            g_cov.e_clamped_pca += e != res->embedding_q8[j];
        }
        iwide err = 0;
        for (uint32_t f = 0; f < F && D < F; f++) { /* every dimension kept: exact, error 0 */
            iwide back = 0;
            for (uint32_t j = 0; j < D; j++) {
                back += (iwide)s->proj[j * F + f] * res->embedding_q8[j];
            }
            const iwide d0 = (iwide)z[f] - ref_round_div(back, den);
            const iwide diff = ref_clamp(d0, LIM);
            g_cov.recon_clamped += d0 != diff;
            err += diff * diff;
        }
        res->recon_q8 = ref_sat_u32((uwide)(err + 128) >> 8);
        g_cov.recon_saturated += res->recon_q8 == 0xFFFFFFFFu;
    }
    if (have_embedding) {
        uwide best = 0;
        for (uint32_t k = 0; k < s->n_centroids; k++) {
            const int scaled = (s->flags & TD_PROFILE_FLAG_CENTROID_SCALES) != 0;
            uwide d = scaled ? (uwide)s->cs_offset_q8[k] * 256u : 0u;
            for (uint32_t j = 0; j < D; j++) {
                const iwide diff = (iwide)res->embedding_q8[j] - s->centroid_q8[k * D + j];
                g_cov.scaled_narrow += scaled && diff > -32768 && diff < 32768;
                g_cov.scaled_wide += scaled && (diff <= -32768 || diff >= 32768);
                const iwide v = scaled ? ref_clamp(ref_round_div(diff * s->cs_inv_scale_q16[k * D + j], 65536), LIM)
                                      : diff;
                d += (uwide)(v * v);
            }
            g_cov.centroid_ties += k > 0u && d == best;
            if (k == 0u || d < best) {
                best = d;
                res->nearest = (uint8_t)k;
            }
        }
        res->dist_q8 = ref_sat_u32((best + 128u) >> 8);
    }
    res->score_q8 = ref_sat_u32((uwide)res->dist_q8 + res->recon_q8);
    /* Decision. */
    const uint64_t cusum_before = st->cusum;
    st->cusum = st->cusum + res->score_q8 > s->cusum_k_q8 ? st->cusum + res->score_q8 - s->cusum_k_q8 : 0u;
    st->cusum = st->cusum > 0xFFFFFFFFu ? 0xFFFFFFFFu : st->cusum;
    if (res->score_q8 > s->instant_q8) {
        res->trigger |= TD_TRIGGER_INSTANT;
    }
    if (st->cusum > s->cusum_h_q8) {
        res->trigger |= TD_TRIGGER_CUSUM;
    }
    if (res->stuck_mask | res->saturated_mask | res->missing_mask) {
        res->trigger |= TD_TRIGGER_HEALTH;
    }
    if (res->trigger) {
        st->alarm = 1u;
    }
    /* The fitted shifts (PCA mode, in a CUSUM run or with a feature chart section): per feature f the matched filter
     * g_f = <a_f, u> / |a_f| with a_f,j = P[j, f] * inv_j (the centroid's inverse scales, one common shift to 15 bits)
     * and u the Q8 deviation in the centroid's scale (clamped to int16); |a_f| is the stored root with the section.
     * In a run a channel scores its larger g_f^2, summed over the run; the chart is a signed CUSUM per feature. */
    const int chart = (s->flags & TD_PROFILE_FLAG_FEATURE_CHART) != 0;
    const int in_run = st->cusum > 0u && !(s->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING);
    if (in_run || chart) {
        const uint32_t k = res->nearest;
        const int scaled = (s->flags & TD_PROFILE_FLAG_CENTROID_SCALES) != 0;
        iwide inv[TD_MAX_DIMS];
        const uint32_t sh = ref_shifted_inv(s, k, inv);
        g_cov.blame_wide_inv += sh >= 8u;
        g_cov.shifts_run_only += in_run && !chart;
        g_cov.shifts_chart_only += chart && !in_run;
        g_cov.shifts_both += chart && in_run;
        g_cov.shifts_quads_one_dim += F % 4u == 0u && D == 1u;
        g_cov.shifts_quads_odd_dims += F % 4u == 0u && D % 2u == 1u && D > 1u;
        g_cov.shifts_quads_even_dims += F % 4u == 0u && D % 2u == 0u;
        iwide t[TD_MAX_DIMS];
        for (uint32_t j = 0; j < D; j++) {
            const iwide diff = (iwide)res->embedding_q8[j] - s->centroid_q8[k * D + j];
            const iwide v = scaled ? ref_round_div(diff * s->cs_inv_scale_q16[k * D + j], 65536) : diff;
            t[j] = ref_clamp(v, 32767);
            g_cov.blame_clamped += t[j] != v;
        }
        for (uint32_t f = 0; f < F; f++) {
            iwide n = 0;
            iwide d = 0;
            for (uint32_t j = 0; j < D; j++) {
                n += (iwide)s->proj[j * F + f] * t[j] * inv[j];
                d += (iwide)s->proj[j * F + f] * s->proj[j * F + f] * inv[j] * inv[j];
            }
            const uint32_t true_root = ref_isqrt((uint64_t)d);
            const uint32_t root = chart ? s->chart_root[k * F + f] : true_root;
            const iwide mag = n < 0 ? -n : n;
            const iwide len = root != 0u ? mag / root : 0;
            const iwide q = len > 32767 ? 32767 : len;
            res->shift_q8[f] = (int16_t)(n < 0 ? -q : q);
            if (root != 0u) {
                g_cov.blame_len_narrow += mag < ((iwide)1 << 32) && len <= 32767;
                g_cov.blame_len_wide += mag >= ((iwide)1 << 32) && len <= 32767;
            }
            g_cov.shift_clamped_pos += len > 32767 && n > 0;
            g_cov.shift_clamped_neg += len > 32767 && n < 0;
            g_cov.root_zero += root == 0u && n != 0;
            g_cov.root_stored_differs += root != 0u && true_root != 0u && root != true_root && len != mag / true_root;
        }
        if (in_run) {
            if (cusum_before == 0u) {
                memset(st->blame, 0, sizeof st->blame);
            }
            const uint8_t z_top = res->top_channel;
            uint64_t top_blame = 0u;
            for (uint32_t c = 0; c < C; c++) {
                uint64_t fit = 0u;
                for (uint32_t f = 2u * c; f < 2u * c + 2u; f++) {
                    const int64_t q = res->shift_q8[f] < 0 ? -(int64_t)res->shift_q8[f] : res->shift_q8[f];
                    const uint64_t sq = (uint64_t)((q * q + 128) >> 8);
                    fit = sq > fit ? sq : fit;
                }
                st->blame[c] += fit;
                if (st->blame[c] > 0xFFFFFFFFu) {
                    st->blame[c] = 0xFFFFFFFFu;
                }
                if (st->blame[c] > top_blame) {
                    top_blame = st->blame[c];
                    res->top_channel = (uint8_t)c;
                }
            }
            g_cov.blamed += top_blame > 0u;
            g_cov.blame_moved += res->top_channel != z_top;
        }
        if (chart) {
            /* Up and down statistic of every feature in 64 bits, then clamped; the largest (first in the order
             * up f0, down f0, up f1, ...) is the chart's value, and its feature's channel is named. */
            const int64_t kq = s->chart_k_q8;
            for (uint32_t f = 0; f < F; f++) {
                const int64_t up = st->chart_up[f] + res->shift_q8[f] - kq;
                const int64_t down = st->chart_down[f] - res->shift_q8[f] - kq;
                g_cov.chart_zero += (up < 0) + (down < 0);
                g_cov.chart_saturated += (up > 65535) + (down > 65535);
                st->chart_up[f] = up < 0 ? 0 : (up > 65535 ? 65535 : up);
                st->chart_down[f] = down < 0 ? 0 : (down > 65535 ? 65535 : down);
            }
            int64_t best = 0;
            uint32_t best_f = 0u;
            uint32_t n_best = 0u;
            for (uint32_t f = 0; f < F; f++) {
                best = st->chart_up[f] > best ? st->chart_up[f] : best;
                best = st->chart_down[f] > best ? st->chart_down[f] : best;
            }
            for (uint32_t f = F; f-- > 0u;) { /* backwards: the last hit is the first feature with the maximum */
                if (st->chart_up[f] == best || st->chart_down[f] == best) {
                    best_f = f;
                    n_best += (st->chart_up[f] == best) + (st->chart_down[f] == best);
                }
            }
            g_cov.chart_ties += best > 0 && n_best > 1u;
            g_cov.chart_at_h += best == (int64_t)s->chart_h_q8;
            res->chart_q8 = (uint16_t)best;
            if (best > (int64_t)s->chart_h_q8) {
                res->trigger |= TD_TRIGGER_FEATURE;
                st->alarm = 1u;
                g_cov.chart_alarm++;
                if (!in_run) {
                    g_cov.chart_alarm_outside++;
                    g_cov.chart_alarm_named += res->top_channel != best_f / 2u;
                    res->top_channel = (uint8_t)(best_f / 2u);
                }
            } else {
                g_cov.chart_quiet++;
            }
        }
    }
    g_cov.instant += (res->trigger & TD_TRIGGER_INSTANT) != 0u;
    g_cov.cusum += (res->trigger & TD_TRIGGER_CUSUM) != 0u;
    g_cov.health += (res->trigger & TD_TRIGGER_HEALTH) != 0u;
    g_cov.stuck += res->stuck_mask != 0u;
    g_cov.missing += res->missing_mask != 0u;
    g_cov.saturated += res->saturated_mask != 0u;
    g_cov.top_nonzero += res->top_channel != 0u;
    res->alarm = st->alarm;
    res->cusum_q8 = (uint32_t)st->cusum;
    st->window_index++;
}

/* Field-by-field comparison; prints the first differing field. */
static inline int result_equal(const w_spec_t *s, const td_window_result_t *a, const td_window_result_t *b)
{
#define RCMP(field)                                                                                         \
    if (a->field != b->field) {                                                                             \
        printf("  result field %s: %lld vs %lld\n", #field, (long long)a->field, (long long)b->field);      \
        return 0;                                                                                           \
    }
    RCMP(window_index) RCMP(score_q8) RCMP(dist_q8) RCMP(recon_q8) RCMP(cusum_q8) RCMP(n_embeddings)
    RCMP(stuck_mask) RCMP(saturated_mask) RCMP(missing_mask) RCMP(trigger) RCMP(alarm) RCMP(nearest)
    RCMP(top_channel) RCMP(n_inferences) RCMP(top_class) RCMP(ddm_state) RCMP(mean_confidence_q16)
    RCMP(estimated_accuracy_q16) RCMP(prior_shift_q16) RCMP(n_labels) RCMP(n_correct) RCMP(accuracy_q16)
    RCMP(occupancy_q8) RCMP(chart_q8)
    /* Every slot, used or not: the unused ones must read 0 whatever the buffer held before. */
    (void)s;
    for (uint32_t j = 0; j < TD_MAX_DIMS; j++) {
        RCMP(embedding_q8[j])
    }
    for (uint32_t f = 0; f < TD_MAX_FEATURES; f++) {
        RCMP(shift_q8[f])
    }
    for (uint32_t c = 0; c < TD_MAX_CHANNELS; c++) {
        RCMP(channels[c].sumsq) RCMP(channels[c].sum) RCMP(channels[c].mean_q8) RCMP(channels[c].std_q8)
        RCMP(channels[c].min) RCMP(channels[c].max) RCMP(channels[c].z_mean_q8) RCMP(channels[c].z_std_q8)
        RCMP(channels[c].n_missing) RCMP(channels[c].n_saturated)
    }
#undef RCMP
    return 1;
}

/* A parsed profile together with the blob it points into. */
typedef struct {
    uint8_t *blob;
    uint32_t size;
    td_profile_t prof;
} parsed_t;

static inline int parsed_open(parsed_t *p, const w_spec_t *s)
{
    p->blob = w_build(s, &p->size);
    return td_profile_parse(&p->prof, p->blob, p->size) == TD_OK;
}

static inline void parsed_close(parsed_t *p)
{
    free(p->blob);
    p->blob = NULL;
}

/* Frames of one window in a random regime (normal, stuck, rails, sentinel bursts). */
static inline void gen_window(const w_spec_t *s, int16_t *frames)
{
    const uint32_t C = s->n_channels;
    for (uint32_t c = 0; c < C; c++) {
        const w_channel_t *ch = &s->ch[c];
        const td_sample_rules_t rules = {ch->rail_lo, ch->rail_hi, ch->sentinel, 1};
        const uint32_t regime = (uint32_t)(rnd64() % 10u);
        const int32_t center = (int32_t)(regime < 5u ? rnd_range(-300, 300) : rnd_range(-32768, 32767));
        const int32_t amp = (int32_t)(regime == 5u ? 0 : (regime == 6u ? 2 : rnd_range(1, 3000)));
        for (uint32_t i = 0; i < s->window; i++) {
            int16_t v;
            if (regime == 7u) {
                v = rnd_sample(&rules, center, amp);
            } else if (regime == 8u && (ch->flags & TD_CHANNEL_FLAG_SENTINEL) && rnd64() % 3u == 0u) {
                v = ch->sentinel;
            } else {
                int64_t x = center + rnd_range(-amp, amp);
                v = (int16_t)(x > 32767 ? 32767 : (x < -32768 ? -32768 : x));
                if (ch->flags & TD_CHANNEL_FLAG_SENTINEL && v == ch->sentinel && regime != 9u) {
                    v = (int16_t)(v + (v > 0 ? -1 : 1)); /* keep stray sentinels rare */
                }
            }
            frames[i * C + c] = v;
        }
    }
}

/* A feature chart section for a PCA profile whose projection and scales are final: k and h over ranges where the
 * random streams' charts both fire and stay quiet; the roots the builder would store (half the profiles), some of them
 * changed (0, 2^25, near or far from the true one), or drawn at random. */
static inline void random_chart(w_spec_t *s)
{
    const uint32_t F = 2u * s->n_channels;
    s->flags |= TD_PROFILE_FLAG_FEATURE_CHART;
    static const int64_t k_top[4] = {256, 4096, 32768, 65535};
    static const int64_t h_top[4] = {1024, 16384, 65534, 65535};
    s->chart_k_q8 = (uint16_t)rnd_range(0, k_top[rnd64() % 4u]);
    s->chart_h_q8 = (uint16_t)rnd_range(0, h_top[rnd64() % 4u]);
    if (rnd64() % 4u == 0u) { /* the ends, where the chart often sits at h: 0 (all quiet) or 65535 (saturated) */
        s->chart_h_q8 = (uint16_t)((rnd64() & 1u) ? 65535u : 0u);
    }
    const uint32_t mode = (uint32_t)(rnd64() % 4u);
    for (uint32_t k = 0; k < s->n_centroids; k++) {
        for (uint32_t f = 0; f < F; f++) {
            const int64_t root = ref_chart_root(s, k, f);
            int64_t r = root;
            const uint32_t pick = (uint32_t)(rnd64() % 6u);
            if (mode == 2u && rnd64() % 3u == 0u) {
                r = pick == 0u ? 0 : (pick == 1u ? TD_PROFILE_CHART_MAX_ROOT : (pick == 2u ? root + rnd_range(-3, 3)
                    : (pick == 3u ? root * 2 : (pick == 4u ? root / 3 : rnd_range(0, TD_PROFILE_CHART_MAX_ROOT)))));
            } else if (mode == 3u) {
                r = pick == 0u ? 0 : (pick == 1u ? TD_PROFILE_CHART_MAX_ROOT : (pick == 2u ? rnd_range(1, 64)
                    : (pick == 3u ? rnd_range(0, TD_PROFILE_CHART_MAX_ROOT) : root)));
            }
            r = r < 0 ? 0 : (r > TD_PROFILE_CHART_MAX_ROOT ? TD_PROFILE_CHART_MAX_ROOT : r);
            s->chart_root[k * F + f] = (uint32_t)r;
        }
    }
}

/* random_profile's channel counts: 1..6, or from g_min_channels to g_max_channels where a test sets them. */
static uint8_t g_min_channels = 1u;
static uint8_t g_max_channels = 6u;

/* A random valid profile: PCA (ext == 0) or external embedding. */
static inline void random_profile(w_spec_t *s, int ext)
{
    w_defaults(s);
    s->n_channels = (uint8_t)rnd_range(g_min_channels, g_max_channels);
    s->window = (uint16_t)(rnd64() % 4u == 0u ? rnd_range(2, 5) : rnd_range(6, 64));
    const uint32_t F = 2u * s->n_channels;
    if (ext) {
        s->flags = TD_PROFILE_FLAG_EXTERNAL_EMBEDDING;
        s->n_dims = (uint8_t)rnd_range(1, TD_MAX_DIMS);
        s->ext_scale_q24 = (uint32_t)(rnd64() % 3u == 0u ? rnd64() >> 32 : (uint64_t)rnd_range(1, 1 << 25));
        if (s->ext_scale_q24 == 0u) {
            s->ext_scale_q24 = 1u;
        }
        s->ext_zero_point = (int32_t)rnd_range(-128, 127);
    } else {
        s->n_dims = (uint8_t)rnd_range(1, F < TD_MAX_DIMS ? F : TD_MAX_DIMS);
        s->proj_shift = (uint8_t)rnd_range(0, 15);
    }
    s->n_centroids = (uint8_t)rnd_range(1, 6);
    s->cusum_k_q8 = (uint32_t)rnd_range(0, 1 << 20);
    s->cusum_h_q8 = (uint32_t)(rnd64() % 4u == 0u ? 0xFFFFFFFFu : (uint64_t)rnd_range(0, 1 << 24));
    s->instant_q8 = (uint32_t)(rnd64() % 4u == 0u ? 0xFFFFFFFFu : (uint64_t)rnd_range(0, 1 << 26));
    for (uint32_t c = 0; c < s->n_channels; c++) {
        w_channel_t *ch = &s->ch[c];
        w_default_channel(ch);
        td_sample_rules_t r;
        random_rules(&r);
        ch->rail_lo = r.rail_lo;
        ch->rail_hi = r.rail_hi;
        if (r.use_sentinel) {
            ch->flags |= TD_CHANNEL_FLAG_SENTINEL;
            ch->sentinel = r.sentinel;
        }
        if (rnd64() & 1u) {
            ch->flags |= TD_CHANNEL_FLAG_STUCK_CHECK;
            ch->stuck_tol = (uint16_t)rnd_range(0, 3);
        }
        ch->max_missing = (uint16_t)rnd_range(0, s->window);
        ch->max_saturated = (uint16_t)rnd_range(0, s->window);
    }
    for (uint32_t f = 0; f < F; f++) {
        s->mu_q8[f] = (int32_t)(rnd64() % 8u == 0u ? rnd_range(-(32768 * 256), 32768 * 256) : rnd_range(-80000, 80000));
        s->inv_sigma_q24[f] = (uint32_t)(rnd64() % 8u == 0u ? (uint64_t)rnd_range(1, 0x80000000ll)
                                                             : ((uint64_t)1 << 32) / (uint64_t)rnd_range(256, 256 * 4000));
    }
    for (uint32_t i = 0; i < (uint32_t)s->n_dims * F; i++) {
        s->proj[i] = (int8_t)rnd_range(-128, 127);
    }
    for (uint32_t i = 0; i < (uint32_t)s->n_centroids * s->n_dims; i++) {
        s->centroid_q8[i] = (int32_t)(rnd64() % 8u == 0u ? rnd_range(-(1 << 24), 1 << 24) : rnd_range(-20000, 20000));
    }
    if (rnd64() % 3u == 0u) {
        s->flags |= TD_PROFILE_FLAG_LOG_STD;
        for (uint32_t c = 0; c < s->n_channels; c++) {
            s->ch[c].reserved = (uint16_t)(rnd64() % 4u == 0u ? rnd_range(1, 65535) : rnd_range(1, 64));
        }
    }
    if (rnd64() % 3u == 0u) {
        s->flags |= TD_PROFILE_FLAG_CENTROID_SCALES;
        for (uint32_t k = 0; k < s->n_centroids; k++) {
            s->cs_offset_q8[k] = (uint32_t)(rnd64() % 4u == 0u ? rnd_range(0, 1 << 24) : rnd_range(0, 4000));
            for (uint32_t j = 0; j < s->n_dims; j++) {
                /* some odd multiples of 2^15: every odd |e - c| then scales to exactly half way */
                const uint32_t kind = (uint32_t)(rnd64() % 6u);
                s->cs_inv_scale_q16[k * s->n_dims + j] =
                    kind == 0u ? (uint32_t)rnd_range(1, 1 << 24)
                               : (kind == 1u ? ((uint32_t)rnd_range(0, 255) * 2u + 1u) << 15
                                             : (uint32_t)rnd_range(1 << 12, 1 << 20));
            }
        }
    }
    if (s->n_centroids > 1u && rnd64() % 3u == 0u) {
        /* A duplicated centroid: the nearest one must be the lower index. */
        const uint32_t k = (uint32_t)rnd_range(1, s->n_centroids - 1);
        memcpy(&s->centroid_q8[k * s->n_dims], &s->centroid_q8[0], 4u * s->n_dims);
        memcpy(&s->cs_inv_scale_q16[k * s->n_dims], &s->cs_inv_scale_q16[0], 4u * s->n_dims);
        s->cs_offset_q8[k] = s->cs_offset_q8[0];
    }
    if (!ext && rnd64() % 5u == 0u) {
        /* Extreme: saturating z, unshifted full-scale projection, so embeddings reach the +-2^24 clamp. */
        s->proj_shift = (uint8_t)rnd_range(0, 1);
        for (uint32_t i = 0; i < (uint32_t)s->n_dims * F; i++) {
            s->proj[i] = (int8_t)((rnd64() & 1u) ? 127 : -128);
        }
        for (uint32_t f = 0; f < F; f++) {
            s->mu_q8[f] = (int32_t)((rnd64() & 1u) ? 32768 * 256 : -32768 * 256);
            s->inv_sigma_q24[f] = 0x80000000u - (uint32_t)rnd_range(0, 1000);
        }
    }
    if (!ext && (rnd64() & 1u)) {
        random_chart(s);
        if (rnd64() % 3u == 0u) { /* the score CUSUM mostly at 0: the chart alone, and naming the channel */
            s->cusum_k_q8 = (uint32_t)(rnd64() % 2u == 0u ? 0xFFFFFFFFu : (uint64_t)rnd_range(1 << 24, 0xFFFFFFFFll));
        }
    }
}

#endif /* TINYDRIFT_TESTS_TD_TEST_MODEL_H */
