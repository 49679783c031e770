/* td_monitor.c - the monitor driver: init, push, window close (statistics, health, z, then the embedding,
 * search, attribution and occupancy of the other td_mon_ files), model outputs, td_log2_q8. */
#include "td_monitor_internal.h"

#include <stddef.h>
#include <string.h>

#include "td_layout.h"
#if TD_OPTIMIZE_SPEED
#include "td_log2_table.h"
#endif
#include "td_stats_internal.h"

/* td_log2_q8 of a Q8 value is 8 * 256 above the log2 of the value itself. */
#define LOG2_Q8_OF_Q8 (8 * 256)

/* Bit of a pending prediction's byte set once its label has arrived (the class takes the low 7 bits). */
#define LABELLED 0x80u

/* 1: the x86-64 speed build's window close in SSE2 lanes, two channels at a time (close_channels); 0: channel by
 * channel, as elsewhere. The same results (tests/test_close_lanes.py compares the two builds). */
#ifndef TD_CLOSE_LANES
#define TD_CLOSE_LANES TD_HOST_X86
#endif
/* 1: the lanes' close also has an AVX2 form, four channels at a time (a function attribute, not a build flag), taken
 * when the CPU runs AVX2; 0: SSE2 only. The same results either way. */
#ifndef TD_CLOSE_AVX2
#define TD_CLOSE_AVX2 (TD_CLOSE_LANES && TD_BLOCK_AVX2)
#endif
#if TD_CLOSE_LANES && !TD_HOST_X86
#error "TD_CLOSE_LANES needs the x86-64 speed build (TD_HOST_X86)"
#endif

#if TD_OPTIMIZE_SPEED
/* td_log2_q8 in the speed build: the same 8 fraction bits (td_log2_q8 below) from tables. They are a
 * non-decreasing function of the mantissa m, so they count the thresholds m passes (tools/gen_log2_table.py); m's
 * bits 30..24 give the count at the start of its bucket and at most 3 more thresholds lie inside one. About 15
 * instructions where the squaring loop takes 60 on the M4 (make bench-device); tests/c/test_monitor.c checks every
 * threshold. Inline in the window close. */
static TD_ALWAYS_INLINE uint32_t log2_q8_table(uint32_t x)
{
    if (x == 0u) {
        return 0u;
    }
    const uint32_t lead = td_clz32(x);
    const uint32_t m = x << lead;
#if TD_HOST_X86
    /* x86-64: the 512 buckets of bits 30..22, each with at most one threshold: one comparison, no branch (the loop's
     * exit mispredicts); td_log2_below[256] is never passed. */
    uint32_t frac = td_log2_first9[(m >> 22) & 0x1FFu];
    frac += (uint32_t)(m > td_log2_below[frac + 1u]);
#else
    uint32_t frac = td_log2_first[(m >> 24) & 0x7Fu];
    while (m > td_log2_below[frac + 1u]) {
        frac++;
    }
#endif
    return ((31u - lead) << 8) | frac;
}
#endif

#if TD_ARM_DSP || TD_HOST_X86
/* td_window_acc_t laid out as monitor_reset_window's word stores write it: (sumsq, sum, band_lo, band_span, min | max
 * << 16, n_missing | n_saturated << 16, n_samples) in 32 bytes (a constant test: GCC folds it). */
#define ACC_WORDS_LAYOUT                                                                                              \
    (sizeof(td_window_acc_t) == 32u && offsetof(td_window_acc_t, sumsq) == 0u &&                                     \
     offsetof(td_window_acc_t, sum) == 8u && offsetof(td_window_acc_t, band_lo) == 12u &&                             \
     offsetof(td_window_acc_t, band_span) == 16u && offsetof(td_window_acc_t, min) == 20u &&                          \
     offsetof(td_window_acc_t, max) == 22u && offsetof(td_window_acc_t, n_missing) == 24u &&                          \
     offsetof(td_window_acc_t, n_saturated) == 26u && offsetof(td_window_acc_t, n_samples) == 28u)
#endif

#if TD_ARM_DSP
/* Inline in the close (and init) on the Cortex-M4: the close has saved every register already. */
static TD_ALWAYS_INLINE
#else
static
#endif
td_status monitor_reset_window(td_monitor_t *mon)
{
#if TD_ARM_DSP
    /* The Cortex-M4: td_window_reset's empty accumulator from constants in eight registers, one STM a channel (no
     * call, no copy of acc[0]); the layout the words follow is checked here (ACC_WORDS_LAYOUT). */
    if (ACC_WORDS_LAYOUT) {
        td_window_acc_t *q = &mon->acc[0];
        td_window_acc_t *const end = &mon->acc[mon->profile->n_channels]; /* n_channels >= 1 (td_monitor_init) */
        __asm__ volatile("movs r2, #0\n\t"
                         "movs r3, #0\n\t"
                         "movs r4, #0\n\t"
                         "mov r5, %[lo]\n\t"
                         "mov r6, %[span]\n\t"
                         "movw r8, %[min]\n\t" /* min INT16_MAX in the low half-word, max INT16_MIN in the high */
                         "movt r8, %[max]\n\t"
                         "mov r9, r2\n\t"
                         "mov ip, r2\n\t"
                         "1:\n\t"
                         "stmia %[q]!, {r2, r3, r4, r5, r6, r8, r9, ip}\n\t"
                         "cmp %[q], %[end]\n\t"
                         "bne 1b"
                         : [q] "+&r"(q)
                         : [lo] "i"(TD_WINDOW_EMPTY_BAND_LO), [span] "i"(TD_WINDOW_EMPTY_BAND_SPAN),
                           [min] "i"((uint32_t)(uint16_t)INT16_MAX), [max] "i"((uint32_t)(uint16_t)INT16_MIN),
                           [end] "r"(end)
                         : "r2", "r3", "r4", "r5", "r6", "r8", "r9", "ip", "cc", "memory");
    } else
#elif TD_HOST_X86
    /* x86-64: the same two 16-byte words stored to each channel, (sumsq, sum, band_lo) and (band_span, min | max << 16,
     * n_missing | n_saturated << 16, n_samples): no call, no copy of acc[0]; the same layout test. */
    if (ACC_WORDS_LAYOUT) {
        const __m128i lo = _mm_set_epi32(TD_WINDOW_EMPTY_BAND_LO, 0, 0, 0);
        const __m128i hi = _mm_set_epi32(0, 0, (int32_t)((uint32_t)(uint16_t)INT16_MIN << 16 | (uint16_t)INT16_MAX),
                                         (int32_t)TD_WINDOW_EMPTY_BAND_SPAN);
        const uint32_t n_channels = mon->profile->n_channels;
        for (uint32_t c = 0; c < n_channels; c++) {
            _mm_storeu_si128((__m128i *)(void *)&mon->acc[c], lo);
            _mm_storeu_si128((__m128i *)(void *)&mon->acc[c] + 1, hi);
        }
    } else
#endif
    {
        /* Every channel starts from the same empty state: one reset, then copies (a call per channel cost more). */
        const td_status st = td_window_reset(&mon->acc[0]);
        if (st != TD_OK) {
            return st;
        }
        for (uint32_t c = 1; c < mon->profile->n_channels; c++) {
            mon->acc[c] = mon->acc[0];
        }
    }
    mon->fill = 0u;
#if TD_FEATURE_EXTERNAL
    /* Only the profile's own modes touch these (init zeroed them all), so other profiles skip the clearing. */
    if (mon->profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        memset(mon->emb_sum, 0, sizeof mon->emb_sum);
        mon->n_embeddings = 0u;
    }
#endif
#if TD_FEATURE_OUTPUTS
    if (!mon->has_outputs) {
        return TD_OK;
    }
    mon->out.ddm_state = TD_DDM_OK;
    mon->out.n_labels = 0u;
    mon->out.n_correct = 0u;
    return td_outputs_reset(&mon->out.acc);
#else
    return TD_OK;
#endif
}

td_status td_monitor_init(td_monitor_t *mon, const td_profile_t *profile)
{
    if (mon == NULL || profile == NULL || profile->n_channels == 0u || profile->n_channels > TD_MAX_CHANNELS ||
        profile->n_dims > TD_MAX_DIMS || profile->window > TD_MAX_WINDOW) {
        return TD_ERR_ARG;
    }
    if ((!TD_FEATURE_EXTERNAL && (profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) ||
        (!TD_FEATURE_RECON && !(profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) &&
         profile->n_dims < profile->n_features)) {
        return TD_ERR_MODE; /* a feature this build leaves out (td_config.h) would change the scores */
    }
    memset(mon, 0, sizeof *mon);
    mon->profile = profile;
    /* The lifetimes need no td_lifetime_init: all zero is the empty lifetime. */
    /* The rules straight from the validated channel records (as close_channels reads its settings). */
    for (uint32_t c = 0; c < profile->n_channels; c++) {
        const uint8_t *const rec = profile->channels + c * TD_PROFILE_CHANNEL_SIZE;
        mon->rules[c].rail_lo = td_load_i16(rec + TD_CH_RAIL_LO);
        mon->rules[c].rail_hi = td_load_i16(rec + TD_CH_RAIL_HI);
        mon->rules[c].sentinel = td_load_i16(rec + TD_CH_SENTINEL);
        mon->rules[c].use_sentinel = (td_load_u16(rec + TD_CH_FLAGS) & TD_CHANNEL_FLAG_SENTINEL) ? 1u : 0u;
#if TD_HOST_X86
        /* The close's settings in lanes (close_channels): the limits as int32, the z constants as doubles. */
        mon->lim_missing[c] = td_load_u16(rec + TD_CH_MAX_MISSING);
        mon->lim_saturated[c] = td_load_u16(rec + TD_CH_MAX_SATURATED);
        mon->lim_stuck[c] = (td_load_u16(rec + TD_CH_FLAGS) & TD_CHANNEL_FLAG_STUCK_CHECK)
                                ? (int32_t)td_load_u16(rec + TD_CH_STUCK_TOL) + 1
                                : 0;
        mon->std_floor8[c] = (int32_t)((uint32_t)td_load_u16(rec + TD_CH_STD_FLOOR) << 8);
        for (uint32_t k = 0; k < TD_FEATURES_PER_CHANNEL; k++) {
            const uint8_t *const feat = profile->features + (c * TD_FEATURES_PER_CHANNEL + k) * TD_PROFILE_FEATURE_SIZE;
            mon->z_mu[c * TD_FEATURES_PER_CHANNEL + k] = (double)td_load_i32(feat);
            mon->z_inv[c * TD_FEATURES_PER_CHANNEL + k] = (double)td_load_u32(feat + 4u);
        }
#endif
    }
#if TD_FEATURE_OUTPUTS
    if (profile->outputs != NULL) {
        const td_status st = td_profile_outputs(profile, &mon->out.cfg);
        if (st != TD_OK) {
            return st;
        }
        mon->has_outputs = 1u;
    }
#endif
#if TD_HOST_X86
    /* The projection widened to int16 once, rather than from int8 in every window: pairs of features for the
     * embedding, pairs of rows for the fitted shifts. */
    if (profile->projection != NULL) {
        td_mon_widen_cols(profile, mon->proj_cols);
        const uint32_t n_features = profile->n_features;
        const uint32_t stride = 2u * ((n_features + 7u) & ~7u);
        for (uint32_t j = 0; j < profile->n_dims; j++) {
            for (uint32_t f = 0; f < n_features; f++) {
                mon->proj_pairs[j / 2u * stride + 2u * f + j % 2u] = (int8_t)profile->projection[j * n_features + f];
            }
        }
    }
    /* The fitted shifts' per-centroid constants (td_attribution.c's fitted_shifts_x86): the centroids, the inverse
     * scales / 2^16 as doubles (exact: below 2^25 scaled by a power of two), the same shifted right by the bit length of the
     * centroid's largest less 15 (as fitted_shifts), the chart roots' reciprocals (1 / root rounded; 0 for a root 0,
     * fitted_shifts' result then), and for the AVX2 sums the projection as doubles. */
    if (profile->centroid_scales != NULL && profile->feature_chart != NULL) {
        const uint32_t n_dims = profile->n_dims;
        const uint32_t n_features = profile->n_features;
        for (uint32_t k = 0; k < profile->n_centroids; k++) {
            const uint8_t *const scale = profile->centroid_scales + 4u * k * (n_dims + 1u) + 4u;
            const uint8_t *const roots =
                profile->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * k * n_features;
            uint32_t all = 0u;
            for (uint32_t j = 0; j < n_dims; j++) {
                all |= td_load_u32(scale + 4u * j);
            }
            const uint32_t sh = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
            for (uint32_t j = 0; j < n_dims; j++) {
                const uint32_t inv = td_load_u32(scale + 4u * j);
                mon->fs_inv[k * TD_MAX_DIMS + j] = (double)inv / 65536.0;
                mon->fs_ivs[k * TD_MAX_DIMS + j] = (int32_t)(inv >> sh);
                mon->fs_cent[k * TD_MAX_DIMS + j] = td_load_i32(profile->centroids + 4u * (k * n_dims + j));
            }
            for (uint32_t f = 0; f < n_features; f++) {
                const uint32_t root = td_load_u32(roots + 4u * f);
                mon->fs_rinv[k * TD_MAX_FEATURES + f] = root != 0u ? 1.0 / (double)root : 0.0;
            }
        }
        const uint32_t fs_stride = (n_features + 3u) & ~3u;
        for (uint32_t j = 0; j < ((n_dims + 3u) & ~3u); j++) {
            for (uint32_t f = 0; f < fs_stride; f++) {
                mon->fs_proj[j * fs_stride + f] =
                    j < n_dims && f < n_features ? (double)(int8_t)profile->projection[j * n_features + f] : 0.0;
            }
        }
    }
#endif
#if TD_HOST_X86
    td_mon_nearest_prepare(mon);
#endif
#if TD_HOST_X86 && TD_BLOCK_LANES && TD_BLOCK_AVX2
    mon->fresh_ok = (uint8_t)td_window_fresh_prepare(mon->rules, profile->n_channels, profile->window,
                                                     mon->fresh_rails);
#endif
#if TD_MON_DEV
    /* The fitted shifts' scale shift of each centroid, for the search's hand-over (td_nearest.c). */
    if (profile->centroid_scales != NULL) {
        for (uint32_t k = 0; k < profile->n_centroids; k++) {
            mon->inv_shift[k] = (uint8_t)td_mon_inv_shift(profile, k);
        }
    }
#endif
    td_status st = td_detector_reset(&mon->detector);
#if TD_FEATURE_OUTPUTS
    if (st == TD_OK) {
        st = td_ddm_init(&mon->out.ddm);
    }
#endif
    return st != TD_OK ? st : monitor_reset_window(mon);
}

#if !TD_CLOSE_LANES
static uint32_t abs16(int16_t v)
{
    return v < 0 ? (uint32_t)(-(int32_t)v) : (uint32_t)v;
}
#endif

/* z = round(centred inv_sigma / 2^24), ties away from zero, saturated to int16. The features and their reference
 * means lie within +-2^24 (|mu| <= 2^23 by the parser), so centred fits int32 and its magnitude's product is one
 * UMULL: no 64-bit subtraction or signed multiply. */
#if !TD_CLOSE_LANES /* the lanes close computes z in doubles */
#if TD_OPTIMIZE_SPEED
static TD_ALWAYS_INLINE
#else
static
#endif
int16_t standardize(int32_t centred, uint32_t inv_sigma)
{
    const uint32_t mag = td_abs32(centred);
    const uint64_t product = (uint64_t)mag * inv_sigma + (1u << (TD_INV_SIGMA_SHIFT - 1u));
    const uint32_t high = (uint32_t)(product >> 32);
    /* Past 2^(32 + 24) the magnitude is far beyond int16 anyway. */
    const uint32_t z = (high >> (32u - TD_INV_SIGMA_SHIFT)) != 0u
                           ? UINT32_MAX
                           : (high << (32u - TD_INV_SIGMA_SHIFT)) | ((uint32_t)product >> TD_INV_SIGMA_SHIFT);
    if (centred < 0) {
        return z >= 32768u ? INT16_MIN : (int16_t)-(int32_t)z;
    }
    return z >= 32767u ? INT16_MAX : (int16_t)z;
}
#endif

#if TD_ARM_FPU && TD_ARM_DSP && TD_FEATURE_LIFETIME
/* close_channels' pass 1 for the channels from acc on (results from out on, acc up to end) while each has a
 * power-of-two count of valid samples up to 512; returns the accumulator it stopped at (end, or the first other
 * channel, which the C loop then takes). The same values as that loop: the lifetime sums first (the merge inline, at
 * the same offset past the accumulator as mon->life past mon->acc), mean_q8 from shifts, the copies, scaled =
 * n sumsq - sum^2 (0 if negative), then std_q8 as td_std_q8_pow2 computes it: y = scaled 2^(18 - 2p) in words,
 * the float root of y (VCVT, VMLA with 2^32, VSQRT, VCVT), s = (r + 1) >> 1 and its fix-up by o = 2s + 1 and
 * o - 2. 12 registers and two FP ones; about 85 instructions a channel where GCC's code of the loop takes 113.
 * Only the Cortex-M4 runs it: make test-core-m4 checks it (test_monitor.c's windows against the reference model,
 * test_stats.c's td_std_q8_pow2). */
static TD_ALWAYS_INLINE const td_window_acc_t *pass1_pow2(const td_window_acc_t *acc, td_channel_result_t *out,
                                                          const td_window_acc_t *end)
{
    uint32_t n;
    uint32_t sum;
    uint32_t lo;
    uint32_t hi;
    uint32_t p;
    uint32_t t0;
    uint32_t t1;
    uint32_t t2;
    uint32_t t3;
    float f0;
    float f1;
    const float two32 = 4294967296.0f;
    __asm__ volatile(
        "cmp %[acc], %[end]\n\t"
        "beq 9f\n\t"
        "1:\n\t"
        "ldrh %[n], [%[acc], #28]\n\t"
        "ldrh %[t0], [%[acc], #24]\n\t"
        "sub %[n], %[n], %[t0]\n\t"
        "sub %[t0], %[n], #1\n\t"
        "tst %[n], %[t0]\n\t"
        "bne 9f\n\t"
        "lsrs %[p], %[t0], #9\n\t" /* n - 1 >= 512 unsigned: n = 0 or n > 512 */
        "bne 9f\n\t"
        "ldr %[sum], [%[acc], #8]\n\t"
        "ldrd %[lo], %[hi], [%[acc], #0]\n\t"
        /* the lifetime: n += n_valid unless past 2^48 (then nothing changes), sum, sumsq in 128 bits */
        "ldrd %[t1], %[t2], [%[acc], #%c[life]]\n\t"
        "adds %[t1], %[t1], %[n]\n\t"
        "adc %[t2], %[t2], #0\n\t"
        "subs %[t3], %[t1], #1\n\t"
        "sbc %[t3], %[t2], #0\n\t"
        "cmp %[t3], #0x10000\n\t"
        "bhs 2f\n\t"
        "strd %[t1], %[t2], [%[acc], #%c[life]]\n\t"
        "ldrd %[t1], %[t2], [%[acc], #%c[life]+8]\n\t"
        "adds %[t1], %[t1], %[sum]\n\t"
        "adc %[t2], %[t2], %[sum], asr #31\n\t"
        "strd %[t1], %[t2], [%[acc], #%c[life]+8]\n\t"
        "ldrd %[t1], %[t2], [%[acc], #%c[life]+16]\n\t"
        "adds %[t1], %[t1], %[lo]\n\t"
        "adcs %[t2], %[t2], %[hi]\n\t"
        "strd %[t1], %[t2], [%[acc], #%c[life]+16]\n\t"
        "bcc 2f\n\t" /* no carry out of sumsq_lo: sumsq_hi stays */
        "ldrd %[t1], %[t2], [%[acc], #%c[life]+24]\n\t"
        "adcs %[t1], %[t1], #0\n\t"
        "adc %[t2], %[t2], #0\n\t"
        "strd %[t1], %[t2], [%[acc], #%c[life]+24]\n\t"
        "2:\n\t"
        /* mean_q8 = round(sum 2^8 / 2^p), half away from zero. Up to 256 samples (p <= 8) the quotient is exact:
         * (sum << 8) >> p, arithmetic (|sum| 2^8 <= 2^31, and -2^31 fits). Past that, mag = |sum|,
         * ((mag >> p) << 8) + ((((mag & (n - 1)) << 9) + n) >> (p + 1)), the sign back. */
        "clz %[p], %[n]\n\t"
        "rsb %[p], %[p], #31\n\t"
        "cmp %[n], #256\n\t"
        "bhi 5f\n\t"
        "lsl %[t1], %[sum], #8\n\t"
        "asr %[t1], %[t1], %[p]\n\t"
        "b 6f\n\t"
        "5:\n\t"
        "eor %[t1], %[sum], %[sum], asr #31\n\t"
        "sub %[t1], %[t1], %[sum], asr #31\n\t"
        "and %[t2], %[t1], %[t0]\n\t"
        "add %[t2], %[n], %[t2], lsl #9\n\t"
        "add %[t3], %[p], #1\n\t"
        "lsr %[t2], %[t2], %[t3]\n\t"
        "lsr %[t1], %[t1], %[p]\n\t"
        "add %[t1], %[t2], %[t1], lsl #8\n\t"
        "eor %[t1], %[t1], %[sum], asr #31\n\t"
        "sub %[t1], %[t1], %[sum], asr #31\n\t"
        "6:\n\t"
        "str %[t1], [%[out], #12]\n\t"
        /* the copies: sumsq, sum, (min, max), (n_missing, n_saturated) */
        "strd %[lo], %[hi], [%[out], #0]\n\t"
        "str %[sum], [%[out], #8]\n\t"
        "ldr %[t1], [%[acc], #20]\n\t"
        "str %[t1], [%[out], #20]\n\t"
        "ldr %[t1], [%[acc], #24]\n\t"
        "str %[t1], [%[out], #28]\n\t"
        /* scaled = n sumsq - sum^2, 0 if negative */
        "umull %[t1], %[t2], %[n], %[lo]\n\t"
        "mla %[t2], %[n], %[hi], %[t2]\n\t"
        "smull %[t3], %[t0], %[sum], %[sum]\n\t"
        "subs %[t1], %[t1], %[t3]\n\t"
        "sbcs %[t2], %[t2], %[t0]\n\t"
        "itt lt\n\t"
        "movlt %[t1], #0\n\t"
        "movlt %[t2], #0\n\t"
        /* y = scaled 2^k, k = 18 - 2p (0..18): hi = hi << k | lo >> 1 >> (31 - k), lo <<= k */
        "rsb %[p], %[p], #9\n\t"
        "lsl %[p], %[p], #1\n\t"
        "rsb %[t0], %[p], #31\n\t"
        "lsr %[t3], %[t1], #1\n\t"
        "lsr %[t3], %[t3], %[t0]\n\t"
        "lsl %[t2], %[t2], %[p]\n\t"
        "orr %[t2], %[t2], %[t3]\n\t"
        "lsl %[t1], %[t1], %[p]\n\t"
        /* r = trunc(sqrtf(hi 2^32 + lo)) */
        "vmov %[f0], %[t2]\n\t"
        "vmov %[f1], %[t1]\n\t"
        "vcvt.f32.u32 %[f0], %[f0]\n\t"
        "vcvt.f32.u32 %[f1], %[f1]\n\t"
        "vmla.f32 %[f1], %[f0], %[two32]\n\t"
        "vsqrt.f32 %[f1], %[f1]\n\t"
        "vcvt.u32.f32 %[f1], %[f1]\n\t"
        "vmov %[t3], %[f1]\n\t"
        /* s = (r + 1) >> 1; o = 2s + 1: s + 1 if o^2 <= y, else s - 1 if s != 0 and (o - 2)^2 > y */
        "add %[t3], %[t3], #1\n\t"
        "lsr %[n], %[t3], #1\n\t"
        "orr %[t3], %[t3], #1\n\t"
        "umull %[t0], %[p], %[t3], %[t3]\n\t"
        "cmp %[t1], %[t0]\n\t"
        "sbcs %[t0], %[t2], %[p]\n\t"
        "bcc 3f\n\t"
        "add %[n], %[n], #1\n\t"
        "b 4f\n\t"
        "3:\n\t"
        "cmp %[n], #0\n\t"
        "beq 4f\n\t"
        "sub %[t3], %[t3], #2\n\t"
        "umull %[t0], %[p], %[t3], %[t3]\n\t"
        "cmp %[t1], %[t0]\n\t"
        "sbcs %[t0], %[t2], %[p]\n\t"
        "it cc\n\t"
        "subcc %[n], %[n], #1\n\t"
        "4:\n\t"
        "str %[n], [%[out], #16]\n\t"
        "adds %[acc], %[acc], #32\n\t"
        "adds %[out], %[out], #32\n\t"
        "cmp %[acc], %[end]\n\t"
        "bne 1b\n\t"
        "9:"
        : [acc] "+&r"(acc), [out] "+&r"(out), [n] "=&r"(n), [sum] "=&r"(sum), [lo] "=&r"(lo), [hi] "=&r"(hi),
          [p] "=&r"(p), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [f0] "=&t"(f0),
          [f1] "=&t"(f1)
        : [end] "r"(end), [two32] "t"(two32),
          [life] "i"(offsetof(td_monitor_t, life) - offsetof(td_monitor_t, acc))
        : "cc", "memory");
    return acc;
}
#endif

#if TD_ARM_DSP && TD_MAX_CHANNELS <= 16
/* close_channels' pass 2 for log-std profiles on the Cortex-M4: for each channel c (out, its channel record rec, its
 * two feature records feat, its accumulator acc, z_q8 + 2c at zp) the health bits (missing and saturated in one
 * USUB16 of the limits less the counts, SEL picking the channel's bit where a count passes its limit), the log-std
 * spread from the tables, both z values (standardize: |centred| inv + 2^23 by UMLAL, the high word's bits past 8
 * saturated by USAT, the sign back, SSAT to int16) into z_q8 and the result, and the top channel as
 * key = (|z| << 16) | (1 << c), raised only by a larger |z| (so the lower index keeps a tie; the mean's and the
 * spread's |z| in turn give the larger of the two). v = &res->stuck_mask: it stores stuck, saturated and missing
 * masks there and the top channel 9 bytes on (31 - clz of the key's low half | 1: channel 0 when no |z| > 0).
 * Naked: r4-r12 and lr hold the pointers, the channel's bit, the masks and five temporaries; the rest waits on the
 * stack. Only the Cortex-M4 runs it: make test-core-m4 checks it (test_monitor.c). */
#define TD_ARG_UNUSED __attribute__((unused)) /* a naked function reads its arguments in assembly */
__attribute__((naked, noinline)) static void pass2_logstd(TD_ARG_UNUSED td_channel_result_t *out,
                                                         TD_ARG_UNUSED const uint8_t *rec,
                                                         TD_ARG_UNUSED const uint8_t *feat,
                                                         TD_ARG_UNUSED const td_window_acc_t *acc,
                                                         TD_ARG_UNUSED int16_t *zp, TD_ARG_UNUSED uint32_t n_channels,
                                                         TD_ARG_UNUSED const uint8_t *first,
                                                         TD_ARG_UNUSED const uint32_t *below1,
                                                         TD_ARG_UNUSED uint16_t *v)
{
    __asm__("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
            "ldr r4, [sp, #36]\n\t"
            "ldr r9, [sp, #40]\n\t"
            "movs r5, #1\n\t"
            "lsl r9, r5, r9\n\t"
            "str r9, [sp, #40]\n\t"
            "movs r6, #0\n\t"
            "movs r7, #0\n\t"
            "mov r8, #0\n\t"
            "1:\n\t"
            /* health: missing and saturated past the record's limits, stuck (flag bit 0, n_valid >= 2, max - min
             * <= tol) */
            "ldr r9, [r0, #28]\n\t"
            "ldr r10, [r1, #10]\n\t"
            "usub16 r10, r10, r9\n\t"
            "orr r11, r5, r5, lsl #16\n\t"
            "mov r12, #0\n\t"
            "sel r12, r12, r11\n\t"
            "orr r6, r6, r12\n\t"
            "uxth r9, r9\n\t"
            "ldrh r10, [r3, #28]\n\t"
            "sub r9, r10, r9\n\t"
            "ldrh r10, [r1, #6]\n\t"
            "tst r10, #1\n\t"
            "beq 2f\n\t"
            "cmp r9, #2\n\t"
            "blo 2f\n\t"
            "ldrsh r10, [r0, #22]\n\t"
            "ldrsh r12, [r0, #20]\n\t"
            "sub r10, r10, r12\n\t"
            "ldrh r12, [r1, #8]\n\t"
            "cmp r10, r12\n\t"
            "it ls\n\t"
            "orrls r7, r7, r5\n\t"
            "2:\n\t"
            "cmp r9, #0\n\t"
            "beq 6f\n\t"
            /* spread = log2_q8_table(std + (floor << 8)) - 2048 */
            "ldr r10, [r0, #16]\n\t"
            "ldrh r12, [r1, #14]\n\t"
            "adds r10, r10, r12, lsl #8\n\t"
            "beq 3f\n\t"
            "clz r11, r10\n\t"
            "lsl r10, r10, r11\n\t"
            "ldr r12, [sp, #44]\n\t"
            "ubfx lr, r10, #24, #7\n\t"
            "ldrb lr, [r12, lr]\n\t"
            "ldr r12, [sp, #48]\n\t"
            "4:\n\t"
            "ldr r9, [r12, lr, lsl #2]\n\t"
            "cmp r10, r9\n\t"
            "bls 5f\n\t"
            "add lr, lr, #1\n\t"
            "b 4b\n\t"
            "5:\n\t"
            "rsb r11, r11, #31\n\t"
            "orr r10, lr, r11, lsl #8\n\t"
            "3:\n\t"
            "sub r10, r10, #2048\n\t"
            /* z of the spread: feature record 1 (mu at 8, inv_sigma at 12) */
            "ldr r12, [r2, #8]\n\t"
            "sub r10, r10, r12\n\t"
            "ldr r12, [r2, #12]\n\t"
            "eor r9, r10, r10, asr #31\n\t"
            "sub r9, r9, r10, asr #31\n\t"
            "mov r11, #0x800000\n\t"
            "mov lr, #0\n\t"
            "umlal r11, lr, r9, r12\n\t"
            "usat lr, #8, lr\n\t"
            "lsl lr, lr, #8\n\t"
            "orr r9, lr, r11, lsr #24\n\t"
            "eor r9, r9, r10, asr #31\n\t"
            "sub r9, r9, r10, asr #31\n\t"
            "ssat r9, #16, r9\n\t"
            "strh r9, [r0, #26]\n\t"
            "strh r9, [r4, #2]\n\t"
            "eor r11, r9, r9, asr #31\n\t"
            "sub r11, r11, r9, asr #31\n\t"
            "lsl r11, r11, #16\n\t"
            "cmp r11, r8\n\t"
            "it hi\n\t"
            "orrhi r8, r11, r5\n\t"
            /* z of the mean: feature record 0 */
            "ldr r10, [r0, #12]\n\t"
            "ldr r12, [r2, #0]\n\t"
            "sub r10, r10, r12\n\t"
            "ldr r12, [r2, #4]\n\t"
            "eor r9, r10, r10, asr #31\n\t"
            "sub r9, r9, r10, asr #31\n\t"
            "mov r11, #0x800000\n\t"
            "mov lr, #0\n\t"
            "umlal r11, lr, r9, r12\n\t"
            "usat lr, #8, lr\n\t"
            "lsl lr, lr, #8\n\t"
            "orr r9, lr, r11, lsr #24\n\t"
            "eor r9, r9, r10, asr #31\n\t"
            "sub r9, r9, r10, asr #31\n\t"
            "ssat r9, #16, r9\n\t"
            "strh r9, [r0, #24]\n\t"
            "strh r9, [r4, #0]\n\t"
            "eor r11, r9, r9, asr #31\n\t"
            "sub r11, r11, r9, asr #31\n\t"
            "lsl r11, r11, #16\n\t"
            "cmp r11, r8\n\t"
            "it hi\n\t"
            "orrhi r8, r11, r5\n\t"
            "b 7f\n\t"
            "6:\n\t"
            /* no valid sample: z = 0 */
            "movs r9, #0\n\t"
            "str r9, [r0, #24]\n\t"
            "strh r9, [r4, #0]\n\t"
            "strh r9, [r4, #2]\n\t"
            "7:\n\t"
            "adds r0, r0, #32\n\t"
            "adds r1, r1, #24\n\t"
            "adds r2, r2, #16\n\t"
            "adds r3, r3, #32\n\t"
            "adds r4, r4, #4\n\t"
            "lsl r5, r5, #1\n\t"
            "ldr r9, [sp, #40]\n\t"
            "cmp r5, r9\n\t"
            "bne 1b\n\t"
            /* the masks and the top channel straight into the result (v = &res->stuck_mask) */
            "ldr r9, [sp, #52]\n\t"
            "strh r7, [r9, #0]\n\t"
            "strh r6, [r9, #4]\n\t"
            "lsr r6, r6, #16\n\t"
            "strh r6, [r9, #2]\n\t"
            "uxth r8, r8\n\t"
            "orr r8, r8, #1\n\t"
            "clz r8, r8\n\t"
            "rsb r8, r8, #31\n\t"
            "strb r8, [r9, #9]\n\t"
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}");
}
#endif

/* Per-channel statistics, health and standardized features; fills z_q8[0..2C). */
#if TD_CLOSE_LANES
/* The rare fix-up of the lanes' std estimate (td_mean_std_q8_x86's): for each lane k of near (bit k) set,
 * s[k] from d[k] and n[k] by the two exact tests (about 3 % of the channels come here). */
static TD_ALWAYS_INLINE __m128i lanes_std_fixup(__m128i s, __m128d d, __m128i nv, int near)
{
    int32_t sv[4];
    int32_t nvv[4];
    double dv[2];
    _mm_storeu_si128((__m128i *)(void *)sv, s);
    _mm_storeu_si128((__m128i *)(void *)nvv, nv);
    _mm_storeu_pd(dv, d);
    for (uint32_t k = 0; k < 2u; k++) {
        if (near & (1 << k)) {
            const uint32_t s0 = sv[k] != 0 ? (uint32_t)sv[k] : 1u; /* within one of std_q8, and the test needs s >= 1 */
            const uint64_t dd = (uint64_t)(int64_t)dv[k];        /* exact: an integer below 2^51 */
            const uint64_t nn = (uint64_t)(uint32_t)nvv[k] * (uint32_t)nvv[k];
            sv[k] = (int32_t)(s0 - 1u + td_std_at_least(dd, nn, s0) + td_std_at_least(dd, nn, s0 + 1u));
        }
    }
    return _mm_loadu_si128((const __m128i *)(const void *)sv);
}

/* Both z of a channel (its two features f as doubles, exact) in the low two int32 lanes, and their magnitudes in
 * *mag: standardize's values. cen = f - mu is exact (|f|, |mu| <= 2^24); p = |cen| inv_sigma is exact below 2^53 and
 * p 2^-24 + 1/2 then too (at most 53 significant bits), so its truncation is standardize's
 * floor((p + 2^23) / 2^24); from 2^39 up the z saturates either way (rounding is monotonic). The magnitude is capped at
 * 32767, or 32768 for a negative cen (INT16_MIN), before the truncation. */
static TD_ALWAYS_INLINE __m128i lanes_z(__m128d f, const double *mu, const double *inv, __m128i *mag)
{
    const __m128d sign = _mm_set1_pd(-0.0);
    const __m128d cen = _mm_sub_pd(f, _mm_loadu_pd(mu));
    const __m128d neg = _mm_cmplt_pd(cen, _mm_setzero_pd());
    const __m128d p = _mm_mul_pd(_mm_andnot_pd(sign, cen), _mm_loadu_pd(inv));
    const __m128d cap = _mm_add_pd(_mm_set1_pd(32767.0), _mm_and_pd(neg, _mm_set1_pd(1.0)));
    const __m128d t = _mm_min_pd(_mm_add_pd(_mm_mul_pd(p, _mm_set1_pd(1.0 / 16777216.0)), _mm_set1_pd(0.5)), cap);
    *mag = _mm_cvttpd_epi32(t);
    return _mm_cvttpd_epi32(_mm_or_pd(t, _mm_and_pd(cen, sign)));
}

/* The lifetime sums of the window (td_lifetime_merge inline, as the loop of the other builds below). */
static TD_ALWAYS_INLINE void lanes_lifetimes(td_monitor_t *mon, uint32_t n_channels)
{
#if TD_FEATURE_LIFETIME
    for (uint32_t c = 0; c < n_channels; c++) {
        const td_window_acc_t *const acc = &mon->acc[c];
        const uint32_t n_valid = (uint32_t)acc->n_samples - acc->n_missing;
        td_lifetime_t *const life = &mon->life[c];
        if (life->n + n_valid <= TD_LIFETIME_MAX_SAMPLES) {
            life->n += n_valid;
            life->sum += acc->sum;
            const uint64_t lo = life->sumsq_lo + (uint64_t)acc->sumsq;
            life->sumsq_hi += lo < life->sumsq_lo ? 1u : 0u;
            life->sumsq_lo = lo;
        }
    }
#else
    (void)mon;
    (void)n_channels;
#endif
}

/* The spread features of channels [0, n_channels): the std, or log2 of std + floor << 8 less 2048 (log-std
 * profiles, into spreads, zero up to the next multiple of 4); returns the array that holds them. */
static TD_ALWAYS_INLINE const int32_t *lanes_spreads(const td_monitor_t *mon, const int32_t *stds, int32_t *spreads,
                                                     uint32_t n_channels)
{
    if (!(mon->profile->flags & TD_PROFILE_FLAG_LOG_STD)) {
        return stds;
    }
    for (uint32_t c = 0; c < n_channels; c++) {
        spreads[c] = (int32_t)log2_q8_table((uint32_t)stds[c] + (uint32_t)mon->std_floor8[c]) - LOG2_Q8_OF_Q8;
    }
    for (uint32_t c = n_channels; c < ((n_channels + 3u) & ~3u); c++) {
        spreads[c] = 0;
    }
    return spreads;
}

#if TD_CLOSE_AVX2
#include <immintrin.h>

/* lanes_std_fixup for four lanes. */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE __m128i quad_std_fixup(__m128i s, __m256d d, __m128i nv,
                                                                               int near)
{
    int32_t sv[4];
    int32_t nvv[4];
    double dv[4];
    _mm_storeu_si128((__m128i *)(void *)sv, s);
    _mm_storeu_si128((__m128i *)(void *)nvv, nv);
    _mm256_storeu_pd(dv, d);
    for (uint32_t k = 0; k < 4u; k++) {
        if (near & (1 << k)) {
            const uint32_t s0 = sv[k] != 0 ? (uint32_t)sv[k] : 1u;
            const uint64_t dd = (uint64_t)(int64_t)dv[k];
            const uint64_t nn = (uint64_t)(uint32_t)nvv[k] * (uint32_t)nvv[k];
            sv[k] = (int32_t)(s0 - 1u + td_std_at_least(dd, nn, s0) + td_std_at_least(dd, nn, s0 + 1u));
        }
    }
    return _mm_loadu_si128((const __m128i *)(const void *)sv);
}

/* lanes_z for four features (two channels) in 256-bit doubles. */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE __m128i quad_z(__m256d f, const double *mu, const double *inv,
                                                                       __m128i *mag)
{
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d cen = _mm256_sub_pd(f, _mm256_loadu_pd(mu));
    const __m256d neg = _mm256_cmp_pd(cen, _mm256_setzero_pd(), _CMP_LT_OQ);
    const __m256d p = _mm256_mul_pd(_mm256_andnot_pd(sign, cen), _mm256_loadu_pd(inv));
    const __m256d cap = _mm256_add_pd(_mm256_set1_pd(32767.0), _mm256_and_pd(neg, _mm256_set1_pd(1.0)));
    const __m256d t = _mm256_min_pd(
        _mm256_add_pd(_mm256_mul_pd(p, _mm256_set1_pd(1.0 / 16777216.0)), _mm256_set1_pd(0.5)), cap);
    *mag = _mm256_cvttpd_epi32(t);
    return _mm256_cvttpd_epi32(_mm256_or_pd(t, _mm256_and_pd(cen, sign)));
}

/* close_channels (below) four channels at a time: the doubles in 256-bit AVX registers, the int32 lanes all four
 * channels', SSE4.1's inserts, extracts and PMAXSD. The same values (the same operations, rounded the same; no FMA):
 * tests/test_close_lanes.py compares it with the SSE2 form (TD_CLOSE_AVX2=0). The channels past the last of the last
 * group of four read the accumulators past n_channels (all zero from td_monitor_init: no valid sample, z 0), and
 * their records, past n_channels, are cleared after (close_window). */
__attribute__((target("avx2"))) static td_status close_channels_avx2(td_monitor_t *mon, td_window_result_t *res,
                                                                     int16_t *z_q8)
{
    const uint32_t n_channels = mon->profile->n_channels;
    const __m128i low16 = _mm_set1_epi32(0xFFFF);
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
    int32_t n_valid[TD_MAX_CHANNELS + 4];
    int32_t means[TD_MAX_CHANNELS + 4];
    int32_t stds[TD_MAX_CHANNELS + 4];
    int32_t spreads[TD_MAX_CHANNELS + 4];
    uint32_t missing = 0u;
    uint32_t saturated = 0u;
    uint32_t stuck = 0u;
    for (uint32_t c = 0; c < n_channels; c += 4u) {
        const td_window_acc_t *const acc = &mon->acc[c];
        const __m128i sq01 = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)&acc[0].sumsq),
                                                _mm_loadl_epi64((const __m128i *)(const void *)&acc[1].sumsq));
        const __m128i sq23 = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)&acc[2].sumsq),
                                                _mm_loadl_epi64((const __m128i *)(const void *)&acc[3].sumsq));
        __m128i sums = _mm_cvtsi32_si128(acc[0].sum);
        sums = _mm_insert_epi32(_mm_insert_epi32(_mm_insert_epi32(sums, acc[1].sum, 1), acc[2].sum, 2), acc[3].sum, 3);
        __m128i minmax = _mm_insert_epi16(_mm_cvtsi32_si128((uint16_t)acc[0].min), acc[0].max, 1);
        minmax = _mm_insert_epi16(_mm_insert_epi16(minmax, acc[1].min, 2), acc[1].max, 3);
        minmax = _mm_insert_epi16(_mm_insert_epi16(minmax, acc[2].min, 4), acc[2].max, 5);
        minmax = _mm_insert_epi16(_mm_insert_epi16(minmax, acc[3].min, 6), acc[3].max, 7);
        uint32_t counts[4];
        for (uint32_t k = 0; k < 4u; k++) {
            memcpy(&counts[k], &acc[k].n_missing, sizeof counts[k]);
        }
        __m128i cnt = _mm_cvtsi32_si128((int32_t)counts[0]);
        cnt = _mm_insert_epi32(_mm_insert_epi32(_mm_insert_epi32(cnt, (int32_t)counts[1], 1), (int32_t)counts[2], 2),
                               (int32_t)counts[3], 3); /* missing | saturated << 16 */
        __m128i n_samples = _mm_cvtsi32_si128(acc[0].n_samples);
        n_samples = _mm_insert_epi16(_mm_insert_epi16(_mm_insert_epi16(n_samples, acc[1].n_samples, 2),
                                                      acc[2].n_samples, 4), acc[3].n_samples, 6);
        const __m128i cnt16 = _mm_and_si128(cnt, low16);
        const __m128i nv = _mm_sub_epi32(n_samples, cnt16);
        const __m256d n_d = _mm256_cvtepi32_pd(nv);
        const __m256d sum_d = _mm256_cvtepi32_pd(sums);
        const __m256i sq = _mm256_insertf128_si256(_mm256_castsi128_si256(sq01), sq23, 1);
        const __m256d sq_d = _mm256_sub_pd(_mm256_or_pd(_mm256_castsi256_pd(sq), two52), two52);
        const __m256d inv_2n = _mm256_div_pd(_mm256_set1_pd(0.5), _mm256_max_pd(n_d, _mm256_set1_pd(1.0)));
        const __m256d a =
            _mm256_add_pd(_mm256_mul_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), sum_d), _mm256_set1_pd(512.0)), n_d);
        const __m128i sgn = _mm_srai_epi32(sums, 31);
        const __m128i mean = _mm_sub_epi32(_mm_xor_si128(_mm256_cvttpd_epi32(_mm256_mul_pd(a, inv_2n)), sgn), sgn);
        const __m256d d = _mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(n_d, sq_d), _mm256_mul_pd(sum_d, sum_d)),
                                        _mm256_setzero_pd());
        const __m256d x = _mm256_add_pd(
            _mm256_mul_pd(_mm256_sqrt_pd(d), _mm256_mul_pd(inv_2n, _mm256_set1_pd(512.0))), _mm256_set1_pd(0.5));
        __m128i s = _mm256_cvttpd_epi32(x);
        const __m256d frac = _mm256_sub_pd(x, _mm256_cvtepi32_pd(s));
        const int near = _mm256_movemask_pd(_mm256_or_pd(_mm256_cmp_pd(frac, _mm256_set1_pd(1.0 / 64.0), _CMP_LT_OQ),
                                                         _mm256_cmp_pd(frac, _mm256_set1_pd(63.0 / 64.0), _CMP_GT_OQ)));
        if (TD_UNLIKELY(near != 0)) {
            s = quad_std_fixup(s, d, nv, near);
        }
        _mm_storeu_si128((__m128i *)(void *)&n_valid[c], nv);
        _mm_storeu_si128((__m128i *)(void *)&means[c], mean);
        _mm_storeu_si128((__m128i *)(void *)&stds[c], s);
        const __m128i over_missing =
            _mm_cmpgt_epi32(cnt16, _mm_loadu_si128((const __m128i *)(const void *)&mon->lim_missing[c]));
        const __m128i over_saturated = _mm_cmpgt_epi32(
            _mm_srli_epi32(cnt, 16), _mm_loadu_si128((const __m128i *)(const void *)&mon->lim_saturated[c]));
        const __m128i range = _mm_sub_epi32(_mm_srai_epi32(minmax, 16), _mm_srai_epi32(_mm_slli_epi32(minmax, 16), 16));
        const __m128i is_stuck =
            _mm_and_si128(_mm_cmplt_epi32(range, _mm_loadu_si128((const __m128i *)(const void *)&mon->lim_stuck[c])),
                          _mm_cmpgt_epi32(nv, _mm_set1_epi32(1)));
        missing |= (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(over_missing)) << c;
        saturated |= (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(over_saturated)) << c;
        stuck |= (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(is_stuck)) << c;
        /* the records but for their z */
        const __m128i sm01 = _mm_unpacklo_epi32(sums, mean);
        const __m128i sm23 = _mm_unpackhi_epi32(sums, mean);
        const __m128i stm01 = _mm_unpacklo_epi32(s, minmax);
        const __m128i stm23 = _mm_unpackhi_epi32(s, minmax);
        const __m128i zc01 = _mm_unpacklo_epi32(_mm_setzero_si128(), cnt);
        const __m128i zc23 = _mm_unpackhi_epi32(_mm_setzero_si128(), cnt);
        uint8_t *const out = (uint8_t *)&res->channels[c];
        _mm_storeu_si128((__m128i *)(void *)out, _mm_unpacklo_epi64(sq01, sm01));
        _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_unpacklo_epi64(stm01, zc01));
        _mm_storeu_si128((__m128i *)(void *)(out + 32), _mm_unpackhi_epi64(sq01, sm01));
        _mm_storeu_si128((__m128i *)(void *)(out + 48), _mm_unpackhi_epi64(stm01, zc01));
        _mm_storeu_si128((__m128i *)(void *)(out + 64), _mm_unpacklo_epi64(sq23, sm23));
        _mm_storeu_si128((__m128i *)(void *)(out + 80), _mm_unpacklo_epi64(stm23, zc23));
        _mm_storeu_si128((__m128i *)(void *)(out + 96), _mm_unpackhi_epi64(sq23, sm23));
        _mm_storeu_si128((__m128i *)(void *)(out + 112), _mm_unpackhi_epi64(stm23, zc23));
    }
    const int32_t *const spread = lanes_spreads(mon, stds, spreads, n_channels);
    __m128i best = _mm_setzero_si128();
    for (uint32_t c = 0; c < n_channels; c += 4u) {
        const __m128i m = _mm_loadu_si128((const __m128i *)(const void *)&means[c]);
        const __m128i sp = _mm_loadu_si128((const __m128i *)(const void *)&spread[c]);
        __m128i mag01;
        __m128i mag23;
        __m128i z01 = quad_z(_mm256_cvtepi32_pd(_mm_unpacklo_epi32(m, sp)), &mon->z_mu[2u * c], &mon->z_inv[2u * c],
                             &mag01);
        __m128i z23 = quad_z(_mm256_cvtepi32_pd(_mm_unpackhi_epi32(m, sp)), &mon->z_mu[2u * c + 4u],
                             &mon->z_inv[2u * c + 4u], &mag23);
        const __m128i empty =
            _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(const void *)&n_valid[c]), _mm_setzero_si128());
        const __m128i e01 = _mm_unpacklo_epi32(empty, empty);
        const __m128i e23 = _mm_unpackhi_epi32(empty, empty);
        z01 = _mm_andnot_si128(e01, z01);
        z23 = _mm_andnot_si128(e23, z23);
        const __m128i f = _mm_sub_epi32(_mm_set1_epi32(31 - 2 * (int32_t)c), _mm_set_epi32(3, 2, 1, 0));
        const __m128i key01 = _mm_or_si128(_mm_slli_epi32(_mm_andnot_si128(e01, mag01), 5), f);
        const __m128i key23 = _mm_or_si128(_mm_slli_epi32(_mm_andnot_si128(e23, mag23), 5),
                                           _mm_sub_epi32(f, _mm_set1_epi32(4)));
        best = _mm_max_epi32(best, _mm_max_epi32(key01, key23));
        const __m128i z16 = _mm_packs_epi32(z01, z23); /* z as int16: 32768 saturates to 32767 */
        _mm_storeu_si128((__m128i *)(void *)&z_q8[2u * c], z16);
        int32_t zz[4];
        _mm_storeu_si128((__m128i *)(void *)zz, z16);
        for (uint32_t k = 0; k < 4u; k++) {
            memcpy(&res->channels[c + k].z_mean_q8, &zz[k], sizeof zz[k]);
        }
    }
    lanes_lifetimes(mon, n_channels);
    best = _mm_max_epi32(best, _mm_shuffle_epi32(best, 0x4E));
    best = _mm_max_epi32(best, _mm_shuffle_epi32(best, 0xB1));
    const uint32_t all = (1u << n_channels) - 1u;
    res->missing_mask = (uint16_t)(missing & all);
    res->saturated_mask = (uint16_t)(saturated & all);
    res->stuck_mask = (uint16_t)(stuck & all);
    res->top_channel = (uint8_t)((31u - ((uint32_t)_mm_cvtsi128_si32(best) & 31u)) >> 1);
    return TD_OK;
}
#endif

/* x86-64 (TD_CLOSE_LANES): the same values as the loops below, two channels at a time in SSE2 lanes (four in AVX2:
 * close_channels_avx2 above), in three passes whose pairs overlap. Pass 1: each field of the pair's accumulators
 * read at the width it was stored with, the mean and std in doubles as td_mean_std_q8_x86 computes them (n sumsq -
 * sum^2 is exact in a double: both terms are integers below 2^51), the health bits from int32 compares and MOVMSKPS,
 * the records but for their z. Pass 2: the log-std spread by log2_q8_table per channel. Pass 3: both z in doubles
 * (lanes_z) and the top channel as the largest key (|z| << 5) | (31 - f) over the features f (the larger |z|, then
 * the lower feature: the lower channel keeps a tie; all zero gives channel 0). An odd last channel pairs with the
 * accumulator past it (all zero from td_monitor_init: no valid sample, z 0, its key below every real one); that
 * record is cleared after (close_window) and its health bits masked off. */
static td_status close_channels(td_monitor_t *mon, td_window_result_t *res, int16_t *z_q8)
{
#if TD_CLOSE_AVX2
    if (__builtin_cpu_supports("avx2")) {
        return close_channels_avx2(mon, res, z_q8);
    }
#endif
    const td_profile_t *prof = mon->profile;
    const uint32_t n_channels = prof->n_channels;
    const __m128i low16 = _mm_set1_epi32(0xFFFF);
    const __m128d two52 = _mm_set1_pd(4503599627370496.0);
    /* per channel (up to the next multiple of 4, as lanes_spreads zeroes): n_valid, mean_q8, std_q8, the spread */
    int32_t n_valid[TD_MAX_CHANNELS + 4];
    int32_t means[TD_MAX_CHANNELS + 4];
    int32_t stds[TD_MAX_CHANNELS + 4];
    int32_t spreads[TD_MAX_CHANNELS + 4];
    uint32_t missing = 0u;
    uint32_t saturated = 0u;
    uint32_t stuck = 0u;
    /* Pass 1: the statistics, the health bits, the records but for their z. */
    for (uint32_t c = 0; c < n_channels; c += 2u) {
        const td_window_acc_t *const acc_a = &mon->acc[c];
        const td_window_acc_t *const acc_b = &mon->acc[c + 1u];
        /* Each field read at the width td_window_add_frames has just stored it with (a wider load would wait for the
         * stores to reach the cache rather than take their data from the store buffer). */
        const __m128i sq = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)&acc_a->sumsq),
                                              _mm_loadl_epi64((const __m128i *)(const void *)&acc_b->sumsq));
        const __m128i sums = _mm_unpacklo_epi32(_mm_cvtsi32_si128(acc_a->sum), _mm_cvtsi32_si128(acc_b->sum));
        __m128i minmax = _mm_insert_epi16(_mm_cvtsi32_si128((uint16_t)acc_a->min), acc_a->max, 1);
        minmax = _mm_insert_epi16(_mm_insert_epi16(minmax, acc_b->min, 2), acc_b->max, 3); /* min|max a, b */
        uint32_t counts_a;
        uint32_t counts_b;
        memcpy(&counts_a, &acc_a->n_missing, sizeof counts_a);
        memcpy(&counts_b, &acc_b->n_missing, sizeof counts_b);
        __m128i cnt = _mm_unpacklo_epi32(_mm_cvtsi32_si128((int32_t)counts_a), _mm_cvtsi32_si128((int32_t)counts_b));
        cnt = _mm_insert_epi16(_mm_insert_epi16(cnt, acc_a->n_samples, 4), acc_b->n_samples, 6);
        /* cnt: missing|saturated a, b; n_samples a, b */
        const __m128i cnt16 = _mm_and_si128(cnt, low16);
        const __m128i nv = _mm_sub_epi32(_mm_unpackhi_epi64(cnt, cnt), cnt16); /* n_valid a, b */
        const __m128d n_d = _mm_cvtepi32_pd(nv);
        const __m128d sum_d = _mm_cvtepi32_pd(sums);
        /* sumsq (0 <= sumsq <= 2^40) to double: its bits under 2^52's exponent, less 2^52 */
        const __m128d sq_d = _mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(sq, _mm_castpd_si128(two52))), two52);
        /* the mean: floor((512 |sum| + n) / 2n) by the rounded 1 / 2n (td_mean_std_q8_x86), n 0 giving 0 (sum 0) */
        const __m128d inv_2n = _mm_div_pd(_mm_set1_pd(0.5), _mm_max_pd(n_d, _mm_set1_pd(1.0)));
        const __m128d a = _mm_add_pd(_mm_mul_pd(_mm_andnot_pd(_mm_set1_pd(-0.0), sum_d), _mm_set1_pd(512.0)), n_d);
        const __m128i sgn = _mm_srai_epi32(sums, 31);
        const __m128i mean = _mm_sub_epi32(_mm_xor_si128(_mm_cvttpd_epi32(_mm_mul_pd(a, inv_2n)), sgn), sgn);
        /* the std: x = sqrt(d) 256 / n + 1/2, its floor unless within 1/64 of an integer */
        const __m128d d =
            _mm_max_pd(_mm_sub_pd(_mm_mul_pd(n_d, sq_d), _mm_mul_pd(sum_d, sum_d)), _mm_setzero_pd());
        const __m128d x = _mm_add_pd(_mm_mul_pd(_mm_sqrt_pd(d), _mm_mul_pd(inv_2n, _mm_set1_pd(512.0))),
                                     _mm_set1_pd(0.5));
        __m128i s = _mm_cvttpd_epi32(x);
        const __m128d frac = _mm_sub_pd(x, _mm_cvtepi32_pd(s));
        const int near = _mm_movemask_pd(
            _mm_or_pd(_mm_cmplt_pd(frac, _mm_set1_pd(1.0 / 64.0)), _mm_cmpgt_pd(frac, _mm_set1_pd(63.0 / 64.0))));
        if (TD_UNLIKELY(near != 0)) {
            s = lanes_std_fixup(s, d, nv, near);
        }
        _mm_storel_epi64((__m128i *)(void *)&n_valid[c], nv);
        _mm_storel_epi64((__m128i *)(void *)&means[c], mean);
        _mm_storel_epi64((__m128i *)(void *)&stds[c], s);
        /* health: missing, saturated past the limits; stuck with n_valid >= 2 and max - min < tol + 1 */
        const __m128i over_missing =
            _mm_cmpgt_epi32(cnt16, _mm_loadl_epi64((const __m128i *)(const void *)&mon->lim_missing[c]));
        const __m128i over_saturated = _mm_cmpgt_epi32(
            _mm_srli_epi32(cnt, 16), _mm_loadl_epi64((const __m128i *)(const void *)&mon->lim_saturated[c]));
        const __m128i range = _mm_sub_epi32(_mm_srai_epi32(minmax, 16), _mm_srai_epi32(_mm_slli_epi32(minmax, 16), 16));
        const __m128i is_stuck =
            _mm_and_si128(_mm_cmplt_epi32(range, _mm_loadl_epi64((const __m128i *)(const void *)&mon->lim_stuck[c])),
                          _mm_cmpgt_epi32(nv, _mm_set1_epi32(1)));
        const uint32_t ms =
            (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(_mm_unpacklo_epi64(over_missing, over_saturated)));
        missing |= (ms & 3u) << c;
        saturated |= ((ms >> 2) & 3u) << c;
        stuck |= ((uint32_t)_mm_movemask_ps(_mm_castsi128_ps(is_stuck)) & 3u) << c;
        /* the records: sumsq, sum, mean_q8 | std_q8, min, max, (z later), n_missing, n_saturated */
        const __m128i sum_mean = _mm_unpacklo_epi32(sums, mean);
        const __m128i std_minmax = _mm_unpacklo_epi32(s, minmax);
        const __m128i z_cnt = _mm_unpacklo_epi32(_mm_setzero_si128(), cnt);
        uint8_t *const oa = (uint8_t *)&res->channels[c];
        _mm_storeu_si128((__m128i *)(void *)oa, _mm_unpacklo_epi64(sq, sum_mean));
        _mm_storeu_si128((__m128i *)(void *)(oa + 16), _mm_unpacklo_epi64(std_minmax, z_cnt));
        _mm_storeu_si128((__m128i *)(void *)(oa + 32), _mm_unpackhi_epi64(sq, sum_mean));
        _mm_storeu_si128((__m128i *)(void *)(oa + 48), _mm_unpackhi_epi64(std_minmax, z_cnt));
    }
    /* Pass 2: the spread feature, the std or its log (a table lookup per channel). */
    const int32_t *const spread = lanes_spreads(mon, stds, spreads, n_channels);
    /* Pass 3: both z of each channel, into z_q8 and the records, and the top channel. */
    __m128i best = _mm_setzero_si128();
    for (uint32_t c = 0; c < n_channels; c += 2u) {
        const __m128i feats = _mm_unpacklo_epi32(_mm_loadl_epi64((const __m128i *)(const void *)&means[c]),
                                                 _mm_loadl_epi64((const __m128i *)(const void *)&spread[c]));
        __m128i mag_a;
        __m128i mag_b;
        const __m128i z_a = lanes_z(_mm_cvtepi32_pd(feats), &mon->z_mu[2u * c], &mon->z_inv[2u * c], &mag_a);
        const __m128i z_b = lanes_z(_mm_cvtepi32_pd(_mm_unpackhi_epi64(feats, feats)), &mon->z_mu[2u * c + 2u],
                                    &mon->z_inv[2u * c + 2u], &mag_b);
        /* no valid sample: z = 0 */
        const __m128i empty = _mm_cmpeq_epi32(_mm_loadl_epi64((const __m128i *)(const void *)&n_valid[c]),
                                              _mm_setzero_si128());
        const __m128i empty2 = _mm_unpacklo_epi32(empty, empty);
        const __m128i z = _mm_andnot_si128(empty2, _mm_unpacklo_epi64(z_a, z_b));
        const __m128i mag = _mm_andnot_si128(empty2, _mm_unpacklo_epi64(mag_a, mag_b));
        const __m128i key = _mm_or_si128(_mm_slli_epi32(mag, 5),
                                         _mm_sub_epi32(_mm_set1_epi32(31 - 2 * (int32_t)c), _mm_set_epi32(3, 2, 1, 0)));
        const __m128i gt = _mm_cmpgt_epi32(key, best);
        best = _mm_or_si128(_mm_and_si128(gt, key), _mm_andnot_si128(gt, best));
        const __m128i z16 = _mm_packs_epi32(z, z); /* z as int16: 32768 saturates to 32767 */
        _mm_storel_epi64((__m128i *)(void *)&z_q8[2u * c], z16);
        const int32_t zz_a = _mm_cvtsi128_si32(z16);
        const int32_t zz_b = _mm_cvtsi128_si32(_mm_srli_si128(z16, 4));
        memcpy(&res->channels[c].z_mean_q8, &zz_a, sizeof zz_a);
        memcpy(&res->channels[c + 1u].z_mean_q8, &zz_b, sizeof zz_b);
    }
    lanes_lifetimes(mon, n_channels);
    {
        const __m128i other = _mm_shuffle_epi32(best, 0x4E);
        const __m128i gt = _mm_cmpgt_epi32(other, best);
        best = _mm_or_si128(_mm_and_si128(gt, other), _mm_andnot_si128(gt, best));
    }
    {
        const __m128i other = _mm_shuffle_epi32(best, 0xB1);
        const __m128i gt = _mm_cmpgt_epi32(other, best);
        best = _mm_or_si128(_mm_and_si128(gt, other), _mm_andnot_si128(gt, best));
    }
    const uint32_t all = (1u << n_channels) - 1u;
    res->missing_mask = (uint16_t)(missing & all);
    res->saturated_mask = (uint16_t)(saturated & all);
    res->stuck_mask = (uint16_t)(stuck & all);
    res->top_channel = (uint8_t)((31u - ((uint32_t)_mm_cvtsi128_si32(best) & 31u)) >> 1);
    return TD_OK;
}
#elif TD_OPTIMIZE_SPEED
/* The speed build: the same values as the loop of the other build below, in two passes over the channels that each
 * keep their state in registers across the one call they make (td_std_q8), the health masks and the top channel in
 * registers rather than in the result, td_log2_q8 inline, and the acc fields copied as words. */
static td_status close_channels(td_monitor_t *mon, td_window_result_t *res, int16_t *z_q8)
{
    const td_profile_t *prof = mon->profile;
    const uint32_t n_channels = prof->n_channels;
    /* Pass 1: statistics, the copies of the acc, the lifetime sums. */
#if TD_HOST_X86
    td_recip_t recip = {0u, 0.0, 0.0};
#endif
    uint32_t c0 = 0u;
#if TD_ARM_FPU && TD_ARM_DSP && TD_FEATURE_LIFETIME
    /* The Cortex-M4F: the channels with 2^p valid samples (p <= 9) in assembly, until another one. */
    /* The offsets the assembly uses (GCC folds the test). */
    if (sizeof(td_window_acc_t) == 32u && offsetof(td_window_acc_t, sumsq) == 0u &&
        offsetof(td_window_acc_t, sum) == 8u && offsetof(td_window_acc_t, min) == 20u &&
        offsetof(td_window_acc_t, n_missing) == 24u && offsetof(td_window_acc_t, n_saturated) == 26u &&
        offsetof(td_window_acc_t, n_samples) == 28u && sizeof(td_channel_result_t) == 32u &&
        offsetof(td_channel_result_t, sumsq) == 0u && offsetof(td_channel_result_t, sum) == 8u &&
        offsetof(td_channel_result_t, mean_q8) == 12u && offsetof(td_channel_result_t, std_q8) == 16u &&
        offsetof(td_channel_result_t, min) == 20u && offsetof(td_channel_result_t, max) == 22u &&
        offsetof(td_channel_result_t, n_missing) == 28u && offsetof(td_channel_result_t, n_saturated) == 30u &&
        sizeof(td_lifetime_t) == 32u && offsetof(td_lifetime_t, sum) == 8u && offsetof(td_lifetime_t, sumsq_lo) == 16u &&
        offsetof(td_lifetime_t, sumsq_hi) == 24u && offsetof(td_monitor_t, life) - offsetof(td_monitor_t, acc) <= 992u) {
        c0 = (uint32_t)(pass1_pow2(mon->acc, res->channels, &mon->acc[n_channels]) - mon->acc);
    }
#endif
    for (uint32_t c = c0; c < n_channels; c++) {
        const td_window_acc_t *const acc = &mon->acc[c];
        td_channel_result_t *const out = &res->channels[c];
        const int32_t sum = acc->sum;
        const int64_t sumsq = acc->sumsq;
        const uint32_t n_valid = (uint32_t)acc->n_samples - acc->n_missing;
        int32_t mean_q8;
        int32_t std_q8;
#if TD_HOST_X86
        /* x86-64: both without a division or a square-root loop (td_stats_internal.h); n_valid 0 gives 0, 0. */
        if (TD_UNLIKELY(n_valid == 0u)) {
            mean_q8 = 0;
            std_q8 = 0;
        } else {
            td_mean_std_q8_x86(sum, sumsq, n_valid, &recip, &mean_q8, &std_q8);
        }
#else
        /* A power-of-two count (every sample valid in a power-of-two window): td_mean_q8 and td_var_q32 inline, with
         * shifts for their divisions (exact for n = 2^p) and without their clamps, which a window's own sums never
         * reach (|sum| <= n 2^15, 0 <= sumsq <= n 2^30, n <= 1024). */
        if (n_valid != 0u && (n_valid & (n_valid - 1u)) == 0u) {
            const uint32_t p = 31u - td_clz32(n_valid);
            const uint32_t mag = td_abs32(sum);
            const uint32_t mean = ((mag >> p) << 8) + ((((mag & (n_valid - 1u)) << 9) + n_valid) >> (p + 1u));
            mean_q8 = sum < 0 ? -(int32_t)mean : (int32_t)mean;
            const int64_t scaled = (int64_t)n_valid * sumsq - (int64_t)sum * sum;
#if TD_ARM_FPU
            /* The Cortex-M4F: the same value from the FPU's square root and an exact fix-up. */
            std_q8 = td_std_q8_pow2(scaled > 0 ? (uint64_t)scaled : 0u, p);
#else
            /* td_std_q8 of scaled 2^(32 - 2p) (< 2^62 for n <= 1024), the shift folded into the root's own. */
            std_q8 = (int32_t)((td_isqrt64_shl(scaled > 0 ? (uint64_t)scaled : 0u, 16u - p) + 128u) >> 8);
#endif
        } else {
            mean_q8 = td_mean_q8(sum, n_valid);
            std_q8 = td_std_q8(td_var_q32(sum, sumsq, n_valid));
        }
#endif
        out->sumsq = sumsq;
        out->sum = sum;
        out->mean_q8 = mean_q8;
        /* min, max (4 bytes) and n_missing, n_saturated (4 bytes): the same pairs in the acc and the result. */
        memcpy(&out->min, &acc->min, 2u * sizeof out->min);
        memcpy(&out->n_missing, &acc->n_missing, 2u * sizeof out->n_missing);
#if TD_FEATURE_LIFETIME
        /* td_lifetime_merge inline, without its argument checks: a window's own sums always pass them (n_valid <=
         * TD_MAX_WINDOW <= 1024 int16 samples: |sum| <= n 2^15, sumsq <= n 2^30). The same state; past
         * TD_LIFETIME_MAX_SAMPLES it stops growing. */
        td_lifetime_t *const life = &mon->life[c];
        if (life->n + n_valid <= TD_LIFETIME_MAX_SAMPLES) {
            life->n += n_valid;
            life->sum += sum;
            const uint64_t lo = life->sumsq_lo + (uint64_t)sumsq;
            life->sumsq_hi += lo < life->sumsq_lo ? 1u : 0u;
            life->sumsq_lo = lo;
        }
#endif
        out->std_q8 = std_q8;
    }
    /* Pass 2: health, the features and their z, the top channel. */
    const uint32_t log_std = prof->flags & TD_PROFILE_FLAG_LOG_STD;
#if TD_ARM_DSP && TD_MAX_CHANNELS <= 16
    /* The Cortex-M4 with a log-std profile: in assembly (the offsets it uses checked here; GCC folds the test). */
    if (log_std && n_channels != 0u && TD_CH_FLAGS == 6u && TD_CH_STUCK_TOL == 8u && TD_CH_MAX_MISSING == 10u &&
        TD_CH_MAX_SATURATED == 12u && TD_CH_STD_FLOOR == 14u && TD_PROFILE_CHANNEL_SIZE == 24u &&
        TD_PROFILE_FEATURE_SIZE == 8u && TD_FEATURES_PER_CHANNEL == 2 && TD_CHANNEL_FLAG_STUCK_CHECK == 1u &&
        LOG2_Q8_OF_Q8 == 2048 && TD_INV_SIGMA_SHIFT == 24u && sizeof(td_window_acc_t) == 32u &&
        offsetof(td_window_acc_t, n_samples) == 28u && sizeof(td_channel_result_t) == 32u &&
        offsetof(td_channel_result_t, mean_q8) == 12u && offsetof(td_channel_result_t, std_q8) == 16u &&
        offsetof(td_channel_result_t, min) == 20u && offsetof(td_channel_result_t, max) == 22u &&
        offsetof(td_channel_result_t, z_mean_q8) == 24u && offsetof(td_channel_result_t, z_std_q8) == 26u &&
        offsetof(td_channel_result_t, n_missing) == 28u && offsetof(td_channel_result_t, n_saturated) == 30u &&
        offsetof(td_window_result_t, saturated_mask) == offsetof(td_window_result_t, stuck_mask) + 2u &&
        offsetof(td_window_result_t, missing_mask) == offsetof(td_window_result_t, stuck_mask) + 4u &&
        offsetof(td_window_result_t, top_channel) == offsetof(td_window_result_t, stuck_mask) + 9u) {
        pass2_logstd(res->channels, prof->channels, prof->features, mon->acc, z_q8, n_channels, td_log2_first,
                     td_log2_below + 1, &res->stuck_mask);
        return TD_OK;
    }
#endif
    const uint8_t *rec = prof->channels;
    const uint8_t *feat = prof->features;
    uint32_t missing = 0u;
    uint32_t saturated = 0u;
    uint32_t stuck = 0u;
    uint32_t top_abs = 0u;
    uint32_t top = 0u;
    for (uint32_t c = 0; c < n_channels;
         c++, rec += TD_PROFILE_CHANNEL_SIZE, feat += TD_FEATURES_PER_CHANNEL * TD_PROFILE_FEATURE_SIZE) {
        td_channel_result_t *const out = &res->channels[c];
        const uint32_t n_valid = (uint32_t)mon->acc[c].n_samples - out->n_missing;
        const uint32_t bit = 1u << c;
        if (out->n_missing > td_load_u16(rec + TD_CH_MAX_MISSING)) {
            missing |= bit;
        }
        if (out->n_saturated > td_load_u16(rec + TD_CH_MAX_SATURATED)) {
            saturated |= bit;
        }
        if ((td_load_u16(rec + TD_CH_FLAGS) & TD_CHANNEL_FLAG_STUCK_CHECK) && n_valid >= 2u &&
            (uint32_t)((int32_t)out->max - out->min) <= td_load_u16(rec + TD_CH_STUCK_TOL)) {
            stuck |= bit;
        }
        int16_t z_mean = 0;
        int16_t z_spread = 0;
        /* A channel with no valid sample carries no evidence: it sits at the reference (z = 0). */
        if (n_valid > 0u) {
            int32_t spread = out->std_q8;
            if (log_std) {
                /* On a log scale a gain change moves the feature by the same amount in a quiet and a busy activity. */
                spread = (int32_t)log2_q8_table((uint32_t)spread + ((uint32_t)td_load_u16(rec + TD_CH_STD_FLOOR) << 8)) -
                         LOG2_Q8_OF_Q8;
            }
            z_mean = standardize(out->mean_q8 - td_load_i32(feat), td_load_u32(feat + 4u));
            z_spread = standardize(spread - td_load_i32(feat + TD_PROFILE_FEATURE_SIZE),
                                   td_load_u32(feat + TD_PROFILE_FEATURE_SIZE + 4u));
        }
        z_q8[2u * c] = z_mean;
        z_q8[2u * c + 1u] = z_spread;
        out->z_mean_q8 = z_mean;
        out->z_std_q8 = z_spread;
        const uint32_t a = abs16(z_mean) > abs16(z_spread) ? abs16(z_mean) : abs16(z_spread);
        if (a > top_abs) {
            top_abs = a;
            top = c;
        }
    }
    res->missing_mask = (uint16_t)missing;
    res->saturated_mask = (uint16_t)saturated;
    res->stuck_mask = (uint16_t)stuck;
    res->top_channel = (uint8_t)top;
    return TD_OK;
}
#else
static td_status close_channels(td_monitor_t *mon, td_window_result_t *res, int16_t *z_q8)
{
    const td_profile_t *prof = mon->profile;
    uint32_t top_abs = 0u;
    for (uint8_t c = 0; c < prof->n_channels; c++) {
        const td_window_acc_t *acc = &mon->acc[c];
        td_channel_result_t *out = &res->channels[c];
        /* The few settings used here, read from the validated record (decoding it all cost ~35 instructions). */
        const uint8_t *const rec = prof->channels + (uint32_t)c * TD_PROFILE_CHANNEL_SIZE;
        const uint32_t n_valid = (uint32_t)acc->n_samples - acc->n_missing;
        const uint64_t var_q32 = td_var_q32(acc->sum, acc->sumsq, n_valid);
#if TD_FEATURE_LIFETIME
        /* Past TD_LIFETIME_MAX_SAMPLES (centuries) the lifetime statistics stop growing; the window goes on. */
        const td_status st = td_lifetime_merge(&mon->life[c], n_valid, acc->sum, acc->sumsq);
        if (st != TD_OK && st != TD_ERR_CAPACITY) {
            return st;
        }
#endif
        out->sum = acc->sum;
        out->sumsq = acc->sumsq;
        out->min = acc->min;
        out->max = acc->max;
        out->n_missing = acc->n_missing;
        out->n_saturated = acc->n_saturated;
        out->mean_q8 = td_mean_q8(acc->sum, n_valid);
        out->std_q8 = td_std_q8(var_q32);

        const uint16_t bit = (uint16_t)(1u << c);
        if (acc->n_missing > td_load_u16(rec + TD_CH_MAX_MISSING)) {
            res->missing_mask |= bit;
        }
        if (acc->n_saturated > td_load_u16(rec + TD_CH_MAX_SATURATED)) {
            res->saturated_mask |= bit;
        }
        if ((td_load_u16(rec + TD_CH_FLAGS) & TD_CHANNEL_FLAG_STUCK_CHECK) && n_valid >= 2u &&
            (uint32_t)((int32_t)acc->max - acc->min) <= td_load_u16(rec + TD_CH_STUCK_TOL)) {
            res->stuck_mask |= bit;
        }

        int32_t spread = out->std_q8;
        if (prof->flags & TD_PROFILE_FLAG_LOG_STD) {
            /* On a log scale a gain change moves the feature by the same amount in a quiet and a busy activity. */
            spread = (int32_t)td_log2_q8((uint32_t)out->std_q8 + ((uint32_t)td_load_u16(rec + TD_CH_STD_FLOOR) << 8)) - LOG2_Q8_OF_Q8;
        }
        const int32_t feature[TD_FEATURES_PER_CHANNEL] = {out->mean_q8, spread};
        for (uint32_t k = 0; k < TD_FEATURES_PER_CHANNEL; k++) {
            const uint32_t f = (uint32_t)c * TD_FEATURES_PER_CHANNEL + k;
            const uint8_t *rec = prof->features + f * TD_PROFILE_FEATURE_SIZE;
            const int32_t mu = td_load_i32(rec);
            const uint32_t inv_sigma = td_load_u32(rec + 4u);
            /* A channel with no valid sample carries no evidence: it sits at the reference (z = 0). */
            z_q8[f] = n_valid > 0u ? standardize(feature[k] - mu, inv_sigma) : 0;
        }
        out->z_mean_q8 = z_q8[2u * c];
        out->z_std_q8 = z_q8[2u * c + 1u];
        const uint32_t a = abs16(out->z_mean_q8) > abs16(out->z_std_q8) ? abs16(out->z_mean_q8) : abs16(out->z_std_q8);
        if (a > top_abs) {
            top_abs = a;
            res->top_channel = c;
        }
    }
    return TD_OK;
}
#endif

#if TD_OPTIMIZE_SPEED
uint32_t td_log2_q8(uint32_t x)
{
    return log2_q8_table(x);
}
#else
uint32_t td_log2_q8(uint32_t x)
{
    if (x == 0u) {
        return 0u;
    }
    /* Normalize so the top bit is bit 31: m / 2^31 is the mantissa in [1, 2), n the integer part. */
    const uint32_t lead = td_clz32(x);
    uint32_t m = x << lead;
    const uint32_t n = 31u - lead;
    /* Each squaring of the mantissa doubles its log2: the carry past 2 is the next fraction bit. */
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
    /* The same steps, two per loop pass: LSLS puts the carry (bit 63 of the square) into C, ADC appends it to the
     * result (n, which ends up 8 bits further left) and C picks the next mantissa. Six instructions per step where
     * GCC's C version takes eleven. Tested on the Cortex-M4 by make test-core-m4 (test_monitor.c's test_log2_q8). */
    uint32_t r = n;
    uint32_t lo;
    uint32_t hi;
    uint32_t t;
    uint32_t i = 4u;
    __asm__("1:\n\t"
            ".rept 2\n\t"
            "umull %[lo], %[hi], %[m], %[m]\n\t"
            "lsls %[t], %[hi], #1\n\t"
            "adc %[r], %[r], %[r]\n\t"
            "ite cs\n\t"
            "movcs %[m], %[hi]\n\t"
            "orrcc %[m], %[t], %[lo], lsr #31\n\t"
            ".endr\n\t"
            "subs %[i], %[i], #1\n\t"
            "bne 1b"
            : [r] "+&r"(r), [m] "+&r"(m), [lo] "=&r"(lo), [hi] "=&r"(hi), [t] "=&r"(t), [i] "+&r"(i)
            :
            : "cc");
    return r;
#else
    uint32_t frac = 0u;
    for (uint32_t i = 0; i < 8u; i++) {
        const uint64_t sq = (uint64_t)m * m;
        const uint32_t hi = (uint32_t)(sq >> 32);
        const uint32_t carry = hi >> 31;
        frac = (frac << 1) | carry;
        /* Word operations: a variable 64-bit shift costs the M4 several instructions. */
        m = carry ? hi : (hi << 1) | ((uint32_t)sq >> 31);
    }
    return (n << 8) | frac;
#endif
}
#endif
#if TD_FEATURE_OUTPUTS
/* Model outputs of the window: summary, labels, DDM verdict (a drift raises CONCEPT and latches the alarm). */
static td_status close_outputs(td_monitor_t *mon, td_window_result_t *res)
{
    const td_monitor_outputs_t *out = &mon->out;
    td_outputs_summary_t sum;
    const td_status st = td_outputs_summary(&out->acc, &out->cfg, &sum);
    if (st != TD_OK) {
        return st;
    }
    res->n_inferences = sum.count;
    res->top_class = sum.top_class;
    res->mean_confidence_q16 = sum.mean_confidence_q16;
    res->estimated_accuracy_q16 = sum.estimated_accuracy_q16;
    res->prior_shift_q16 = sum.prior_shift_q16;
    res->ddm_state = out->ddm_state;
    res->n_labels = out->n_labels;
    res->n_correct = out->n_correct;
    res->accuracy_q16 = td_ddm_accuracy_q16(&out->ddm);
    if (out->ddm_state == TD_DDM_DRIFT) {
        res->trigger |= TD_TRIGGER_CONCEPT;
        mon->detector.alarm = 1u;
    }
    return TD_OK;
}
#endif

#if TD_OPTIMIZE_SPEED && defined(__GNUC__) && !TD_ARM_DSP
/* Eight-byte words, as memset's bytes: a character type's aliasing (may_alias). */
typedef uint64_t __attribute__((may_alias)) td_word8_t;

/* memset(p, 0, bytes) for p 8-byte aligned and bytes a multiple of 32 (the result's header and channel records in
 * the usual layouts): four 8-byte stores a pass, about half of newlib-nano memset's instructions on the M4 (make
 * bench-device), and no tail loop that GCC would turn back into a memset call. */
static TD_ALWAYS_INLINE void clear_32(void *p, size_t bytes)
{
    td_word8_t *w = (td_word8_t *)p;
    td_word8_t *const end = w + bytes / 8u;
    for (; w != end; w += 4) {
        w[0] = 0u;
        w[1] = 0u;
        w[2] = 0u;
        w[3] = 0u;
    }
}
#endif

#if TD_ARM_DSP
/* Zeroes the result's header (from res up to channels: unrolled) and its channel records past the first n_channels:
 * whole 32-byte blocks (close_window checks the layout), each one STM of eight zero registers (the records two a
 * loop pass). */
static TD_ALWAYS_INLINE void clear_blocks(void *res, td_channel_result_t *channels, uint32_t n_channels)
{
    uint8_t *p = (uint8_t *)res;
    uint8_t *q = (uint8_t *)&channels[n_channels];
    uint8_t *const end = (uint8_t *)&channels[TD_MAX_CHANNELS];
    __asm__ volatile("movs r2, #0\n\t"
                     "movs r3, #0\n\t"
                     "movs r4, #0\n\t"
                     "movs r5, #0\n\t"
                     "movs r6, #0\n\t"
                     "mov r8, r2\n\t"
                     "mov r9, r2\n\t"
                     "mov ip, r2\n\t"
                     ".rept %c[head_blocks]\n\t"
                     "stmia %[p]!, {r2, r3, r4, r5, r6, r8, r9, ip}\n\t"
                     ".endr\n\t"
                     /* the channel records: an odd one first, then two a pass */
                     "subs %[p], %[end], %[q]\n\t"
                     "beq 3f\n\t"
                     "tst %[p], #32\n\t"
                     "beq 2f\n\t"
                     "stmia %[q]!, {r2, r3, r4, r5, r6, r8, r9, ip}\n\t"
                     "cmp %[q], %[end]\n\t"
                     "beq 3f\n\t"
                     "2:\n\t"
                     "stmia %[q]!, {r2, r3, r4, r5, r6, r8, r9, ip}\n\t"
                     "stmia %[q]!, {r2, r3, r4, r5, r6, r8, r9, ip}\n\t"
                     "cmp %[q], %[end]\n\t"
                     "bne 2b\n\t"
                     "3:"
                     : [p] "+&r"(p), [q] "+&r"(q)
                     : [head_blocks] "i"(offsetof(td_window_result_t, channels) / 32u), [end] "r"(end)
                     : "r2", "r3", "r4", "r5", "r6", "r8", "r9", "ip", "cc", "memory");
}
#endif

/* Out of line: td_monitor_push's per-frame loop and the close then allocate their registers apart (Cortex-M4, make
 * bench-device: about 25 fewer instructions a close and 10 fewer a single-frame push than inlined). */
static TD_NOINLINE td_status close_window(td_monitor_t *mon, td_window_result_t *res)
{
    const td_profile_t *prof = mon->profile;
    int16_t z_q8[TD_MAX_FEATURES];
    /* close_channels writes every field of channels[0..n_channels): only the rest needs clearing. */
#if TD_ARM_DSP
    /* The Cortex-M4: eight zero registers, one STM a 32-byte block (about 60 instructions where clear_32 takes 140). */
    if (offsetof(td_window_result_t, channels) % 32u == 0u && sizeof(td_channel_result_t) % 32u == 0u) {
        clear_blocks(res, res->channels, prof->n_channels);
    } else
#elif TD_OPTIMIZE_SPEED && defined(__GNUC__)
    /* The result is 8-byte aligned where its int64 fields are (the M4's AAPCS, 64-bit hosts; not i386), and its
     * header (192 B) and channel records (32 B) are whole 32-byte blocks with the default td_config.h sizes. */
    if (__alignof__(td_window_result_t) >= 8u && offsetof(td_window_result_t, channels) % 32u == 0u &&
        sizeof(td_channel_result_t) % 32u == 0u) {
        clear_32(res, offsetof(td_window_result_t, channels));
#if !TD_CLOSE_LANES
        clear_32(&res->channels[prof->n_channels], (TD_MAX_CHANNELS - prof->n_channels) * sizeof res->channels[0]);
#endif
    } else
#endif
    {
        memset(res, 0, offsetof(td_window_result_t, channels));
        memset(&res->channels[prof->n_channels], 0, (TD_MAX_CHANNELS - prof->n_channels) * sizeof res->channels[0]);
    }
    res->window_index = mon->window_index;
    td_status st = close_channels(mon, res, z_q8);
    if (st != TD_OK) {
        return st;
    }
#if TD_CLOSE_LANES
    /* The lanes' close writes records past n_channels too (its last group's spare lanes): the rest cleared after it. */
    if (__alignof__(td_window_result_t) >= 8u && sizeof(td_channel_result_t) % 32u == 0u) {
        clear_32(&res->channels[prof->n_channels], (TD_MAX_CHANNELS - prof->n_channels) * sizeof res->channels[0]);
    } else {
        memset(&res->channels[prof->n_channels], 0, (TD_MAX_CHANNELS - prof->n_channels) * sizeof res->channels[0]);
    }
#endif
    uint32_t embedded = 1u; /* 0 for an external-embedding window without embeddings: no nearest centroid */
#if TD_FEATURE_EXTERNAL
    if (prof->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        res->n_embeddings = mon->n_embeddings;
        embedded = mon->n_embeddings;
        if (embedded) {
            td_mon_embed_external(mon, res->embedding_q8);
        }
    } else
#endif
    {
#if TD_HOST_X86
        res->recon_q8 = td_mon_embed_pca_cols(prof, mon->proj_cols, z_q8, res->embedding_q8);
#else
        res->recon_q8 = td_mon_embed_pca(prof, z_q8, res->embedding_q8);
#endif
    }
#if TD_MON_DEV
    /* The search's terms of the centroid it tries first, for the fitted shifts. */
    td_mon_dev_t dev;
    dev.k = TD_MAX_CENTROIDS;
#endif
    if (embedded) {
#if TD_MON_DEV
        res->dist_q8 = td_mon_nearest_centroid_dev(mon, res->embedding_q8, &res->nearest, &dev);
#else
        res->dist_q8 = td_mon_nearest_centroid(mon, res->embedding_q8, &res->nearest);
#endif
        mon->last_nearest = res->nearest;
    }
    res->score_q8 = td_sat_u32((uint64_t)res->dist_q8 + res->recon_q8);

    const td_detector_params_t params = {prof->cusum_k_q8, prof->cusum_h_q8, prof->instant_q8};
    const uint32_t cusum_before = mon->detector.cusum_q8;
#if TD_OPTIMIZE_SPEED
    /* td_detector_update inline (its arguments are never NULL here). */
    res->trigger = td_detector_step(&mon->detector.cusum_q8, &params, res->score_q8);
    if (res->trigger != 0u) {
        mon->detector.alarm = 1u;
    }
#else
    st = td_detector_update(&mon->detector, &params, res->score_q8, &res->trigger);
    if (st != TD_OK) {
        return st;
    }
#endif
#if TD_FEATURE_ATTRIBUTION || TD_FEATURE_CHART
    /* The attribution runs in the windows of a CUSUM run (a new run starts from no evidence), the feature chart in
     * every window; both need the fitted shifts. */
    const uint32_t in_run =
        TD_FEATURE_ATTRIBUTION && mon->detector.cusum_q8 > 0u && !(prof->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING);
    if (in_run || (TD_FEATURE_CHART && prof->feature_chart != NULL)) {
#if TD_FEATURE_ATTRIBUTION
        if (in_run && cusum_before == 0u) {
            memset(mon->blame_q8, 0, sizeof mon->blame_q8);
        }
#endif
#if TD_MON_DEV
        td_mon_feature_tests_dev(mon, res, in_run, &dev);
#else
        td_mon_feature_tests(mon, res, in_run);
#endif
    }
#else
    (void)cusum_before;
#endif
#if TD_FEATURE_OCCUPANCY
    if (prof->occupancy != NULL && embedded) {
        td_mon_occupancy(mon, res);
    }
#endif
    if (res->stuck_mask | res->saturated_mask | res->missing_mask) {
        res->trigger |= TD_TRIGGER_HEALTH;
        mon->detector.alarm = 1u;
    }
#if TD_FEATURE_OUTPUTS
    if (mon->has_outputs) {
        st = close_outputs(mon, res);
        if (st != TD_OK) {
            return st;
        }
    }
#endif
    res->alarm = mon->detector.alarm;
    res->cusum_q8 = mon->detector.cusum_q8;
    mon->window_index++;
    return monitor_reset_window(mon);
}

td_status td_monitor_push(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *results,
                          uint32_t cap, uint32_t *n_results)
{
    if (mon == NULL || mon->profile == NULL || n_results == NULL || (frames == NULL && n_frames > 0u) ||
        (results == NULL && cap > 0u)) {
        return TD_ERR_ARG;
    }
    *n_results = 0u;
    const td_profile_t *prof = mon->profile;
    const uint32_t window = prof->window;
    const uint32_t n_channels = prof->n_channels;
    /* (fill + n) / window > cap, without a 64-bit division (a library call on the M4). */
    if ((uint64_t)mon->fill + n_frames >= ((uint64_t)cap + 1u) * window) {
        return TD_ERR_CAPACITY;
    }
    uint32_t remaining = n_frames;
    const int16_t *block = frames;
#if TD_HOST_X86 && TD_BLOCK_LANES && TD_BLOCK_AVX2
    /* x86-64 with AVX2: whole windows straight into the empty accumulators (fill 0: td_monitor_init or the last close
     * reset them, and no add left them part-filled, since with fresh_ok every channel's rules are valid and a window
     * fits, so no add fails half-way). */
    if (mon->fresh_ok && mon->fill == 0u) {
        const size_t step = (size_t)window * n_channels;
        for (; remaining >= window; remaining -= window, block += step) {
            const td_status st = td_window_add_fresh(mon->acc, mon->rules, mon->fresh_rails, block, n_channels, window);
            if (st != TD_OK) {
                return st;
            }
            mon->fill = (uint16_t)window;
            const td_status sc = close_window(mon, &results[*n_results]);
            if (sc != TD_OK) {
                return sc;
            }
            (*n_results)++;
        }
    }
#endif
    while (remaining > 0u) {
        const uint32_t room = window - mon->fill;
        const uint32_t chunk = remaining < room ? remaining : room;
        /* Channel by channel over the block (each inner loop keeps one channel's sums in registers), or in lanes on
         * the host (td_stats_internal.h). */
        const td_status st = td_window_add_frames(mon->acc, mon->rules, block, n_channels, chunk);
        if (st != TD_OK) {
            return st;
        }
        block += (size_t)chunk * n_channels;
        remaining -= chunk;
        mon->fill = (uint16_t)(mon->fill + chunk);
        if (mon->fill == window) {
            const td_status st = close_window(mon, &results[*n_results]);
            if (st != TD_OK) {
                return st;
            }
            (*n_results)++;
        }
    }
    return TD_OK;
}

td_status td_monitor_push_embedding(td_monitor_t *mon, const int8_t *embedding, uint32_t len)
{
#if TD_FEATURE_EXTERNAL
    if (mon == NULL || mon->profile == NULL || embedding == NULL) {
        return TD_ERR_ARG;
    }
    if (!(mon->profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) {
        return TD_ERR_MODE;
    }
    if (len != mon->profile->n_dims) {
        return TD_ERR_ARG;
    }
    if (mon->n_embeddings >= TD_MAX_EMBEDDINGS_PER_WINDOW) {
        return TD_ERR_CAPACITY;
    }
    for (uint32_t j = 0; j < len; j++) {
        mon->emb_sum[j] += embedding[j];
    }
    mon->n_embeddings++;
    return TD_OK;
#else
    /* Every profile this build runs is a PCA one (td_config.h: TD_FEATURE_EXTERNAL). */
    (void)embedding;
    (void)len;
    return mon == NULL ? TD_ERR_ARG : TD_ERR_MODE;
#endif
}

td_status td_monitor_push_outputs(td_monitor_t *mon, const int8_t *probs, uint32_t n_classes, uint32_t *inference_seq)
{
#if TD_FEATURE_OUTPUTS
    if (mon == NULL || mon->profile == NULL || probs == NULL) {
        return TD_ERR_ARG;
    }
    if (!mon->has_outputs) {
        return TD_ERR_MODE;
    }
    td_monitor_outputs_t *out = &mon->out;
    uint8_t predicted;
    const td_status st = td_outputs_push(&out->acc, &out->cfg, probs, n_classes, &predicted);
    if (st != TD_OK) {
        return st;
    }
    out->predicted[out->seq & (TD_MAX_PENDING_PREDICTIONS - 1u)] = predicted;
    if (out->n_pending < TD_MAX_PENDING_PREDICTIONS) {
        out->n_pending++;
    }
    if (inference_seq != NULL) {
        *inference_seq = out->seq;
    }
    out->seq++;
    return TD_OK;
#else
    /* This build monitors no model outputs (td_config.h: TD_FEATURE_OUTPUTS). */
    (void)probs;
    (void)n_classes;
    (void)inference_seq;
    return mon == NULL ? TD_ERR_ARG : TD_ERR_MODE;
#endif
}

td_status td_monitor_push_label(td_monitor_t *mon, uint32_t inference_seq, uint8_t label)
{
#if TD_FEATURE_OUTPUTS
    if (mon == NULL || mon->profile == NULL) {
        return TD_ERR_ARG;
    }
    if (!mon->has_outputs) {
        return TD_ERR_MODE;
    }
    td_monitor_outputs_t *out = &mon->out;
    /* Age 1 is the latest inference; modular, so it survives the counter wrapping. */
    const uint32_t age = out->seq - inference_seq;
    if (age == 0u || age > out->n_pending) {
        return TD_ERR_RANGE;
    }
    if (label >= out->cfg.n_classes) {
        return TD_ERR_ARG;
    }
    uint8_t *slot = &out->predicted[inference_seq & (TD_MAX_PENDING_PREDICTIONS - 1u)];
    if (*slot & LABELLED) {
        return TD_ERR_STATE;
    }
    if (out->n_labels == UINT16_MAX) {
        return TD_ERR_CAPACITY;
    }
    const uint8_t correct = *slot == label ? 1u : 0u;
    uint8_t verdict;
    const td_status st = td_ddm_update(&out->ddm, correct, &verdict);
    if (st != TD_OK) {
        return st;
    }
    *slot |= LABELLED;
    out->n_labels++;
    out->n_correct = (uint16_t)(out->n_correct + correct);
    if (verdict > out->ddm_state) {
        out->ddm_state = verdict;
    }
    return TD_OK;
#else
    (void)inference_seq;
    (void)label;
    return mon == NULL ? TD_ERR_ARG : TD_ERR_MODE;
#endif
}

td_status td_monitor_reset_alarm(td_monitor_t *mon)
{
    if (mon == NULL) {
        return TD_ERR_ARG;
    }
    /* The occupancy test and the feature chart start over: they still hold the windows that raised the alarm. */
#if TD_FEATURE_OCCUPANCY
    memset(&mon->occupancy, 0, sizeof mon->occupancy);
#endif
#if TD_FEATURE_CHART
    memset(mon->chart_q8, 0, sizeof mon->chart_q8);
#endif
    return td_detector_reset(&mon->detector);
}

td_status td_monitor_lifetime(const td_monitor_t *mon, uint8_t channel, td_lifetime_t *out)
{
#if TD_FEATURE_LIFETIME
    if (mon == NULL || mon->profile == NULL || out == NULL || channel >= mon->profile->n_channels) {
        return TD_ERR_ARG;
    }
    *out = mon->life[channel];
    return TD_OK;
#else
    (void)channel;
    return mon == NULL || out == NULL ? TD_ERR_ARG : TD_ERR_MODE;
#endif
}
