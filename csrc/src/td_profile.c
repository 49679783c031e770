/* td_profile.c - complete validation of a profile blob and a zero-copy view into it.
 *
 * Order of checks: magic, version, header size, declared total size against the
 * size computed from the counts, buffer length, CRC, then every field's range.
 * Every offset is derived from counts that were bounded first, so no read ever
 * leaves blob[0..len). The outputs section stores its own counts: they are read
 * (after checking that the buffer holds them) to compute the expected size.
 */
#include "tinydrift/td_profile.h"

#include <string.h>

#include "td_fixed.h"
#include "td_layout.h"
#include "tinydrift/td_crc32.h"

/* Header field offsets (docs/profile-format.md). */
#define OFF_MAGIC 0u
#define OFF_VERSION 4u
#define OFF_HEADER_SIZE 6u
#define OFF_TOTAL_SIZE 8u
#define OFF_PROFILE_ID 12u
#define OFF_N_CHANNELS 16u
#define OFF_N_DIMS 17u
#define OFF_N_CENTROIDS 18u
#define OFF_PROJ_SHIFT 19u
#define OFF_WINDOW 20u
#define OFF_FLAGS 22u
#define OFF_FALSE_ALARM_PPB 24u
#define OFF_CUSUM_K 28u
#define OFF_CUSUM_H 32u
#define OFF_INSTANT 36u
#define OFF_EXT_SCALE 40u
#define OFF_EXT_ZERO_POINT 44u
#define OFF_CREATED 48u
/* 52: calibration_windows (uint32, informational: the core does not read it) */
#define OFF_RESERVED 56u

/* Outputs section offsets (relative to the section). */
#define OUT_N_CLASSES 0u
#define OUT_N_BINS 1u
#define OUT_RESERVED 2u
#define OUT_SCALE 4u
#define OUT_ZERO_POINT 8u
#define OUT_PRIOR TD_PROFILE_OUTPUTS_HEADER_SIZE

#define KNOWN_PROFILE_FLAGS                                                                                         \
    (TD_PROFILE_FLAG_EXTERNAL_EMBEDDING | TD_PROFILE_FLAG_OUTPUTS | TD_PROFILE_FLAG_LOG_STD |                        \
     TD_PROFILE_FLAG_CENTROID_SCALES | TD_PROFILE_FLAG_OCCUPANCY | TD_PROFILE_FLAG_FEATURE_CHART | TD_PROFILE_FLAG_NAMES)
#define KNOWN_CHANNEL_FLAGS (TD_CHANNEL_FLAG_STUCK_CHECK | TD_CHANNEL_FLAG_SENTINEL)
#define MAX_PROJ_SHIFT 15u
#define MAX_ABS_FEATURE_MEAN_Q8 (32768 * 256)
#define MAX_INV_SIGMA_Q24 0x80000000u
#define MAX_ABS_CENTROID_Q8 (1 << 24)
#define MAX_CENTROID_OFFSET_Q8 (1u << 24)
#define MAX_CENTROID_INV_SCALE_Q16 (1u << 24)
#define CRC_SIZE 4u

static uint32_t projection_size(uint32_t n_dims, uint32_t n_features, uint16_t flags)
{
    if (flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        return 0u;
    }
    return (n_dims * n_features + 3u) & ~3u;
}

static uint32_t centroid_scales_size(uint32_t n_dims, uint32_t n_centroids, uint16_t flags)
{
    return (flags & TD_PROFILE_FLAG_CENTROID_SCALES) ? 4u * n_centroids * (n_dims + 1u) : 0u;
}

/* The occupancy section: its header, then one uint16 cost per centroid padded to 4 bytes. */
static uint32_t occupancy_size(uint32_t n_centroids, uint16_t flags)
{
    return (flags & TD_PROFILE_FLAG_OCCUPANCY) ? TD_PROFILE_OCCUPANCY_HEADER_SIZE + ((2u * n_centroids + 3u) & ~3u)
                                               : 0u;
}

/* The feature chart section: k_q8, h_q8, then one uint32 root per centroid and feature. */
static uint32_t chart_size(uint32_t n_features, uint32_t n_centroids, uint16_t flags)
{
    return (flags & TD_PROFILE_FLAG_FEATURE_CHART) ? TD_PROFILE_CHART_HEADER_SIZE + 4u * n_centroids * n_features
                                                   : 0u;
}

/* The sections between the header and the outputs section, in blob order. */
enum { SEC_CHANNELS, SEC_FEATURES, SEC_PROJECTION, SEC_CENTROIDS, SEC_SCALES, SEC_OCCUPANCY, SEC_CHART, SEC_COUNT };

/* Offset of the byte after the centroids and their scales (start of the outputs section, or of the CRC without
 * one), for counts already bounded by 255; cannot overflow 32 bits. With start non-NULL, also each section's offset
 * (absent ones have size 0), so that the parser does not repeat the sums. */
static uint32_t centroids_end(uint32_t n_channels, uint32_t n_dims, uint32_t n_centroids, uint16_t flags,
                              uint32_t *start)
{
    const uint32_t n_features = n_channels * TD_FEATURES_PER_CHANNEL;
    const uint32_t size[SEC_COUNT] = {
        n_channels * TD_PROFILE_CHANNEL_SIZE,
        n_features * TD_PROFILE_FEATURE_SIZE,
        projection_size(n_dims, n_features, flags),
        n_centroids * n_dims * 4u,
        centroid_scales_size(n_dims, n_centroids, flags),
        occupancy_size(n_centroids, flags),
        chart_size(n_features, n_centroids, flags),
    };
    uint32_t end = TD_PROFILE_HEADER_SIZE;
    for (uint32_t i = 0; i < SEC_COUNT; i++) {
        if (start != NULL) {
            start[i] = end;
        }
        end += size[i];
    }
    return end;
}

/* Size of an outputs section with these counts (bounded by 255). */
static uint32_t outputs_size(uint32_t n_classes, uint32_t n_bins)
{
    return TD_PROFILE_OUTPUTS_HEADER_SIZE + 4u * (n_classes + n_bins);
}

#if TD_FEATURE_PROFILE_SIZE
uint32_t td_profile_size_outputs(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags,
                                 uint8_t n_classes, uint8_t n_bins)
{
    if (n_channels == 0u || n_channels > TD_MAX_CHANNELS || n_dims == 0u || n_dims > TD_MAX_DIMS ||
        n_centroids == 0u || n_centroids > TD_MAX_CENTROIDS) {
        return 0u;
    }
    uint32_t size = centroids_end(n_channels, n_dims, n_centroids, flags, NULL) + CRC_SIZE;
    if (flags & TD_PROFILE_FLAG_OUTPUTS) {
        if (n_classes < 2u || n_classes > TD_MAX_CLASSES || n_bins == 0u || n_bins > TD_MAX_CONFIDENCE_BINS) {
            return 0u;
        }
        size += outputs_size(n_classes, n_bins);
    }
    return size;
}

uint32_t td_profile_size(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags)
{
    if (flags & TD_PROFILE_FLAG_OUTPUTS) {
        return 0u;
    }
    return td_profile_size_outputs(n_channels, n_dims, n_centroids, flags, 0u, 0u);
}
#endif

static int all_zero(const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

static void decode_channel(const uint8_t *rec, td_channel_config_t *out)
{
    out->rail_lo = td_load_i16(rec + TD_CH_RAIL_LO);
    out->rail_hi = td_load_i16(rec + TD_CH_RAIL_HI);
    out->sentinel = td_load_i16(rec + TD_CH_SENTINEL);
    out->flags = td_load_u16(rec + TD_CH_FLAGS);
    out->stuck_tolerance = td_load_u16(rec + TD_CH_STUCK_TOL);
    out->max_missing = td_load_u16(rec + TD_CH_MAX_MISSING);
    out->max_saturated = td_load_u16(rec + TD_CH_MAX_SATURATED);
    out->std_floor = td_load_u16(rec + TD_CH_STD_FLOOR);
    out->ref_mean_q8 = td_load_i32(rec + TD_CH_REF_MEAN);
    out->ref_std_q8 = td_load_i32(rec + TD_CH_REF_STD);
}

static td_status check_channel(const uint8_t *rec, uint16_t window, uint16_t profile_flags)
{
    td_channel_config_t ch;
    decode_channel(rec, &ch);
    /* log2(std + floor) needs a floor of at least 1 LSB to stay finite for a constant channel. */
    const int floor_ok = (profile_flags & TD_PROFILE_FLAG_LOG_STD) ? ch.std_floor >= 1u : ch.std_floor == 0u;
    if (ch.rail_lo >= ch.rail_hi || (ch.flags & ~KNOWN_CHANNEL_FLAGS) != 0u || !floor_ok ||
        ch.max_missing > window || ch.max_saturated > window || ch.ref_std_q8 < 0) {
        return TD_ERR_RANGE;
    }
    if (ch.flags & TD_CHANNEL_FLAG_SENTINEL) {
        /* A sentinel inside the rails would be indistinguishable from a real reading. */
        if (ch.sentinel > ch.rail_lo && ch.sentinel < ch.rail_hi) {
            return TD_ERR_RANGE;
        }
    } else if (ch.sentinel != 0) {
        return TD_ERR_RANGE;
    }
    return TD_OK;
}

#if TD_FEATURE_OUTPUTS
static void decode_outputs(const uint8_t *sec, td_outputs_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->n_classes = sec[OUT_N_CLASSES];
    out->n_bins = sec[OUT_N_BINS];
    out->scale_q24 = td_load_u32(sec + OUT_SCALE);
    out->zero_point = td_load_i32(sec + OUT_ZERO_POINT);
    const uint8_t *prior = sec + OUT_PRIOR;
    const uint8_t *accuracy = prior + 4u * out->n_classes;
    for (uint32_t c = 0; c < out->n_classes; c++) {
        out->prior_q16[c] = td_load_u32(prior + 4u * c);
    }
    for (uint32_t b = 0; b < out->n_bins; b++) {
        out->accuracy_q16[b] = td_load_u32(accuracy + 4u * b);
    }
}

/* The outputs section's ranges (its counts are within the build's limits already). The section's size was matched
 * against its counts, so every read below stays inside the profile. */
static td_status check_outputs(const uint8_t *sec)
{
    /* The counts' lower bounds (2 classes, 1 bin) are td_outputs_check's, with the same TD_ERR_RANGE. */
    if (td_load_u16(sec + OUT_RESERVED) != 0u) {
        return TD_ERR_RANGE;
    }
    td_outputs_config_t cfg;
    decode_outputs(sec, &cfg);
    return td_outputs_check(&cfg) == TD_OK ? TD_OK : TD_ERR_RANGE;
}
#endif

/* Out of line on purpose: the parser then keeps its view in memory and hands over its address, and the final
 * *out = p is one block copy (a memcpy call, which the firmware links anyway) instead of ~20 field stores. */
static TD_NOINLINE td_status check_semantics(const td_profile_t *p)
{
    const uint8_t *h = p->blob;
    if (p->n_channels > TD_MAX_CHANNELS || p->n_dims > TD_MAX_DIMS || p->n_centroids > TD_MAX_CENTROIDS ||
        p->window > TD_MAX_WINDOW) {
        return TD_ERR_LIMIT;
    }
    if (p->outputs != NULL &&
        (p->outputs[OUT_N_CLASSES] > TD_MAX_CLASSES || p->outputs[OUT_N_BINS] > TD_MAX_CONFIDENCE_BINS)) {
        return TD_ERR_LIMIT;
    }
    if (p->n_channels == 0u || p->n_dims == 0u || p->n_centroids == 0u || p->window < 2u ||
        (p->flags & ~KNOWN_PROFILE_FLAGS) != 0u || !all_zero(h + OFF_RESERVED, TD_PROFILE_HEADER_SIZE - OFF_RESERVED) ||
        p->false_alarm_ppb > 1000000000u) {
        return TD_ERR_RANGE;
    }
    if (p->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        if (!TD_FEATURE_EXTERNAL) {
            return TD_ERR_MODE; /* this build has no external-embedding mode (td_config.h) */
        }
        if (p->feature_chart != NULL || p->proj_shift != 0u || p->ext_scale_q24 == 0u || p->ext_zero_point < -128 || p->ext_zero_point > 127) {
            return TD_ERR_RANGE;
        }
    } else if (p->proj_shift > MAX_PROJ_SHIFT || p->n_dims > p->n_features || p->ext_scale_q24 != 0u ||
               p->ext_zero_point != 0) {
        return TD_ERR_RANGE;
    }
    for (uint32_t c = 0; c < p->n_channels; c++) {
        const td_status st = check_channel(p->channels + c * TD_PROFILE_CHANNEL_SIZE, p->window, p->flags);
        if (st != TD_OK) {
            return st;
        }
    }
    for (uint32_t f = 0; f < p->n_features; f++) {
        const uint8_t *rec = p->features + f * TD_PROFILE_FEATURE_SIZE;
        const int32_t mu = td_load_i32(rec);
        const uint32_t inv_sigma = td_load_u32(rec + 4u);
        if (mu > MAX_ABS_FEATURE_MEAN_Q8 || mu < -MAX_ABS_FEATURE_MEAN_Q8 || inv_sigma == 0u ||
            inv_sigma > MAX_INV_SIGMA_Q24) {
            return TD_ERR_RANGE;
        }
    }
    if (p->projection != NULL) {
        const uint32_t used = (uint32_t)p->n_dims * p->n_features;
        const uint32_t padded = projection_size(p->n_dims, p->n_features, p->flags);
        if (!all_zero(p->projection + used, padded - used)) {
            return TD_ERR_RANGE;
        }
    }
    const uint32_t n_values = (uint32_t)p->n_centroids * p->n_dims;
    for (uint32_t i = 0; i < n_values; i++) {
        const int32_t c = td_load_i32(p->centroids + 4u * i);
        if (c > MAX_ABS_CENTROID_Q8 || c < -MAX_ABS_CENTROID_Q8) {
            return TD_ERR_RANGE;
        }
    }
    if (p->centroid_scales != NULL) {
        for (uint32_t k = 0; k < p->n_centroids; k++) {
            const uint8_t *row = p->centroid_scales + 4u * k * (p->n_dims + 1u);
            if (td_load_u32(row) > MAX_CENTROID_OFFSET_Q8) {
                return TD_ERR_RANGE;
            }
            for (uint32_t j = 1; j <= p->n_dims; j++) {
                const uint32_t inv_scale = td_load_u32(row + 4u * j);
                if (inv_scale == 0u || inv_scale > MAX_CENTROID_INV_SCALE_Q16) {
                    return TD_ERR_RANGE;
                }
            }
        }
    }
    /* The sections of features the build leaves out (td_config.h) are sized and covered by the CRC, never read. */
#if TD_FEATURE_OCCUPANCY
    if (p->occupancy != NULL) {
        const uint32_t n_windows = p->occupancy[4];
        const uint32_t used = 2u * p->n_centroids;
        if (n_windows > TD_MAX_OCCUPANCY_WINDOWS) {
            return TD_ERR_LIMIT;
        }
        if (n_windows < 2u || !all_zero(p->occupancy + 5u, 3u) ||
            !all_zero(p->occupancy + TD_PROFILE_OCCUPANCY_HEADER_SIZE + used, ((used + 3u) & ~3u) - used)) {
            return TD_ERR_RANGE;
        }
    }
#endif
#if TD_FEATURE_CHART || TD_FEATURE_ATTRIBUTION
    if (p->feature_chart != NULL) {
        const uint32_t n_roots = (uint32_t)p->n_centroids * p->n_features;
        for (uint32_t i = 0; i < n_roots; i++) {
            if (td_load_u32(p->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * i) > TD_PROFILE_CHART_MAX_ROOT) {
                return TD_ERR_RANGE;
            }
        }
    }
#endif
#if TD_FEATURE_OUTPUTS
    return p->outputs != NULL ? check_outputs(p->outputs) : TD_OK;
#else
    return TD_OK;
#endif
}

td_status td_profile_parse(td_profile_t *out, const uint8_t *blob, size_t len)
{
    if (out == NULL || blob == NULL) {
        return TD_ERR_ARG;
    }
    if (len < 4u) {
        return TD_ERR_TRUNCATED;
    }
    if (memcmp(blob + OFF_MAGIC, TD_PROFILE_MAGIC, 4u) != 0) {
        return TD_ERR_MAGIC;
    }
    if (len < TD_PROFILE_HEADER_SIZE) {
        return TD_ERR_TRUNCATED;
    }
    if (td_load_u16(blob + OFF_VERSION) != TD_PROFILE_VERSION) {
        return TD_ERR_VERSION;
    }
    if (td_load_u16(blob + OFF_HEADER_SIZE) != TD_PROFILE_HEADER_SIZE) {
        return TD_ERR_SIZE;
    }
    td_profile_t p;
    p.blob = blob;
    p.size = td_load_u32(blob + OFF_TOTAL_SIZE);
    p.profile_id = td_load_u32(blob + OFF_PROFILE_ID);
    p.n_channels = blob[OFF_N_CHANNELS];
    p.n_features = (uint8_t)(p.n_channels * TD_FEATURES_PER_CHANNEL);
    p.n_dims = blob[OFF_N_DIMS];
    p.n_centroids = blob[OFF_N_CENTROIDS];
    p.proj_shift = blob[OFF_PROJ_SHIFT];
    p.window = td_load_u16(blob + OFF_WINDOW);
    p.flags = td_load_u16(blob + OFF_FLAGS);
    p.false_alarm_ppb = td_load_u32(blob + OFF_FALSE_ALARM_PPB);
    p.cusum_k_q8 = td_load_u32(blob + OFF_CUSUM_K);
    p.cusum_h_q8 = td_load_u32(blob + OFF_CUSUM_H);
    p.instant_q8 = td_load_u32(blob + OFF_INSTANT);
    p.ext_scale_q24 = td_load_u32(blob + OFF_EXT_SCALE);
    p.ext_zero_point = td_load_i32(blob + OFF_EXT_ZERO_POINT);
    p.created_unix = td_load_u32(blob + OFF_CREATED);

    /* n_features is stored in 8 bits, so counts above 127 channels cannot be represented. */
    if (p.n_channels > 127u) {
        return TD_ERR_LIMIT;
    }
    uint32_t start[SEC_COUNT];
    const uint32_t fixed_end = centroids_end(p.n_channels, p.n_dims, p.n_centroids, p.flags, start);
    uint32_t expected = fixed_end + CRC_SIZE;
    if (p.flags & TD_PROFILE_FLAG_OUTPUTS) {
        /* The section stores its own counts (its first two bytes): they must be in the buffer to size it. */
        if (len < (size_t)fixed_end + 2u) {
            return TD_ERR_TRUNCATED;
        }
        expected += outputs_size(blob[fixed_end + OUT_N_CLASSES], blob[fixed_end + OUT_N_BINS]);
    }
    if (p.flags & TD_PROFILE_FLAG_NAMES) {
        /* The names section takes what lies between the sections and the CRC; only its size is checked: with a
         * maximum of 512, size - 4 must be one of 0, 4, ..., 508, i.e. have no bit outside 0x1FC (a total below the
         * sections wraps the subtraction and fails too). */
        const uint32_t names = p.size - expected;
        if (((names - 4u) & ~(TD_PROFILE_NAMES_MAX_SIZE - 4u)) != 0u) {
            return TD_ERR_SIZE;
        }
        expected = p.size;
    }
    if (p.size != expected) {
        return TD_ERR_SIZE;
    }
    if (len < p.size) {
        return TD_ERR_TRUNCATED;
    }
    const uint32_t body = p.size - CRC_SIZE;
    if (td_crc32_update(0u, blob, body) != td_load_u32(blob + body)) {
        return TD_ERR_CRC;
    }
    /* A projection section is present unless the embedding is external (with n_dims or n_channels 0 it is empty,
     * but check_semantics rejects those counts before it looks at any section). */
    p.channels = blob + start[SEC_CHANNELS];
    p.features = blob + start[SEC_FEATURES];
    p.projection = (p.flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) ? NULL : blob + start[SEC_PROJECTION];
    p.centroids = blob + start[SEC_CENTROIDS];
    p.centroid_scales = (p.flags & TD_PROFILE_FLAG_CENTROID_SCALES) ? blob + start[SEC_SCALES] : NULL;
    p.occupancy = (p.flags & TD_PROFILE_FLAG_OCCUPANCY) ? blob + start[SEC_OCCUPANCY] : NULL;
    p.feature_chart = (p.flags & TD_PROFILE_FLAG_FEATURE_CHART) ? blob + start[SEC_CHART] : NULL;
    p.outputs = (p.flags & TD_PROFILE_FLAG_OUTPUTS) ? blob + fixed_end : NULL;

    const td_status st = check_semantics(&p);
    if (st != TD_OK) {
        return st;
    }
    *out = p;
    return TD_OK;
}

td_status td_profile_channel(const td_profile_t *profile, uint8_t channel, td_channel_config_t *out)
{
    if (profile == NULL || out == NULL || channel >= profile->n_channels) {
        return TD_ERR_ARG;
    }
    decode_channel(profile->channels + (uint32_t)channel * TD_PROFILE_CHANNEL_SIZE, out);
    return TD_OK;
}

td_status td_profile_outputs(const td_profile_t *profile, td_outputs_config_t *out)
{
    if (profile == NULL || out == NULL) {
        return TD_ERR_ARG;
    }
    if (profile->outputs == NULL || !TD_FEATURE_OUTPUTS) {
        return TD_ERR_MODE;
    }
#if TD_FEATURE_OUTPUTS
    /* A parsed profile passes; a hand-made view must not overrun the arrays. */
    if (profile->outputs[OUT_N_CLASSES] > TD_MAX_CLASSES || profile->outputs[OUT_N_BINS] > TD_MAX_CONFIDENCE_BINS) {
        return TD_ERR_ARG;
    }
    decode_outputs(profile->outputs, out);
#endif
    return TD_OK;
}
