/* td_stats.c - exact window accumulation and exact lifetime sums. */
#include "tinydrift/td_stats.h"

#include <stddef.h>
#include <string.h>

#include "td_fixed.h"
#include "td_stats_internal.h"

#if TD_BLOCK_LANES || TD_HOST_X86
#include <emmintrin.h>
#endif
#if TD_BLOCK_AVX2
#include <immintrin.h>
#endif

#define EMPTY_BAND_LO TD_WINDOW_EMPTY_BAND_LO
#define EMPTY_BAND_SPAN TD_WINDOW_EMPTY_BAND_SPAN

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

/* Bookkeeping for a sample outside the band that the loop does not handle itself. Returns what
 * to add to the sums (x, or 0 for a missing sample) and always leaves the band recomputed in
 * *acc: the loop then reloads it, so neither x nor the band is live across the call and the
 * loop's registers need no spilling. Kept out of line so the hot loop's registers hold the sums, not the
 * rules. */
static TD_NOINLINE int32_t window_slow_sample(td_window_acc_t *acc, const td_sample_rules_t *rules, int32_t x)
{
    int32_t add = x;
    if (rules->use_sentinel && x == rules->sentinel) {
        acc->n_missing++;
        add = 0;
    } else {
        if (x <= rules->rail_lo || x >= rules->rail_hi) {
            acc->n_saturated++;
        }
        if (x < acc->min) {
            acc->min = (int16_t)x;
        }
        if (x > acc->max) {
            acc->max = (int16_t)x;
        }
    }
    window_update_band(acc, rules);
    return add;
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
    if (n == 0u) {
        return TD_OK;
    }
    const int16_t *const end = samples + (size_t)n * stride;
    int32_t sum = acc->sum;
    int64_t sumsq = acc->sumsq;
    int32_t band_lo = acc->band_lo;
    uint32_t band_span = acc->band_span;
    /* Indexed from the end with a negative offset that counts up to 0: the step then sets the
     * flags the loop branches on, saving a compare per sample. */
    const ptrdiff_t step = (ptrdiff_t)stride;
    ptrdiff_t i = samples - end;
    /* The fast path, where the device spends its time: an in-band sample only needs summing. A
     * do-while, so the loop costs each sample one compare-and-branch. */
    do {
        int32_t x = end[i];
        if (TD_UNLIKELY((uint32_t)(x - band_lo) > band_span)) {
            /* Almost every out-of-band sample is a new min or max strictly inside the rails: then
             * it is valid (the sentinel lies outside the rails) and only one band edge moves,
             * handled here without a call. Rails, the sentinel and the empty band take the call. */
            const int32_t off = x - band_lo;
            if (off > 0 && x < rules->rail_hi) {
                /* Above a non-empty band (the empty one has band_lo > INT16_MAX) and below rail_hi,
                 * where the band's top is the max itself: x is the new max. */
                acc->max = (int16_t)x;
                band_span = (uint32_t)off;
            } else if (off < 0 && x > rules->rail_lo && band_lo <= INT16_MAX) {
                /* Below a non-empty band and above rail_lo, where the band's bottom is the min. */
                acc->min = (int16_t)x;
                band_span += (uint32_t)-off;
                band_lo = x;
            } else {
                x = window_slow_sample(acc, rules, x);
                band_lo = acc->band_lo;
                band_span = acc->band_span;
            }
        }
        sum += x;
        sumsq += (int64_t)x * x;
        i += step;
    } while (i != 0);
    acc->band_lo = band_lo;
    acc->band_span = band_span;
    acc->sum = sum;
    acc->sumsq = sumsq;
    return TD_OK;
}

#if TD_BLOCK_LANES
/* log2 of the greatest common divisor of a channel count c >= 1 and 2^k. */
static uint32_t log2_gcd(uint32_t c, uint32_t k)
{
    uint32_t t = 0u;
    while (t < k && (c & (1u << t)) == 0u) {
        t++;
    }
    return t;
}

/* lcm(channels, 16) for 1..16 channels is at most 240 (15 channels). */
#define TD_BLOCK_MAX_LANES 240u
/* Room past the last lane: lanes_to_channels reads whole vectors from any channel's first lane. */
#define TD_BLOCK_LANE_PAD 8u

/* Lane statistics of a block pass: lane j holds samples j, j + lanes, j + 2 lanes ... of the block: with lanes a
 * multiple of the channel count, always channel j mod channels. */
typedef struct {
    uint64_t sumsq[TD_BLOCK_MAX_LANES + TD_BLOCK_LANE_PAD];
    int32_t sum[TD_BLOCK_MAX_LANES + TD_BLOCK_LANE_PAD];
    int16_t mn[TD_BLOCK_MAX_LANES + TD_BLOCK_LANE_PAD];
    int16_t mx[TD_BLOCK_MAX_LANES + TD_BLOCK_LANE_PAD];
} lane_stats_t;

/* Per-channel statistics of a block pass (whole vectors: 16 channels and a vector's overhang). */
typedef struct {
    uint64_t sumsq[16];
    int32_t sum[16];
    int16_t mn[16];
    int16_t mx[16];
} channel_stats_t;

/* Both lane kernels take two groups a step: a and b (the same lanes of consecutive groups) interleaved, so each
 * PMADDWD pairs one lane's two samples: times (1, 1) it gives a + b, times itself a^2 + b^2, exact in int32 and below
 * 2^31 unless a sample is -32768. Two such squares sum below 2^32 in uint32 lanes (4 * 32767^2 < 2^32) before they
 * widen into uint64. A lane that saw -32768 is never used (merge_channels: -32768 is at or below every rail_lo). An odd
 * last group pairs with zeros. */
static TD_ALWAYS_INLINE void pair_sse2(__m128i a, __m128i b, __m128i *s_lo, __m128i *s_hi, __m128i *sq_lo,
                                       __m128i *sq_hi)
{
    const __m128i ones = _mm_set1_epi16(1);
    const __m128i ab_lo = _mm_unpacklo_epi16(a, b);
    const __m128i ab_hi = _mm_unpackhi_epi16(a, b);
    *s_lo = _mm_add_epi32(*s_lo, _mm_madd_epi16(ab_lo, ones));
    *s_hi = _mm_add_epi32(*s_hi, _mm_madd_epi16(ab_hi, ones));
    *sq_lo = _mm_add_epi32(*sq_lo, _mm_madd_epi16(ab_lo, ab_lo));
    *sq_hi = _mm_add_epi32(*sq_hi, _mm_madd_epi16(ab_hi, ab_hi));
}

/* SSE2 lane statistics of n_groups >= 1 groups of `lanes` consecutive samples (lanes a multiple of 8), eight lanes a
 * vector. */
static void lanes_sse2(const int16_t *x, uint32_t lanes, uint32_t n_groups, lane_stats_t *out)
{
    const __m128i zero = _mm_setzero_si128();
    const size_t step = lanes;
    for (uint32_t k = 0; k < lanes; k += 8u) {
        const int16_t *p = x + k;
        __m128i s_lo = zero; /* int32 lanes 0-3 */
        __m128i s_hi = zero; /* int32 lanes 4-7 */
        __m128i q0 = zero;   /* uint64 lanes 0-1, 2-3, 4-5, 6-7 */
        __m128i q1 = zero;
        __m128i q2 = zero;
        __m128i q3 = zero;
        __m128i lo = _mm_set1_epi16(INT16_MAX);
        __m128i hi = _mm_set1_epi16(INT16_MIN);
        uint32_t left = n_groups;
        while (left > 0u) {
            __m128i sq_lo = zero; /* uint32 lanes 0-3 */
            __m128i sq_hi = zero; /* uint32 lanes 4-7 */
            /* up to two pairs of groups (four squares a lane) before widening */
            uint32_t twice = 0u;
            for (; twice < 2u && left >= 2u; twice++, left -= 2u, p += 2u * step) {
                const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
                const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + step));
                lo = _mm_min_epi16(lo, _mm_min_epi16(a, b));
                hi = _mm_max_epi16(hi, _mm_max_epi16(a, b));
                pair_sse2(a, b, &s_lo, &s_hi, &sq_lo, &sq_hi);
            }
            if (left == 1u && twice < 2u) { /* the odd last group: at most three squares */
                const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
                lo = _mm_min_epi16(lo, a);
                hi = _mm_max_epi16(hi, a);
                pair_sse2(a, zero, &s_lo, &s_hi, &sq_lo, &sq_hi);
                left = 0u;
            }
            q0 = _mm_add_epi64(q0, _mm_unpacklo_epi32(sq_lo, zero));
            q1 = _mm_add_epi64(q1, _mm_unpackhi_epi32(sq_lo, zero));
            q2 = _mm_add_epi64(q2, _mm_unpacklo_epi32(sq_hi, zero));
            q3 = _mm_add_epi64(q3, _mm_unpackhi_epi32(sq_hi, zero));
        }
        _mm_storeu_si128((__m128i *)(void *)(out->sum + k), s_lo);
        _mm_storeu_si128((__m128i *)(void *)(out->sum + k + 4u), s_hi);
        _mm_storeu_si128((__m128i *)(void *)(out->sumsq + k), q0);
        _mm_storeu_si128((__m128i *)(void *)(out->sumsq + k + 2u), q1);
        _mm_storeu_si128((__m128i *)(void *)(out->sumsq + k + 4u), q2);
        _mm_storeu_si128((__m128i *)(void *)(out->sumsq + k + 6u), q3);
        _mm_storeu_si128((__m128i *)(void *)(out->mn + k), lo);
        _mm_storeu_si128((__m128i *)(void *)(out->mx + k), hi);
    }
}

#if TD_BLOCK_AVX2
/* pair_sse2 in AVX2. */
__attribute__((target("avx2"))) static inline void pair_avx2(__m256i a, __m256i b, __m256i *s_lo, __m256i *s_hi,
                                                             __m256i *sq_lo, __m256i *sq_hi)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i ab_lo = _mm256_unpacklo_epi16(a, b);
    const __m256i ab_hi = _mm256_unpackhi_epi16(a, b);
    *s_lo = _mm256_add_epi32(*s_lo, _mm256_madd_epi16(ab_lo, ones));
    *s_hi = _mm256_add_epi32(*s_hi, _mm256_madd_epi16(ab_hi, ones));
    *sq_lo = _mm256_add_epi32(*sq_lo, _mm256_madd_epi16(ab_lo, ab_lo));
    *sq_hi = _mm256_add_epi32(*sq_hi, _mm256_madd_epi16(ab_hi, ab_hi));
}

/* lanes_sse2 in AVX2, sixteen lanes a vector (lanes a multiple of 16), the same arithmetic: compiled for AVX2 alone
 * and called only when the CPU has it (td_window_add_frames). The 256-bit unpacks work within each 128-bit half, so
 * the int32 vectors hold lanes (0-3, 8-11) and (4-7, 12-15); the stores put them back in order. */
__attribute__((target("avx2"))) static void lanes_avx2(const int16_t *x, uint32_t lanes, uint32_t n_groups,
                                                       lane_stats_t *out)
{
    const __m256i zero = _mm256_setzero_si256();
    const size_t step = lanes;
    for (uint32_t k = 0; k < lanes; k += 16u) {
        const int16_t *p = x + k;
        __m256i s_lo = zero; /* int32 lanes 0-3, 8-11 */
        __m256i s_hi = zero; /* int32 lanes 4-7, 12-15 */
        __m256i q0 = zero;   /* uint64 lanes 0-1 8-9, 2-3 10-11, 4-5 12-13, 6-7 14-15 */
        __m256i q1 = zero;
        __m256i q2 = zero;
        __m256i q3 = zero;
        __m256i lo = _mm256_set1_epi16(INT16_MAX);
        __m256i hi = _mm256_set1_epi16(INT16_MIN);
        uint32_t left = n_groups;
        while (left > 0u) {
            __m256i sq_lo = zero;
            __m256i sq_hi = zero;
            uint32_t twice = 0u;
            for (; twice < 2u && left >= 2u; twice++, left -= 2u, p += 2u * step) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
                const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + step));
                lo = _mm256_min_epi16(lo, _mm256_min_epi16(a, b));
                hi = _mm256_max_epi16(hi, _mm256_max_epi16(a, b));
                pair_avx2(a, b, &s_lo, &s_hi, &sq_lo, &sq_hi);
            }
            if (left == 1u && twice < 2u) { /* the odd last group: at most three squares */
                const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
                lo = _mm256_min_epi16(lo, a);
                hi = _mm256_max_epi16(hi, a);
                pair_avx2(a, zero, &s_lo, &s_hi, &sq_lo, &sq_hi);
                left = 0u;
            }
            q0 = _mm256_add_epi64(q0, _mm256_unpacklo_epi32(sq_lo, zero));
            q1 = _mm256_add_epi64(q1, _mm256_unpackhi_epi32(sq_lo, zero));
            q2 = _mm256_add_epi64(q2, _mm256_unpacklo_epi32(sq_hi, zero));
            q3 = _mm256_add_epi64(q3, _mm256_unpackhi_epi32(sq_hi, zero));
        }
        _mm256_storeu_si256((__m256i *)(void *)(out->sum + k), _mm256_permute2x128_si256(s_lo, s_hi, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(out->sum + k + 8u), _mm256_permute2x128_si256(s_lo, s_hi, 0x31));
        _mm256_storeu_si256((__m256i *)(void *)(out->sumsq + k), _mm256_permute2x128_si256(q0, q1, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(out->sumsq + k + 4u), _mm256_permute2x128_si256(q2, q3, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(out->sumsq + k + 8u), _mm256_permute2x128_si256(q0, q1, 0x31));
        _mm256_storeu_si256((__m256i *)(void *)(out->sumsq + k + 12u), _mm256_permute2x128_si256(q2, q3, 0x31));
        _mm256_storeu_si256((__m256i *)(void *)(out->mn + k), lo);
        _mm256_storeu_si256((__m256i *)(void *)(out->mx + k), hi);
    }
}

/* 1 when the CPU (and the OS) run AVX2. */
static uint32_t cpu_avx2(void)
{
    return __builtin_cpu_supports("avx2") ? 1u : 0u;
}
#endif

/* The lanes of a block pass summed per channel (group lanes each: lanes group * n_channels), whole vectors at a time
 * from each group's first lane of the channels: the lanes past the last one are zeroed first, so every vector read is
 * defined (its lanes past the last channel are ignored). */
static void lanes_to_channels(lane_stats_t *ls, uint32_t n_ch, uint32_t group, channel_stats_t *out)
{
    const uint32_t lanes = group * n_ch;
    const __m128i zero = _mm_setzero_si128();
    for (uint32_t j = 0; j < TD_BLOCK_LANE_PAD; j += 2u) {
        _mm_storeu_si128((__m128i *)(void *)(ls->sumsq + lanes + j), zero);
    }
    _mm_storeu_si128((__m128i *)(void *)(ls->sum + lanes), zero);
    _mm_storeu_si128((__m128i *)(void *)(ls->sum + lanes + 4u), zero);
    _mm_storeu_si128((__m128i *)(void *)(ls->mn + lanes), zero);
    _mm_storeu_si128((__m128i *)(void *)(ls->mx + lanes), zero);
    for (uint32_t c = 0; c < n_ch; c += 4u) {
        __m128i v = zero;
        for (uint32_t j = c; j < lanes; j += n_ch) {
            v = _mm_add_epi32(v, _mm_loadu_si128((const __m128i *)(const void *)(ls->sum + j)));
        }
        _mm_storeu_si128((__m128i *)(void *)(out->sum + c), v);
    }
    for (uint32_t c = 0; c < n_ch; c += 2u) {
        __m128i v = zero;
        for (uint32_t j = c; j < lanes; j += n_ch) {
            v = _mm_add_epi64(v, _mm_loadu_si128((const __m128i *)(const void *)(ls->sumsq + j)));
        }
        _mm_storeu_si128((__m128i *)(void *)(out->sumsq + c), v);
    }
    for (uint32_t c = 0; c < n_ch; c += 8u) {
        __m128i lo = _mm_set1_epi16(INT16_MAX);
        __m128i hi = _mm_set1_epi16(INT16_MIN);
        for (uint32_t j = c; j < lanes; j += n_ch) {
            lo = _mm_min_epi16(lo, _mm_loadu_si128((const __m128i *)(const void *)(ls->mn + j)));
            hi = _mm_max_epi16(hi, _mm_loadu_si128((const __m128i *)(const void *)(ls->mx + j)));
        }
        _mm_storeu_si128((__m128i *)(void *)(out->mn + c), lo);
        _mm_storeu_si128((__m128i *)(void *)(out->mx + c), hi);
    }
}

/* v's int16 lanes k.. moved down to 0.., zeros shifted in (k = 1..7; PSRLDQ takes a constant). */
static __m128i lanes_down(__m128i v, uint32_t k)
{
    switch (k) {
    case 1u: return _mm_srli_si128(v, 2);
    case 2u: return _mm_srli_si128(v, 4);
    case 3u: return _mm_srli_si128(v, 6);
    case 4u: return _mm_srli_si128(v, 8);
    case 5u: return _mm_srli_si128(v, 10);
    case 6u: return _mm_srli_si128(v, 12);
    default: return _mm_srli_si128(v, 14);
    }
}

/* Sums, sums of squares, min and max of each of the first 8 channels over a short block of n >= 2 frames of n_ch <= 8
 * channels (n n_ch >= 8), one frame a vector (its lanes past n_ch hold the next frame's samples, or zeros past the
 * block, and are ignored): the lane path for blocks too short for whole groups (a window of 10 frames). Two frames go
 * through PMADDWD together: interleaved, (a, b) times (1, 1) is a + b and times itself a^2 + b^2, exact in int32 and
 * below 2^31 when neither is -32768; two such pairs sum below 2^32 in uint32 lanes before they widen into uint64. A
 * lane that saw -32768 is never used (merge_channels: -32768 is at or below every rail_lo). The last frames, whose
 * 16-byte load would pass the block's end, come from the block's last 8 samples moved down, zeros shifted in. */
static void block_frames(const int16_t *x, uint32_t n_ch, uint32_t n, channel_stats_t *out)
{
    /* frames i with i n_ch + 8 <= n n_ch load in place */
    const uint32_t over = (8u + n_ch - 1u) / n_ch - 1u;
    const uint32_t n_safe = n - over;
    const uint32_t n_samples = n * n_ch;
    const __m128i last = _mm_loadu_si128((const __m128i *)(const void *)(x + n_samples - 8u));
    const __m128i zero = _mm_setzero_si128();
    const __m128i ones = _mm_set1_epi16(1);
    __m128i s_lo = zero;
    __m128i s_hi = zero;
    __m128i q0 = zero; /* uint64 lanes 0-1, 2-3, 4-5, 6-7 */
    __m128i q1 = zero;
    __m128i q2 = zero;
    __m128i q3 = zero;
    __m128i lo = _mm_set1_epi16(INT16_MAX);
    __m128i hi = _mm_set1_epi16(INT16_MIN);
    uint32_t i = 0u;
    while (i < n) {
        __m128i sq_lo = zero; /* uint32 lanes 0-3 */
        __m128i sq_hi = zero; /* uint32 lanes 4-7 */
        for (uint32_t pair = 0; pair < 2u && i < n; pair++, i += 2u) {
            const __m128i a = i < n_safe ? _mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)i * n_ch))
                                         : lanes_down(last, i * n_ch + 8u - n_samples);
            __m128i b = a; /* a second copy of a's lanes: min and max unchanged, the sums taken out below */
            if (i + 1u < n) {
                b = i + 1u < n_safe ? _mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)(i + 1u) * n_ch))
                                    : lanes_down(last, (i + 1u) * n_ch + 8u - n_samples);
            }
            lo = _mm_min_epi16(lo, _mm_min_epi16(a, b));
            hi = _mm_max_epi16(hi, _mm_max_epi16(a, b));
            if (i + 1u >= n) {
                b = zero;
            }
            const __m128i ab_lo = _mm_unpacklo_epi16(a, b);
            const __m128i ab_hi = _mm_unpackhi_epi16(a, b);
            s_lo = _mm_add_epi32(s_lo, _mm_madd_epi16(ab_lo, ones));
            s_hi = _mm_add_epi32(s_hi, _mm_madd_epi16(ab_hi, ones));
            sq_lo = _mm_add_epi32(sq_lo, _mm_madd_epi16(ab_lo, ab_lo));
            sq_hi = _mm_add_epi32(sq_hi, _mm_madd_epi16(ab_hi, ab_hi));
        }
        q0 = _mm_add_epi64(q0, _mm_unpacklo_epi32(sq_lo, zero));
        q1 = _mm_add_epi64(q1, _mm_unpackhi_epi32(sq_lo, zero));
        q2 = _mm_add_epi64(q2, _mm_unpacklo_epi32(sq_hi, zero));
        q3 = _mm_add_epi64(q3, _mm_unpackhi_epi32(sq_hi, zero));
    }
    _mm_storeu_si128((__m128i *)(void *)out->sum, s_lo);
    _mm_storeu_si128((__m128i *)(void *)(out->sum + 4), s_hi);
    _mm_storeu_si128((__m128i *)(void *)out->sumsq, q0);
    _mm_storeu_si128((__m128i *)(void *)(out->sumsq + 2), q1);
    _mm_storeu_si128((__m128i *)(void *)(out->sumsq + 4), q2);
    _mm_storeu_si128((__m128i *)(void *)(out->sumsq + 6), q3);
    _mm_storeu_si128((__m128i *)(void *)out->mn, lo);
    _mm_storeu_si128((__m128i *)(void *)out->mx, hi);
}

#endif

#if TD_BLOCK_PAIRS
/* Sums, sums of squares, min and max of two adjacent channels over n >= 1 frames: each frame's word at `first` holds
 * (channel c, channel c + 1). Cortex-M4 DSP, 11 instructions a frame: SXTAH and ADD ASR #16 sum the lanes, SMLALBB and
 * SMLALTT square them into 64 bits, SSUB16 + SEL keep each lane's min and max. No band and no branch on the data:
 * whether a channel touched its rails is decided once for the block (merge_block). */
typedef struct {
    int64_t sumsq[2];
    int32_t sum[2];
    uint32_t min;  /* lane 0 (low half): channel c, lane 1: channel c + 1 */
    uint32_t max;
} pair_stats_t;

static TD_NOINLINE void block_pair(const int16_t *first, uint32_t stride_bytes, uint32_t n, pair_stats_t *out)
{
    const uint8_t *const end = (const uint8_t *)first + n * stride_bytes;
    uint32_t off = 0u - n * stride_bytes;
    uint32_t mn = 0x7FFF7FFFu;
    uint32_t mx = 0x80008000u;
    int32_t s0 = 0;
    int32_t s1 = 0;
    uint64_t q0 = 0u;
    uint64_t q1 = 0u;
    uint32_t w;
    uint32_t t;
    __asm__("1:\n\t"
            "ldr %[w], [%[end], %[off]]\n\t"
            "adds %[off], %[off], %[stride]\n\t"
            "sxtah %[s0], %[s0], %[w]\n\t"
            "add %[s1], %[s1], %[w], asr #16\n\t"
            "smlalbb %Q[q0], %R[q0], %[w], %[w]\n\t"
            "smlaltt %Q[q1], %R[q1], %[w], %[w]\n\t"
            "ssub16 %[t], %[w], %[mn]\n\t"
            "sel %[mn], %[mn], %[w]\n\t"
            "ssub16 %[t], %[w], %[mx]\n\t"
            "sel %[mx], %[w], %[mx]\n\t"
            "bne 1b"
            : [off] "+&r"(off), [mn] "+&r"(mn), [mx] "+&r"(mx), [s0] "+&r"(s0), [s1] "+&r"(s1), [q0] "+&r"(q0),
              [q1] "+&r"(q1), [w] "=&r"(w), [t] "=&r"(t)
            : [end] "r"(end), [stride] "r"(stride_bytes)
            : "cc", "memory");
    out->sum[0] = s0;
    out->sum[1] = s1;
    out->sumsq[0] = (int64_t)q0;
    out->sumsq[1] = (int64_t)q1;
    out->min = mn;
    out->max = mx;
}
#endif

#if TD_BLOCK_LANES || TD_BLOCK_PAIRS
#if TD_BLOCK_PAIRS
/* n frames of one channel (its first sample at `first`, stride apart) whose sums, min and max a block pass found:
 * kept when every sample lies strictly inside the rails (none saturated, none the sentinel, which lies outside them),
 * else the channel is added sample by sample. The rules and the room were checked by the caller. */
static td_status merge_block(td_window_acc_t *acc, const td_sample_rules_t *r, uint32_t n, int32_t s, int64_t q,
                             int32_t lo, int32_t hi, const int16_t *first, uint32_t stride)
{
    if (lo > r->rail_lo && hi < r->rail_hi) {
        acc->n_samples = (uint16_t)(acc->n_samples + n);
        acc->sum += s;
        acc->sumsq += q;
        acc->min = lo < acc->min ? (int16_t)lo : acc->min;
        acc->max = hi > acc->max ? (int16_t)hi : acc->max;
        window_update_band(acc, r);
        return TD_OK;
    }
    return td_window_add(acc, r, first, stride, n);
}

/* 1 when td_window_add would accept n more samples on every channel: then a block pass cannot fail half-way. */
static uint32_t block_ok(const td_window_acc_t *accs, const td_sample_rules_t *rules, uint32_t n_channels, uint32_t n)
{
    uint32_t ok = n_channels <= 16u;
    for (uint32_t c = 0; c < n_channels && ok; c++) {
        const td_sample_rules_t *r = &rules[c];
        ok = r->rail_lo < r->rail_hi && !(r->use_sentinel && r->sentinel > r->rail_lo && r->sentinel < r->rail_hi) &&
             n <= TD_WINDOW_ACC_MAX_SAMPLES - accs[c].n_samples;
    }
    return ok;
}
#endif

#if TD_BLOCK_LANES
/* Channel by channel, as td_window_add_frames' contract reads: the statistics cs of a block pass over the first `done`
 * of n frames kept where the channel's rules are valid, td_window_add has room for all n frames and every sample of
 * the pass lies strictly inside the rails (none saturated, none the sentinel, which lies outside them; rail_lo <
 * rail_hi follows), then the frames past `done` added by td_window_add; any other channel added by td_window_add
 * whole, whose error (bad rules, no room) ends the call there, as it would channel by channel. */
static TD_NOINLINE td_status merge_channels(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                            uint32_t n_channels, uint32_t n, uint32_t done, const channel_stats_t *cs,
                                            const int16_t *frames)
{
    for (uint32_t c = 0; c < n_channels; c++) {
        td_window_acc_t *acc = &accs[c];
        const td_sample_rules_t *r = &rules[c];
        const int32_t lo = cs->mn[c];
        const int32_t hi = cs->mx[c];
        if (lo > r->rail_lo && hi < r->rail_hi &&
            !(r->use_sentinel && r->sentinel > r->rail_lo && r->sentinel < r->rail_hi) &&
            n <= TD_WINDOW_ACC_MAX_SAMPLES - acc->n_samples) {
            const int32_t mn = lo < acc->min ? lo : acc->min;
            const int32_t mx = hi > acc->max ? hi : acc->max;
            acc->n_samples = (uint16_t)(acc->n_samples + done);
            acc->sum += cs->sum[c];
            acc->sumsq += (int64_t)cs->sumsq[c];
            acc->min = (int16_t)mn;
            acc->max = (int16_t)mx;
            /* window_update_band's band, inline */
            const int32_t band_lo = mn > r->rail_lo ? mn : r->rail_lo + 1;
            const int32_t band_hi = mx < r->rail_hi ? mx : r->rail_hi - 1;
            acc->band_lo = band_lo <= band_hi ? band_lo : EMPTY_BAND_LO;
            acc->band_span = band_lo <= band_hi ? (uint32_t)(band_hi - band_lo) : EMPTY_BAND_SPAN;
            if (done < n) { /* never an error: the rules and the room were checked */
                const td_status st = td_window_add(acc, r, frames + (size_t)done * n_channels + c, n_channels,
                                                   n - done);
                if (st != TD_OK) {
                    return st;
                }
            }
        } else {
            const td_status st = td_window_add(acc, r, frames + c, n_channels, n);
            if (st != TD_OK) {
                return st;
            }
        }
    }
    return TD_OK;
}
#endif

#if TD_BLOCK_LANES
/* The statistics of a block pass over channels 0-7, in registers. */
typedef struct {
    __m128i sum_lo; /* int32: channels 0-3 */
    __m128i sum_hi; /* channels 4-7 */
    __m128i q0;     /* uint64: channels 0-1 */
    __m128i q1;     /* 2-3 */
    __m128i q2;     /* 4-5 */
    __m128i q3;     /* 6-7 */
    __m128i mn;     /* int16: channels 0-7 */
    __m128i mx;
} stats8_t;

/* block_finish writes td_window_acc_t and reads td_sample_rules_t word by word: their layouts, checked at compile
 * time (a negative array size otherwise). */
typedef char td_acc_layout_check[(sizeof(td_window_acc_t) == 32u && offsetof(td_window_acc_t, sumsq) == 0u &&
                                  offsetof(td_window_acc_t, sum) == 8u && offsetof(td_window_acc_t, band_lo) == 12u &&
                                  offsetof(td_window_acc_t, band_span) == 16u &&
                                  offsetof(td_window_acc_t, min) == 20u && offsetof(td_window_acc_t, max) == 22u &&
                                  offsetof(td_window_acc_t, n_missing) == 24u &&
                                  offsetof(td_window_acc_t, n_saturated) == 26u &&
                                  offsetof(td_window_acc_t, n_samples) == 28u && sizeof(td_sample_rules_t) == 8u &&
                                  offsetof(td_sample_rules_t, rail_hi) == 2u &&
                                  offsetof(td_sample_rules_t, sentinel) == 4u &&
                                  offsetof(td_sample_rules_t, use_sentinel) == 6u)
                                     ? 1
                                     : -1];

/* Rules k and k + 1 of n_ch (zeros past the last): one load, no read past the array. */
static TD_ALWAYS_INLINE __m128i rules_pair(const td_sample_rules_t *rules, uint32_t k, uint32_t n_ch)
{
    if (k + 2u <= n_ch) {
        return _mm_loadu_si128((const __m128i *)(const void *)(rules + k));
    }
    return k < n_ch ? _mm_loadl_epi64((const __m128i *)(const void *)(rules + k)) : _mm_setzero_si128();
}

/* 1 when merge_channels would keep a whole block pass over all n_ch <= 8 channels and each accumulator was empty:
 * none has a sample yet (then every field is td_window_reset's), each channel's rules are valid and all its samples
 * lie strictly inside the rails (mn > rail_lo and mx < rail_hi, which also gives rail_lo < rail_hi; then no sample is
 * the sentinel, which must lie outside them). The rules of eight channels are read as four vectors and split into
 * rail_lo, rail_hi, sentinel and use_sentinel vectors, compared all at once. n_min: n_ch's least value, a constant. */
static TD_ALWAYS_INLINE uint32_t block_fresh(const td_window_acc_t *accs, const td_sample_rules_t *rules,
                                             uint32_t n_ch, uint32_t n_min, __m128i mn, __m128i mx)
{
    uint32_t used = 0u;
    for (uint32_t c = 0; c < 8u; c++) { /* a constant count: unrolled, no loop */
        used |= c < n_min || c < n_ch ? accs[c].n_samples : 0u;
    }
    const __m128i r01 = rules_pair(rules, 0u, n_min >= 2u ? 2u : n_ch);
    const __m128i r23 = rules_pair(rules, 2u, n_min >= 4u ? 4u : n_ch);
    const __m128i r45 = rules_pair(rules, 4u, n_ch);
    const __m128i r67 = rules_pair(rules, 6u, n_ch);
    const __m128i t0 = _mm_unpacklo_epi16(r01, r23); /* lo0 lo2 hi0 hi2 se0 se2 us0 us2 */
    const __m128i t1 = _mm_unpackhi_epi16(r01, r23); /* lo1 lo3 hi1 hi3 se1 se3 us1 us3 */
    const __m128i t2 = _mm_unpacklo_epi16(r45, r67);
    const __m128i t3 = _mm_unpackhi_epi16(r45, r67);
    const __m128i u0 = _mm_unpacklo_epi16(t0, t1); /* lo0-3 hi0-3 */
    const __m128i u1 = _mm_unpackhi_epi16(t0, t1); /* se0-3 us0-3 */
    const __m128i u2 = _mm_unpacklo_epi16(t2, t3);
    const __m128i u3 = _mm_unpackhi_epi16(t2, t3);
    const __m128i rail_lo = _mm_unpacklo_epi64(u0, u2);
    const __m128i rail_hi = _mm_unpackhi_epi64(u0, u2);
    const __m128i sentinel = _mm_unpacklo_epi64(u1, u3);
    /* use_sentinel is the low byte of its word (x86 is little-endian); the high one is padding */
    const __m128i unused = _mm_cmpeq_epi16(_mm_slli_epi16(_mm_unpackhi_epi64(u1, u3), 8), _mm_setzero_si128());
    const __m128i inside = _mm_and_si128(_mm_cmpgt_epi16(mn, rail_lo), _mm_cmpgt_epi16(rail_hi, mx));
    const __m128i bad_sentinel = _mm_andnot_si128(
        unused, _mm_and_si128(_mm_cmpgt_epi16(sentinel, rail_lo), _mm_cmpgt_epi16(rail_hi, sentinel)));
    const uint32_t need = (1u << (2u * n_ch)) - 1u;
    const uint32_t pass = (uint32_t)_mm_movemask_epi8(_mm_andnot_si128(bad_sentinel, inside));
    return (pass & need) == need && used == 0u;
}

/* The statistics of block_finish (stats8_t's fields, each in a register) through merge_channels: out of line, so that
 * the block passes keep no channel_stats_t of their own. */
static TD_NOINLINE td_status merge_stats(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *frames,
                                         uint32_t n_ch, uint32_t n, __m128i sum_lo, __m128i sum_hi, __m128i q0,
                                         __m128i q1, __m128i q2, __m128i q3, __m128i mn, __m128i mx)
{
    channel_stats_t cs;
    _mm_storeu_si128((__m128i *)(void *)cs.sum, sum_lo);
    _mm_storeu_si128((__m128i *)(void *)(cs.sum + 4), sum_hi);
    _mm_storeu_si128((__m128i *)(void *)cs.sumsq, q0);
    _mm_storeu_si128((__m128i *)(void *)(cs.sumsq + 2), q1);
    _mm_storeu_si128((__m128i *)(void *)(cs.sumsq + 4), q2);
    _mm_storeu_si128((__m128i *)(void *)(cs.sumsq + 6), q3);
    _mm_storeu_si128((__m128i *)(void *)cs.mn, mn);
    _mm_storeu_si128((__m128i *)(void *)cs.mx, mx);
    return merge_channels(accs, rules, n_ch, n, n, &cs, frames);
}

/* The accumulators of channels k..k + 3 (k = 0 or 4), those below n_ch, written whole as merge_channels leaves fresh
 * ones (block_fresh): the sums, min and max, the band [min, max] (inside the rails), no sample missing or saturated,
 * n samples. sum, q01 and q23 are the four channels' sums, mm their min (low half) and max (high half) in each int32,
 * zn the words (0, n) twice. Each acc is two 16-byte words: (sumsq, sum, band_lo) and (band_span, min | max << 16,
 * n_missing | n_saturated << 16, n_samples). n_min: n_ch's least value, a constant. */
static TD_ALWAYS_INLINE void write_four(td_window_acc_t *accs, uint32_t k, uint32_t n_ch, uint32_t n_min, __m128i sum,
                                        __m128i q01, __m128i q23, __m128i mm, __m128i zn)
{
    const __m128i lo = _mm_srai_epi32(_mm_slli_epi32(mm, 16), 16);
    const __m128i span = _mm_sub_epi32(_mm_srai_epi32(mm, 16), lo);
    const __m128i sl01 = _mm_unpacklo_epi32(sum, lo); /* sum0 lo0 sum1 lo1 */
    const __m128i sl23 = _mm_unpackhi_epi32(sum, lo);
    const __m128i pm01 = _mm_unpacklo_epi32(span, mm); /* span0 mm0 span1 mm1 */
    const __m128i pm23 = _mm_unpackhi_epi32(span, mm);
    __m128i *const w = (__m128i *)(void *)(accs + k);
    if (k < n_min || k < n_ch) {
        _mm_storeu_si128(w, _mm_unpacklo_epi64(q01, sl01));
        _mm_storeu_si128(w + 1, _mm_unpacklo_epi64(pm01, zn));
    }
    if (k + 1u < n_min || k + 1u < n_ch) {
        _mm_storeu_si128(w + 2, _mm_unpackhi_epi64(q01, sl01));
        _mm_storeu_si128(w + 3, _mm_unpackhi_epi64(pm01, zn));
    }
    if (k + 2u < n_min || k + 2u < n_ch) {
        _mm_storeu_si128(w + 4, _mm_unpacklo_epi64(q23, sl23));
        _mm_storeu_si128(w + 5, _mm_unpacklo_epi64(pm23, zn));
    }
    if (k + 3u < n_min || k + 3u < n_ch) {
        _mm_storeu_si128(w + 6, _mm_unpackhi_epi64(q23, sl23));
        _mm_storeu_si128(w + 7, _mm_unpackhi_epi64(pm23, zn));
    }
}

/* A block pass's statistics s over all n frames of n_ch <= 8 channels added to the accumulators: written whole when
 * they were empty and the pass is kept on every channel (block_fresh), else through merge_channels. The same results
 * either way. n_min: n_ch's least value, a constant. */
static TD_ALWAYS_INLINE td_status block_finish(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                               const int16_t *frames, uint32_t n_ch, uint32_t n_min, uint32_t n,
                                               stats8_t s)
{
    if (n <= TD_WINDOW_ACC_MAX_SAMPLES && block_fresh(accs, rules, n_ch, n_min, s.mn, s.mx)) {
        const __m128i zn = _mm_set_epi32((int32_t)n, 0, (int32_t)n, 0);
        write_four(accs, 0u, n_ch, n_min, s.sum_lo, s.q0, s.q1, _mm_unpacklo_epi16(s.mn, s.mx), zn);
        if (n_min > 4u || n_ch > 4u) {
            write_four(accs, 4u, n_ch, n_min, s.sum_hi, s.q2, s.q3, _mm_unpackhi_epi16(s.mn, s.mx), zn);
        }
        return TD_OK;
    }
    return merge_stats(accs, rules, frames, n_ch, n, s.sum_lo, s.sum_hi, s.q0, s.q1, s.q2, s.q3, s.mn, s.mx);
}

/* Channels 0-7 of channel statistics in memory (a lane pass's or block_frames'). */
static TD_ALWAYS_INLINE stats8_t stats8_load(const channel_stats_t *cs)
{
    stats8_t s;
    s.sum_lo = _mm_loadu_si128((const __m128i *)(const void *)cs->sum);
    s.sum_hi = _mm_loadu_si128((const __m128i *)(const void *)(cs->sum + 4));
    s.q0 = _mm_loadu_si128((const __m128i *)(const void *)cs->sumsq);
    s.q1 = _mm_loadu_si128((const __m128i *)(const void *)(cs->sumsq + 2));
    s.q2 = _mm_loadu_si128((const __m128i *)(const void *)(cs->sumsq + 4));
    s.q3 = _mm_loadu_si128((const __m128i *)(const void *)(cs->sumsq + 6));
    s.mn = _mm_loadu_si128((const __m128i *)(const void *)cs->mn);
    s.mx = _mm_loadu_si128((const __m128i *)(const void *)cs->mx);
    return s;
}

/* The uint32 squares sq_lo (channels 0-3), sq_hi (4-7) widened into the uint64 sums q0-q3 (SSE2). */
static TD_ALWAYS_INLINE void widen_sse2(__m128i sq_lo, __m128i sq_hi, __m128i *q0, __m128i *q1, __m128i *q2,
                                        __m128i *q3)
{
    const __m128i zero = _mm_setzero_si128();
    *q0 = _mm_add_epi64(*q0, _mm_unpacklo_epi32(sq_lo, zero));
    *q1 = _mm_add_epi64(*q1, _mm_unpackhi_epi32(sq_lo, zero));
    *q2 = _mm_add_epi64(*q2, _mm_unpacklo_epi32(sq_hi, zero));
    *q3 = _mm_add_epi64(*q3, _mm_unpackhi_epi32(sq_hi, zero));
}

/* block_frames for 5-8 channels (n >= 2 frames) with the accumulators' update fused (block_finish): one frame a
 * vector, frames 0..n-2 loaded in place (their 8 samples stay in the block for n_ch >= 5), the last one from the
 * block's last 8 samples moved down (lanes_down, zeros shifted in). Frames go through PMADDWD in pairs, as in
 * block_frames; an odd last frame pairs with zeros. */
static td_status frames_sse2(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *x, uint32_t n_ch,
                             uint32_t n)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i last = n_ch == 8u ? _mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)(n - 1u) * 8u))
                                    : lanes_down(_mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)n * n_ch
                                                                                                  - 8u)),
                                                 8u - n_ch);
    stats8_t s;
    s.sum_lo = zero;
    s.sum_hi = zero;
    s.q0 = zero;
    s.q1 = zero;
    s.q2 = zero;
    s.q3 = zero;
    s.mn = _mm_set1_epi16(INT16_MAX);
    s.mx = _mm_set1_epi16(INT16_MIN);
    const uint32_t n_pairs = (n - 1u) >> 1; /* pairs of frames before the last one or two */
    const size_t step = n_ch;
    const int16_t *p = x;
    uint32_t k = 0u;
    for (; k + 2u <= n_pairs; k += 2u, p += 4u * step) { /* two pairs (four squares a lane) between widenings */
        __m128i sq_lo = zero;
        __m128i sq_hi = zero;
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
        const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + step));
        const __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 2u * step));
        const __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + 3u * step));
        s.mn = _mm_min_epi16(s.mn, _mm_min_epi16(_mm_min_epi16(a, b), _mm_min_epi16(c, d)));
        s.mx = _mm_max_epi16(s.mx, _mm_max_epi16(_mm_max_epi16(a, b), _mm_max_epi16(c, d)));
        pair_sse2(a, b, &s.sum_lo, &s.sum_hi, &sq_lo, &sq_hi);
        pair_sse2(c, d, &s.sum_lo, &s.sum_hi, &sq_lo, &sq_hi);
        widen_sse2(sq_lo, sq_hi, &s.q0, &s.q1, &s.q2, &s.q3);
    }
    __m128i sq_lo = zero;
    __m128i sq_hi = zero;
    if (k < n_pairs) {
        const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
        const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + step));
        s.mn = _mm_min_epi16(s.mn, _mm_min_epi16(a, b));
        s.mx = _mm_max_epi16(s.mx, _mm_max_epi16(a, b));
        pair_sse2(a, b, &s.sum_lo, &s.sum_hi, &sq_lo, &sq_hi);
        p += 2u * step;
    }
    /* the last frame, after frame n - 2 when n is even */
    const __m128i a = (n & 1u) ? last : _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i b = (n & 1u) ? zero : last;
    s.mn = _mm_min_epi16(s.mn, _mm_min_epi16(a, last));
    s.mx = _mm_max_epi16(s.mx, _mm_max_epi16(a, last));
    pair_sse2(a, b, &s.sum_lo, &s.sum_hi, &sq_lo, &sq_hi);
    widen_sse2(sq_lo, sq_hi, &s.q0, &s.q1, &s.q2, &s.q3);
    return block_finish(accs, rules, x, n_ch, 5u, n, s);
}

#if TD_BLOCK_AVX2
/* Two frames in one AVX2 vector: lo in the low 128 bits, hi in the high. */
__attribute__((target("avx2"))) static inline __m256i frames_2(__m128i lo, __m128i hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* One step of frames_avx2 over frames a = (f0 | f1) and b = (f2 | f3): min, max, and the PMADDWD pairs (f0, f2) in the
 * low half, (f1, f3) in the high, sums_a and sums_b being a and b with the frames left out of the sums zeroed. */
__attribute__((target("avx2"))) static inline void quad_avx2(__m256i a, __m256i b, __m256i sums_a, __m256i sums_b,
                                                             __m256i *lo, __m256i *hi, __m256i *s_lo, __m256i *s_hi,
                                                             __m256i *sq_lo, __m256i *sq_hi)
{
    *lo = _mm256_min_epi16(*lo, _mm256_min_epi16(a, b));
    *hi = _mm256_max_epi16(*hi, _mm256_max_epi16(a, b));
    pair_avx2(sums_a, sums_b, s_lo, s_hi, sq_lo, sq_hi);
}

/* Four frames in place at p (n_ch samples apart): (f0 | f1) and (f2 | f3). */
__attribute__((target("avx2"))) static inline void quad_load(const int16_t *p, uint32_t n_ch, __m256i *a, __m256i *b)
{
    *a = frames_2(_mm_loadu_si128((const __m128i *)(const void *)p),
                  _mm_loadu_si128((const __m128i *)(const void *)(p + n_ch)));
    *b = frames_2(_mm_loadu_si128((const __m128i *)(const void *)(p + 2u * n_ch)),
                  _mm_loadu_si128((const __m128i *)(const void *)(p + 3u * n_ch)));
}

/* The uint32 squares of (up to) two steps, both halves' (channels k..k + 3 in each), widened and added: uint64 lanes
 * k..k + 3. */
__attribute__((target("avx2"))) static inline __m256i widen_halves(__m256i sq)
{
    return _mm256_add_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(sq)),
                            _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sq, 1)));
}

/* PSHUFB controls moving int16 lanes k.. down to 0.. with zeros shifted in, k = 0..3. */
static const uint8_t lanes_down_ctrl[4][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x80, 0x80},
    {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x80, 0x80, 0x80, 0x80},
    {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
};

/* frames_sse2 in AVX2 (5-8 channels, n >= 2 frames): each 128-bit half holds one frame (channel c in lane c), so a
 * vector takes two frames and a step four, frames i, i + 2 interleaved in the low half and i + 1, i + 3 in the high:
 * the same PMADDWD pairs, and the channels' statistics are the two halves added at the end. The steps over frames 0 ..
 * 4 floor((n - 1) / 4) - 1 load in place; the last step takes the remaining 1-4 frames, the very last one from the
 * block's last 8 samples moved down (PSHUFB), the missing ones repeating it (min and max unchanged) and masked out of
 * the sums. Then block_finish. */
__attribute__((target("avx2"))) static inline stats8_t frames_avx2_stats(const int16_t *x, uint32_t n_ch, uint32_t n)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i s_lo = zero; /* int32: channels 0-3 (low half: frames i, i + 2; high half: i + 1, i + 3) */
    __m256i s_hi = zero; /* channels 4-7 */
    __m256i q03 = zero;  /* uint64: channels 0-3 */
    __m256i q47 = zero;  /* channels 4-7 */
    __m256i lo = _mm256_set1_epi16(INT16_MAX);
    __m256i hi = _mm256_set1_epi16(INT16_MIN);
    const uint32_t n_quads = (n - 1u) >> 2; /* steps of four frames before the last 1-4 */
    const size_t step = (size_t)4u * n_ch;
    const int16_t *p = x;
    uint32_t k = 0u;
    for (; k + 2u <= n_quads; k += 2u, p += 2u * step) { /* two steps (four squares a lane) between widenings */
        __m256i sq_lo = zero;
        __m256i sq_hi = zero;
        __m256i a;
        __m256i b;
        quad_load(p, n_ch, &a, &b);
        quad_avx2(a, b, a, b, &lo, &hi, &s_lo, &s_hi, &sq_lo, &sq_hi);
        quad_load(p + step, n_ch, &a, &b);
        quad_avx2(a, b, a, b, &lo, &hi, &s_lo, &s_hi, &sq_lo, &sq_hi);
        q03 = _mm256_add_epi64(q03, widen_halves(sq_lo));
        q47 = _mm256_add_epi64(q47, widen_halves(sq_hi));
    }
    __m256i sq_lo = zero;
    __m256i sq_hi = zero;
    if (k < n_quads) {
        __m256i a;
        __m256i b;
        quad_load(p, n_ch, &a, &b);
        quad_avx2(a, b, a, b, &lo, &hi, &s_lo, &s_hi, &sq_lo, &sq_hi);
        p += step;
    }
    /* the last r = 1-4 frames: frames p[0 .. r - 2] in place, then the last one, which also fills the missing ones */
    const __m128i last = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(x + (size_t)n * n_ch - 8u)),
                                          _mm_loadu_si128((const __m128i *)(const void *)lanes_down_ctrl[8u - n_ch]));
    const uint32_t r = n - 4u * n_quads;
    const __m128i f0 = r > 1u ? _mm_loadu_si128((const __m128i *)(const void *)p) : last;
    const __m128i f1 = r > 2u ? _mm_loadu_si128((const __m128i *)(const void *)(p + n_ch)) : last;
    const __m128i f2 = r > 3u ? _mm_loadu_si128((const __m128i *)(const void *)(p + 2u * n_ch)) : last;
    const __m256i a = frames_2(f0, f1);
    const __m256i b = frames_2(f2, last);
    /* frame j of the four kept in the sums when j < r: lanes (0 | 1) and (2 | 3) compared with r */
    const __m256i rr = _mm256_set1_epi16((int16_t)r);
    const __m256i keep_a = _mm256_cmpgt_epi16(rr, _mm256_setr_epi64x(0, 0, 0x0001000100010001, 0x0001000100010001));
    const __m256i keep_b = _mm256_cmpgt_epi16(rr, _mm256_setr_epi64x(0x0002000200020002, 0x0002000200020002,
                                                                     0x0003000300030003, 0x0003000300030003));
    quad_avx2(a, b, _mm256_and_si256(a, keep_a), _mm256_and_si256(b, keep_b), &lo, &hi, &s_lo, &s_hi, &sq_lo, &sq_hi);
    q03 = _mm256_add_epi64(q03, widen_halves(sq_lo));
    q47 = _mm256_add_epi64(q47, widen_halves(sq_hi));
    /* the two halves' frames together */
    stats8_t s;
    s.sum_lo = _mm_add_epi32(_mm256_castsi256_si128(s_lo), _mm256_extracti128_si256(s_lo, 1));
    s.sum_hi = _mm_add_epi32(_mm256_castsi256_si128(s_hi), _mm256_extracti128_si256(s_hi, 1));
    s.q0 = _mm256_castsi256_si128(q03);
    s.q1 = _mm256_extracti128_si256(q03, 1);
    s.q2 = _mm256_castsi256_si128(q47);
    s.q3 = _mm256_extracti128_si256(q47, 1);
    s.mn = _mm_min_epi16(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1));
    s.mx = _mm_max_epi16(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
    return s;
}

/* frames_avx2_stats, then block_finish. */
__attribute__((target("avx2"))) static td_status frames_avx2(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                                             const int16_t *x, uint32_t n_ch, uint32_t n)
{
    return block_finish(accs, rules, x, n_ch, 5u, n, frames_avx2_stats(x, n_ch, n));
}

uint32_t td_window_fresh_prepare(const td_sample_rules_t *rules, uint32_t n_channels, uint32_t n_frames,
                                 int16_t rails[16])
{
    uint32_t all_ok = 1u;
    for (uint32_t c = 0; c < 8u; c++) {
        /* A channel whose rules td_window_add refuses, and the lanes past n_channels, never pass: INT16_MAX below,
         * INT16_MIN above (the lanes past n_channels are masked off anyway). */
        uint32_t ok = 0u;
        if (c < n_channels) {
            const td_sample_rules_t *r = &rules[c];
            ok = r->rail_lo < r->rail_hi && !(r->use_sentinel && r->sentinel > r->rail_lo && r->sentinel < r->rail_hi);
            all_ok &= ok;
        }
        rails[c] = ok ? rules[c].rail_lo : INT16_MAX;
        rails[8u + c] = ok ? rules[c].rail_hi : INT16_MIN;
    }
    return all_ok && n_channels - 5u <= 3u && n_frames >= 2u && n_frames <= TD_WINDOW_ACC_MAX_SAMPLES && cpu_avx2();
}

/* pair_avx2's sums and squares of a and b, the squares added into one vector (channels 0-3 then 4-7 in each). */
__attribute__((target("avx2"))) static inline void fresh_pair(__m256i a, __m256i b, __m256i *s_lo, __m256i *s_hi,
                                                              __m256i *sq_lo, __m256i *sq_hi)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i ab_lo = _mm256_unpacklo_epi16(a, b);
    const __m256i ab_hi = _mm256_unpackhi_epi16(a, b);
    *s_lo = _mm256_add_epi32(*s_lo, _mm256_madd_epi16(ab_lo, ones));
    *s_hi = _mm256_add_epi32(*s_hi, _mm256_madd_epi16(ab_hi, ones));
    *sq_lo = _mm256_add_epi32(*sq_lo, _mm256_madd_epi16(ab_lo, ab_lo));
    *sq_hi = _mm256_add_epi32(*sq_hi, _mm256_madd_epi16(ab_hi, ab_hi));
}

/* Two frames at p and p + n_ch, loaded in place: (f0 | f1). */
__attribute__((target("avx2"))) static inline __m256i fresh_two(const int16_t *p, uint32_t n_ch)
{
    return frames_2(_mm_loadu_si128((const __m128i *)(const void *)p),
                    _mm_loadu_si128((const __m128i *)(const void *)(p + n_ch)));
}

/* frames_avx2 for empty accumulators and folded rules: each 128-bit half one frame, a vector two. Eight frames a step
 * while more than eight are left (none of them the last: all load in place), then four and two in place while more
 * than two are left, then the last one or two frames as one 128-bit pair, the very last frame from the block's last 8
 * samples moved down (PSHUFB). Every uint32 square lane takes at most four squares before it widens (as in
 * frames_avx2). Then block_fresh's test with the rules td_window_fresh_prepare folded (the accumulators are empty by
 * contract) and write_four, else merge_stats. */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE td_status fresh_frames(td_window_acc_t *accs,
                                                                                const td_sample_rules_t *rules,
                                                                                const int16_t *rails,
                                                                                const int16_t *frames, uint32_t n_ch,
                                                                                uint32_t n_frames)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i s_lo = zero; /* int32: channels 0-3, each half its frames' */
    __m256i s_hi = zero; /* channels 4-7 */
    __m256i q03 = zero;  /* uint64: channels 0-3, both halves */
    __m256i q47 = zero;
    __m256i lo = _mm256_set1_epi16(INT16_MAX);
    __m256i hi = _mm256_set1_epi16(INT16_MIN);
    const int16_t *p = frames;
    const uint32_t n_steps = (n_frames - 1u) >> 3; /* steps of eight frames, none of them the last */
    for (uint32_t k = n_steps; k != 0u; k--, p += 8u * n_ch) {
        const __m256i a = fresh_two(p, n_ch);
        const __m256i b = fresh_two(p + 2u * n_ch, n_ch);
        const __m256i c = fresh_two(p + 4u * n_ch, n_ch);
        const __m256i d = fresh_two(p + 6u * n_ch, n_ch);
        lo = _mm256_min_epi16(lo, _mm256_min_epi16(_mm256_min_epi16(a, b), _mm256_min_epi16(c, d)));
        hi = _mm256_max_epi16(hi, _mm256_max_epi16(_mm256_max_epi16(a, b), _mm256_max_epi16(c, d)));
        __m256i sq_lo = zero;
        __m256i sq_hi = zero;
        fresh_pair(a, b, &s_lo, &s_hi, &sq_lo, &sq_hi);
        fresh_pair(c, d, &s_lo, &s_hi, &sq_lo, &sq_hi);
        q03 = _mm256_add_epi64(q03, widen_halves(sq_lo));
        q47 = _mm256_add_epi64(q47, widen_halves(sq_hi));
    }
    uint32_t left = n_frames - 8u * n_steps; /* 1-8 */
    if (left > 2u) { /* frames in place before the last two: four (at most two squares a lane), then two (one) */
        __m256i sq_lo = zero;
        __m256i sq_hi = zero;
        if (left > 4u) {
            const __m256i a = fresh_two(p, n_ch);
            const __m256i b = fresh_two(p + 2u * n_ch, n_ch);
            lo = _mm256_min_epi16(lo, _mm256_min_epi16(a, b));
            hi = _mm256_max_epi16(hi, _mm256_max_epi16(a, b));
            fresh_pair(a, b, &s_lo, &s_hi, &sq_lo, &sq_hi);
            left -= 4u;
            p += 4u * n_ch;
        }
        if (left > 2u) {
            const __m256i a = fresh_two(p, n_ch);
            lo = _mm256_min_epi16(lo, a);
            hi = _mm256_max_epi16(hi, a);
            fresh_pair(a, zero, &s_lo, &s_hi, &sq_lo, &sq_hi);
            left -= 2u;
            p += 2u * n_ch;
        }
        q03 = _mm256_add_epi64(q03, widen_halves(sq_lo));
        q47 = _mm256_add_epi64(q47, widen_halves(sq_hi));
    }
    /* the last one or two frames in one 128-bit vector each: the one before the last in place (else zeros), the last
     * from the block's last 8 samples moved down (PSHUFB); one PMADDWD pair, its squares widened at once */
    const __m128i last = _mm_shuffle_epi8(
        _mm_loadu_si128((const __m128i *)(const void *)(frames + (size_t)n_frames * n_ch - 8u)),
        _mm_loadu_si128((const __m128i *)(const void *)lanes_down_ctrl[8u - n_ch]));
    const __m128i ones = _mm_set1_epi16(1);
    __m128i mn;
    __m128i mx;
    __m128i t_lo;
    __m128i t_hi;
    if (left == 2u) {
        const __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)p);
        mn = _mm_min_epi16(prev, last);
        mx = _mm_max_epi16(prev, last);
        t_lo = _mm_unpacklo_epi16(prev, last);
        t_hi = _mm_unpackhi_epi16(prev, last);
    } else {
        mn = last;
        mx = last;
        t_lo = _mm_unpacklo_epi16(last, _mm_setzero_si128());
        t_hi = _mm_unpackhi_epi16(last, _mm_setzero_si128());
    }
    q03 = _mm256_add_epi64(q03, _mm256_cvtepu32_epi64(_mm_madd_epi16(t_lo, t_lo)));
    q47 = _mm256_add_epi64(q47, _mm256_cvtepu32_epi64(_mm_madd_epi16(t_hi, t_hi)));
    /* the two halves' frames and the tail's together */
    const __m128i sum_lo = _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(s_lo), _mm256_extracti128_si256(s_lo, 1)),
                                         _mm_madd_epi16(t_lo, ones));
    const __m128i sum_hi = _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(s_hi), _mm256_extracti128_si256(s_hi, 1)),
                                         _mm_madd_epi16(t_hi, ones));
    mn = _mm_min_epi16(mn, _mm_min_epi16(_mm256_castsi256_si128(lo), _mm256_extracti128_si256(lo, 1)));
    mx = _mm_max_epi16(mx, _mm_max_epi16(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
    const __m128i q0 = _mm256_castsi256_si128(q03);
    const __m128i q1 = _mm256_extracti128_si256(q03, 1);
    const __m128i q2 = _mm256_castsi256_si128(q47);
    const __m128i q3 = _mm256_extracti128_si256(q47, 1);
    /* block_fresh's test with the rules folded: every channel's samples strictly inside its (valid) rails */
    const __m128i rail_lo = _mm_loadu_si128((const __m128i *)(const void *)rails);
    const __m128i rail_hi = _mm_loadu_si128((const __m128i *)(const void *)(rails + 8));
    const uint32_t pass =
        (uint32_t)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi16(mn, rail_lo), _mm_cmpgt_epi16(rail_hi, mx)));
    const uint32_t need = (1u << (2u * n_ch)) - 1u;
    if ((pass & need) == need) {
        const __m128i zn = _mm_set_epi32((int32_t)n_frames, 0, (int32_t)n_frames, 0);
        write_four(accs, 0u, n_ch, 5u, sum_lo, q0, q1, _mm_unpacklo_epi16(mn, mx), zn);
        write_four(accs, 4u, n_ch, 5u, sum_hi, q2, q3, _mm_unpackhi_epi16(mn, mx), zn);
        return TD_OK;
    }
    return merge_stats(accs, rules, frames, n_ch, n_frames, sum_lo, sum_hi, q0, q1, q2, q3, mn, mx);
}

/* fresh_frames for each channel count a constant: the frames' offsets, the PSHUFB control and the stores fixed. */
__attribute__((target("avx2"))) td_status td_window_add_fresh(td_window_acc_t *accs, const td_sample_rules_t *rules,
                                                              const int16_t rails[16], const int16_t *frames,
                                                              uint32_t n_channels, uint32_t n_frames)
{
    switch (n_channels) {
    case 5u: return fresh_frames(accs, rules, rails, frames, 5u, n_frames);
    case 6u: return fresh_frames(accs, rules, rails, frames, 6u, n_frames);
    case 7u: return fresh_frames(accs, rules, rails, frames, 7u, n_frames);
    default: return fresh_frames(accs, rules, rails, frames, 8u, n_frames);
    }
}
#endif
#endif

#if TD_BLOCK_LANES
/* td_window_add_frames' other block passes (all but frames_avx2: the lanes, frames_sse2, block_frames), else channel
 * by channel: out of line, so that the frames_avx2 call sets up none of their large stack frame. */
static TD_NOINLINE td_status block_other(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *frames,
                                         uint32_t n_channels, uint32_t n_frames)
{
    if (n_frames >= 2u && n_channels <= 16u) {
        channel_stats_t cs;
#if TD_BLOCK_AVX2
        const uint32_t avx2 = cpu_avx2();
#endif
        uint32_t log_group = 3u - log2_gcd(n_channels, 3u);
        uint32_t wide = 0u;
#if TD_BLOCK_AVX2
        const uint32_t log_group16 = 4u - log2_gcd(n_channels, 4u);
        if (avx2 && (n_frames >> log_group16) >= 2u) {
            log_group = log_group16;
            wide = 1u;
        }
#endif
        const uint32_t group = 1u << log_group;
        const uint32_t n_groups = n_frames >> log_group;
        if (wide || n_groups >= 4u) {
            lane_stats_t ls;
#if TD_BLOCK_AVX2
            if (wide) {
                lanes_avx2(frames, group * n_channels, n_groups, &ls);
            } else
#endif
            {
                lanes_sse2(frames, group * n_channels, n_groups, &ls);
            }
            lanes_to_channels(&ls, n_channels, group, &cs);
            if (n_channels <= 8u && n_groups * group == n_frames) {
                return block_finish(accs, rules, frames, n_channels, 1u, n_frames, stats8_load(&cs));
            }
            return merge_channels(accs, rules, n_channels, n_frames, n_groups * group, &cs, frames);
        }
        if (n_channels >= 5u && n_channels <= 8u) {
            return frames_sse2(accs, rules, frames, n_channels, n_frames);
        }
        if (n_channels <= 8u && n_frames * n_channels >= 8u) {
            block_frames(frames, n_channels, n_frames, &cs);
            return block_finish(accs, rules, frames, n_channels, 1u, n_frames, stats8_load(&cs));
        }
    }
    return td_window_add_channels(accs, rules, frames, n_channels, n_frames);
}
#endif

td_status td_window_add_frames(td_window_acc_t *accs, const td_sample_rules_t *rules, const int16_t *frames,
                               uint32_t n_channels, uint32_t n_frames)
{
    if (accs == NULL || rules == NULL || n_channels == 0u || (frames == NULL && n_frames > 0u)) {
        return TD_ERR_ARG;
    }
#if TD_BLOCK_LANES
    /* A block pass first, then the accumulators: written whole where they were empty and the pass is kept on every
     * channel (block_finish), else channel by channel (merge_channels). 5-8 channels where the CPU has AVX2: two
     * frames a vector (frames_avx2). Else (block_other) a group is lanes = lcm(n_channels, width) samples,
     * lanes / n_channels frames: width 16 (AVX2) for blocks of 2 groups or more, else 8 (SSE2) for blocks of 4 groups
     * or more. Shorter blocks of up to 8 channels (a window of 10 frames: 2 groups of 4 at 6 channels without AVX2) go
     * one frame a vector (frames_sse2 for 5-8 channels, else block_frames). */
#if TD_BLOCK_AVX2
    if (n_frames >= 2u && n_channels - 5u <= 3u && cpu_avx2()) {
        return frames_avx2(accs, rules, frames, n_channels, n_frames);
    }
#endif
    return block_other(accs, rules, frames, n_channels, n_frames);
#elif TD_BLOCK_PAIRS
    if (n_frames >= TD_BLOCK_PAIRS_MIN_FRAMES && block_ok(accs, rules, n_channels, n_frames)) {
        int32_t st = TD_OK;
        uint32_t c = 0u;
        for (; c + 1u < n_channels; c += 2u) {
            pair_stats_t ps;
            block_pair(frames + c, 2u * n_channels, n_frames, &ps);
            st |= merge_block(&accs[c], &rules[c], n_frames, ps.sum[0], ps.sumsq[0], (int16_t)ps.min,
                              (int16_t)ps.max, frames + c, n_channels);
            st |= merge_block(&accs[c + 1u], &rules[c + 1u], n_frames, ps.sum[1], ps.sumsq[1],
                              (int16_t)(ps.min >> 16), (int16_t)(ps.max >> 16), frames + c + 1u, n_channels);
        }
        if (c < n_channels) {
            st |= td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames);
        }
        return st != TD_OK ? TD_ERR_STATE : TD_OK; /* never an error: block_ok checked the rules and the room */
    }
    for (uint32_t c = 0; c < n_channels; c++) {
        const td_status st = td_window_add(&accs[c], &rules[c], frames + c, n_channels, n_frames);
        if (st != TD_OK) {
            return st;
        }
    }
    return TD_OK;
#endif
}
#endif

/* floor((*rem 2^32 + x) / den) for 0 < den <= 2^20 and *rem < den, leaving the remainder in *rem.
 * Long division in 12-, 12- and 8-bit digits keeps every partial dividend within 32 bits, so it
 * costs three 32-bit divisions (one UDIV each on the M4) instead of a 64-bit division routine. */
#if TD_OPTIMIZE_SPEED || TD_MINIMAL
static uint32_t div_long32(uint32_t *rem, uint32_t x, uint32_t den)
{
    uint32_t r = (*rem << 12) | (x >> 20);
    uint32_t q = r / den;
    r -= q * den;
    r = (r << 12) | ((x >> 8) & 0xFFFu);
    uint32_t d = r / den;
    r -= d * den;
    q = (q << 12) | d;
    r = (r << 8) | (x & 0xFFu);
    d = r / den;
    r -= d * den;
    *rem = r;
    return (q << 8) | d;
}
#endif

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
    if (TD_OPTIMIZE_SPEED && (n & (n - 1u)) == 0u) {
        /* n = 2^p (a power-of-two window without missing samples, the common case): d 2^32 / n^2 is exact, a
         * shift (d < 2^(30 + 2p), so the result stays below 2^62), instead of two long divisions. */
        return d << (32u - 2u * (31u - td_clz32(n)));
    }
    const uint32_t nn = n * n;
#if TD_HOST_X86
    /* x86-64: the same quotient and rounding with the CPU's 64-bit division (d < 2^51, r 2^32 < 2^52). */
    const uint64_t r = d % nn;
    const uint64_t x = r << 32;
    return ((d / nn) << 32) + x / nn + (2u * (x % nn) >= nn ? 1u : 0u);
#endif
    /* d <= 2^30 nn, so the quotient d / nn fits 32 bits and the remainder is below nn; the result is that quotient
     * in the high word plus round(remainder 2^32 / nn), ties up. */
#if TD_OPTIMIZE_SPEED || TD_MINIMAL
    uint32_t rem = (uint32_t)(d >> 32);
    const uint32_t q = div_long32(&rem, (uint32_t)d, nn);
    const uint32_t frac = div_long32(&rem, 0u, nn);
    return ((uint64_t)q << 32) + frac + (2u * rem >= nn ? 1u : 0u);
#else
    /* The same with td_udiv64_32 (linked anyway) instead of a second long division routine: with X = rem 2^32 =
     * f nn + r, floor((2 X + nn) / (2 nn)) = f + (2 r >= nn), as 2 r + nn < 3 nn; 2 X + nn < 2^53. */
    const uint64_t q = td_udiv64_32(d, nn);
    const uint32_t rem = (uint32_t)d - (uint32_t)q * nn;
    return (q << 32) + td_udiv64_32(((uint64_t)rem << 33) + nn, 2u * nn);
#endif
}

#if !TD_MINIMAL || TD_FEATURE_EXTERNAL || TD_FEATURE_OUTPUTS || TD_FEATURE_ATTRIBUTION || TD_FEATURE_CHART
uint64_t td_udiv64_32(uint64_t num, uint32_t den)
{
    uint32_t hi = (uint32_t)(num >> 32);
    uint32_t lo = (uint32_t)num;
    const uint32_t q_hi = hi / den;
    hi -= q_hi * den; /* now hi < den, so the low quotient word fits 32 bits */
    uint32_t q_lo;
    if (hi == 0u) {
        q_lo = lo / den;
    } else {
        /* (hi 2^32 + lo) / den in two 16-bit quotient digits (Knuth's algorithm D with base 2^16):
         * normalize den to its top bit, estimate each digit as the partial remainder hi over d's
         * high half (never too small; at most 2 too large, as d's high half is >= 2^15) and step it
         * down while the partial remainder, exact in 64 bits, is negative. hi stays below d. */
        const uint32_t s = td_clz32(den);
        const uint32_t d = den << s;
        hi = (hi << s) | ((lo >> 1) >> (31u - s));
        lo <<= s;
        q_lo = 0u;
        for (uint32_t k = 0; k < 2u; k++) {
            uint32_t q = hi / (d >> 16);
            int64_t r = (int64_t)(((uint64_t)hi << 16) | (lo >> 16)) - (int64_t)((uint64_t)q * d);
            while (r < 0) {
                q--;
                r += d;
            }
            hi = (uint32_t)r;
            lo <<= 16;
            q_lo = (q_lo << 16) | q;
        }
    }
    return ((uint64_t)q_hi << 32) | q_lo;
}
#endif

#if TD_FEATURE_EXTERNAL || TD_FEATURE_OUTPUTS
int64_t td_round_div32(int64_t num, uint32_t den)
{
    const uint64_t mag = td_udiv64_32(td_abs64(num) + den / 2u, den);
    return num < 0 ? -(int64_t)mag : (int64_t)mag;
}
#endif

#if !(TD_MINIMAL && !TD_OPTIMIZE_SPEED)
/* Upper bounds of sqrt over [i 2^27, (i + 1) 2^27) for i = 8..31 (capped at 65535, still >= the floor
 * root): within 6.1 % of the root, so two Newton steps leave the floor root or one more. */
static const uint16_t isqrt_guess[24] = {
    34756u, 36636u, 38424u, 40133u, 41772u, 43348u, 44870u, 46341u, 47768u, 49152u, 50499u, 51811u,
    53091u, 54340u, 55561u, 56756u, 57927u, 59074u, 60199u, 61304u, 62389u, 63455u, 64504u, 65535u,
};
#endif

#if TD_MINIMAL && !TD_OPTIMIZE_SPEED
/* The minimal build's square root: bit by bit, two bits of the value a step (at most 32 steps), about 100 bytes less
 * flash than the Newton-Karatsuba one below and several times slower. The floor root is unique, so both agree. */
uint32_t td_isqrt64(uint64_t value)
{
    uint64_t root = 0u;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > value) {
        bit >>= 2;
    }
    while (bit != 0u) {
        if (value >= root + bit) {
            value -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}
#else
/* Floor root of value != 0 normalized by an even left shift into [2^62, 2^64), taken in 16-bit halves
 * (Zimmermann's Karatsuba square root with base 2^16): 32-bit divisions only, no 64-bit division, no loop
 * over bits. *shift gets the normalizing shift; the root of value itself is the result >> (*shift / 2). */
static TD_ALWAYS_INLINE uint32_t isqrt_normalized(uint64_t value, uint32_t *shift)
{
    const uint32_t top = (uint32_t)(value >> 32);
    *shift = (top != 0u ? td_clz32(top) : 32u + td_clz32((uint32_t)value)) & ~1u;
    const uint64_t v = value << *shift;
    const uint32_t hi = (uint32_t)(v >> 32); /* [2^30, 2^32) */
    const uint32_t lo = (uint32_t)v;
    /* s1 = floor(sqrt(hi)) in [2^15, 2^16): integer Newton from an upper bound stays at or above the
     * floor root; after two steps it is the floor root or one more. */
    uint32_t s1 = isqrt_guess[(hi >> 27) - 8u];
    s1 = (s1 + hi / s1) >> 1;
    s1 = (s1 + hi / s1) >> 1;
    if (s1 * s1 > hi) {
        s1--;
    }
    const uint32_t r1 = hi - s1 * s1; /* <= 2 s1 < 2^17 */
    /* q = floor((r1 2^16 + a1) / (2 s1)) with a1 the next 16 bits: numerator and divisor halved so
     * the numerator fits 32 bits (floor of floor is exact); u is the remainder of the full division. */
    const uint32_t a1 = lo >> 16;
    const uint32_t num = (r1 << 15) | (a1 >> 1);
    const uint32_t q = num / s1;
    const uint32_t u = ((num - q * s1) << 1) | (a1 & 1u);
    /* s1 2^16 + q is the root or one too large (one correction, by the theorem); the sum may wrap
     * when it is 2^32, which the correction then undoes. */
    uint32_t root = (s1 << 16) + q;
    if ((uint64_t)q * q > (((uint64_t)u << 16) | (lo & 0xFFFFu))) {
        root--;
    }
    return root;
}

#if TD_HOST_X86
/* x86-64 speed build: the floor root through SSE2's SQRTSD. (double)value and the root are each correctly rounded
 * (relative errors <= 2^-53), so for value < 2^64 the double root lies within 2^-20 of the true root (< 2^32): its
 * floor is the floor root or one off either way, which one compare each way corrects. Exact for every value; tests/c/
 * test_stats.c checks millions against the reference. */
static TD_ALWAYS_INLINE uint32_t isqrt_fpu(uint64_t value)
{
    const __m128d v = _mm_set_sd((double)value);
    uint64_t r = (uint64_t)_mm_cvtsd_f64(_mm_sqrt_sd(v, v));
    r = r > 0xFFFFFFFFu ? 0xFFFFFFFFu : r;
    if (r * r > value) {
        r--;
    } else if (r < 0xFFFFFFFFu && (r + 1u) * (r + 1u) <= value) {
        r++;
    }
    return (uint32_t)r;
}
#endif

uint32_t td_isqrt64(uint64_t value)
{
#if TD_HOST_X86
    return isqrt_fpu(value);
#endif
    if (value == 0u) {
        return 0u;
    }
    uint32_t shift;
    const uint32_t root = isqrt_normalized(value, &shift);
    return root >> (shift >> 1);
}
#endif

#if TD_OPTIMIZE_SPEED
uint32_t td_isqrt64_shl(uint64_t value, uint32_t k)
{
#if TD_HOST_X86
    return isqrt_fpu(value << (2u * k)); /* value 4^k < 2^64 */
#endif
    if (value == 0u) {
        return 0u;
    }
    /* td_isqrt64 of value 4^k: the same normalized value (value's even shift, less 2k, applied to value 4^k gives
     * value shifted by value's own), the same root of it; floor(floor(r) / 2^a) = floor(r / 2^a) for the rest. */
    uint32_t shift;
    const uint32_t root = isqrt_normalized(value, &shift);
    return root >> ((shift >> 1) - k);
}
#endif

int32_t td_std_q8(uint64_t var_q32)
{
    return (int32_t)(((uint64_t)td_isqrt64(var_q32) + 128u) >> 8);
}

#if TD_FEATURE_LIFETIME
/* The lifetime read-out's exact arithmetic on little-endian arrays of 32-bit words (C99 has no 128-bit type, and a
 * 32-bit target's compiler none either): 160 bits hold n sumsq 2^32 < 2^158. Loops over words keep the code small;
 * only td_lifetime_get uses it, so its speed does not matter. */
#define WIDE_WORDS 5u

/* The words of a 64-bit value. */
static void wide_set(uint32_t *w, uint64_t v)
{
    memset(w, 0, WIDE_WORDS * sizeof *w);
    w[0] = (uint32_t)v;
    w[1] = (uint32_t)(v >> 32);
}

/* r = a b for values whose product fits the words. */
static void wide_mul(uint32_t *r, const uint32_t *a, const uint32_t *b)
{
    memset(r, 0, WIDE_WORDS * sizeof *r);
    for (uint32_t i = 0; i < WIDE_WORDS; i++) {
        uint64_t carry = 0u;
        for (uint32_t j = 0; i + j < WIDE_WORDS; j++) {
            carry += (uint64_t)a[i] * b[j] + r[i + j];
            r[i + j] = (uint32_t)carry;
            carry >>= 32;
        }
    }
}

/* a -= b when b <= a (the subtraction does not borrow); returns whether it subtracted. */
static uint32_t wide_sub_if_le(uint32_t *a, const uint32_t *b)
{
    uint32_t diff[WIDE_WORDS];
    uint32_t borrow = 0u;
    for (uint32_t i = 0; i < WIDE_WORDS; i++) {
        const uint64_t d = (uint64_t)a[i] - b[i] - borrow;
        diff[i] = (uint32_t)d;
        borrow = (uint32_t)(d >> 63);
    }
    if (borrow) {
        return 0u;
    }
    memcpy(a, diff, sizeof diff);
    return 1u;
}

/* num / den rounded half up, for den > 0 and a result below 2^63 (callers guarantee it): long division bit by bit,
 * 161 steps, the last one bringing down a 0 below num's bits so that q ends as floor(2 num / den) (< 2^64) and its
 * low bit is the rounding. buf holds the bits of num not yet brought down (low words) under the remainder (high
 * words): one shift of all ten words brings the next bit down, and the remainder stays below den, so its doubling
 * fits. */
static uint64_t wide_round_div(const uint32_t *num, const uint32_t *den)
{
    uint32_t buf[2u * WIDE_WORDS];
    uint64_t q = 0u;
    memcpy(buf, num, WIDE_WORDS * sizeof *buf);
    memset(buf + WIDE_WORDS, 0, WIDE_WORDS * sizeof *buf);
    for (uint32_t step = 0; step <= 32u * WIDE_WORDS; step++) {
        uint32_t carry = 0u;
        for (uint32_t i = 0; i < 2u * WIDE_WORDS; i++) {
            const uint32_t top = buf[i] >> 31;
            buf[i] = (buf[i] << 1) | carry;
            carry = top;
        }
        q = (q << 1) | wide_sub_if_le(buf + WIDE_WORDS, den);
    }
    return (q >> 1) + (q & 1u);
}

td_status td_lifetime_init(td_lifetime_t *life)
{
    if (life == NULL) {
        return TD_ERR_ARG;
    }
    memset(life, 0, sizeof *life);
    return TD_OK;
}

td_status td_lifetime_get(const td_lifetime_t *life, uint64_t *n, int64_t *mean_q32, uint64_t *var_q32)
{
    if (life == NULL || n == NULL || mean_q32 == NULL || var_q32 == NULL) {
        return TD_ERR_ARG;
    }
    /* Merges keep n <= 2^48, |sum| <= 2^15 n and sumsq <= 2^30 n, so every value below fits its words. */
    uint32_t count[WIDE_WORDS];
    uint32_t mag[WIDE_WORDS];
    uint32_t num[WIDE_WORDS];
    uint32_t den[WIDE_WORDS];
    const uint64_t mag64 = life->sum < 0 ? 0u - (uint64_t)life->sum : (uint64_t)life->sum;
    wide_set(count, life->n);
    wide_set(mag, mag64);
    *n = life->n;
    *mean_q32 = 0;
    *var_q32 = 0u;
    if (life->n == 0u) {
        return TD_OK;
    }
    /* mean = round(|sum| 2^32 / n) with the sum's sign (ties away from zero): |sum| 2^32 is mag one word up. */
    wide_set(num, mag64 << 32); /* words 0 and 1: 0 and mag's low word */
    num[2] = mag[1];
    const uint64_t mean = wide_round_div(num, count);
    *mean_q32 = life->sum < 0 ? -(int64_t)mean : (int64_t)mean;
    /* var = round((n sumsq - sum^2) 2^32 / n^2), ties up, as td_var_q32 (< 2^62): the numerator from n 2^32 and
     * |sum| 2^32 (num), each a word up. */
    const uint32_t sumsq[WIDE_WORDS] = {(uint32_t)life->sumsq_lo, (uint32_t)(life->sumsq_lo >> 32),
                                        (uint32_t)life->sumsq_hi, 0u, 0u};
    const uint32_t count_up[WIDE_WORDS] = {0u, count[0], count[1], 0u, 0u};
    wide_mul(den, num, mag);
    wide_mul(num, count_up, sumsq);
    if (!wide_sub_if_le(num, den)) {
        return TD_OK; /* n sumsq < sum^2 only for sums no samples have */
    }
    wide_mul(den, count, count);
    *var_q32 = wide_round_div(num, den);
    return TD_OK;
}

td_status td_lifetime_merge(td_lifetime_t *life, uint32_t n, int32_t sum, int64_t sumsq)
{
    /* Only sums that n int16 samples can have: they keep the lifetime sums within their bounds. */
    if (life == NULL || n > TD_WINDOW_ACC_MAX_SAMPLES || td_abs32(sum) > (n << 15) ||
        (uint64_t)sumsq > ((uint64_t)n << 30)) { /* a negative sumsq is far beyond as unsigned */
        return TD_ERR_ARG;
    }
    if (life->n + n > TD_LIFETIME_MAX_SAMPLES) {
        return TD_ERR_CAPACITY;
    }
    life->n += n;
    life->sum += sum;
    const uint64_t lo = life->sumsq_lo + (uint64_t)sumsq;
    life->sumsq_hi += lo < life->sumsq_lo ? 1u : 0u;
    life->sumsq_lo = lo;
    return TD_OK;
}
#endif /* TD_FEATURE_LIFETIME */
