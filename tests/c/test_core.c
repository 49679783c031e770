/* test_core.c - standalone test of the tinydrift core: profile parser, window
 * statistics, detector, feature chart, monitor and the monitor's model-output
 * monitoring.
 *
 * Build and run:
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_core.c csrc/src/td_stats.c csrc/src/td_profile.c \
 *       csrc/src/td_detector.c csrc/src/td_monitor.c csrc/src/td_outputs.c csrc/src/td_crc32.c \
 *       csrc/src/td_status.c csrc/src/td_calibrate.c \
 *       -o /tmp/test_core && /tmp/test_core
 * Prints "test_core: N passed, M failed" and exits non-zero on any failure.
 *
 * The test carries its own profile writer (byte-by-byte little-endian stores,
 * following docs/profile-format.md) and its own reference arithmetic (128-bit
 * integers, no fixed-point helper of the core), so it does not check the core
 * against itself. Every parser trial runs on a heap buffer of exactly the
 * length passed, so AddressSanitizer reports any read past it.
 *
 * It also runs on the Cortex-M4 (make test-core-m4, QEMU mps2-an386), where the
 * DSP and assembly paths of the core are compiled in. That target has no
 * 128-bit integers: there the references compute in 64 bits, which every one
 * still compiled holds (the profiles and windows here keep them below 2^62),
 * and the checks that need more (TD_TEST_WIDE) run on the host only.
 */
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

static uint64_t rnd64(void)
{
    return td_xorshift64(&g_rng);
}

/* Uniform-ish integer in [lo, hi] (hi - lo < 2^63). */
static int64_t rnd_range(int64_t lo, int64_t hi)
{
    const uint64_t span = (uint64_t)(hi - lo) + 1u;
    return lo + (int64_t)(rnd64() % span);
}

/* ---- reference arithmetic ---------------------------------------------------- */

/* num / den rounded to nearest, ties away from zero; den > 0. The remainder decides (r >= den - r: at or past the
 * half) rather than (2 |num| + den) / (2 den), which needs a bit more than num. */
static iwide ref_round_div(iwide num, iwide den)
{
    const iwide mag = num < 0 ? -num : num;
    const iwide q = mag / den + (mag % den >= den - mag % den ? 1 : 0);
    return num < 0 ? -q : q;
}

static int64_t ref_clamp(iwide v, int64_t limit)
{
    return v > limit ? limit : (v < -limit ? -limit : (int64_t)v);
}

static int16_t ref_sat16(iwide v)
{
    return v > 32767 ? (int16_t)32767 : (v < -32768 ? (int16_t)-32768 : (int16_t)v);
}

static uint32_t ref_sat_u32(uwide v)
{
    return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)v;
}

/* Floor square root by bisection over [0, 2^32). */
static uint32_t ref_isqrt(uint64_t v)
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
static int is_floor_sqrt(uint32_t r, uint64_t v)
{
    return (uint64_t)r * r <= v && (r == 0xFFFFFFFFu || ((uint64_t)r + 1u) * ((uint64_t)r + 1u) > v);
}

/* 256 * log2(x): integer part by counting halvings, 8 fraction bits by squaring the exact mantissa (truncated). */
static uint32_t ref_log2_q8(uint32_t x)
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

static int32_t ref_mean_q8(int64_t sum, uint32_t n)
{
    return n == 0u ? 0 : (int32_t)ref_round_div((iwide)sum * 256, n);
}

static uint64_t ref_var_q32(int64_t sum, int64_t sumsq, uint32_t n)
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

static int32_t ref_std_q8(uint64_t var_q32)
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

static uint32_t w_proj_bytes(const w_spec_t *s)
{
    if (s->flags & 1u) {
        return 0u;
    }
    const uint32_t used = (uint32_t)s->n_dims * 2u * s->n_channels;
    return (used + 3u) / 4u * 4u;
}

static uint32_t w_scales_bytes(const w_spec_t *s)
{
    return (s->flags & 8u) ? 4u * s->n_centroids * (s->n_dims + 1u) : 0u;
}

static uint32_t w_chart_bytes(const w_spec_t *s)
{
    return (s->flags & 0x20u) ? 4u + 4u * s->n_centroids * 2u * s->n_channels : 0u;
}

static uint32_t w_outputs_bytes(const w_spec_t *s)
{
    return (s->flags & 2u) ? 12u + 4u * ((uint32_t)s->out_n_classes + s->out_n_bins) : 0u;
}

/* Size from the counts: header, channels, features, padded projection, centroids, scales, feature chart, outputs
 * section, CRC. */
static uint32_t w_size(const w_spec_t *s)
{
    return 64u + 24u * s->n_channels + 16u * s->n_channels + w_proj_bytes(s) + 4u * s->n_centroids * s->n_dims +
           w_scales_bytes(s) + w_chart_bytes(s) + w_outputs_bytes(s) + 4u;
}

/* Rewrite the trailing CRC-32 over blob[0 .. size-4). */
static void w_recrc(uint8_t *blob, uint32_t size)
{
    put_u32(blob + size - 4u, td_crc32_update(0u, blob, size - 4u));
}

/* Serialize s into a new heap buffer of exactly w_size(s) bytes. */
static uint8_t *w_build(const w_spec_t *s, uint32_t *size_out)
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
static void w_defaults(w_spec_t *s)
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

static void w_default_channel(w_channel_t *ch)
{
    memset(ch, 0, sizeof *ch);
    ch->rail_lo = -32768;
    ch->rail_hi = 32767;
}

/* Valid PCA profile: 3 channels, n_dims dimensions, 3 centroids, window 16, sentinel on channel 1. */
static void w_pca(w_spec_t *s, uint8_t n_dims)
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
static void w_ext(w_spec_t *s)
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
static void w_outputs(w_spec_t *s, uint8_t n_classes, uint8_t n_bins)
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
static void w_chart(w_spec_t *s, uint16_t k_q8, uint16_t h_q8)
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
static td_status parse_exact(const uint8_t *src, size_t len, td_profile_t *out)
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
static td_status spec_status(const w_spec_t *s)
{
    uint32_t size;
    uint8_t *b = w_build(s, &size);
    td_profile_t prof;
    const td_status st = parse_exact(b, size, &prof);
    free(b);
    return st;
}

/* Build s, let edit change bytes at offset off to value v (little-endian, width bytes), re-CRC, parse. */
static td_status poke_status(const w_spec_t *s, uint32_t off, uint32_t width, uint32_t v)
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

/* ---- profile: accept and decode ---------------------------------------------------- */

static void check_decoded(const w_spec_t *s, const uint8_t *blob, uint32_t size, const td_profile_t *p)
{
    const uint32_t n_features = 2u * s->n_channels;
    CHECK(p->blob == blob);
    CHECK_EQ(p->size, size);
    CHECK_EQ(p->profile_id, s->profile_id);
    CHECK_EQ(p->created_unix, s->created_unix);
    CHECK_EQ(p->flags, s->flags);
    CHECK_EQ(p->window, s->window);
    CHECK_EQ(p->n_channels, s->n_channels);
    CHECK_EQ(p->n_features, n_features);
    CHECK_EQ(p->n_dims, s->n_dims);
    CHECK_EQ(p->n_centroids, s->n_centroids);
    CHECK_EQ(p->proj_shift, s->proj_shift);
    CHECK_EQ(p->false_alarm_ppb, s->false_alarm_ppb);
    CHECK_EQ(p->cusum_k_q8, s->cusum_k_q8);
    CHECK_EQ(p->cusum_h_q8, s->cusum_h_q8);
    CHECK_EQ(p->instant_q8, s->instant_q8);
    CHECK_EQ(p->ext_scale_q24, s->ext_scale_q24);
    CHECK_EQ(p->ext_zero_point, s->ext_zero_point);
    const uint32_t off_features = 64u + 24u * s->n_channels;
    const uint32_t off_proj = off_features + 8u * n_features;
    const uint32_t off_cent = off_proj + w_proj_bytes(s);
    CHECK(p->channels == blob + 64);
    CHECK(p->features == blob + off_features);
    if (s->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        CHECK(p->projection == NULL);
    } else {
        CHECK(p->projection == blob + off_proj);
        int ok = 1;
        for (uint32_t i = 0; i < (uint32_t)s->n_dims * n_features; i++) {
            CHECK_QUIET(ok, (int8_t)p->projection[i] == s->proj[i]);
        }
        CHECK(ok);
    }
    CHECK(p->centroids == blob + off_cent);
    const uint32_t off_scales = off_cent + 4u * s->n_centroids * s->n_dims;
    const uint32_t off_chart = off_scales + w_scales_bytes(s);
    const uint32_t off_outputs = off_chart + w_chart_bytes(s);
    if (s->flags & TD_PROFILE_FLAG_CENTROID_SCALES) {
        CHECK(p->centroid_scales == blob + off_scales);
    } else {
        CHECK(p->centroid_scales == NULL);
    }
    CHECK(p->occupancy == NULL); /* the writer has no occupancy section */
    if (s->flags & TD_PROFILE_FLAG_FEATURE_CHART) {
        CHECK(p->feature_chart == blob + off_chart);
    } else {
        CHECK(p->feature_chart == NULL);
    }
    CHECK_EQ(off_outputs + w_outputs_bytes(s) + 4u, size);
    td_outputs_config_t oc;
    memset(&oc, 0x5A, sizeof oc);
    if (s->flags & TD_PROFILE_FLAG_OUTPUTS) {
        CHECK(p->outputs == blob + off_outputs);
        CHECK_EQ(td_profile_outputs(p, &oc), TD_OK);
        CHECK_EQ(oc.n_classes, s->out_n_classes);
        CHECK_EQ(oc.n_bins, s->out_n_bins);
        CHECK_EQ(oc.scale_q24, s->out_scale_q24);
        CHECK_EQ(oc.zero_point, s->out_zero_point);
        int ok_out = 1;
        for (uint32_t c = 0; c < TD_MAX_CLASSES; c++) {
            CHECK_QUIET(ok_out, oc.prior_q16[c] == (c < s->out_n_classes ? s->out_prior_q16[c] : 0u));
        }
        for (uint32_t k = 0; k < TD_MAX_CONFIDENCE_BINS; k++) {
            CHECK_QUIET(ok_out, oc.accuracy_q16[k] == (k < s->out_n_bins ? s->out_accuracy_q16[k] : 0u));
        }
        CHECK(ok_out);
        CHECK_EQ(td_outputs_check(&oc), TD_OK);
        CHECK_EQ(td_profile_size(s->n_channels, s->n_dims, s->n_centroids, s->flags), 0u);
    } else {
        CHECK(p->outputs == NULL);
        CHECK_EQ(td_profile_outputs(p, &oc), TD_ERR_MODE);
        CHECK_EQ(oc.n_classes, 0x5A); /* untouched */
        CHECK_EQ(td_profile_size(s->n_channels, s->n_dims, s->n_centroids, s->flags), size);
    }
    CHECK_EQ(td_profile_outputs(NULL, &oc), TD_ERR_ARG);
    CHECK_EQ(td_profile_outputs(p, NULL), TD_ERR_ARG);
    CHECK_EQ(td_profile_size_outputs(s->n_channels, s->n_dims, s->n_centroids, s->flags, s->out_n_classes,
                                     s->out_n_bins), size);
    int ok = 1;
    for (uint32_t i = 0; i < (uint32_t)s->n_centroids * s->n_dims; i++) {
        CHECK_QUIET(ok, (int32_t)get_u32(p->centroids + 4u * i) == s->centroid_q8[i]);
    }
    for (uint32_t f = 0; f < n_features; f++) {
        CHECK_QUIET(ok, (int32_t)get_u32(p->features + 8u * f) == s->mu_q8[f]);
        CHECK_QUIET(ok, get_u32(p->features + 8u * f + 4u) == s->inv_sigma_q24[f]);
    }
    CHECK(ok);
    for (uint8_t c = 0; c < s->n_channels; c++) {
        td_channel_config_t cfg;
        memset(&cfg, 0x5A, sizeof cfg);
        CHECK_EQ(td_profile_channel(p, c, &cfg), TD_OK);
        CHECK_EQ(cfg.rail_lo, s->ch[c].rail_lo);
        CHECK_EQ(cfg.rail_hi, s->ch[c].rail_hi);
        CHECK_EQ(cfg.sentinel, s->ch[c].sentinel);
        CHECK_EQ(cfg.flags, s->ch[c].flags);
        CHECK_EQ(cfg.stuck_tolerance, s->ch[c].stuck_tol);
        CHECK_EQ(cfg.max_missing, s->ch[c].max_missing);
        CHECK_EQ(cfg.max_saturated, s->ch[c].max_saturated);
        CHECK_EQ(cfg.std_floor, s->ch[c].reserved);
        CHECK_EQ(cfg.ref_mean_q8, s->ch[c].ref_mean_q8);
        CHECK_EQ(cfg.ref_std_q8, s->ch[c].ref_std_q8);
    }
    td_channel_config_t cfg;
    CHECK_EQ(td_profile_channel(p, s->n_channels, &cfg), TD_ERR_ARG);
    CHECK_EQ(td_profile_channel(NULL, 0, &cfg), TD_ERR_ARG);
    CHECK_EQ(td_profile_channel(p, 0, NULL), TD_ERR_ARG);
}

static unsigned long g_corrupt_trials;
static unsigned long g_trunc_trials;

/* Valid blob accepted (exact and longer buffer), every corruption and truncation rejected. */
static void profile_roundtrip_and_fuzz(const w_spec_t *s, const char *name)
{
    uint32_t size;
    uint8_t *blob = w_build(s, &size);
    td_profile_t prof;

    /* Exact-length buffer. */
    memset(&prof, 0, sizeof prof);
    const td_status st0 = td_profile_parse(&prof, blob, size);
    CHECK_EQ(st0, TD_OK);
    if (st0 == TD_OK) {
        check_decoded(s, blob, size, &prof);
    }

    /* A longer buffer (profile in a larger flash slot) with garbage after the profile. */
    uint8_t *longer = malloc(size + 37u);
    memcpy(longer, blob, size);
    memset(longer + size, 0xA7, 37u);
    memset(&prof, 0, sizeof prof);
    CHECK_EQ(td_profile_parse(&prof, longer, size + 37u), TD_OK);
    CHECK_EQ(prof.size, size);
    CHECK(prof.blob == longer);
    free(longer);

    /* Every single-byte corruption: xor 0x01, 0x80, 0xFF at each offset. */
    static const uint8_t masks[3] = {0x01u, 0x80u, 0xFFu};
    int ok_rej = 1;
    int ok_untouched = 1;
    td_profile_t sentinel_prof;
    memset(&sentinel_prof, 0xA5, sizeof sentinel_prof);
    for (uint32_t i = 0; i < size; i++) {
        for (uint32_t m = 0; m < 3u; m++) {
            uint8_t *buf = malloc(size);
            memcpy(buf, blob, size);
            buf[i] ^= masks[m];
            memcpy(&prof, &sentinel_prof, sizeof prof);
            const td_status st = td_profile_parse(&prof, buf, size);
            free(buf);
            g_corrupt_trials++;
            if (st == TD_OK && ok_rej) {
                printf("  %s: corruption at offset %u mask 0x%02X accepted\n", name, (unsigned)i, masks[m]);
            }
            CHECK_QUIET(ok_rej, st != TD_OK);
            CHECK_QUIET(ok_untouched, memcmp(&prof, &sentinel_prof, sizeof prof) == 0);
        }
    }
    CHECK(ok_rej);
    CHECK(ok_untouched);

    /* Every truncation: len 0 .. size-1, each in an exactly sized heap buffer. */
    int ok_trunc = 1;
    for (uint32_t len = 0; len < size; len++) {
        memcpy(&prof, &sentinel_prof, sizeof prof);
        const td_status st = parse_exact(blob, len, &prof);
        g_trunc_trials++;
        if (st != TD_ERR_TRUNCATED && ok_trunc) {
            printf("  %s: truncation to %u bytes gave %d\n", name, (unsigned)len, (int)st);
        }
        CHECK_QUIET(ok_trunc, st == TD_ERR_TRUNCATED);
        CHECK_QUIET(ok_trunc, memcmp(&prof, &sentinel_prof, sizeof prof) == 0);
    }
    CHECK(ok_trunc);
    free(blob);
}

static void test_profile_valid(void)
{
    static w_spec_t s;
    w_pca(&s, 4u); /* 4 x 6 projection: 24 bytes, no padding */
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4");

    w_pca(&s, 3u); /* 3 x 6 projection: 18 bytes + 2 padding */
    CHECK_EQ(w_proj_bytes(&s), 20u);
    profile_roundtrip_and_fuzz(&s, "pca3");

    w_ext(&s);
    profile_roundtrip_and_fuzz(&s, "ext");

    /* Log-std features and centroid scales (a section of 4 * K * (D + 1) bytes after the centroids). */
    w_pca(&s, 4u);
    s.flags = TD_PROFILE_FLAG_LOG_STD | TD_PROFILE_FLAG_CENTROID_SCALES;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        s.ch[c].reserved = (uint16_t)(3u + c);
    }
    for (uint32_t k = 0; k < s.n_centroids; k++) {
        s.cs_offset_q8[k] = 100u * k;
        for (uint32_t j = 0; j < s.n_dims; j++) {
            s.cs_inv_scale_q16[k * s.n_dims + j] = 30000u + 1000u * j + k;
        }
    }
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u * s.n_centroids * 5u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled");

    /* A feature chart section (4 + 4 * K * F bytes) after the scales, and before an outputs section. */
    w_chart(&s, 77u, 4321u);
    s.chart_root[0] = 0u;
    s.chart_root[s.n_centroids * 6u - 1u] = TD_PROFILE_CHART_MAX_ROOT;
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u * s.n_centroids * 5u + 4u + 4u * s.n_centroids * 6u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled-chart");
    w_outputs(&s, 3u, 2u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled-chart-outputs");
    w_pca(&s, 3u); /* without scales: the chart follows the centroids */
    w_chart(&s, 0xFFFFu, 0u);
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 20u + 36u + 4u + 4u * 3u * 6u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca3-chart");

    /* Largest profile the default limits allow. */
    w_defaults(&s);
    s.n_channels = TD_MAX_CHANNELS;
    s.n_dims = TD_MAX_DIMS;
    s.n_centroids = TD_MAX_CENTROIDS;
    s.window = TD_MAX_WINDOW;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        w_default_channel(&s.ch[c]);
    }
    for (uint32_t f = 0; f < 2u * s.n_channels; f++) {
        s.inv_sigma_q24[f] = 0x80000000u;
        s.mu_q8[f] = (f & 1u) ? 32768 * 256 : -32768 * 256;
    }
    for (uint32_t i = 0; i < (uint32_t)s.n_dims * 2u * s.n_channels; i++) {
        s.proj[i] = (int8_t)(i & 1u ? -128 : 127);
    }
    for (uint32_t i = 0; i < (uint32_t)s.n_dims * s.n_centroids; i++) {
        s.centroid_q8[i] = (i & 1u) ? (1 << 24) : -(1 << 24);
    }
    s.proj_shift = 15u;
    s.false_alarm_ppb = 1000000000u;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* NULL arguments. */
    td_profile_t prof;
    uint8_t byte = 0;
    CHECK_EQ(td_profile_parse(NULL, &byte, 1), TD_ERR_ARG);
    CHECK_EQ(td_profile_parse(&prof, NULL, 64), TD_ERR_ARG);

    /* td_profile_size is 0 for counts out of range. */
    CHECK_EQ(td_profile_size(0, 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(TD_MAX_CHANNELS + 1, 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 0, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, TD_MAX_DIMS + 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, 0, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, TD_MAX_CENTROIDS + 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, 1, 0), 64u + 24u + 16u + 4u + 4u + 4u);
    CHECK_EQ(td_profile_size(1, 1, 1, TD_PROFILE_FLAG_EXTERNAL_EMBEDDING), 64u + 24u + 16u + 4u + 4u);
}

/* ---- profile: semantic violations under a valid CRC ---------------------------------- */

static void test_profile_semantics(void)
{
    static w_spec_t base;
    static w_spec_t s;
    w_pca(&base, 3u);
    CHECK_EQ(spec_status(&base), TD_OK);

    /* Header identity. */
    s = base;
    memcpy(s.magic, "TDPX", 4);
    CHECK_EQ(spec_status(&s), TD_ERR_MAGIC);
    s = base;
    s.magic[0] = 't';
    CHECK_EQ(spec_status(&s), TD_ERR_MAGIC);
    s = base;
    s.version = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s.version = 2u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s.version = 0x0101u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s = base;
    s.header_size = 63u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.header_size = 65u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    /* Wrong magic wins over a short buffer once 4 bytes are there; fewer than 4 is truncation. */
    {
        const uint8_t junk[10] = {'X', 'D', 'P', 'F', 1, 0, 64, 0, 0, 0};
        td_profile_t prof;
        CHECK_EQ(parse_exact(junk, 10, &prof), TD_ERR_MAGIC);
        CHECK_EQ(parse_exact(junk, 3, &prof), TD_ERR_TRUNCATED);
    }

    /* Declared total size inconsistent with the counts (CRC valid over the real size). */
    s = base;
    s.total_size_override = 1;
    s.total_size = w_size(&base) + 4u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = w_size(&base) - 4u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);

    /* CRC mismatch. */
    {
        uint32_t size;
        uint8_t *b = w_build(&base, &size);
        b[size - 1u] ^= 0x10u;
        td_profile_t prof;
        CHECK_EQ(parse_exact(b, size, &prof), TD_ERR_CRC);
        b[size - 1u] ^= 0x10u;
        b[100] ^= 0x02u;
        CHECK_EQ(parse_exact(b, size, &prof), TD_ERR_CRC);
        free(b);
    }

    /* Counts. A count poked into a valid blob changes the computed size: TD_ERR_SIZE. */
    CHECK_EQ(poke_status(&base, 16, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, TD_MAX_CHANNELS + 1u), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, 127), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, 128), TD_ERR_LIMIT); /* n_features would not fit 8 bits */
    CHECK_EQ(poke_status(&base, 16, 1, 255), TD_ERR_LIMIT);
    CHECK_EQ(poke_status(&base, 17, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 18, 1, 0), TD_ERR_SIZE);
    /* Written consistently (size matches the counts): the range/limit checks answer. */
    s = base;
    s.n_channels = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.n_channels = TD_MAX_CHANNELS + 1u;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        w_default_channel(&s.ch[c]);
    }
    for (uint32_t f = 0; f < 2u * s.n_channels; f++) {
        s.inv_sigma_q24[f] = 1u << 24;
    }
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s = base;
    s.n_dims = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.n_dims = TD_MAX_DIMS + 1u;
    s.flags = TD_PROFILE_FLAG_EXTERNAL_EMBEDDING;
    s.proj_shift = 0u;
    s.ext_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.n_dims = TD_MAX_DIMS;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.n_centroids = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_centroids = TD_MAX_CENTROIDS + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.n_centroids = TD_MAX_CENTROIDS;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Window. */
    s = base;
    s.window = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.window = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.window = 2u; /* the channels' max_missing / max_saturated must not exceed the window */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].max_missing = 2u;
    s.ch[1].max_saturated = 2u;
    s.ch[2].max_saturated = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.window = 1024u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.window = 1025u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.window = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);

    /* Profile flags and reserved header bytes (bits 1 and 3 add a section, so they change the size: SIZE; bit 2,
     * the log-std feature, needs every channel's std_floor >= 1). */
    s = base;
    s.flags = TD_PROFILE_FLAG_LOG_STD;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    for (uint32_t c = 0; c < s.n_channels; c++) {
        s.ch[c].reserved = (uint16_t)(c + 1u);
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[s.n_channels - 1u].reserved = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[s.n_channels - 1u].reserved = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_CENTROID_SCALES), TD_ERR_SIZE);
    s = base;
    s.flags = TD_PROFILE_FLAG_CENTROID_SCALES;
    for (uint32_t i = 0; i < (uint32_t)s.n_centroids * s.n_dims; i++) {
        s.cs_inv_scale_q16[i] = 1u << 16;
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_offset_q8[s.n_centroids - 1u] = 1u << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_offset_q8[s.n_centroids - 1u] = (1u << 24) + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.cs_offset_q8[s.n_centroids - 1u] = 0u;
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = 1u << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = (1u << 24) + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.flags = TD_PROFILE_FLAG_OCCUPANCY; /* the flag without its section: the size no longer adds up */
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_FEATURE_CHART), TD_ERR_SIZE); /* likewise */
    /* The feature chart section: any k and h; every root up to 2^25; PCA mode only; its size counts. */
    s = base;
    w_chart(&s, 0u, 0u);
    CHECK_EQ(spec_status(&s), TD_OK);
    s.chart_k_q8 = 0xFFFFu;
    s.chart_h_q8 = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    {
        const uint32_t n_roots = (uint32_t)s.n_centroids * 2u * s.n_channels;
        const uint32_t idx[3] = {0u, 7u, n_roots - 1u};
        for (uint32_t i = 0; i < 3u; i++) {
            static w_spec_t r;
            r = s;
            for (uint32_t j = 0; j < n_roots; j++) {
                r.chart_root[j] = TD_PROFILE_CHART_MAX_ROOT;
            }
            CHECK_EQ(spec_status(&r), TD_OK);
            r.chart_root[idx[i]] = TD_PROFILE_CHART_MAX_ROOT + 1u;
            CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
            r.chart_root[idx[i]] = 0xFFFFFFFFu;
            CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
            r.chart_root[idx[i]] = 0u;
            CHECK_EQ(spec_status(&r), TD_OK);
        }
        /* The chart's bytes under the flag cleared, or the flag over a blob without them: the size no longer adds
         * up. A declared size off by the section's header likewise. */
        CHECK_EQ(poke_status(&s, 22, 2, 0u), TD_ERR_SIZE);
        CHECK_EQ(poke_status(&s, 22, 2, TD_PROFILE_FLAG_FEATURE_CHART | TD_PROFILE_FLAG_OCCUPANCY), TD_ERR_SIZE);
        static w_spec_t r;
        r = s;
        r.total_size_override = 1;
        r.total_size = w_size(&s) - 4u;
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        r.total_size = w_size(&s) + 4u;
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        r.total_size = w_size(&base);
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        /* With the other sections. */
        r = s;
        r.flags |= TD_PROFILE_FLAG_CENTROID_SCALES;
        for (uint32_t j = 0; j < (uint32_t)r.n_centroids * r.n_dims; j++) {
            r.cs_inv_scale_q16[j] = 1u << 16;
        }
        w_outputs(&r, 2u, 3u);
        CHECK_EQ(spec_status(&r), TD_OK);
        r.chart_root[n_roots - 1u] = TD_PROFILE_CHART_MAX_ROOT + 1u;
        CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
    }
    {
        static w_spec_t e;
        w_ext(&e);
        w_chart(&e, 10u, 100u); /* consistent size, but external mode has no fitted shifts */
        CHECK_EQ(spec_status(&e), TD_ERR_RANGE);
        for (uint32_t j = 0; j < (uint32_t)e.n_centroids * 2u * e.n_channels; j++) {
            e.chart_root[j] = 1u;
        }
        CHECK_EQ(spec_status(&e), TD_ERR_RANGE);
        e.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        CHECK_EQ(spec_status(&e), TD_OK);
    }
    for (uint32_t bit = 6; bit < 16u; bit++) {
        s = base;
        s.flags = (uint16_t)(1u << bit);
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_OUTPUTS), TD_ERR_SIZE);
    /* Header bytes 52..55 hold calibration_windows (informational, any value); 56..63 are reserved. */
    s = base;
    memset(s.reserved, 0xFF, 4u);
    CHECK_EQ(spec_status(&s), TD_OK);
    for (uint32_t i = 4; i < 12u; i++) {
        s = base;
        s.reserved[i] = (uint8_t)(1u << (i % 8u));
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    s = base;
    s.false_alarm_ppb = 1000000000u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.false_alarm_ppb = 1000000001u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* PCA-mode header fields. */
    s = base;
    s.proj_shift = 15u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.proj_shift = 16u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ext_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ext_zero_point = 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base; /* n_dims > n_features in PCA mode */
    s.n_channels = 1u;
    s.n_dims = 3u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_dims = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.n_dims = 7u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_dims = 6u;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Projection padding must be zero (3 x 6 = 18 bytes + 2 padding). */
    s = base;
    s.proj_pad[0] = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.proj_pad[1] = 0x80u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* External-mode header fields. */
    static w_spec_t ext;
    w_ext(&ext);
    CHECK_EQ(spec_status(&ext), TD_OK);
    s = ext;
    s.ext_scale_q24 = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_scale_q24 = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = ext;
    s.ext_zero_point = -128;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ext_zero_point = 127;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ext_zero_point = -129;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_zero_point = 128;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_zero_point = INT32_MIN;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = ext;
    s.proj_shift = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* Channel records (channel 2 of the PCA base; channel 1 has the sentinel). */
    s = base;
    s.ch[2].rail_lo = s.ch[2].rail_hi;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].rail_lo = 5;
    s.ch[2].rail_hi = 4;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].rail_lo = 4;
    s.ch[2].rail_hi = 5;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.ch[1].sentinel = 0; /* inside (-2000, 2000) */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = -1999;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = 1999;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = -2000; /* on a rail: allowed */
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[1].sentinel = 2000;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[1].sentinel = 32767;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.ch[2].sentinel = 5; /* a sentinel value without the sentinel flag */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    for (uint32_t bit = 2; bit < 16u; bit++) {
        s = base;
        s.ch[2].flags = (uint16_t)(1u << bit);
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    s = base;
    s.ch[0].reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[0].reserved = 0x100u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].max_missing = 16u; /* == window */
    s.ch[2].max_saturated = 16u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[2].max_missing = 17u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].max_missing = 0u;
    s.ch[2].max_saturated = 17u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].ref_std_q8 = -1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].ref_std_q8 = 0;
    s.ch[2].ref_mean_q8 = INT32_MIN; /* informational, any value */
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Feature records. */
    s = base;
    s.inv_sigma_q24[4] = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.inv_sigma_q24[4] = 0x80000000u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.inv_sigma_q24[4] = 0x80000001u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.mu_q8[5] = 32768 * 256;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.mu_q8[5] = -32768 * 256;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.mu_q8[5] = 32768 * 256 + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.mu_q8[5] = -32768 * 256 - 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* Centroids within +-2^24. */
    s = base;
    s.centroid_q8[8] = 1 << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.centroid_q8[8] = -(1 << 24);
    CHECK_EQ(spec_status(&s), TD_OK);
    s.centroid_q8[8] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.centroid_q8[8] = -(1 << 24) - 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.centroid_q8[8] = INT32_MIN;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = ext;
    s.centroid_q8[9] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
}

/* ---- window accumulator ---------------------------------------------------------------- */

typedef struct {
    int64_t sum, sumsq;
    int16_t min, max;
    uint32_t n_missing, n_saturated;
} ref_acc_t;

static void ref_acc_reset(ref_acc_t *r)
{
    r->sum = 0;
    r->sumsq = 0;
    r->min = INT16_MAX;
    r->max = INT16_MIN;
    r->n_missing = 0;
    r->n_saturated = 0;
}

static void ref_acc_add(ref_acc_t *r, const td_sample_rules_t *rules, int16_t x)
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

static int acc_matches(const td_window_acc_t *a, const ref_acc_t *r)
{
    return a->sum == r->sum && a->sumsq == r->sumsq && a->min == r->min && a->max == r->max &&
           a->n_missing == r->n_missing && a->n_saturated == r->n_saturated;
}

/* Add n samples to both, in one call. */
static td_status acc_add_both(td_window_acc_t *acc, ref_acc_t *ref, const td_sample_rules_t *rules,
                              const int16_t *x, uint32_t stride, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        ref_acc_add(ref, rules, x[(size_t)i * stride]);
    }
    return td_window_add(acc, rules, x, stride, n);
}

/* Out-of-contract inputs: clamped or rejected, never undefined behaviour. */
static void test_stats_contract_edges(void)
{
    td_window_acc_t acc;
    const td_sample_rules_t inside = {-100, 100, 0, 1u};
    const td_sample_rules_t flipped = {100, -100, 0, 0u};
    const int16_t samples[4] = {-5, 5, 0, 0};
    CHECK(td_mean_q8(INT32_MIN, 1u) == -32768 * 256);
    CHECK(td_mean_q8(INT32_MAX, 1u) == 32768 * 256);
    CHECK(td_mean_q8(-32768 * 1024, 1024u) == -32768 * 256);
    CHECK(td_var_q32(0, INT64_MAX, 2u) == ((uint64_t)1 << 62));
    CHECK(td_var_q32(0, -5, 2u) == 0u);
    CHECK(td_window_reset(&acc) == TD_OK);
    CHECK(td_window_add(&acc, &inside, samples, 1u, 4u) == TD_ERR_ARG);
    CHECK(td_window_add(&acc, &flipped, samples, 1u, 4u) == TD_ERR_ARG);
    CHECK(acc.n_samples == 0u && acc.sum == 0);
}

static void test_window_fixed(void)
{
    static int16_t x[2048];
    td_window_acc_t acc;
    const td_sample_rules_t extreme = {-32768, 32767, 0, 0};

    /* Empty window. */
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, NULL, 1, 0), TD_OK);
    CHECK_EQ(acc.sum, 0);
    CHECK_EQ(acc.sumsq, 0);
    CHECK_EQ(acc.min, INT16_MAX);
    CHECK_EQ(acc.max, INT16_MIN);
    CHECK_EQ(acc.n_samples, 0);

    /* All samples on the int16 extremes with rails there: every sample saturated. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = (i % 3u == 0u) ? -32768 : 32767;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.n_saturated, 1024);
    CHECK_EQ(acc.n_missing, 0);
    CHECK_EQ(acc.n_samples, 1024);
    CHECK_EQ(acc.min, -32768);
    CHECK_EQ(acc.max, 32767);
    CHECK_EQ(acc.sum, 342 * -32768 + 682 * 32767);
    CHECK_EQ(acc.sumsq, 342ll * 32768 * 32768 + 682ll * 32767 * 32767);

    /* Alternating extremes: sum -512, largest possible sum of squares. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = (i & 1u) ? 32767 : -32768;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.sum, -512);
    CHECK_EQ(acc.sumsq, 512ll * 32768 * 32768 + 512ll * 32767 * 32767);
    CHECK_EQ(acc.n_saturated, 1024);
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), ref_var_q32(-512, acc.sumsq, 1024));
    /* variance = 32767.5^2 exactly: (65535/2)^2 * 2^32 = 65535^2 * 2^30 */
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), (uint64_t)65535u * 65535u << 30);
    CHECK_EQ(td_mean_q8(acc.sum, 1024), -128); /* -0.5 */
    CHECK_EQ(td_std_q8(td_var_q32(acc.sum, acc.sumsq, 1024)), 32767 * 256 + 128);

    /* Same samples, rails inside: nothing saturated at +-32000 ... but the extremes are. */
    const td_sample_rules_t inner = {-32000, 32000, 0, 0};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &inner, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.n_saturated, 1024);

    /* Constant window. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = -1234;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.sum, -1234 * 1024);
    CHECK_EQ(acc.sumsq, 1234ll * 1234 * 1024);
    CHECK_EQ(acc.min, -1234);
    CHECK_EQ(acc.max, -1234);
    CHECK_EQ(acc.n_saturated, 0);
    CHECK_EQ(td_mean_q8(acc.sum, 1024), -1234 * 256);
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), 0);
    CHECK_EQ(td_std_q8(0), 0);

    /* Sentinel samples are excluded from everything but n_missing (sentinel on the low rail). */
    const td_sample_rules_t sent = {-100, 100, -100, 1};
    const int16_t s1[8] = {5, -100, 7, -100, -101, 100, -100, 6};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &sent, s1, 1, 8), TD_OK);
    CHECK_EQ(acc.n_missing, 3);
    CHECK_EQ(acc.n_saturated, 2); /* -101 and 100 */
    CHECK_EQ(acc.n_samples, 8);
    CHECK_EQ(acc.sum, 5 + 7 - 101 + 100 + 6);
    CHECK_EQ(acc.sumsq, 25 + 49 + 10201 + 10000 + 36);
    CHECK_EQ(acc.min, -101);
    CHECK_EQ(acc.max, 100);
    /* Only sentinels: no valid sample. */
    const int16_t s2[3] = {-100, -100, -100};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &sent, s2, 1, 3), TD_OK);
    CHECK_EQ(acc.n_missing, 3);
    CHECK_EQ(acc.min, INT16_MAX);
    CHECK_EQ(acc.max, INT16_MIN);
    CHECK_EQ(acc.sum, 0);
    /* use_sentinel 0: the sentinel value is an ordinary (here saturated) sample. */
    const td_sample_rules_t nosent = {-100, 100, -100, 0};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &nosent, s2, 1, 3), TD_OK);
    CHECK_EQ(acc.n_missing, 0);
    CHECK_EQ(acc.n_saturated, 3);
    CHECK_EQ(acc.sum, -300);

    /* Strided reads. */
    const int16_t inter[9] = {1, 100, -7, 2, 100, -7, 3, 100, -7};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, inter + 1, 3, 3), TD_OK);
    CHECK_EQ(acc.sum, 300);
    CHECK_EQ(acc.min, 100);

    /* Capacity: at most 1024 samples per window; a refused add changes nothing. */
    for (uint32_t i = 0; i < 2048u; i++) {
        x[i] = (int16_t)(i * 7u);
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1025), TD_ERR_CAPACITY);
    CHECK_EQ(acc.n_samples, 0);
    CHECK_EQ(acc.sum, 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1000), TD_OK);
    td_window_acc_t saved;
    memcpy(&saved, &acc, sizeof saved);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 25), TD_ERR_CAPACITY);
    CHECK(memcmp(&saved, &acc, sizeof acc) == 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 24), TD_OK);
    CHECK_EQ(acc.n_samples, 1024);
    memcpy(&saved, &acc, sizeof saved);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1), TD_ERR_CAPACITY);
    CHECK(memcmp(&saved, &acc, sizeof acc) == 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 0), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 0xFFFFFFFFu), TD_ERR_CAPACITY);

    /* Arguments. */
    CHECK_EQ(td_window_reset(NULL), TD_ERR_ARG);
    CHECK_EQ(td_window_add(NULL, &extreme, x, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, NULL, x, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, &extreme, NULL, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 0, 1), TD_ERR_ARG);
}

/* A random sample, biased towards the interesting values of the rules. */
static int16_t rnd_sample(const td_sample_rules_t *r, int32_t center, int32_t amp)
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

static void random_rules(td_sample_rules_t *r)
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

static void test_window_random(void)
{
    static int16_t buf[1024 * 8];
    int ok = 1;
    for (uint32_t trial = 0; trial < 3000u; trial++) {
        td_sample_rules_t rules;
        random_rules(&rules);
        const uint32_t stride = (uint32_t)rnd_range(1, 8);
        const uint32_t n = trial % 7u == 0u ? 1024u : (uint32_t)rnd_range(0, 1024);
        const int32_t center = (int32_t)rnd_range(-32768, 32767);
        const int32_t amp = (int32_t)(rnd64() % 5u == 0u ? 0 : rnd_range(0, 40000));
        for (uint32_t i = 0; i < n * stride; i++) {
            buf[i] = rnd_sample(&rules, center, amp);
        }
        td_window_acc_t acc;
        ref_acc_t ref;
        CHECK_QUIET(ok, td_window_reset(&acc) == TD_OK);
        ref_acc_reset(&ref);
        /* Feed in random chunks. */
        uint32_t done = 0;
        while (done < n) {
            const uint32_t chunk = (uint32_t)rnd_range(1, rnd64() % 2u ? 16 : (int64_t)(n - done));
            const uint32_t take = chunk < n - done ? chunk : n - done;
            CHECK_QUIET(ok, acc_add_both(&acc, &ref, &rules, buf + (size_t)done * stride, stride, take) == TD_OK);
            done += take;
        }
        CHECK_QUIET(ok, acc_matches(&acc, &ref));
        CHECK_QUIET(ok, acc.n_samples == n);
        if (!ok) {
            printf("  window trial %u: rails [%d,%d] sentinel %d/%u n %u stride %u\n", (unsigned)trial,
                   rules.rail_lo, rules.rail_hi, rules.sentinel, rules.use_sentinel, (unsigned)n, (unsigned)stride);
            break;
        }
        /* Derived statistics of the window. */
        const uint32_t n_valid = n - ref.n_missing;
        CHECK_QUIET(ok, td_mean_q8(acc.sum, n_valid) == ref_mean_q8(ref.sum, n_valid));
        const uint64_t var = td_var_q32(acc.sum, acc.sumsq, n_valid);
        CHECK_QUIET(ok, var == ref_var_q32(ref.sum, ref.sumsq, n_valid));
        CHECK_QUIET(ok, td_std_q8(var) == ref_std_q8(var));
        /* One more sample than the window holds is refused. */
        if (n == 1024u) {
            CHECK_QUIET(ok, td_window_add(&acc, &rules, buf, 1, 1) == TD_ERR_CAPACITY);
        }
    }
    CHECK(ok);
}

/* ---- mean / variance / std / isqrt ----------------------------------------------------- */

/* td_log2_q8 against a second implementation (128-bit mantissa) and libm. */
static void test_log2_q8(void)
{
    int ok_ref = 1;
    int ok_libm = 1;
    int ok_monotonic = 1;
    uint32_t prev = 0u;
    CHECK_EQ(td_log2_q8(0u), 0u);
    for (uint32_t x = 1u; x <= (1u << 20); x++) {
        const uint32_t v = td_log2_q8(x);
        CHECK_QUIET(ok_ref, v == ref_log2_q8(x));
        CHECK_QUIET(ok_monotonic, v >= prev);
        /* Truncated to 1/256 of an octave: never above the exact value, less than 1/256 below it. */
        const double exact = 256.0 * log2((double)x);
        CHECK_QUIET(ok_libm, (double)v <= exact + 1e-9 && (double)v > exact - 1.0);
        prev = v;
    }
    for (uint32_t i = 0; i < 200000u; i++) {
        const uint32_t x = (uint32_t)(rnd64() >> (32u + (uint32_t)(rnd64() % 32u)));
        const uint32_t v = td_log2_q8(x);
        CHECK_QUIET(ok_ref, v == ref_log2_q8(x));
        if (x > 0u) {
            const double exact = 256.0 * log2((double)x);
            CHECK_QUIET(ok_libm, (double)v <= exact + 1e-9 && (double)v > exact - 1.0);
        }
    }
    /* Around every truncation boundary 2^(n + k/256): there a wrong low mantissa bit flips the last fraction bit
     * (183 inputs of 2^32 tell a lost bit 0 apart, all within 2 of a boundary; random inputs almost never meet one). */
    unsigned long near_boundary = 0;
    for (uint32_t n = 0; n < 32u; n++) {
        for (uint32_t k = 0; k < 256u; k++) {
            const double boundary = ldexp(pow(2.0, (double)k / 256.0), (int)n);
            if (boundary >= 4294967294.0) {
                continue;
            }
            const int64_t x0 = (int64_t)floor(boundary);
            for (int64_t x = x0 - 2; x <= x0 + 2; x++) {
                if (x >= 1) {
                    CHECK_QUIET(ok_ref, td_log2_q8((uint32_t)x) == ref_log2_q8((uint32_t)x));
                    near_boundary++;
                }
            }
        }
    }
    CHECK(near_boundary > 40000u);
    for (uint32_t k = 0; k < 32u; k++) {
        CHECK_EQ(td_log2_q8(1u << k), 256u * k);
    }
    CHECK_EQ(td_log2_q8(0xFFFFFFFFu), ref_log2_q8(0xFFFFFFFFu));
    CHECK(td_log2_q8(0xFFFFFFFFu) <= 32u * 256u - 1u);
    CHECK(ok_ref);
    CHECK(ok_libm);
    CHECK(ok_monotonic);
}

static void test_stats_functions(void)
{
    /* Hand-checked means. */
    CHECK_EQ(td_mean_q8(1, 512), 1);   /* 0.5 -> 1 (tie away from zero) */
    CHECK_EQ(td_mean_q8(-1, 512), -1); /* -0.5 -> -1 */
    CHECK_EQ(td_mean_q8(1, 513), 0);   /* 0.499 -> 0 */
    CHECK_EQ(td_mean_q8(1, 3), 85);    /* 85.33 */
    CHECK_EQ(td_mean_q8(2, 3), 171);   /* 170.67 */
    CHECK_EQ(td_mean_q8(-2, 3), -171);
    CHECK_EQ(td_mean_q8(32767 * 1024, 1024), 32767 * 256);
    CHECK_EQ(td_mean_q8(-32768 * 1024, 1024), -32768 * 256);
    CHECK_EQ(td_mean_q8(5, 0), 0);
    CHECK_EQ(td_mean_q8(5, 1025), 0);
    CHECK_EQ(td_var_q32(5, 25, 0), 0);
    CHECK_EQ(td_var_q32(5, 25, 1025), 0);
    CHECK_EQ(td_var_q32(1, 1, 2), (uint64_t)1 << 30); /* {0, 1}: variance 1/4 */
    CHECK_EQ(td_var_q32(1, 1, 3), 954437177u);        /* {0,0,1}: 2/9 * 2^32 = 954437176.9 */

    int ok = 1;
    /* Means: every n, sums across the whole reachable range |sum| <= 32768 n, and near-ties. */
    for (uint32_t n = 1; n <= 1024u; n++) {
        for (uint32_t t = 0; t < 200u; t++) {
            int64_t sum;
            switch (t % 4u) {
            case 0: sum = rnd_range(-32768 * (int64_t)n, 32767 * (int64_t)n); break;
            case 1: sum = rnd_range(-3 * (int64_t)n, 3 * (int64_t)n); break;
            case 2: { /* sum * 256 / n lands on or next to a half */
                const int64_t k = rnd_range(-32767, 32767);
                sum = ((2 * k + 1) * (int64_t)n) / 512 + rnd_range(-1, 1);
                break;
            }
            default: sum = (t & 4u) ? 32767 * (int64_t)n - (int64_t)(t / 8u) : -32768 * (int64_t)n + (int64_t)(t / 8u);
            }
            CHECK_QUIET(ok, td_mean_q8((int32_t)sum, n) == ref_mean_q8(sum, n));
        }
    }
    CHECK(ok);

    /* Variances from real sample sets (consistent sum / sumsq), and the documented accuracy of std_q8:
     * |std_q8 - 256 * sqrt(var)| <= 1/2 + 1/256 (in Q8 units, i.e. 1/512 + 1/65536 LSB). */
    ok = 1;
    for (uint32_t t = 0; t < 4000u; t++) {
        const uint32_t n = t < 8u ? t + 1u : (uint32_t)rnd_range(1, 1024);
        const int64_t center = rnd_range(-32768, 32767);
        const int64_t amp = t % 3u == 0u ? rnd_range(0, 3) : rnd_range(0, 65535);
        int64_t sum = 0;
        int64_t sumsq = 0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t v = t % 11u == 0u ? ((i & 1u) ? 32767 : -32768) : center + rnd_range(-amp, amp);
            v = v > 32767 ? 32767 : (v < -32768 ? -32768 : v);
            sum += v;
            sumsq += v * v;
        }
        const uint64_t var = td_var_q32((int32_t)sum, sumsq, n);
        CHECK_QUIET(ok, var == ref_var_q32(sum, sumsq, n));
        const int32_t sd = td_std_q8(var);
        CHECK_QUIET(ok, sd == ref_std_q8(var));
#if TD_TEST_WIDE
        /* D = n*sumsq - sum^2 = n^2 var; check (256 sd - 129)^2 n^2 <= 2^32 D <= (256 sd + 129)^2 n^2. */
        const iwide d = (iwide)n * sumsq - (iwide)sum * sum;
        const iwide nn = (iwide)n * n;
        const iwide lo = (iwide)sd * 256 - 129;
        const iwide hi = (iwide)sd * 256 + 129;
        CHECK_QUIET(ok, lo <= 0 || lo * lo * nn <= (d << 32));
        CHECK_QUIET(ok, (d << 32) <= hi * hi * nn);
#endif
    }
    CHECK(ok);

    /* isqrt: edges, perfect squares and neighbours, random values of every magnitude. */
    CHECK_EQ(td_isqrt64(0), 0);
    CHECK_EQ(td_isqrt64(1), 1);
    CHECK_EQ(td_isqrt64(2), 1);
    CHECK_EQ(td_isqrt64(3), 1);
    CHECK_EQ(td_isqrt64(4), 2);
    CHECK_EQ(td_isqrt64(UINT64_MAX), 0xFFFFFFFFu);
    CHECK_EQ(td_isqrt64(0xFFFFFFFE00000001ull), 0xFFFFFFFFu); /* (2^32-1)^2 */
    CHECK_EQ(td_isqrt64(0xFFFFFFFE00000000ull), 0xFFFFFFFEu);
    CHECK_EQ(td_isqrt64((uint64_t)1 << 62), (uint32_t)1 << 31);
    CHECK_EQ(td_isqrt64(((uint64_t)1 << 62) - 1u), ((uint32_t)1 << 31) - 1u);
    ok = 1;
    for (uint32_t t = 0; t < 200000u; t++) {
        uint64_t v;
        switch (t % 4u) {
        case 0: v = rnd64(); break;
        case 1: v = rnd64() >> (rnd64() % 64u); break;
        default: { /* k^2 - 1, k^2 or k^2 + 1 (k^2 - 1 wraps to UINT64_MAX for k = 0) */
            const uint64_t k = t % 8u == 2u ? 0xFFFFFFFFu - (rnd64() % 1000u) : (rnd64() >> (32u + rnd64() % 32u));
            v = k * k + (uint64_t)rnd_range(-1, 1);
        }
        }
        const uint32_t r = td_isqrt64(v);
        CHECK_QUIET(ok, is_floor_sqrt(r, v));
        CHECK_QUIET(ok, r == ref_isqrt(v));
        if (t < 20000u) {
            CHECK_QUIET(ok, td_std_q8(v) == (int32_t)(((uint64_t)r + 128u) >> 8));
        }
    }
    CHECK(ok);
    CHECK_EQ(td_std_q8(UINT64_MAX), (int32_t)((0xFFFFFFFFull + 128u) >> 8));
}

/* The window's in-loop edge handling (a new min or max strictly inside the rails moves one band edge
 * without the bookkeeping call): ramps and widening zig-zags make nearly every sample a new extreme,
 * with rails and the sentinel next to the ramps' ends, fed in chunks of every size. */
static void test_window_edges(void)
{
    static int16_t buf[1024 * 3];
    int ok = 1;
    for (uint32_t trial = 0; trial < 4000u; trial++) {
        td_sample_rules_t rules;
        random_rules(&rules);
        const uint32_t stride = (uint32_t)rnd_range(1, 3);
        const uint32_t n = (uint32_t)rnd_range(1, 1024);
        const int32_t start = (int32_t)rnd_range(rules.rail_lo, rules.rail_hi);
        const int32_t step = (int32_t)rnd_range(1, trial % 3u == 0u ? 3 : 200);
        for (uint32_t i = 0; i < n; i++) {
            int64_t v;
            switch (trial % 4u) {
            case 0: v = start + (int64_t)i * step; break;                         /* rising ramp */
            case 1: v = start - (int64_t)i * step; break;                         /* falling ramp */
            case 2: v = start + ((i & 1u) ? 1 : -1) * (int64_t)(i / 2u) * step; break; /* widening zig-zag */
            default: v = rnd64() % 8u == 0u ? rnd_sample(&rules, start, 3) : start + ((i & 1u) ? 1 : -1) * (int64_t)i;
            }
            if (rnd64() % 64u == 0u) {
                v = rnd64() & 1u ? rules.sentinel : (rnd64() & 1u ? rules.rail_lo : rules.rail_hi);
            }
            buf[(size_t)i * stride] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
        }
        td_window_acc_t acc;
        ref_acc_t ref;
        CHECK_QUIET(ok, td_window_reset(&acc) == TD_OK);
        ref_acc_reset(&ref);
        uint32_t done = 0;
        while (done < n) {
            const uint32_t chunk = (uint32_t)rnd_range(1, trial & 8u ? 3 : 300);
            const uint32_t take = chunk < n - done ? chunk : n - done;
            CHECK_QUIET(ok, acc_add_both(&acc, &ref, &rules, buf + (size_t)done * stride, stride, take) == TD_OK);
            done += take;
        }
        CHECK_QUIET(ok, acc_matches(&acc, &ref));
        if (!ok) {
            printf("  edge trial %u: rails [%d,%d] sentinel %d/%u n %u\n", (unsigned)trial, rules.rail_lo,
                   rules.rail_hi, rules.sentinel, rules.use_sentinel, (unsigned)n);
            break;
        }
    }
    CHECK(ok);
}

static int isqrt_ok(uint64_t v)
{
    return is_floor_sqrt(td_isqrt64(v), v);
}

/* td_isqrt64 (normalization, a 16-bit root by Newton steps, one Karatsuba step): every 32-bit perfect
 * square and its neighbours, every 64-bit square of a root in [2^31 - 2^16, 2^32) and of every
 * k 2^16 + j (random j) so each inner 16-bit root is reached, powers of two, and random values. */
static void test_isqrt_exhaustive(void)
{
    int ok = 1;
    for (uint64_t k = 0; k <= 65536u; k++) {
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k);
        CHECK_QUIET(ok, sq == 0u || td_isqrt64(sq - 1u) == k - 1u);
        CHECK_QUIET(ok, td_isqrt64(sq + 1u) == (k == 0u ? 1u : k));
        CHECK_QUIET(ok, isqrt_ok(sq + k) && isqrt_ok(sq + 2u * k)); /* the largest remainders */
    }
    for (uint64_t k = 0xFFFFFFFFu - 65536u; k <= 0xFFFFFFFFu; k++) {
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k && td_isqrt64(sq - 1u) == k - 1u);
        CHECK_QUIET(ok, k == 0xFFFFFFFFu ? td_isqrt64(sq + 2u * k) == k : td_isqrt64(sq + 2u * k + 1u) == k + 1u);
    }
    for (uint64_t hi = 1u; hi <= 65535u; hi++) {
        const uint64_t k = (hi << 16) | (rnd64() & 0xFFFFu);
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k && td_isqrt64(sq - 1u) == k - 1u && td_isqrt64(sq + 2u * k) == k);
        CHECK_QUIET(ok, isqrt_ok(hi << 32) && isqrt_ok((hi << 32) - 1u) && isqrt_ok(hi * hi << 32));
    }
    for (unsigned b = 0; b < 64u; b++) {
        const uint64_t p2 = (uint64_t)1 << b;
        CHECK_QUIET(ok, isqrt_ok(p2) && isqrt_ok(p2 - 1u) && isqrt_ok(p2 + 1u));
        CHECK_QUIET(ok, isqrt_ok(p2 | (p2 - 1u)));
    }
    for (uint32_t t = 0; t < 1000000u; t++) {
        const uint64_t v = rnd64() >> (rnd64() % 64u);
        CHECK_QUIET(ok, isqrt_ok(v));
        if (t < 20000u) {
            CHECK_QUIET(ok, td_isqrt64(v) == ref_isqrt(v));
        }
    }
    CHECK(ok);
}

/* The lifetime read-out (exact sums, 128-bit arithmetic in two words) against the compiler's native 128-bit
 * division, for states up to TD_LIFETIME_MAX_SAMPLES with extreme and random sums, each followed by a merge.
 * Host only (TD_TEST_WIDE: the reference needs 128-bit division); the read-out is plain C on 32-bit words with no
 * target-specific path, and the firmware does not link it. */
#if TD_TEST_WIDE
static void test_lifetime_exact(void)
{
    int ok = 1;
    uint32_t at_limit = 0;
    for (uint32_t trial = 0; trial < 20000u; trial++) {
        uint64_t n;
        switch (trial % 4u) {
        case 0: n = (uint64_t)rnd_range(1, 5000); break;
        case 1: n = (uint64_t)rnd_range(1, (int64_t)1 << 40); break;
        case 2: n = TD_LIFETIME_MAX_SAMPLES - (uint64_t)rnd_range(0, 3000); break;
        default: n = TD_LIFETIME_MAX_SAMPLES;
        }
        /* k samples at hi and n - k at lo: the largest sum of squares for that sum; or the least one it allows. */
        const int64_t lo = trial % 3u == 0u ? -32768 : rnd_range(-32768, 32767);
        const int64_t hi = trial % 5u == 0u ? 32767 : rnd_range(lo, 32767);
        const uint64_t k = (uint64_t)rnd_range(0, (int64_t)n);
        const iwide sum = (iwide)k * hi + (iwide)(n - k) * lo;
        uwide sumsq = (uwide)k * (uwide)(hi * hi) + (uwide)(n - k) * (uwide)(lo * lo);
        if (trial % 7u == 0u) {
            const uwide least = ((uwide)(sum < 0 ? -sum : sum) * (uwide)(sum < 0 ? -sum : sum) + n - 1u) / n;
            sumsq = least;
        }
        td_lifetime_t life;
        CHECK_QUIET(ok, td_lifetime_init(&life) == TD_OK);
        life.n = n;
        life.sum = (int64_t)sum;
        life.sumsq_lo = (uint64_t)sumsq;
        life.sumsq_hi = (uint64_t)(sumsq >> 64);
        for (uint32_t step = 0; step < 2u && ok; step++) {
            uint64_t got_n;
            int64_t got_mean;
            uint64_t got_var;
            CHECK_QUIET(ok, td_lifetime_get(&life, &got_n, &got_mean, &got_var) == TD_OK);
            const iwide s_now = (iwide)life.sum;
            const uwide q_now = ((uwide)life.sumsq_hi << 64) | life.sumsq_lo;
            const uint64_t nn_now = life.n;
            const uwide mag = (uwide)(s_now < 0 ? -s_now : s_now);
            const uwide mean_mag = ((mag << 32) + nn_now / 2u) / nn_now; /* ties away from zero */
            const uwide nq = (uwide)nn_now * q_now;
            const uwide d = nq > mag * mag ? nq - mag * mag : 0u;
            const uwide nn = (uwide)nn_now * nn_now;
            const uwide r = d % nn;
            const uwide var = ((d / nn) << 32) + ((r << 32) / nn) + (2u * ((r << 32) % nn) >= nn ? 1u : 0u);
            CHECK_QUIET(ok, got_n == nn_now && got_mean == (s_now < 0 ? -(int64_t)mean_mag : (int64_t)mean_mag) &&
                                got_var == (uint64_t)var);
            /* Then one more window of random samples: merged exactly, or refused at the limit. */
            const uint32_t m = (uint32_t)rnd_range(0, 1024);
            int32_t ws = 0;
            int64_t wq = 0;
            for (uint32_t i = 0; i < m; i++) {
                const int32_t v = (int32_t)rnd_range(-32768, 32767);
                ws += v;
                wq += (int64_t)v * v;
            }
            const td_lifetime_t before = life;
            const td_status st = td_lifetime_merge(&life, m, ws, wq);
            if (before.n + m > TD_LIFETIME_MAX_SAMPLES) {
                at_limit++;
                CHECK_QUIET(ok, st == TD_ERR_CAPACITY && memcmp(&before, &life, sizeof life) == 0);
            } else {
                const uwide q_next = q_now + (uwide)wq;
                CHECK_QUIET(ok, st == TD_OK && life.n == before.n + m && life.sum == before.sum + ws &&
                                    life.sumsq_lo == (uint64_t)q_next && life.sumsq_hi == (uint64_t)(q_next >> 64));
            }
        }
    }
    CHECK(ok);
    CHECK(at_limit > 1000u);
}
#endif

/* ---- 64-by-32-bit division (td_udiv64_32, td_round_div32: private, csrc/src/td_fixed.h) ---- */

#include "td_fixed.h"

/* Own xorshift64 stream, so the tests after this one see the shared stream unchanged. */
static uint64_t div_rnd(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Every window size n = 1..1024 through td_var_q32 and a lifetime of that one window: a power of two takes the
 * exact shift in td_var_q32 (n^2 divides 2^32), any other n the long division; both against 128-bit references,
 * with extreme and random sample sets (own stream: the later tests see the shared one unchanged). */
static void test_stats_every_n(void)
{
    uint64_t state = 0x243F6A8885A308D3ull;
    int ok = 1;
    uint32_t n_pow2 = 0;
    uint32_t n_other = 0;
    for (uint32_t n = 1; n <= 1024u; n++) {
        if ((n & (n - 1u)) == 0u) {
            n_pow2++;
        } else {
            n_other++;
        }
        for (uint32_t t = 0; t < 6u; t++) {
            int64_t sum = 0;
            int64_t sumsq = 0;
            for (uint32_t i = 0; i < n; i++) {
                int64_t v;
                switch (t) {
                case 0: v = -32768; break;
                case 1: v = (i & 1u) ? 32767 : -32768; break;
                case 2: v = i == 0u ? 32767 : -32768; break;
                case 3: v = (int64_t)(div_rnd(&state) % 3u) - 1; break;
                default: v = (int64_t)(div_rnd(&state) % 65536u) - 32768;
                }
                sum += v;
                sumsq += v * v;
            }
            const uint64_t var = td_var_q32((int32_t)sum, sumsq, n);
            CHECK_QUIET(ok, var == ref_var_q32(sum, sumsq, n));
            td_lifetime_t life;
            uint64_t got_n;
            int64_t got_mean;
            uint64_t got_var;
            CHECK_QUIET(ok, td_lifetime_init(&life) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_merge(&life, n, (int32_t)sum, sumsq) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_get(&life, &got_n, &got_mean, &got_var) == TD_OK);
            CHECK_QUIET(ok, got_n == n && got_var == var &&
                                got_mean == (int64_t)ref_round_div((iwide)sum * ((iwide)1 << 32), n));
        }
    }
    CHECK(ok);
    CHECK(n_pow2 == 11u && n_other == 1013u);
}

/* td_udiv64_32 and td_round_div32 against native 64-bit and 128-bit division: edge cases, then
 * 10^6 random pairs of mixed magnitudes; and the outputs' divisions on extreme states. */
static void test_div64_32(void)
{
    static const uint32_t dens[] = {1u, 2u, 3u, 7u, 10u, 255u, 0xFFFFu, 0x10000u, 0x10001u, 0x7FFFFFu,
                                    0x800000u, 0x12345678u, 0x7FFFFFFFu, 0x80000000u, 0x80000001u,
                                    0x8000FFFFu, 0x80010000u, 0xFFFF0000u, 0xFFFF0001u, 0xFFFFFFFEu,
                                    0xFFFFFFFFu};
    static const uint64_t nums[] = {0u, 1u, 2u, 0xFFFFu, 0x10000u, 0xFFFFFFFFu, 0x100000000ull, 0x100000001ull,
                                    0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0xFFFFFFFF00000000ull,
                                    0xFFFFFFFFFFFFFFFEull, 0xFFFFFFFFFFFFFFFFull};
    int ok = 1;
    unsigned long cases = 0;
    for (uint32_t i = 0; i < sizeof dens / sizeof dens[0] + 32u; i++) {
        /* the listed divisors, then every power of two */
        const uint32_t den = i < sizeof dens / sizeof dens[0] ? dens[i] : (uint32_t)1 << (i - sizeof dens / sizeof dens[0]);
        for (uint32_t j = 0; j < sizeof nums / sizeof nums[0] + 64u + 12u; j++) {
            uint64_t num;
            if (j < sizeof nums / sizeof nums[0]) {
                num = nums[j];
            } else if (j < sizeof nums / sizeof nums[0] + 64u) {
                num = (uint64_t)1 << (j - sizeof nums / sizeof nums[0]);
            } else {
                /* q den + r for quotients just below, at and above 2^32 and 2^16, r in {0, den - 1} */
                static const uint64_t qs[6] = {0xFFFFu, 0x10000u, 0xFFFFFFFEu, 0xFFFFFFFFu, 0x100000000ull,
                                               0x100000001ull};
                const uint32_t k = j - (uint32_t)(sizeof nums / sizeof nums[0]) - 64u;
                const uint64_t r = k % 2u ? den - 1u : 0u;
                if (qs[k / 2u] > (UINT64_MAX - r) / den) { /* past 2^64 */
                    continue;
                }
                num = qs[k / 2u] * den + r;
            }
            CHECK_QUIET(ok, td_udiv64_32(num, den) == num / den);
            cases++;
        }
    }
    uint64_t st = 0x2545F4914F6CDD1Dull;
    for (uint32_t i = 0; i < 1000000u; i++) {
        const uint64_t r = div_rnd(&st);
        uint64_t num = div_rnd(&st) >> (r & 63u);
        uint32_t den = (uint32_t)(div_rnd(&st) >> (32u + ((r >> 6) & 31u)));
        switch ((r >> 11) & 3u) {
        case 0: /* high half 0x8000..: the digit estimate is most often too large */
            den = 0x80000000u | (den & 0x0003FFFFu) | (den << 16);
            break;
        case 1: /* num's high word just below den (quotient just below 2^32) */
            num = ((uint64_t)(den - (den > 1u ? 1u + (uint32_t)(r >> 13) % (den - 1u) : 0u)) << 32) |
                  (uint32_t)num;
            break;
        default:
            break;
        }
        if (den == 0u) {
            den = 1u + (uint32_t)(r >> 40);
        }
        CHECK_QUIET(ok, td_udiv64_32(num, den) == num / den);
        /* td_round_div32 on |num| < 2^62 of either sign, ties included */
        int64_t sn = (int64_t)(num >> 2);
        if ((r >> 15) & 1u) {
            sn = (int64_t)(((uint64_t)sn / den) * den + den / 2u) & (((int64_t)1 << 62) - 1);
        }
        if ((r >> 16) & 1u) {
            sn = -sn;
        }
        CHECK_QUIET(ok, td_round_div32(sn, den) == (int64_t)ref_round_div(sn, den));
        cases++;
    }
    CHECK(ok);
    CHECK(cases > 1000000u);

    /* Lifetime weight for N = life.n + n_b across 2^20, 2^32, 2^53 up to 2^64 - 1. */
    /* The outputs' divisions on extreme accumulator and DDM states (sums near 2^32, priors beyond
     * 1 so the prior-shift distance exceeds 2^32, more errors than labels). */
    int ok_o = 1;
    for (uint32_t i = 0; i < 100000u; i++) {
        const uint64_t r = div_rnd(&st);
        td_outputs_config_t cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.n_classes = (uint8_t)(2u + r % (TD_MAX_CLASSES - 1u));
        td_outputs_acc_t acc;
        memset(&acc, 0, sizeof acc);
        acc.count = (uint16_t)((r >> 8) & 1u ? 0xFFFFu : 1u + (div_rnd(&st) % 0xFFFFu));
        acc.confidence_sum_q16 = (r >> 9) & 1u ? 0xFFFFFFFFu - (uint32_t)(r >> 40) % 4u : (uint32_t)div_rnd(&st);
        acc.estimate_sum_q16 = (uint32_t)div_rnd(&st);
        iwide distance = 0;
        for (uint32_t c = 0; c < cfg.n_classes; c++) {
            acc.histogram[c] = (uint16_t)div_rnd(&st);
            cfg.prior_q16[c] = (r >> 10) & 1u ? (uint32_t)div_rnd(&st) : (uint32_t)(div_rnd(&st) % (TD_Q16_ONE + 1u));
            const iwide d = ((iwide)acc.histogram[c] << 16) - (iwide)acc.count * cfg.prior_q16[c];
            distance += d < 0 ? -d : d;
        }
        td_outputs_summary_t out;
        CHECK_QUIET(ok_o, td_outputs_summary(&acc, &cfg, &out) == TD_OK);
        CHECK_QUIET(ok_o, out.mean_confidence_q16 == (uint32_t)ref_round_div(acc.confidence_sum_q16, acc.count));
        CHECK_QUIET(ok_o, out.estimated_accuracy_q16 == (uint32_t)ref_round_div(acc.estimate_sum_q16, acc.count));
        CHECK_QUIET(ok_o, out.prior_shift_q16 == (uint32_t)ref_round_div(distance, 2 * (iwide)acc.count));
        td_ddm_t ddm;
        CHECK_QUIET(ok_o, td_ddm_init(&ddm) == TD_OK);
        ddm.total = 1u + (uint32_t)(div_rnd(&st) >> ((r >> 11) % 32u));
        ddm.total_errors = (r >> 16) & 1u ? (uint32_t)div_rnd(&st) : (uint32_t)(div_rnd(&st) % (ddm.total + (uint64_t)1));
        const uint32_t right = ddm.total - ddm.total_errors;
        CHECK_QUIET(ok_o, td_ddm_accuracy_q16(&ddm) == (uint32_t)ref_round_div((iwide)right << 16, ddm.total));
    }
    CHECK(ok_o);
}

/* ---- detector ------------------------------------------------------------------------- */

static void test_detector(void)
{
    td_detector_t det;
    const td_detector_params_t p = {100u, 250u, 1000u};
    uint8_t trig = 0xFFu;

    CHECK_EQ(td_detector_reset(&det), TD_OK);
    /* Hand-worked CUSUM, k = 100, h = 250:
     *   score   S = max(0, S + score - k)   trigger
     *     50      0                          -
     *    200    100                          -
     *    150    150                          -
     *     40     90                          -
     *    260    250  (== h, not above)       -
     *    101    251                          CUSUM
     */
    static const uint32_t scores[6] = {50u, 200u, 150u, 40u, 260u, 101u};
    static const uint32_t expect_s[6] = {0u, 100u, 150u, 90u, 250u, 251u};
    static const uint8_t expect_t[6] = {0u, 0u, 0u, 0u, 0u, TD_TRIGGER_CUSUM};
    for (uint32_t i = 0; i < 6u; i++) {
        CHECK_EQ(td_detector_update(&det, &p, scores[i], &trig), TD_OK);
        CHECK_EQ(det.cusum_q8, expect_s[i]);
        CHECK_EQ(trig, expect_t[i]);
        CHECK_EQ(det.alarm, i == 5u ? 1 : 0);
    }
    /* Latched: low scores raise no trigger, S decays, the alarm stays. */
    CHECK_EQ(td_detector_update(&det, &p, 0u, &trig), TD_OK);
    CHECK_EQ(trig, 0);
    CHECK_EQ(det.cusum_q8, 151u);
    CHECK_EQ(det.alarm, 1);
    for (uint32_t i = 0; i < 5u; i++) {
        CHECK_EQ(td_detector_update(&det, &p, 0u, &trig), TD_OK);
    }
    CHECK_EQ(det.cusum_q8, 0u);
    CHECK_EQ(det.alarm, 1);
    CHECK_EQ(trig, 0);
    /* Reset clears both. */
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(det.alarm, 0);
    CHECK_EQ(det.cusum_q8, 0u);

    /* Instant threshold: strictly above. */
    CHECK_EQ(td_detector_update(&det, &(td_detector_params_t){100u, 5000u, 1000u}, 1000u, &trig), TD_OK);
    CHECK_EQ(trig, 0);
    CHECK_EQ(det.cusum_q8, 900u);
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &(td_detector_params_t){100u, 5000u, 1000u}, 1001u, &trig), TD_OK);
    CHECK_EQ(trig, TD_TRIGGER_INSTANT);
    CHECK_EQ(det.alarm, 1);
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &p, 1001u, &trig), TD_OK); /* S = 901 > 250 as well */
    CHECK_EQ(trig, TD_TRIGGER_INSTANT | TD_TRIGGER_CUSUM);

    /* Saturation at UINT32_MAX. */
    const td_detector_params_t zero_k = {0u, 0xFFFFFFFFu, 0xFFFFFFFFu};
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &zero_k, 0xFFFFFFF0u, &trig), TD_OK);
    CHECK_EQ(td_detector_update(&det, &zero_k, 0xFFFFFFF0u, &trig), TD_OK);
    CHECK_EQ(det.cusum_q8, 0xFFFFFFFFu);
    CHECK_EQ(trig, 0); /* S == h, not above; score == instant, not above */
    const td_detector_params_t big_k = {0xFFFFFFFFu, 0u, 0xFFFFFFFFu};
    CHECK_EQ(td_detector_update(&det, &big_k, 5u, &trig), TD_OK); /* S + 5 - k = 5 */
    CHECK_EQ(det.cusum_q8, 5u);
    CHECK_EQ(trig, TD_TRIGGER_CUSUM);

    /* count_alarms resets S after each trigger. With k = 100, h = 250:
     * 200 -> 100, 200 -> 200, 200 -> 300 alarm (S := 0), 200 -> 100, 200 -> 200: one alarm.
     * Without the reset the fourth score would have triggered again (S = 400). */
    const uint32_t seq[5] = {200u, 200u, 200u, 200u, 200u};
    uint32_t n_alarms = 99u;
    CHECK_EQ(td_detector_count_alarms(&p, seq, 5u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    const uint32_t seq2[7] = {200u, 200u, 200u, 200u, 200u, 200u, 2000u};
    CHECK_EQ(td_detector_count_alarms(&p, seq2, 7u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 3u); /* at 3, 6 and the instant at 7 */
    CHECK_EQ(td_detector_count_alarms(&p, NULL, 0u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);

    /* Random streams against a reference that resets after each trigger. */
    int ok = 1;
    static uint32_t rs[2000];
    for (uint32_t t = 0; t < 200u; t++) {
        td_detector_params_t rp;
        rp.k_q8 = (uint32_t)rnd_range(0, 2000);
        rp.h_q8 = (uint32_t)rnd_range(0, 20000);
        rp.instant_q8 = (uint32_t)rnd_range(0, 5000);
        const uint32_t n = (uint32_t)rnd_range(0, 2000);
        for (uint32_t i = 0; i < n; i++) {
            rs[i] = (uint32_t)(rnd64() % 8u == 0u ? rnd64() : (uint64_t)rnd_range(0, 3000));
        }
        uint64_t s = 0;
        uint32_t alarms = 0;
        for (uint32_t i = 0; i < n; i++) {
            s = s + rs[i] > rp.k_q8 ? s + rs[i] - rp.k_q8 : 0u;
            s = s > 0xFFFFFFFFu ? 0xFFFFFFFFu : s;
            if (rs[i] > rp.instant_q8 || s > rp.h_q8) {
                alarms++;
                s = 0;
            }
        }
        CHECK_QUIET(ok, td_detector_count_alarms(&rp, rs, n, &n_alarms) == TD_OK);
        CHECK_QUIET(ok, n_alarms == alarms);
    }
    CHECK(ok);

    CHECK_EQ(td_detector_reset(NULL), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(NULL, &p, 1u, &trig), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(&det, NULL, 1u, &trig), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(&det, &p, 1u, NULL), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(NULL, seq, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(&p, NULL, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(&p, seq, 1u, NULL), TD_ERR_ARG);
}

/* ---- feature chart ------------------------------------------------------------------------ */

/* Reference chart step in 64 bits: statistic 2f moves by +shift - k, 2f + 1 by -shift - k, each clamped to 0 .. 65535;
 * returns the first index holding the largest value. */
static uint32_t ref_chart_step(int64_t *stats, const int16_t *shift, uint32_t n_features, int64_t k)
{
    for (uint32_t f = 0; f < n_features; f++) {
        for (uint32_t dir = 0; dir < 2u; dir++) {
            int64_t v = stats[2u * f + dir] + (dir == 0u ? shift[f] : -(int64_t)shift[f]) - k;
            v = v < 0 ? 0 : v;
            stats[2u * f + dir] = v > 65535 ? 65535 : v;
        }
    }
    int64_t best = -1;
    uint32_t top = 0u;
    for (uint32_t i = 2u * n_features; i-- > 0u;) {
        if (stats[i] >= best) {
            best = stats[i];
            top = i;
        }
    }
    return top;
}

static void test_feature_chart(void)
{
    /* Hand-worked, k = 10, two features:
     *   shifts      up0  down0  up1  down1   top
     *   (50, -30)    40     0     0    20     0
     *   (-5, -30)    25     0     0    40     3
     *   (0, 50)      15     0    40     0     2  (40 twice: lowest index)
     *   (32767, -32768)  32772  0  0  32758   0
     *   (32767, -32768)  65529  0  0  65516   0
     *   (32767, -32768)  65535  0  0  65535   0  (both saturated: lowest index)
     */
    uint16_t st[2u * TD_MAX_FEATURES + 2u];
    memset(st, 0, sizeof st);
    st[4] = 0xBEEFu; /* beyond the two features: untouched */
    static const int16_t sh[6][2] = {{50, -30}, {-5, -30}, {0, 50}, {32767, -32768}, {32767, -32768}, {32767, -32768}};
    static const uint16_t want[6][4] = {{40, 0, 0, 20},        {25, 0, 0, 40},        {15, 0, 40, 0},
                                        {32772, 0, 0, 32758}, {65529, 0, 0, 65516}, {65535, 0, 0, 65535}};
    static const uint32_t want_top[6] = {0u, 3u, 2u, 0u, 0u, 0u};
    for (uint32_t t = 0; t < 6u; t++) {
        CHECK_EQ(td_chart_step(st, sh[t], 2u, 10u), want_top[t]);
        for (uint32_t i = 0; i < 4u; i++) {
            CHECK_EQ(st[i], want[t][i]);
        }
        CHECK_EQ(st[4], 0xBEEFu);
    }
    /* k = 65535 empties every statistic in one step; all equal: index 0. No features: index 0, nothing written. */
    static const int16_t no_shift[2] = {0, 0};
    CHECK_EQ(td_chart_step(st, no_shift, 2u, 65535u), 0u);
    CHECK(st[0] == 0u && st[1] == 0u && st[2] == 0u && st[3] == 0u);
    st[0] = 7u;
    CHECK_EQ(td_chart_step(st, sh[0], 0u, 0u), 0u);
    CHECK_EQ(st[0], 7u);

    /* Random statistics (both ends often), shifts and k against the reference. */
    int ok = 1;
    unsigned long n_zero = 0, n_sat = 0, n_ties = 0;
    for (uint32_t t = 0; t < 20000u && ok; t++) {
        const uint32_t F = (uint32_t)rnd_range(1, TD_MAX_FEATURES);
        int16_t shift[TD_MAX_FEATURES];
        int64_t ref[2u * TD_MAX_FEATURES];
        const uint32_t regime = (uint32_t)(rnd64() % 4u);
        for (uint32_t i = 0; i < 2u * F; i++) {
            const uint32_t pick = (uint32_t)(rnd64() % 4u);
            st[i] = (uint16_t)(pick == 0u ? 0u : (pick == 1u ? 65535u : (uint64_t)rnd_range(0, 65535)));
            if (regime == 3u) { /* few distinct values: ties */
                st[i] = (uint16_t)(rnd64() % 3u * 1000u);
            }
            ref[i] = st[i];
        }
        st[2u * F] = 0x5A5Au;
        for (uint32_t f = 0; f < F; f++) {
            shift[f] = (int16_t)(regime == 0u ? rnd_range(-32768, 32767) : rnd_range(-2000, 2000));
        }
        const uint32_t k = (uint32_t)(regime == 1u ? rnd_range(0, 65535) : rnd_range(0, 500));
        const uint32_t top = td_chart_step(st, shift, F, k);
        const uint32_t want_i = ref_chart_step(ref, shift, F, k);
        CHECK_QUIET(ok, top == want_i);
        for (uint32_t i = 0; i < 2u * F; i++) {
            CHECK_QUIET(ok, st[i] == ref[i]);
            n_zero += ref[i] == 0;
            n_sat += ref[i] == 65535;
            n_ties += i != want_i && ref[i] == ref[want_i];
        }
        CHECK_QUIET(ok, st[2u * F] == 0x5A5Au);
        if (!ok) {
            printf("  chart step trial %u: %u features, k %u\n", (unsigned)t, (unsigned)F, (unsigned)k);
        }
    }
    CHECK(ok);
    CHECK(n_zero > 1000u && n_sat > 1000u && n_ties > 1000u);

    /* Alarm counter. k = 0, h = 100, one feature at 60 a window: 60, 120 alarm (reset), 60, 120 alarm: two alarms in
     * four windows (without the reset, three). A downward shift counts as well. */
    uint32_t n_alarms = 99u;
    const int16_t up4[4] = {60, 60, 60, 60};
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 4u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 2u);
    const int16_t down4[4] = {-60, -60, -60, -60};
    CHECK_EQ(td_chart_count_alarms(0u, 100u, down4, 4u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 2u);
    CHECK_EQ(td_chart_count_alarms(0u, 120u, up4, 4u, 1u, &n_alarms), TD_OK); /* 120 == h is not above */
    CHECK_EQ(n_alarms, 1u);
    /* Two features, rows (60, -50), (0, -50): the first feature's up 60, 60; the second's down 50, 100 > 90. The reset
     * after it clears the first feature too: the next rows (60, 0), (0, 0) give 60, 60 and no alarm. */
    const int16_t two[8] = {60, -50, 0, -50, 60, 0, 0, 0};
    CHECK_EQ(td_chart_count_alarms(0u, 90u, two, 4u, 2u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    CHECK_EQ(td_chart_count_alarms(0u, 59u, two, 4u, 2u, &n_alarms), TD_OK); /* 60 > 59 at rows 0, 2 (reset at 0) */
    CHECK_EQ(n_alarms, 2u);
    const int16_t full[3] = {32767, 32767, 32767}; /* 32767, 65534, 65535 (saturated) */
    CHECK_EQ(td_chart_count_alarms(0u, 65535u, full, 3u, 1u, &n_alarms), TD_OK); /* saturates at h: never above */
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(0u, 65534u, full, 2u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(0u, 65534u, full, 3u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    CHECK_EQ(td_chart_count_alarms(0u, 0xFFFFFFFFu, full, 3u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(65535u, 0u, full, 3u, 1u, &n_alarms), TD_OK); /* k = 65535: allowed, all 0 */
    CHECK_EQ(n_alarms, 0u);
    n_alarms = 99u;
    CHECK_EQ(td_chart_count_alarms(0u, 0u, NULL, 0u, 2u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    n_alarms = 99u;
    CHECK_EQ(td_chart_count_alarms(0u, 0u, up4, 4u, 0u, &n_alarms), TD_OK); /* no features: nothing to alarm on */
    CHECK_EQ(n_alarms, 0u);
    /* Errors. */
    CHECK_EQ(td_chart_count_alarms(65536u, 100u, up4, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0xFFFFFFFFu, 100u, up4, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, NULL, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 4u, 1u, NULL), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 1u, TD_MAX_FEATURES + 1u, &n_alarms), TD_ERR_LIMIT);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 0u, 0xFFFFFFFFu, &n_alarms), TD_ERR_LIMIT);

    /* Random streams against the reference, resetting every statistic after each alarm. */
    static int16_t rows[600 * TD_MAX_FEATURES];
    unsigned long total_alarms = 0, quiet_streams = 0;
    for (uint32_t t = 0; t < 300u && ok; t++) {
        const uint32_t F = (uint32_t)rnd_range(1, TD_MAX_FEATURES);
        const uint32_t n = (uint32_t)rnd_range(0, 600);
        const int64_t drift = rnd_range(-300, 300);
        const uint32_t spread = (uint32_t)(rnd64() % 8u == 0u ? 32767 : rnd_range(0, 2000));
        for (uint32_t i = 0; i < n * F; i++) {
            const int64_t v = drift + rnd_range(-(int64_t)spread, spread);
            rows[i] = (int16_t)(v > 32767 ? 32767 : (v < -32767 ? -32767 : v));
        }
        const uint32_t k = (uint32_t)rnd_range(0, rnd64() % 4u == 0u ? 65535 : 1000);
        const uint32_t h = (uint32_t)rnd_range(0, rnd64() % 4u == 0u ? 70000 : 20000);
        int64_t ref[2u * TD_MAX_FEATURES];
        memset(ref, 0, sizeof ref);
        uint32_t alarms = 0u;
        for (uint32_t i = 0; i < n; i++) {
            const uint32_t top = ref_chart_step(ref, rows + (size_t)i * F, F, k);
            if (ref[top] > (int64_t)h) {
                alarms++;
                memset(ref, 0, sizeof ref);
            }
        }
        CHECK_QUIET(ok, td_chart_count_alarms(k, h, rows, n, F, &n_alarms) == TD_OK);
        CHECK_QUIET(ok, n_alarms == alarms);
        total_alarms += alarms;
        quiet_streams += n > 100u && alarms == 0u;
    }
    CHECK(ok);
    CHECK(total_alarms > 1000u && quiet_streams > 10u);
    printf("  chart step: statistics at 0 %lu, at 65535 %lu, tied with the top %lu; alarm counter: %lu alarms, %lu quiet "
           "streams\n", n_zero, n_sat, n_ties, total_alarms, quiet_streams);
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
} g_cov;

/* The inverse scales of centroid k (65536 each without scales), shifted right by the least shift that brings the
 * largest under 2^15, into inv[0 .. n_dims); returns the shift. */
static uint32_t ref_shifted_inv(const w_spec_t *s, uint32_t k, iwide *inv)
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
static uint32_t ref_chart_root(const w_spec_t *s, uint32_t k, uint32_t f)
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
static void ref_reset_alarm(ref_mon_t *st)
{
    st->cusum = 0u;
    st->alarm = 0u;
    memset(st->chart_up, 0, sizeof st->chart_up);
    memset(st->chart_down, 0, sizeof st->chart_down);
}

/* Reference result of one window: frames[window * n_channels], and in external mode the
 * embeddings pushed during the window (n_emb rows of n_dims int8). */
static void ref_window(const w_spec_t *s, ref_mon_t *st, const int16_t *frames, const int8_t *emb, uint32_t n_emb,
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
static int result_equal(const w_spec_t *s, const td_window_result_t *a, const td_window_result_t *b)
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

static int parsed_open(parsed_t *p, const w_spec_t *s)
{
    p->blob = w_build(s, &p->size);
    return td_profile_parse(&p->prof, p->blob, p->size) == TD_OK;
}

static void parsed_close(parsed_t *p)
{
    free(p->blob);
    p->blob = NULL;
}

/* Frames of one window in a random regime (normal, stuck, rails, sentinel bursts). */
static void gen_window(const w_spec_t *s, int16_t *frames)
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
static void random_chart(w_spec_t *s)
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

/* A random valid profile: PCA (ext == 0) or external embedding. */
static void random_profile(w_spec_t *s, int ext)
{
    w_defaults(s);
    s->n_channels = (uint8_t)rnd_range(1, 6);
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
                s->cs_inv_scale_q16[k * s->n_dims + j] =
                    (uint32_t)(rnd64() % 6u == 0u ? rnd_range(1, 1 << 24) : rnd_range(1 << 12, 1 << 20));
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

static void test_monitor_reference(void)
{
    static w_spec_t s;
    static int16_t frames[64 * 6 * 12];
    static int8_t emb[12][40 * TD_MAX_DIMS];
    uint32_t n_emb[12];
    uint8_t reset_after[12];
    static td_window_result_t got[12];
    static td_window_result_t want[12];
    int ok = 1;
    uint32_t windows_checked = 0;
    unsigned long n_resets = 0;
    for (uint32_t trial = 0; trial < 1000u && ok; trial++) {
        const int ext = (int)(trial % 3u == 2u);
        random_profile(&s, ext);
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        if (!ok) {
            printf("  random profile %u rejected\n", (unsigned)trial);
            parsed_close(&p);
            break;
        }
        td_monitor_t mon;
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        memset(got, 0xA5, sizeof got); /* the monitor must write or clear every byte of a result */
        const uint32_t n_windows = (uint32_t)rnd_range(1, 12);
        const uint32_t C = s.n_channels;
        for (uint32_t w = 0; w < n_windows; w++) {
            gen_window(&s, frames + (size_t)w * s.window * C);
            n_emb[w] = ext ? (uint32_t)(rnd64() % 4u == 0u ? 0u : (uint64_t)rnd_range(1, 40)) : 0u;
            for (uint32_t e = 0; e < n_emb[w] * s.n_dims; e++) {
                emb[w][e] = (int8_t)rnd_range(-128, 127);
            }
            ref_window(&s, &rm, frames + (size_t)w * s.window * C, emb[w], n_emb[w], &want[w]);
            /* Sometimes the user acknowledges an alarm after the window. */
            reset_after[w] = want[w].alarm && rnd64() % 3u == 0u;
            if (reset_after[w]) {
                ref_reset_alarm(&rm);
                n_resets++;
            }
        }
        /* Push window by window (embeddings first, then the frames in two random pieces). */
        for (uint32_t w = 0; w < n_windows && ok; w++) {
            for (uint32_t e = 0; e < n_emb[w]; e++) {
                CHECK_QUIET(ok, td_monitor_push_embedding(&mon, emb[w] + e * s.n_dims, s.n_dims) == TD_OK);
            }
            const uint32_t cut = (uint32_t)rnd_range(0, s.window);
            const int16_t *base = frames + (size_t)w * s.window * C;
            uint32_t n_res = 99u;
            CHECK_QUIET(ok, td_monitor_push(&mon, base, cut, got + w, 1, &n_res) == TD_OK);
            CHECK_QUIET(ok, n_res == (cut == s.window ? 1u : 0u));
            if (cut < s.window) {
                CHECK_QUIET(ok, td_monitor_push(&mon, base + (size_t)cut * C, s.window - cut, got + w, 1, &n_res) ==
                                    TD_OK);
                CHECK_QUIET(ok, n_res == 1u);
            }
            CHECK_QUIET(ok, result_equal(&s, &got[w], &want[w]));
            if (!ok) {
                printf("  monitor trial %u window %u (%s, %u channels, window %u, dims %u, shift %u)\n",
                       (unsigned)trial, (unsigned)w, ext ? "external" : "pca", (unsigned)C, (unsigned)s.window,
                       (unsigned)s.n_dims, (unsigned)s.proj_shift);
            }
            windows_checked++;
            if (reset_after[w]) {
                CHECK_QUIET(ok, td_monitor_reset_alarm(&mon) == TD_OK);
            }
        }
        /* Lifetime statistics count every valid sample. */
        for (uint8_t c = 0; c < C && ok; c++) {
            td_lifetime_t life;
            uint64_t n;
            int64_t mean;
            uint64_t var;
            uint64_t expect_n = 0;
            for (uint32_t w = 0; w < n_windows; w++) {
                expect_n += s.window - want[w].channels[c].n_missing;
            }
            iwide expect_sum = 0;
            iwide expect_sumsq = 0;
            for (uint32_t w = 0; w < n_windows; w++) {
                expect_sum += want[w].channels[c].sum;
                expect_sumsq += want[w].channels[c].sumsq;
            }
            CHECK_QUIET(ok, td_monitor_lifetime(&mon, c, &life) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_get(&life, &n, &mean, &var) == TD_OK);
            CHECK_QUIET(ok, n == expect_n);
            if (expect_n > 0u) { /* at most 12 windows of 64 samples: every term fits 64 bits */
                CHECK_QUIET(ok, mean == (int64_t)ref_round_div(expect_sum * ((iwide)1 << 32), (iwide)expect_n));
                CHECK_QUIET(ok, var == ref_var_q32((int64_t)expect_sum, (int64_t)expect_sumsq, (uint32_t)expect_n));
            }
        }
        parsed_close(&p);
    }
    CHECK(ok);
    if (!ok) {
        return; /* the loop stopped early: the coverage counts below would mislead */
    }
    CHECK(windows_checked > 1000u);
    /* The random cases reached every edge the reference model distinguishes. */
    CHECK(g_cov.z_clamped > 0u);
    CHECK(g_cov.e_clamped_pca > 0u);
    /* External mode never reaches the clamp: |q - zero_point| <= 255 and scale < 2^32 keep |e| < 255 * 2^16. */
    CHECK(g_cov.e_clamped_ext == 0u);
    CHECK(g_cov.recon_clamped > 0u);
    CHECK(g_cov.recon_saturated > 0u);
    CHECK(g_cov.centroid_ties > 0u);
    CHECK(g_cov.no_valid > 0u);
    CHECK(g_cov.instant > 0u);
    CHECK(g_cov.cusum > 0u);
    CHECK(g_cov.health > 0u);
    CHECK(g_cov.stuck > 0u);
    CHECK(g_cov.missing > 0u);
    CHECK(g_cov.saturated > 0u);
    CHECK(g_cov.top_nonzero > 0u);
    CHECK(g_cov.blamed > 0u);
    CHECK(g_cov.blame_moved > 0u);
    CHECK(g_cov.blame_clamped > 0u);
    CHECK(g_cov.shifts_run_only >= 300u && g_cov.shifts_chart_only >= 300u && g_cov.shifts_both >= 300u);
    CHECK(g_cov.blame_wide_inv >= 100u);
    CHECK(g_cov.blame_len_narrow >= 100u && g_cov.blame_len_wide >= 100u);
    CHECK(g_cov.shift_clamped_pos >= 100u && g_cov.shift_clamped_neg >= 100u);
    CHECK(g_cov.root_zero >= 100u && g_cov.root_stored_differs >= 100u);
    CHECK(g_cov.chart_zero >= 100u && g_cov.chart_saturated >= 100u && g_cov.chart_ties >= 30u);
    CHECK(g_cov.chart_alarm >= 100u && g_cov.chart_alarm_outside >= 100u && g_cov.chart_alarm_named >= 30u);
    CHECK(g_cov.chart_quiet >= 100u && g_cov.chart_at_h >= 30u);
    CHECK(n_resets >= 100u);
    CHECK(g_cov.n_valid_pow2 > 0u && g_cov.n_valid_other > 0u);
    CHECK(g_cov.scaled_narrow > 0u && g_cov.scaled_wide > 0u);
    CHECK(g_cov.pca_odd_dims > 0u && g_cov.pca_tail > 0u && g_cov.pca_no_quads > 0u);
    printf("  fitted shifts: %lu windows (run only %lu, chart only %lu, both %lu); shift >= 8 %lu; length |n| < 2^32 "
           "%lu, wider %lu, clamped +%lu -%lu; root 0 %lu, stored root not the true one %lu; deviations clamped %lu\n",
           g_cov.shifts_run_only + g_cov.shifts_chart_only + g_cov.shifts_both, g_cov.shifts_run_only,
           g_cov.shifts_chart_only, g_cov.shifts_both, g_cov.blame_wide_inv, g_cov.blame_len_narrow,
           g_cov.blame_len_wide, g_cov.shift_clamped_pos, g_cov.shift_clamped_neg, g_cov.root_zero,
           g_cov.root_stored_differs, g_cov.blame_clamped);
    printf("  feature chart: alarms %lu (outside a run %lu, naming another channel %lu), quiet %lu; statistics at 0 "
           "%lu, at 65535 %lu; ties %lu; at h %lu; resets %lu\n", g_cov.chart_alarm, g_cov.chart_alarm_outside,
           g_cov.chart_alarm_named, g_cov.chart_quiet,
           g_cov.chart_zero, g_cov.chart_saturated, g_cov.chart_ties, g_cov.chart_at_h, n_resets);
    if (g_fail > 0u) {
        printf("  coverage: z %lu e_pca %lu e_ext %lu recon %lu recon_sat %lu ties %lu no_valid %lu inst %lu cusum %lu "
               "health %lu\n", g_cov.z_clamped, g_cov.e_clamped_pca, g_cov.e_clamped_ext, g_cov.recon_clamped,
               g_cov.recon_saturated, g_cov.centroid_ties, g_cov.no_valid, g_cov.instant, g_cov.cusum, g_cov.health);
    }
}

/* A monitor re-bound by td_monitor_init to another profile of the same shape and centroids (projection, inverse scales
 * and feature chart drawn anew) must go on exactly as the reference does from a fresh start under the second: nothing
 * of the first profile's windows (the run's attribution sums, the chart's statistics, the alarm) may carry over. Every
 * window is in the CUSUM run (k = 0); under the first profile half the monitors run a chart that only accumulates
 * (k 0, h 65535: no alarm), so statistics left over would change the second profile's chart values. */
static void test_monitor_reinit(void)
{
    static w_spec_t a;
    static w_spec_t b;
    static int16_t frames[64 * 6];
    static td_monitor_t mon; /* one object for both profiles */
    static td_window_result_t got;
    static td_window_result_t want;
    int ok = 1;
    unsigned long windows = 0;
    for (uint32_t trial = 0; trial < 300u && ok; trial++) {
        random_profile(&a, 0);
        if (a.n_centroids > 1u + trial % 2u) { /* few centroids: the next profile's windows meet the same ones */
            a.n_centroids = (uint8_t)(1u + trial % 2u);
        }
        a.cusum_k_q8 = 0u;
        a.cusum_h_q8 = 0xFFFFFFFFu;
        a.instant_q8 = 0xFFFFFFFFu;
        a.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        if (trial % 2u == 0u) {
            random_chart(&a);
            a.chart_k_q8 = 0u;
            a.chart_h_q8 = 0xFFFFu;
        }
        b = a;
        const uint32_t F = 2u * a.n_channels;
        for (uint32_t i = 0; i < (uint32_t)b.n_dims * F; i++) {
            b.proj[i] = (int8_t)rnd_range(-128, 127);
        }
        for (uint32_t i = 0; i < (uint32_t)b.n_centroids * b.n_dims; i++) {
            b.cs_inv_scale_q16[i] = (uint32_t)rnd_range(1, 1 << 24);
        }
        b.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        if (rnd64() % 4u != 0u) {
            random_chart(&b);
        }
        parsed_t pa;
        parsed_t pb;
        CHECK_QUIET(ok, parsed_open(&pa, &a));
        CHECK_QUIET(ok, parsed_open(&pb, &b));
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &pa.prof) == TD_OK);
        const uint32_t n_windows = 1u + (uint32_t)(rnd64() % 4u);
        uint32_t n_res = 0;
        for (uint32_t w = 0; w < n_windows && ok; w++) {
            gen_window(&a, frames);
            CHECK_QUIET(ok, td_monitor_push(&mon, frames, a.window, &got, 1u, &n_res) == TD_OK && n_res == 1u);
        }
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &pb.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        for (uint32_t w = 0; w < 4u && ok; w++) {
            gen_window(&b, frames);
            ref_window(&b, &rm, frames, NULL, 0u, &want);
            CHECK_QUIET(ok, td_monitor_push(&mon, frames, b.window, &got, 1u, &n_res) == TD_OK && n_res == 1u);
            CHECK_QUIET(ok, result_equal(&b, &got, &want));
            if (!ok) {
                printf("  re-bound monitor: trial %u window %u\n", (unsigned)trial, (unsigned)w);
            }
            windows++;
        }
        parsed_close(&pa);
        parsed_close(&pb);
    }
    CHECK(ok);
    CHECK(windows >= 1000u);
}

/* ---- monitor: API behaviour ---------------------------------------------------------------- */

static void test_monitor_capacity_and_chunking(void)
{
    static w_spec_t s;
    w_pca(&s, 4u);
    parsed_t p;
    CHECK(parsed_open(&p, &s));
    const uint32_t C = s.n_channels;
    const uint32_t W = s.window;
    enum { N_FRAMES = 16 * 9 + 5 };
    static int16_t frames[16 * 10 * 3];
    for (uint32_t w = 0; w < 10u; w++) {
        gen_window(&s, frames + (size_t)w * W * C);
    }
    static td_window_result_t all[16];
    static td_window_result_t one[16];
    static td_window_result_t fresh[16];
    memset(all, 0, sizeof all);
    memset(one, 0, sizeof one);
    memset(fresh, 0, sizeof fresh);

    /* All at once. */
    td_monitor_t m1;
    uint32_t n_res = 0;
    CHECK_EQ(td_monitor_init(&m1, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push(&m1, frames, N_FRAMES, all, 16, &n_res), TD_OK);
    CHECK_EQ(n_res, N_FRAMES / 16);

    /* One frame at a time. */
    td_monitor_t m2;
    CHECK_EQ(td_monitor_init(&m2, &p.prof), TD_OK);
    uint32_t total = 0;
    for (uint32_t i = 0; i < N_FRAMES; i++) {
        uint32_t k = 99u;
        if (td_monitor_push(&m2, frames + (size_t)i * C, 1, one + total, 1, &k) != TD_OK || k > 1u) {
            CHECK(0);
            break;
        }
        total += k;
    }
    CHECK_EQ(total, N_FRAMES / 16);
    CHECK(memcmp(all, one, sizeof all) == 0);
    CHECK(memcmp(&m1, &m2, sizeof m1) == 0);

    /* Capacity too small: TD_ERR_CAPACITY, nothing consumed. */
    td_monitor_t m3;
    CHECK_EQ(td_monitor_init(&m3, &p.prof), TD_OK);
    td_monitor_t before;
    memcpy(&before, &m3, sizeof before);
    static td_window_result_t junk[16];
    memset(junk, 0x3C, sizeof junk);
    n_res = 77u;
    CHECK_EQ(td_monitor_push(&m3, frames, N_FRAMES, junk, N_FRAMES / 16 - 1u, &n_res), TD_ERR_CAPACITY);
    CHECK_EQ(n_res, 0u);
    CHECK(memcmp(&before, &m3, sizeof m3) == 0);
    CHECK_EQ(td_monitor_push(&m3, frames, 16, NULL, 0, &n_res), TD_ERR_CAPACITY);
    CHECK_EQ(td_monitor_push(&m3, frames, 15, NULL, 0, &n_res), TD_OK); /* no window completes */
    CHECK_EQ(n_res, 0u);
    /* With fill 15: one more frame completes a window. */
    CHECK_EQ(td_monitor_push(&m3, frames + 15 * C, 17, junk, 1, &n_res), TD_ERR_CAPACITY); /* 15+17 = 2 windows */
    CHECK_EQ(n_res, 0u);
    {
        int untouched = 1;
        for (size_t i = 0; i < sizeof junk; i++) {
            untouched &= ((const uint8_t *)junk)[i] == 0x3Cu;
        }
        CHECK(untouched); /* a refused push writes no result */
    }
    CHECK_EQ(td_monitor_push(&m3, frames + 15 * C, N_FRAMES - 15, fresh, N_FRAMES / 16, &n_res), TD_OK);
    CHECK_EQ(n_res, N_FRAMES / 16);
    CHECK(memcmp(all, fresh, sizeof all) == 0);
    CHECK(memcmp(&m1, &m3, sizeof m1) == 0);

    /* Capacity exactly enough. */
    td_monitor_t m4;
    CHECK_EQ(td_monitor_init(&m4, &p.prof), TD_OK);
    memset(fresh, 0, sizeof fresh);
    CHECK_EQ(td_monitor_push(&m4, frames, 32, fresh, 2, &n_res), TD_OK);
    CHECK_EQ(n_res, 2u);
    CHECK(memcmp(all, fresh, 2 * sizeof all[0]) == 0);

    /* Random chunking gives the same bytes. */
    for (uint32_t t = 0; t < 20u; t++) {
        td_monitor_t m5;
        CHECK_EQ(td_monitor_init(&m5, &p.prof), TD_OK);
        memset(fresh, 0, sizeof fresh);
        uint32_t done = 0;
        uint32_t got = 0;
        int ok = 1;
        while (done < N_FRAMES) {
            uint32_t chunk = (uint32_t)rnd_range(0, 40);
            chunk = chunk < N_FRAMES - done ? chunk : N_FRAMES - done;
            uint32_t k;
            CHECK_QUIET(ok, td_monitor_push(&m5, frames + (size_t)done * C, chunk, fresh + got, 16 - got, &k) == TD_OK);
            got += k;
            done += chunk;
        }
        CHECK(ok);
        CHECK_EQ(got, N_FRAMES / 16);
        CHECK(memcmp(all, fresh, sizeof all) == 0);
    }

    /* Arguments. */
    CHECK_EQ(td_monitor_init(NULL, &p.prof), TD_ERR_ARG);
    CHECK_EQ(td_monitor_init(&m4, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(NULL, frames, 1, fresh, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, NULL, 1, fresh, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, frames, 1, NULL, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, frames, 1, fresh, 1, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, NULL, 0, NULL, 0, &n_res), TD_OK);
    CHECK_EQ(td_monitor_reset_alarm(NULL), TD_ERR_ARG);
    td_lifetime_t life;
    CHECK_EQ(td_monitor_lifetime(&m4, 3, &life), TD_ERR_ARG);
    CHECK_EQ(td_monitor_lifetime(&m4, 2, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_lifetime(&m4, 2, &life), TD_OK);
    parsed_close(&p);
}

static void test_monitor_modes_and_health(void)
{
    static w_spec_t s;
    int8_t e8[TD_MAX_DIMS + 1];
    memset(e8, 1, sizeof e8);

    /* PCA mode: embeddings are refused with TD_ERR_MODE, whatever the length. */
    w_pca(&s, 4u);
    parsed_t p;
    CHECK(parsed_open(&p, &s));
    td_monitor_t mon;
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 4), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 3), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_embedding(&mon, NULL, 4), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(NULL, e8, 4), TD_ERR_ARG);

    /* Health, channel 0 has the stuck check (tolerance 2); thresholds out of reach. */
    s.cusum_h_q8 = 0xFFFFFFFFu;
    s.instant_q8 = 0xFFFFFFFFu;
    s.cusum_k_q8 = 0xFFFFFFFFu;
    parsed_close(&p);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    int16_t fr[16 * 3];
    td_window_result_t r;
    uint32_t n_res;
    /* Window 0: channel 0 varies by 2 (== tolerance): stuck. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = (int16_t)(500 + (int)(i % 3u));
        fr[i * 3 + 1] = (int16_t)(i * 10u);
        fr[i * 3 + 2] = (int16_t)(i * 100u);
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.stuck_mask, 0x1);
    CHECK_EQ(r.saturated_mask, 0);
    CHECK_EQ(r.missing_mask, 0);
    CHECK_EQ(r.trigger, TD_TRIGGER_HEALTH);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(r.cusum_q8, 0u);
    /* Window 1: channel 0 varies by 3: healthy, but the alarm stays latched. */
    fr[0] = 503;
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(r.window_index, 1u);
    /* Reset clears it. */
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 0);
    /* Exactly constant channel: stuck again. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = -7;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0x1);
    CHECK_EQ(r.channels[0].std_q8, 0);
    CHECK_EQ(r.channels[0].mean_q8, -7 * 256);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    /* Channel 2 constant, but it has no stuck check: no event. Channel 1 (sentinel -32768, max_missing 3,
     * rails +-2000, max_saturated 4): 4 missing and 5 saturated samples. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = (int16_t)(i * 50u);
        fr[i * 3 + 1] = (int16_t)(i < 4u ? -32768 : (i < 9u ? 2000 : (int)i));
        fr[i * 3 + 2] = 42;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0);
    CHECK_EQ(r.missing_mask, 0x2);
    CHECK_EQ(r.saturated_mask, 0x2);
    CHECK_EQ(r.channels[1].n_missing, 4);
    CHECK_EQ(r.channels[1].n_saturated, 5);
    CHECK_EQ(r.channels[1].sum, 5 * 2000 + 9 + 10 + 11 + 12 + 13 + 14 + 15);
    CHECK_EQ(r.trigger, TD_TRIGGER_HEALTH);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    /* At the limits (3 missing, 4 saturated): no event. */
    fr[3 * 3 + 1] = 0;
    fr[8 * 3 + 1] = 0;
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.missing_mask, 0);
    CHECK_EQ(r.saturated_mask, 0);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 0);
    /* A channel whose samples are all missing: z = 0 for it, no stuck event. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 1] = -32768;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.channels[1].n_missing, 16);
    CHECK_EQ(r.channels[1].z_mean_q8, 0);
    CHECK_EQ(r.channels[1].z_std_q8, 0);
    CHECK_EQ(r.channels[1].min, INT16_MAX);
    CHECK_EQ(r.channels[1].max, INT16_MIN);
    CHECK_EQ(r.missing_mask, 0x2);
    parsed_close(&p);

    /* External mode. */
    w_ext(&s);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 4), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 6), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 0), TD_ERR_ARG);
    /* Two embeddings: mean of (q - zp) = ((3+3) + (-5+3)) / 2 = 2 in dim 0 ... times scale 1/8 = 0.25 = 64 Q8. */
    const int8_t ea[5] = {3, -128, 127, 0, -3};
    const int8_t eb[5] = {-5, -128, 127, 1, -3};
    CHECK_EQ(td_monitor_push_embedding(&mon, ea, 5), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, eb, 5), TD_OK);
    int16_t fx[32 * 2];
    for (uint32_t i = 0; i < 32u; i++) {
        fx[2 * i] = (int16_t)i;
        fx[2 * i + 1] = (int16_t)(i * 3u);
    }
    CHECK_EQ(td_monitor_push(&mon, fx, 32, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.n_embeddings, 2);
    CHECK_EQ(r.embedding_q8[0], 64);          /* (6 + -2)/2 = 2 -> 2/8 = 0.25 */
    CHECK_EQ(r.embedding_q8[1], -125 * 32);   /* (-128+3) / 8 * 256 */
    CHECK_EQ(r.embedding_q8[2], 130 * 32);    /* (127+3) / 8 * 256 */
    CHECK_EQ(r.embedding_q8[3], 112);         /* (3 + 4)/2 = 3.5 -> 0.4375 * 256 = 112 */
    CHECK_EQ(r.embedding_q8[4], 0);
    CHECK_EQ(r.recon_q8, 0u);
    /* Centroids -500 + 100 i: row 0 = {-500,-400,-300,-200,-100}, row 1 = {0,100,200,300,400}. */
    {
        const int64_t e[5] = {64, -4000, 4160, 112, 0};
        uint64_t d0 = 0, d1 = 0;
        for (int j = 0; j < 5; j++) {
            d0 += (uint64_t)((e[j] - (-500 + 100 * j)) * (e[j] - (-500 + 100 * j)));
            d1 += (uint64_t)((e[j] - (100 * j)) * (e[j] - (100 * j)));
        }
        const uint64_t best = d0 < d1 ? d0 : d1;
        CHECK_EQ(r.nearest, d0 <= d1 ? 0 : 1);
        CHECK_EQ(r.dist_q8, (best + 128u) >> 8);
        CHECK_EQ(r.score_q8, r.dist_q8);
    }
    /* The next window starts with no embeddings: embedding 0, dist 0. */
    CHECK_EQ(td_monitor_push(&mon, fx, 32, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_embeddings, 0);
    CHECK_EQ(r.dist_q8, 0u);
    CHECK_EQ(r.score_q8, 0u);
    CHECK_EQ(r.embedding_q8[0], 0);
    CHECK_EQ(r.window_index, 1u);
    parsed_close(&p);
}

/* ---- profile: outputs section ------------------------------------------------------------ */

static void test_profile_outputs_valid(void)
{
    static w_spec_t s;
    w_pca(&s, 3u);
    w_outputs(&s, 4u, 5u);
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 20u + 36u + (12u + 16u + 20u) + 4u);
    profile_roundtrip_and_fuzz(&s, "pca3+outputs");

    w_ext(&s);
    w_outputs(&s, 2u, 1u);
    s.out_scale_q24 = 0xFFFFFFFFu;
    s.out_zero_point = 127;
    s.out_prior_q16[0] = 0u;
    s.out_prior_q16[1] = 65536u;
    s.out_accuracy_q16[0] = 65536u;
    profile_roundtrip_and_fuzz(&s, "ext+outputs");

    /* Largest section the build allows. */
    w_pca(&s, 4u);
    w_outputs(&s, TD_MAX_CLASSES, TD_MAX_CONFIDENCE_BINS);
    s.out_zero_point = -128;
    s.out_scale_q24 = 1u;
    profile_roundtrip_and_fuzz(&s, "pca4+outputs16");

    /* td_profile_size_outputs. */
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 1), 64u + 24u + 16u + 4u + 4u + 24u + 4u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, 0, 2, 1), 64u + 24u + 16u + 4u + 4u + 4u); /* counts ignored */
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, 0, 0, 0), td_profile_size(1, 1, 1, 0));
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 1, 1), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, TD_MAX_CLASSES + 1, 1), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 0), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, TD_MAX_CONFIDENCE_BINS + 1), 0u);
    CHECK_EQ(td_profile_size_outputs(0, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 1), 0u);
    CHECK_EQ(td_profile_size(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS), 0u);
}

static void test_profile_outputs_semantics(void)
{
    static w_spec_t base;
    static w_spec_t s;
    static w_spec_t plain;
    w_pca(&base, 3u);
    w_outputs(&base, 4u, 5u);
    CHECK_EQ(spec_status(&base), TD_OK);
    const uint32_t sec = 64u + 72u + 48u + 20u + 36u; /* offset of the outputs section */

    /* Flag and section must agree: the flag without a section, a section without the flag. */
    w_pca(&plain, 3u);
    CHECK_EQ(poke_status(&plain, 22, 2, TD_PROFILE_FLAG_OUTPUTS), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_OUTPUTS | TD_PROFILE_FLAG_EXTERNAL_EMBEDDING), TD_ERR_SIZE);
    /* Counts poked into a valid blob no longer match the size. */
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 5), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 3), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 255), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 1u, 1, 6), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 1u, 1, 0), TD_ERR_SIZE);
    /* Moving one count into the other keeps the size: the values then decide. */
    CHECK_EQ(poke_status(&base, sec + 0u, 2, 5u | (4u << 8)), TD_OK);
    /* Declared total size inconsistent with the section (CRC valid over the real size). */
    s = base;
    s.total_size_override = 1;
    const uint32_t size = w_size(&base);
    const uint32_t bad_sizes[] = {size + 4u, size - 4u, size - 36u, sec + 4u, sec + 12u, sec + 15u, sec + 16u, 0u,
                                  0xFFFFFFFFu};
    for (uint32_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        s.total_size = bad_sizes[i];
        CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    }
    /* CRC still covers the section. */
    {
        uint32_t n;
        uint8_t *b = w_build(&base, &n);
        b[sec + 20u] ^= 0x04u;
        td_profile_t prof;
        CHECK_EQ(parse_exact(b, n, &prof), TD_ERR_CRC);
        free(b);
    }

    /* Counts written consistently: below the minimum RANGE, above the build's limit LIMIT. */
    s = base;
    s.out_n_classes = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_classes = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_classes = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_classes = TD_MAX_CLASSES;
    for (uint32_t c = 0; c < W_MAX_CLASSES; c++) {
        s.out_prior_q16[c] = 100u;
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_classes = TD_MAX_CLASSES + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s = base;
    s.out_n_bins = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_bins = 1u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_bins = TD_MAX_CONFIDENCE_BINS;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_bins = TD_MAX_CONFIDENCE_BINS + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    /* A limit beats a range error elsewhere (step 11 before the rest). */
    s.ch[2].reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);

    /* Reserved, scale, zero point. */
    s = base;
    s.out_reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_reserved = 0x8000u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.out_scale_q24 = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_scale_q24 = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    const int32_t good_zp[] = {-128, 0, 127};
    const int32_t bad_zp[] = {-129, 128, INT32_MIN, INT32_MAX, 255};
    for (uint32_t i = 0; i < 3u; i++) {
        s.out_zero_point = good_zp[i];
        CHECK_EQ(spec_status(&s), TD_OK);
    }
    for (uint32_t i = 0; i < 5u; i++) {
        s.out_zero_point = bad_zp[i];
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }

    /* Every prior and every accuracy within [0, 1] (Q16). */
    for (uint32_t c = 0; c < 4u; c++) {
        s = base;
        s.out_prior_q16[c] = 65536u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_prior_q16[c] = 0u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_prior_q16[c] = 65537u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
        s.out_prior_q16[c] = 0xFFFFFFFFu;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    for (uint32_t k = 0; k < 5u; k++) {
        s = base;
        s.out_accuracy_q16[k] = 65536u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_accuracy_q16[k] = 65537u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
        s.out_accuracy_q16[k] = 0x80000000u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    /* The sections before it are still checked first. */
    s = base;
    s.out_scale_q24 = 0u;
    s.centroid_q8[0] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
}

/* ---- monitor: model outputs ----------------------------------------------------------------- */

/* Random int8 class probabilities: mostly a confident class, sometimes flat, ties included. */
static void random_probs(int8_t *probs, uint32_t n_classes)
{
    const uint32_t mode = (uint32_t)(rnd64() % 4u);
    for (uint32_t c = 0; c < n_classes; c++) {
        probs[c] = (int8_t)(mode == 0u ? rnd_range(-128, 127) : rnd_range(-128, -100));
    }
    if (mode == 1u) {
        probs[rnd64() % n_classes] = (int8_t)rnd_range(0, 127);
    } else if (mode == 2u) {
        probs[0] = probs[n_classes - 1u] = 50; /* a tie: the lower index wins */
    }
}

/* What the monitor must report, driven directly through td_outputs and td_ddm. */
typedef struct {
    td_outputs_acc_t acc;
    td_ddm_t ddm;
    uint8_t worst;
    uint32_t n_labels, n_correct;
} ref_outputs_t;

static void test_monitor_outputs_reference(void)
{
    static w_spec_t with;
    static w_spec_t without;
    static int16_t frames[40 * 3];
    static uint8_t predicted_of[100000];
    static uint8_t labelled[100000];
    int ok = 1;
    unsigned long n_windows = 0, n_labels = 0, n_drift_windows = 0, n_warning_windows = 0, n_bad = 0;
    for (uint32_t trial = 0; trial < 24u && ok; trial++) {
        const uint8_t n_classes = (uint8_t)rnd_range(2, TD_MAX_CLASSES);
        const uint8_t n_bins = (uint8_t)rnd_range(1, TD_MAX_CONFIDENCE_BINS);
        w_pca(&with, 3u);
        with.window = (uint16_t)rnd_range(4, 40);
        for (uint32_t c = 0; c < 3u; c++) { /* only CONCEPT can alarm: no health events, thresholds out of reach */
            with.ch[c].flags &= (uint16_t)~TD_CHANNEL_FLAG_STUCK_CHECK;
            with.ch[c].max_missing = with.ch[c].max_saturated = with.window;
        }
        with.cusum_h_q8 = with.instant_q8 = with.cusum_k_q8 = 0xFFFFFFFFu;
        without = with;
        w_outputs(&with, n_classes, n_bins);
        with.out_scale_q24 = (uint32_t)rnd_range(1 << 14, 1 << 17);
        with.out_zero_point = (int32_t)rnd_range(-128, 0);
        for (uint32_t k = 0; k < n_bins; k++) {
            with.out_accuracy_q16[k] = (uint32_t)rnd_range(0, 65536);
        }
        parsed_t pw, po;
        CHECK_QUIET(ok, parsed_open(&pw, &with));
        CHECK_QUIET(ok, parsed_open(&po, &without));
        td_outputs_config_t cfg;
        CHECK_QUIET(ok, td_profile_outputs(&pw.prof, &cfg) == TD_OK);
        td_monitor_t mon, plain;
        CHECK_QUIET(ok, td_monitor_init(&mon, &pw.prof) == TD_OK);
        CHECK_QUIET(ok, td_monitor_init(&plain, &po.prof) == TD_OK);
        ref_outputs_t ref;
        CHECK_QUIET(ok, td_outputs_reset(&ref.acc) == TD_OK && td_ddm_init(&ref.ddm) == TD_OK);
        ref.worst = TD_DDM_OK;
        ref.n_labels = ref.n_correct = 0u;
        uint8_t alarm = 0u;
        uint32_t seq = 0u;
        /* Labels agree with the predictions at first (90 %), then mostly not: DDM must see concept drift. */
        const uint32_t switch_at = (uint32_t)rnd_range(150, 600);
        const uint32_t windows = 120u;
        for (uint32_t w = 0; w < windows && ok; w++) {
            gen_window(&with, frames);
            const uint32_t n_inf = rnd64() % 6u == 0u ? 0u : (uint32_t)rnd_range(1, 30);
            uint32_t fed = 0u;
            const uint32_t cut = (uint32_t)rnd_range(0, with.window - 1u);
            td_window_result_t got, want_plain;
            uint32_t n_res = 0u, n_plain = 0u;
            /* Frames in three pieces (the last frame alone closes the window), outputs and labels before each. */
            for (uint32_t piece = 0; piece < 3u && ok; piece++) {
                const uint32_t k = piece == 2u ? n_inf - fed : (uint32_t)rnd_range(0, n_inf - fed);
                for (uint32_t i = 0; i < k; i++) {
                    int8_t probs[TD_MAX_CLASSES];
                    uint8_t pred;
                    uint32_t got_seq = 0xDEADu;
                    random_probs(probs, n_classes);
                    CHECK_QUIET(ok, td_outputs_push(&ref.acc, &cfg, probs, n_classes, &pred) == TD_OK);
                    CHECK_QUIET(ok, td_monitor_push_outputs(&mon, probs, n_classes, &got_seq) == TD_OK);
                    CHECK_QUIET(ok, got_seq == seq);
                    predicted_of[seq] = pred;
                    labelled[seq] = 0u;
                    seq++;
                    /* Label a random recent inference (sometimes an invalid one). */
                    if (rnd64() % 8u != 0u) {
                        const uint32_t back = (uint32_t)(rnd64() % 10u == 0u ? rnd_range(0, 80) : rnd_range(1, 8));
                        const uint32_t target = seq - back;
                        uint8_t label;
                        const uint32_t done = seq > switch_at ? seq - switch_at : 0u;
                        if (target < 100000u && (done == 0u ? rnd64() % 10u != 0u : rnd64() % 2u == 0u)) {
                            label = predicted_of[target];
                        } else {
                            label = (uint8_t)(rnd64() % n_classes);
                        }
                        if (rnd64() % 50u == 0u) {
                            label = (uint8_t)(n_classes + rnd64() % 3u);
                        }
                        const td_status st = td_monitor_push_label(&mon, target, label);
                        td_status expect;
                        if (back == 0u || back > TD_MAX_PENDING_PREDICTIONS || back > seq) {
                            expect = TD_ERR_RANGE;
                        } else if (label >= n_classes) {
                            expect = TD_ERR_ARG;
                        } else if (labelled[target]) {
                            expect = TD_ERR_STATE;
                        } else {
                            expect = TD_OK;
                        }
                        CHECK_QUIET(ok, st == expect);
                        if (expect == TD_OK) {
                            uint8_t verdict;
                            const uint8_t correct = predicted_of[target] == label ? 1u : 0u;
                            CHECK_QUIET(ok, td_ddm_update(&ref.ddm, correct, &verdict) == TD_OK);
                            ref.worst = verdict > ref.worst ? verdict : ref.worst;
                            ref.n_labels++;
                            ref.n_correct += correct;
                            labelled[target] = 1u;
                            n_labels++;
                        } else {
                            n_bad++;
                        }
                    }
                }
                fed += k;
                const uint32_t from = piece == 0u ? 0u : (piece == 1u ? cut : with.window - 1u);
                const uint32_t to = piece == 0u ? cut : (piece == 1u ? with.window - 1u : with.window);
                CHECK_QUIET(ok, td_monitor_push(&mon, frames + (size_t)from * 3u, to - from, &got, 1, &n_res) == TD_OK);
                CHECK_QUIET(ok, n_res == (piece == 2u ? 1u : 0u));
            }
            CHECK_QUIET(ok, td_monitor_push(&plain, frames, with.window, &want_plain, 1, &n_plain) == TD_OK);
            CHECK_QUIET(ok, n_plain == 1u);
            /* The outputs fields equal td_outputs / td_ddm driven directly. */
            td_outputs_summary_t sum;
            CHECK_QUIET(ok, td_outputs_summary(&ref.acc, &cfg, &sum) == TD_OK);
            CHECK_QUIET(ok, got.n_inferences == sum.count && sum.count == n_inf);
            CHECK_QUIET(ok, got.top_class == sum.top_class);
            CHECK_QUIET(ok, got.mean_confidence_q16 == sum.mean_confidence_q16);
            CHECK_QUIET(ok, got.estimated_accuracy_q16 == sum.estimated_accuracy_q16);
            CHECK_QUIET(ok, got.prior_shift_q16 == sum.prior_shift_q16);
            CHECK_QUIET(ok, got.ddm_state == ref.worst);
            CHECK_QUIET(ok, got.n_labels == ref.n_labels && got.n_correct == ref.n_correct);
            CHECK_QUIET(ok, got.accuracy_q16 == td_ddm_accuracy_q16(&ref.ddm));
            const uint8_t concept = ref.worst == TD_DDM_DRIFT ? TD_TRIGGER_CONCEPT : 0u;
            alarm |= concept ? 1u : 0u;
            CHECK_QUIET(ok, got.trigger == concept);
            CHECK_QUIET(ok, got.alarm == alarm);
            n_drift_windows += concept ? 1u : 0u;
            n_warning_windows += ref.worst == TD_DDM_WARNING ? 1u : 0u;
            /* Everything else equals a monitor on the same profile without the outputs section. */
            want_plain.n_inferences = got.n_inferences;
            want_plain.top_class = got.top_class;
            want_plain.ddm_state = got.ddm_state;
            want_plain.mean_confidence_q16 = got.mean_confidence_q16;
            want_plain.estimated_accuracy_q16 = got.estimated_accuracy_q16;
            want_plain.prior_shift_q16 = got.prior_shift_q16;
            want_plain.n_labels = got.n_labels;
            want_plain.n_correct = got.n_correct;
            want_plain.accuracy_q16 = got.accuracy_q16;
            want_plain.trigger |= concept;
            want_plain.alarm = alarm;
            CHECK_QUIET(ok, result_equal(&with, &got, &want_plain));
            if (!ok) {
                printf("  outputs trial %u window %u (%u classes, %u bins)\n", (unsigned)trial, (unsigned)w,
                       (unsigned)n_classes, (unsigned)n_bins);
            }
            CHECK_QUIET(ok, td_outputs_reset(&ref.acc) == TD_OK);
            ref.worst = TD_DDM_OK;
            ref.n_labels = ref.n_correct = 0u;
            n_windows++;
            if (trial % 2u == 1u && alarm && rnd64() % 4u == 0u) {
                CHECK_QUIET(ok, td_monitor_reset_alarm(&mon) == TD_OK);
                alarm = 0u;
            }
        }
        parsed_close(&pw);
        parsed_close(&po);
    }
    CHECK(ok);
    CHECK(n_windows == 24u * 120u);
    CHECK(n_labels > 10000u);
    CHECK(n_bad > 100u);
    CHECK(n_drift_windows >= 24u); /* every trial's switch is detected */
    CHECK(n_warning_windows > 0u);
}

static void test_monitor_outputs_api(void)
{
    static w_spec_t s;
    parsed_t p;
    td_monitor_t mon;
    td_window_result_t r;
    uint32_t n_res;
    uint32_t seq = 0xDEADu;
    int8_t probs[TD_MAX_CLASSES + 1];
    memset(probs, 0, sizeof probs);
    int16_t fr[16 * 3];
    for (uint32_t i = 0; i < 16u * 3u; i++) {
        fr[i] = (int16_t)(i * 37u % 101u);
    }

    /* Without an outputs section: TD_ERR_MODE, and the result's outputs fields are all zero. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 2, &seq), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 0), TD_ERR_MODE);
    CHECK_EQ(seq, 0xDEADu);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 0);
    CHECK_EQ(r.accuracy_q16, 0u);
    CHECK_EQ(r.ddm_state, 0);
    CHECK_EQ(r.trigger, 0);
    parsed_close(&p);

    /* Hand-worked window: 3 classes, 4 bins with accuracies 0.1, 0.2, 0.6, 0.9; scale 1/256, zero point -128. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    w_outputs(&s, 3u, 4u);
    s.out_prior_q16[0] = 32768u; /* 0.5, 0.25, 0.25 */
    s.out_prior_q16[1] = 16384u;
    s.out_prior_q16[2] = 16384u;
    s.out_accuracy_q16[0] = 6554u;
    s.out_accuracy_q16[1] = 13107u;
    s.out_accuracy_q16[2] = 39322u;
    s.out_accuracy_q16[3] = 58982u;
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_outputs(NULL, probs, 3, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, NULL, 3, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 2, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 4, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(NULL, 0, 0), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 0), TD_ERR_RANGE); /* nothing pushed yet */
    CHECK_EQ(seq, 0xDEADu);
    /* Inference 0: class 1 with p = (64+128)/256 = 0.75 -> bin 3 (0.9). Inference 1: class 2 with
     * p = (0+128)/256 = 0.5 -> bin 2 (0.6). Inference 2: a tie between 0 and 2 at p = 0.25 -> class 0, bin 1 (0.2). */
    const int8_t a[3] = {-96, 64, -96};
    const int8_t b[3] = {-64, -64, 0};
    const int8_t c[3] = {-64, -128, -64};
    CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0u);
    CHECK_EQ(td_monitor_push_outputs(&mon, b, 3, &seq), TD_OK);
    CHECK_EQ(seq, 1u);
    CHECK_EQ(td_monitor_push_outputs(&mon, c, 3, NULL), TD_OK); /* the number is optional */
    CHECK_EQ(td_monitor_push_label(&mon, 3, 0), TD_ERR_RANGE);   /* the future */
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFFu, 0), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 3), TD_ERR_ARG);     /* label >= n_classes */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 255), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_OK);          /* right */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_ERR_STATE);   /* once only */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 2), TD_ERR_STATE);
    CHECK_EQ(td_monitor_push_label(&mon, 2, 2), TD_OK);          /* wrong */
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.n_inferences, 3);
    CHECK_EQ(r.top_class, 0); /* one each: the lowest index */
    CHECK_EQ(r.mean_confidence_q16, (49152u + 32768u + 16384u + 1u) / 3u);
    CHECK_EQ(r.estimated_accuracy_q16, (58982u + 39322u + 13107u + 1u) / 3u);
    /* TV distance: (|1/3 - 1/2| + |1/3 - 1/4| + |1/3 - 1/4|) / 2 = 1/6 -> round(65536 / 6) = 10923. */
    CHECK_EQ(r.prior_shift_q16, 10923u);
    CHECK_EQ(r.n_labels, 2);
    CHECK_EQ(r.n_correct, 1);
    CHECK_EQ(r.accuracy_q16, 32768u);
    CHECK_EQ(r.ddm_state, TD_DDM_OK);
    CHECK_EQ(r.trigger, 0);
    /* Late label for inference 1 (of the previous window): counts in this window; the window is otherwise empty. */
    CHECK_EQ(td_monitor_push_label(&mon, 1, 2), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 0);
    CHECK_EQ(r.mean_confidence_q16, 0u);
    CHECK_EQ(r.n_labels, 1);
    CHECK_EQ(r.n_correct, 1);
    CHECK_EQ(r.accuracy_q16, 43691u); /* 2 of 3 */

    /* The ring: the last TD_MAX_PENDING_PREDICTIONS inferences can be labelled, older ones cannot. */
    for (uint32_t i = 0; i < TD_MAX_PENDING_PREDICTIONS + 5u; i++) {
        CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    }
    CHECK_EQ(seq, 3u + TD_MAX_PENDING_PREDICTIONS + 4u);
    CHECK_EQ(td_monitor_push_label(&mon, seq - TD_MAX_PENDING_PREDICTIONS, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, seq - TD_MAX_PENDING_PREDICTIONS + 1u, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, seq, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, seq + 1u, 1), TD_ERR_RANGE);
    /* The counter wraps at 2^32 and the ring keeps working across it. */
    mon.out.seq = 0xFFFFFFFEu;
    CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0xFFFFFFFEu);
    CHECK_EQ(td_monitor_push_outputs(&mon, b, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0xFFFFFFFFu);
    CHECK_EQ(td_monitor_push_outputs(&mon, c, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0u);
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFEu, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFFu, 2), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 0u, 0), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 1u, 0), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, TD_MAX_PENDING_PREDICTIONS + 5u + 3u);
    CHECK_EQ(r.n_labels, 5);
    CHECK_EQ(r.n_correct, 5);
    parsed_close(&p);

    /* CONCEPT latches the alarm like health; reset clears it. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    w_outputs(&s, 2u, 1u);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    const int8_t yes[2] = {-128, 127};
    uint32_t labels_fed = 0;
    uint32_t drift_window = 0xFFFFFFFFu;
    for (uint32_t w = 0; w < 40u && drift_window == 0xFFFFFFFFu; w++) {
        for (uint32_t i = 0; i < 20u; i++) {
            CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_OK);
            /* 300 labels with 2 % errors, then only errors. */
            const uint8_t right = labels_fed < 300u ? (uint8_t)(labels_fed % 50u != 7u) : 0u;
            CHECK_EQ(td_monitor_push_label(&mon, seq, right ? 1u : 0u), TD_OK);
            labels_fed++;
        }
        CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
        if (r.trigger & TD_TRIGGER_CONCEPT) {
            drift_window = w;
            CHECK_EQ(r.ddm_state, TD_DDM_DRIFT);
            CHECK_EQ(r.trigger, TD_TRIGGER_CONCEPT);
            CHECK_EQ(r.alarm, 1);
        } else {
            CHECK_EQ(r.alarm, 0);
        }
    }
    CHECK(drift_window >= 15u && drift_window < 25u);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK); /* no labels: no trigger, still latched */
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.ddm_state, TD_DDM_OK);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.alarm, 0);

    /* Capacity: 65535 inferences per window, then TD_ERR_CAPACITY without numbering one. */
    for (uint32_t i = 0; i < 65535u; i++) {
        if (td_monitor_push_outputs(&mon, yes, 2, &seq) != TD_OK) {
            CHECK(0);
            break;
        }
    }
    const uint32_t last = seq;
    CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_ERR_CAPACITY);
    CHECK_EQ(seq, last);
    CHECK_EQ(td_monitor_push_label(&mon, last + 1u, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 65535);
    CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_OK);
    CHECK_EQ(seq, last + 1u);
    parsed_close(&p);
}

static void test_status_strings(void)
{
    static const td_status all[] = {TD_OK, TD_ERR_ARG, TD_ERR_TRUNCATED, TD_ERR_MAGIC, TD_ERR_VERSION, TD_ERR_CRC,
                                    TD_ERR_SIZE, TD_ERR_LIMIT, TD_ERR_RANGE, TD_ERR_CAPACITY, TD_ERR_STATE,
                                    TD_ERR_MODE};
    const char *unknown = td_status_str((td_status)-99);
    CHECK(unknown != NULL && strcmp(unknown, "unknown status") == 0);
    for (uint32_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *a = td_status_str(all[i]);
        CHECK(a != NULL && a[0] != '\0' && strcmp(a, unknown) != 0);
        for (uint32_t j = 0; j < i; j++) {
            CHECK(strcmp(a, td_status_str(all[j])) != 0);
        }
    }
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(void)
{
    test_profile_valid();
    test_profile_semantics();
    test_profile_outputs_valid();
    test_profile_outputs_semantics();
    test_stats_contract_edges();
    test_window_fixed();
    test_window_random();
    test_stats_functions();
    test_window_edges();
    test_isqrt_exhaustive();
#if TD_TEST_WIDE
    test_lifetime_exact();
#endif
    test_div64_32();
    test_stats_every_n();
    test_log2_q8();
    test_detector();
    test_feature_chart();
    test_monitor_reference();
    test_monitor_reinit();
    test_monitor_capacity_and_chunking();
    test_monitor_modes_and_health();
    test_monitor_outputs_reference();
    test_monitor_outputs_api();
    test_status_strings();
    printf("test_core: %lu corruption trials, %lu truncation trials\n", g_corrupt_trials, g_trunc_trials);
    printf("test_core: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
