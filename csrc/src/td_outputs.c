/* td_outputs.c - per-window model-output statistics and the DDM concept-drift test. */
#include "tinydrift/td_outputs.h"

#include <stddef.h>
#include <string.h>

#include "td_fixed.h"
#include "tinydrift/td_stats.h"

td_status td_outputs_check(const td_outputs_config_t *cfg)
{
    if (cfg == NULL) {
        return TD_ERR_ARG;
    }
    if (cfg->n_classes < 2u || cfg->n_classes > TD_MAX_CLASSES || cfg->n_bins < 1u ||
        cfg->n_bins > TD_MAX_CONFIDENCE_BINS || cfg->scale_q24 == 0u || cfg->zero_point < -128 ||
        cfg->zero_point > 127) {
        return TD_ERR_RANGE;
    }
    for (uint32_t c = 0; c < cfg->n_classes; c++) {
        if (cfg->prior_q16[c] > TD_Q16_ONE) {
            return TD_ERR_RANGE;
        }
    }
    for (uint32_t b = 0; b < cfg->n_bins; b++) {
        if (cfg->accuracy_q16[b] > TD_Q16_ONE) {
            return TD_ERR_RANGE;
        }
    }
    return TD_OK;
}

/* The rest only where the build monitors model outputs (the profile parser needs td_outputs_check in every build). */
#if TD_FEATURE_OUTPUTS
td_status td_outputs_reset(td_outputs_acc_t *acc)
{
    if (acc == NULL) {
        return TD_ERR_ARG;
    }
    memset(acc, 0, sizeof *acc);
    return TD_OK;
}

/* Dequantized probability in Q16, clamped to [0, 1]. */
static uint32_t probability_q16(const td_outputs_config_t *cfg, int8_t q)
{
    const int64_t centred = (int64_t)q - cfg->zero_point; /* -255..255 */
    const int64_t p = td_round_shift(centred * (int64_t)cfg->scale_q24, 8);
    return p < 0 ? 0u : (p > (int64_t)TD_Q16_ONE ? TD_Q16_ONE : (uint32_t)p);
}

td_status td_outputs_push(td_outputs_acc_t *acc, const td_outputs_config_t *cfg, const int8_t *probs,
                          uint32_t n_classes, uint8_t *predicted)
{
    if (acc == NULL || cfg == NULL || probs == NULL || predicted == NULL || n_classes != cfg->n_classes ||
        n_classes > TD_MAX_CLASSES || cfg->n_bins == 0u || cfg->n_bins > TD_MAX_CONFIDENCE_BINS) {
        return TD_ERR_ARG;
    }
    if (acc->count == UINT16_MAX) {
        return TD_ERR_CAPACITY;
    }
    uint32_t best = 0u;
    for (uint32_t c = 1; c < n_classes; c++) {
        if (probs[c] > probs[best]) {
            best = c;
        }
    }
    const uint32_t confidence = probability_q16(cfg, probs[best]);
    /* Bin b covers [b/n_bins, (b+1)/n_bins); confidence 1 falls into the last bin. */
    /* confidence <= 2^16 and n_bins <= 16 (checked above): the product fits 32 bits. */
    uint32_t bin = (confidence * cfg->n_bins) >> 16;
    if (bin >= cfg->n_bins) {
        bin = cfg->n_bins - 1u;
    }
    acc->confidence_sum_q16 += confidence;
    acc->estimate_sum_q16 += cfg->accuracy_q16[bin];
    acc->histogram[best]++;
    acc->count++;
    *predicted = (uint8_t)best;
    return TD_OK;
}

/* num / den rounded to nearest, ties up (td_round_div32 for num, den < 2^32), in 32 bits: num + den / 2
 * may not fit, so round the remainder instead. The result fits 32 bits (den == 1 never rounds up). */
static uint32_t round_div_u32(uint32_t num, uint32_t den)
{
    const uint32_t q = num / den;
    return q + (num - q * den >= den - den / 2u ? 1u : 0u);
}

td_status td_outputs_summary(const td_outputs_acc_t *acc, const td_outputs_config_t *cfg, td_outputs_summary_t *out)
{
    if (acc == NULL || cfg == NULL || out == NULL || cfg->n_classes > TD_MAX_CLASSES) {
        return TD_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    const uint32_t n = acc->count;
    if (n == 0u) {
        return TD_OK;
    }
    out->count = (uint16_t)n;
    out->mean_confidence_q16 = round_div_u32(acc->confidence_sum_q16, n);
    out->estimated_accuracy_q16 = round_div_u32(acc->estimate_sum_q16, n);
    uint64_t distance = 0u; /* sum of |h_c - n prior_c|, in Q16 counts */
    for (uint32_t c = 0; c < cfg->n_classes; c++) {
        const int64_t observed = (int64_t)acc->histogram[c] << 16;
        const int64_t expected = (int64_t)n * cfg->prior_q16[c];
        distance += td_abs64(observed - expected);
        if (acc->histogram[c] > acc->histogram[out->top_class]) {
            out->top_class = (uint8_t)c;
        }
    }
    /* 32-bit divisor 2n < 2^17; distance < 2^56 (<= 255 classes, each term < 2^48). */
    out->prior_shift_q16 = (uint32_t)td_round_div32((int64_t)distance, 2u * n);
    return TD_OK;
}

td_status td_ddm_init(td_ddm_t *ddm)
{
    if (ddm == NULL) {
        return TD_ERR_ARG;
    }
    memset(ddm, 0, sizeof *ddm);
    ddm->min_p_s_q16 = UINT32_MAX;
    return TD_OK;
}

td_status td_ddm_update(td_ddm_t *ddm, uint8_t correct, uint8_t *verdict)
{
    if (ddm == NULL || verdict == NULL || correct > 1u) {
        return TD_ERR_ARG;
    }
    *verdict = TD_DDM_OK;
    ddm->total++;
    ddm->n++;
    if (!correct) {
        ddm->errors++;
        ddm->total_errors++;
    }
    if (ddm->n < TD_DDM_MIN_LABELS) {
        return TD_OK;
    }
    /* Laplace-smoothed error rate (errors + 1) / (n + 2): a perfect or lucky start must not set a
     * minimum so low that ordinary noise later reads as drift. */
    /* 32-bit divisors: n + 2 (uint32 arithmetic) and n >= TD_DDM_MIN_LABELS. */
    const uint64_t p = td_round_div32((int64_t)(((uint64_t)ddm->errors + 1u) << 16), ddm->n + 2u); /* Q16 */
    const uint64_t var_q32 = td_udiv64_32(p * (TD_Q16_ONE - p), ddm->n);                         /* Q32 */
    const uint32_t s = td_isqrt64(var_q32);                                            /* Q16 */
    const uint32_t p_s = (uint32_t)p + s;
    if (p_s < ddm->min_p_s_q16) {
        ddm->min_p_s_q16 = p_s;
        ddm->min_p_q16 = (uint32_t)p;
        ddm->min_s_q16 = s;
    }
    if (p_s >= ddm->min_p_q16 + 3u * ddm->min_s_q16) {
        *verdict = TD_DDM_DRIFT;
        ddm->n = 0u;
        ddm->errors = 0u;
        ddm->min_p_s_q16 = UINT32_MAX;
        ddm->min_p_q16 = 0u;
        ddm->min_s_q16 = 0u;
    } else if (p_s >= ddm->min_p_q16 + 2u * ddm->min_s_q16) {
        *verdict = TD_DDM_WARNING;
    }
    return TD_OK;
}

uint32_t td_ddm_accuracy_q16(const td_ddm_t *ddm)
{
    if (ddm == NULL || ddm->total == 0u) {
        return TD_Q16_ONE;
    }
    return (uint32_t)td_round_div32((int64_t)((uint64_t)(ddm->total - ddm->total_errors) << 16), ddm->total);
}
#endif
