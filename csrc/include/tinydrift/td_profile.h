/* td_profile.h - reference profile: a versioned little-endian blob, validated and viewed in place.
 *
 * The blob is built on the host (tinydrift.build_profile) and checked by this
 * same parser on the host before upload and on the device after. Parsing never
 * copies: td_profile_t points into the caller's buffer, which must outlive it
 * (on a device the buffer is usually a flash slot). Layout: docs/profile-format.md.
 *
 * Usage:
 *     td_profile_t prof;
 *     if (td_profile_parse(&prof, blob, blob_len) != TD_OK) { reject(); }
 *
 * Depends on: td_config.h, td_status.h, td_crc32.h, td_outputs.h (td_outputs_config_t).
 */
#ifndef TINYDRIFT_TD_PROFILE_H
#define TINYDRIFT_TD_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_outputs.h"
#include "tinydrift/td_status.h"

/** Magic bytes at offset 0 of every profile: "TDPF". */
#define TD_PROFILE_MAGIC "TDPF"
/** Format version this parser reads. */
#define TD_PROFILE_VERSION 1u
/** Size of the fixed header in bytes. */
#define TD_PROFILE_HEADER_SIZE 64u
/** Size of one per-channel record in bytes. */
#define TD_PROFILE_CHANNEL_SIZE 24u
/** Size of one per-feature record (mu_q8, inv_sigma_q24) in bytes. */
#define TD_PROFILE_FEATURE_SIZE 8u
/** Fractional bits of a feature's inverse standard deviation. */
#define TD_INV_SIGMA_SHIFT 24u
/** Fractional bits of the external embedding scale. */
#define TD_EXT_SCALE_SHIFT 24u
/** Fractional bits of a centroid's per-dimension inverse scale (centroid scales section). */
#define TD_CENTROID_SCALE_SHIFT 16u
/** Fixed part of the outputs section (n_classes, n_bins, reserved, scale_q24, zero_point) in bytes. */
#define TD_PROFILE_OUTPUTS_HEADER_SIZE 12u

/** Profile flag: scores come from an application-supplied int8 embedding, not the PCA projection. */
#define TD_PROFILE_FLAG_EXTERNAL_EMBEDDING 0x0001u
/** Profile flag: an outputs section (model-output monitoring, td_outputs.h) follows the centroids. */
#define TD_PROFILE_FLAG_OUTPUTS 0x0002u
/** Profile flag: feature 2c+1 is log2(std + std_floor) of channel c (Q8, td_log2_q8), not the std itself. */
#define TD_PROFILE_FLAG_LOG_STD 0x0004u
/** Profile flag: a centroid scales section (per centroid an offset and per-dimension inverse scales) follows the
 *  centroids, and the distance to each centroid is measured in its own scale. */
#define TD_PROFILE_FLAG_CENTROID_SCALES 0x0008u

/** Profile flag: an occupancy section (threshold, window count, per-centroid cost) follows the centroid scales; the
 *  monitor tests how often each centroid is the nearest over the last n windows against the reference. */
#define TD_PROFILE_FLAG_OCCUPANCY 0x0010u
/** Fixed part of the occupancy section (threshold_q8, n_windows, reserved) in bytes. */
#define TD_PROFILE_OCCUPANCY_HEADER_SIZE 8u
/** Profile flag (PCA mode only): a feature chart section (k_q8, h_q8, per centroid and feature the root of the
 *  fitted shift's norm) follows the occupancy section; the monitor then runs a signed CUSUM per feature. */
#define TD_PROFILE_FLAG_FEATURE_CHART 0x0020u
/** Fixed part of the feature chart section (k_q8, h_q8) in bytes. */
#define TD_PROFILE_CHART_HEADER_SIZE 4u
/** Largest root in a feature chart section: floor(sqrt(d)) with d < 2^50 (docs/profile-format.md). */
#define TD_PROFILE_CHART_MAX_ROOT (1u << 25)
/** Profile flag: a channel names section (host data, inert for the monitor) sits between the last section and the
 *  CRC; the parser checks only its size: a multiple of 4 from 4 to TD_PROFILE_NAMES_MAX_SIZE bytes. */
#define TD_PROFILE_FLAG_NAMES 0x0040u
/** Largest channel names section in bytes. */
#define TD_PROFILE_NAMES_MAX_SIZE 512u

/** Channel flag: raise the stuck health event when the window does not vary. */
#define TD_CHANNEL_FLAG_STUCK_CHECK 0x0001u
/** Channel flag: samples equal to the sentinel are missing (excluded from statistics). */
#define TD_CHANNEL_FLAG_SENTINEL 0x0002u

/** Decoded header plus pointers into the validated blob; fields are read-only for callers. */
typedef struct {
    const uint8_t *blob;         /**< start of the blob (caller-owned) */
    uint32_t size;               /**< total size in bytes, CRC included */
    uint32_t profile_id;         /**< identifier reported in telemetry */
    uint32_t created_unix;       /**< build time, seconds since 1970 (informational) */
    uint16_t flags;              /**< TD_PROFILE_FLAG_* */
    uint16_t window;             /**< frames per tumbling window */
    uint8_t n_channels;          /**< channels per frame */
    uint8_t n_features;          /**< window features = 2 * n_channels */
    uint8_t n_dims;              /**< embedding dimensions */
    uint8_t n_centroids;         /**< reference centroids */
    uint8_t proj_shift;          /**< projection entries are int8 / 2^proj_shift */
    uint32_t false_alarm_ppb;    /**< false-alarm rate per window it was calibrated for, parts per 10^9 */
    uint32_t cusum_k_q8;         /**< CUSUM reference value (score units, Q8) */
    uint32_t cusum_h_q8;         /**< CUSUM decision threshold (Q8) */
    uint32_t instant_q8;         /**< instant score threshold (Q8) */
    uint32_t ext_scale_q24;      /**< external embedding scale, Q24 */
    int32_t ext_zero_point;      /**< external embedding zero point */
    const uint8_t *channels;     /**< n_channels records of TD_PROFILE_CHANNEL_SIZE */
    const uint8_t *features;     /**< n_features records of TD_PROFILE_FEATURE_SIZE */
    const uint8_t *projection;   /**< n_dims x n_features int8, row-major (NULL in external mode) */
    const uint8_t *centroids;    /**< n_centroids x n_dims int32 Q8, row-major */
    const uint8_t *centroid_scales; /**< per centroid: uint32 offset_q8, n_dims uint32 inv_scale_q16; NULL without */
    const uint8_t *occupancy;    /**< occupancy section (TD_PROFILE_FLAG_OCCUPANCY), NULL when absent */
    const uint8_t *feature_chart; /**< feature chart section (TD_PROFILE_FLAG_FEATURE_CHART), NULL when absent */
    const uint8_t *outputs;      /**< outputs section (TD_PROFILE_FLAG_OUTPUTS), NULL when absent */
} td_profile_t;

/** Per-channel settings decoded from a profile. */
typedef struct {
    int16_t rail_lo;             /**< samples <= rail_lo count as saturated */
    int16_t rail_hi;             /**< samples >= rail_hi count as saturated */
    int16_t sentinel;            /**< missing-value marker (if TD_CHANNEL_FLAG_SENTINEL) */
    uint16_t flags;              /**< TD_CHANNEL_FLAG_* */
    uint16_t stuck_tolerance;    /**< window max - min <= this counts as stuck */
    uint16_t max_missing;        /**< missing samples per window tolerated before a health event */
    uint16_t max_saturated;      /**< saturated samples per window tolerated before a health event */
    uint16_t std_floor;          /**< TD_PROFILE_FLAG_LOG_STD: LSB added to the std before its log (else 0) */
    int32_t ref_mean_q8;         /**< reference per-sample mean, Q8 (informational) */
    int32_t ref_std_q8;          /**< reference per-sample standard deviation, Q8 (informational) */
} td_channel_config_t;

/** Validate blob[0..len) completely and fill *out with a view into it; len may exceed the profile. */
td_status td_profile_parse(td_profile_t *out, const uint8_t *blob, size_t len) TD_CHECK_RESULT;

/** Decode channel settings of a parsed profile; TD_ERR_ARG if channel >= n_channels. */
td_status td_profile_channel(const td_profile_t *profile, uint8_t channel, td_channel_config_t *out) TD_CHECK_RESULT;

/** Decode the outputs section of a parsed profile into *out; TD_ERR_MODE when the profile has none. */
td_status td_profile_outputs(const td_profile_t *profile, td_outputs_config_t *out) TD_CHECK_RESULT;

/** Size in bytes a profile with these counts occupies; total. 0 if a count is out of range or flags has
 *  TD_PROFILE_FLAG_OUTPUTS (that size depends on the section's counts: td_profile_size_outputs). */
uint32_t td_profile_size(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags);

/** Size in bytes of a profile with these counts; with TD_PROFILE_FLAG_OUTPUTS in flags it includes an outputs
 *  section of n_classes classes and n_bins bins (otherwise those two are ignored). 0 if a count is out of range. */
uint32_t td_profile_size_outputs(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags,
                                 uint8_t n_classes, uint8_t n_bins);

#endif /* TINYDRIFT_TD_PROFILE_H */
