/* _host_rows.c - push()'s rows from td_window_result_t in one C loop (host-only helper of the CFFI module).
 * Same values as the numpy conversion it replaced: integers widened, Q8 and Q16 divided in double.
 *
 * Two ways to a row, the same bytes: field by field through the offsets (any layout: the portable one), or, for
 * result_dtype's packed layout, at offsets known from (n_channels, n_dims) with the arrays in SSE2 (four values a
 * step: int16/int32 widened, converted to double and scaled; the channels' fields transposed four channels at a time)
 * or in AVX2 where the CPU has it (four doubles a store). The last group of an array is its last four values, which
 * may overlap the group before it (same values): no store goes past its field. td_host_push_rows runs the core a few
 * windows at a time into a caller's small buffer, which stays in cache, and converts each chunk straight into the
 * caller's rows; rows of big outputs (TD_HOST_ROWS_STREAM_MIN bytes and more) go through a staging buffer in cache
 * and leave it in whole 64-byte lines by non-temporal stores (the same bytes; the rows' lines are not read into the
 * cache first and the core's state is not evicted by them). */
#include "_host_rows.h"

#include <stddef.h>
#include <string.h>

#if TD_HOST_ROWS_SIMD
#include <immintrin.h>
#endif

enum {
    F_WINDOW, F_SCORE, F_DIST, F_RECON, F_CUSUM, F_ALARM, F_TRIGGER, F_NEAREST, F_TOP_CHANNEL, F_STUCK,
    F_SATURATED, F_MISSING, F_N_EMBEDDINGS, F_N_INFERENCES, F_TOP_CLASS, F_DDM_STATE, F_MEAN_CONFIDENCE,
    F_ESTIMATED_ACCURACY, F_PRIOR_SHIFT, F_N_LABELS, F_N_CORRECT, F_ACCURACY, F_OCCUPANCY, F_CHART, F_SHIFT,
    F_EMBEDDING, F_MEAN, F_STD, F_Z_MEAN, F_Z_STD, F_MIN, F_MAX, F_SUM, F_SUMSQ, F_N_MISSING, F_N_SATURATED,
    F_COUNT
};

typedef char td_host_rows_fields_match[(F_COUNT == TD_HOST_ROW_FIELDS) ? 1 : -1];

#define TD_ROWS_ASSERT(name, cond) typedef char td_host_rows_##name[(cond) ? 1 : -1]
/* the packed path's copies and vector loads assume these (the C layout of td_monitor.h on x86-64) */
TD_ROWS_ASSERT(masks_adjacent, offsetof(td_window_result_t, saturated_mask) ==
                                   offsetof(td_window_result_t, stuck_mask) + 2u &&
                               offsetof(td_window_result_t, missing_mask) == offsetof(td_window_result_t, stuck_mask) + 4u);
TD_ROWS_ASSERT(inferences_adjacent, offsetof(td_window_result_t, top_class) ==
                                        offsetof(td_window_result_t, n_inferences) + 2u &&
                                    offsetof(td_window_result_t, ddm_state) ==
                                        offsetof(td_window_result_t, n_inferences) + 3u);
TD_ROWS_ASSERT(labels_adjacent, offsetof(td_window_result_t, n_correct) == offsetof(td_window_result_t, n_labels) + 2u);
TD_ROWS_ASSERT(channel_layout, sizeof(td_channel_result_t) == 32u && offsetof(td_channel_result_t, sumsq) == 0u &&
                                   offsetof(td_channel_result_t, sum) == 8u &&
                                   offsetof(td_channel_result_t, mean_q8) == 12u &&
                                   offsetof(td_channel_result_t, std_q8) == 16u &&
                                   offsetof(td_channel_result_t, min) == 20u &&
                                   offsetof(td_channel_result_t, max) == 22u &&
                                   offsetof(td_channel_result_t, z_mean_q8) == 24u &&
                                   offsetof(td_channel_result_t, z_std_q8) == 26u &&
                                   offsetof(td_channel_result_t, n_missing) == 28u &&
                                   offsetof(td_channel_result_t, n_saturated) == 30u);

static void put_u8(uint8_t *row, uint32_t off, uint8_t v) { row[off] = v; }
static void put_u16(uint8_t *row, uint32_t off, uint16_t v) { memcpy(row + off, &v, sizeof v); }
static void put_i16(uint8_t *row, uint32_t off, int16_t v) { memcpy(row + off, &v, sizeof v); }
static void put_u32(uint8_t *row, uint32_t off, uint32_t v) { memcpy(row + off, &v, sizeof v); }
static void put_i64(uint8_t *row, uint32_t off, int64_t v) { memcpy(row + off, &v, sizeof v); }
static void put_f64(uint8_t *row, uint32_t off, double v) { memcpy(row + off, &v, sizeof v); }

/* Field by field through the offsets: any layout. */
static void rows_offsets(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                         const uint32_t *o, uint32_t row_size, uint8_t *out) {
    for (uint32_t i = 0; i < n; i++) {
        const td_window_result_t *r = &raw[i];
        uint8_t *row = out + (uint64_t)i * row_size;
        put_u32(row, o[F_WINDOW], r->window_index);
        put_f64(row, o[F_SCORE], (double)r->score_q8 / 256.0);
        put_f64(row, o[F_DIST], (double)r->dist_q8 / 256.0);
        put_f64(row, o[F_RECON], (double)r->recon_q8 / 256.0);
        put_f64(row, o[F_CUSUM], (double)r->cusum_q8 / 256.0);
        put_u8(row, o[F_ALARM], r->alarm != 0);
        put_u8(row, o[F_TRIGGER], r->trigger);
        put_u8(row, o[F_NEAREST], r->nearest);
        put_u8(row, o[F_TOP_CHANNEL], r->top_channel);
        put_u16(row, o[F_STUCK], r->stuck_mask);
        put_u16(row, o[F_SATURATED], r->saturated_mask);
        put_u16(row, o[F_MISSING], r->missing_mask);
        put_u16(row, o[F_N_EMBEDDINGS], r->n_embeddings);
        put_u16(row, o[F_N_INFERENCES], r->n_inferences);
        put_u8(row, o[F_TOP_CLASS], r->top_class);
        put_u8(row, o[F_DDM_STATE], r->ddm_state);
        put_f64(row, o[F_MEAN_CONFIDENCE], (double)r->mean_confidence_q16 / 65536.0);
        put_f64(row, o[F_ESTIMATED_ACCURACY], (double)r->estimated_accuracy_q16 / 65536.0);
        put_f64(row, o[F_PRIOR_SHIFT], (double)r->prior_shift_q16 / 65536.0);
        put_u16(row, o[F_N_LABELS], r->n_labels);
        put_u16(row, o[F_N_CORRECT], r->n_correct);
        put_f64(row, o[F_ACCURACY], (double)r->accuracy_q16 / 65536.0);
        put_f64(row, o[F_OCCUPANCY], (double)r->occupancy_q8 / 256.0);
        put_f64(row, o[F_CHART], (double)r->chart_q8 / 256.0);
        for (uint32_t f = 0; f < 2u * n_channels; f++) {
            put_f64(row, o[F_SHIFT] + 8u * f, (double)r->shift_q8[f] / 256.0);
        }
        for (uint32_t d = 0; d < n_dims; d++) {
            put_f64(row, o[F_EMBEDDING] + 8u * d, (double)r->embedding_q8[d] / 256.0);
        }
        for (uint32_t c = 0; c < n_channels; c++) {
            const td_channel_result_t *ch = &r->channels[c];
            put_f64(row, o[F_MEAN] + 8u * c, (double)ch->mean_q8 / 256.0);
            put_f64(row, o[F_STD] + 8u * c, (double)ch->std_q8 / 256.0);
            put_f64(row, o[F_Z_MEAN] + 8u * c, (double)ch->z_mean_q8 / 256.0);
            put_f64(row, o[F_Z_STD] + 8u * c, (double)ch->z_std_q8 / 256.0);
            put_i16(row, o[F_MIN] + 2u * c, ch->min);
            put_i16(row, o[F_MAX] + 2u * c, ch->max);
            put_i64(row, o[F_SUM] + 8u * c, ch->sum);
            put_i64(row, o[F_SUMSQ] + 8u * c, ch->sumsq);
            put_u16(row, o[F_N_MISSING] + 2u * c, ch->n_missing);
            put_u16(row, o[F_N_SATURATED] + 2u * c, ch->n_saturated);
        }
    }
}

#if TD_HOST_ROWS_SIMD
/* Bytes of one value of each field in result_dtype. */
static const uint8_t FIELD_SIZE[F_COUNT] = {4, 8, 8, 8, 8, 1, 1, 1, 1, 2, 2, 2, 2, 2, 1, 1, 8, 8,
                                            8, 2, 2, 8, 8, 8, 8, 8, 8, 8, 8, 8, 2, 2, 8, 8, 2, 2};

/* 1 when offsets are result_dtype(n_channels, n_dims)'s packed layout (fields in order, no gaps) within row_size. */
static uint32_t packed_layout(const uint32_t *o, uint32_t n_channels, uint32_t n_dims, uint32_t row_size) {
    uint32_t off = 0u;
    for (uint32_t f = 0; f < F_COUNT; f++) {
        if (o[f] != off) {
            return 0u;
        }
        const uint32_t count = f == F_SHIFT ? 2u * n_channels : f == F_EMBEDDING ? n_dims : f >= F_MEAN ? n_channels : 1u;
        off += FIELD_SIZE[f] * count;
    }
    return off <= row_size;
}

/* Byte offsets of a packed row's arrays (result_dtype(n_channels, n_dims)); the fields before them have fixed ones. */
typedef struct {
    uint32_t shift, emb, mean, std, zm, zs, min, max, sum, sumsq, nmiss, nsat;
} row_layout_t;

static row_layout_t row_layout(uint32_t c, uint32_t n_dims) {
    row_layout_t o;
    o.shift = 104u;
    o.emb = o.shift + 16u * c;
    o.mean = o.emb + 8u * n_dims;
    o.std = o.mean + 8u * c;
    o.zm = o.std + 8u * c;
    o.zs = o.zm + 8u * c;
    o.min = o.zs + 8u * c;
    o.max = o.min + 2u * c;
    o.sum = o.max + 2u * c;
    o.sumsq = o.sum + 8u * c;
    o.nmiss = o.sumsq + 8u * c;
    o.nsat = o.nmiss + 2u * c;
    return o;
}

#define Q8 (1.0 / 256.0)
#define Q16 (1.0 / 65536.0)

static void store128(uint8_t *p, __m128i v) { _mm_storeu_si128((__m128i *)(void *)p, v); }
static void store64(uint8_t *p, __m128i v) { _mm_storel_epi64((__m128i *)(void *)p, v); }
static __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* Four int32 lanes as doubles times scale at p: two SSE2 stores. */
static inline void st4_sse2(uint8_t *p, __m128i v, double scale) {
    const __m128d s = _mm_set1_pd(scale);
    _mm_storeu_pd((double *)(void *)p, _mm_mul_pd(_mm_cvtepi32_pd(v), s));
    _mm_storeu_pd((double *)(void *)(p + 16), _mm_mul_pd(_mm_cvtepi32_pd(_mm_shuffle_epi32(v, 0xEE)), s));
}

/* st4_sse2 in one AVX store. */
__attribute__((target("avx2"))) static inline void st4_avx2(uint8_t *p, __m128i v, double scale) {
    _mm256_storeu_pd((double *)(void *)p, _mm256_mul_pd(_mm256_cvtepi32_pd(v), _mm256_set1_pd(scale)));
}

/* Low int16 of each int32 lane, sign-extended. */
static inline __m128i lo16(__m128i v) { return _mm_srai_epi32(_mm_slli_epi32(v, 16), 16); }

/* Four int16 at p as int32 lanes. */
static inline __m128i widen4_sse2(const int16_t *p) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return _mm_srai_epi32(_mm_unpacklo_epi16(v, v), 16);
}

__attribute__((target("avx2"))) static inline __m128i widen4_avx2(const int16_t *p) {
    return _mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* The fields before the arrays (bytes 0..103), one at a time. */
static inline void header_sse2(uint8_t *row, const td_window_result_t *r) {
    put_u32(row, 0u, r->window_index);
    put_f64(row, 4u, (double)r->score_q8 * Q8);
    put_f64(row, 12u, (double)r->dist_q8 * Q8);
    put_f64(row, 20u, (double)r->recon_q8 * Q8);
    put_f64(row, 28u, (double)r->cusum_q8 * Q8);
    put_u8(row, 36u, r->alarm != 0);
    put_u8(row, 37u, r->trigger);
    put_u8(row, 38u, r->nearest);
    put_u8(row, 39u, r->top_channel);
    memcpy(row + 40u, &r->stuck_mask, 6u); /* stuck, saturated, missing masks: adjacent in both */
    put_u16(row, 46u, r->n_embeddings);
    memcpy(row + 48u, &r->n_inferences, 4u); /* n_inferences, top_class, ddm_state */
    put_f64(row, 52u, (double)r->mean_confidence_q16 * Q16);
    put_f64(row, 60u, (double)r->estimated_accuracy_q16 * Q16);
    put_f64(row, 68u, (double)r->prior_shift_q16 * Q16);
    memcpy(row + 76u, &r->n_labels, 4u); /* n_labels, n_correct */
    put_f64(row, 80u, (double)r->accuracy_q16 * Q16);
    put_f64(row, 88u, (double)r->occupancy_q8 * Q8);
    put_f64(row, 96u, (double)r->chart_q8 * Q8);
}

/* Four uint32 lanes as doubles times scale: each lane less 2^31 converted, 2^31 added back (exact in double). */
__attribute__((target("avx2"))) static inline __m256d u4_avx2(__m128i v, double scale) {
    const __m256d d = _mm256_cvtepi32_pd(_mm_xor_si128(v, _mm_set1_epi32((int32_t)0x80000000u)));
    return _mm256_mul_pd(_mm256_add_pd(d, _mm256_set1_pd(2147483648.0)), _mm256_set1_pd(scale));
}

/* header_sse2 in AVX2: the four uint32 scores and the three Q16 outputs four lanes at a time, the small integers in
 * one byte shuffle. Stores in order: a wider one's extra lanes are overwritten by the fields after it. */
__attribute__((target("avx2"))) static inline void header_avx2(uint8_t *row, const td_window_result_t *r) {
    put_u32(row, 0u, r->window_index);
    _mm256_storeu_pd((double *)(void *)(row + 4u), u4_avx2(_mm_loadu_si128((const __m128i *)(const void *)&r->score_q8), Q8));
    /* row bytes 36..51 (alarm, trigger, nearest, top_channel, the three masks, n_embeddings, n_inferences, top_class,
     * ddm_state) from the result's bytes from n_embeddings on; alarm as 0/1 (the smaller of it and 1) */
    const __m128i small = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)&r->n_embeddings),
                                           _mm_setr_epi8(9, 8, 10, 11, 2, 3, 4, 5, 6, 7, 0, 1, 12, 13, 14, 15));
    store128(row + 36u, _mm_min_epu8(small, _mm_setr_epi8(1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)));
    /* mean_confidence, estimated_accuracy, prior_shift and (n_labels, n_correct) as a fourth lane: its double at
     * bytes 76..83 is overwritten next */
    _mm256_storeu_pd((double *)(void *)(row + 52u), u4_avx2(_mm_loadu_si128((const __m128i *)(const void *)&r->mean_confidence_q16), Q16));
    memcpy(row + 76u, &r->n_labels, 4u);
    put_f64(row, 80u, (double)r->accuracy_q16 * Q16);
    put_f64(row, 88u, (double)r->occupancy_q8 * Q8);
    put_f64(row, 96u, (double)r->chart_q8 * Q8);
}

/* Channels at..at+3 (ch: their results, 32 bytes each: sumsq, sum, mean | std, min, max, z_mean, z_std, n_missing,
 * n_saturated) transposed into the row's arrays, in SSE2. */
static inline void channels4_sse2(uint8_t *row, const row_layout_t *o, const td_channel_result_t *ch, uint32_t at) {
    const __m128i l0 = load128(&ch[0]), h0 = load128(&ch[0].std_q8);
    const __m128i l1 = load128(&ch[1]), h1 = load128(&ch[1].std_q8);
    const __m128i l2 = load128(&ch[2]), h2 = load128(&ch[2].std_q8);
    const __m128i l3 = load128(&ch[3]), h3 = load128(&ch[3].std_q8);
    store128(row + o->sumsq + 8u * at, _mm_unpacklo_epi64(l0, l1));
    store128(row + o->sumsq + 8u * at + 16u, _mm_unpacklo_epi64(l2, l3));
    const __m128i t01 = _mm_unpackhi_epi32(l0, l1), t23 = _mm_unpackhi_epi32(l2, l3);
    const __m128i sum = _mm_unpacklo_epi64(t01, t23);
    const __m128i sign = _mm_srai_epi32(sum, 31);
    store128(row + o->sum + 8u * at, _mm_unpacklo_epi32(sum, sign));
    store128(row + o->sum + 8u * at + 16u, _mm_unpackhi_epi32(sum, sign));
    st4_sse2(row + o->mean + 8u * at, _mm_unpackhi_epi64(t01, t23), Q8);
    const __m128i u01 = _mm_unpacklo_epi32(h0, h1), u23 = _mm_unpacklo_epi32(h2, h3);
    const __m128i v01 = _mm_unpackhi_epi32(h0, h1), v23 = _mm_unpackhi_epi32(h2, h3);
    st4_sse2(row + o->std + 8u * at, _mm_unpacklo_epi64(u01, u23), Q8);
    const __m128i z = _mm_unpacklo_epi64(v01, v23); /* (z_mean, z_std) int16 pairs */
    st4_sse2(row + o->zm + 8u * at, lo16(z), Q8);
    st4_sse2(row + o->zs + 8u * at, _mm_srai_epi32(z, 16), Q8);
    /* (min, max) and (n_missing, n_saturated) pairs: the first of each pair to the low 8 bytes */
    const __m128i mm = _mm_unpackhi_epi64(u01, u23), nn = _mm_unpackhi_epi64(v01, v23);
    const __m128i mm2 = _mm_shuffle_epi32(_mm_shufflehi_epi16(_mm_shufflelo_epi16(mm, 0xD8), 0xD8), 0xD8);
    const __m128i nn2 = _mm_shuffle_epi32(_mm_shufflehi_epi16(_mm_shufflelo_epi16(nn, 0xD8), 0xD8), 0xD8);
    store64(row + o->min + 2u * at, mm2);
    store64(row + o->max + 2u * at, _mm_unpackhi_epi64(mm2, mm2));
    store64(row + o->nmiss + 2u * at, nn2);
    store64(row + o->nsat + 2u * at, _mm_unpackhi_epi64(nn2, nn2));
}

/* Start of an array's group of four values after the one at at (the first at 0): every fourth value, the last group
 * the array's last four (it overlaps the one before when len is not a multiple of four: the same values stored
 * twice); len (the end) after the last group. Arrays shorter than four have no group (stored one at a time). */
static inline uint32_t next_group(uint32_t at, uint32_t len) {
    return at + 4u >= len ? len : at + 8u > len ? len - 4u : at + 4u;
}

/* The high 8 bytes of v to p (not _mm_storeh_pd: a double's alignment; MOVHPS has none). */
static inline void store64_high(uint8_t *p, __m128i v) { _mm_storeh_pi((__m64 *)(void *)p, _mm_castsi128_ps(v)); }

/* Four channels' results (ch, 32 bytes each: sumsq, sum, mean | std, min, max, z_mean, z_std, n_missing, n_saturated)
 * transposed into a row's arrays at pointers to their first value: m the means (std, z_mean, z_std s8, 2 s8, s24
 * bytes after), s the sums (sumsq s8 after), mn the mins (max s2 after), nm the n_missing (n_saturated s2 after). */
__attribute__((target("avx2"))) static inline void channel_group_avx2(const td_channel_result_t *ch, uint8_t *m,
                                                                      uint8_t *s, uint8_t *mn, uint8_t *nm, size_t s8,
                                                                      size_t s24, size_t s2) {
    const __m256i y0 = _mm256_loadu_si256((const __m256i *)(const void *)&ch[0]);
    const __m256i y1 = _mm256_loadu_si256((const __m256i *)(const void *)&ch[1]);
    const __m256i y2 = _mm256_loadu_si256((const __m256i *)(const void *)&ch[2]);
    const __m256i y3 = _mm256_loadu_si256((const __m256i *)(const void *)&ch[3]);
    store128(s + s8, _mm_unpacklo_epi64(_mm256_castsi256_si128(y0), _mm256_castsi256_si128(y1)));
    store128(s + s8 + 16u, _mm_unpacklo_epi64(_mm256_castsi256_si128(y2), _mm256_castsi256_si128(y3)));
    const __m256i a = _mm256_unpacklo_epi32(y0, y1); /* (sumsq words | std0 std1, (min, max)0 (min, max)1) */
    const __m256i b = _mm256_unpackhi_epi32(y0, y1); /* (sum0 sum1 mean0 mean1 | z0 z1, (n_missing, n_saturated)) */
    const __m256i c = _mm256_unpacklo_epi32(y2, y3);
    const __m256i d = _mm256_unpackhi_epi32(y2, y3);
    const __m256i e = _mm256_unpackhi_epi64(a, c); /* (sumsq high words | min/max pairs of the four) */
    const __m256i f = _mm256_unpacklo_epi64(a, c); /* (sumsq low words | std of the four) */
    const __m256i g = _mm256_unpacklo_epi64(b, d); /* (sum | z pairs) */
    const __m256i h = _mm256_unpackhi_epi64(b, d); /* (mean | n pairs) */
    _mm256_storeu_si256((__m256i *)(void *)s, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(g)));
    st4_avx2(m, _mm256_castsi256_si128(h), Q8);
    st4_avx2(m + s8, _mm256_extracti128_si256(f, 1), Q8);
    const __m128i z = _mm256_extracti128_si256(g, 1);
    st4_avx2(m + 2u * s8, lo16(z), Q8);
    st4_avx2(m + s24, _mm_srai_epi32(z, 16), Q8);
    /* (min, max | n_missing, n_saturated) pairs, the first of each pair to each half's low 8 bytes */
    const __m256i pairs = _mm256_shuffle_epi8(_mm256_permute2x128_si256(e, h, 0x31),
                                              _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0,
                                                               1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
    const __m128i mm = _mm256_castsi256_si128(pairs), nn = _mm256_extracti128_si256(pairs, 1);
    store64(mn, mm);
    store64_high(mn + s2, mm);
    store64(nm, nn);
    store64_high(nm + s2, nn);
}

/* A row's arrays of at least four values (the shifts when c >= 2, the embedding when n_dims >= 4, the channels'
 * when c >= 4; short_arrays does the others) in AVX2, four values at a time: the groups but the last one by pointers
 * that step, the last one at the array's end. */
__attribute__((target("avx2"))) static inline void arrays_avx2(uint8_t *row, const td_window_result_t *r,
                                                               const row_layout_t *o, uint32_t c, uint32_t n_dims) {
    if (c >= 2u) {
        const uint32_t nf = 2u * c;
        const int16_t *sh = r->shift_q8;
        uint8_t *p = row + o->shift;
        _Pragma("GCC unroll 1") for (uint32_t g = (nf - 1u) / 4u; g > 0u; g--, sh += 4, p += 32) {
            st4_avx2(p, widen4_avx2(sh), Q8);
        }
        st4_avx2(row + o->shift + 8u * (nf - 4u), widen4_avx2(r->shift_q8 + nf - 4u), Q8);
    }
    if (n_dims >= 4u) {
        const int32_t *e = r->embedding_q8;
        uint8_t *p = row + o->emb;
        _Pragma("GCC unroll 1") for (uint32_t g = (n_dims - 1u) / 4u; g > 0u; g--, e += 4, p += 32) {
            st4_avx2(p, load128(e), Q8);
        }
        st4_avx2(row + o->emb + 8u * (n_dims - 4u), load128(r->embedding_q8 + n_dims - 4u), Q8);
    }
    if (c >= 4u) {
        const size_t s8 = 8u * c, s24 = 24u * c, s2 = 2u * c;
        const td_channel_result_t *ch = r->channels;
        uint8_t *m = row + o->mean, *s = row + o->sum, *mn = row + o->min, *nm = row + o->nmiss;
        _Pragma("GCC unroll 1") for (uint32_t g = (c - 1u) / 4u; g > 0u; g--) {
            channel_group_avx2(ch, m, s, mn, nm, s8, s24, s2);
            ch += 4;
            m += 32;
            s += 32;
            mn += 8;
            nm += 8;
        }
        const uint32_t at = c - 4u;
        channel_group_avx2(r->channels + at, row + o->mean + 8u * at, row + o->sum + 8u * at, row + o->min + 2u * at,
                           row + o->nmiss + 2u * at, s8, s24, s2);
    }
}

/* A row's arrays in SSE2, four values at a time (the groups' starts by next_group), as arrays_avx2. */
static inline void arrays_sse2(uint8_t *row, const td_window_result_t *r, const row_layout_t *o, uint32_t c,
                               uint32_t n_dims) {
    if (c >= 2u) {
        _Pragma("GCC unroll 1") for (uint32_t at = 0u; at < 2u * c; at = next_group(at, 2u * c)) {
            st4_sse2(row + o->shift + 8u * at, widen4_sse2(r->shift_q8 + at), Q8);
        }
    }
    if (n_dims >= 4u) {
        _Pragma("GCC unroll 1") for (uint32_t at = 0u; at < n_dims; at = next_group(at, n_dims)) {
            st4_sse2(row + o->emb + 8u * at, load128(r->embedding_q8 + at), Q8);
        }
    }
    if (c >= 4u) {
        _Pragma("GCC unroll 1") for (uint32_t at = 0u; at < c; at = next_group(at, c)) {
            channels4_sse2(row, o, r->channels + at, at);
        }
    }
}

/* The arrays too short for a group of four, one value at a time: the shifts when c < 2, the embedding when
 * n_dims < 4, the channels' arrays when c < 4. */
static inline void short_arrays(uint8_t *row, const td_window_result_t *r, const row_layout_t *o, uint32_t c,
                                uint32_t n_dims) {
    if (c < 2u) {
        put_f64(row, o->shift, (double)r->shift_q8[0] * Q8);
        put_f64(row, o->shift + 8u, (double)r->shift_q8[1] * Q8);
    }
    if (n_dims < 4u) {
        for (uint32_t d = 0; d < n_dims; d++) {
            put_f64(row, o->emb + 8u * d, (double)r->embedding_q8[d] * Q8);
        }
    }
    if (c < 4u) {
        for (uint32_t k = 0; k < c; k++) {
            const td_channel_result_t *ch = &r->channels[k];
            put_f64(row, o->mean + 8u * k, (double)ch->mean_q8 * Q8);
            put_f64(row, o->std + 8u * k, (double)ch->std_q8 * Q8);
            put_f64(row, o->zm + 8u * k, (double)ch->z_mean_q8 * Q8);
            put_f64(row, o->zs + 8u * k, (double)ch->z_std_q8 * Q8);
            put_i16(row, o->min + 2u * k, ch->min);
            put_i16(row, o->max + 2u * k, ch->max);
            put_i64(row, o->sum + 8u * k, ch->sum);
            put_i64(row, o->sumsq + 8u * k, ch->sumsq);
            put_u16(row, o->nmiss + 2u * k, ch->n_missing);
            put_u16(row, o->nsat + 2u * k, ch->n_saturated);
        }
    }
}

/* Rows in result_dtype's packed layout (offsets from row_layout), in AVX2 when avx (a constant where it is inlined).
 * Row after row (the rows' cache lines written in order), each array four values at a time. */
static inline __attribute__((always_inline)) void rows_packed(const td_window_result_t *raw, uint32_t n,
                                                              uint32_t n_channels, uint32_t n_dims, uint32_t row_size,
                                                              uint8_t *out, uint32_t avx) {
    const row_layout_t o = row_layout(n_channels, n_dims);
    for (uint32_t i = 0; i < n; i++) {
        const td_window_result_t *r = &raw[i];
        uint8_t *row = out + (size_t)i * row_size;
        if (avx) {
            header_avx2(row, r);
            arrays_avx2(row, r, &o, n_channels, n_dims);
        } else {
            header_sse2(row, r);
            arrays_sse2(row, r, &o, n_channels, n_dims);
        }
        short_arrays(row, r, &o, n_channels, n_dims);
    }
}

static void rows_sse2(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                      uint32_t row_size, uint8_t *out) {
    rows_packed(raw, n, n_channels, n_dims, row_size, out, 0u);
}

__attribute__((target("avx2"))) static void rows_avx2(const td_window_result_t *raw, uint32_t n, uint32_t n_channels,
                                                      uint32_t n_dims, uint32_t row_size, uint8_t *out) {
    rows_packed(raw, n, n_channels, n_dims, row_size, out, 1u);
}
#endif

uint32_t td_host_rows_path(void) {
#if TD_HOST_ROWS_SIMD >= 2
    return __builtin_cpu_supports("avx2") ? 2u : 1u;
#else
    return TD_HOST_ROWS_SIMD;
#endif
}

/* The path rows_any takes for this layout: td_host_rows_path() for the packed one, 0 (the offsets) otherwise. */
static uint32_t rows_path_for(const uint32_t *offsets, uint32_t n_channels, uint32_t n_dims, uint32_t row_size) {
#if TD_HOST_ROWS_SIMD
    return packed_layout(offsets, n_channels, n_dims, row_size) ? td_host_rows_path() : 0u;
#else
    (void)offsets, (void)n_channels, (void)n_dims, (void)row_size;
    return 0u;
#endif
}

/* The rows of n results the way path (rows_path_for) says. */
static void rows_any(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                     const uint32_t *offsets, uint32_t row_size, uint8_t *out, uint32_t path) {
#if TD_HOST_ROWS_SIMD
    if (path > 0u) {
        if (path >= 2u) {
            rows_avx2(raw, n, n_channels, n_dims, row_size, out);
        } else {
            rows_sse2(raw, n, n_channels, n_dims, row_size, out);
        }
        return;
    }
#else
    (void)path;
#endif
    rows_offsets(raw, n, n_channels, n_dims, offsets, row_size, out);
}

static uint32_t rows_args_ok(uint32_t n_channels, uint32_t n_dims) {
    return n_channels >= 1u && n_channels <= TD_MAX_CHANNELS && n_dims <= TD_MAX_DIMS &&
           2u * n_channels <= TD_MAX_FEATURES;
}

td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out) {
    if (raw == NULL || offsets == NULL || out == NULL || !rows_args_ok(n_channels, n_dims)) {
        return TD_ERR_ARG;
    }
    rows_any(raw, n, n_channels, n_dims, offsets, row_size, out, rows_path_for(offsets, n_channels, n_dims, row_size));
    return TD_OK;
}

#if TD_HOST_ROWS_SIMD
/* A packed row's largest size (TD_MAX_CHANNELS channels, TD_MAX_DIMS dims): 104 + 72 c + 8 n_dims bytes. */
#define ROW_MAX (104u + 72u * TD_MAX_CHANNELS + 8u * TD_MAX_DIMS)

/* Rows on their way to out through non-temporal stores: staged rows, stage[i] bound for line0 + i; bytes before
 * lead are not ours (the first line of out, when out is not 64-byte aligned). */
typedef struct {
    uint8_t stage[64u + TD_HOST_ROWS_STREAM_CHUNK * ROW_MAX] __attribute__((aligned(64)));
    uint8_t *line0;
    uint32_t lead, fill;
} row_stream_t;

/* Whole 64-byte lines from the 64-byte aligned src to the 64-byte aligned dst, by non-temporal stores. */
static void stream_lines_sse2(uint8_t *dst, const uint8_t *src, uint32_t len) {
    for (uint32_t i = 0; i < len; i += 16u) {
        _mm_stream_si128((__m128i *)(void *)(dst + i), _mm_load_si128((const __m128i *)(const void *)(src + i)));
    }
}

__attribute__((target("avx2"))) static void stream_lines_avx2(uint8_t *dst, const uint8_t *src, uint32_t len) {
    for (uint32_t i = 0; i < len; i += 64u) {
        _mm256_stream_si256((__m256i *)(void *)(dst + i), _mm256_load_si256((const __m256i *)(const void *)(src + i)));
        _mm256_stream_si256((__m256i *)(void *)(dst + i + 32u),
                            _mm256_load_si256((const __m256i *)(const void *)(src + i + 32u)));
    }
}

/* The stage's whole lines to out (the first one in plain stores when it is partly not ours), the rest to the front. */
static void stream_flush(row_stream_t *s, uint32_t path) {
    uint32_t full = s->fill & ~63u;
    if (full == 0u) {
        return;
    }
    uint32_t at = 0u;
    if (s->lead > 0u) {
        memcpy(s->line0 + s->lead, s->stage + s->lead, 64u - s->lead);
        s->lead = 0u;
        at = 64u;
    }
    if (path >= 2u) {
        stream_lines_avx2(s->line0 + at, s->stage + at, full - at);
    } else {
        stream_lines_sse2(s->line0 + at, s->stage + at, full - at);
    }
    memcpy(s->stage, s->stage + full, s->fill - full);
    s->line0 += full;
    s->fill -= full;
}

/* The bytes still staged to out in plain stores; the non-temporal stores ordered before whatever follows. */
static void stream_end(row_stream_t *s) {
    memcpy(s->line0 + s->lead, s->stage + s->lead, s->fill - s->lead);
    s->fill = s->lead;
    _mm_sfence();
}
#endif

td_status td_host_push_rows(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *scratch,
                            uint32_t scratch_cap, const uint32_t *offsets, uint32_t row_size, uint8_t *out,
                            uint32_t out_cap, uint32_t *n_rows, uint32_t *n_taken) {
    if (n_rows != NULL) {
        *n_rows = 0u;
    }
    if (n_taken != NULL) {
        *n_taken = 0u;
    }
    if (mon == NULL || mon->profile == NULL || n_rows == NULL || n_taken == NULL || scratch == NULL ||
        scratch_cap == 0u || offsets == NULL || (frames == NULL && n_frames > 0u) || (out == NULL && out_cap > 0u)) {
        return TD_ERR_ARG;
    }
    const uint32_t window = mon->profile->window;
    const uint32_t n_channels = mon->profile->n_channels;
    const uint32_t n_dims = mon->profile->n_dims;
    if (!rows_args_ok(n_channels, n_dims) || (uint64_t)scratch_cap * window > UINT32_MAX) {
        return TD_ERR_ARG;
    }
    if ((uint64_t)mon->fill + n_frames >= ((uint64_t)out_cap + 1u) * window) {
        return TD_ERR_CAPACITY; /* as td_monitor_push: nothing taken */
    }
    const uint32_t path = rows_path_for(offsets, n_channels, n_dims, row_size);
    uint32_t chunk = scratch_cap;
#if TD_HOST_ROWS_SIMD
    /* big outputs: rows staged in cache, out written in whole lines that bypass the cache */
    row_stream_t stream;
    const uint64_t stream_min = TD_HOST_ROWS_STREAM_MIN; /* a variable: 0 (tests) compares without a warning */
    const uint32_t streaming = path > 0u && (uint64_t)out_cap * row_size >= stream_min;
    if (streaming) {
        chunk = chunk < TD_HOST_ROWS_STREAM_CHUNK ? chunk : TD_HOST_ROWS_STREAM_CHUNK;
        stream.line0 = (uint8_t *)((uintptr_t)out & ~(uintptr_t)63u);
        stream.lead = stream.fill = (uint32_t)((uintptr_t)out & 63u);
    }
#endif
    td_status st = TD_OK;
    uint32_t pos = 0u;
    while (pos < n_frames) {
        const uint32_t room = chunk * window - mon->fill;
        const uint32_t take = n_frames - pos < room ? n_frames - pos : room;
        uint32_t n = 0u;
        st = td_monitor_push(mon, frames + (size_t)pos * n_channels, take, scratch, chunk, &n);
        if (st != TD_OK) {
            break;
        }
        pos += take;
        *n_taken = pos;
        if (n > 0u) {
#if TD_HOST_ROWS_SIMD
            if (streaming) {
                rows_any(scratch, n, n_channels, n_dims, offsets, row_size, stream.stage + stream.fill, path);
                stream.fill += n * row_size;
                stream_flush(&stream, path);
                *n_rows += n;
                continue;
            }
#endif
            rows_any(scratch, n, n_channels, n_dims, offsets, row_size, out + (size_t)*n_rows * row_size, path);
            *n_rows += n;
        }
    }
#if TD_HOST_ROWS_SIMD
    if (streaming) {
        stream_end(&stream);
    }
#endif
    return st;
}
