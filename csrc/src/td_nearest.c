/* td_nearest.c - the nearest-centroid search: plain or per-centroid scaled squared distances, with an
 * early exit, and the speed build's inline-assembly scaled loop. */
#include "td_monitor_internal.h"

#include "td_stats_internal.h"

#if TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32) && defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define TD_NEAREST_SSE2 1
#else
#define TD_NEAREST_SSE2 0
#endif
#if TD_HOST_X86 && TD_BLOCK_AVX2
#include <immintrin.h>
#define TD_NEAREST_AVX2 1
#else
#define TD_NEAREST_AVX2 0
#endif

/* round(mag inv_scale / 2^16), half up, clamped to 2^24 (past 2^24, bit 40 of the unshifted product): as the signed
 * difference is squared, rounding its magnitude half up is the same as rounding it with ties away from zero. Out of
 * line: only differences of 2^15 (128 z units) or more need it. */
TD_NOINLINE uint32_t td_mon_scale_wide(uint32_t mag, uint32_t inv_scale)
{
    const uint64_t prod = (uint64_t)mag * inv_scale + (1u << (TD_CENTROID_SCALE_SHIFT - 1u));
    return (prod >> (TD_CENTROID_SCALE_SHIFT + 24u)) != 0u ? (uint32_t)TD_MON_EMBEDDING_LIMIT_Q8
                                                           : (uint32_t)(prod >> TD_CENTROID_SCALE_SHIFT);
}

/* Squared distance from e_q8 to centroid k (Q16): plain, or with centroid scales in the centroid's own scale plus
 * its offset. Stops early once the partial sum exceeds bound: the terms are non-negative, so the centroid cannot
 * win any more and the returned partial sum (> bound) says so. */
static uint64_t centroid_distance(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, uint64_t bound)
{
    const uint32_t n_dims = prof->n_dims;
    const uint8_t *row = prof->centroids + 4u * k * n_dims;
    uint64_t d = 0;
    /* TD_OPTIMIZE_SPEED: nearest_centroid searches scaled profiles itself. */
    if (TD_OPTIMIZE_SPEED || prof->centroid_scales == NULL) {
        for (uint32_t j = 0; j < n_dims && d <= bound; j++) {
            const int32_t diff = e_q8[j] - td_load_i32(row + 4u * j); /* both within +-2^24 */
            d += (uint64_t)((int64_t)diff * diff);
        }
        return d;
    }
    const uint8_t *scale = prof->centroid_scales + 4u * k * (n_dims + 1u);
    d = (uint64_t)td_load_u32(scale) << 8;
    const int32_t *e = e_q8;
    const int32_t *const end = e_q8 + n_dims;
    while (e != end && d <= bound) {
        const int32_t diff = *e++ - td_load_i32(row);
        const uint32_t mag = td_abs32(diff);
        row += 4;
        scale += 4;
        const uint32_t scaled = td_mon_scale_wide(mag, td_load_u32(scale));
        d += (uint64_t)scaled * scaled;
    }
    return d;
}

#if TD_OPTIMIZE_SPEED
/* |a - b| for a, b within +-2^24 (the C form of the loop below). */
static TD_ALWAYS_INLINE uint32_t abs_diff(int32_t a, int32_t b)
{
    const uint32_t t = (uint32_t)(a - b);
    const uint32_t sign = 0u - (t >> 31);
    return (t ^ sign) - sign;
}

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
/* One term of the scaled distance in Thumb-2 (see scaled_distance): m = |e_i - c_i| (EOR/SUB with the sign), below 2^15
 * one SMMULR, else scale_wide's product and clamp at 3:; d += m^2; i += 4 (setting the flags for the caller's exit). */
#define TD_SCALED_TERM_ASM \
    "b 1f\n\t" \
    "3:\n\t" \
    "umull %[m], %[inv], %[m], %[inv]\n\t" \
    "adds %[m], %[m], #0x8000\n\t" \
    "adc %[inv], %[inv], #0\n\t" \
    "cmp %[inv], #0x100\n\t" \
    "itte lo\n\t" \
    "lsrlo %[m], %[m], #16\n\t" \
    "orrlo %[m], %[m], %[inv], lsl #16\n\t" \
    "movhs %[m], #0x1000000\n\t" \
    "b 2f\n\t" \
    "1:\n\t" \
    "ldr %[m], [%[e], %[i]]\n\t" \
    "ldr %[inv], [%[row], %[i]]\n\t" \
    "sub %[m], %[m], %[inv]\n\t" \
    "eor %[inv], %[m], %[m], asr #31\n\t" \
    "sub %[m], %[inv], %[m], asr #31\n\t" \
    "ldr %[inv], [%[scale], %[i]]\n\t" \
    "cmp %[m], #0x8000\n\t" \
    "bhs 3b\n\t" \
    "lsls %[m], %[m], #16\n\t" \
    "smmulr %[m], %[m], %[inv]\n\t" \
    "2:\n\t" \
    "umlal %Q[d], %R[d], %[m], %[m]\n\t" \
    "adds %[i], %[i], #4\n\t"

#endif

#if TD_MON_DEV
/* The first centroid's scaled distance (no bound) as scaled_distance's, also writing each dimension's fitted_shifts
 * term w_j = t_j (inv_j >> sh) below w_end, with t_j = sign(e_j - c_j) min(m_j, INT16_MAX) (m_j the scaled |e_j - c_j|
 * the term squares: USAT clamps, EOR/SUB with the kept difference's sign restore it): fitted_shifts' two loops over
 * the dimensions (24 instructions a dimension) in 7 more here. */
static TD_ALWAYS_INLINE uint64_t scaled_distance_dev(const int32_t *e_end, const uint8_t *row_end,
                                                     const uint8_t *scale_end, uint32_t row_bytes, int32_t *w_end,
                                                     uint32_t sh)
{
    uint64_t d = (uint64_t)td_load_u32(scale_end - row_bytes - 4u) << 8;
    uint32_t i = 0u - row_bytes;
    uint32_t m;
    uint32_t inv;
    uint32_t diff;
    __asm__("b 1f\n\t"
            "3:\n\t"
            "umull %[m], %[diff], %[m], %[inv]\n\t"
            "adds %[m], %[m], #0x8000\n\t"
            "adc %[diff], %[diff], #0\n\t"
            "cmp %[diff], #0x100\n\t"
            "itte lo\n\t"
            "lsrlo %[m], %[m], #16\n\t"
            "orrlo %[m], %[m], %[diff], lsl #16\n\t"
            "movhs %[m], #0x1000000\n\t"
            "ldr %[diff], [%[e], %[i]]\n\t"
            "ldr %[inv], [%[row], %[i]]\n\t"
            "sub %[diff], %[diff], %[inv]\n\t"
            "ldr %[inv], [%[scale], %[i]]\n\t"
            "b 2f\n\t"
            "1:\n\t"
            "ldr %[m], [%[e], %[i]]\n\t"
            "ldr %[inv], [%[row], %[i]]\n\t"
            "sub %[diff], %[m], %[inv]\n\t"
            "eor %[m], %[diff], %[diff], asr #31\n\t"
            "sub %[m], %[m], %[diff], asr #31\n\t"
            "ldr %[inv], [%[scale], %[i]]\n\t"
            "cmp %[m], #0x8000\n\t"
            "bhs 3b\n\t"
            "lsls %[m], %[m], #16\n\t"
            "smmulr %[m], %[m], %[inv]\n\t"
            "2:\n\t"
            "umlal %Q[d], %R[d], %[m], %[m]\n\t"
            "usat %[m], #15, %[m]\n\t"
            "eor %[m], %[m], %[diff], asr #31\n\t"
            "sub %[m], %[m], %[diff], asr #31\n\t"
            "lsr %[inv], %[inv], %[sh]\n\t"
            "mul %[m], %[m], %[inv]\n\t"
            "str %[m], [%[w], %[i]]\n\t"
            "adds %[i], %[i], #4\n\t"
            "bne 1b"
            : [d] "+&r"(d), [i] "+&r"(i), [m] "=&r"(m), [inv] "=&r"(inv), [diff] "=&r"(diff)
            : [e] "r"(e_end), [row] "r"(row_end), [scale] "r"(scale_end), [w] "r"(w_end), [sh] "r"(sh)
            : "cc", "memory");
    return d;
}
#endif

/* centroid_distance's scaled loop, inlined into nearest_centroid's search, for a centroid given by the ends of its
 * row and of its scale words (offset, then one inverse scale a dimension), row_bytes = 4 n_dims past the starts:
 * one index, counting up to zero, then serves all three arrays. No check before the first term: any partial sum past
 * bound is rejected alike, and it only grows. */
static TD_ALWAYS_INLINE uint64_t scaled_distance(const int32_t *e_end, const uint8_t *row_end,
                                                 const uint8_t *scale_end, uint32_t row_bytes, uint64_t bound)
{
    uint64_t d = (uint64_t)td_load_u32(scale_end - row_bytes - 4u) << 8;
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
    /* The C loop below, 16 instructions a dimension in 10 registers and no call: GCC's code for it (or with a call to
     * scale_wide) kept the pointers on the stack once inlined in the search, 22 a dimension. m = |e - c| (EOR/SUB with
     * the sign); below 2^15, m 2^16 and the scale (<= 2^24) are non-negative int32 and the rounded product is the
     * high word of m 2^16 scale + 2^31: one SMMULR. Else (rare, out of the way at 3:) scale_wide inline: the product
     * is below 2^49, + 2^15, clamped to 2^24 once its high word reaches 2^8 (bit 40), else bits 16..47. "memory": the
     * loop reads e, the row and the scales. Only the Cortex-M4 runs it: make test-core-m4 checks it in QEMU
     * (tests/c/test_nearest.c: 2^15, rounding, clamp and early-exit edges against a plain argmin; test_monitor.c). */
    uint32_t i = 0u - row_bytes;
    uint32_t m;
    uint32_t inv;
    if (bound == UINT64_MAX) {
        /* The first centroid searched: no bound yet, so the loop below without its bound test (3 instructions a
         * dimension). */
        __asm__(TD_SCALED_TERM_ASM
                "bne 1b"
                : [d] "+&r"(d), [i] "+&r"(i), [m] "=&r"(m), [inv] "=&r"(inv)
                : [e] "r"(e_end), [row] "r"(row_end), [scale] "r"(scale_end)
                : "cc", "memory");
        return d;
    }
    __asm__(TD_SCALED_TERM_ASM
            "beq 4f\n\t"
            "cmp %Q[b], %Q[d]\n\t"
            "sbcs %[inv], %R[b], %R[d]\n\t"
            "bhs 1b\n\t"
            "4:"
            : [d] "+&r"(d), [i] "+&r"(i), [m] "=&r"(m), [inv] "=&r"(inv)
            : [e] "r"(e_end), [row] "r"(row_end), [scale] "r"(scale_end), [b] "r"(bound)
            : "cc", "memory");
#else
    const int32_t *e = e_end - row_bytes / 4u;
    const uint8_t *row = row_end - row_bytes;
    const uint8_t *scale = scale_end - row_bytes;
#if TD_NEAREST_SSE2
    /* x86-64 (the CFFI module): four dimensions a step in SSE2 while every |diff| is below 2^15 (else the C loop
     * below takes over from there): the rounded product is the high word of m 2^16 scale + 2^31 by PMULUDQ (m 2^16 <
     * 2^31, scale <= 2^24: below 2^23), its square again by PMULUDQ, summed in uint64 lanes. The bound is checked
     * every four terms instead of every term: a centroid stopped later has a larger partial sum, still past the bound,
     * and is turned away alike (the caller only compares the result with the bound). */
    {
        const __m128i limit = _mm_set1_epi32(0x7FFF);
        const __m128i half = _mm_set_epi32(0, (int32_t)0x80000000u, 0, (int32_t)0x80000000u);
        while ((const uint8_t *)(e + 4) <= (const uint8_t *)e_end) {
            const __m128i diff = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)e),
                                               _mm_loadu_si128((const __m128i *)(const void *)row));
            const __m128i sign = _mm_srai_epi32(diff, 31);
            const __m128i mag = _mm_sub_epi32(_mm_xor_si128(diff, sign), sign);
            if (_mm_movemask_epi8(_mm_cmpgt_epi32(mag, limit)) != 0) {
                break;
            }
            const __m128i inv = _mm_loadu_si128((const __m128i *)(const void *)scale);
            const __m128i a = _mm_slli_epi32(mag, 16);
            const __m128i s02 = _mm_srli_epi64(_mm_add_epi64(_mm_mul_epu32(a, inv), half), 32);
            const __m128i s13 = _mm_srli_epi64(_mm_add_epi64(_mm_mul_epu32(_mm_srli_epi64(a, 32), _mm_srli_epi64(inv, 32)),
                                                             half), 32);
            const __m128i q = _mm_add_epi64(_mm_mul_epu32(s02, s02), _mm_mul_epu32(s13, s13));
            uint64_t lanes[2];
            _mm_storeu_si128((__m128i *)(void *)lanes, q);
            d += lanes[0] + lanes[1];
            e += 4;
            row += 16;
            scale += 16;
            if (e == e_end || d > bound) {
                return d;
            }
        }
    }
#endif
    do {
        const uint32_t mag = abs_diff(*e++, td_load_i32(row));
        const uint32_t inv_scale = td_load_u32(scale);
        row += 4;
        scale += 4;
        const uint32_t scaled = mag < 0x8000u ? td_smmulr(mag << 16, inv_scale) : td_mon_scale_wide(mag, inv_scale);
        d += (uint64_t)scaled * scaled;
    } while (e != e_end && d <= bound);
#endif
    return d;
}
#endif

#if TD_HOST_X86
void td_mon_nearest_prepare(td_monitor_t *mon)
{
    const td_profile_t *const prof = mon->profile;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_centroids = prof->n_centroids;
    mon->nc_ready = 0u;
    mon->nc_w_window = 0u;
    memset(mon->nc_w, 0, sizeof mon->nc_w);
    if (prof->centroid_scales == NULL || n_dims == 0u || n_centroids == 0u) {
        return;
    }
    for (uint32_t g = 0; g < (n_centroids + 7u) / 8u; g++) {
        for (uint32_t i = 0; i < 8u; i++) {
            /* a lane past the last centroid repeats the group's first: it ties with it and loses (a higher index) */
            const uint32_t k = 8u * g + i < n_centroids ? 8u * g + i : 8u * g;
            const uint8_t *const scale = prof->centroid_scales + 4u * k * (n_dims + 1u);
            mon->nc_off[8u * g + (i % 2u) * 4u + i / 2u] = (uint64_t)td_load_u32(scale) << 8;
            uint32_t all = 0u;
            for (uint32_t j = 0; j < n_dims; j++) {
                all |= td_load_u32(scale + 4u + 4u * j);
            }
            const uint32_t sh = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
            for (uint32_t j = 0; j < n_dims; j++) {
                mon->nc_ivs[(g * n_dims + j) * 8u + i] = (int32_t)(td_load_u32(scale + 4u + 4u * j) >> sh);
                mon->nc_cent[(g * n_dims + j) * 8u + i] = td_load_i32(prof->centroids + 4u * (k * n_dims + j));
                const uint32_t inv = td_load_u32(scale + 4u + 4u * j);
                mon->nc_inv_hi[(g * n_dims + j) * 8u + i] = inv >> 16;
                mon->nc_inv_lo[(g * n_dims + j) * 8u + i] = inv & 0xFFFFu;
            }
        }
    }
    mon->nc_ready = 1u;
}
#endif

#if TD_NEAREST_AVX2
/* 1 when the CPU (and the OS) run AVX2. */
static uint32_t nearest_cpu_avx2(void)
{
    return __builtin_cpu_supports("avx2") ? 1u : 0u;
}

/* The scaled search on x86-64 with AVX2 (td_mon_nearest_prepare's layout): eight centroids a pass, each dimension's
 * eight terms side by side, every distance summed in full (no early exit, no branch on the data). m = |e_j - c_kj|
 * and, with the inverse scale's halves inv = ih 2^16 + il, round(m inv / 2^16) = (m inv + 2^15) >> 16 = m ih +
 * ((m il + 2^15) >> 16) (m < 2^15: m il + 2^15 < 2^32, m ih < 2^23) by two PMULLD in 32-bit lanes; its square
 * (< 2^46) by PMULUDQ into uint64 lanes, the even centroids in one vector and the odd in another, from the offsets.
 * The lowest index of the smallest sum wins: the plain argmin, which the early-exit search also finds (a centroid it
 * stops has a partial sum past the best). Each sum (< 2^24 2^8 + 64 2^46 < 2^53) shifted left by 6 with its index
 * (< 64) in the low bits is a key whose minimum names both (PCMPGTQ: keys < 2^59), returned; UINT64_MAX, and the C search
 * takes over, when any |e_j - c_kj| reaches 2^15 (scale_wide's range). tests/c/test_nearest.c checks it against a
 * plain argmin (and, built with TD_BLOCK_AVX2=0, the search without it). */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE __m256i min_epi64(__m256i a, __m256i b)
{
    return _mm256_blendv_epi8(a, b, _mm256_cmpgt_epi64(a, b));
}

/* One dimension's terms of the eight centroids in nearest_avx2's lanes (c, ih, il: the dimension's eight values). */
#define TD_NEAREST_STEP(j)                                                                                             \
    do {                                                                                                               \
        const __m256i e_ = _mm256_set1_epi32(e_q8[j]);                                                                 \
        const __m256i d_ = _mm256_sub_epi32(e_, _mm256_loadu_si256((const __m256i *)(const void *)(c + 8u * (j))));   \
        const __m256i m_ = _mm256_abs_epi32(d_);                                                                       \
        any = _mm256_or_si256(any, m_);                                                                                \
        const __m256i lo_ = _mm256_mullo_epi32(m_, _mm256_loadu_si256((const __m256i *)(const void *)(il + 8u * (j)))); \
        const __m256i hi_ = _mm256_mullo_epi32(m_, _mm256_loadu_si256((const __m256i *)(const void *)(ih + 8u * (j)))); \
        const __m256i s_ = _mm256_add_epi32(hi_, _mm256_srli_epi32(_mm256_add_epi32(lo_, half), 16));                  \
        acc_e = _mm256_add_epi64(acc_e, _mm256_mul_epu32(s_, s_));                                                     \
        const __m256i so_ = _mm256_srli_epi64(s_, 32);                                                                 \
        acc_o = _mm256_add_epi64(acc_o, _mm256_mul_epu32(so_, so_));                                                   \
        const __m256i t_ = _mm256_sign_epi32(_mm256_min_epi32(s_, cap), d_);                                           \
        _mm256_storeu_si256((__m256i *)(void *)(w + 8u * (j)),                                                         \
                            _mm256_mullo_epi32(t_, _mm256_loadu_si256((const __m256i *)(const void *)(iv + 8u * (j))))); \
    } while (0)

/* nearest_avx2's smallest key of the group of eight centroids from 8 g on, ORing every |e_j - c_kj| into *any. */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE uint64_t nearest_group(const td_monitor_t *mon,
                                                                                const int32_t *e_q8, uint32_t n_dims,
                                                                                uint32_t g, __m256i *any_out)
{
    const int32_t *const c = mon->nc_cent + g * n_dims * 8u;
    const uint32_t *const ih = mon->nc_inv_hi + g * n_dims * 8u;
    const uint32_t *const il = mon->nc_inv_lo + g * n_dims * 8u;
    const int32_t *const iv = mon->nc_ivs + g * n_dims * 8u;
    int32_t *const w = ((td_monitor_t *)(uintptr_t)mon)->nc_w + g * n_dims * 8u; /* the search's scratch */
    const __m256i cap = _mm256_set1_epi32(INT16_MAX);
    const __m256i half = _mm256_set1_epi32(0x8000);
    __m256i any = *any_out;
    __m256i acc_e = _mm256_loadu_si256((const __m256i *)(const void *)(mon->nc_off + 8u * g));
    __m256i acc_o = _mm256_loadu_si256((const __m256i *)(const void *)(mon->nc_off + 8u * g + 4u));
    /* two dimensions a step (an odd count starts with one) */
    if (n_dims % 2u != 0u) {
        TD_NEAREST_STEP(0u);
    }
    for (uint32_t j = n_dims % 2u; j < n_dims; j += 2u) {
        TD_NEAREST_STEP(j);
        TD_NEAREST_STEP(j + 1u);
    }
    *any_out = any;
    const __m256i base = _mm256_set1_epi64x((int64_t)(8u * g));
    __m256i key = min_epi64(_mm256_or_si256(_mm256_slli_epi64(acc_e, 6), _mm256_add_epi64(_mm256_set_epi64x(6, 4, 2, 0), base)),
                            _mm256_or_si256(_mm256_slli_epi64(acc_o, 6), _mm256_add_epi64(_mm256_set_epi64x(7, 5, 3, 1), base)));
    key = min_epi64(key, _mm256_permute4x64_epi64(key, 0x4E));
    key = min_epi64(key, _mm256_permute4x64_epi64(key, 0xB1));
    return (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(key));
}

__attribute__((target("avx2"))) static TD_NOINLINE uint64_t nearest_avx2(const td_monitor_t *mon,
                                                                          const int32_t *e_q8)
{
    const td_profile_t *const prof = mon->profile;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_centroids = prof->n_centroids;
    __m256i any = _mm256_setzero_si256();
    uint64_t best;
    if (n_centroids <= 8u) {
        best = nearest_group(mon, e_q8, n_dims, 0u, &any);
    } else {
        best = UINT64_MAX;
        for (uint32_t g = 0; 8u * g < n_centroids; g++) {
            const uint64_t k = nearest_group(mon, e_q8, n_dims, g, &any);
            best = k < best ? k : best;
        }
    }
    return _mm256_testz_si256(any, _mm256_set1_epi32((int32_t)0xFFFF8000u)) ? best : UINT64_MAX;
}
#undef TD_NEAREST_STEP
#endif

/* Score (Q8) of the nearest centroid; ties go to the lower index. The hint (last window's nearest) is tried
 * first: consecutive windows mostly share a centroid, and a tight bound early lets the others stop early. */
#if TD_MON_DEV
static TD_ALWAYS_INLINE uint32_t nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest,
                                                  td_mon_dev_t *dev)
#elif TD_NEAREST_AVX2
/* x86-64 with the AVX2 search: the C search out of line, after td_mon_nearest_centroid's lanes (its frame only when
 * they hand over). */
static TD_NOINLINE uint32_t nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest)
#else
uint32_t td_mon_nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest)
#endif
{
    const td_profile_t *prof = mon->profile;
    const uint32_t first = mon->last_nearest < prof->n_centroids ? mon->last_nearest : 0u;
#if TD_OPTIMIZE_SPEED
    if (prof->centroid_scales != NULL) {
        const uint32_t n_centroids = prof->n_centroids;
        const uint32_t row_bytes = 4u * prof->n_dims;
        const int32_t *const e_end = e_q8 + prof->n_dims;
        const uint8_t *const row_end = prof->centroids + row_bytes;
        const uint8_t *const scale_end = prof->centroid_scales + row_bytes + 4u;
        uint64_t best = UINT64_MAX;
        uint32_t best_k = first;
        /* The hint, then the others in index order, as below; one inlined copy of the loop. d <= best first: most
         * centroids stop early past it, and one compare turns them away. */
        uint32_t i = 0;
#if TD_MON_DEV
        if (dev != NULL && n_centroids != 0u && row_bytes != 0u) {
            /* The hint with its deviations for the fitted shifts; it sets the first bound. */
            dev->shift = mon->inv_shift[first];
            best = scaled_distance_dev(e_end, row_end + first * row_bytes, scale_end + first * (row_bytes + 4u),
                                       row_bytes, dev->w + prof->n_dims, dev->shift);
            dev->k = first;
            i = 1u;
        }
#endif
        for (; i < n_centroids; i++) {
            const uint32_t k = i == 0u ? first : i - (i <= first);
            const uint64_t d = scaled_distance(e_end, row_end + k * row_bytes, scale_end + k * (row_bytes + 4u),
                                               row_bytes, best);
            if (d <= best && (d < best || k < best_k)) {
                best = d;
                best_k = k;
            }
        }
        *nearest = (uint8_t)best_k;
        return td_sat_u32((best + 128u) >> 8);
    }
#endif
    uint64_t best = centroid_distance(prof, e_q8, first, UINT64_MAX);
    uint32_t best_k = first;
    for (uint32_t k = 0; k < prof->n_centroids; k++) {
        if (k == first) {
            continue;
        }
        const uint64_t d = centroid_distance(prof, e_q8, k, best);
        if (d < best || (d == best && k < best_k)) {
            best = d;
            best_k = k;
        }
    }
    *nearest = (uint8_t)best_k;
    return td_sat_u32((best + 128u) >> 8);
}

#if TD_NEAREST_AVX2
uint32_t td_mon_nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest)
{
    /* Scaled profiles of five centroids or more: the lanes of fewer would be mostly padding, where the early exits
     * win. */
    if (mon->nc_ready && mon->profile->n_centroids > 4u && nearest_cpu_avx2()) {
        const uint64_t key = nearest_avx2(mon, e_q8);
        if (key != UINT64_MAX) {
            /* nc_w holds this window's terms (the fitted shifts read them) */
            ((td_monitor_t *)(uintptr_t)mon)->nc_w_window = mon->window_index + 1u;
            *nearest = (uint8_t)(key & 63u);
            return td_sat_u32(((key >> 6) + 128u) >> 8);
        }
    }
    return nearest_centroid(mon, e_q8, nearest);
}
#endif

#if TD_MON_DEV
uint32_t td_mon_nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest)
{
    return nearest_centroid(mon, e_q8, nearest, NULL);
}

uint32_t td_mon_nearest_centroid_dev(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest,
                                     td_mon_dev_t *dev)
{
    dev->k = TD_MAX_CENTROIDS;
    return nearest_centroid(mon, e_q8, nearest, dev);
}
#endif
