/* td_detector.c - one-sided CUSUM with an instant threshold and a latched alarm. */
#include "tinydrift/td_detector.h"

#include <stddef.h>

#include "td_fixed.h"
#include "td_monitor_internal.h"
#include "td_stats_internal.h"

td_status td_detector_reset(td_detector_t *det)
{
    if (det == NULL) {
        return TD_ERR_ARG;
    }
    det->cusum_q8 = 0u;
    det->alarm = 0u;
    return TD_OK;
}

td_status td_detector_update(td_detector_t *det, const td_detector_params_t *params, uint32_t score_q8,
                             uint8_t *trigger)
{
    if (det == NULL || params == NULL || trigger == NULL) {
        return TD_ERR_ARG;
    }
    *trigger = td_detector_step(&det->cusum_q8, params, score_q8);
    if (*trigger != 0u) {
        det->alarm = 1u;
    }
    return TD_OK;
}

#if TD_FEATURE_CHART && TD_OPTIMIZE_SPEED
/* s clamped to [0, 65535]; |s| < 2^18 here. */
static TD_ALWAYS_INLINE int32_t sat_u16(int32_t s)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
    int32_t r;
    __asm__("usat %0, #16, %1" : "=r"(r) : "r"(s));
    return r;
#else
    return s < 0 ? 0 : (s > 0xFFFF ? 0xFFFF : s);
#endif
}
#endif

#if TD_FEATURE_CHART && TD_OPTIMIZE_SPEED
uint32_t td_chart_update(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8)
{
    if (n_features == 0u) {
        return 0u;
    }
#if TD_ARM_DSP
    /* A feature's (up, down) pair is one word: both new statistics (USAT clamps), packed back with PKHBT, and the
     * running maximum of each lane (USUB16 sets the lanes' GE flags, SEL keeps the larger): 15 instructions a feature
     * where td_chart_step's argmax takes 26. */
    uint32_t *p = (uint32_t *)(void *)stats;
    uint32_t *const end = p + n_features;
    uint32_t best = 0u;
    int32_t g;
    uint32_t st;
    uint32_t up;
    uint32_t dn;
    uint32_t t;
    __asm__("1:\n\t"
            "ldrsh %[g], [%[sh]], #2\n\t"
            "ldr %[st], [%[p]]\n\t"
            "sub %[t], %[g], %[k]\n\t"
            "uxth %[up], %[st]\n\t"
            "add %[up], %[up], %[t]\n\t"
            "usat %[up], #16, %[up]\n\t"
            "add %[t], %[g], %[k]\n\t"
            "rsb %[dn], %[t], %[st], lsr #16\n\t"
            "usat %[dn], #16, %[dn]\n\t"
            "pkhbt %[st], %[up], %[dn], lsl #16\n\t"
            "str %[st], [%[p]], #4\n\t"
            "usub16 %[t], %[st], %[best]\n\t"
            "sel %[best], %[st], %[best]\n\t"
            "cmp %[p], %[end]\n\t"
            "bne 1b"
            : [best] "+&r"(best), [p] "+&r"(p), [sh] "+&r"(shift_q8), [g] "=&r"(g), [st] "=&r"(st),
              [up] "=&r"(up), [dn] "=&r"(dn), [t] "=&r"(t)
            : [k] "r"(k_q8), [end] "r"(end)
            : "cc", "memory");
    const uint32_t lo = best & 0xFFFFu;
    const uint32_t hi = best >> 16;
    return lo > hi ? lo : hi;
#else
    uint32_t best = 0u;
    uint32_t f = 0;
#if TD_HOST_X86
    /* x86-64: four features (eight statistics) a step in 32-bit lanes (stats + (g, -g) - k, within +-2^17), clamped
     * to [0, 65535] by PACKSSDW after a shift by 2^15 (the int16 range is then [0, 65535] shifted), the largest by
     * PMAXSW on the shifted values; the rest one by one below. */
    __m128i top = _mm_set1_epi16(INT16_MIN);
    const __m128i bias = _mm_set1_epi32(32768 + (int32_t)k_q8);
    for (; f + 4u <= n_features; f += 4u) {
        const __m128i st = _mm_loadu_si128((const __m128i *)(const void *)(stats + 2u * f));
        const __m128i g16 = _mm_loadl_epi64((const __m128i *)(const void *)(shift_q8 + f));
        const __m128i g = _mm_srai_epi32(_mm_unpacklo_epi16(g16, g16), 16); /* g0..g3, int32 */
        const __m128i neg = _mm_sub_epi32(_mm_setzero_si128(), g);
        const __m128i zero = _mm_setzero_si128();
        const __m128i v0 = _mm_sub_epi32(_mm_add_epi32(_mm_unpacklo_epi16(st, zero), _mm_unpacklo_epi32(g, neg)), bias);
        const __m128i v1 = _mm_sub_epi32(_mm_add_epi32(_mm_unpackhi_epi16(st, zero), _mm_unpackhi_epi32(g, neg)), bias);
        const __m128i packed = _mm_packs_epi32(v0, v1); /* new statistic - 2^15 */
        top = _mm_max_epi16(top, packed);
        _mm_storeu_si128((__m128i *)(void *)(stats + 2u * f), _mm_xor_si128(packed, _mm_set1_epi16(INT16_MIN)));
    }
    top = _mm_max_epi16(top, _mm_shuffle_epi32(top, 0x4E));
    top = _mm_max_epi16(top, _mm_shuffle_epi32(top, 0xB1));
    top = _mm_max_epi16(top, _mm_shufflelo_epi16(top, 0xB1));
    best = (uint32_t)((int32_t)(int16_t)_mm_cvtsi128_si32(top) + 32768);
#endif
    for (; f < n_features; f++) {
        const int32_t g = shift_q8[f];
        const int32_t up = sat_u16((int32_t)stats[2u * f] + g - (int32_t)k_q8);
        const int32_t down = sat_u16((int32_t)stats[2u * f + 1u] - g - (int32_t)k_q8);
        stats[2u * f] = (uint16_t)up;
        stats[2u * f + 1u] = (uint16_t)down;
        best = (uint32_t)up > best ? (uint32_t)up : best;
        best = (uint32_t)down > best ? (uint32_t)down : best;
    }
    return best;
#endif
}

uint32_t td_chart_top(const uint16_t *stats, uint32_t n_features, uint32_t value)
{
    for (uint32_t i = 0; i < 2u * n_features; i++) {
        if (stats[i] == value) {
            return i;
        }
    }
    return 0u;
}
#endif

#if TD_FEATURE_CHART
#if TD_OPTIMIZE_SPEED
uint32_t td_chart_step(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8)
{
    /* The speed build, the same results as the loop below: the new statistics and their maximum by td_chart_update,
     * then the lowest index holding it. */
    return td_chart_top(stats, n_features, td_chart_update(stats, shift_q8, n_features, k_q8));
}
#else
uint32_t td_chart_step(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8)
{
    uint32_t top = 0u;
    for (uint32_t i = 0; i < 2u * n_features; i++) {
        const int32_t g = shift_q8[i >> 1];
        int32_t s = (int32_t)stats[i] + ((i & 1u) ? -g : g) - (int32_t)k_q8;
        s = s < 0 ? 0 : (s > 0xFFFF ? 0xFFFF : s);
        stats[i] = (uint16_t)s;
        if (s > (int32_t)stats[top]) {
            top = i;
        }
    }
    return top;
}
#endif
#endif
