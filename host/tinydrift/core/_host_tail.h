/* _host_tail.h - host-only helpers of the CFFI module for the build's tails and chart (not part of the C core,
 * never built for a device).
 * Depends on: tinydrift/td_status.h.
 */
#ifndef TINYDRIFT_HOST_TAIL_H
#define TINYDRIFT_HOST_TAIL_H

#include <stdint.h>

#include "tinydrift/td_status.h"

/** Top of each bootstrap resample (tinydrift.build.tail_batch.resample_tops): for each of n_rows rows of n indices
 *  into the n ascending values s, the values s[v] of the row's keep largest indices, ascending, in out (n_rows x
 *  keep); counts is scratch of n entries. TD_ERR_ARG for NULL, keep 0 or above n, or an index outside 0..n-1. */
td_status td_host_resample_tops(const uint32_t *idx, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                uint32_t *counts, double *out);

/** The state of numpy's PCG64 bit generator (numpy.random.PCG64 .state): the 128-bit LCG state and increment as
 *  64-bit halves, and the spare upper half of a 64-bit output that the next 32-bit draw returns first. */
typedef struct {
    uint64_t state_hi;
    uint64_t state_lo;
    uint64_t inc_hi;
    uint64_t inc_lo;
    uint32_t has_uint32;
    uint32_t uinteger;
} td_host_pcg64_t;

/** td_host_resample_tops of n_rows x n indices drawn from rng as numpy's Generator.integers(0, n, size=(n_rows, n),
 *  dtype=np.uint32) draws them (32-bit Lemire rejection; nothing drawn when n is 1), rng left where numpy leaves
 *  it; the indices are counted as they are drawn, never stored (a row is drawn again from its starting state when
 *  too few passed the cutoff). TD_ERR_ARG for NULL, keep 0 or above n. */
td_status td_host_bootstrap_tops(td_host_pcg64_t *rng, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                 uint32_t *counts, double *out);

/** Smallest h (Q8) in 0..65535 whose feature-chart alarms (td_chart_count_alarms) over n_windows rows of
 *  n_features shifts are at most budget, by the bisection tinydrift.build.calibrate.chart_threshold runs, each
 *  probe stopping once it passes the budget; TD_ERR_ARG for NULL or k_q8 above 65535, TD_ERR_LIMIT for too many
 *  features. */
td_status td_host_chart_threshold(uint32_t k_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                                  uint32_t budget, uint32_t *h_q8);

#endif
