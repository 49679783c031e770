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

/* 1: host speed builds on x86-64 (the CFFI module): td_isqrt64 through SSE2's SQRTSD with an exact fix-up, and
 * td_var_q32 through the CPU's 64-bit division; the same results as the integer paths the device runs. */
#ifndef TD_HOST_X86
#if TD_OPTIMIZE_SPEED && defined(__x86_64__) && defined(__SSE2__)
#define TD_HOST_X86 1
#else
#define TD_HOST_X86 0
#endif
#endif

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

/* Add n_frames interleaved frames of n_channels samples to accs[0..n_channels) with rules[0..n_channels): the same
 * results and errors as td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames) for each c in turn. */
#if TD_BLOCK_LANES || TD_BLOCK_PAIRS
td_status td_window_add_frames(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *frames,
                               uint32_t n_channels, uint32_t n_frames);
#else
/* Without a block path: that loop itself, inline (no function of its own in the smallest core). */
static inline td_status td_window_add_frames(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                             const int16_t *frames, uint32_t n_channels, uint32_t n_frames)
{
    if (accs == NULL || rules == NULL || n_channels == 0u) {
        return TD_ERR_ARG;
    }
    for (uint32_t c = 0; c < n_channels; c++) {
        const td_status st = td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames);
        if (st != TD_OK) {
            return st;
        }
    }
    return TD_OK;
}
#endif

#if TD_OPTIMIZE_SPEED
/* td_isqrt64(value << 2k) for value 4^k < 2^64, without the wide shift: the window close's std of 2^p samples. */
uint32_t td_isqrt64_shl(uint64_t value, uint32_t k);
#endif

#endif /* TINYDRIFT_TD_STATS_INTERNAL_H */
