/* td_embed.c - the window's embedding: PCA projection of z (SMLAD pairs on the Cortex-M4), its
 * reconstruction error, and the dequantized mean of external embeddings. */
#include "td_monitor_internal.h"
#include "td_stats_internal.h"

#if TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32) && defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif
#if TD_HOST_X86 && TD_BLOCK_AVX2
#include <immintrin.h>
#define TD_EMBED_AVX2 1
#else
#define TD_EMBED_AVX2 0
#endif

#if !(TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32)) && !TD_ARM_DSP
static uint32_t pack16(int16_t lo, int16_t hi)
{
    return (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
}
#endif

/* PCA mode: e_q8[j] = round(dot / 2^shift), ties away from zero, clamped; |dot| < 2^27 keeps it in 32 bits. */
static TD_ALWAYS_INLINE int32_t pca_round(int32_t dot, uint32_t half, uint32_t shift)
{
    uint32_t mag = (td_abs32(dot) + half) >> shift;
    if (mag > (uint32_t)TD_MON_EMBEDDING_LIMIT_Q8) {
        mag = (uint32_t)TD_MON_EMBEDDING_LIMIT_Q8;
    }
    return dot < 0 ? -(int32_t)mag : (int32_t)mag;
}

#if !(TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32))
/* Dot products of two projection rows (the second next bytes after the first) with z, four features per step:
 * the word of four int8 weights of each row, split into its even and odd bytes, against z's lane pairs (zp[0] =
 * (z0, z2), zp[1] = (z1, z3)). Two rows share the z loads and the loop overhead; out of line so that the loop
 * keeps everything in registers. Returns dot0 | dot1 << 32; n_quads >= 1. */
static TD_NOINLINE uint64_t pca_dot2(const uint8_t *w, uint32_t next, const uint32_t *zp, const uint32_t *end)
{
    int32_t dot0 = 0;
    int32_t dot1 = 0;
    do {
        const uint32_t z02 = zp[0];
        const uint32_t z13 = zp[1];
        const uint32_t w0 = td_load_u32(w);
        const uint32_t w1 = td_load_u32(w + next);
        dot0 = td_smlad(td_sxtb16(w0), z02, dot0);
        dot0 = td_smlad(td_sxtb16_ror8(w0), z13, dot0);
        dot1 = td_smlad(td_sxtb16(w1), z02, dot1);
        dot1 = td_smlad(td_sxtb16_ror8(w1), z13, dot1);
        zp += 2;
        w += 4;
    } while (zp != end);
    return (uint32_t)dot0 | ((uint64_t)(uint32_t)dot1 << 32);
}
#endif

#if TD_ARM_DSP
/* The rounding of four dot products (pca_dot4's), where no clamp can act: proj_shift >= 3. */
typedef struct {
    const uint32_t *end; /* past the last z pair */
    uint32_t half;       /* 2^(shift - 1), 0 for shift 0 */
    uint32_t shift;      /* proj_shift, 3..31 */
    int32_t *out;        /* the next four e_q8 values (advanced by pca_dot4) */
    const uint32_t *z;   /* the first z pair */
    int32_t *out_end;    /* past the last group's four e_q8 values */
} pca_round4_t;

/* Each group of four consecutive projection rows (w, then next bytes apart; the groups one after another up to
 * rp->out_end, one call for all) with z, four features a step (as pca_dot2: SXTB16
 * splits each word of four int8 weights into its even and odd bytes, SMLAD multiplies them with z's lane pairs
 * (z0, z2) and (z1, z3) and adds), rounded as pca_round: |dot| <= 32 * 128 * 32768 = 2^27, so with shift >= 3 the
 * magnitude stays within 2^24 and needs no clamp. 26 instructions a step for 16 terms (pca_dot2: 16 for 8), and
 * the rounding in registers: 7 a dimension. */
static TD_NOINLINE void pca_dot4(const uint8_t *w, uint32_t next, const uint32_t *zp, pca_round4_t *rp)
{
    const uint8_t *w2 = w + 2u * next;
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t a2 = 0;
    int32_t a3 = 0;
    uint32_t z02;
    uint32_t z13;
    uint32_t x;
    uint32_t v;
    __asm__ volatile("1:\n\t"
            "ldrd %[z02], %[z13], [%[zp]], #8\n\t"
            "ldr %[v], [%[w]]\n\t"
            "sxtb16 %[x], %[v]\n\t"
            "smlad %[a0], %[x], %[z02], %[a0]\n\t"
            "sxtb16 %[x], %[v], ror #8\n\t"
            "smlad %[a0], %[x], %[z13], %[a0]\n\t"
            "ldr %[v], [%[w], %[next]]\n\t"
            "sxtb16 %[x], %[v]\n\t"
            "smlad %[a1], %[x], %[z02], %[a1]\n\t"
            "sxtb16 %[x], %[v], ror #8\n\t"
            "smlad %[a1], %[x], %[z13], %[a1]\n\t"
            "ldr %[v], [%[w2]]\n\t"
            "sxtb16 %[x], %[v]\n\t"
            "smlad %[a2], %[x], %[z02], %[a2]\n\t"
            "sxtb16 %[x], %[v], ror #8\n\t"
            "smlad %[a2], %[x], %[z13], %[a2]\n\t"
            "ldr %[v], [%[w2], %[next]]\n\t"
            "sxtb16 %[x], %[v]\n\t"
            "smlad %[a3], %[x], %[z02], %[a3]\n\t"
            "sxtb16 %[x], %[v], ror #8\n\t"
            "smlad %[a3], %[x], %[z13], %[a3]\n\t"
            "adds %[w], %[w], #4\n\t"
            "adds %[w2], %[w2], #4\n\t"
            "ldr %[v], [%[rp]]\n\t"
            "cmp %[zp], %[v]\n\t"
            "bne 1b\n\t"
            /* round half away from zero: (a + half - (a < 0)) >> shift, arithmetic (for a < 0 that is
             * ceil((a - half) / 2^shift) = -((|a| + half) >> shift); shift >= 1; no overflow: |a| <= 2^27, half <= 2^30) */
            "ldrd %[z02], %[z13], [%[rp], #4]\n\t"
            ".irp a, %[a0], %[a1], %[a2], %[a3]\n\t"
            "add \\a, \\a, \\a, asr #31\n\t"
            "add \\a, \\a, %[z02]\n\t"
            "asr \\a, \\a, %[z13]\n\t"
            ".endr\n\t"
            "ldr %[v], [%[rp], #12]\n\t"
            "strd %[a0], %[a1], [%[v]]\n\t"
            "strd %[a2], %[a3], [%[v], #8]\n\t"
            /* the next group of four rows (w and w2 are one row past their start: 3 rows on), from the first z */
            "adds %[v], %[v], #16\n\t"
            "str %[v], [%[rp], #12]\n\t"
            "ldr %[x], [%[rp], #20]\n\t"
            "cmp %[v], %[x]\n\t"
            "beq 2f\n\t"
            "add %[x], %[next], %[next], lsl #1\n\t"
            "add %[w], %[w], %[x]\n\t"
            "add %[w2], %[w2], %[x]\n\t"
            "ldr %[zp], [%[rp], #16]\n\t"
            "movs %[a0], #0\n\t"
            "movs %[a1], #0\n\t"
            "movs %[a2], #0\n\t"
            "movs %[a3], #0\n\t"
            "b 1b\n\t"
            "2:"
            : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [zp] "+&r"(zp), [w] "+&r"(w),
              [w2] "+&r"(w2), [z02] "=&r"(z02), [z13] "=&r"(z13), [x] "=&r"(x), [v] "=&r"(v)
            : [next] "r"(next), [rp] "r"(rp)
            : "cc", "memory");
}
#endif

#if TD_EMBED_AVX2
/* 1 when the CPU (and the OS) run AVX2. */
static uint32_t embed_cpu_avx2(void)
{
    return __builtin_cpu_supports("avx2") ? 1u : 0u;
}

/* pca_round of eight dot products (|dot| < 2^27): (|dot| + half) >> shift (< 2^31), at most 2^24, dot's sign back
 * (VPSIGND: a dot of 0 rounds to 0 anyway). */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE __m256i round8(__m256i dot, __m256i half, __m128i count,
                                                                       __m256i limit)
{
    const __m256i mag = _mm256_srl_epi32(_mm256_add_epi32(_mm256_abs_epi32(dot), half), count);
    return _mm256_sign_epi32(_mm256_min_epi32(mag, limit), dot);
}

/* pairs_avx2's terms of feature pair q: z's pair broadcast, one VPMADDWD a vector of dimensions */
#define PAIR_STEP(q)                                                                                                   \
    do {                                                                                                               \
        const int16_t *const c_ = col + 2u * stride * (q);                                                             \
        const __m256i z_ = _mm256_set1_epi32((int32_t)td_load_u32((const uint8_t *)(zp + 2u * (q))));                  \
        if (ny > 0u) {                                                                                                 \
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)c_), z_)); \
        }                                                                                                              \
        if (ny > 1u) {                                                                                                 \
            acc1 = _mm256_add_epi32(acc1,                                                                              \
                                    _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(c_ + 16)), z_)); \
        }                                                                                                              \
        if (nx != 0u) {                                                                                                \
            acc4 = _mm_add_epi32(acc4, _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c_ + 16u * ny)), \
                                                      _mm256_castsi256_si128(z_)));                                     \
        }                                                                                                              \
    } while (0)

/* embed_pca_avx2's sums and rounding for ny (0..2) vectors of eight dimensions and nx (0..1) of four after them
 * (constants once inlined: the column stride 8 ny + 4 nx): per feature pair, z's pair broadcast and one VPMADDWD a
 * vector. The last vector's store is masked to the n_dims dimensions (the padding's dot products are 0). */
__attribute__((target("avx2"))) static TD_ALWAYS_INLINE void pairs_avx2(const int16_t *col, const int16_t *zp,
                                                                        uint32_t n_pairs, uint32_t ny, uint32_t nx,
                                                                        uint32_t shift, uint32_t n_dims, int32_t *e_q8)
{
    const uint32_t stride = 8u * ny + 4u * nx; /* int32 words (int16 pairs) a feature pair */
    __m256i acc0 = _mm256_setzero_si256();
    __m256i acc1 = _mm256_setzero_si256();
    __m128i acc4 = _mm_setzero_si128();
    /* two pairs a step (an odd count starts with one) */
    uint32_t p = 0u;
    if (n_pairs % 2u != 0u) {
        PAIR_STEP(0u);
        p = 1u;
    }
    for (; p < n_pairs; p += 2u) {
        PAIR_STEP(p);
        PAIR_STEP(p + 1u);
    }
    const __m256i half = _mm256_set1_epi32(shift != 0u ? (int32_t)(1u << (shift - 1u)) : 0);
    const __m128i count = _mm_cvtsi32_si128((int32_t)shift);
    const __m256i limit = _mm256_set1_epi32((int32_t)TD_MON_EMBEDDING_LIMIT_Q8);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (uint32_t v = 0; v < ny; v++) {
        const __m256i e = round8(v == 0u ? acc0 : acc1, half, count, limit);
        if (8u * v + 8u <= n_dims) {
            _mm256_storeu_si256((__m256i *)(void *)(e_q8 + 8u * v), e);
        } else {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(n_dims - 8u * v)), lane);
            _mm256_maskstore_epi32((int *)(e_q8 + 8u * v), mask, e);
        }
    }
    if (nx != 0u) {
        const __m128i e = _mm256_castsi256_si128(round8(_mm256_castsi128_si256(acc4), half, count, limit));
        if (8u * ny + 4u <= n_dims) {
            _mm_storeu_si128((__m128i *)(void *)(e_q8 + 8u * ny), e);
        } else {
            const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32((int32_t)(n_dims - 8u * ny)), _mm256_castsi256_si128(lane));
            _mm_maskstore_epi32((int *)(e_q8 + 8u * ny), mask, e);
        }
    }
}
#undef PAIR_STEP

/* embed_pca_x86 with AVX2, n_dims <= 16 (td_mon_widen_cols' column stride 4, 8, 12 or 16): every dimension's sum in
 * one or two registers (eight dimensions a VPMADDWD, a last four in an SSE one), one pass over the feature pairs, the
 * rounding eight lanes at a time; the same integer dot products in another order. tests/c/test_monitor.c
 * (test_embed_projection, the reference model) checks it, and built with TD_BLOCK_AVX2=0 embed_pca_x86. */
__attribute__((target("avx2"))) static TD_NOINLINE void embed_pca_avx2(const td_profile_t *prof, const int16_t *cols,
                                                                        const int16_t *zp, int32_t *e_q8)
{
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_pairs = (prof->n_features + 1u) / 2u;
    const uint32_t shift = prof->proj_shift;
    switch (TD_MON_COL_STRIDE(n_dims) / 4u) {
    case 1u:
        pairs_avx2(cols, zp, n_pairs, 0u, 1u, shift, n_dims, e_q8);
        break;
    case 2u:
        pairs_avx2(cols, zp, n_pairs, 1u, 0u, shift, n_dims, e_q8);
        break;
    case 3u:
        pairs_avx2(cols, zp, n_pairs, 1u, 1u, shift, n_dims, e_q8);
        break;
    default:
        pairs_avx2(cols, zp, n_pairs, 2u, 0u, shift, n_dims, e_q8);
        break;
    }
}
#endif

#if TD_HOST_X86
void td_mon_widen_cols(const td_profile_t *prof, int16_t *cols)
{
    const uint32_t n_features = prof->n_features;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t stride = TD_MON_COL_STRIDE(n_dims);
    for (uint32_t p = 0; p < (n_features + 1u) / 2u; p++) {
        for (uint32_t j = 0; j < stride; j++) {
            for (uint32_t i = 0; i < 2u; i++) {
                const uint32_t f = 2u * p + i;
                cols[2u * (p * stride + j) + i] =
                    j < n_dims && f < n_features ? (int16_t)(int8_t)prof->projection[j * n_features + f] : 0;
            }
        }
    }
}

/* The embedding's dot products of ng (1..4, a constant once inlined) groups of four dimensions from col (pair 0's
 * words of the first group; pairs stride words apart) with z's pairs (zp: 2 n_pairs values, (z_2p, z_2p+1)): each
 * PMADDWD multiplies a pair of features of four dimensions and adds the two terms, acc[g] sums them (dimension
 * 4 g + i in lane i). */
static TD_ALWAYS_INLINE void pair_sums(const int16_t *col, uint32_t stride, const int16_t *zp, uint32_t n_pairs,
                                       uint32_t ng, __m128i *acc)
{
    for (uint32_t g = 0; g < ng; g++) {
        acc[g] = _mm_setzero_si128();
    }
    for (uint32_t p = 0; p < n_pairs; p++, col += 2u * stride) {
        const __m128i z = _mm_set1_epi32((int32_t)td_load_u32((const uint8_t *)(zp + 2u * p)));
        for (uint32_t g = 0; g < ng; g++) {
            acc[g] = _mm_add_epi32(acc[g], _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(const void *)(col + 8u * g)), z));
        }
    }
}

/* x86-64 speed build: embed_pca by pairs of features (td_mon_widen_cols' layout), four dimensions a vector: one
 * PMADDWD a feature pair and group of four dimensions (the same integer dot products, |dot| < 2^27, in another
 * order), no horizontal sums, up to sixteen dimensions a pass; rounded as pca_round in SSE2 lanes. A last part
 * group of dimensions sums the zero padding and keeps only its own results. tests/c/test_monitor.c
 * (test_embed_projection, the reference model) checks it. */
static void embed_pca_x86(const td_profile_t *prof, const int16_t *cols, const int16_t *z_q8, int32_t *e_q8)
{
    const uint32_t n_features = prof->n_features;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t shift = prof->proj_shift;
    const __m128i half = _mm_set1_epi32(shift != 0u ? (int32_t)(1u << (shift - 1u)) : 0);
    const __m128i count = _mm_cvtsi32_si128((int32_t)shift);
    const __m128i limit = _mm_set1_epi32((int32_t)TD_MON_EMBEDDING_LIMIT_Q8);
    const uint32_t stride = TD_MON_COL_STRIDE(n_dims);
    const uint32_t n_pairs = (n_features + 1u) / 2u;
    /* z's pairs read in place; an odd count from a copy with a zero after the last */
    int16_t z_even[TD_MAX_FEATURES + 1];
    const int16_t *zp = z_q8;
    if (n_features % 2u != 0u) {
        for (uint32_t f = 0; f < n_features; f++) {
            z_even[f] = z_q8[f];
        }
        z_even[n_features] = 0;
        zp = z_even;
    }
#if TD_EMBED_AVX2
    if (n_dims - 1u < 16u && embed_cpu_avx2()) {
        embed_pca_avx2(prof, cols, zp, e_q8);
        return;
    }
#endif
    for (uint32_t j = 0; j < n_dims; j += 16u) {
        const uint32_t ng = (n_dims - j) >= 16u ? 4u : (n_dims - j + 3u) / 4u;
        const int16_t *const col = cols + 2u * j;
        __m128i acc[4];
        switch (ng) {
        case 1u:
            pair_sums(col, stride, zp, n_pairs, 1u, acc);
            break;
        case 2u:
            pair_sums(col, stride, zp, n_pairs, 2u, acc);
            break;
        case 3u:
            pair_sums(col, stride, zp, n_pairs, 3u, acc);
            break;
        default:
            pair_sums(col, stride, zp, n_pairs, 4u, acc);
            break;
        }
        for (uint32_t g = 0; g < ng; g++) {
            /* pca_round: (|dot| + half) >> shift, clamped to 2^24, with dot's sign */
            const __m128i dot = acc[g];
            const __m128i sign = _mm_srai_epi32(dot, 31);
            __m128i mag = _mm_srl_epi32(_mm_add_epi32(_mm_sub_epi32(_mm_xor_si128(dot, sign), sign), half), count);
            const __m128i over = _mm_cmpgt_epi32(mag, limit);
            mag = _mm_or_si128(_mm_and_si128(over, limit), _mm_andnot_si128(over, mag));
            const __m128i e = _mm_sub_epi32(_mm_xor_si128(mag, sign), sign);
            const uint32_t d = j + 4u * g;
            if (d + 4u <= n_dims) {
                _mm_storeu_si128((__m128i *)(void *)(e_q8 + d), e);
            } else {
                int32_t out[4];
                _mm_storeu_si128((__m128i *)(void *)out, e);
                for (uint32_t i = 0; d + i < n_dims; i++) {
                    e_q8[d + i] = out[i];
                }
            }
        }
    }
}
#endif

#if TD_OPTIMIZE_SPEED && !(defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32)
/* PCA mode, the speed build without the DSP instructions (hosts): the same integer dot products (|dot| < 2^27, so
 * the order of the terms does not matter) row by row, eight terms a PMADDWD on x86-64 (SSE2), instead of the SMLAD
 * lanes emulated word by word. */
static void embed_pca(const td_profile_t *prof, const int16_t *z_q8, int32_t *e_q8)
{
#if TD_HOST_X86
    /* Without the monitor's widened pairs (td_mon_embed_pca called alone): widened here. */
    if (prof->n_features != 0u) {
        int16_t cols[(TD_MAX_FEATURES + 1) / 2 * 2 * TD_MON_COL_STRIDE(TD_MAX_DIMS)];
        td_mon_widen_cols(prof, cols);
        embed_pca_x86(prof, cols, z_q8, e_q8);
        return;
    }
#endif
    const uint32_t n_features = prof->n_features;
    const uint32_t shift = prof->proj_shift;
    const uint32_t half = shift != 0u ? 1u << (shift - 1u) : 0u;
    const int8_t *row = (const int8_t *)prof->projection; /* row j = dimension j */
    for (uint32_t j = 0; j < prof->n_dims; j++, row += n_features) {
        uint32_t f = 0u;
        int32_t dot = 0;
#if defined(__x86_64__) && defined(__SSE2__)
        __m128i acc = _mm_setzero_si128();
        for (; f + 8u <= n_features; f += 8u) {
            const __m128i p8 = _mm_loadl_epi64((const __m128i *)(const void *)(row + f));
            const __m128i p16 = _mm_srai_epi16(_mm_unpacklo_epi8(p8, p8), 8); /* int8 -> int16 */
            const __m128i z16 = _mm_loadu_si128((const __m128i *)(const void *)(z_q8 + f));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(p16, z16));
        }
        if (f + 4u <= n_features) {
            const __m128i p8 = _mm_cvtsi32_si128((int32_t)td_load_u32((const uint8_t *)(row + f)));
            const __m128i p16 = _mm_srai_epi16(_mm_unpacklo_epi8(p8, p8), 8);
            const __m128i z16 = _mm_loadl_epi64((const __m128i *)(const void *)(z_q8 + f));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(p16, z16));
            f += 4u;
        }
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4E));
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0xB1));
        dot = _mm_cvtsi128_si32(acc);
#endif
        for (; f < n_features; f++) {
            dot += row[f] * z_q8[f];
        }
        e_q8[j] = pca_round(dot, half, shift);
    }
}
#else
/* PCA mode: project z into e_q8 (inlined into td_mon_embed_pca: one call a window for the whole PCA part). */
static TD_ALWAYS_INLINE void embed_pca(const td_profile_t *prof, const int16_t *z_q8, int32_t *e_q8)
{
    const uint32_t n_features = prof->n_features;
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_quads = n_features / 4u;
    const uint32_t shift = prof->proj_shift;
    const int8_t *const projection = (const int8_t *)prof->projection; /* row j = dimension j */
    /* z in the lane order SXTB16 gives a word of four int8 weights: (z0, z2) then (z1, z3). */
    uint32_t z_pairs[TD_MAX_FEATURES / 2u];
    for (uint32_t q = 0; q < n_quads; q++) {
        const int16_t *z = z_q8 + 4u * q;
#if TD_ARM_DSP
        /* Two words of two lanes each, regrouped by PKHBT/PKHTB. */
        const uint32_t z01 = td_load_u32((const uint8_t *)z);
        const uint32_t z23 = td_load_u32((const uint8_t *)(z + 2));
        uint32_t z02;
        uint32_t z13;
        __asm__("pkhbt %0, %2, %3, lsl #16\n\t"
                "pkhtb %1, %3, %2, asr #16"
                : "=&r"(z02), "=&r"(z13)
                : "r"(z01), "r"(z23));
        z_pairs[2u * q] = z02;
        z_pairs[2u * q + 1u] = z13;
#else
        z_pairs[2u * q] = pack16(z[0], z[2]);
        z_pairs[2u * q + 1u] = pack16(z[1], z[3]);
#endif
    }
    const uint32_t half = shift != 0u ? 1u << (shift - 1u) : 0u;
    uint32_t j = 0;
#if TD_ARM_DSP
    /* Whole quads of features and a shift that needs no clamp: four rows at a time, rounded in pca_dot4. */
    if (n_features % 4u == 0u && n_quads != 0u && shift >= 3u) {
        const uint32_t n_groups = n_dims / 4u;
        if (n_groups != 0u) {
            pca_round4_t rp = {z_pairs + 2u * n_quads, half, shift, e_q8, z_pairs, e_q8 + 4u * n_groups};
            pca_dot4((const uint8_t *)projection, n_features, z_pairs, &rp);
            j = 4u * n_groups;
        }
    }
#endif
    for (; j < n_dims; j += TD_OPTIMIZE_SPEED ? 2u : 1u) {
        const int8_t *const row = projection + j * n_features;
        /* An odd last dimension pairs with itself; its second dot product is dropped. */
        const uint32_t next = TD_OPTIMIZE_SPEED && j + 1u < n_dims ? n_features : 0u;
        uint64_t dots = 0u;
        if (n_quads != 0u) {
            dots = pca_dot2((const uint8_t *)row, next, z_pairs, z_pairs + 2u * n_quads);
        }
        int32_t dot0 = (int32_t)(uint32_t)dots; /* |dot| < 32 * 128 * 32768 = 2^27 */
        int32_t dot1 = (int32_t)(uint32_t)(dots >> 32);
        for (uint32_t f = 4u * n_quads; f < n_features; f++) {
            dot0 += row[f] * z_q8[f];
            dot1 += row[next + f] * z_q8[f];
        }
        e_q8[j] = pca_round(dot0, half, shift);
        if (next != 0u) {
            e_q8[j + 1u] = pca_round(dot1, half, shift);
        }
    }
}

#endif

/* PCA mode: the squared reconstruction error |z - P^T e|^2 in Q8. With every dimension kept (n_dims == n_features)
 * a PCA basis reconstructs z exactly, so the error is 0: the rest is int8 rounding residue (about 0.001 score units
 * on BasicMotions), and skipping it saves a whole second matrix pass. */
static uint32_t pca_recon_error(const td_profile_t *prof, const int16_t *z_q8, const int32_t *e_q8)
{
    const uint32_t n_features = prof->n_features;
    const uint32_t n_dims = prof->n_dims;
    const int8_t *const projection = (const int8_t *)prof->projection;
    if (n_dims >= n_features || !TD_FEATURE_RECON) {
        return 0u; /* without TD_FEATURE_RECON, td_monitor_init refuses profiles with fewer dimensions */
    }
    int64_t err = 0;
    for (uint32_t f = 0; f < n_features; f++) {
        const int8_t *column = projection + f;
        int64_t back = 0; /* each term is int8 * (|e| <= 2^24): one multiply-accumulate on the M4 */
        for (uint32_t j = 0; j < n_dims; j++, column += n_features) {
            back += (int64_t)*column * e_q8[j];
        }
        if (prof->proj_shift) {
            back = td_round_shift(back, prof->proj_shift);
        }
        const int64_t diff = td_clamp64((int64_t)z_q8[f] - back, TD_MON_EMBEDDING_LIMIT_Q8);
        err += diff * diff;
    }
    return td_sat_u32(((uint64_t)err + 128u) >> 8);
}

#if TD_FEATURE_EXTERNAL
/* External mode: the dequantized mean of the embeddings pushed during the window. */
void td_mon_embed_external(const td_monitor_t *mon, int32_t *e_q8)
{
    const td_profile_t *prof = mon->profile;
    const uint32_t den = (uint32_t)mon->n_embeddings << (TD_EXT_SCALE_SHIFT - 8u); /* < 2^32: 16-bit count */
    for (uint32_t j = 0; j < prof->n_dims; j++) {
        const int64_t centred = (int64_t)mon->emb_sum[j] - (int64_t)mon->n_embeddings * prof->ext_zero_point;
        const int64_t e = td_round_div32(centred * (int64_t)prof->ext_scale_q24, den);
        e_q8[j] = (int32_t)td_clamp64(e, TD_MON_EMBEDDING_LIMIT_Q8);
    }
}
#endif

/* The window close's PCA part: the projection, then the reconstruction error. */
uint32_t td_mon_embed_pca(const td_profile_t *prof, const int16_t *z_q8, int32_t *e_q8)
{
    embed_pca(prof, z_q8, e_q8);
    return pca_recon_error(prof, z_q8, e_q8);
}

#if TD_HOST_X86
uint32_t td_mon_embed_pca_cols(const td_profile_t *prof, const int16_t *cols, const int16_t *z_q8, int32_t *e_q8)
{
#if TD_EMBED_AVX2
    /* An even count of features (every monitor's: two a channel): z's pairs read in place. */
    if (prof->n_features % 2u == 0u && prof->n_features != 0u && prof->n_dims - 1u < 16u && embed_cpu_avx2()) {
        embed_pca_avx2(prof, cols, z_q8, e_q8);
    } else
#endif
    if (prof->n_features != 0u) {
        embed_pca_x86(prof, cols, z_q8, e_q8);
    } else {
        embed_pca(prof, z_q8, e_q8);
    }
    return prof->n_dims >= prof->n_features ? 0u : pca_recon_error(prof, z_q8, e_q8);
}
#endif
