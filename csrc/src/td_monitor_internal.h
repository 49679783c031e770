/* td_monitor_internal.h - private interface between the monitor's translation units.
 *
 * The window close (td_monitor.c) calls the embedding and reconstruction (td_embed.c), the nearest-centroid search
 * (td_nearest.c), the fitted shifts with the attribution and the feature chart (td_attribution.c) and the occupancy
 * test (td_occupancy.c). What they share is declared here with a td_mon_ prefix; it is not part of the public API
 * (csrc/include) and only the core's sources and its C tests include it.
 */
#ifndef TINYDRIFT_TD_MONITOR_INTERNAL_H
#define TINYDRIFT_TD_MONITOR_INTERNAL_H

#include <stdint.h>

#include "tinydrift/td_monitor.h"
#include "td_fixed.h"

/* Embedding values beyond +-2^24 (65536 in z units) are clamped so squared distances fit in int64. */
#define TD_MON_EMBEDDING_LIMIT_Q8 ((int64_t)1 << 24)

/* Two int16 lanes per word, low lane first: the operands of the Cortex-M4's dual multiply-accumulate. The DSP
 * instructions are used where the target has them; elsewhere the same lanes are computed in plain C, so host and
 * device run one algorithm and agree bit for bit. */
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define td_sxtb16(w) ((uint32_t)__sxtb16((int8x4_t)(w)))
#define td_smlad(x, y, acc) __smlad((int16x2_t)(x), (int16x2_t)(y), (acc))
/* Bytes 1 and 3 of w: SXTB16 with its operand rotated by 8, one instruction (ACLE has no rotated form). */
static TD_ALWAYS_INLINE uint32_t td_sxtb16_ror8(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* (a b + 2^31) >> 32 for a, b < 2^31: SMMULR, one instruction (not in ACLE; GCC emits three for the C form). */
static TD_ALWAYS_INLINE uint32_t td_smmulr(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
/* Bytes 0 and 2 of w, sign-extended into the low and high int16 lanes (SXTB16). */
static inline uint32_t td_sxtb16(uint32_t w)
{
    const uint32_t lo = (uint32_t)((int32_t)((w & 0xFFu) ^ 0x80u) - 0x80) & 0xFFFFu;
    const uint32_t hi = (uint32_t)((int32_t)(((w >> 16) & 0xFFu) ^ 0x80u) - 0x80) & 0xFFFFu;
    return lo | (hi << 16);
}

/* acc + low lanes product + high lanes product (SMLAD); callers keep the sum within int32. */
static inline int32_t td_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    const int32_t x_lo = (int32_t)((x & 0xFFFFu) ^ 0x8000u) - 0x8000;
    const int32_t x_hi = (int32_t)((x >> 16) ^ 0x8000u) - 0x8000;
    const int32_t y_lo = (int32_t)((y & 0xFFFFu) ^ 0x8000u) - 0x8000;
    const int32_t y_hi = (int32_t)((y >> 16) ^ 0x8000u) - 0x8000;
    return acc + x_lo * y_lo + x_hi * y_hi;
}

/* Bytes 1 and 3 of w, sign-extended into the low and high int16 lanes (SXTB16 of w rotated right by 8). */
static inline uint32_t td_sxtb16_ror8(uint32_t w)
{
    return td_sxtb16((w >> 8) | (w << 24));
}

#if TD_OPTIMIZE_SPEED
/* The high word of a b + 2^31, rounded (SMMULR); a, b < 2^31. Only the scaled search's fast path uses it. */
static inline uint32_t td_smmulr(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a * b + 0x80000000u) >> 32);
}
#endif
#endif

/* PCA mode: project z (Q8, n_features values) into e_q8 (n_dims values); returns the squared reconstruction error
 * |z - P^T e|^2 in Q8 (0 with every dimension kept). */
uint32_t td_mon_embed_pca(const td_profile_t *prof, const int16_t *z_q8, int32_t *e_q8);

#if TD_HOST_X86
/* int32 words (int16 pairs) a feature pair of td_monitor_t's proj_cols: n_dims padded to a multiple of 4. */
#define TD_MON_COL_STRIDE(n_dims) (((uint32_t)(n_dims) + 3u) & ~3u)

/* x86-64 speed build: prof's projection by pairs of features into cols (td_monitor_t's proj_cols): pair p's words
 * (P[j][2p], P[j][2p + 1]) for j < TD_MON_COL_STRIDE(n_dims), zeros past n_dims and past n_features. */
void td_mon_widen_cols(const td_profile_t *prof, int16_t *cols);

/* td_mon_embed_pca with the pairs td_mon_widen_cols made of prof's projection: the same results, without widening
 * the int8 weights in every window. */
uint32_t td_mon_embed_pca_cols(const td_profile_t *prof, const int16_t *cols, const int16_t *z_q8, int32_t *e_q8);
#endif

#if TD_HOST_X86
/* x86-64 speed build: mon's copy of its profile's centroids and inverse scales for the AVX2 search (nc_cent, nc_inv,
 * nc_off; nc_ready 1 for a scaled profile with dimensions and centroids, else 0). td_monitor_init calls it. */
void td_mon_nearest_prepare(td_monitor_t *mon);
#endif

/* External mode: the dequantized mean of the embeddings pushed during the window (mon->n_embeddings > 0). */
void td_mon_embed_external(const td_monitor_t *mon, int32_t *e_q8);

/* round(mag inv_scale / 2^16), half up, clamped to 2^24: a scaled difference of the search and the fitted shifts. */
uint32_t td_mon_scale_wide(uint32_t mag, uint32_t inv_scale);

/* Score (Q8) of the nearest centroid to e_q8, its index into *nearest; ties go to the lower index. */
uint32_t td_mon_nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest);

/* 1: the Cortex-M4 speed build with the fitted shifts: the scaled search hands them its first centroid's terms. */
#if TD_ARM_DSP && (TD_FEATURE_ATTRIBUTION || TD_FEATURE_CHART)
#define TD_MON_DEV 1
#else
#define TD_MON_DEV 0
#endif

#if TD_MON_DEV
/* The Cortex-M4 speed build: the scaled search hands the fitted shifts the deviations it computed for the first
 * centroid it searched (the hint), so they need not be computed twice when that centroid is the nearest. */
typedef struct {
    int32_t w[TD_MAX_DIMS]; /* fitted_shifts' w_j = t_j (inv_kj >> shift) */
    uint32_t shift;         /* mon->inv_shift[k] */
    uint32_t k;             /* the centroid; TD_MAX_CENTROIDS when nothing was handed over */
} td_mon_dev_t;

/* The fitted shifts' common right shift of centroid k's inverse scales (scaled profiles): the bit length of their
 * OR less 15, or 0. td_monitor_init keeps it per centroid in mon->inv_shift. */
static inline uint32_t td_mon_inv_shift(const td_profile_t *prof, uint32_t k)
{
    const uint8_t *const scale = prof->centroid_scales + 4u * k * (prof->n_dims + 1u) + 4u;
    uint32_t all = 0u;
    for (uint32_t j = 0; j < prof->n_dims; j++) {
        all |= td_load_u32(scale + 4u * j);
    }
    return all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
}

/* td_mon_nearest_centroid, also filling *dev (scaled profiles; else dev->k = TD_MAX_CENTROIDS). */
uint32_t td_mon_nearest_centroid_dev(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest,
                                     td_mon_dev_t *dev);

/* td_mon_feature_tests taking centroid dev->k's deviations from *dev instead of computing them. */
void td_mon_feature_tests_dev(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run, const td_mon_dev_t *dev);
#endif

/* One CUSUM step: S = S + score - k if positive (saturated to uint32), else 0; returns the TD_TRIGGER_* bits of this
 * score. td_detector_update's step, and inline in the window close (td_monitor.c). */
static TD_ALWAYS_INLINE uint8_t td_detector_step(uint32_t *cusum_q8, const td_detector_params_t *params,
                                                 uint32_t score_q8)
{
    const uint64_t raised = (uint64_t)*cusum_q8 + score_q8;
    *cusum_q8 = raised > params->k_q8 ? td_sat_u32(raised - params->k_q8) : 0u;
    uint8_t trigger = 0u;
    if (score_q8 > params->instant_q8) {
        trigger |= TD_TRIGGER_INSTANT;
    }
    if (*cusum_q8 > params->h_q8) {
        trigger |= TD_TRIGGER_CUSUM;
    }
    return trigger;
}

/* Occupancy test step for the window's nearest centroid (res->nearest; a profile with an occupancy section): its G
 * statistic into res->occupancy_q8; past the threshold it raises TD_TRIGGER_OCCUPANCY and latches the alarm. */
void td_mon_occupancy(td_monitor_t *mon, td_window_result_t *res);

#if TD_FEATURE_CHART && TD_OPTIMIZE_SPEED
/* td_chart_step's update of the statistics, returning the largest new statistic rather than its index (which
 * td_chart_top finds when it is needed: the lowest index holding that value, as td_chart_step's). n_features = 0
 * gives 0. Defined in td_detector.c. */
uint32_t td_chart_update(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8);

/* The lowest index i < 2 n_features with stats[i] == value (0 if none). */
uint32_t td_chart_top(const uint16_t *stats, uint32_t n_features, uint32_t value);
#endif

/* Fitted shifts of the window (res->shift_q8), the attribution during a CUSUM run and the feature chart's step. */
void td_mon_feature_tests(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run);

#endif /* TINYDRIFT_TD_MONITOR_INTERNAL_H */
