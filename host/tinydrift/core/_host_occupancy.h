/* _host_occupancy.h - host-only helper of the CFFI module (not part of the C core, never built for a device).
 * Depends on: tinydrift/td_status.h.
 */
#ifndef TINYDRIFT_HOST_OCCUPANCY_H
#define TINYDRIFT_HOST_OCCUPANCY_H

#include <stdint.h>

#include "tinydrift/td_status.h"

/** G statistic (Q8) of every window of idx over the last n_windows (tinydrift.build.occupancy.statistic): out[i] =
 *  sum_k table[c_k] + c_k cost[k] - table[n_windows] for i >= n_windows - 1, else 0, with table[c] = c log2 c
 *  (n_windows + 1 entries) and counts scratch for n_cost centroids; TD_ERR_ARG for NULL, n_windows 0 or an index
 *  outside 0..n_cost-1. */
td_status td_host_occupancy_stat(const int64_t *idx, uint32_t n, const int64_t *cost, uint32_t n_cost,
                                 const int64_t *table, uint32_t n_windows, uint32_t *counts, int64_t *out);

/** Alarms over a stream's G statistics with a reset after each (tinydrift.build.occupancy.count_alarms): the
 *  first window from n_windows - 1 on whose stat exceeds threshold, then the first n_windows or more later, and so
 *  on; TD_ERR_ARG for NULL or n_windows 0. */
td_status td_host_occupancy_alarms(const int64_t *stat, uint32_t n, int64_t threshold, uint32_t n_windows,
                                   uint32_t *n_alarms);

#endif
