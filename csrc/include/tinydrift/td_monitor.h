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
 *   decision   CUSUM and instant threshold on score (td_detector.h), plus health; with a feature chart
 *              section, a signed CUSUM on every feature's fitted shift (td_chart_step)
 * With an outputs section in the profile (TD_PROFILE_FLAG_OUTPUTS) it also
 * monitors the classifier's outputs (td_outputs.h): td_monitor_push_outputs adds
 * one inference's int8 class probabilities to the current window and numbers it;
 * td_monitor_push_label later gives the true class of a numbered inference (one of
 * the last TD_MAX_PENDING_PREDICTIONS), which feeds DDM. A DDM drift during a
 * window raises TD_TRIGGER_CONCEPT and latches the alarm.
 * The monitor holds a pointer to the parsed profile; the profile's blob must
 * outlive the monitor. The monitor never allocates.
 *
 * Usage:
 *     td_monitor_t mon;
 *     td_window_result_t res[4];
 *     uint32_t n_res;
 *     td_monitor_init(&mon, &profile);
 *     td_monitor_push(&mon, frames, n_frames, res, 4, &n_res);
 *     td_monitor_push_outputs(&mon, probs, n_classes, &seq);   // outputs profiles: per inference
 *     td_monitor_push_label(&mon, seq, true_class);            // whenever ground truth arrives
 *
 * Depends on: td_config.h, td_status.h, td_stats.h, td_profile.h, td_detector.h, td_outputs.h.
 */
#ifndef TINYDRIFT_TD_MONITOR_H
#define TINYDRIFT_TD_MONITOR_H

#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_detector.h"
#include "tinydrift/td_outputs.h"
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
    uint8_t top_channel;     /**< channel blamed: in a CUSUM run blame_update (td_monitor.c), at a feature-chart alarm
                                  the chart's channel, otherwise the largest |z| */
    /* Model outputs (profiles with an outputs section; all 0 without one). */
    uint16_t n_inferences;            /**< inferences pushed during the window */
    uint8_t top_class;                /**< most frequent predicted class (0 without inferences) */
    uint8_t ddm_state;                /**< worst DDM verdict of the window's labels: TD_DDM_OK, _WARNING, _DRIFT */
    uint32_t mean_confidence_q16;     /**< mean top-1 confidence, Q16 */
    uint32_t estimated_accuracy_q16;  /**< label-free accuracy estimate, Q16 */
    uint32_t prior_shift_q16;         /**< total-variation distance of predicted classes to the prior, Q16 */
    uint16_t n_labels;                /**< labels received during the window */
    uint16_t n_correct;               /**< of which the prediction was right */
    uint32_t accuracy_q16;            /**< accuracy of all labelled predictions since init, Q16 (1.0 without labels) */
    int32_t occupancy_q8;    /**< occupancy statistic over the last n windows, bits Q8 (0 until n windows or without) */
    int16_t shift_q8[TD_MAX_FEATURES]; /**< PCA mode: fitted shift of each feature, Q8 z units (0 when not computed:
                                            outside a CUSUM run without a feature chart section) */
    uint16_t chart_q8;       /**< feature chart: its largest statistic after this window, Q8 (0 without the section) */
    td_channel_result_t channels[TD_MAX_CHANNELS]; /**< per-channel results, n_channels used */
} td_window_result_t;

/** Trigger bit: DDM signalled concept drift on the labels received during the window. */
#define TD_TRIGGER_CONCEPT 0x08u
/** Trigger bit: how often each centroid was the nearest over the last n windows left the reference mix. */
#define TD_TRIGGER_OCCUPANCY 0x10u
/** Trigger bit: the feature chart (a signed CUSUM per feature's fitted shift) passed its threshold. */
#define TD_TRIGGER_FEATURE 0x20u

/** Occupancy test state (profiles with an occupancy section); fields are private. */
typedef struct {
    uint8_t ring[TD_MAX_OCCUPANCY_WINDOWS]; /**< nearest centroid of the last n windows */
    uint8_t count[TD_MAX_CENTROIDS];        /**< windows of the ring per centroid */
    uint8_t pos;                            /**< next ring slot */
    uint8_t fill;                           /**< windows in the ring (saturates at n) */
    int32_t sum_q8;                         /**< sum_k count_k log2(count_k) + count_k cost_k, Q8 */
} td_occupancy_t;

/** Predictions remembered for late labels (a power of two, 2..128). */
#ifndef TD_MAX_PENDING_PREDICTIONS
#define TD_MAX_PENDING_PREDICTIONS 64
#endif
#if TD_MAX_PENDING_PREDICTIONS < 2 || TD_MAX_PENDING_PREDICTIONS > 128 ||                                           \
    (TD_MAX_PENDING_PREDICTIONS & (TD_MAX_PENDING_PREDICTIONS - 1)) != 0
#error "TD_MAX_PENDING_PREDICTIONS must be a power of two, 2..128"
#endif
#if TD_MAX_CLASSES > 128
#error "the monitor stores a predicted class in 7 bits: TD_MAX_CLASSES must be <= 128"
#endif

/** Model-output state of a monitor; fields are private. */
typedef struct {
    td_outputs_config_t cfg;   /**< decoded outputs section of the profile */
    td_outputs_acc_t acc;      /**< the current window's outputs */
    td_ddm_t ddm;              /**< concept drift on the labelled predictions */
    uint32_t seq;              /**< number the next inference gets (wraps at 2^32) */
    uint8_t predicted[TD_MAX_PENDING_PREDICTIONS]; /**< by seq % N: class, bit 7 set once labelled */
    uint8_t n_pending;         /**< valid entries of predicted (saturates at N) */
    uint8_t ddm_state;         /**< worst verdict in the current window */
    uint16_t n_labels;         /**< labels in the current window */
    uint16_t n_correct;        /**< correct ones among them */
} td_monitor_outputs_t;

/** Monitor state; fields are private. */
typedef struct {
    const td_profile_t *profile;            /**< parsed profile (caller-owned) */
    td_window_acc_t acc[TD_MAX_CHANNELS];   /**< current window per channel */
#if TD_FEATURE_LIFETIME
    td_lifetime_t life[TD_MAX_CHANNELS];    /**< lifetime statistics per channel */
#endif
    td_sample_rules_t rules[TD_MAX_CHANNELS]; /**< rails and sentinel per channel */
#if TD_FEATURE_EXTERNAL
    int32_t emb_sum[TD_MAX_DIMS];           /**< external mode: sum of pushed embeddings */
#endif
    td_detector_t detector;                 /**< decision state */
    uint32_t window_index;                  /**< index of the window being filled */
    uint16_t fill;                          /**< frames in the current window */
    uint16_t n_embeddings;                  /**< external mode: embeddings in the current window */
    uint8_t has_outputs;                    /**< 1 when the profile has an outputs section */
    uint8_t last_nearest;                   /**< nearest centroid of the last scored window (search hint) */
#if TD_FEATURE_OCCUPANCY
    td_occupancy_t occupancy;               /**< occupancy test (used with an occupancy section) */
#endif
#if TD_FEATURE_ATTRIBUTION
    uint32_t blame_q8[TD_MAX_CHANNELS];     /**< PCA mode: per channel, evidence summed over the current CUSUM run */
#endif
#if TD_FEATURE_CHART
    uint16_t chart_q8[2 * TD_MAX_FEATURES]; /**< feature chart: per feature, the up and down statistics, Q8 */
#endif
#if (TD_FEATURE_ATTRIBUTION || TD_FEATURE_CHART) && TD_OPTIMIZE_SPEED && defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    uint8_t inv_shift[TD_MAX_CENTROIDS];    /**< Cortex-M4 speed build: per centroid, the fitted shifts' scale shift */
#endif
#if TD_FEATURE_OUTPUTS
    td_monitor_outputs_t out;               /**< model-output monitoring (used when has_outputs) */
#endif
#if TD_HOST_X86
    /** x86-64 speed build, PCA mode: projection rows 2q and 2q + 1 as int16 pairs (P[2q][f], P[2q + 1][f]), features
     *  padded with zeros to a multiple of 8, for the fitted shifts (filled by td_monitor_init) */
    int16_t proj_pairs[(TD_MAX_DIMS + 1) / 2 * 2 * ((TD_MAX_FEATURES + 7) / 8 * 8)];
    /** x86-64 speed build, PCA mode: the projection by pairs of features, for the embedding: per pair (2p, 2p + 1)
     *  the int16 pairs (P[j][2p], P[j][2p + 1]) of every dimension j, dimensions padded with zeros to a multiple of 4
     *  (a missing last feature 0 too; filled by td_monitor_init) */
    int16_t proj_cols[(TD_MAX_FEATURES + 1) / 2 * 2 * ((TD_MAX_DIMS + 3) / 4 * 4)];
    /** x86-64 speed build, scaled profiles with a feature chart: per centroid, each inverse scale / 2^16 as a double
     *  (zeros past n_dims), for the fitted shifts (filled by td_monitor_init) */
    double fs_inv[TD_MAX_CENTROIDS * TD_MAX_DIMS];
    /** x86-64 speed build, as fs_inv: the centroids (Q8, zeros past n_dims) */
    int32_t fs_cent[TD_MAX_CENTROIDS * TD_MAX_DIMS];
    /** x86-64 speed build, as fs_inv: each inverse scale shifted right by its centroid's scale shift */
    int32_t fs_ivs[TD_MAX_CENTROIDS * TD_MAX_DIMS];
    /** x86-64 speed build, as fs_inv: each chart root's reciprocal rounded to a double, 0 for a root 0 */
    double fs_rinv[TD_MAX_CENTROIDS * TD_MAX_FEATURES];
    /** x86-64 speed build, scaled profiles with a feature chart: the projection as doubles for the fitted shifts'
     *  AVX2 sums, row j holding P[j][f] for every f, n_features padded with zeros to a multiple of 4 and zero rows
     *  up to a multiple of 4 */
    double fs_proj[(TD_MAX_DIMS + 3) / 4 * 4 * ((TD_MAX_FEATURES + 3) / 4 * 4)];
    /** x86-64 speed build, scaled profiles: the centroids by groups of eight, per dimension the group's eight values
     *  side by side (a last part group repeats its first centroid), for the AVX2 search (td_mon_nearest_prepare) */
    int32_t nc_cent[(TD_MAX_CENTROIDS + 7) / 8 * 8 * TD_MAX_DIMS];
    /** x86-64 speed build, as nc_cent: the inverse scales' high halves (inv >> 16) */
    uint32_t nc_inv_hi[(TD_MAX_CENTROIDS + 7) / 8 * 8 * TD_MAX_DIMS];
    /** x86-64 speed build, as nc_cent: the inverse scales' low halves (inv & 0xFFFF) */
    uint32_t nc_inv_lo[(TD_MAX_CENTROIDS + 7) / 8 * 8 * TD_MAX_DIMS];
    /** x86-64 speed build, as nc_cent: each group's offsets << 8, its even centroids then its odd ones */
    uint64_t nc_off[(TD_MAX_CENTROIDS + 7) / 8 * 8];
    /** x86-64 speed build: 1 when nc_cent, nc_inv_hi, nc_inv_lo and nc_off hold the profile's centroids */
    uint8_t nc_ready;
    /** x86-64 speed build: per feature, its reference mean as a double (zeros past n_features), for the close's z
     *  (filled by td_monitor_init) */
    double z_mu[TD_MAX_FEATURES];
    /** x86-64 speed build: per feature, its inverse sigma as a double (zeros past n_features) */
    double z_inv[TD_MAX_FEATURES];
    /** x86-64 speed build: per channel, the most missing samples allowed (zeros past n_channels) */
    int32_t lim_missing[TD_MAX_CHANNELS];
    /** x86-64 speed build: per channel, the most saturated samples allowed (zeros past n_channels) */
    int32_t lim_saturated[TD_MAX_CHANNELS];
    /** x86-64 speed build: per channel, the stuck tolerance + 1 with the stuck check, 0 without it */
    int32_t lim_stuck[TD_MAX_CHANNELS];
    /** x86-64 speed build: per channel, the std floor << 8 (log-std profiles) */
    int32_t std_floor8[TD_MAX_CHANNELS];
    /** x86-64 speed build, as nc_cent: each inverse scale shifted right by its centroid's fitted-shift scale shift
     *  (the bit length of the OR of its inverse scales less 15; td_mon_nearest_prepare) */
    int32_t nc_ivs[(TD_MAX_CENTROIDS + 7) / 8 * 8 * TD_MAX_DIMS];
    /** x86-64 speed build, as nc_cent: the AVX2 search's fitted-shift terms of every centroid, w_kj = sign(e_j - c_kj)
     *  min(scaled |e_j - c_kj|, INT16_MAX) nc_ivs_kj, for the fitted shifts of the window it searched */
    int32_t nc_w[(TD_MAX_CENTROIDS + 7) / 8 * 8 * TD_MAX_DIMS];
    /** x86-64 speed build: window_index + 1 of the window whose search filled nc_w (another value: none) */
    uint32_t nc_w_window;
    /** x86-64 speed build: channels 0-7's rail_lo then rail_hi, INT16_MAX and INT16_MIN where the rules are refused
     *  or past n_channels, for td_monitor_push's whole windows (filled by td_monitor_init) */
    int16_t fresh_rails[16];
    /** x86-64 speed build: 1 when td_monitor_push adds whole windows by td_window_add_fresh (AVX2, 5-8 channels) */
    uint8_t fresh_ok;
#endif
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

/** Outputs profiles: add one inference's int8 class probabilities (n_classes values, the profile's) to the current
 *  window; *inference_seq (may be NULL) gets its number for td_monitor_push_label: 0 for the first after init, then
 *  consecutive (mod 2^32). TD_ERR_MODE without an outputs section, TD_ERR_ARG for a wrong n_classes,
 *  TD_ERR_CAPACITY when the window already holds 65535 inferences; on error nothing changes. */
td_status td_monitor_push_outputs(td_monitor_t *mon, const int8_t *probs, uint32_t n_classes,
                                  uint32_t *inference_seq) TD_CHECK_RESULT;

/** Outputs profiles: the true class of inference inference_seq. Feeds DDM (correct = predicted == label) and counts
 *  the label in the current window. TD_ERR_MODE without an outputs section; TD_ERR_RANGE if that inference is not
 *  among the last TD_MAX_PENDING_PREDICTIONS or not pushed yet; TD_ERR_ARG if label >= n_classes; TD_ERR_STATE if it
 *  was labelled already; TD_ERR_CAPACITY after 65535 labels in one window. On error nothing changes. */
td_status td_monitor_push_label(td_monitor_t *mon, uint32_t inference_seq, uint8_t label) TD_CHECK_RESULT;

/** Clear the latched alarm, the CUSUM statistic, the feature chart and the occupancy ring. */
td_status td_monitor_reset_alarm(td_monitor_t *mon) TD_CHECK_RESULT;

/** Copy channel's lifetime statistics (merged over all completed windows). */
td_status td_monitor_lifetime(const td_monitor_t *mon, uint8_t channel, td_lifetime_t *out) TD_CHECK_RESULT;

/** 256 * log2(x) with the integer part exact and 8 fraction bits by repeated squaring (truncated); 0 for x = 0.
 *  Total. The monitor's log-std feature (TD_PROFILE_FLAG_LOG_STD) is built on it. */
uint32_t td_log2_q8(uint32_t x);

#endif /* TINYDRIFT_TD_MONITOR_H */
