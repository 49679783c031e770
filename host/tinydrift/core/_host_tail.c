/* _host_tail.c - host-only helpers of the CFFI module for the build's predictive tails and feature chart (see
 * _host_tail.h). The tops of bootstrap resamples come from a count of each row's large indices (no sort: the values
 * are the same multiset in the same order as the sorted row's), and the chart's threshold search makes the probes
 * of the Python bisection it replaced, each stopping as soon as its alarms pass the budget (the same answers). */
#include "_host_tail.h"

#include <stddef.h>
#include <string.h>

#include "tinydrift/td_config.h"

/* Count the indices of one row at or above cutoff into counts[v - cutoff]; TD_ERR_ARG for one outside 0..n-1. */
static td_status count_row(const uint32_t *row, uint32_t n, uint32_t cutoff, uint32_t *counts, uint32_t *passed)
{
    uint32_t m = 0u;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t v = row[i];
        if (v >= n) {
            return TD_ERR_ARG;
        }
        if (v >= cutoff) {
            counts[v - cutoff]++;
            m++;
        }
    }
    *passed = m;
    return TD_OK;
}

td_status td_host_resample_tops(const uint32_t *idx, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                uint32_t *counts, double *out)
{
    if (idx == NULL || s == NULL || counts == NULL || out == NULL || keep == 0u || keep > n) {
        return TD_ERR_ARG;
    }
    /* keep + keep / 4 + 64 of n uniform indices lie at or above this cutoff on average, 7 sd and more above keep;
     * a row with fewer than keep there (rare for uniform draws; any row is handled) is counted again whole. */
    const uint64_t wide = (uint64_t)keep + keep / 4u + 64u;
    const uint32_t width = wide < n ? (uint32_t)wide : n;
    memset(counts, 0, (size_t)n * sizeof counts[0]);
    for (uint32_t r = 0; r < n_rows; r++) {
        const uint32_t *row = idx + (size_t)r * n;
        uint32_t cutoff = n - width;
        uint32_t passed = 0u;
        td_status st = count_row(row, n, cutoff, counts, &passed);
        if (st == TD_OK && passed < keep) {
            memset(counts, 0, (size_t)(n - cutoff) * sizeof counts[0]);
            cutoff = 0u;
            st = count_row(row, n, cutoff, counts, &passed);
        }
        if (st != TD_OK) {
            return st;
        }
        double *dest = out + (size_t)r * keep;
        uint32_t left = keep; /* filled from the largest index down */
        for (uint32_t v = n; v-- > cutoff && left > 0u;) {
            for (uint32_t c = counts[v - cutoff]; c > 0u && left > 0u; c--) {
                dest[--left] = s[v];
            }
        }
        memset(counts, 0, (size_t)(n - cutoff) * sizeof counts[0]);
    }
    return TD_OK;
}

#if TD_FEATURE_CHART
/* Lanes of the chart's statistics updated together: whole blocks of this many features, the padding ones 0 (a
 * statistic fed shift 0 from 0 stays 0, never above h). */
#define CHART_BLOCK 8u
#define CHART_LANES (((TD_MAX_FEATURES) + CHART_BLOCK - 1u) / CHART_BLOCK * CHART_BLOCK)

/* Whether the chart's alarms over the stream (a reset after each) exceed budget: it stops at the first past it.
 * Each statistic takes td_chart_step's saturating step, and a window alarms when its largest statistic (the one
 * td_chart_step returns) is above h, that is when any is: the same alarms as td_chart_count_alarms. The blocks of
 * a fixed number of lanes, without branches, let the compiler update several statistics per instruction. */
static int chart_over(int32_t k_q8, int32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                      uint32_t budget)
{
    int32_t up[CHART_LANES];
    int32_t down[CHART_LANES];
    int16_t row[CHART_LANES];
    const uint32_t lanes = (n_features + CHART_BLOCK - 1u) / CHART_BLOCK * CHART_BLOCK;
    memset(up, 0, sizeof up);
    memset(down, 0, sizeof down);
    memset(row, 0, sizeof row);
    uint32_t alarms = 0u;
    for (uint32_t i = 0; i < n_windows; i++) {
        memcpy(row, shifts_q8 + (size_t)i * n_features, (size_t)n_features * sizeof row[0]);
        int32_t over = 0;
        for (uint32_t b = 0; b < lanes; b += CHART_BLOCK) {
            int32_t *ub = up + b;
            int32_t *db = down + b;
            const int16_t *gb = row + b;
            for (uint32_t j = 0; j < CHART_BLOCK; j++) {
                int32_t u = ub[j] + gb[j] - k_q8;
                int32_t d = db[j] - gb[j] - k_q8;
                u = u < 0 ? 0 : (u > 0xFFFF ? 0xFFFF : u);
                d = d < 0 ? 0 : (d > 0xFFFF ? 0xFFFF : d);
                ub[j] = u;
                db[j] = d;
                over |= (u > h_q8) | (d > h_q8);
            }
        }
        if (over) {
            if (++alarms > budget) {
                return 1;
            }
            memset(up, 0, sizeof up);
            memset(down, 0, sizeof down);
        }
    }
    return 0;
}
#endif

td_status td_host_chart_threshold(uint32_t k_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                                  uint32_t budget, uint32_t *h_q8)
{
#if TD_FEATURE_CHART
    if (h_q8 == NULL || (shifts_q8 == NULL && n_windows > 0u) || k_q8 > 0xFFFFu) {
        return TD_ERR_ARG;
    }
    if (n_features > TD_MAX_FEATURES) {
        return TD_ERR_LIMIT;
    }
    uint32_t lo = 0u;
    uint32_t hi = 0xFFFFu; /* h = 65535 never fires: the statistics saturate there */
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2u;
        if (chart_over((int32_t)k_q8, (int32_t)mid, shifts_q8, n_windows, n_features, budget)) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    *h_q8 = lo;
    return TD_OK;
#else
    (void)k_q8;
    (void)shifts_q8;
    (void)n_windows;
    (void)n_features;
    (void)budget;
    (void)h_q8;
    return TD_ERR_ARG;
#endif
}
