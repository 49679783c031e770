/* td_attribution.c - the fitted shift of each feature (matched filter in the nearest centroid's scale),
 * the channel attribution during a CUSUM run and the feature chart's step. */
#include "td_monitor_internal.h"
#include "td_stats_internal.h"

#if TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32) && defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif
#if TD_HOST_X86 && TD_BLOCK_AVX2
#include <immintrin.h>
#define TD_SHIFTS_AVX2 1
#else
#define TD_SHIFTS_AVX2 0
#endif

#if TD_FEATURE_ATTRIBUTION || TD_FEATURE_CHART

/* The fitted shift of each feature (PCA mode). A shift of feature f by x moves the embedding by x P[., f]; in the
 * nearest centroid's own scale, u_j = (e_j - c_kj) / s_kj, that is x a_f with a_f,j = P[j, f] / s_kj. The shift that
 * fits u best is g_f = <a_f, u> / |a_f| (in z units: a matched filter, the likelihood ratio of "feature f moved"
 * under the mixture's Gaussian; about N(0, 1) in distribution). Two things use it: the attribution during a CUSUM run
 * (blame_update) and the feature chart (td_chart_step) of profiles with a chart section, which also store the norms.
 *
 * Fixed point: t_j = u_j in Q8, clamped to int16 (+-128 z units); the centroid's inverse scales (1.0 without scales)
 * share one right shift that leaves the largest in 15 bits (the ratio does not depend on a common factor), so
 * a = P inv < 2^22, n = sum a t < 2^43 and d = sum a^2 < 2^50 (n_dims <= 64). root = floor(sqrt(d)) depends on the
 * centroid alone: the chart section stores it per centroid and feature, else it is computed here.
 * g_f = sign(n) min(floor(|n| / root), INT16_MAX), Q8 z units (|g| <= |t| < 2^18 by Cauchy-Schwarz before the
 * clamp; 0 for root 0). */
#if TD_OPTIMIZE_SPEED
/* The speed build: the same integers, summed in another order. n = sum_j P[j, f] w_j with w_j = (inv_j >> inv_shift)
 * t_j (|w| < 2^30), and d = sum_j P[j, f]^2 v_j with v_j = (inv_j >> inv_shift)^2 < 2^30: one multiply-accumulate a
 * term instead of GCC's thirteen instructions with spills. */

#if TD_ARM_DSP
/* sums[f] = sum_j P[j, f] x_j for the columns from col (column f0 of row 0, rows stride bytes apart) up to col_end,
 * four columns a group, with x_j from x to x_end (at least one row): a group's four int64 sums (SMLAL) stay in
 * registers, two rows a pass, one x word and four LDRSB a row (11 instructions a row for four terms where the pair
 * loop below takes 14). Naked: all fourteen registers are the loop's (r4-r11 the sums, ip the x word, lr the
 * weight); the group's column and the first x wait on the stack. A group's first row starts its sums with SMULL
 * (no zeroing); an odd count of the rows left enters at the second row of the pass. Only the Cortex-M4 runs it: make test-core-m4 checks it (test_monitor.c's fitted shifts). */
#define TD_ARG_IN_REG __attribute__((unused)) /* a naked function reads its arguments in assembly */
__attribute__((naked, noinline)) static void col_sums(TD_ARG_IN_REG const int8_t *col, TD_ARG_IN_REG uint32_t stride,
                                                     TD_ARG_IN_REG const int32_t *x, TD_ARG_IN_REG const int32_t *x_end,
                                                     TD_ARG_IN_REG int64_t *sums, TD_ARG_IN_REG const int8_t *col_end)
{
    __asm__("push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
            "sub sp, sp, #8\n\t"
            "str r2, [sp]\n\t"
            "0:\n\t"
            "str r0, [sp, #4]\n\t"
            "ldr r2, [sp]\n\t"
            "ldr ip, [r2], #4\n\t"
            "ldrsb lr, [r0]\n\t"
            "smull r4, r5, lr, ip\n\t"
            "ldrsb lr, [r0, #1]\n\t"
            "smull r6, r7, lr, ip\n\t"
            "ldrsb lr, [r0, #2]\n\t"
            "smull r8, r9, lr, ip\n\t"
            "ldrsb lr, [r0, #3]\n\t"
            "smull r10, r11, lr, ip\n\t"
            "add r0, r0, r1\n\t"
            "cmp r2, r3\n\t"
            "beq 3f\n\t"
            "sub ip, r3, r2\n\t"
            "tst ip, #4\n\t"
            "bne 2f\n\t"
            "1:\n\t"
            "ldr ip, [r2], #4\n\t"
            "ldrsb lr, [r0]\n\t"
            "smlal r4, r5, lr, ip\n\t"
            "ldrsb lr, [r0, #1]\n\t"
            "smlal r6, r7, lr, ip\n\t"
            "ldrsb lr, [r0, #2]\n\t"
            "smlal r8, r9, lr, ip\n\t"
            "ldrsb lr, [r0, #3]\n\t"
            "smlal r10, r11, lr, ip\n\t"
            "add r0, r0, r1\n\t"
            "2:\n\t"
            "ldr ip, [r2], #4\n\t"
            "ldrsb lr, [r0]\n\t"
            "smlal r4, r5, lr, ip\n\t"
            "ldrsb lr, [r0, #1]\n\t"
            "smlal r6, r7, lr, ip\n\t"
            "ldrsb lr, [r0, #2]\n\t"
            "smlal r8, r9, lr, ip\n\t"
            "ldrsb lr, [r0, #3]\n\t"
            "smlal r10, r11, lr, ip\n\t"
            "add r0, r0, r1\n\t"
            "cmp r2, r3\n\t"
            "bne 1b\n\t"
            "3:\n\t"
            "ldr ip, [sp, #44]\n\t"
            "strd r4, r5, [ip], #8\n\t"
            "strd r6, r7, [ip], #8\n\t"
            "strd r8, r9, [ip], #8\n\t"
            "strd r10, r11, [ip], #8\n\t"
            "str ip, [sp, #44]\n\t"
            "ldr r0, [sp, #4]\n\t"
            "adds r0, r0, #4\n\t"
            "ldr ip, [sp, #48]\n\t"
            "cmp r0, ip\n\t"
            "bne 0b\n\t"
            "add sp, sp, #8\n\t"
            "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}");
}
#endif

/* For each feature pair (f, f + 1), a column pair of the projection (one row every n_features bytes), into
 * sums[f], sums[f + 1]: sum_j P[j, f] x_j (square == 0, signed) or sum_j P[j, f]^2 x_j (square != 0, x_j < 2^30 and
 * the sums unsigned). n_features is even (two per channel). */
#if !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32) && defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3"))) /* GCC vectorises the row loop below only at -O3 (the CFFI build uses -O2) */
#endif
static TD_NOINLINE void blame_sums(const int8_t *projection, uint32_t n_features, uint32_t n_dims, const int32_t *x,
                                   uint32_t square, int64_t *sums)
{
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
    uint32_t f = 0;
#if TD_ARM_DSP
    /* Four columns at a time where they fit; a last pair (n_features = 4 m + 2) below. */
    if (!square && n_dims != 0u && n_features >= 4u) {
        f = n_features & ~3u;
        col_sums(projection, n_features, x, x + n_dims, sums, projection + f);
    }
#endif
    for (; f < n_features; f += 2u) {
        const int8_t *const col = projection + f;
        /* One offset, counting up to zero by the row length, indexes both columns from their ends; the terms come
         * from the x word loaded once a row. 7 instructions a row for the pair (9 squared). Only the Cortex-M4 runs
         * it: make test-core-m4 checks it against test_monitor.c's reference attribution (td_test_model.h). */
        const uint32_t rows = n_dims * n_features;
        const int8_t *const end0 = col + rows;
        const int8_t *const end1 = end0 + 1;
        const int32_t *xp = x;
        uint32_t off = 0u - rows;
        uint64_t s0 = 0u;
        uint64_t s1 = 0u;
        uint32_t p;
        uint32_t v;
        if (square) {
            __asm__("1:\n\t"
                    "ldr %[v], [%[xp]], #4\n\t"
                    "ldrsb %[p], [%[e0], %[off]]\n\t"
                    "mul %[p], %[p], %[p]\n\t"
                    "umlal %Q[s0], %R[s0], %[p], %[v]\n\t"
                    "ldrsb %[p], [%[e1], %[off]]\n\t"
                    "mul %[p], %[p], %[p]\n\t"
                    "umlal %Q[s1], %R[s1], %[p], %[v]\n\t"
                    "adds %[off], %[off], %[stride]\n\t"
                    "bne 1b"
                    : [s0] "+&r"(s0), [s1] "+&r"(s1), [p] "=&r"(p), [v] "=&r"(v), [xp] "+&r"(xp), [off] "+&r"(off)
                    : [e0] "r"(end0), [e1] "r"(end1), [stride] "r"(n_features)
                    : "cc", "memory");
        } else {
            __asm__("1:\n\t"
                    "ldr %[v], [%[xp]], #4\n\t"
                    "ldrsb %[p], [%[e0], %[off]]\n\t"
                    "smlal %Q[s0], %R[s0], %[p], %[v]\n\t"
                    "ldrsb %[p], [%[e1], %[off]]\n\t"
                    "smlal %Q[s1], %R[s1], %[p], %[v]\n\t"
                    "adds %[off], %[off], %[stride]\n\t"
                    "bne 1b"
                    : [s0] "+&r"(s0), [s1] "+&r"(s1), [p] "=&r"(p), [v] "=&r"(v), [xp] "+&r"(xp), [off] "+&r"(off)
                    : [e0] "r"(end0), [e1] "r"(end1), [stride] "r"(n_features)
                    : "cc", "memory");
        }
        sums[f] = (int64_t)s0;
        sums[f + 1u] = (int64_t)s1;
    }
#else
#if defined(__x86_64__) && defined(__SSE2__)
    if (!square) {
        /* x86-64: each w_j = wh_j 2^16 + wl_j with wl_j in [-2^15, 2^15) and |wh_j| <= 2^14, so both halves are
         * int16 and sum_j P[j, f] wh_j, sum_j P[j, f] wl_j are exact in int32 (< 2^26 for n_dims <= 64); the sum
         * is their combination in int64: the same integers. Rows go in pairs (a zero row pads an odd count) and
         * PMADDWD multiplies and adds a pair's two terms of four features at once. */
        uint32_t wh[TD_MAX_DIMS + 1u];
        uint32_t wl[TD_MAX_DIMS + 1u];
        for (uint32_t j = 0; j < n_dims; j++) {
            const int32_t lo = (int32_t)(int16_t)(uint16_t)((uint32_t)x[j] & 0xFFFFu);
            wl[j] = (uint32_t)lo & 0xFFFFu;
            wh[j] = (uint32_t)((x[j] - lo) / 65536) & 0xFFFFu;
        }
        wl[n_dims] = 0u;
        wh[n_dims] = 0u;
        for (uint32_t f = 0; f < n_features; f += 4u) {
            const uint32_t width = n_features - f < 4u ? n_features - f : 4u; /* 4, or 2 at the end */
            __m128i a = _mm_setzero_si128();
            __m128i b = _mm_setzero_si128();
            for (uint32_t j = 0; j < n_dims; j += 2u) {
                const uint8_t *const q0 = (const uint8_t *)projection + j * n_features + f;
                const uint32_t r0 = width == 4u ? td_load_u32(q0) : td_load_u16(q0);
                uint32_t r1 = 0u;
                if (j + 1u < n_dims) {
                    r1 = width == 4u ? td_load_u32(q0 + n_features) : td_load_u16(q0 + n_features);
                }
                const __m128i p0 = _mm_cvtsi32_si128((int32_t)r0);
                const __m128i p1 = _mm_cvtsi32_si128((int32_t)r1);
                /* (P[j, f], P[j + 1, f]) for four features, int16 */
                const __m128i pairs = _mm_srai_epi16(_mm_unpacklo_epi8(_mm_unpacklo_epi8(p0, p1), _mm_unpacklo_epi8(p0, p1)), 8);
                a = _mm_add_epi32(a, _mm_madd_epi16(pairs, _mm_set1_epi32((int32_t)(wh[j] | (wh[j + 1u] << 16)))));
                b = _mm_add_epi32(b, _mm_madd_epi16(pairs, _mm_set1_epi32((int32_t)(wl[j] | (wl[j + 1u] << 16)))));
            }
            int32_t ha[4];
            int32_t lb[4];
            _mm_storeu_si128((__m128i *)(void *)ha, a);
            _mm_storeu_si128((__m128i *)(void *)lb, b);
            for (uint32_t i = 0; i < width; i++) {
                sums[f + i] = (int64_t)ha[i] * 65536 + lb[i];
            }
        }
        return;
    }
#endif
    /* Row by row (the same integer sums in another order): the inner loop runs along a projection row, which host
     * compilers vectorise. */
    for (uint32_t f = 0; f < n_features; f++) {
        sums[f] = 0;
    }
    const int8_t *row = projection;
    for (uint32_t j = 0; j < n_dims; j++, row += n_features) {
        const int64_t xj = x[j];
        for (uint32_t f = 0; f < n_features; f++) {
            const int32_t p = square ? row[f] * row[f] : row[f];
            sums[f] += p * xj;
        }
    }
#endif
}

#if !TD_ARM_DSP
/* min(floor(num / root), INT16_MAX), 0 for root 0 (then num is 0 too); num < 2^43, root < 2^25. A num of 32 bits
 * takes one division. Wider, below the clamp the quotient is under 2^15, so a 32-bit division of both operands shifted
 * right by k (the bits of num past 32) gives it or one less: root > 2^(16 + k) there, so the shifted divisor, plus one
 * to stay above root / 2^k, errs by under 2^-16 relatively, under 1 in the quotient. One remainder test corrects it
 * (td_udiv64_32 takes ~50 instructions). */
static uint32_t blame_len(uint64_t num, uint32_t root)
{
    const uint32_t hi = (uint32_t)(num >> 32);
    const uint32_t lo = (uint32_t)num;
    if (root == 0u) {
        return 0u;
    }
    if (hi == 0u) {
        const uint32_t q = lo / root;
        return q > (uint32_t)INT16_MAX ? (uint32_t)INT16_MAX : q;
    }
    if (num >= (uint64_t)root << 15) {
        return INT16_MAX;
    }
    const uint32_t k = 32u - td_clz32(hi); /* 1..11 */
    uint32_t q = ((lo >> k) | (hi << (32u - k))) / ((root >> k) + 1u);
    if (num - (uint64_t)q * root >= root) {
        q++;
    }
    return q;
}
#endif

#if TD_HOST_X86
/* x86-64 speed build, a profile with centroid scales and a feature chart section (the roots stored): fitted_shifts'
 * integers without a division. t_j = min(round(|diff| inv_j / 2^16), INT16_MAX) in doubles (the product < 2^49 and
 * its rounding are exact there); w_j = sign t_j (inv_j >> inv_shift) by PMADDWD (both int16); the column sums n_f in
 * SSE2 as blame_sums' (PMADDWD on the int16 halves of w, two rows a step, up to sixteen features a pass); and
 * g_f = sign(n_f) min(floor(|n_f| / root_f), INT16_MAX) as shift_pair's truncated quotient. The per-centroid
 * constants (inv_j / 2^16 and inv_j >> inv_shift, the roots' reciprocals) come from td_monitor_init.
 * tests/c/test_monitor.c compares it with the reference model on random profiles. */
/* Two features' g = trunc(n / root) clamped to +-INT16_MAX, n = hi 2^16 + lo from lanes 0 and 1 (|hi| < 2^26,
 * |lo| < 2^27: exact doubles, |n| < 2^43), without a division: q = n (1 / root) (td_monitor_init's fs_rinv, 1 / root
 * rounded) errs by under 2^-52 relatively, under 2^-37 below the clamp, while a quotient that is not an integer lies
 * at least 1 / root > 2^-32 (root < 2^32) from one; 2^-34 towards n's sign (the sum rounded to within 2^-37) lifts
 * an integer quotient that q may miss from below past it and moves no other across one, so truncation gives
 * trunc(n / root); past the clamp either gives +-INT16_MAX. Root 0: its reciprocal held as 0, g 0 (fitted_shifts'
 * result). In lanes 0, 1. */
static TD_ALWAYS_INLINE __m128i shift_pair(__m128i lo, __m128i hi, const double *rinv)
{
    const __m128d huge = _mm_set1_pd(32767.0);
    const __m128d n = _mm_add_pd(_mm_mul_pd(_mm_cvtepi32_pd(hi), _mm_set1_pd(65536.0)), _mm_cvtepi32_pd(lo));
    const __m128d nudge = _mm_or_pd(_mm_and_pd(n, _mm_set1_pd(-0.0)), _mm_set1_pd(0x1p-34));
    const __m128d quot = _mm_add_pd(_mm_mul_pd(n, _mm_loadu_pd(rinv)), nudge);
    return _mm_cvttpd_epi32(_mm_max_pd(_mm_min_pd(quot, huge), _mm_sub_pd(_mm_setzero_pd(), huge)));
}

/* The column sums of fitted_shifts_x86 for nv (1..4, a constant once inlined) vectors of four features from col on:
 * lo[v] and hi[v] sum PMADDWD of each pair of projection rows (P[2q][f], P[2q + 1][f]) with (wl, wh) of w's dimensions
 * 2q and 2q + 1, as int32 lanes per feature. */
static TD_ALWAYS_INLINE void column_sums(const int16_t *col, uint32_t stride, const uint32_t *wl2, const uint32_t *wh2,
                                         uint32_t n_pairs, uint32_t nv, __m128i *lo, __m128i *hi)
{
    for (uint32_t v = 0; v < nv; v++) {
        lo[v] = _mm_setzero_si128();
        hi[v] = _mm_setzero_si128();
    }
    for (uint32_t q = 0; q < n_pairs; q++, col += stride) {
        const __m128i wl = _mm_set1_epi32((int32_t)wl2[q]);
        const __m128i wh = _mm_set1_epi32((int32_t)wh2[q]);
        for (uint32_t v = 0; v < nv; v++) {
            const __m128i p = _mm_loadu_si128((const __m128i *)(const void *)(col + 8u * v));
            lo[v] = _mm_add_epi32(lo[v], _mm_madd_epi16(p, wl));
            hi[v] = _mm_add_epi32(hi[v], _mm_madd_epi16(p, wh));
        }
    }
}

#if TD_SHIFTS_AVX2
/* 1 when the CPU (and the OS) run AVX2 and FMA. */
static uint32_t shifts_cpu_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1u : 0u;
}

/* trunc(n / root) as shift_pair's, by the reciprocal and its nudge (a product, then a sum: not fused), clamped to
 * +-INT16_MAX (in doubles: a stored root may be far below the true one), as int32 lanes. */
__attribute__((target("avx2,fma"))) static TD_ALWAYS_INLINE __m128i shift_quot4(__m256d n, __m256d ri)
{
    const __m256d nudge = _mm256_or_pd(_mm256_and_pd(n, _mm256_set1_pd(-0.0)), _mm256_set1_pd(0x1p-34));
    const __m256d q = _mm256_add_pd(_mm256_mul_pd(n, ri), nudge);
    return _mm256_cvttpd_epi32(_mm256_max_pd(_mm256_min_pd(q, _mm256_set1_pd(32767.0)), _mm256_set1_pd(-32767.0)));
}

/* The shifts of four features from f on (left: 2, or 4 and more of them) out of their sums n, stored, and with stats
 * td_chart_update's step for them: (up, down) + (g, -g) - k in 32-bit lanes, clamped to [0, 65535] by PACKUSDW, the
 * largest into top by PMAXUW. */
__attribute__((target("avx2,fma"))) static TD_ALWAYS_INLINE void shifts_out4(__m256d n, const double *rinv, uint32_t f,
                                                                             uint32_t left, int16_t *shift_q8,
                                                                             uint16_t *stats, __m128i k_q8,
                                                                             __m128i *top)
{
    const double *const r = rinv + f;
    const __m128i g = shift_quot4(n, left >= 4u ? _mm256_loadu_pd(r) : _mm256_setr_pd(r[0], r[1], 0.0, 0.0));
    const __m128i g16 = _mm_packs_epi32(g, g);
    if (left >= 4u) {
        _mm_storel_epi64((__m128i *)(void *)(shift_q8 + f), g16);
    } else {
        const uint32_t two = (uint32_t)_mm_cvtsi128_si32(g16);
        memcpy(shift_q8 + f, &two, sizeof two);
    }
    if (stats != NULL) {
        uint16_t *const st = stats + 2u * f;
        const __m128i gn = _mm_sub_epi32(_mm_setzero_si128(), g);
        const __m128i zero = _mm_setzero_si128();
        if (left >= 4u) {
            const __m128i old = _mm_loadu_si128((const __m128i *)(const void *)st);
            const __m128i v0 = _mm_sub_epi32(_mm_add_epi32(_mm_unpacklo_epi16(old, zero), _mm_unpacklo_epi32(g, gn)), k_q8);
            const __m128i v1 = _mm_sub_epi32(_mm_add_epi32(_mm_unpackhi_epi16(old, zero), _mm_unpackhi_epi32(g, gn)), k_q8);
            const __m128i nw = _mm_packus_epi32(v0, v1);
            _mm_storeu_si128((__m128i *)(void *)st, nw);
            *top = _mm_max_epu16(*top, nw);
        } else {
            const __m128i old = _mm_loadl_epi64((const __m128i *)(const void *)st);
            const __m128i v0 = _mm_sub_epi32(_mm_add_epi32(_mm_unpacklo_epi16(old, zero), _mm_unpacklo_epi32(g, gn)), k_q8);
            const __m128i nw = _mm_packus_epi32(v0, v0);
            _mm_storel_epi64((__m128i *)(void *)st, nw);
            *top = _mm_max_epu16(*top, nw);
        }
    }
}

/* shifts_out4 for eight features from f on (all of them there), the chart's step in 256-bit lanes: the statistics'
 * words of features f..f+3 and f+4..f+7 are the two 128-bit halves, which VPUNPCKLWD/HWD, VPUNPCKLDQ/HDQ and
 * VPACKUSDW keep apart, so (g, -g) of the halves (g of features f..f+3 | f+4..f+7) line up with them and the packed
 * statistics come out in order. */
__attribute__((target("avx2,fma"))) static TD_ALWAYS_INLINE void shifts_out8(__m256d n0, __m256d n1, const double *rinv,
                                                                             uint32_t f, int16_t *shift_q8,
                                                                             uint16_t *stats, __m128i k_q8,
                                                                             __m128i *top)
{
    const __m128i g0 = shift_quot4(n0, _mm256_loadu_pd(rinv + f));
    const __m128i g1 = shift_quot4(n1, _mm256_loadu_pd(rinv + f + 4u));
    _mm_storeu_si128((__m128i *)(void *)(shift_q8 + f), _mm_packs_epi32(g0, g1));
    if (stats != NULL) {
        uint16_t *const st = stats + 2u * f;
        const __m256i g = _mm256_inserti128_si256(_mm256_castsi128_si256(g0), g1, 1);
        const __m256i gn = _mm256_sub_epi32(_mm256_setzero_si256(), g);
        const __m256i zero = _mm256_setzero_si256();
        const __m256i kq = _mm256_broadcastsi128_si256(k_q8);
        const __m256i old = _mm256_loadu_si256((const __m256i *)(const void *)st);
        const __m256i v0 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_unpacklo_epi16(old, zero), _mm256_unpacklo_epi32(g, gn)), kq);
        const __m256i v1 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_unpackhi_epi16(old, zero), _mm256_unpackhi_epi32(g, gn)), kq);
        const __m256i nw = _mm256_packus_epi32(v0, v1);
        _mm256_storeu_si256((__m256i *)(void *)st, nw);
        *top = _mm_max_epu16(*top, _mm_max_epu16(_mm256_castsi256_si128(nw), _mm256_extracti128_si256(nw, 1)));
    }
}

/* One pass of fitted_shifts_avx2: the shifts of nv (1..4, a constant once inlined) vectors of four features from f
 * on. The sums n_f = sum_j P[j][f] w_j by fused multiply-adds, two chains (even and odd dimensions) a vector, w_j
 * broadcast from wd (n_rows: n_dims rounded up to even; wd is zero past n_dims, as fs_proj's rows up to a multiple of
 * 4): every product is an integer below 2^37 and every partial sum below 2^43, exact, so the fused and the separate
 * roundings give the same integer n_f. Then g = trunc(n / root) as shift_pair's and, with stats, the chart's step,
 * eight features at a time where eight are left. */
__attribute__((target("avx2,fma"))) static TD_ALWAYS_INLINE void shifts_pass(const td_monitor_t *mon,
                                                                             const int32_t *e_q8, uint32_t k,
                                                                             uint32_t n_dims, uint32_t n_features,
                                                                             uint32_t f, uint32_t nv, int16_t *shift_q8,
                                                                             uint16_t *stats, __m128i k_q8,
                                                                             __m128i *top)
{
    const int32_t *const cent = mon->fs_cent + k * TD_MAX_DIMS;
    const double *const inv = mon->fs_inv + k * TD_MAX_DIMS;
    const int32_t *const ivs = mon->fs_ivs + k * TD_MAX_DIMS;
    const double *const rinv = mon->fs_rinv + k * TD_MAX_FEATURES;
    const __m256d cap = _mm256_set1_pd(32767.0);
    const __m256d half_up = _mm256_set1_pd(0.5);
    const uint32_t stride = (n_features + 3u) & ~3u;
    /* the AVX2 search's terms of this window's centroids, when it ran (centroid k's lane of its layout) */
    const int32_t *const handed =
        mon->nc_w_window == mon->window_index + 1u ? mon->nc_w + k / 8u * n_dims * 8u + k % 8u : NULL;
    __m256d n[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    const double *col = mon->fs_proj + f;
    for (uint32_t j = 0; j < n_dims; j += 4u, col += 4u * stride) {
        __m256d w0;
        __m256d w1;
        __m256d w2;
        __m256d w3;
        if (handed != NULL) {
            /* the search's w_j of this centroid; past n_dims (a last part group) whatever the words hold meets
             * fs_proj's zero rows: exact zero terms */
            w0 = _mm256_set1_pd((double)handed[8u * j]);
            w1 = _mm256_set1_pd((double)handed[8u * (j + 1u)]);
            w2 = _mm256_set1_pd((double)handed[8u * (j + 2u)]);
            w3 = _mm256_set1_pd((double)handed[8u * (j + 3u)]);
        } else {
            const __m128i d = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)(e_q8 + j)),
                                            _mm_loadu_si128((const __m128i *)(const void *)(cent + j)));
            /* t = min(floor(|d| inv / 2^16 + 1/2), INT16_MAX): exact in doubles, truncated (an integer already) */
            const __m256d p = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_abs_epi32(d)), _mm256_loadu_pd(inv + j));
            const __m128i t = _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_add_pd(p, half_up), cap));
            const __m256d w = _mm256_cvtepi32_pd(
                _mm_mullo_epi32(_mm_sign_epi32(t, d), _mm_loadu_si128((const __m128i *)(const void *)(ivs + j))));
            w0 = _mm256_permute4x64_pd(w, 0x00);
            w1 = _mm256_permute4x64_pd(w, 0x55);
            w2 = _mm256_permute4x64_pd(w, 0xAA);
            w3 = _mm256_permute4x64_pd(w, 0xFF);
        }
        for (uint32_t v = 0; v < nv; v++) {
            const double *const c = col + 4u * v;
            const __m256d s01 = _mm256_fmadd_pd(_mm256_loadu_pd(c + stride), w1, _mm256_mul_pd(_mm256_loadu_pd(c), w0));
            const __m256d s23 = _mm256_fmadd_pd(_mm256_loadu_pd(c + 3u * stride), w3,
                                                _mm256_mul_pd(_mm256_loadu_pd(c + 2u * stride), w2));
            n[v] = _mm256_add_pd(n[v], _mm256_add_pd(s01, s23));
        }
    }
    /* every vector but the last holds four features, the last two or four (rest: 4 nv - 2 or 4 nv) */
    const uint32_t rest = n_features - f;
#define TD_OUT4(v) shifts_out4(n[v], rinv, f + 4u * (v), rest - 4u * (v), shift_q8, stats, k_q8, top)
#define TD_OUT8(v)                                                                                                     \
    shifts_out8(n[v], n[(v) + 1u], rinv, f + 4u * (v), shift_q8, stats, k_q8, top)
    if (nv >= 3u) {
        TD_OUT8(0u);
    }
    if (nv == 1u) {
        TD_OUT4(0u);
    } else if (nv == 3u) {
        TD_OUT4(2u);
    } else if (rest >= 4u * nv) {
        TD_OUT8(nv - 2u);
    } else {
        TD_OUT4(nv - 2u);
        TD_OUT4(nv - 1u);
    }
#undef TD_OUT4
#undef TD_OUT8
}

/* fitted_shifts_x86 with AVX2 and FMA, in doubles (td_monitor_init's fs_proj: the projection as doubles): t_j as
 * fitted_shifts_x86's, four dimensions a vector (a last part group too: the constants are zero past n_dims, so
 * whatever e holds there its w is 0), truncated to int32 lanes; w_j = sign(diff_j) t_j (inv_j >> inv_shift) by VPSIGND
 * and VPMULLD (|w| < 2^30), kept in doubles in wd; then the sums n_f = sum_j P[j][f] w_j four features a vector, up to
 * sixteen features a pass (shifts_pass). With stats (the feature chart's, non-NULL) also td_chart_update's step with
 * the shifts, returning the largest new statistic as it does (0 without stats). tests/c/test_monitor.c compares it
 * with the reference model (and, built with TD_BLOCK_AVX2=0, fitted_shifts_x86's SSE2 form). */
__attribute__((target("avx2,fma"))) static TD_NOINLINE uint32_t fitted_shifts_avx2(const td_monitor_t *mon,
                                                                                    const int32_t *e_q8, uint32_t k,
                                                                                    int16_t *shift_q8, uint16_t *stats,
                                                                                    uint32_t k_q8)
{
    const uint32_t n_dims = mon->profile->n_dims;
    const uint32_t n_features = mon->profile->n_features;
    const __m128i kq = _mm_set1_epi32((int32_t)k_q8);
    __m128i top = _mm_setzero_si128();
#define TD_SHIFTS_PASS(f, nv) shifts_pass(mon, e_q8, k, n_dims, n_features, (f), (nv), shift_q8, stats, kq, &top)
    switch (n_features > 12u ? 0u : (n_features + 3u) / 4u) {
    /* up to sixteen features (every profile of up to eight channels): one pass, f = 0 */
    case 1u:
        TD_SHIFTS_PASS(0u, 1u);
        break;
    case 2u:
        TD_SHIFTS_PASS(0u, 2u);
        break;
    case 3u:
        TD_SHIFTS_PASS(0u, 3u);
        break;
    default:
        for (uint32_t f = 0u; f < n_features; f += 16u) {
            const uint32_t rest = n_features - f; /* even */
            switch (rest > 12u ? 4u : (rest + 3u) / 4u) {
            case 1u:
                TD_SHIFTS_PASS(f, 1u);
                break;
            case 2u:
                TD_SHIFTS_PASS(f, 2u);
                break;
            case 3u:
                TD_SHIFTS_PASS(f, 3u);
                break;
            default:
                TD_SHIFTS_PASS(f, 4u);
                break;
            }
        }
        break;
    }
#undef TD_SHIFTS_PASS
    /* the largest statistic: 65535 less PHMINPOSUW's minimum of the complements */
    return 65535u - (uint32_t)(uint16_t)_mm_cvtsi128_si32(_mm_minpos_epu16(_mm_xor_si128(top, _mm_set1_epi32(-1))));
}
#endif

/* e_q8: TD_MAX_DIMS words (a result's embedding), read whole. */
static TD_NOINLINE void fitted_shifts_x86(const td_monitor_t *mon, const int32_t *e_q8, uint32_t k, int16_t *shift_q8)
{
    const td_profile_t *const prof = mon->profile;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_features = prof->n_features;
    /* td_monitor_init's per-centroid constants: the centroid, inverse scales / 2^16 as doubles and shifted right by
     * the centroid's scale shift (all zero past n_dims: t 0, w 0), the chart roots' reciprocals */
    const int32_t *const cent = mon->fs_cent + k * TD_MAX_DIMS;
    const double *const inv = mon->fs_inv + k * TD_MAX_DIMS;
    const int32_t *const ivs = mon->fs_ivs + k * TD_MAX_DIMS;
    const double *const roots = mon->fs_rinv + k * TD_MAX_FEATURES;
    const int16_t *const proj_pairs = mon->proj_pairs;
    const uint32_t n_groups = (n_dims + 3u) / 4u;
    /* (wl_j, wl_j+1) and (wh_j, wh_j+1) as int16 pairs: w = wh 2^16 + wl, wl the low half sign-extended */
    uint32_t wl2[TD_MAX_DIMS / 2u + 2u];
    uint32_t wh2[TD_MAX_DIMS / 2u + 2u];
    const __m128d cap = _mm_set1_pd(32767.0);
    const __m128d half_up = _mm_set1_pd(0.5);
    const __m128i flip = _mm_set_epi32(0, 0, (int32_t)0x80008000u, (int32_t)0x80008000u);
    for (uint32_t q = 0; q < n_groups; q++) {
        /* four dimensions a group, a last part group too: res's embedding holds TD_MAX_DIMS words and the constants
         * are zero past n_dims, so whatever e holds there its t and w are 0 */
        const uint32_t j = 4u * q;
        const __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(e_q8 + j));
        const __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(cent + j));
        const __m128i d = _mm_sub_epi32(e, c); /* both within +-2^24 */
        const __m128i sign = _mm_srai_epi32(d, 31);
        const __m128i mag = _mm_sub_epi32(_mm_xor_si128(d, sign), sign); /* < 2^25 */
        /* t = min(floor(mag inv / 2^16 + 1/2), INT16_MAX): mag inv < 2^49 and 2^16 scales exactly, so the product,
         * the half and the clamp are exact in doubles, as (mag inv + 2^15) / 2^16 */
        const __m128d p01 = _mm_mul_pd(_mm_cvtepi32_pd(mag), _mm_loadu_pd(inv + j));
        const __m128d p23 = _mm_mul_pd(_mm_cvtepi32_pd(_mm_shuffle_epi32(mag, 0x4E)), _mm_loadu_pd(inv + j + 2u));
        const __m128i t01 = _mm_cvttpd_epi32(_mm_min_pd(_mm_add_pd(p01, half_up), cap));
        const __m128i t23 = _mm_cvttpd_epi32(_mm_min_pd(_mm_add_pd(p23, half_up), cap));
        const __m128i tmag = _mm_unpacklo_epi64(t01, t23);
        /* t (<= 2^15 - 1) times inv >> inv_shift (< 2^15): one PMADDWD, high halves 0; then diff's sign */
        const __m128i prod = _mm_madd_epi16(tmag, _mm_loadu_si128((const __m128i *)(const void *)(ivs + j)));
        const __m128i w = _mm_sub_epi32(_mm_xor_si128(prod, sign), sign);
        /* u = w + 2^15 (|w| < 2^30): its high half is wh = floor((w + 2^15) / 2^16) and its low half wl + 2^15 mod
         * 2^16, wl's with the top bit flipped; words (l0 l1 h0 h1) and (l2 l3 h2 h3) by two word shuffles, then the
         * l pairs into the low quadword and the h pairs into the high one, the l words' top bits flipped back */
        const __m128i u = _mm_add_epi32(w, _mm_set1_epi32(0x8000));
        const __m128i words = _mm_shufflehi_epi16(_mm_shufflelo_epi16(u, 0xD8), 0xD8);
        const __m128i pairs = _mm_xor_si128(_mm_shuffle_epi32(words, 0xD8), flip);
        _mm_storel_epi64((__m128i *)(void *)(wl2 + 2u * q), pairs);
        _mm_storel_epi64((__m128i *)(void *)(wh2 + 2u * q), _mm_unpackhi_epi64(pairs, pairs));
    }
    const uint32_t n_pairs = (n_dims + 1u) / 2u;
    const uint32_t stride = 2u * ((n_features + 7u) & ~7u); /* proj_pairs' int16 a pair of rows */
    /* up to 16 features a pass (nv vectors of four, each with its lo and hi sums: 8 accumulators, 4 loads and the 2
     * broadcasts in 14 registers), so 12 features take one pass over the pairs rather than a full and a half-empty one
     * of 8 */
    for (uint32_t f = 0; f < n_features; f += 16u) {
        const uint32_t rest = n_features - f; /* even */
        const int16_t *const col = proj_pairs + 2u * f;
        __m128i lo[4];
        __m128i hi[4];
        switch (rest > 12u ? 4u : (rest + 3u) / 4u) {
        case 1u:
            column_sums(col, stride, wl2, wh2, n_pairs, 1u, lo, hi);
            break;
        case 2u:
            column_sums(col, stride, wl2, wh2, n_pairs, 2u, lo, hi);
            break;
        case 3u:
            column_sums(col, stride, wl2, wh2, n_pairs, 3u, lo, hi);
            break;
        default:
            column_sums(col, stride, wl2, wh2, n_pairs, 4u, lo, hi);
            break;
        }
        const uint32_t nv = rest > 12u ? 4u : (rest + 3u) / 4u;
        for (uint32_t v = 0; v < nv; v++) {
            const double *const r = roots + f + 4u * v;
            const __m128i g0 = shift_pair(lo[v], hi[v], r);
            int16_t *const out = shift_q8 + f + 4u * v;
            if (rest - 4u * v >= 4u) {
                const __m128i g1 = shift_pair(_mm_shuffle_epi32(lo[v], 0x4E), _mm_shuffle_epi32(hi[v], 0x4E), r + 2);
                _mm_storel_epi64((__m128i *)(void *)out, _mm_packs_epi32(_mm_unpacklo_epi64(g0, g1), g1));
            } else {
                const uint32_t two = (uint32_t)_mm_cvtsi128_si32(_mm_packs_epi32(g0, g0));
                memcpy(out, &two, sizeof two);
            }
        }
    }
}
#endif

#if TD_MON_DEV
/* The Cortex-M4: inline in td_mon_feature_tests_dev, its one caller (one prologue and frame instead of two). */
static TD_ALWAYS_INLINE uint32_t fitted_shifts(const td_profile_t *prof, const int32_t *e_q8, uint32_t k,
                                               int16_t *shift_q8, const td_mon_dev_t *dev, uint16_t *stats,
                                               uint32_t k_q8)
#else
static TD_NOINLINE void fitted_shifts(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, int16_t *shift_q8)
#endif
{
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_features = prof->n_features;
    const uint8_t *const centroid = prof->centroids + 4u * k * n_dims;
    const uint8_t *const scale =
        prof->centroid_scales != NULL ? prof->centroid_scales + 4u * k * (n_dims + 1u) + 4u : NULL;
    int32_t w[TD_MAX_DIMS];
    int64_t sums[TD_MAX_FEATURES];
    /* The roots, little-endian: the chart section's row for this centroid read in place, else computed. */
    uint8_t root_bytes[4u * TD_MAX_FEATURES];
    uint32_t inv_shift = 0u;
    /* w_j = sign(diff) t (inv_j >> inv_shift); one loop for scaled profiles and one for the others (inverse scale
     * 1.0: the rounded product is |diff| itself), so neither tests the profile per dimension. The scaled loop keeps
     * the signed t in w and ORs the inverse scales for their shift (the bit length of the largest, less 15), which
     * a second pass then applies. */
    const int32_t *wv = w;
#if TD_MON_DEV
    if (scale != NULL && dev != NULL && dev->k == k) {
        /* The search computed w for this centroid (the same loops' values, with the shift td_monitor_init kept). */
        inv_shift = dev->shift;
        wv = dev->w;
    } else
#endif
    if (scale != NULL) {
        uint32_t all = 0u;
#if TD_ARM_DSP
        if (n_dims != 0u) {
            /* The Cortex-M4: the loop below in 17 instructions a dimension (GCC: 21): USAT clamps to INT16_MAX, the
             * sign goes back with EOR/SUB, and scale_wide (|diff| >= 2^15, out of the way at 3:) is inline as in
             * the search's loop (td_nearest.c). "memory": it reads e, the centroid and the scales and writes w. */
            const int32_t *e = e_q8;
            const uint8_t *c = centroid;
            const uint8_t *sc = scale;
            int32_t *wp = w;
            uint32_t d;
            uint32_t m;
            uint32_t inv;
            uint32_t hi;
            __asm__ volatile("b 1f\n\t"
                             "3:\n\t"
                             "umull %[m], %[hi], %[m], %[inv]\n\t"
                             "adds %[m], %[m], #0x8000\n\t"
                             "adc %[hi], %[hi], #0\n\t"
                             "cmp %[hi], #0x100\n\t"
                             "itte lo\n\t"
                             "lsrlo %[m], %[m], #16\n\t"
                             "orrlo %[m], %[m], %[hi], lsl #16\n\t"
                             "movhs %[m], #0x1000000\n\t"
                             "b 2f\n\t"
                             "1:\n\t"
                             "ldr %[d], [%[e]], #4\n\t"
                             "ldr %[m], [%[c]], #4\n\t"
                             "ldr %[inv], [%[sc]], #4\n\t"
                             "sub %[d], %[d], %[m]\n\t"
                             "orr %[all], %[all], %[inv]\n\t"
                             "eor %[m], %[d], %[d], asr #31\n\t"
                             "sub %[m], %[m], %[d], asr #31\n\t"
                             "cmp %[m], #0x8000\n\t"
                             "bhs 3b\n\t"
                             "lsls %[m], %[m], #16\n\t"
                             "smmulr %[m], %[m], %[inv]\n\t"
                             "2:\n\t"
                             "usat %[m], #15, %[m]\n\t"
                             "eor %[m], %[m], %[d], asr #31\n\t"
                             "sub %[m], %[m], %[d], asr #31\n\t"
                             "str %[m], [%[wp]], #4\n\t"
                             "cmp %[wp], %[end]\n\t"
                             "bne 1b"
                             : [all] "+&r"(all), [e] "+&r"(e), [c] "+&r"(c), [sc] "+&r"(sc), [wp] "+&r"(wp),
                               [d] "=&r"(d), [m] "=&r"(m), [inv] "=&r"(inv), [hi] "=&r"(hi)
                             : [end] "r"(w + n_dims)
                             : "cc", "memory");
        }
#else
        for (uint32_t j = 0; j < n_dims; j++) {
            const int32_t diff = e_q8[j] - td_load_i32(centroid + 4u * j); /* both within +-2^24 */
            const uint32_t inv_q16 = td_load_u32(scale + 4u * j);
            const uint32_t mag = td_abs32(diff);
            all |= inv_q16;
            /* scale_wide's rounding; below 2^15 it is the search's rounded high-word multiply. */
            const uint32_t scaled = mag < 0x8000u ? td_smmulr(mag << 16, inv_q16) : td_mon_scale_wide(mag, inv_q16);
            const int32_t t = (int32_t)(scaled > (uint32_t)INT16_MAX ? (uint32_t)INT16_MAX : scaled);
            w[j] = diff < 0 ? -t : t;
        }
#endif
        inv_shift = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
#if TD_ARM_DSP
        /* The same products, 7 instructions a dimension (GCC: 9). */
        if (n_dims != 0u) {
            int32_t *wp = w;
            const uint8_t *sc = scale;
            uint32_t t;
            uint32_t inv;
            __asm__ volatile("1:\n\t"
                             "ldr %[t], [%[wp]]\n\t"
                             "ldr %[inv], [%[sc]], #4\n\t"
                             "lsr %[inv], %[inv], %[sh]\n\t"
                             "mul %[t], %[t], %[inv]\n\t"
                             "str %[t], [%[wp]], #4\n\t"
                             "cmp %[wp], %[end]\n\t"
                             "bne 1b"
                             : [wp] "+&r"(wp), [sc] "+&r"(sc), [t] "=&r"(t), [inv] "=&r"(inv)
                             : [sh] "r"(inv_shift), [end] "r"(w + n_dims)
                             : "cc", "memory");
        }
#else
        for (uint32_t j = 0; j < n_dims; j++) {
            w[j] *= (int32_t)(td_load_u32(scale + 4u * j) >> inv_shift);
        }
#endif
    } else {
        inv_shift = 17u - td_clz32(1u << TD_CENTROID_SCALE_SHIFT);
        const int32_t inv = (int32_t)((1u << TD_CENTROID_SCALE_SHIFT) >> inv_shift);
        for (uint32_t j = 0; j < n_dims; j++) {
            const int32_t diff = e_q8[j] - td_load_i32(centroid + 4u * j);
            const int32_t t = diff > INT16_MAX ? INT16_MAX : (diff < -INT16_MAX ? -INT16_MAX : diff);
            w[j] = t * inv;
        }
    }
    const int8_t *const projection = (const int8_t *)prof->projection;
    const uint8_t *roots =
        prof->feature_chart != NULL ? prof->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * k * n_features : NULL;
    if (roots == NULL) {
        int32_t inv2[TD_MAX_DIMS];
        for (uint32_t j = 0; j < n_dims; j++) {
            const uint32_t inv = (scale != NULL ? td_load_u32(scale + 4u * j) : 1u << TD_CENTROID_SCALE_SHIFT) >> inv_shift;
            inv2[j] = (int32_t)(inv * inv);
        }
        blame_sums(projection, n_features, n_dims, inv2, 1u, sums);
        for (uint32_t f = 0; f < n_features; f++) {
            const uint32_t r = td_isqrt64((uint64_t)sums[f]);
            root_bytes[4u * f] = (uint8_t)r;
            root_bytes[4u * f + 1u] = (uint8_t)(r >> 8);
            root_bytes[4u * f + 2u] = (uint8_t)(r >> 16);
            root_bytes[4u * f + 3u] = (uint8_t)(r >> 24);
        }
        roots = root_bytes;
    }
#if TD_ARM_DSP
    if (n_features % 4u == 0u && n_dims != 0u) {
        col_sums(projection, n_features, wv, wv + n_dims, sums, projection + n_features); /* whole groups of four */
    } else
#endif
    {
        blame_sums(projection, n_features, n_dims, wv, 0u, sums);
    }
#if TD_ARM_DSP
    if (n_features != 0u) {
        /* The Cortex-M4: the loop below in assembly, blame_len's branches inline (about 19 instructions a feature
         * where GCC takes 24): |n| by its sign word s (EOR, SUBS/SBC), then for |n| < 2^32 one UDIV and the clamp,
         * for wider |n| the clamp test (|n| >= root 2^15), the shifted division and its correction, for root 0 a
         * 0; the sign goes back with EOR/SUB. The roots are read with LDR as td_load_u32 reads them (the M4
         * allows unaligned words). With the chart's statistics (stats) each shift g also takes the chart's step
         * at once, as td_chart_update's loop (td_detector.c) does it from shift_q8: (up, down) one word, the new
         * statistics clamped by USAT, packed by PKHBT, their running maximum by USUB16/SEL. "memory": it reads sums
         * and the roots and writes shift_q8 (and stats). */
        const int64_t *sm = sums;
        const uint8_t *rp = roots;
        int16_t *out = shift_q8;
        uint32_t lo;
        uint32_t hi;
        uint32_t sg;
        uint32_t root;
        uint32_t q;
        uint32_t t;
        uint32_t u;
#define TD_SHIFT_QUOTIENT_ASM \
    "b 1f\n\t" \
    "4:\n\t" \
    "movs %[q], #0\n\t" \
    "b 2f\n\t" \
    "5:\n\t" \
    "movw %[q], #0x7fff\n\t" \
    "b 2f\n\t" \
    "3:\n\t" \
    "lsl %[t], %[root], #15\n\t" \
    "lsr %[u], %[root], #17\n\t" \
    "cmp %[lo], %[t]\n\t" \
    "sbcs %[u], %[hi], %[u]\n\t" \
    "bhs 5b\n\t" \
    "clz %[t], %[hi]\n\t" \
    "lsl %[q], %[hi], %[t]\n\t" \
    "rsb %[t], %[t], #32\n\t" \
    "lsr %[u], %[lo], %[t]\n\t" \
    "orr %[q], %[q], %[u]\n\t" \
    "lsr %[u], %[root], %[t]\n\t" \
    "add %[u], %[u], #1\n\t" \
    "udiv %[q], %[q], %[u]\n\t" \
    "umull %[t], %[u], %[root], %[q]\n\t" \
    "subs %[lo], %[lo], %[t]\n\t" \
    "sbc %[hi], %[hi], %[u]\n\t" \
    "cmp %[lo], %[root]\n\t" \
    "sbcs %[hi], %[hi], #0\n\t" \
    "it hs\n\t" \
    "addhs %[q], %[q], #1\n\t" \
    "b 2f\n\t" \
    "1:\n\t" \
    "ldrd %[lo], %[hi], [%[sm]], #8\n\t" \
    "ldr %[root], [%[rp]], #4\n\t" \
    "asr %[sg], %[hi], #31\n\t" \
    "eor %[lo], %[lo], %[sg]\n\t" \
    "eor %[hi], %[hi], %[sg]\n\t" \
    "subs %[lo], %[lo], %[sg]\n\t" \
    "sbc %[hi], %[hi], %[sg]\n\t" \
    "cmp %[root], #0\n\t" \
    "beq 4b\n\t" \
    "cmp %[hi], #0\n\t" \
    "bne 3b\n\t" \
    "udiv %[q], %[lo], %[root]\n\t" \
    "lsrs %[t], %[q], #15\n\t" \
    "it ne\n\t" \
    "movwne %[q], #0x7fff\n\t" \
    "2:\n\t" \
    "eor %[q], %[q], %[sg]\n\t" \
    "sub %[q], %[q], %[sg]\n\t" \
    "strh %[q], [%[out]], #2\n\t" \

        if (stats != NULL) {
            uint32_t *st = (uint32_t *)(void *)stats;
            uint32_t best = 0u;
            __asm__ volatile(TD_SHIFT_QUOTIENT_ASM
                             "ldr %[root], [%[st]]\n\t"
                             "sub %[u], %[q], %[kq]\n\t"
                             "uxth %[lo], %[root]\n\t"
                             "add %[lo], %[lo], %[u]\n\t"
                             "usat %[lo], #16, %[lo]\n\t"
                             "add %[u], %[q], %[kq]\n\t"
                             "rsb %[hi], %[u], %[root], lsr #16\n\t"
                             "usat %[hi], #16, %[hi]\n\t"
                             "pkhbt %[root], %[lo], %[hi], lsl #16\n\t"
                             "str %[root], [%[st]], #4\n\t"
                             "usub16 %[u], %[root], %[best]\n\t"
                             "sel %[best], %[root], %[best]\n\t"
                             "cmp %[out], %[end]\n\t"
                             "bne 1b"
                             : [sm] "+&r"(sm), [rp] "+&r"(rp), [out] "+&r"(out), [st] "+&r"(st), [best] "+&r"(best),
                               [lo] "=&r"(lo), [hi] "=&r"(hi), [sg] "=&r"(sg), [root] "=&r"(root), [q] "=&r"(q),
                               [t] "=&r"(t), [u] "=&r"(u)
                             : [end] "r"(shift_q8 + n_features), [kq] "r"(k_q8)
                             : "cc", "memory");
            const uint32_t b_lo = best & 0xFFFFu;
            const uint32_t b_hi = best >> 16;
            return b_lo > b_hi ? b_lo : b_hi;
        }
        __asm__ volatile(TD_SHIFT_QUOTIENT_ASM
                         "cmp %[out], %[end]\n\t"
                         "bne 1b"
                         : [sm] "+&r"(sm), [rp] "+&r"(rp), [out] "+&r"(out), [lo] "=&r"(lo), [hi] "=&r"(hi),
                           [sg] "=&r"(sg), [root] "=&r"(root), [q] "=&r"(q), [t] "=&r"(t), [u] "=&r"(u)
                         : [end] "r"(shift_q8 + n_features)
                         : "cc", "memory");
#undef TD_SHIFT_QUOTIENT_ASM
    }
    return 0u;
#else
    for (uint32_t f = 0; f < n_features; f++) {
        const int64_t n = sums[f];
        const int32_t q = (int32_t)blame_len(td_abs64(n), td_load_u32(roots + 4u * f));
        shift_q8[f] = (int16_t)(n < 0 ? -q : q);
    }
#endif
}
#else
static TD_NOINLINE void fitted_shifts(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, int16_t *shift_q8)
{
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_features = prof->n_features;
    const uint8_t *centroid = prof->centroids + 4u * k * n_dims;
    const uint8_t *scale = prof->centroid_scales != NULL ? prof->centroid_scales + 4u * k * (n_dims + 1u) + 4u : NULL;
    const uint8_t *chart_root =
        prof->feature_chart != NULL ? prof->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * k * n_features : NULL;
    int32_t dev[TD_MAX_DIMS]; /* t_j, Q8 */
    uint32_t inv[TD_MAX_DIMS];
    uint32_t all = 0u;
    for (uint32_t j = 0; j < n_dims; j++) {
        const int32_t diff = e_q8[j] - td_load_i32(centroid + 4u * j); /* both within +-2^24 */
        const uint32_t inv_q16 = scale != NULL ? td_load_u32(scale + 4u * j) : 1u << TD_CENTROID_SCALE_SHIFT;
        /* The distance's own rounding of |diff| inv (exact for inv 1.0), clamped to int16. */
        const uint32_t mag = td_mon_scale_wide(td_abs32(diff), inv_q16);
        const int32_t t = mag > (uint32_t)INT16_MAX ? INT16_MAX : (int32_t)mag;
        dev[j] = diff < 0 ? -t : t;
        inv[j] = inv_q16;
        all |= inv_q16;
    }
    /* The bit length of the largest inverse scale, less 15. */
    const uint32_t inv_shift = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
    const int8_t *const projection = (const int8_t *)prof->projection;
    for (uint32_t f = 0; f < n_features; f++) {
        const int8_t *p = projection + f;
        int64_t n = 0;
        uint64_t d = 0u;
        for (uint32_t j = 0; j < n_dims; j++, p += n_features) {
            const int32_t a = *p * (int32_t)(inv[j] >> inv_shift); /* |a| <= 2^22 */
            n += (int64_t)a * dev[j];
            d += (uint64_t)((int64_t)a * a);
        }
        const uint32_t root = chart_root != NULL ? td_load_u32(chart_root + 4u * f) : td_isqrt64(d);
        const uint64_t len = root != 0u ? td_udiv64_32(td_abs64(n), root) : 0u;
        const int32_t q = len > (uint64_t)INT16_MAX ? INT16_MAX : (int32_t)len;
        shift_q8[f] = (int16_t)(n < 0 ? -q : q);
    }
}
#endif

#if TD_FEATURE_ATTRIBUTION
/* Which channel's fault best explains the window, during a CUSUM run. A channel scores the larger fit of its mean and
 * spread features, g_f^2 (the score the fitted shift removes), and the scores add up over the run, which averages out
 * the single window's noise. The channel with the largest sum is returned (ties: lower index; fallback while every
 * sum is 0). On BasicMotions this names the drifted channel at 91-96 % of the first score alarms, against 66 % for
 * the largest global |z| (docs/benchmarks.md). */
static uint8_t blame_update(td_monitor_t *mon, const int16_t *shift_q8, uint8_t fallback)
{
    uint32_t *const blame_q8 = mon->blame_q8;
    uint8_t top = fallback;
    uint32_t top_blame = 0u;
    for (uint32_t c = 0; c < mon->profile->n_channels; c++) {
        const uint32_t q0 = td_abs32(shift_q8[2u * c]);
        const uint32_t q1 = td_abs32(shift_q8[2u * c + 1u]);
        const uint32_t q = q0 > q1 ? q0 : q1;
        blame_q8[c] = td_sat_u32((uint64_t)blame_q8[c] + ((q * q + 128u) >> 8));
        if (blame_q8[c] > top_blame) {
            top_blame = blame_q8[c];
            top = (uint8_t)c;
        }
    }
    return top;
}
#endif

/* The window's fitted shifts, then the attribution (in_run) and the feature chart (with its section). A chart alarm
 * outside a CUSUM run names the channel of its largest statistic (4c..4c+3 are channel c's mean and spread, up and
 * down). */
#if TD_MON_DEV
TD_NOINLINE void td_mon_feature_tests(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run)
{
    td_mon_feature_tests_dev(mon, res, in_run, NULL);
}

TD_NOINLINE void td_mon_feature_tests_dev(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run,
                                          const td_mon_dev_t *dev)
#else
TD_NOINLINE void td_mon_feature_tests(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run)
#endif
{
    const td_profile_t *prof = mon->profile;
#if TD_FEATURE_CHART
    const uint8_t *chart = prof->feature_chart;
#endif
#if TD_MON_DEV && TD_FEATURE_CHART
    /* The chart's step with the shifts (its largest statistic back), when the profile has a chart. */
    const uint32_t chart_max = fitted_shifts(prof, res->embedding_q8, res->nearest, res->shift_q8, dev,
                                             chart != NULL ? mon->chart_q8 : NULL,
                                             chart != NULL ? td_load_u16(chart) : 0u);
#elif TD_MON_DEV
    (void)fitted_shifts(prof, res->embedding_q8, res->nearest, res->shift_q8, dev, NULL, 0u);
#else
#if TD_SHIFTS_AVX2 && TD_FEATURE_CHART
    uint32_t chart_max = 0u;
    uint32_t chart_done = 0u; /* 1: the AVX2 fitted shifts took the chart's step */
#endif
#if TD_HOST_X86
    if (prof->centroid_scales != NULL && prof->feature_chart != NULL) {
#if TD_SHIFTS_AVX2
        if (shifts_cpu_avx2()) {
#if TD_FEATURE_CHART
            chart_max = fitted_shifts_avx2(mon, res->embedding_q8, res->nearest, res->shift_q8, mon->chart_q8,
                                           td_load_u16(chart));
            chart_done = 1u;
#else
            (void)fitted_shifts_avx2(mon, res->embedding_q8, res->nearest, res->shift_q8, NULL, 0u);
#endif
        } else
#endif
        {
            fitted_shifts_x86(mon, res->embedding_q8, res->nearest, res->shift_q8);
        }
    } else
#endif
    {
        fitted_shifts(prof, res->embedding_q8, res->nearest, res->shift_q8);
    }
#endif
#if TD_FEATURE_ATTRIBUTION
    if (in_run) {
        res->top_channel = blame_update(mon, res->shift_q8, res->top_channel);
    }
#endif
#if TD_FEATURE_CHART
    if (chart != NULL) {
#if TD_MON_DEV
        res->chart_q8 = (uint16_t)chart_max;
#elif TD_OPTIMIZE_SPEED
        /* The largest statistic; its index (the lowest holding it, as td_chart_step's) only for an alarm. */
#if TD_SHIFTS_AVX2
        if (chart_done) {
            res->chart_q8 = (uint16_t)chart_max;
        } else
#endif
        {
            res->chart_q8 = (uint16_t)td_chart_update(mon->chart_q8, res->shift_q8, prof->n_features, td_load_u16(chart));
        }
#else
        const uint32_t top = td_chart_step(mon->chart_q8, res->shift_q8, prof->n_features, td_load_u16(chart));
        res->chart_q8 = mon->chart_q8[top];
#endif
        if (res->chart_q8 > td_load_u16(chart + 2u)) {
            res->trigger |= TD_TRIGGER_FEATURE;
            mon->detector.alarm = 1u;
            if (!in_run) {
#if TD_OPTIMIZE_SPEED
                const uint32_t top = td_chart_top(mon->chart_q8, prof->n_features, res->chart_q8);
#endif
                res->top_channel = (uint8_t)(top >> 2);
            }
        }
    }
#else
    (void)mon;
    (void)in_run;
#endif
}
#else
/* The build leaves the fitted shifts out (TD_FEATURE_ATTRIBUTION and TD_FEATURE_CHART 0). */
typedef int td_attribution_left_out_t;
#endif
