/* td_detector.h - sequential decision on the score stream: one-sided CUSUM plus an instant threshold.
 *
 *   S_t = max(0, S_{t-1} + s_t - k)      (saturating uint32, Q8 score units)
 *   trigger CUSUM   when S_t > h
 *   trigger INSTANT when s_t > instant
 * An alarm latches until td_detector_reset(), which also clears S.
 * k, h and instant are calibrated on the host by running this code over
 * held-out reference scores (td_calibrate.h, tinydrift.calibrate).
 *
 * The feature chart (profiles with a feature chart section) runs two such CUSUMs per feature, on the
 * window's fitted shift g_f of that feature and on -g_f (Q8 z units, td_monitor.c fitted_shifts):
 *   U_f = clamp(U_f + g_f - k, 0, 65535),  D_f = clamp(D_f - g_f - k, 0, 65535)   (uint16, Q8)
 * and the monitor raises TD_TRIGGER_FEATURE when the largest exceeds h.
 *
 * Depends on: td_status.h.
 */
#ifndef TINYDRIFT_TD_DETECTOR_H
#define TINYDRIFT_TD_DETECTOR_H

#include <stdint.h>

#include "tinydrift/td_status.h"

/** Trigger bit: the window's score exceeded the instant threshold. */
#define TD_TRIGGER_INSTANT 0x01u
/** Trigger bit: the CUSUM statistic exceeded its threshold. */
#define TD_TRIGGER_CUSUM 0x02u
/** Trigger bit: a sensor-health event (stuck, saturated, missing) beyond the profile's limits. */
#define TD_TRIGGER_HEALTH 0x04u

/** Detector thresholds, all in Q8 score units. */
typedef struct {
    uint32_t k_q8;        /**< CUSUM reference value subtracted from each score */
    uint32_t h_q8;        /**< CUSUM decision threshold */
    uint32_t instant_q8;  /**< instant threshold on a single score */
} td_detector_params_t;

/** Detector state; fields are private. */
typedef struct {
    uint32_t cusum_q8;    /**< CUSUM statistic S */
    uint8_t alarm;        /**< 1 while an alarm is latched */
} td_detector_t;

/** Clear the CUSUM statistic and the latched alarm. */
td_status td_detector_reset(td_detector_t *det) TD_CHECK_RESULT;

/** Feed one score; *trigger receives this window's TD_TRIGGER_* bits (0 if none); a trigger latches the alarm. */
td_status td_detector_update(td_detector_t *det, const td_detector_params_t *params, uint32_t score_q8,
                             uint8_t *trigger) TD_CHECK_RESULT;


/** Feature chart step: stats[2f] += shift_q8[f] - k_q8 and stats[2f + 1] += -shift_q8[f] - k_q8, each clamped to
 *  0..65535 (k_q8 <= 65535); returns the index of the largest statistic after the step (ties: lowest). Total. */
uint32_t td_chart_step(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8);


#endif /* TINYDRIFT_TD_DETECTOR_H */
