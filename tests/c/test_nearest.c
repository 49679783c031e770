/* test_nearest.c - the monitor's nearest-centroid search (td_mon_nearest_centroid, td_nearest.c) against a
 * plain full-sum argmin, over random and constructed cases.
 *
 * The search has three forms: centroid_distance per centroid (the default build), the scaled search's C loop
 * (TD_OPTIMIZE_SPEED=1 on a host) and its ARM DSP assembly (TD_OPTIMIZE_SPEED=1 on a Cortex-M4, make test-core-m4
 * under QEMU). All must pick the same centroid and score. The cases aim at the edges of the fast code: differences
 * at and around 2^15 (SMMULR below, the wide product above), products rounding exactly half way, scaled
 * differences at and past the 2^24 clamp, ties (copies and mirror images of a centroid), a partial sum meeting the
 * best distance exactly before its last term (the early exit must go on while d <= best), the hint first, n_dims
 * and n_centroids 1 and TD_MAX_*.
 *
 * The search is reached through the core's private header (csrc/src/td_monitor_internal.h) and the core sources
 * linked as they are; the Makefile's test-c runs it on the host in both builds. Prints "test_nearest: N passed,
 * M failed" and exits non-zero on any failure.
 */
#include <stdio.h>
#include <string.h>

#include "td_monitor_internal.h"

#include "td_check.h"

#define TEST_LIMIT (1 << 24) /* |e|, |c|, the offset, the inverse scales and a scaled difference stay within it */

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;

static uint64_t rnd64(void)
{
    return td_xorshift64(&g_rng);
}

/* Uniform-ish integer in [lo, hi]. */
static int32_t rnd_range(int32_t lo, int32_t hi)
{
    return (int32_t)((int64_t)lo + (int64_t)(rnd64() % (uint64_t)((int64_t)hi - lo + 1)));
}

static uint8_t g_centroids[4 * TD_MAX_CENTROIDS * TD_MAX_DIMS];
static uint8_t g_scales[4 * TD_MAX_CENTROIDS * (TD_MAX_DIMS + 1)];

static int32_t centroid(uint32_t D, uint32_t k, uint32_t j)
{
    return (int32_t)get_u32(g_centroids + 4u * (k * D + j));
}

static void set_centroid(uint32_t D, uint32_t k, uint32_t j, int32_t c)
{
    put_u32(g_centroids + 4u * (k * D + j), (uint32_t)c);
}

/* Word 0 of centroid k's scales is its offset, word 1 + j the inverse scale of dimension j. */
static uint8_t *scale_word(uint32_t D, uint32_t k, uint32_t w)
{
    return g_scales + 4u * (k * (D + 1u) + w);
}

/* How often the cases met each edge: the test asserts it met all of them. */
static struct {
    unsigned long halves, edge_15, wide, clamped, at_clamp, clamp_pairs, ties, bound_met, unscaled, bad_hint;
    unsigned long dims_1, dims_max, cent_1, cent_max, handed_over, lanes, lane_ties;
} g_cov;

/* Centroid k's term for dimension j: |e - c|, scaled (round half up, clamped to 2^24) when scaled. */
static uint64_t ref_term(int32_t e, int32_t c, uint32_t inv, int scaled)
{
    const int64_t diff = (int64_t)e - c;
    uint64_t m = (uint64_t)(diff < 0 ? -diff : diff);
    if (scaled) {
        m = (m * inv + 32768u) / 65536u;
        m = m > (uint64_t)TEST_LIMIT ? (uint64_t)TEST_LIMIT : m;
    }
    return m * m;
}

static uint64_t ref_distance(const td_profile_t *p, const int32_t *e, uint32_t k)
{
    const uint32_t D = p->n_dims;
    const int scaled = p->centroid_scales != NULL;
    uint64_t d = scaled ? (uint64_t)get_u32(scale_word(D, k, 0u)) * 256u : 0u;
    for (uint32_t j = 0; j < D; j++) {
        d += ref_term(e[j], centroid(D, k, j), scaled ? get_u32(scale_word(D, k, 1u + j)) : 0u, scaled);
    }
    return d;
}

/* c = e - diff, or e + diff when that leaves the centroid range (one of the two is inside for |diff| <= 2^24). */
static int32_t centroid_at(int32_t e, int64_t diff)
{
    const int64_t c = (int64_t)e - diff;
    return (int32_t)(c >= -TEST_LIMIT && c <= TEST_LIMIT ? c : (int64_t)e + diff);
}

/* One dimension of centroid k: a difference and an inverse scale of a random kind (counted if scaled); near: only
 * the kinds with |diff| < 2^15 (the x86-64 AVX2 search's lanes). */
static void random_dimension(uint32_t D, uint32_t k, uint32_t j, int32_t e, int scaled, int near)
{
    int64_t diff;
    uint32_t inv;
    const uint32_t near_kinds[3] = {0u, 4u, 9u};
    switch (near ? near_kinds[rnd64() % 3u] : (uint32_t)(rnd64() % 10u)) {
    case 0: { /* |diff| inv = 2^15 mod 2^16: the product rounds exactly half way */
        const uint32_t sh = (uint32_t)rnd_range(near ? 1 : 0, 15);
        inv = ((uint32_t)rnd_range(0, (TEST_LIMIT >> sh) - 1) | 1u) << sh;
        diff = (int64_t)(((uint32_t)rnd_range(0, (1 << (near ? sh : sh + 1u)) - 1) | 1u) << (15u - sh));
        break;
    }
    case 1: /* around the 2^15 edge of the fast path */
        diff = rnd_range(32760, 32776);
        inv = (uint32_t)(rnd64() % 4u == 0u ? TEST_LIMIT : rnd_range(1, TEST_LIMIT));
        break;
    case 2: { /* a scaled difference next to the clamp: round(|diff| inv / 2^16) = 2^24 - 2 .. 2^24 + 2 */
        inv = (uint32_t)rnd_range(1 << 9, TEST_LIMIT);
        const uint64_t target = (uint64_t)TEST_LIMIT - 2u + rnd64() % 5u;
        diff = (int64_t)((target * 65536u + inv / 2u) / inv) + rnd_range(-1, 1);
        diff = diff > TEST_LIMIT ? TEST_LIMIT : diff;
        break;
    }
    case 3: /* anywhere */
        diff = (int64_t)e - rnd_range(-TEST_LIMIT, TEST_LIMIT);
        inv = (uint32_t)(rnd64() % 4u == 0u ? (rnd64() & 1u ? 1 : TEST_LIMIT) : rnd_range(1, TEST_LIMIT));
        break;
    case 4: /* the centroid itself */
        diff = 0;
        inv = (uint32_t)rnd_range(1, TEST_LIMIT);
        break;
    default: /* near, typical scales */
        diff = rnd_range(-4000, 4000);
        inv = (uint32_t)(rnd64() % 4u == 0u ? rnd_range(1, TEST_LIMIT) : rnd_range(1 << 12, 1 << 20));
    }
    if (rnd64() & 1u) {
        diff = -diff;
    }
    const int32_t c = centroid_at(e, diff);
    set_centroid(D, k, j, c);
    put_u32(scale_word(D, k, 1u + j), inv);
    if (!scaled) {
        return;
    }
    /* Coverage, from what was stored. */
    const int64_t d = (int64_t)e - c;
    const uint64_t m = (uint64_t)(d < 0 ? -d : d);
    g_cov.halves += (m * inv) % 65536u == 32768u;
    g_cov.edge_15 += m == 32767u || m == 32768u;
    g_cov.wide += m >= 32768u;
    g_cov.clamped += (m * inv + 32768u) / 65536u > (uint64_t)TEST_LIMIT;
    g_cov.at_clamp += (m * inv + 32768u) / 65536u == (uint64_t)TEST_LIMIT;
}

/* Dimension j of centroid k scaled to exactly t: an inverse scale near 1.0 (<= 2^16, so some |diff| lands in the
 * rounding interval [t 2^16 - 2^15, t 2^16 + 2^15)), and |e| >= 2^22 leaves room for |diff| a little past 2^24. */
static void set_scaled(uint32_t D, uint32_t k, uint32_t j, int32_t e, uint64_t t)
{
    const uint32_t inv = (uint32_t)rnd_range(65536 - 1024, 65536);
    const uint64_t m = (t * 65536u - 32768u + inv - 1u) / inv;
    set_centroid(D, k, j, centroid_at(e, e < 0 ? -(int64_t)m : (int64_t)m));
    put_u32(scale_word(D, k, 1u + j), inv);
}

/* Centroid b copies centroid a's first n dimensions (values and scales); the rest of b is left as it was. */
static void copy_prefix(uint32_t D, uint32_t b, uint32_t a, uint32_t n)
{
    memcpy(g_centroids + 4u * b * D, g_centroids + 4u * a * D, 4u * n);
    memcpy(scale_word(D, b, 0u), scale_word(D, a, 0u), 4u * (n + 1u));
}

int main(void)
{
    static td_profile_t prof;
    static td_monitor_t mon;
    int32_t e[TD_MAX_DIMS];
    const uint32_t trials = 100000u;
    int ok = 1;
    for (uint32_t t = 0; t < trials && ok; t++) {
        const uint32_t D = t % 8u == 0u ? 1u : (t % 8u == 1u ? TD_MAX_DIMS : (uint32_t)rnd_range(1, TD_MAX_DIMS));
        const uint32_t K = t % 7u == 0u ? 1u
                           : (t % 7u == 1u ? TD_MAX_CENTROIDS : (uint32_t)rnd_range(2, TD_MAX_CENTROIDS));
        const int scaled = t % 5u != 4u;
        memset(&prof, 0, sizeof prof);
        prof.n_dims = (uint8_t)D;
        prof.n_centroids = (uint8_t)K;
        prof.centroids = g_centroids;
        prof.centroid_scales = scaled ? g_scales : NULL;
        const int far = rnd64() % 4u == 0u;
        for (uint32_t j = 0; j < D; j++) {
            e[j] = far ? rnd_range(-TEST_LIMIT, TEST_LIMIT) : rnd_range(-3000, 3000);
        }
        const int near = !far && t % 3u == 2u;
        for (uint32_t k = 0; k < K; k++) {
            const uint32_t r = (uint32_t)(rnd64() % 4u);
            put_u32(scale_word(D, k, 0u), r == 0u ? 0u : (r == 1u ? (uint32_t)TEST_LIMIT : (uint32_t)rnd_range(0, 5000)));
            for (uint32_t j = 0; j < D; j++) {
                random_dimension(D, k, j, e[j], scaled, near);
            }
        }
        /* The hint: any centroid, or none (an index past the last one starts at 0). */
        const uint32_t hint = rnd64() % 8u == 0u ? (uint32_t)rnd_range((int32_t)K, 255) : (uint32_t)rnd_range(0, (int32_t)K - 1);
        if (K > 1u) {
            const uint32_t a = (uint32_t)rnd_range(0, (int32_t)K - 1);
            const uint32_t b = (uint32_t)rnd_range(0, (int32_t)K - 1);
            switch (rnd64() % 4u) {
            case 0: /* equal distances: a copy of a, or its mirror image 2e - c (same |diff|) */
                copy_prefix(D, b, a, D);
                for (uint32_t j = 0; j < D; j++) {
                    const int64_t m = 2 * (int64_t)e[j] - centroid(D, a, j);
                    if ((rnd64() & 1u) && m >= -TEST_LIMIT && m <= TEST_LIMIT) {
                        set_centroid(D, b, j, (int32_t)m);
                    }
                }
                break;
            case 1:
                if (hint < K && b < hint) {
                    /* The hint's distance comes from its first n dimensions only (the rest sit on e), and b, a
                     * lower index searched after it, repeats them before terms of its own: b's partial sum
                     * meets the bound exactly and must go on (else b would win the tie it does not have). */
                    const uint32_t n = (uint32_t)rnd_range(1, (int32_t)D);
                    for (uint32_t j = n; j < D; j++) {
                        set_centroid(D, hint, j, e[j]);
                    }
                    copy_prefix(D, b, hint, n);
                    g_cov.bound_met += n < D;
                }
                break;
            case 2:
                if (scaled && a != b) {
                    /* b a copy of a but in one dimension, where a's scaled difference is clamped (or exactly 2^24)
                     * and b's is 2^24 or one less: whether they tie, and which one wins, hangs on the clamp
                     * (threshold, value) alone. */
                    const uint32_t j = (uint32_t)rnd_range(0, (int32_t)D - 1);
                    const uint32_t v = (uint32_t)(rnd64() % 3u);
                    e[j] = (int32_t)(rnd64() & 1u ? 1 : -1) * rnd_range(1 << 22, TEST_LIMIT);
                    copy_prefix(D, b, a, D);
                    set_scaled(D, a, j, e[j], v == 2u ? TEST_LIMIT : TEST_LIMIT + (uint64_t)rnd_range(1, 65536));
                    set_scaled(D, b, j, e[j], v == 0u ? TEST_LIMIT : TEST_LIMIT - 1u);
                    g_cov.clamp_pairs++;
                }
                break;
            default:
                break;
            }
        }
        mon.profile = &prof;
        mon.last_nearest = (uint8_t)hint;
#if TD_HOST_X86
        td_mon_nearest_prepare(&mon); /* the AVX2 search's copy of the centroids (td_monitor_init makes it) */
#endif
        uint64_t best = 0;
        uint32_t best_k = 0;
        uint32_t ties = 0;
        for (uint32_t k = 0; k < K; k++) {
            const uint64_t d = ref_distance(&prof, e, k);
            ties += k > 0u && d == best;
            if (k == 0u || d < best) {
                best = d;
                best_k = k;
            }
        }
        g_cov.ties += ties;
        /* The x86-64 AVX2 search's cases: scaled, five centroids or more, every |e_j - c_kj| below 2^15. */
        uint32_t narrow = scaled && K > 4u;
        for (uint32_t k = 0; k < K && narrow; k++) {
            for (uint32_t j = 0; j < D; j++) {
                const int64_t diff = (int64_t)e[j] - centroid(D, k, j);
                narrow &= diff > -32768 && diff < 32768;
            }
        }
        g_cov.lanes += narrow;
        g_cov.lane_ties += narrow && ties != 0u;
        const uint64_t want = (best + 128u) >> 8;
        uint8_t got_k = 0xFFu;
        const uint32_t got = td_mon_nearest_centroid(&mon, e, &got_k);
        CHECK_QUIET(ok, got_k == best_k && got == (want > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)want));
        if (!ok) {
            printf("  trial %lu: n_dims %u n_centroids %u hint %u %s: got centroid %u score %lu, want %u score %lu\n",
                   (unsigned long)t, (unsigned)D, (unsigned)K, (unsigned)hint, scaled ? "scaled" : "unscaled",
                   (unsigned)got_k, (unsigned long)got, (unsigned)best_k, (unsigned long)want);
        }
#if TD_MON_DEV
        /* The Cortex-M4's search with the hand-over (td_mon_nearest_centroid_dev): the same centroid and score, and for
         * a scaled profile the first centroid's terms (the hint, or 0 past the last) as fitted_shifts computes them,
         * w_j = sign(e - c) min(ref_term's scaled |e - c|, INT16_MAX) (inv_j >> shift), shift (kept per centroid in
         * mon.inv_shift, set here from the OR of its inverse scales) the bit length of that OR less 15; nothing handed
         * over without scales. */
        {
            const uint32_t first = hint < K ? hint : 0u;
            uint32_t shift = 0u;
            if (scaled) {
                for (uint32_t k = 0; k < K; k++) {
                    uint32_t all = 0u;
                    for (uint32_t j = 0; j < D; j++) {
                        all |= get_u32(scale_word(D, k, 1u + j));
                    }
                    uint32_t bits = 0u;
                    while (bits < 32u && (all >> bits) != 0u) {
                        bits++;
                    }
                    mon.inv_shift[k] = (uint8_t)(bits > 15u ? bits - 15u : 0u);
                }
                shift = mon.inv_shift[first];
            }
            td_mon_dev_t dev;
            uint8_t dev_k = 0xFFu;
            const uint32_t got_dev = td_mon_nearest_centroid_dev(&mon, e, &dev_k, &dev);
            CHECK_QUIET(ok, dev_k == got_k && got_dev == got);
            CHECK_QUIET(ok, dev.k == (scaled ? first : (uint32_t)TD_MAX_CENTROIDS));
            if (scaled && dev.k == first) {
                CHECK_QUIET(ok, dev.shift == shift);
                for (uint32_t j = 0; j < D; j++) {
                    const int32_t c = centroid(D, first, j);
                    const uint32_t inv = get_u32(scale_word(D, first, 1u + j));
                    /* ref_term's scaled magnitude (round half up; past INT16_MAX the 2^24 clamp does not matter) */
                    const int64_t diff = (int64_t)e[j] - c;
                    uint64_t mag = (uint64_t)(diff < 0 ? -diff : diff);
                    mag = (mag * inv + 32768u) / 65536u;
                    const int64_t t = (int64_t)(mag > 32767u ? 32767u : mag);
                    CHECK_QUIET(ok, (int64_t)dev.w[j] == (diff < 0 ? -t : t) * (int64_t)(inv >> shift));
                }
                g_cov.handed_over++;
            }
        }
#endif
        g_cov.unscaled += !scaled;
        g_cov.bad_hint += hint >= K;
        g_cov.dims_1 += D == 1u;
        g_cov.dims_max += D == TD_MAX_DIMS;
        g_cov.cent_1 += K == 1u;
        g_cov.cent_max += K == TD_MAX_CENTROIDS;
    }
    CHECK(ok);
    if (!ok) {
        printf("test_nearest: %lu passed, %lu failed\n", g_pass, g_fail);
        return 1; /* the loop stopped early: the coverage counts would mislead */
    }
    /* Each edge many times over (counts per 10^5 trials are in the thousands). */
    CHECK(g_cov.halves > 1000u && g_cov.edge_15 > 1000u && g_cov.wide > 1000u);
    CHECK(g_cov.clamped > 1000u && g_cov.at_clamp > 1000u && g_cov.clamp_pairs > 1000u);
    CHECK(g_cov.ties > 1000u && g_cov.bound_met > 1000u);
    CHECK(g_cov.unscaled > 1000u && g_cov.bad_hint > 1000u);
    CHECK(g_cov.dims_1 > 1000u && g_cov.dims_max > 1000u && g_cov.cent_1 > 1000u && g_cov.cent_max > 1000u);
    CHECK(!TD_MON_DEV || g_cov.handed_over > 1000u);
    CHECK(g_cov.lanes > 1000u && g_cov.lane_ties > 1000u);
    printf("test_nearest (TD_OPTIMIZE_SPEED=%d): %lu cases; halves %lu, |diff| 2^15 - 1 or 2^15 %lu, wide %lu, "
           "clamped %lu, at the clamp %lu, clamp pairs %lu, ties %lu, bound met %lu\n",
           TD_OPTIMIZE_SPEED, (unsigned long)trials, g_cov.halves, g_cov.edge_15, g_cov.wide, g_cov.clamped,
           g_cov.at_clamp, g_cov.clamp_pairs, g_cov.ties, g_cov.bound_met);
    printf("  the AVX2 search's cases (scaled, > 4 centroids, every |diff| < 2^15) %lu, with ties %lu\n", g_cov.lanes,
           g_cov.lane_ties);
    printf("test_nearest: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
