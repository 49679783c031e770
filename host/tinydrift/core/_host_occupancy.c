/* _host_occupancy.c - the occupancy G statistic over a long calibration stream in one O(n) pass (host-only helper
 * of the CFFI module). Integer arithmetic throughout: the running sum, updated as a window enters and leaves,
 * equals the per-window sum of the numpy version it replaced (one pass per centroid) bit for bit. */
#include "_host_occupancy.h"

#include <stddef.h>
#include <string.h>

td_status td_host_occupancy_stat(const int64_t *idx, uint32_t n, const int64_t *cost, uint32_t n_cost,
                                 const int64_t *table, uint32_t n_windows, uint32_t *counts, int64_t *out) {
    if (idx == NULL || cost == NULL || table == NULL || counts == NULL || (out == NULL && n > 0u) ||
        n_windows == 0u) {
        return TD_ERR_ARG;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= (int64_t)n_cost) {
            return TD_ERR_ARG;
        }
    }
    if (n > 0u) {
        memset(out, 0, (size_t)n * sizeof out[0]);
    }
    if (n < n_windows) {
        return TD_OK;
    }
    if (n_cost > 0u) {
        memset(counts, 0, (size_t)n_cost * sizeof counts[0]);
    }
    int64_t g = -table[n_windows]; /* every count 0: table[0] = 0 and no cost yet */
    for (uint32_t i = 0; i < n; i++) {
        if (i >= n_windows) { /* the oldest window leaves first: no count ever exceeds n_windows */
            const uint32_t gone = (uint32_t)idx[i - n_windows];
            g -= table[counts[gone]] - table[counts[gone] - 1u] + cost[gone];
            counts[gone]--;
        }
        const uint32_t in = (uint32_t)idx[i];
        g += table[counts[in] + 1u] - table[counts[in]] + cost[in];
        counts[in]++;
        if (i + 1u >= n_windows) {
            out[i] = g;
        }
    }
    return TD_OK;
}

td_status td_host_occupancy_alarms(const int64_t *stat, uint32_t n, int64_t threshold, uint32_t n_windows,
                                   uint32_t *n_alarms) {
    if ((stat == NULL && n > 0u) || n_alarms == NULL || n_windows == 0u) {
        return TD_ERR_ARG;
    }
    uint32_t alarms = 0u;
    uint64_t i = (uint64_t)n_windows - 1u;
    while (i < n) {
        if (stat[i] > threshold) { /* an alarm resets the test: the next may come n_windows later */
            alarms++;
            i += n_windows;
        } else {
            i++;
        }
    }
    *n_alarms = alarms;
    return TD_OK;
}
