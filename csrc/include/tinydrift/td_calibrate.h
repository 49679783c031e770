/* td_calibrate.h - alarm counters for threshold calibration on the host.
 *
 * The host (tinydrift.calibrate, tinydrift.build) sets a profile's thresholds by running the
 * device's own decision code over long resampled streams of held-out values and counting
 * alarms, resetting after each one as a user acknowledging an alarm would. Only the host calls
 * these; a firmware link drops them (--gc-sections), so they are not counted in the core's flash.
 *
 * Depends on: td_config.h, td_status.h, td_detector.h.
 */
#ifndef TINYDRIFT_TD_CALIBRATE_H
#define TINYDRIFT_TD_CALIBRATE_H

#include <stdint.h>

#include "tinydrift/td_config.h"
#include "tinydrift/td_detector.h"
#include "tinydrift/td_status.h"

/** Run a fresh detector over scores[0..n), resetting after each trigger; *n_alarms counts triggers. */
td_status td_detector_count_alarms(const td_detector_params_t *params, const uint32_t *scores, uint32_t n,
                                   uint32_t *n_alarms) TD_CHECK_RESULT;

/** Run a fresh feature chart over n_windows rows of n_features shifts (row-major, Q8), resetting every statistic
 *  after each alarm (largest statistic > h_q8); *n_alarms counts alarms. TD_ERR_LIMIT for n_features above
 *  TD_MAX_FEATURES, TD_ERR_ARG for k_q8 above 65535 or a NULL pointer. */
td_status td_chart_count_alarms(uint32_t k_q8, uint32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows,
                                uint32_t n_features, uint32_t *n_alarms) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_CALIBRATE_H */
