/* _host_tail.c - host-only helpers of the CFFI module for the build's predictive tails and feature chart (see
 * _host_tail.h). The tops of bootstrap resamples come from a count of each row's large indices (no sort: the values
 * are the same multiset in the same order as the sorted row's), the indices either given or drawn here as numpy's
 * PCG64 Generator.integers draws them; the chart's threshold search makes the probes of the Python bisection it
 * replaced, each in branch-free blocks of statistics and stopping as soon as its alarms pass the budget (the same
 * answers). */
#include "_host_tail.h"

#include <stddef.h>
#include <string.h>

#include "tinydrift/td_config.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Count the indices of one row at or above cutoff into counts[v - cutoff]; TD_ERR_ARG for one outside 0..n-1. */
static td_status count_row(const uint32_t *row, uint32_t n, uint32_t cutoff, uint32_t *counts, uint32_t *passed)
{
    uint32_t m = 0u;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t v = row[i];
        if (v >= n) {
            return TD_ERR_ARG;
        }
        if (v >= cutoff) {
            counts[v - cutoff]++;
            m++;
        }
    }
    *passed = m;
    return TD_OK;
}

/* Width of the range of large indices counted first: keep + keep / 4 + 64 of n uniform indices lie at or above
 * n - width on average, 7 sd and more above keep; a row with fewer than keep there (rare for uniform draws; any row
 * is handled) is counted again whole. */
static uint32_t first_width(uint32_t keep, uint32_t n)
{
    const uint64_t wide = (uint64_t)keep + keep / 4u + 64u;
    return wide < n ? (uint32_t)wide : n;
}

/* The values s[v] of the keep largest counted indices, ascending, into dest (filled from the largest index down);
 * the counts (from cutoff on) are cleared. */
static void write_top(uint32_t *counts, uint32_t cutoff, uint32_t n, const double *s, uint32_t keep, double *dest)
{
    uint32_t left = keep;
    for (uint32_t v = n; v-- > cutoff && left > 0u;) {
        for (uint32_t c = counts[v - cutoff]; c > 0u && left > 0u; c--) {
            dest[--left] = s[v];
        }
    }
    memset(counts, 0, (size_t)(n - cutoff) * sizeof counts[0]);
}

td_status td_host_resample_tops(const uint32_t *idx, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                uint32_t *counts, double *out)
{
    if (idx == NULL || s == NULL || counts == NULL || out == NULL || keep == 0u || keep > n) {
        return TD_ERR_ARG;
    }
    const uint32_t width = first_width(keep, n);
    memset(counts, 0, (size_t)n * sizeof counts[0]);
    for (uint32_t r = 0; r < n_rows; r++) {
        const uint32_t *row = idx + (size_t)r * n;
        uint32_t cutoff = n - width;
        uint32_t passed = 0u;
        td_status st = count_row(row, n, cutoff, counts, &passed);
        if (st == TD_OK && passed < keep) {
            memset(counts, 0, (size_t)(n - cutoff) * sizeof counts[0]);
            cutoff = 0u;
            st = count_row(row, n, cutoff, counts, &passed);
        }
        if (st != TD_OK) {
            return st;
        }
        write_top(counts, cutoff, n, s, keep, out + (size_t)r * keep);
    }
    return TD_OK;
}

/* PCG64 (XSL-RR 128/64), as numpy's pcg64.h: state = state * multiplier + inc (mod 2^128), then the output of the
 * new state. */
#define PCG_MULTIPLIER_HI 2549297995355413924ULL
#define PCG_MULTIPLIER_LO 4865540595714422341ULL

#if defined(__SIZEOF_INT128__) && !defined(TD_HOST_NO_INT128)
__extension__ typedef unsigned __int128 td_u128;

static uint64_t pcg_next64(td_host_pcg64_t *g)
{
    const td_u128 mult = ((td_u128)PCG_MULTIPLIER_HI << 64) | PCG_MULTIPLIER_LO;
    const td_u128 inc = ((td_u128)g->inc_hi << 64) | g->inc_lo;
    const td_u128 state = (((td_u128)g->state_hi << 64) | g->state_lo) * mult + inc;
    g->state_hi = (uint64_t)(state >> 64);
    g->state_lo = (uint64_t)state;
    const uint64_t x = g->state_hi ^ g->state_lo;
    const unsigned rot = (unsigned)(g->state_hi >> 58);
    return (x >> rot) | (x << ((64u - rot) & 63u));
}
#else
/* High 64 bits of the 128-bit product a * b. */
static uint64_t mul_hi64(uint64_t a, uint64_t b)
{
    const uint64_t a_lo = (uint32_t)a;
    const uint64_t a_hi = a >> 32;
    const uint64_t b_lo = (uint32_t)b;
    const uint64_t b_hi = b >> 32;
    const uint64_t p0 = a_lo * b_lo;
    const uint64_t p1 = a_lo * b_hi;
    const uint64_t p2 = a_hi * b_lo;
    const uint64_t mid = (p0 >> 32) + (uint32_t)p1 + (uint32_t)p2;
    return a_hi * b_hi + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

static uint64_t pcg_next64(td_host_pcg64_t *g)
{
    const uint64_t lo = g->state_lo * PCG_MULTIPLIER_LO;
    uint64_t hi = mul_hi64(g->state_lo, PCG_MULTIPLIER_LO) + g->state_hi * PCG_MULTIPLIER_LO +
                  g->state_lo * PCG_MULTIPLIER_HI;
    const uint64_t new_lo = lo + g->inc_lo;
    hi += g->inc_hi + (new_lo < lo ? 1u : 0u);
    g->state_hi = hi;
    g->state_lo = new_lo;
    const uint64_t x = g->state_hi ^ g->state_lo;
    const unsigned rot = (unsigned)(g->state_hi >> 58);
    return (x >> rot) | (x << ((64u - rot) & 63u));
}
#endif

/* numpy's next_uint32 of PCG64: the spare upper half of the last 64-bit output first, else the lower half of a new
 * one (its upper half kept). */
static uint32_t pcg_next32(td_host_pcg64_t *g)
{
    if (g->has_uint32 != 0u) {
        g->has_uint32 = 0u;
        return g->uinteger;
    }
    const uint64_t x = pcg_next64(g);
    g->has_uint32 = 1u;
    g->uinteger = (uint32_t)(x >> 32);
    return (uint32_t)x;
}

/* numpy's buffered_bounded_lemire_uint32 for 0..n-1 (n >= 2): Lemire's multiply and reject. */
static uint32_t pcg_below(td_host_pcg64_t *g, uint32_t n)
{
    uint64_t m = (uint64_t)pcg_next32(g) * n;
    uint32_t leftover = (uint32_t)m;
    if (leftover < n) {
        const uint32_t threshold = (UINT32_MAX - (n - 1u)) % n;
        while (leftover < threshold) {
            m = (uint64_t)pcg_next32(g) * n;
            leftover = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Draw one row of n indices, counting those at or above cutoff into counts[v - cutoff]; the number counted. The
 * generator runs on a local copy (counts could alias its fields otherwise: it would go through memory each draw). */
static uint32_t draw_row(td_host_pcg64_t *rng, uint32_t n, uint32_t cutoff, uint32_t *counts)
{
    uint32_t passed = 0u;
    if (n == 1u) { /* numpy draws nothing for a range of one value */
        if (cutoff == 0u) {
            counts[0] += 1u;
            passed = 1u;
        }
        return passed;
    }
    td_host_pcg64_t g = *rng;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t v = pcg_below(&g, n);
        if (v >= cutoff) {
            counts[v - cutoff]++;
            passed++;
        }
    }
    *rng = g;
    return passed;
}

td_status td_host_bootstrap_tops(td_host_pcg64_t *rng, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                 uint32_t *counts, double *out)
{
    if (rng == NULL || s == NULL || counts == NULL || out == NULL || keep == 0u || keep > n) {
        return TD_ERR_ARG;
    }
    const uint32_t width = first_width(keep, n);
    memset(counts, 0, (size_t)n * sizeof counts[0]);
    for (uint32_t r = 0; r < n_rows; r++) {
        const td_host_pcg64_t start = *rng;
        uint32_t cutoff = n - width;
        if (draw_row(rng, n, cutoff, counts) < keep) { /* the same row again, every index counted */
            memset(counts, 0, (size_t)(n - cutoff) * sizeof counts[0]);
            *rng = start;
            cutoff = 0u;
            (void)draw_row(rng, n, cutoff, counts);
        }
        write_top(counts, cutoff, n, s, keep, out + (size_t)r * keep);
    }
    return TD_OK;
}

#if TD_FEATURE_CHART
/* Lanes of the chart's statistics updated together: whole blocks of this many features, the padding ones 0 (a
 * statistic fed shift 0 from 0 stays 0, never above h). */
#define CHART_BLOCK 8u
#define CHART_LANES (((TD_MAX_FEATURES) + CHART_BLOCK - 1u) / CHART_BLOCK * CHART_BLOCK)

#if defined(__SSE2__)
/* Whether the chart's alarms over the stream (a reset after each) exceed budget: it stops at the first past it.
 * Each statistic takes td_chart_step's saturating step, and a window alarms when its largest statistic (the one
 * td_chart_step returns) is above h, that is when any is: the same alarms as td_chart_count_alarms. Eight
 * statistics per SSE2 instruction in unsigned 16-bit saturating arithmetic: with p = max(g, 0), q = max(-g, 0),
 *   up   = clamp(up + g - k)   = (up +sat (p -sat k)) -sat ((k +sat q) -sat p),
 *   down = clamp(down - g - k) = (down +sat (q -sat k)) -sat ((k +sat p) -sat q),
 * exact for every int16 g and k in 0..65535 (only one of the added and subtracted terms is non-zero), and a
 * statistic is above h when it -sat h is non-zero. */
static int chart_over(uint32_t k_q8, uint32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                      uint32_t budget)
{
    __m128i up[CHART_LANES / CHART_BLOCK];
    __m128i down[CHART_LANES / CHART_BLOCK];
    int16_t row[CHART_LANES];
    const uint32_t blocks = (n_features + CHART_BLOCK - 1u) / CHART_BLOCK;
    const __m128i zero = _mm_setzero_si128();
    const __m128i k = _mm_set1_epi16((short)(uint16_t)k_q8);
    const __m128i h = _mm_set1_epi16((short)(uint16_t)h_q8);
    for (uint32_t b = 0; b < blocks; b++) {
        up[b] = zero;
        down[b] = zero;
    }
    memset(row, 0, sizeof row);
    uint32_t alarms = 0u;
    for (uint32_t i = 0; i < n_windows; i++) {
        memcpy(row, shifts_q8 + (size_t)i * n_features, (size_t)n_features * sizeof row[0]);
        __m128i over = zero;
        for (uint32_t b = 0; b < blocks; b++) {
            const __m128i g = _mm_loadu_si128((const __m128i *)(const void *)(row + b * CHART_BLOCK));
            const __m128i p = _mm_max_epi16(g, zero);
            const __m128i q = _mm_sub_epi16(p, g); /* max(-g, 0), 32768 for -32768 as unsigned */
            up[b] = _mm_subs_epu16(_mm_adds_epu16(up[b], _mm_subs_epu16(p, k)),
                                   _mm_subs_epu16(_mm_adds_epu16(k, q), p));
            down[b] = _mm_subs_epu16(_mm_adds_epu16(down[b], _mm_subs_epu16(q, k)),
                                     _mm_subs_epu16(_mm_adds_epu16(k, p), q));
            over = _mm_or_si128(over, _mm_or_si128(_mm_subs_epu16(up[b], h), _mm_subs_epu16(down[b], h)));
        }
        if (_mm_movemask_epi8(_mm_cmpeq_epi16(over, zero)) != 0xFFFF) {
            if (++alarms > budget) {
                return 1;
            }
            for (uint32_t b = 0; b < blocks; b++) {
                up[b] = zero;
                down[b] = zero;
            }
        }
    }
    return 0;
}
#else
/* Whether the chart's alarms over the stream (a reset after each) exceed budget: it stops at the first past it.
 * Each statistic takes td_chart_step's saturating step, and a window alarms when its largest statistic (the one
 * td_chart_step returns) is above h, that is when any is: the same alarms as td_chart_count_alarms. The blocks of
 * a fixed number of lanes, without branches, let the compiler update several statistics per instruction. */
static int chart_over(uint32_t k_q8, uint32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                      uint32_t budget)
{
    int32_t up[CHART_LANES];
    int32_t down[CHART_LANES];
    int16_t row[CHART_LANES];
    const uint32_t lanes = (n_features + CHART_BLOCK - 1u) / CHART_BLOCK * CHART_BLOCK;
    memset(up, 0, sizeof up);
    memset(down, 0, sizeof down);
    memset(row, 0, sizeof row);
    uint32_t alarms = 0u;
    for (uint32_t i = 0; i < n_windows; i++) {
        memcpy(row, shifts_q8 + (size_t)i * n_features, (size_t)n_features * sizeof row[0]);
        int32_t over = 0;
        for (uint32_t b = 0; b < lanes; b += CHART_BLOCK) {
            int32_t *ub = up + b;
            int32_t *db = down + b;
            const int16_t *gb = row + b;
            for (uint32_t j = 0; j < CHART_BLOCK; j++) {
                int32_t u = ub[j] + gb[j] - (int32_t)k_q8;
                int32_t d = db[j] - gb[j] - (int32_t)k_q8;
                u = u < 0 ? 0 : (u > 0xFFFF ? 0xFFFF : u);
                d = d < 0 ? 0 : (d > 0xFFFF ? 0xFFFF : d);
                ub[j] = u;
                db[j] = d;
                over |= (u > (int32_t)h_q8) | (d > (int32_t)h_q8);
            }
        }
        if (over) {
            if (++alarms > budget) {
                return 1;
            }
            memset(up, 0, sizeof up);
            memset(down, 0, sizeof down);
        }
    }
    return 0;
}
#endif
#endif

td_status td_host_chart_threshold(uint32_t k_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                                  uint32_t budget, uint32_t *h_q8)
{
#if TD_FEATURE_CHART
    if (h_q8 == NULL || (shifts_q8 == NULL && n_windows > 0u) || k_q8 > 0xFFFFu) {
        return TD_ERR_ARG;
    }
    if (n_features > TD_MAX_FEATURES) {
        return TD_ERR_LIMIT;
    }
    uint32_t lo = 0u;
    uint32_t hi = 0xFFFFu; /* h = 65535 never fires: the statistics saturate there */
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2u;
        if (chart_over(k_q8, mid, shifts_q8, n_windows, n_features, budget)) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    *h_q8 = lo;
    return TD_OK;
#else
    (void)k_q8;
    (void)shifts_q8;
    (void)n_windows;
    (void)n_features;
    (void)budget;
    (void)h_q8;
    return TD_ERR_ARG;
#endif
}
