/* td_monitor.h - the drift monitor: window statistics, health, embedding, scores and decision.
 *
 * A monitor consumes int16 frames of n_channels samples in blocks and emits one
 * td_window_result_t per completed tumbling window of profile->window frames.
 * Per window it computes, in integer arithmetic only:
 *   features   f[2c] = mean_q8, f[2c+1] = std_q8 of channel c's valid samples
 *   z          z_q8 = round((f - mu_q8) * inv_sigma_q24 / 2^24), clamped to int16
 *   embedding  PCA mode:      e_q8[j] = round(sum_f P[j][f] * z_q8[f] / 2^proj_shift)
 *              external mode: mean of the int8 embeddings pushed during the window,
 *                             dequantized: (q - zero_point) * scale
 *   scores     dist  = min_k |e - c_k|^2 (Q8), recon = |z - P^T e|^2 (Q8, PCA mode),
 *              score = dist + recon (saturating)
 *   decision   CUSUM and instant threshold on score (td_detector.h), plus health
 * The monitor holds a pointer to the parsed profile; the profile's blob must
 * outlive the monitor. The monitor never allocates.
 *
 * Usage:
 *     td_monitor_t mon;
 *     td_window_result_t res[4];
 *     uint32_t n_res;
 *     td_monitor_init(&mon, &profile);
 *     td_monitor_push(&mon, frames, n_frames, res, 4, &n_res);
 *
 * Depends on: td_config.h, td_status.h, td_stats.h, td_profile.h, td_detector.h.
 */
#ifndef TINYDRIFT_TD_MONITOR_H
#define TINYDRIFT_TD_MONITOR_H

#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_detector.h"
#include "tinydrift/td_profile.h"
#include "tinydrift/td_stats.h"
#include "tinydrift/td_status.h"

/** Per-channel statistics and health of one window. */
typedef struct {
    int64_t sumsq;        /**< exact sum of squares of valid samples */
    int32_t sum;          /**< exact sum of valid samples */
    int32_t mean_q8;      /**< mean of valid samples, Q8 */
    int32_t std_q8;       /**< population standard deviation of valid samples, Q8 */
    int16_t min;          /**< smallest valid sample (INT16_MAX when none) */
    int16_t max;          /**< largest valid sample (INT16_MIN when none) */
    int16_t z_mean_q8;    /**< standardized mean feature, Q8 */
    int16_t z_std_q8;     /**< standardized std feature, Q8 */
    uint16_t n_missing;   /**< samples equal to the sentinel */
    uint16_t n_saturated; /**< samples at or beyond a rail */
} td_channel_result_t;

/** Everything the monitor knows about one completed window. */
typedef struct {
    uint32_t window_index;   /**< 0 for the first window after init */
    uint32_t score_q8;       /**< dist_q8 + recon_q8, saturating */
    uint32_t dist_q8;        /**< squared distance to the nearest centroid */
    uint32_t recon_q8;       /**< squared PCA reconstruction error (0 in external mode) */
    uint32_t cusum_q8;       /**< CUSUM statistic after this window */
    int32_t embedding_q8[TD_MAX_DIMS]; /**< the window's embedding */
    uint16_t n_embeddings;   /**< external mode: embeddings pushed during the window */
    uint16_t stuck_mask;     /**< bit c: channel c stuck (where its profile enables the check) */
    uint16_t saturated_mask; /**< bit c: channel c had more saturated samples than allowed */
    uint16_t missing_mask;   /**< bit c: channel c had more missing samples than allowed */
    uint8_t trigger;         /**< TD_TRIGGER_* bits raised by this window */
    uint8_t alarm;           /**< 1 while the alarm is latched (including by this window) */
    uint8_t nearest;         /**< index of the nearest centroid */
    uint8_t top_channel;     /**< channel with the largest |z| of mean or std */
    td_channel_result_t channels[TD_MAX_CHANNELS]; /**< per-channel results, n_channels used */
} td_window_result_t;

/** Monitor state; fields are private. */
typedef struct {
    const td_profile_t *profile;            /**< parsed profile (caller-owned) */
    td_window_acc_t acc[TD_MAX_CHANNELS];   /**< current window per channel */
    td_lifetime_t life[TD_MAX_CHANNELS];    /**< lifetime statistics per channel */
    td_sample_rules_t rules[TD_MAX_CHANNELS]; /**< rails and sentinel per channel */
    int32_t emb_sum[TD_MAX_DIMS];           /**< external mode: sum of pushed embeddings */
    td_detector_t detector;                 /**< decision state */
    uint32_t window_index;                  /**< index of the window being filled */
    uint16_t fill;                          /**< frames in the current window */
    uint16_t n_embeddings;                  /**< external mode: embeddings in the current window */
} td_monitor_t;

/** Most embeddings one window accepts in external mode (keeps the int32 sums exact). */
#define TD_MAX_EMBEDDINGS_PER_WINDOW 65535u

/** Bind a monitor to a parsed profile and clear all state. */
td_status td_monitor_init(td_monitor_t *mon, const td_profile_t *profile) TD_CHECK_RESULT;

/** Consume n_frames frames (n_channels int16 each, interleaved); write one result per completed window.
 *  Returns TD_ERR_CAPACITY and consumes nothing if more than cap windows would complete. */
td_status td_monitor_push(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *results,
                          uint32_t cap, uint32_t *n_results) TD_CHECK_RESULT;

/** External mode: add one int8 embedding of n_dims values to the current window (TD_ERR_MODE in PCA mode). */
td_status td_monitor_push_embedding(td_monitor_t *mon, const int8_t *embedding, uint32_t len) TD_CHECK_RESULT;

/** Clear the latched alarm and the CUSUM statistic. */
td_status td_monitor_reset_alarm(td_monitor_t *mon) TD_CHECK_RESULT;

/** Copy channel's lifetime statistics (merged over all completed windows). */
td_status td_monitor_lifetime(const td_monitor_t *mon, uint8_t channel, td_lifetime_t *out) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_MONITOR_H */
