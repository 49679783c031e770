/* td_stats.c - exact window accumulation and fixed-point lifetime merge. */
#include "tinydrift/td_stats.h"

#include <stddef.h>

#include "td_fixed.h"

/* An empty band: (uint32_t)(x - 32768) > 0 for every int16 x, so every sample takes the slow path. */
#define EMPTY_BAND_LO 32768
#define EMPTY_BAND_SPAN 0u

static void window_update_band(td_window_acc_t *acc, const td_sample_rules_t *rules)
{
    /* The fast path must never see a rail value, so the band stops one short of each rail. */
    const int32_t lo = acc->min > rules->rail_lo ? acc->min : rules->rail_lo + 1;
    const int32_t hi = acc->max < rules->rail_hi ? acc->max : rules->rail_hi - 1;
    if (lo > hi) {
        acc->band_lo = EMPTY_BAND_LO;
        acc->band_span = EMPTY_BAND_SPAN;
    } else {
        acc->band_lo = lo;
        acc->band_span = (uint32_t)(hi - lo);
    }
}

/* Kept out of line so the hot loop's registers hold the sums, not the rules (GCC, clang). */
#if defined(__GNUC__) || defined(__clang__)
#define TD_NOINLINE __attribute__((noinline))
#else
#define TD_NOINLINE
#endif

/* Bookkeeping for a sample outside the band; returns 1 if it is valid and must be summed. */
static TD_NOINLINE int window_slow_sample(td_window_acc_t *acc, const td_sample_rules_t *rules, int16_t x)
{
    if (rules->use_sentinel && x == rules->sentinel) {
        acc->n_missing++;
        return 0;
    }
    if (x <= rules->rail_lo || x >= rules->rail_hi) {
        acc->n_saturated++;
    }
    if (x < acc->min) {
        acc->min = x;
    }
    if (x > acc->max) {
        acc->max = x;
    }
    window_update_band(acc, rules);
    return 1;
}

td_status td_window_reset(td_window_acc_t *acc)
{
    if (acc == NULL) {
        return TD_ERR_ARG;
    }
    acc->sumsq = 0;
    acc->sum = 0;
    acc->band_lo = EMPTY_BAND_LO;
    acc->band_span = EMPTY_BAND_SPAN;
    acc->min = INT16_MAX;
    acc->max = INT16_MIN;
    acc->n_missing = 0;
    acc->n_saturated = 0;
    acc->n_samples = 0;
    return TD_OK;
}

td_status td_window_add(td_window_acc_t *acc, const td_sample_rules_t *rules, const int16_t *samples,
                        uint32_t stride, uint32_t n)
{
    if (acc == NULL || rules == NULL || (samples == NULL && n > 0u) || stride == 0u ||
        rules->rail_lo >= rules->rail_hi) {
        return TD_ERR_ARG;
    }
    /* The fast path never sees a sentinel only because the sentinel lies outside the rails. */
    if (rules->use_sentinel && rules->sentinel > rules->rail_lo && rules->sentinel < rules->rail_hi) {
        return TD_ERR_ARG;
    }
    if (n > TD_WINDOW_ACC_MAX_SAMPLES - acc->n_samples) {
        return TD_ERR_CAPACITY;
    }
    /* Count first: keeping n live through the loop would cost the hot path a register. */
    acc->n_samples = (uint16_t)(acc->n_samples + n);
    int32_t sum = acc->sum;
    int64_t sumsq = acc->sumsq;
    int32_t band_lo = acc->band_lo;
    uint32_t band_span = acc->band_span;
    const int16_t *p = samples;
    const int16_t *const end = samples + (size_t)n * stride;
    while (p != end) {
        /* Fast path, the loop the device spends its time in: in-band samples only need summing.
         * Written as do-while so each sample costs one compare-and-branch for the loop. */
        int32_t x;
        do {
            x = *p;
            if ((uint32_t)(x - band_lo) > band_span) {
                break;
            }
            sum += x;
            sumsq += (int64_t)x * x;
            p += stride;
        } while (p != end);
        if (p == end) {
            break;
        }
        if (window_slow_sample(acc, rules, (int16_t)x)) {
            sum += x;
            sumsq += (int64_t)x * x;
            band_lo = acc->band_lo;
            band_span = acc->band_span;
        }
        p += stride;
    }
    acc->sum = sum;
    acc->sumsq = sumsq;
    return TD_OK;
}

int32_t td_mean_q8(int32_t sum, uint32_t n)
{
    if (n == 0u || n > TD_WINDOW_ACC_MAX_SAMPLES) {
        return 0;
    }
    /* int16 samples keep |sum| <= 32768 n; clamping makes the function total for any other input. */
    const uint32_t limit = 32768u * n;
    const uint32_t raw = sum < 0 ? (uint32_t)(-(int64_t)sum) : (uint32_t)sum;
    const uint32_t mag = raw > limit ? limit : raw;
    /* Split into quotient and remainder so every product stays in 32 bits (no 64-bit division). */
    const uint32_t q = mag / n;
    const uint32_t r = mag % n;
    const uint32_t mean = (q << 8) + ((r << 9) + n) / (n << 1);
    return sum < 0 ? -(int32_t)mean : (int32_t)mean;
}

uint64_t td_var_q32(int32_t sum, int64_t sumsq, uint32_t n)
{
    if (n == 0u || n > TD_WINDOW_ACC_MAX_SAMPLES) {
        return 0u;
    }
    /* int16 samples keep 0 <= sumsq <= 2^30 n; clamping makes the function total for any other input. */
    const int64_t sumsq_limit = ((int64_t)1 << 30) * n;
    const int64_t sq = sumsq < 0 ? 0 : (sumsq > sumsq_limit ? sumsq_limit : sumsq);
    /* n*sumsq - sum^2 = n^2 * variance is exact and < 2^51 for n <= 1024. */
    const int64_t scaled = (int64_t)n * sq - (int64_t)sum * (int64_t)sum;
    const uint64_t d = scaled > 0 ? (uint64_t)scaled : 0u;
    const uint64_t nn = (uint64_t)n * n;
    const uint64_t q = d / nn;
    const uint64_t r = d % nn;
    return (q << 32) + ((r << 33) + nn) / (nn << 1);
}

/* Floor square root of a 32-bit value, digit by digit (16 rounds of 32-bit operations). */
static uint32_t isqrt32(uint32_t value)
{
    uint32_t rem = value;
    uint32_t root = 0u;
    uint32_t bit = 1u << 30;
    while (bit > rem) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (rem >= root + bit) {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

uint32_t td_isqrt64(uint64_t value)
{
    if (value <= UINT32_MAX) {
        return isqrt32((uint32_t)value);
    }
    /* A 32-bit root of the top bits is within 2^-15 of the answer; one Newton step then lands
     * within 1 of it, and the fix-ups make it exact. About half the cost of 32 rounds of
     * 64-bit digit-by-digit on a Cortex-M4. */
    unsigned shift = 0u;
    while ((value >> shift) > UINT32_MAX) {
        shift += 2u;
    }
    uint64_t root = (uint64_t)isqrt32((uint32_t)(value >> shift)) << (shift / 2u);
    root = (root + value / root) >> 1;
    if (root > UINT32_MAX) {
        root = UINT32_MAX;
    }
    while (root * root > value) {
        root--;
    }
    while (root < UINT32_MAX && (root + 1u) * (root + 1u) <= value) {
        root++;
    }
    return (uint32_t)root;
}

int32_t td_std_q8(uint64_t var_q32)
{
    return (int32_t)(((uint64_t)td_isqrt64(var_q32) + 128u) >> 8);
}

td_status td_lifetime_init(td_lifetime_t *life)
{
    if (life == NULL) {
        return TD_ERR_ARG;
    }
    life->n = 0u;
    life->mean_q32 = 0;
    life->var_q32 = 0u;
    return TD_OK;
}

td_status td_lifetime_get(const td_lifetime_t *life, uint64_t *n, int64_t *mean_q32, uint64_t *var_q32)
{
    if (life == NULL || n == NULL || mean_q32 == NULL || var_q32 == NULL) {
        return TD_ERR_ARG;
    }
    *n = life->n;
    *mean_q32 = life->mean_q32;
    *var_q32 = life->var_q32;
    return TD_OK;
}

td_status td_lifetime_merge(td_lifetime_t *life, uint32_t n, int32_t sum, int64_t sumsq)
{
    if (life == NULL || n > TD_WINDOW_ACC_MAX_SAMPLES) {
        return TD_ERR_ARG;
    }
    return td_lifetime_merge_window(life, n, sum, td_var_q32(sum, sumsq, n));
}

td_status td_lifetime_merge_window(td_lifetime_t *life, uint32_t n, int32_t sum, uint64_t var_b)
{
    if (life == NULL || n > TD_WINDOW_ACC_MAX_SAMPLES) {
        return TD_ERR_ARG;
    }
    if (n == 0u) {
        return TD_OK;
    }
    /* |sum| < 2^25, so sum * 2^32 fits in 63 bits. */
    const int64_t mean_b = td_round_div((int64_t)sum * ((int64_t)1 << 32), n);
    if (life->n == 0u) {
        life->n = n;
        life->mean_q32 = mean_b;
        life->var_q32 = var_b;
        return TD_OK;
    }
    const uint64_t total = life->n + n;
    /* w = n_b / N in Q32; n_b < N so w < 2^32 (n_b << 32 fits: n_b <= 1024). */
    const uint32_t w = (uint32_t)((((uint64_t)n << 32) + total / 2u) / total);
    const uint32_t w_rest = (uint32_t)(0xFFFFFFFFu - w + 1u);
    const uint32_t w_cross = (uint32_t)td_mul_u64_q32(w, w_rest); /* w * (1 - w), Q32 */
    const int64_t delta = mean_b - life->mean_q32;                 /* |delta| < 2^48 */
    const uint64_t delta_q16 = td_abs64(td_round_shift(delta, 16)); /* < 2^32 */
    const uint64_t delta_sq = delta_q16 * delta_q16;                /* Q32 */
    const int64_t var_step = td_mul_s64_q32((int64_t)var_b - (int64_t)life->var_q32, w);
    int64_t var = (int64_t)life->var_q32 + var_step + (int64_t)td_mul_u64_q32(delta_sq, w_cross);
    life->mean_q32 += td_mul_s64_q32(delta, w);
    life->var_q32 = var > 0 ? (uint64_t)var : 0u;
    life->n = total;
    return TD_OK;
}
