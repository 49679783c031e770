/* td_stats_internal.h - private: the window accumulators of a whole frame block at once (td_stats.c).
 *
 * td_window_add_frames gives exactly what td_window_add channel by channel gives. Where TD_BLOCK_LANES is 1 (host
 * speed builds on x86-64: the CFFI module) it first sums the whole block with SIMD (AVX2 where the CPU has it, else
 * SSE2: algorithm.md, "Per sample") and keeps those sums for every channel whose samples all lie strictly inside its
 * rails; any other channel is added sample by sample. On the Cortex-M4 speed build (TD_BLOCK_PAIRS) blocks of 4
 * frames or more go two channels at a time through DSP instructions, with the same rule. Depends on: td_stats.h,
 * td_fixed.h.
 */
#ifndef TINYDRIFT_TD_STATS_INTERNAL_H
#define TINYDRIFT_TD_STATS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tinydrift/td_stats.h"
#include "td_fixed.h"

/* An empty accumulator's band (td_window_reset): (uint32_t)(x - 32768) > 0 for every int16 x, so every sample takes
 * the slow path. */
#define TD_WINDOW_EMPTY_BAND_LO 32768
#define TD_WINDOW_EMPTY_BAND_SPAN 0u

/* 1: td_window_add_frames' lane path (host speed builds); 0: channel by channel, as on the device. */
#ifndef TD_BLOCK_LANES
#if TD_OPTIMIZE_SPEED && defined(__x86_64__) && defined(__SSE2__)
#define TD_BLOCK_LANES 1
#else
#define TD_BLOCK_LANES 0
#endif
#endif

/* 1: the lane path also has an AVX2 form, compiled for AVX2 alone (a function attribute, not a build flag) and taken
 * when the CPU runs AVX2 (__builtin_cpu_supports); 0: SSE2 only. The same results either way. */
#ifndef TD_BLOCK_AVX2
#if TD_BLOCK_LANES && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
#define TD_BLOCK_AVX2 1
#else
#define TD_BLOCK_AVX2 0
#endif
#endif

/* TD_HOST_X86 (tinydrift/td_config.h) selects the x86-64 speed build's paths here: td_isqrt64 through SSE2's SQRTSD
 * with an exact fix-up, td_var_q32 through the CPU's 64-bit division, the close's td_mean_std_q8_x86; the same results
 * as the integer paths the device runs. */

/* 1: the Cortex-M4 speed build's pair path (two channels a word, DSP instructions, no branch on the data) for blocks of
 * at least TD_BLOCK_PAIRS_MIN_FRAMES frames; 0: sample by sample with the band. */
#ifndef TD_BLOCK_PAIRS
#if TD_OPTIMIZE_SPEED && !TD_BLOCK_LANES && defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
#define TD_BLOCK_PAIRS 1
#else
#define TD_BLOCK_PAIRS 0
#endif
#endif
#define TD_BLOCK_PAIRS_MIN_FRAMES 4u

/* td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames) for each c in turn, up to the first error:
 * the channel-by-channel form of td_window_add_frames (its fallback, or itself without a block path). */
static inline td_status td_window_add_channels(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                               const int16_t *frames, uint32_t n_channels, uint32_t n_frames)
{
    for (uint32_t c = 0; c < n_channels; c++) {
        const td_status st = td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames);
        if (st != TD_OK) {
            return st;
        }
    }
    return TD_OK;
}

/* Add n_frames interleaved frames of n_channels samples to accs[0..n_channels) with rules[0..n_channels): the same
 * results and errors as td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames) for each c in turn. */
#if TD_BLOCK_LANES || TD_BLOCK_PAIRS
td_status td_window_add_frames(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *frames,
                               uint32_t n_channels, uint32_t n_frames);
#if TD_BLOCK_LANES && TD_BLOCK_AVX2
/* x86-64 with AVX2, whole windows of 5-8 channels into empty accumulators (td_monitor_push): rails[0..8) and
 * rails[8..16) get each channel's rail_lo and rail_hi, or INT16_MAX and INT16_MIN where td_window_add refuses its
 * rules (and past n_channels); returns 1 when td_window_add_fresh may take n_frames frames of n_channels (5-8
 * channels, all with rules td_window_add accepts, 2..TD_WINDOW_ACC_MAX_SAMPLES frames, a CPU that runs AVX2), else
 * 0. */
uint32_t td_window_fresh_prepare(const td_sample_rules_t *rules, uint32_t n_channels, uint32_t n_frames,
                                 int16_t rails[16]);
/* td_window_add_frames for accumulators that are all td_window_reset's, with the rails td_window_fresh_prepare made
 * from these rules and a shape it accepted: the same results and errors. */
td_status td_window_add_fresh(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t rails[16],
                              const int16_t *frames, uint32_t n_channels, uint32_t n_frames);
#endif
#else
/* Without a block path: that loop itself, inline (no function of its own in the smallest core). */
static inline td_status td_window_add_frames(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                             const int16_t *frames, uint32_t n_channels, uint32_t n_frames)
{
    if (accs == NULL || rules == NULL || n_channels == 0u) {
        return TD_ERR_ARG;
    }
    return td_window_add_channels(accs, rules, frames, n_channels, n_frames);
}
#endif

#if TD_OPTIMIZE_SPEED
/* td_isqrt64(value << 2k) for value 4^k < 2^64, without the wide shift: the window close's std of 2^p samples. */
uint32_t td_isqrt64_shl(uint64_t value, uint32_t k);
#endif

#if TD_HOST_X86
#include <emmintrin.h>

/* x86-64 speed build: td_mean_q8(sum, n) and td_std_q8(td_var_q32(sum, sumsq, n)) of a window's own sums (1 <= n <=
 * TD_WINDOW_ACC_MAX_SAMPLES valid int16 samples, so |sum| <= 2^15 n and sum^2 <= n sumsq <= 2^30 n^2), without
 * integer division. The mean is floor((512 |sum| + n) / 2n) with sum's sign, the numerator times 1 / 2n (computed once
 * per count) truncated: exact (below). The std: with d = n sumsq - sum^2 (< 2^51) the variance is V = floor((d 2^33 + n^2) /
 * 2 n^2) and std_q8 the largest s with (256 s - 128)^2 <= V, i.e. n^2 (2 (256 s - 128)^2 - 1) <= d 2^33 (s >= 1; s = 0
 * always passes). SQRTSD's estimate x = sqrt(d) (256 / n) + 1/2 has that floor unless x lies within 1/64 of an integer; there
 * s = floor(x) (1 for 0) is within one, and two such tests in 128-bit integers fix it: exact for every input
 * (tests/c/test_stats.c compares it with the integer functions on millions). */
__extension__ typedef unsigned __int128 td_u128_t;

/* 1 when std_q8 >= s for d and nn = n^2 (the test above), s >= 1. */
static TD_ALWAYS_INLINE uint32_t td_std_at_least(uint64_t d, uint64_t nn, uint32_t s)
{
    const uint64_t r = 256u * (uint64_t)s - 128u;
    return (td_u128_t)nn * (2u * r * r - 1u) <= (td_u128_t)d << 33 ? 1u : 0u;
}

/* 1 / 2n and 256 / n for td_mean_std_q8_x86: one pair per count (a window's channels mostly share theirs). */
typedef struct {
    uint32_t n;      /* the count they are for, 0: none yet */
    double inv_2n;   /* 1 / 2n, rounded */
    double scale;    /* 256 / n, rounded */
} td_recip_t;

/* The window's mean_q8 and std_q8 (above) of n valid samples; recip keeps the count's reciprocals between calls. */
static TD_ALWAYS_INLINE void td_mean_std_q8_x86(int32_t sum, int64_t sumsq, uint32_t n, td_recip_t *recip,
                                                int32_t *mean_q8, int32_t *std_q8)
{
    if (recip->n != n) {
        recip->n = n;
        recip->inv_2n = 0.5 / (double)n;
        recip->scale = 256.0 / (double)n;
    }
    const uint32_t sign = 0u - ((uint32_t)sum >> 31); /* all ones for a negative sum: no branch on it */
    const uint32_t mag = ((uint32_t)sum ^ sign) - sign;
    /* floor(a / 2n), a = 512 |sum| + n < 2^36, as the truncated product with 1 / 2n rounded: where 2n does not divide a,
     * a / 2n lies at least 1 / 2n >= 2^-11 from an integer and the product errs by under 2^-25; 2n divides a only for
     * n a multiple of 512 (with n = 2^v m, m odd and v < 9, a = 2^v m mod 2^(v + 1) is not 0), where 1 / 2n is a power
     * of two and the product exact. */
    const uint64_t a = 512u * (uint64_t)mag + n;
    const uint32_t mean = (uint32_t)(int64_t)((double)(int64_t)a * recip->inv_2n);
    *mean_q8 = (int32_t)((mean ^ sign) - sign);
    const int64_t scaled = (int64_t)n * sumsq - (int64_t)sum * sum;
    const uint64_t d = scaled > 0 ? (uint64_t)scaled : 0u;
    const __m128d dd = _mm_set_sd((double)(int64_t)d);
    const double x = _mm_cvtsd_f64(_mm_sqrt_sd(dd, dd)) * recip->scale + 0.5;
    uint32_t s = (uint32_t)(int32_t)x;
    const double frac = x - (double)(int32_t)s;
    /* std_q8 = floor((R + 128) / 256), R = floor(sqrt(V)): |R - sqrt(d 2^32 / n^2)| < 1 + sqrt(1/2), so x is within
     * 0.007 of (R + 128) / 256 and its floor is std_q8 unless x lies within that of an integer. */
    if (TD_UNLIKELY(frac < 1.0 / 64.0 || frac > 63.0 / 64.0)) {
        s = s != 0u ? s : 1u; /* within one of std_q8 still, and the test needs s >= 1 */
        const uint64_t nn = (uint64_t)n * n;
        s = s - 1u + td_std_at_least(d, nn, s) + td_std_at_least(d, nn, s + 1u);
    }
    *std_q8 = (int32_t)s;
}
#endif

/* (td_isqrt64(scaled 4^(16 - p)) + 128) >> 8 for p <= 10 and scaled < 2^(2p + 30): the std_q8 of 2^p samples with
 * scaled = n sumsq - sum^2. With y = floor(scaled 2^(18 - 2p)) < 2^48, std >= s (s >= 1) exactly when
 * y >= (2s - 1)^2, so std = (isqrt(y) + 1) >> 1. The float estimate of sqrt(y) (y's two words converted exactly,
 * their sum rounded once: relative error <= 2^-24; the root's own rounding <= 0.5 below 2^24) is within 1.01 of
 * it, so r = trunc is within 2 of isqrt(y) and (r + 1) >> 1 within 1 of std; one test each way corrects it.
 * Portable C but for the root: tests/c/test_stats.c checks it against td_isqrt64_shl and the reference root. */
static inline int32_t td_std_q8_pow2(uint64_t scaled, uint32_t p)
{
    const uint32_t hi = (uint32_t)(scaled >> 32);
    const uint32_t lo = (uint32_t)scaled;
    uint64_t y;
    if (p <= 9u) {
        /* The 64-bit shift in words (k = 0 too: lo >> 1 >> 31 is 0); hi << k does not overflow (y < 2^48). */
        const uint32_t k = 18u - 2u * p;
        y = ((uint64_t)((hi << k) | ((lo >> 1) >> (31u - k))) << 32) | (lo << k);
    } else {
        y = scaled >> (2u * p - 18u);
    }
    const float f = (float)(uint32_t)(y >> 32) * 4294967296.0f + (float)(uint32_t)y;
    uint32_t s = ((uint32_t)td_sqrt_f32(f) + 1u) >> 1;
    const uint32_t o = 2u * s + 1u;
    if ((uint64_t)o * o <= y) {
        s++;
    } else if (s != 0u && (uint64_t)(o - 2u) * (o - 2u) > y) {
        s--;
    }
    return (int32_t)s;
}

#endif /* TINYDRIFT_TD_STATS_INTERNAL_H */
