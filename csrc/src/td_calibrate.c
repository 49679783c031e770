/* td_calibrate.c - alarm counters for threshold calibration (host only). */
#include "tinydrift/td_calibrate.h"

#include <stddef.h>
#include <string.h>

td_status td_detector_count_alarms(const td_detector_params_t *params, const uint32_t *scores, uint32_t n,
                                   uint32_t *n_alarms)
{
    if (params == NULL || n_alarms == NULL || (scores == NULL && n > 0u)) {
        return TD_ERR_ARG;
    }
    td_detector_t det = {0u, 0u};
    uint32_t alarms = 0u;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t trigger = 0u;
        const td_status st = td_detector_update(&det, params, scores[i], &trigger); /* TD_OK: no NULL argument */
        if (st != TD_OK || trigger != 0u) {
            alarms++;
            det.cusum_q8 = 0u;
        }
    }
    *n_alarms = alarms;
    return TD_OK;
}

#if TD_FEATURE_CHART
td_status td_chart_count_alarms(uint32_t k_q8, uint32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows,
                                uint32_t n_features, uint32_t *n_alarms)
{
    if (n_alarms == NULL || (shifts_q8 == NULL && n_windows > 0u) || k_q8 > 0xFFFFu) {
        return TD_ERR_ARG;
    }
    if (n_features > TD_MAX_FEATURES) {
        return TD_ERR_LIMIT;
    }
    uint16_t stats[2u * TD_MAX_FEATURES];
    memset(stats, 0, sizeof stats);
    uint32_t alarms = 0u;
    for (uint32_t i = 0; n_features > 0u && i < n_windows; i++) {
        const uint32_t top = td_chart_step(stats, shifts_q8 + (size_t)i * n_features, n_features, k_q8);
        if (stats[top] > h_q8) {
            alarms++;
            memset(stats, 0, sizeof stats);
        }
    }
    *n_alarms = alarms;
    return TD_OK;
}
#endif
