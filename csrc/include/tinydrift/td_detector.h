/* td_detector.h - sequential decision on the score stream: one-sided CUSUM plus an instant threshold.
 *
 *   S_t = max(0, S_{t-1} + s_t - k)      (saturating uint32, Q8 score units)
 *   trigger CUSUM   when S_t > h
 *   trigger INSTANT when s_t > instant
 * An alarm latches until td_detector_reset(), which also clears S.
 * k, h and instant are calibrated on the host by running this code over
 * held-out reference scores (tinydrift.calibrate).
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

/** Run a fresh detector over scores[0..n), resetting after each trigger; *n_alarms counts triggers (for calibration). */
td_status td_detector_count_alarms(const td_detector_params_t *params, const uint32_t *scores, uint32_t n,
                                   uint32_t *n_alarms) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_DETECTOR_H */
