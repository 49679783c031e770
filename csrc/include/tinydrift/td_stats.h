/* td_stats.h - exact window statistics and fixed-point lifetime statistics.
 *
 * Window statistics are exact integers: per channel the sum (int32) and sum of
 * squares (int64) of the valid samples, their min and max. Derived values:
 *   mean_q8 = round(sum * 256 / n)                   ties away from zero
 *   var_q32 = round((n*sumsq - sum^2) * 2^32 / n^2)   population variance
 *   std_q8  = (isqrt(var_q32) + 128) >> 8            isqrt = floor square root
 * Scaling and overflow: n <= 1024 and |x| <= 32768 bound sum by 2^25 and
 * n*sumsq - sum^2 by 2^50, so no intermediate overflows; nothing saturates.
 * mean_q8 is within 1/512 LSB of the exact mean (it is the exact mean rounded);
 * std_q8 within 1/512 + 1/65536 LSB of the exact population standard deviation.
 *
 * The window accumulator's hot loop costs one load, one compare against a
 * "band" [band_lo, band_lo + band_span] and a 64-bit multiply-accumulate per
 * sample: a sample inside the band cannot change min/max and is neither a rail
 * nor the sentinel, so only samples outside it take the bookkeeping path.
 *
 * Lifetime statistics keep the exact count, sum and sum of squares of every
 * valid sample merged (128-bit sum of squares), so a merge is a few additions
 * and never rounds; td_lifetime_get rounds the mean and variance once, in the
 * same formats as a window's (Q32). See docs/algorithm.md ("Lifetime
 * statistics").
 *
 * Depends on: td_status.h.
 */
#ifndef TINYDRIFT_TD_STATS_H
#define TINYDRIFT_TD_STATS_H

#include <stdint.h>

#include "tinydrift/td_status.h"

/** Running accumulator for one channel of one window; fields are private. */
typedef struct {
    int64_t sumsq;       /**< sum of squares of valid samples */
    int32_t sum;         /**< sum of valid samples */
    int32_t band_lo;     /**< fast-path band: samples in [band_lo, band_lo+band_span] need no bookkeeping */
    uint32_t band_span;  /**< width of the fast-path band */
    int16_t min;         /**< smallest valid sample (INT16_MAX when none) */
    int16_t max;         /**< largest valid sample (INT16_MIN when none) */
    uint16_t n_missing;  /**< samples equal to the sentinel */
    uint16_t n_saturated;/**< samples at or beyond a rail */
    uint16_t n_samples;  /**< samples added, valid or missing */
} td_window_acc_t;

/** Most samples one window accumulator takes (keeps the int32 sum exact). */
#define TD_WINDOW_ACC_MAX_SAMPLES 1024u

/** How samples of one channel are classified: rails count as saturated, the sentinel as missing. */
typedef struct {
    int16_t rail_lo;     /**< samples <= rail_lo are saturated */
    int16_t rail_hi;     /**< samples >= rail_hi are saturated */
    int16_t sentinel;    /**< missing-value marker, if use_sentinel */
    uint8_t use_sentinel;/**< 1: samples equal to sentinel are missing and excluded */
} td_sample_rules_t;

/** Lifetime statistics of one channel: exact sums; fields are private, read them with td_lifetime_get. */
typedef struct {
    uint64_t n;          /**< valid samples merged, <= TD_LIFETIME_MAX_SAMPLES */
    int64_t sum;         /**< sum of the samples */
    uint64_t sumsq_lo;   /**< sum of their squares, low 64 bits */
    uint64_t sumsq_hi;   /**< sum of their squares, bits 64 and up (< 2^14) */
} td_lifetime_t;

/** Most samples a lifetime takes (2^48: 8,900 years at 1 kHz); keeps every sum exact. */
#define TD_LIFETIME_MAX_SAMPLES ((uint64_t)1 << 48)

/** Empty a window accumulator. */
td_status td_window_reset(td_window_acc_t *acc) TD_CHECK_RESULT;

/** Add n samples read at samples[0], samples[stride], ...; window <= 1024 samples; TD_ERR_ARG unless rail_lo < rail_hi and the sentinel (if used) lies outside (rail_lo, rail_hi). */
td_status td_window_add(td_window_acc_t *acc, const td_sample_rules_t *rules, const int16_t *samples,
                        uint32_t stride, uint32_t n) TD_CHECK_RESULT;

/** Mean in Q8 of n <= 1024 int16 samples with exact sum, rounded half away from zero; total (n == 0 or n > 1024 gives 0, |sum| is clamped to 32768 n). */
int32_t td_mean_q8(int32_t sum, uint32_t n);

/** Population variance in Q32 from exact sum and sum of squares of n <= 1024 int16 samples; total (n == 0 or n > 1024 gives 0, sumsq is clamped to [0, 2^30 n]). */
uint64_t td_var_q32(int32_t sum, int64_t sumsq, uint32_t n);

/** Standard deviation in Q8 from a Q32 variance: (floor(sqrt(var_q32)) + 128) >> 8; total. */
int32_t td_std_q8(uint64_t var_q32);

/** Floor of the square root of a 64-bit value; total. */
uint32_t td_isqrt64(uint64_t value);

/** Reset a lifetime accumulator to empty. */
td_status td_lifetime_init(td_lifetime_t *life) TD_CHECK_RESULT;

/** Read lifetime count, mean (Q32, rounded half away from zero) and population variance (Q32, as td_var_q32) of the merged samples; (0, 0, 0) when empty. */
td_status td_lifetime_get(const td_lifetime_t *life, uint64_t *n, int64_t *mean_q32, uint64_t *var_q32) TD_CHECK_RESULT;

/** Add one window (n <= 1024 valid samples, their exact sum and sumsq); TD_ERR_ARG for sums no n int16 samples have, TD_ERR_CAPACITY (state unchanged) past TD_LIFETIME_MAX_SAMPLES. */
td_status td_lifetime_merge(td_lifetime_t *life, uint32_t n, int32_t sum, int64_t sumsq) TD_CHECK_RESULT;

#endif /* TINYDRIFT_TD_STATS_H */
