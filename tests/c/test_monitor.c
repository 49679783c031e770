/* test_monitor.c - the monitor (td_monitor.c and the files of its window close: td_embed.c,
 * td_nearest.c, td_attribution.c) against the reference model of td_test_model.h, window by window over random
 * profiles; re-init, capacity and chunking, modes and health; td_log2_q8 (also the occupancy test's logarithm;
 * the occupancy test itself: tests/test_occupancy.py); status strings.
 *
 * Build and run (make test-c does, under ASan/UBSan, also with TD_OPTIMIZE_SPEED=1 and TD_TEST_NARROW; make
 * test-core-m4 on a Cortex-M4):
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_monitor.c csrc/src/td_*.c -o /tmp/test_monitor -lm && /tmp/test_monitor
 * Prints "test_monitor: N passed, M failed" and exits non-zero on any failure. Shared writer and reference model:
 * td_test_model.h.
 */
#include "td_test_model.h"
#include "td_log2_table.h"
#include "td_monitor_internal.h"

/* td_log2_q8 against a second implementation (128-bit mantissa) and libm. */
static void test_log2_q8(void)
{
    int ok_ref = 1;
    int ok_libm = 1;
    int ok_monotonic = 1;
    uint32_t prev = 0u;
    CHECK_EQ(td_log2_q8(0u), 0u);
    for (uint32_t x = 1u; x <= (1u << 20); x++) {
        const uint32_t v = td_log2_q8(x);
        CHECK_QUIET(ok_ref, v == ref_log2_q8(x));
        CHECK_QUIET(ok_monotonic, v >= prev);
        /* Truncated to 1/256 of an octave: never above the exact value, less than 1/256 below it. */
        const double exact = 256.0 * log2((double)x);
        CHECK_QUIET(ok_libm, (double)v <= exact + 1e-9 && (double)v > exact - 1.0);
        prev = v;
    }
    for (uint32_t i = 0; i < 200000u; i++) {
        const uint32_t x = (uint32_t)(rnd64() >> (32u + (uint32_t)(rnd64() % 32u)));
        const uint32_t v = td_log2_q8(x);
        CHECK_QUIET(ok_ref, v == ref_log2_q8(x));
        if (x > 0u) {
            const double exact = 256.0 * log2((double)x);
            CHECK_QUIET(ok_libm, (double)v <= exact + 1e-9 && (double)v > exact - 1.0);
        }
    }
    /* Around every truncation boundary 2^(n + k/256): there a wrong low mantissa bit flips the last fraction bit
     * (183 inputs of 2^32 tell a lost bit 0 apart, all within 2 of a boundary; random inputs almost never meet one). */
    unsigned long near_boundary = 0;
    for (uint32_t n = 0; n < 32u; n++) {
        for (uint32_t k = 0; k < 256u; k++) {
            const double boundary = ldexp(pow(2.0, (double)k / 256.0), (int)n);
            if (boundary >= 4294967294.0) {
                continue;
            }
            const int64_t x0 = (int64_t)floor(boundary);
            for (int64_t x = x0 - 2; x <= x0 + 2; x++) {
                if (x >= 1) {
                    CHECK_QUIET(ok_ref, td_log2_q8((uint32_t)x) == ref_log2_q8((uint32_t)x));
                    near_boundary++;
                }
            }
        }
    }
    CHECK(near_boundary > 40000u);
    /* The speed build's tables (tools/gen_log2_table.py): every threshold and the mantissa below it, at every
     * exponent whose low mantissa bits it keeps, against the reference. The fraction bits are non-decreasing in the
     * mantissa, so agreeing on both sides of every threshold is agreeing everywhere. */
    for (uint32_t k = 0; k < 256u; k++) {
        const uint32_t below = td_log2_below[k];
        CHECK_QUIET(ok_ref, ref_log2_q8(below + 1u) >> 8 == 31u && (ref_log2_q8(below + 1u) & 0xFFu) == k);
        if (k > 0u) {
            CHECK_QUIET(ok_ref, (ref_log2_q8(below) & 0xFFu) == k - 1u);
        }
        for (uint32_t shift = 0; shift < 32u && ((below + 1u) & ((1u << shift) - 1u)) == 0u; shift++) {
            CHECK_QUIET(ok_ref, td_log2_q8((below + 1u) >> shift) == ref_log2_q8((below + 1u) >> shift));
        }
        CHECK_QUIET(ok_ref, td_log2_q8(below) == ref_log2_q8(below));
        CHECK_QUIET(ok_ref, td_log2_q8(below + 1u) == ref_log2_q8(below + 1u));
    }
    for (uint32_t i = 0; i < 128u; i++) {
        CHECK_QUIET(ok_ref, (ref_log2_q8(0x80000000u | (i << 24)) & 0xFFu) == td_log2_first[i]);
    }
#if TD_HOST_X86
    /* The x86-64 speed build's 512 buckets: the fraction at the start of each, and at most one step to its end. */
    for (uint32_t i = 0; i < 512u; i++) {
        const uint32_t start = ref_log2_q8(0x80000000u | (i << 22)) & 0xFFu;
        const uint32_t end = ref_log2_q8(0x80000000u | (i << 22) | 0x3FFFFFu) & 0xFFu;
        CHECK_QUIET(ok_ref, start == td_log2_first9[i] && end - start <= 1u);
    }
#endif
    for (uint32_t k = 0; k < 32u; k++) {
        CHECK_EQ(td_log2_q8(1u << k), 256u * k);
    }
    CHECK_EQ(td_log2_q8(0xFFFFFFFFu), ref_log2_q8(0xFFFFFFFFu));
    CHECK(td_log2_q8(0xFFFFFFFFu) <= 32u * 256u - 1u);
    CHECK(ok_ref);
    CHECK(ok_libm);
    CHECK(ok_monotonic);
}

static void test_monitor_reference(void)
{
    static w_spec_t s;
    static int16_t frames[64 * 6 * 12];
    static int8_t emb[12][40 * TD_MAX_DIMS];
    uint32_t n_emb[12];
    uint8_t reset_after[12];
    static td_window_result_t got[12];
    static td_window_result_t want[12];
    int ok = 1;
    uint32_t windows_checked = 0;
    unsigned long n_resets = 0;
    for (uint32_t trial = 0; trial < 1000u && ok; trial++) {
        const int ext = (int)(trial % 3u == 2u);
        random_profile(&s, ext);
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        if (!ok) {
            printf("  random profile %u rejected\n", (unsigned)trial);
            parsed_close(&p);
            break;
        }
        td_monitor_t mon;
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        memset(got, 0xA5, sizeof got); /* the monitor must write or clear every byte of a result */
        const uint32_t n_windows = (uint32_t)rnd_range(1, 12);
        const uint32_t C = s.n_channels;
        for (uint32_t w = 0; w < n_windows; w++) {
            gen_window(&s, frames + (size_t)w * s.window * C);
            n_emb[w] = ext ? (uint32_t)(rnd64() % 4u == 0u ? 0u : (uint64_t)rnd_range(1, 40)) : 0u;
            for (uint32_t e = 0; e < n_emb[w] * s.n_dims; e++) {
                emb[w][e] = (int8_t)rnd_range(-128, 127);
            }
            ref_window(&s, &rm, frames + (size_t)w * s.window * C, emb[w], n_emb[w], &want[w]);
            /* Sometimes the user acknowledges an alarm after the window. */
            reset_after[w] = want[w].alarm && rnd64() % 3u == 0u;
            if (reset_after[w]) {
                ref_reset_alarm(&rm);
                n_resets++;
            }
        }
        /* Push window by window (embeddings first, then the frames in two random pieces). */
        for (uint32_t w = 0; w < n_windows && ok; w++) {
            for (uint32_t e = 0; e < n_emb[w]; e++) {
                CHECK_QUIET(ok, td_monitor_push_embedding(&mon, emb[w] + e * s.n_dims, s.n_dims) == TD_OK);
            }
            const uint32_t cut = (uint32_t)rnd_range(0, s.window);
            const int16_t *base = frames + (size_t)w * s.window * C;
            uint32_t n_res = 99u;
            CHECK_QUIET(ok, td_monitor_push(&mon, base, cut, got + w, 1, &n_res) == TD_OK);
            CHECK_QUIET(ok, n_res == (cut == s.window ? 1u : 0u));
            if (cut < s.window) {
                CHECK_QUIET(ok, td_monitor_push(&mon, base + (size_t)cut * C, s.window - cut, got + w, 1, &n_res) ==
                                    TD_OK);
                CHECK_QUIET(ok, n_res == 1u);
            }
            CHECK_QUIET(ok, result_equal(&s, &got[w], &want[w]));
            if (!ok) {
                printf("  monitor trial %u window %u (%s, %u channels, window %u, dims %u, shift %u)\n",
                       (unsigned)trial, (unsigned)w, ext ? "external" : "pca", (unsigned)C, (unsigned)s.window,
                       (unsigned)s.n_dims, (unsigned)s.proj_shift);
            }
            windows_checked++;
            if (reset_after[w]) {
                CHECK_QUIET(ok, td_monitor_reset_alarm(&mon) == TD_OK);
            }
        }
        /* Lifetime statistics count every valid sample. */
        for (uint8_t c = 0; c < C && ok; c++) {
            td_lifetime_t life;
            uint64_t n;
            int64_t mean;
            uint64_t var;
            uint64_t expect_n = 0;
            for (uint32_t w = 0; w < n_windows; w++) {
                expect_n += s.window - want[w].channels[c].n_missing;
            }
            iwide expect_sum = 0;
            iwide expect_sumsq = 0;
            for (uint32_t w = 0; w < n_windows; w++) {
                expect_sum += want[w].channels[c].sum;
                expect_sumsq += want[w].channels[c].sumsq;
            }
            CHECK_QUIET(ok, td_monitor_lifetime(&mon, c, &life) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_get(&life, &n, &mean, &var) == TD_OK);
            CHECK_QUIET(ok, n == expect_n);
            if (expect_n > 0u) { /* at most 12 windows of 64 samples: every term fits 64 bits */
                CHECK_QUIET(ok, mean == (int64_t)ref_round_div(expect_sum * ((iwide)1 << 32), (iwide)expect_n));
                CHECK_QUIET(ok, var == ref_var_q32((int64_t)expect_sum, (int64_t)expect_sumsq, (uint32_t)expect_n));
            }
        }
        parsed_close(&p);
    }
    CHECK(ok);
    if (!ok) {
        return; /* the loop stopped early: the coverage counts below would mislead */
    }
    CHECK(windows_checked > 1000u);
    /* The random cases reached every edge the reference model distinguishes. */
    CHECK(g_cov.z_clamped > 0u);
    CHECK(g_cov.e_clamped_pca > 0u);
    /* External mode never reaches the clamp: |q - zero_point| <= 255 and scale < 2^32 keep |e| < 255 * 2^16. */
    CHECK(g_cov.e_clamped_ext == 0u);
    CHECK(g_cov.recon_clamped > 0u);
    CHECK(g_cov.recon_saturated > 0u);
    CHECK(g_cov.centroid_ties > 0u);
    CHECK(g_cov.no_valid > 0u);
    CHECK(g_cov.instant > 0u);
    CHECK(g_cov.cusum > 0u);
    CHECK(g_cov.health > 0u);
    CHECK(g_cov.stuck > 0u);
    CHECK(g_cov.missing > 0u);
    CHECK(g_cov.saturated > 0u);
    CHECK(g_cov.top_nonzero > 0u);
    CHECK(g_cov.blamed > 0u);
    CHECK(g_cov.blame_moved > 0u);
    CHECK(g_cov.blame_clamped > 0u);
    CHECK(g_cov.shifts_run_only >= 300u && g_cov.shifts_chart_only >= 300u && g_cov.shifts_both >= 300u);
    CHECK(g_cov.blame_wide_inv >= 100u);
    CHECK(g_cov.blame_len_narrow >= 100u && g_cov.blame_len_wide >= 100u);
    CHECK(g_cov.shift_clamped_pos >= 100u && g_cov.shift_clamped_neg >= 100u);
    CHECK(g_cov.root_zero >= 100u && g_cov.root_stored_differs >= 100u);
    CHECK(g_cov.chart_zero >= 100u && g_cov.chart_saturated >= 100u && g_cov.chart_ties >= 30u);
    CHECK(g_cov.chart_alarm >= 100u && g_cov.chart_alarm_outside >= 100u && g_cov.chart_alarm_named >= 30u);
    CHECK(g_cov.chart_quiet >= 100u && g_cov.chart_at_h >= 30u);
    CHECK(n_resets >= 100u);
    CHECK(g_cov.n_valid_pow2 > 0u && g_cov.n_valid_other > 0u);
    CHECK(g_cov.scaled_narrow > 0u && g_cov.scaled_wide > 0u);
    CHECK(g_cov.pca_odd_dims > 0u && g_cov.pca_tail > 0u && g_cov.pca_no_quads > 0u);
    CHECK(g_cov.shifts_quads_one_dim >= 30u && g_cov.shifts_quads_odd_dims >= 100u &&
          g_cov.shifts_quads_even_dims >= 100u);
    printf("  fitted shifts: %lu windows (run only %lu, chart only %lu, both %lu); shift >= 8 %lu; length |n| < 2^32 "
           "%lu, wider %lu, clamped +%lu -%lu; root 0 %lu, stored root not the true one %lu; deviations clamped %lu\n",
           g_cov.shifts_run_only + g_cov.shifts_chart_only + g_cov.shifts_both, g_cov.shifts_run_only,
           g_cov.shifts_chart_only, g_cov.shifts_both, g_cov.blame_wide_inv, g_cov.blame_len_narrow,
           g_cov.blame_len_wide, g_cov.shift_clamped_pos, g_cov.shift_clamped_neg, g_cov.root_zero,
           g_cov.root_stored_differs, g_cov.blame_clamped);
    printf("  fitted shifts of whole feature quads: 1 dimension %lu, odd dimensions %lu, even %lu\n",
           g_cov.shifts_quads_one_dim, g_cov.shifts_quads_odd_dims, g_cov.shifts_quads_even_dims);
    printf("  feature chart: alarms %lu (outside a run %lu, naming another channel %lu), quiet %lu; statistics at 0 "
           "%lu, at 65535 %lu; ties %lu; at h %lu; resets %lu\n", g_cov.chart_alarm, g_cov.chart_alarm_outside,
           g_cov.chart_alarm_named, g_cov.chart_quiet,
           g_cov.chart_zero, g_cov.chart_saturated, g_cov.chart_ties, g_cov.chart_at_h, n_resets);
    if (g_fail > 0u) {
        printf("  coverage: z %lu e_pca %lu e_ext %lu recon %lu recon_sat %lu ties %lu no_valid %lu inst %lu cusum %lu "
               "health %lu\n", g_cov.z_clamped, g_cov.e_clamped_pca, g_cov.e_clamped_ext, g_cov.recon_clamped,
               g_cov.recon_saturated, g_cov.centroid_ties, g_cov.no_valid, g_cov.instant, g_cov.cusum, g_cov.health);
    }
}

/* A monitor re-bound by td_monitor_init to another profile of the same shape and centroids (projection, inverse scales
 * and feature chart drawn anew) must go on exactly as the reference does from a fresh start under the second: nothing
 * of the first profile's windows (the run's attribution sums, the chart's statistics, the alarm) may carry over. Every
 * window is in the CUSUM run (k = 0); under the first profile half the monitors run a chart that only accumulates
 * (k 0, h 65535: no alarm), so statistics left over would change the second profile's chart values. */
static void test_monitor_reinit(void)
{
    static w_spec_t a;
    static w_spec_t b;
    static int16_t frames[64 * 6];
    static td_monitor_t mon; /* one object for both profiles */
    static td_window_result_t got;
    static td_window_result_t want;
    int ok = 1;
    unsigned long windows = 0;
    for (uint32_t trial = 0; trial < 300u && ok; trial++) {
        random_profile(&a, 0);
        if (a.n_centroids > 1u + trial % 2u) { /* few centroids: the next profile's windows meet the same ones */
            a.n_centroids = (uint8_t)(1u + trial % 2u);
        }
        a.cusum_k_q8 = 0u;
        a.cusum_h_q8 = 0xFFFFFFFFu;
        a.instant_q8 = 0xFFFFFFFFu;
        a.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        if (trial % 2u == 0u) {
            random_chart(&a);
            a.chart_k_q8 = 0u;
            a.chart_h_q8 = 0xFFFFu;
        }
        b = a;
        const uint32_t F = 2u * a.n_channels;
        for (uint32_t i = 0; i < (uint32_t)b.n_dims * F; i++) {
            b.proj[i] = (int8_t)rnd_range(-128, 127);
        }
        for (uint32_t i = 0; i < (uint32_t)b.n_centroids * b.n_dims; i++) {
            b.cs_inv_scale_q16[i] = (uint32_t)rnd_range(1, 1 << 24);
        }
        b.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        if (rnd64() % 4u != 0u) {
            random_chart(&b);
        }
        parsed_t pa;
        parsed_t pb;
        CHECK_QUIET(ok, parsed_open(&pa, &a));
        CHECK_QUIET(ok, parsed_open(&pb, &b));
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &pa.prof) == TD_OK);
        const uint32_t n_windows = 1u + (uint32_t)(rnd64() % 4u);
        uint32_t n_res = 0;
        for (uint32_t w = 0; w < n_windows && ok; w++) {
            gen_window(&a, frames);
            CHECK_QUIET(ok, td_monitor_push(&mon, frames, a.window, &got, 1u, &n_res) == TD_OK && n_res == 1u);
        }
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &pb.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        for (uint32_t w = 0; w < 4u && ok; w++) {
            gen_window(&b, frames);
            ref_window(&b, &rm, frames, NULL, 0u, &want);
            CHECK_QUIET(ok, td_monitor_push(&mon, frames, b.window, &got, 1u, &n_res) == TD_OK && n_res == 1u);
            CHECK_QUIET(ok, result_equal(&b, &got, &want));
            if (!ok) {
                printf("  re-bound monitor: trial %u window %u\n", (unsigned)trial, (unsigned)w);
            }
            windows++;
        }
        parsed_close(&pa);
        parsed_close(&pb);
    }
    CHECK(ok);
    CHECK(windows >= 1000u);
}

/* ---- monitor: API behaviour ---------------------------------------------------------------- */

static void test_monitor_capacity_and_chunking(void)
{
    static w_spec_t s;
    w_pca(&s, 4u);
    parsed_t p;
    CHECK(parsed_open(&p, &s));
    const uint32_t C = s.n_channels;
    const uint32_t W = s.window;
    enum { N_FRAMES = 16 * 9 + 5 };
    static int16_t frames[16 * 10 * 3];
    for (uint32_t w = 0; w < 10u; w++) {
        gen_window(&s, frames + (size_t)w * W * C);
    }
    static td_window_result_t all[16];
    static td_window_result_t one[16];
    static td_window_result_t fresh[16];
    memset(all, 0, sizeof all);
    memset(one, 0, sizeof one);
    memset(fresh, 0, sizeof fresh);

    /* All at once. */
    td_monitor_t m1;
    uint32_t n_res = 0;
    CHECK_EQ(td_monitor_init(&m1, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push(&m1, frames, N_FRAMES, all, 16, &n_res), TD_OK);
    CHECK_EQ(n_res, N_FRAMES / 16);

    /* One frame at a time. */
    td_monitor_t m2;
    CHECK_EQ(td_monitor_init(&m2, &p.prof), TD_OK);
    uint32_t total = 0;
    for (uint32_t i = 0; i < N_FRAMES; i++) {
        uint32_t k = 99u;
        if (td_monitor_push(&m2, frames + (size_t)i * C, 1, one + total, 1, &k) != TD_OK || k > 1u) {
            CHECK(0);
            break;
        }
        total += k;
    }
    CHECK_EQ(total, N_FRAMES / 16);
    CHECK(memcmp(all, one, sizeof all) == 0);
    CHECK(memcmp(&m1, &m2, sizeof m1) == 0);

    /* Capacity too small: TD_ERR_CAPACITY, nothing consumed. */
    td_monitor_t m3;
    CHECK_EQ(td_monitor_init(&m3, &p.prof), TD_OK);
    td_monitor_t before;
    memcpy(&before, &m3, sizeof before);
    static td_window_result_t junk[16];
    memset(junk, 0x3C, sizeof junk);
    n_res = 77u;
    CHECK_EQ(td_monitor_push(&m3, frames, N_FRAMES, junk, N_FRAMES / 16 - 1u, &n_res), TD_ERR_CAPACITY);
    CHECK_EQ(n_res, 0u);
    CHECK(memcmp(&before, &m3, sizeof m3) == 0);
    CHECK_EQ(td_monitor_push(&m3, frames, 16, NULL, 0, &n_res), TD_ERR_CAPACITY);
    CHECK_EQ(td_monitor_push(&m3, frames, 15, NULL, 0, &n_res), TD_OK); /* no window completes */
    CHECK_EQ(n_res, 0u);
    /* With fill 15: one more frame completes a window. */
    CHECK_EQ(td_monitor_push(&m3, frames + 15 * C, 17, junk, 1, &n_res), TD_ERR_CAPACITY); /* 15+17 = 2 windows */
    CHECK_EQ(n_res, 0u);
    {
        int untouched = 1;
        for (size_t i = 0; i < sizeof junk; i++) {
            untouched &= ((const uint8_t *)junk)[i] == 0x3Cu;
        }
        CHECK(untouched); /* a refused push writes no result */
    }
    CHECK_EQ(td_monitor_push(&m3, frames + 15 * C, N_FRAMES - 15, fresh, N_FRAMES / 16, &n_res), TD_OK);
    CHECK_EQ(n_res, N_FRAMES / 16);
    CHECK(memcmp(all, fresh, sizeof all) == 0);
    CHECK(memcmp(&m1, &m3, sizeof m1) == 0);

    /* Capacity exactly enough. */
    td_monitor_t m4;
    CHECK_EQ(td_monitor_init(&m4, &p.prof), TD_OK);
    memset(fresh, 0, sizeof fresh);
    CHECK_EQ(td_monitor_push(&m4, frames, 32, fresh, 2, &n_res), TD_OK);
    CHECK_EQ(n_res, 2u);
    CHECK(memcmp(all, fresh, 2 * sizeof all[0]) == 0);

    /* Random chunking gives the same bytes. */
    for (uint32_t t = 0; t < 20u; t++) {
        td_monitor_t m5;
        CHECK_EQ(td_monitor_init(&m5, &p.prof), TD_OK);
        memset(fresh, 0, sizeof fresh);
        uint32_t done = 0;
        uint32_t got = 0;
        int ok = 1;
        while (done < N_FRAMES) {
            uint32_t chunk = (uint32_t)rnd_range(0, 40);
            chunk = chunk < N_FRAMES - done ? chunk : N_FRAMES - done;
            uint32_t k;
            CHECK_QUIET(ok, td_monitor_push(&m5, frames + (size_t)done * C, chunk, fresh + got, 16 - got, &k) == TD_OK);
            got += k;
            done += chunk;
        }
        CHECK(ok);
        CHECK_EQ(got, N_FRAMES / 16);
        CHECK(memcmp(all, fresh, sizeof all) == 0);
    }

    /* Arguments. */
    CHECK_EQ(td_monitor_init(NULL, &p.prof), TD_ERR_ARG);
    CHECK_EQ(td_monitor_init(&m4, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(NULL, frames, 1, fresh, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, NULL, 1, fresh, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, frames, 1, NULL, 1, &n_res), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, frames, 1, fresh, 1, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push(&m4, NULL, 0, NULL, 0, &n_res), TD_OK);
    CHECK_EQ(td_monitor_reset_alarm(NULL), TD_ERR_ARG);
    td_lifetime_t life;
    CHECK_EQ(td_monitor_lifetime(&m4, 3, &life), TD_ERR_ARG);
    CHECK_EQ(td_monitor_lifetime(&m4, 2, NULL), TD_ERR_ARG);
    CHECK_EQ(td_monitor_lifetime(&m4, 2, &life), TD_OK);
    parsed_close(&p);
}

static void test_monitor_modes_and_health(void)
{
    static w_spec_t s;
    int8_t e8[TD_MAX_DIMS + 1];
    memset(e8, 1, sizeof e8);

    /* PCA mode: embeddings are refused with TD_ERR_MODE, whatever the length. */
    w_pca(&s, 4u);
    parsed_t p;
    CHECK(parsed_open(&p, &s));
    td_monitor_t mon;
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 4), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 3), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_embedding(&mon, NULL, 4), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(NULL, e8, 4), TD_ERR_ARG);

    /* Health, channel 0 has the stuck check (tolerance 2); thresholds out of reach. */
    s.cusum_h_q8 = 0xFFFFFFFFu;
    s.instant_q8 = 0xFFFFFFFFu;
    s.cusum_k_q8 = 0xFFFFFFFFu;
    parsed_close(&p);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    int16_t fr[16 * 3];
    td_window_result_t r;
    uint32_t n_res;
    /* Window 0: channel 0 varies by 2 (== tolerance): stuck. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = (int16_t)(500 + (int)(i % 3u));
        fr[i * 3 + 1] = (int16_t)(i * 10u);
        fr[i * 3 + 2] = (int16_t)(i * 100u);
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.stuck_mask, 0x1);
    CHECK_EQ(r.saturated_mask, 0);
    CHECK_EQ(r.missing_mask, 0);
    CHECK_EQ(r.trigger, TD_TRIGGER_HEALTH);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(r.cusum_q8, 0u);
    /* Window 1: channel 0 varies by 3: healthy, but the alarm stays latched. */
    fr[0] = 503;
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(r.window_index, 1u);
    /* Reset clears it. */
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 0);
    /* Exactly constant channel: stuck again. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = -7;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0x1);
    CHECK_EQ(r.channels[0].std_q8, 0);
    CHECK_EQ(r.channels[0].mean_q8, -7 * 256);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    /* Channel 2 constant, but it has no stuck check: no event. Channel 1 (sentinel -32768, max_missing 3,
     * rails +-2000, max_saturated 4): 4 missing and 5 saturated samples. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = (int16_t)(i * 50u);
        fr[i * 3 + 1] = (int16_t)(i < 4u ? -32768 : (i < 9u ? 2000 : (int)i));
        fr[i * 3 + 2] = 42;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.stuck_mask, 0);
    CHECK_EQ(r.missing_mask, 0x2);
    CHECK_EQ(r.saturated_mask, 0x2);
    CHECK_EQ(r.channels[1].n_missing, 4);
    CHECK_EQ(r.channels[1].n_saturated, 5);
    CHECK_EQ(r.channels[1].sum, 5 * 2000 + 9 + 10 + 11 + 12 + 13 + 14 + 15);
    CHECK_EQ(r.trigger, TD_TRIGGER_HEALTH);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    /* At the limits (3 missing, 4 saturated): no event. */
    fr[3 * 3 + 1] = 0;
    fr[8 * 3 + 1] = 0;
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.missing_mask, 0);
    CHECK_EQ(r.saturated_mask, 0);
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.alarm, 0);
    /* A channel whose samples are all missing: z = 0 for it, no stuck event. */
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 1] = -32768;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.channels[1].n_missing, 16);
    CHECK_EQ(r.channels[1].z_mean_q8, 0);
    CHECK_EQ(r.channels[1].z_std_q8, 0);
    CHECK_EQ(r.channels[1].min, INT16_MAX);
    CHECK_EQ(r.channels[1].max, INT16_MIN);
    CHECK_EQ(r.missing_mask, 0x2);
    parsed_close(&p);

    /* A log-std profile whose channels are all missing in a window: every z is 0, so no |z| is largest and the top
     * channel is 0 (the M4 close's pass 2 takes it from an empty key). A window before it puts channel 2 on top. */
    s.flags |= TD_PROFILE_FLAG_LOG_STD;
    for (uint32_t c = 0; c < 3u; c++) {
        s.ch[c].flags = TD_CHANNEL_FLAG_SENTINEL;
        s.ch[c].sentinel = -32768;
        s.ch[c].reserved = 1u; /* std_floor, >= 1 with log-std */
    }
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    for (uint32_t i = 0; i < 16u; i++) {
        fr[i * 3 + 0] = -700;
        fr[i * 3 + 1] = 300;
        fr[i * 3 + 2] = (int16_t)(i * 1000u);
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.top_channel, 2);
    for (uint32_t i = 0; i < 16u * 3u; i++) {
        fr[i] = -32768;
    }
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    for (uint32_t c = 0; c < 3u; c++) {
        CHECK_EQ(r.channels[c].n_missing, 16);
        CHECK_EQ(r.channels[c].z_mean_q8, 0);
        CHECK_EQ(r.channels[c].z_std_q8, 0);
    }
    CHECK_EQ(r.missing_mask, 0x7);
    CHECK_EQ(r.top_channel, 0);
    parsed_close(&p);

    /* External mode. */
    w_ext(&s);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 4), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 6), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_embedding(&mon, e8, 0), TD_ERR_ARG);
    /* Two embeddings: mean of (q - zp) = ((3+3) + (-5+3)) / 2 = 2 in dim 0 ... times scale 1/8 = 0.25 = 64 Q8. */
    const int8_t ea[5] = {3, -128, 127, 0, -3};
    const int8_t eb[5] = {-5, -128, 127, 1, -3};
    CHECK_EQ(td_monitor_push_embedding(&mon, ea, 5), TD_OK);
    CHECK_EQ(td_monitor_push_embedding(&mon, eb, 5), TD_OK);
    int16_t fx[32 * 2];
    for (uint32_t i = 0; i < 32u; i++) {
        fx[2 * i] = (int16_t)i;
        fx[2 * i + 1] = (int16_t)(i * 3u);
    }
    CHECK_EQ(td_monitor_push(&mon, fx, 32, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.n_embeddings, 2);
    CHECK_EQ(r.embedding_q8[0], 64);          /* (6 + -2)/2 = 2 -> 2/8 = 0.25 */
    CHECK_EQ(r.embedding_q8[1], -125 * 32);   /* (-128+3) / 8 * 256 */
    CHECK_EQ(r.embedding_q8[2], 130 * 32);    /* (127+3) / 8 * 256 */
    CHECK_EQ(r.embedding_q8[3], 112);         /* (3 + 4)/2 = 3.5 -> 0.4375 * 256 = 112 */
    CHECK_EQ(r.embedding_q8[4], 0);
    CHECK_EQ(r.recon_q8, 0u);
    /* Centroids -500 + 100 i: row 0 = {-500,-400,-300,-200,-100}, row 1 = {0,100,200,300,400}. */
    {
        const int64_t e[5] = {64, -4000, 4160, 112, 0};
        uint64_t d0 = 0, d1 = 0;
        for (int j = 0; j < 5; j++) {
            d0 += (uint64_t)((e[j] - (-500 + 100 * j)) * (e[j] - (-500 + 100 * j)));
            d1 += (uint64_t)((e[j] - (100 * j)) * (e[j] - (100 * j)));
        }
        const uint64_t best = d0 < d1 ? d0 : d1;
        CHECK_EQ(r.nearest, d0 <= d1 ? 0 : 1);
        CHECK_EQ(r.dist_q8, (best + 128u) >> 8);
        CHECK_EQ(r.score_q8, r.dist_q8);
    }
    /* The next window starts with no embeddings: embedding 0, dist 0. */
    CHECK_EQ(td_monitor_push(&mon, fx, 32, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_embeddings, 0);
    CHECK_EQ(r.dist_q8, 0u);
    CHECK_EQ(r.score_q8, 0u);
    CHECK_EQ(r.embedding_q8[0], 0);
    CHECK_EQ(r.window_index, 1u);
    parsed_close(&p);
}


static void test_status_strings(void)
{
    static const td_status all[] = {TD_OK, TD_ERR_ARG, TD_ERR_TRUNCATED, TD_ERR_MAGIC, TD_ERR_VERSION, TD_ERR_CRC,
                                    TD_ERR_SIZE, TD_ERR_LIMIT, TD_ERR_RANGE, TD_ERR_CAPACITY, TD_ERR_STATE,
                                    TD_ERR_MODE};
    const char *unknown = td_status_str((td_status)-99);
    CHECK(unknown != NULL && strcmp(unknown, "unknown status") == 0);
    for (uint32_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *a = td_status_str(all[i]);
        CHECK(a != NULL && a[0] != '\0' && strcmp(a, unknown) != 0);
        for (uint32_t j = 0; j < i; j++) {
            CHECK(strcmp(a, td_status_str(all[j])) != 0);
        }
    }
}


/* One generated window through the monitor and through the reference model: both results; *ok cleared (the first
 * failure printed) when the push fails or the two differ. */
static void push_window_vs_model(const w_spec_t *s, td_monitor_t *mon, ref_mon_t *rm, int16_t *frames,
                                 td_window_result_t *got, td_window_result_t *want, int *ok)
{
    gen_window(s, frames);
    ref_window(s, rm, frames, NULL, 0u, want);
    uint32_t n_res = 0u;
    CHECK_QUIET(*ok, td_monitor_push(mon, frames, s->window, got, 1, &n_res) == TD_OK && n_res == 1u);
    CHECK_QUIET(*ok, result_equal(s, got, want));
}

/* Long power-of-two windows (256, 512 and 1024 frames): the speed build computes their mean and variance with shifts,
 * and only past 256 samples does the mean's rounding term change a result (256 r / n is an integer below). Every
 * window against the reference model; some windows have missing samples (a count that is no power of two). */
static void test_monitor_long_windows(void)
{
    static w_spec_t s;
    static int16_t frames[1024 * 3];
    static const uint16_t windows[3] = {256u, 512u, 1024u};
    int ok = 1;
    uint32_t rounded_up = 0u; /* windows whose mean the rounding term moved (|sum| 256 mod n >= n / 2) */
    for (uint32_t i = 0; i < 3u && ok; i++) {
        w_pca(&s, 4u);
        s.window = windows[i];
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        td_monitor_t mon;
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &p.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        for (uint32_t w = 0; w < 40u && ok; w++) {
            td_window_result_t got;
            td_window_result_t want;
            push_window_vs_model(&s, &mon, &rm, frames, &got, &want, &ok);
            for (uint32_t c = 0; c < s.n_channels; c++) {
                const uint32_t n = s.window - want.channels[c].n_missing;
                const uint64_t mag = (uint64_t)(want.channels[c].sum < 0 ? -(int64_t)want.channels[c].sum
                                                                         : want.channels[c].sum);
                rounded_up += n > 0u && (mag * 256u) % n >= (n + 1u) / 2u;
            }
        }
        parsed_close(&p);
    }
    CHECK(ok);
    CHECK(rounded_up > 0u);
}

/* The projection alone (td_mon_embed_pca) against a plain int64 reference, at random and at its extremes: every
 * weight -128 and every z -32768 (|dot| = 2^27 with 32 features), shifts 0..24 (the speed build's four-row
 * Cortex-M4 path takes quads of features with shift >= 3; the others take the pair path). */
static void test_embed_projection(void)
{
    static int8_t proj[TD_MAX_DIMS * TD_MAX_FEATURES + 4u];
    int16_t z[TD_MAX_FEATURES];
    int32_t e[TD_MAX_DIMS + 1u];
    int ok = 1;
    unsigned long n_extreme = 0, n_quad_paths = 0;
    for (uint32_t t = 0; t < 4000u && ok; t++) {
        const uint32_t F = 2u * (uint32_t)rnd_range(1, TD_MAX_FEATURES / 2);
        const uint32_t D = (uint32_t)rnd_range(F < TD_MAX_DIMS ? F : 1, TD_MAX_DIMS);
        const uint32_t shift = (uint32_t)(t % 5u == 0u ? rnd_range(0, 4) : rnd_range(0, 24));
        const uint32_t regime = (uint32_t)(rnd64() % 4u);
        for (uint32_t i = 0; i < D * F; i++) {
            proj[i] = (int8_t)(regime == 0u ? -128 : rnd_range(-128, 127));
        }
        for (uint32_t f = 0; f < F; f++) {
            z[f] = (int16_t)(regime == 0u ? -32768 : (regime == 1u ? (rnd64() & 1u ? 32767 : -32768) : rnd_range(-32768, 32767)));
        }
        td_profile_t prof;
        memset(&prof, 0, sizeof prof);
        prof.n_features = (uint8_t)F;
        prof.n_dims = (uint8_t)D;
        prof.proj_shift = (uint8_t)shift;
        prof.projection = (const uint8_t *)proj;
        e[D] = 0x5A5A5A5A;
        (void)td_mon_embed_pca(&prof, z, e);
        n_extreme += regime == 0u;
        n_quad_paths += F % 4u == 0u && shift >= 3u && D >= 4u;
        for (uint32_t j = 0; j < D; j++) {
            int64_t dot = 0;
            for (uint32_t f = 0; f < F; f++) {
                dot += (int64_t)proj[j * F + f] * z[f];
            }
            const int64_t want = ref_clamp(shift ? ref_round_div(dot, (iwide)1 << shift) : dot, (int64_t)1 << 24);
            CHECK_QUIET(ok, e[j] == want);
        }
        CHECK_QUIET(ok, e[D] == 0x5A5A5A5A);
        if (!ok) {
            printf("  projection trial %u: %u features, %u dims, shift %u\n", (unsigned)t, (unsigned)F, (unsigned)D,
                   (unsigned)shift);
        }
    }
    CHECK(ok);
    CHECK(n_extreme > 500u && n_quad_paths > 1000u);
}

/* The window close's lifetime merge at its edges (the Cortex-M4F speed build merges in assembly, test-core-m4): each
 * channel's lifetime set to a random state near a carry out of sumsq_lo and near the TD_LIFETIME_MAX_SAMPLES cap
 * (below, at, past it), one window pushed, the state compared with td_lifetime_merge's on a copy, with the window's
 * own n_valid, sum and sumsq. Windows of 2^p frames up to 512 (the assembly's) and others. */
static void test_monitor_lifetime_edges(void)
{
    static int16_t frames[512 * TD_MAX_CHANNELS];
    int ok = 1;
    unsigned long carries = 0;
    unsigned long capped = 0;
    for (uint32_t trial = 0; trial < 400u && ok; trial++) {
        w_spec_t s;
        random_profile(&s, 0);
        s.window = (uint16_t)(trial % 4u == 3u ? rnd_range(2, 100) : 1 << rnd_range(1, 9));
        for (uint32_t c = 0; c < s.n_channels; c++) {
            s.ch[c].max_missing = s.ch[c].max_missing > s.window ? s.window : s.ch[c].max_missing;
            s.ch[c].max_saturated = s.ch[c].max_saturated > s.window ? s.window : s.ch[c].max_saturated;
        }
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        td_monitor_t mon;
        CHECK_QUIET(ok, ok && td_monitor_init(&mon, &p.prof) == TD_OK);
        if (!ok) {
            parsed_close(&p);
            break;
        }
        const uint32_t C = s.n_channels;
        td_lifetime_t before[TD_MAX_CHANNELS];
        for (uint32_t c = 0; c < C; c++) {
            td_lifetime_t *const life = &mon.life[c];
            const uint64_t cap = TD_LIFETIME_MAX_SAMPLES;
            life->n = rnd64() % 2u ? cap - (uint64_t)rnd_range(0, 2 * (int32_t)s.window) : rnd64() % cap;
            life->sum = (int64_t)(rnd64() % ((uint64_t)1 << 62)) - ((int64_t)1 << 61);
            life->sumsq_lo = rnd64() % 2u ? UINT64_MAX - (rnd64() % ((uint64_t)1 << (8u + rnd64() % 24u))) : rnd64();
            life->sumsq_hi = rnd64() % ((uint64_t)1 << 13);
            before[c] = *life;
        }
        gen_window(&s, frames);
        td_window_result_t res;
        uint32_t n_res = 0;
        CHECK_QUIET(ok, td_monitor_push(&mon, frames, s.window, &res, 1, &n_res) == TD_OK && n_res == 1u);
        for (uint32_t c = 0; c < C && ok; c++) {
            td_lifetime_t want = before[c];
            const td_channel_result_t *const ch = &res.channels[c];
            const td_status st = td_lifetime_merge(&want, s.window - ch->n_missing, ch->sum, ch->sumsq);
            CHECK_QUIET(ok, st == TD_OK || st == TD_ERR_CAPACITY);
            CHECK_QUIET(ok, memcmp(&want, &mon.life[c], sizeof want) == 0);
            capped += st == TD_ERR_CAPACITY;
            carries += st == TD_OK && want.sumsq_hi != before[c].sumsq_hi;
            if (!ok) {
                printf("  lifetime trial %u channel %u window %u\n", (unsigned)trial, (unsigned)c, (unsigned)s.window);
            }
        }
        parsed_close(&p);
    }
    CHECK(ok);
    printf("  lifetime edges: %lu carries into sumsq_hi, %lu merges past the cap\n", carries, capped);
    CHECK(carries > 100u && capped > 100u);
}

/* The close's std where the float estimate x = sqrt(d) 256 / n + 1/2 (d = n sumsq - sum^2; the x86-64 build's
 * td_mean_std_q8_x86 and its lanes in td_monitor.c) falls just below an integer that is the std: odd windows n and
 * std_q8 k with n^2 (256 k - 128)^2 = 2^32 d + e, 0 < e <= n^2 / 2, put the rounded variance V exactly on (256 k -
 * 128)^2, so std_q8 = k while floor(x) = k - 1. Accumulators set to such sums (a window of n - 1 frames, then a zero
 * frame) against td_mean_q8 and td_std_q8(td_var_q32()). */
static void test_close_std_boundaries(void)
{
    static w_spec_t s;
    int ok = 1;
    uint32_t cases = 0u;
    uint32_t below = 0u; /* cases whose float estimate floors to k - 1 */
    w_pca(&s, 4u);
    for (uint32_t n = 1023u; n >= 183u && cases < 60u && ok; n -= 2u) {
        for (uint32_t k = 1u; k <= 4096u && cases < 60u && ok; k++) {
            const uint64_t b = (uint64_t)(256u * k - 128u) * (256u * k - 128u); /* < 2^40 */
            const uint64_t nn = (uint64_t)n * n;
            /* b nn < 2^60: e = b nn mod 2^32 */
            const uint64_t e = (b * nn) & 0xFFFFFFFFu;
            if (e == 0u || e > nn / 2u) {
                continue;
            }
            const uint64_t d = (b * nn) >> 32;
            int32_t sum = -1;
            for (uint32_t t = 0; t < n; t++) {
                if ((d + (uint64_t)t * t) % n == 0u) {
                    sum = (int32_t)t;
                    break;
                }
            }
            if (sum < 0) {
                continue;
            }
            const int64_t sumsq = (int64_t)((d + (uint64_t)sum * (uint64_t)sum) / n);
            s.window = (uint16_t)n;
            parsed_t p;
            CHECK_QUIET(ok, parsed_open(&p, &s));
            td_monitor_t mon;
            CHECK_QUIET(ok, ok && td_monitor_init(&mon, &p.prof) == TD_OK);
            if (!ok) {
                break;
            }
            /* Every channel: n - 1 valid samples with these sums (the zero frame adds nothing but the count); the
             * channels apart by their sign and a swap of the two cases. */
            for (uint32_t c = 0; c < s.n_channels; c++) {
                td_window_acc_t *const acc = &mon.acc[c];
                acc->sum = c == 1u ? -sum : sum;
                acc->sumsq = sumsq;
                acc->min = -200;
                acc->max = 200;
                acc->n_samples = (uint16_t)(n - 1u);
            }
            mon.fill = (uint16_t)(n - 1u);
            static const int16_t zero[TD_MAX_CHANNELS];
            td_window_result_t res;
            uint32_t n_res = 0u;
            CHECK_QUIET(ok, td_monitor_push(&mon, zero, 1u, &res, 1u, &n_res) == TD_OK && n_res == 1u);
            for (uint32_t c = 0; c < s.n_channels && ok; c++) {
                const int32_t csum = c == 1u ? -sum : sum;
                const int32_t want_std = td_std_q8(td_var_q32(csum, sumsq, n));
                CHECK_QUIET(ok, want_std == (int32_t)k);
                CHECK_QUIET(ok, res.channels[c].std_q8 == want_std);
                CHECK_QUIET(ok, res.channels[c].mean_q8 == td_mean_q8(csum, n));
                CHECK_QUIET(ok, res.channels[c].sum == csum && res.channels[c].sumsq == sumsq);
                if (!ok) {
                    printf("  std boundary n %u k %u sum %d channel %u: std_q8 %d, want %d\n", (unsigned)n,
                           (unsigned)k, (int)csum, (unsigned)c, (int)res.channels[c].std_q8, (int)want_std);
                }
            }
            const double x = sqrt((double)d) * (256.0 / (double)n) + 0.5;
            below += (uint32_t)x < k;
            cases++;
            parsed_close(&p);
        }
    }
    CHECK(ok);
    printf("  std boundaries: %u windows, %u with the float estimate below the std\n", (unsigned)cases,
           (unsigned)below);
    CHECK(cases >= 20u && below > 0u);
}

#if TD_HOST_X86
/* The x86-64 speed build's widened projection (td_monitor_init's proj_cols and proj_pairs, read by the embedding and
 * the fitted shifts) against the profile's int8 weights entry by entry, its zero padding included, on random
 * profiles of every shape (odd dimension counts, features not a multiple of 8), after a re-bind too. */
static void test_widened_projection(void)
{
    static w_spec_t s;
    int ok = 1;
    unsigned long n_odd_dims = 0, n_part_features = 0;
    for (uint32_t trial = 0; trial < 600u && ok; trial++) {
        random_profile(&s, 0);
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        if (!ok) {
            parsed_close(&p);
            break;
        }
        static td_monitor_t mon;
        memset(&mon, 0x5A, sizeof mon); /* init must write every entry the close reads, padding included */
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        const uint32_t F = p.prof.n_features;
        const uint32_t D = p.prof.n_dims;
        const uint32_t stride = (F + 7u) & ~7u;
        n_odd_dims += D % 2u;
        n_part_features += F % 8u != 0u;
        const uint32_t col_stride = (D + 3u) & ~3u; /* proj_cols: words (int16 pairs) a feature pair */
        for (uint32_t j = 0; j < col_stride || j < (D + 1u) / 2u * 2u; j++) {
            for (uint32_t f = 0; f < stride; f++) {
                const int16_t want = j < D && f < F ? (int16_t)(int8_t)p.prof.projection[j * F + f] : 0;
                if (j < col_stride && f < (F + 1u) / 2u * 2u) {
                    CHECK_QUIET(ok, mon.proj_cols[2u * (f / 2u * col_stride + j) + f % 2u] == want);
                }
                if (j < (D + 1u) / 2u * 2u) {
                    CHECK_QUIET(ok, mon.proj_pairs[j / 2u * 2u * stride + 2u * f + j % 2u] == want);
                }
            }
        }
        if (!ok) {
            printf("  widened projection, trial %u: %u dims, %u features\n", (unsigned)trial, (unsigned)D, (unsigned)F);
        }
        parsed_close(&p);
    }
    CHECK(ok);
    CHECK(n_odd_dims > 50u && n_part_features > 50u);
}
#endif

#if TD_HOST_X86
/* The x86-64 speed build's fitted shifts take up to 16 features a pass (1 to 4 vectors of four): the random profiles
 * of test_monitor_reference have at most 12 features (one pass), so here 7..16 channels (14..32 features: a full pass
 * of 16, then 0 to 4 vectors) in PCA mode, window by window against the reference model's results. */
static void test_wide_fitted_shifts(void)
{
    static w_spec_t s;
    static int16_t frames[64 * TD_MAX_CHANNELS];
    td_window_result_t got;
    td_window_result_t want;
    int ok = 1;
    uint32_t n_windows = 0u;
    uint32_t seen_vectors = 0u; /* bit v: a second pass of v + 1 vectors */
    g_min_channels = 7u;
    g_max_channels = TD_MAX_CHANNELS;
    for (uint32_t trial = 0; trial < 300u && ok; trial++) {
        random_profile(&s, 0);
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        if (!ok) {
            parsed_close(&p);
            break;
        }
        td_monitor_t mon;
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        for (uint32_t w = 0; w < 6u && ok; w++) {
            push_window_vs_model(&s, &mon, &rm, frames, &got, &want, &ok);
            if (!ok) {
                printf("  wide fitted shifts, trial %u window %u: %u channels, %u dims\n", (unsigned)trial,
                       (unsigned)w, (unsigned)s.n_channels, (unsigned)s.n_dims);
            }
            n_windows++;
        }
        if (s.n_channels > 8u) {
            seen_vectors |= 1u << ((2u * s.n_channels - 16u + 3u) / 4u - 1u);
        }
        parsed_close(&p);
    }
    g_min_channels = 1u;
    g_max_channels = 6u;
    CHECK(ok);
    CHECK(n_windows >= 1000u && seen_vectors == 0xFu);
}
#endif

#if TD_HOST_X86
/* The x86-64 AVX2 search hands the fitted shifts each centroid's terms (td_monitor_t's nc_w) only for a window its
 * lanes searched; where an |e_j - c_kj| reaches 2^15 the C search takes the window over and the shifts compute their
 * own terms. Profiles of 8 centroids with inverse scales below 2^16 (the lanes' m il then wraps past 2^32 for a far
 * embedding: terms that must not be used), a feature chart, a full-scale projection: embeddings near and far from the
 * centroids, window by window against the reference model. */
static void test_search_hand_over(void)
{
    static w_spec_t s;
    static int16_t frames[64 * 6];
    td_window_result_t got;
    td_window_result_t want;
    int ok = 1;
    unsigned long n_far = 0, n_near = 0;
    for (uint32_t trial = 0; trial < 300u && ok; trial++) {
        random_profile(&s, 0);
        s.n_centroids = 8u;
        s.flags |= TD_PROFILE_FLAG_CENTROID_SCALES;
        for (uint32_t k = 0; k < 8u; k++) {
            s.cs_offset_q8[k] = (uint32_t)rnd_range(0, 4000);
            for (uint32_t j = 0; j < s.n_dims; j++) {
                s.centroid_q8[k * s.n_dims + j] = (int32_t)rnd_range(-20000, 20000);
                s.cs_inv_scale_q16[k * s.n_dims + j] =
                    (uint32_t)(rnd64() % 2u == 0u ? rnd_range(1 << 15, (1 << 16) - 1) : rnd_range(1 << 12, 1 << 20));
            }
        }
        if (trial % 2u == 0u) { /* far embeddings: full-scale weights, no shift */
            s.proj_shift = 0u;
            for (uint32_t i = 0; i < (uint32_t)s.n_dims * 2u * s.n_channels; i++) {
                s.proj[i] = (int8_t)((rnd64() & 1u) ? 127 : -128);
            }
        }
        random_chart(&s);
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        if (!ok) {
            parsed_close(&p);
            break;
        }
        td_monitor_t mon;
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        ref_mon_t rm;
        memset(&rm, 0, sizeof rm);
        for (uint32_t w = 0; w < 8u && ok; w++) {
            push_window_vs_model(&s, &mon, &rm, frames, &got, &want, &ok);
            int far = 0;
            for (uint32_t k = 0; k < 8u; k++) {
                for (uint32_t j = 0; j < s.n_dims; j++) {
                    const int64_t d = (int64_t)want.embedding_q8[j] - s.centroid_q8[k * s.n_dims + j];
                    far |= d >= 65536 || d <= -65536;
                }
            }
            n_far += (unsigned long)far;
            n_near += (unsigned long)!far;
            if (!ok) {
                printf("  search hand-over, trial %u window %u: %u dims%s\n", (unsigned)trial, (unsigned)w,
                       (unsigned)s.n_dims, far ? ", far" : "");
            }
        }
        parsed_close(&p);
    }
    CHECK(ok);
    printf("  search hand-over: %lu windows with every difference below 2^16, %lu with one past it\n", n_near, n_far);
    CHECK(n_far >= 500u && n_near >= 500u);
}
#endif

int main(void)
{
    test_log2_q8();
    test_embed_projection();
#if TD_HOST_X86
    test_widened_projection();
    test_wide_fitted_shifts();
    test_search_hand_over();
#endif
    test_monitor_reference();
    test_monitor_reinit();
    test_monitor_capacity_and_chunking();
    test_monitor_long_windows();
    test_close_std_boundaries();
    test_monitor_lifetime_edges();
    test_monitor_modes_and_health();
    test_status_strings();
    printf("test_monitor: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
