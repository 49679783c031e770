/* test_detector.c - the score's detector (CUSUM, instant threshold, latched alarm) and the feature
 * chart's step (td_detector.c) with the host-only alarm counters (td_calibrate.c), against 64-bit references.
 *
 * Build and run (make test-c does, under ASan/UBSan, also with TD_OPTIMIZE_SPEED=1 and TD_TEST_NARROW; make
 * test-core-m4 on a Cortex-M4):
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_detector.c csrc/src/td_*.c -o /tmp/test_detector -lm && /tmp/test_detector
 * Prints "test_detector: N passed, M failed" and exits non-zero on any failure. Shared writer and reference model:
 * td_test_model.h.
 */
#include "td_test_model.h"
#include "td_monitor_internal.h"

/* ---- detector ------------------------------------------------------------------------- */

static void test_detector(void)
{
    td_detector_t det;
    const td_detector_params_t p = {100u, 250u, 1000u};
    uint8_t trig = 0xFFu;

    CHECK_EQ(td_detector_reset(&det), TD_OK);
    /* Hand-worked CUSUM, k = 100, h = 250:
     *   score   S = max(0, S + score - k)   trigger
     *     50      0                          -
     *    200    100                          -
     *    150    150                          -
     *     40     90                          -
     *    260    250  (== h, not above)       -
     *    101    251                          CUSUM
     */
    static const uint32_t scores[6] = {50u, 200u, 150u, 40u, 260u, 101u};
    static const uint32_t expect_s[6] = {0u, 100u, 150u, 90u, 250u, 251u};
    static const uint8_t expect_t[6] = {0u, 0u, 0u, 0u, 0u, TD_TRIGGER_CUSUM};
    for (uint32_t i = 0; i < 6u; i++) {
        CHECK_EQ(td_detector_update(&det, &p, scores[i], &trig), TD_OK);
        CHECK_EQ(det.cusum_q8, expect_s[i]);
        CHECK_EQ(trig, expect_t[i]);
        CHECK_EQ(det.alarm, i == 5u ? 1 : 0);
    }
    /* Latched: low scores raise no trigger, S decays, the alarm stays. */
    CHECK_EQ(td_detector_update(&det, &p, 0u, &trig), TD_OK);
    CHECK_EQ(trig, 0);
    CHECK_EQ(det.cusum_q8, 151u);
    CHECK_EQ(det.alarm, 1);
    for (uint32_t i = 0; i < 5u; i++) {
        CHECK_EQ(td_detector_update(&det, &p, 0u, &trig), TD_OK);
    }
    CHECK_EQ(det.cusum_q8, 0u);
    CHECK_EQ(det.alarm, 1);
    CHECK_EQ(trig, 0);
    /* Reset clears both. */
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(det.alarm, 0);
    CHECK_EQ(det.cusum_q8, 0u);

    /* Instant threshold: strictly above. */
    CHECK_EQ(td_detector_update(&det, &(td_detector_params_t){100u, 5000u, 1000u}, 1000u, &trig), TD_OK);
    CHECK_EQ(trig, 0);
    CHECK_EQ(det.cusum_q8, 900u);
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &(td_detector_params_t){100u, 5000u, 1000u}, 1001u, &trig), TD_OK);
    CHECK_EQ(trig, TD_TRIGGER_INSTANT);
    CHECK_EQ(det.alarm, 1);
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &p, 1001u, &trig), TD_OK); /* S = 901 > 250 as well */
    CHECK_EQ(trig, TD_TRIGGER_INSTANT | TD_TRIGGER_CUSUM);

    /* Saturation at UINT32_MAX. */
    const td_detector_params_t zero_k = {0u, 0xFFFFFFFFu, 0xFFFFFFFFu};
    CHECK_EQ(td_detector_reset(&det), TD_OK);
    CHECK_EQ(td_detector_update(&det, &zero_k, 0xFFFFFFF0u, &trig), TD_OK);
    CHECK_EQ(td_detector_update(&det, &zero_k, 0xFFFFFFF0u, &trig), TD_OK);
    CHECK_EQ(det.cusum_q8, 0xFFFFFFFFu);
    CHECK_EQ(trig, 0); /* S == h, not above; score == instant, not above */
    const td_detector_params_t big_k = {0xFFFFFFFFu, 0u, 0xFFFFFFFFu};
    CHECK_EQ(td_detector_update(&det, &big_k, 5u, &trig), TD_OK); /* S + 5 - k = 5 */
    CHECK_EQ(det.cusum_q8, 5u);
    CHECK_EQ(trig, TD_TRIGGER_CUSUM);

    /* count_alarms resets S after each trigger. With k = 100, h = 250:
     * 200 -> 100, 200 -> 200, 200 -> 300 alarm (S := 0), 200 -> 100, 200 -> 200: one alarm.
     * Without the reset the fourth score would have triggered again (S = 400). */
    const uint32_t seq[5] = {200u, 200u, 200u, 200u, 200u};
    uint32_t n_alarms = 99u;
    CHECK_EQ(td_detector_count_alarms(&p, seq, 5u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    const uint32_t seq2[7] = {200u, 200u, 200u, 200u, 200u, 200u, 2000u};
    CHECK_EQ(td_detector_count_alarms(&p, seq2, 7u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 3u); /* at 3, 6 and the instant at 7 */
    CHECK_EQ(td_detector_count_alarms(&p, NULL, 0u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);

    /* Random streams against a reference that resets after each trigger. */
    int ok = 1;
    static uint32_t rs[2000];
    for (uint32_t t = 0; t < 200u; t++) {
        td_detector_params_t rp;
        rp.k_q8 = (uint32_t)rnd_range(0, 2000);
        rp.h_q8 = (uint32_t)rnd_range(0, 20000);
        rp.instant_q8 = (uint32_t)rnd_range(0, 5000);
        const uint32_t n = (uint32_t)rnd_range(0, 2000);
        for (uint32_t i = 0; i < n; i++) {
            rs[i] = (uint32_t)(rnd64() % 8u == 0u ? rnd64() : (uint64_t)rnd_range(0, 3000));
        }
        uint64_t s = 0;
        uint32_t alarms = 0;
        for (uint32_t i = 0; i < n; i++) {
            s = s + rs[i] > rp.k_q8 ? s + rs[i] - rp.k_q8 : 0u;
            s = s > 0xFFFFFFFFu ? 0xFFFFFFFFu : s;
            if (rs[i] > rp.instant_q8 || s > rp.h_q8) {
                alarms++;
                s = 0;
            }
        }
        CHECK_QUIET(ok, td_detector_count_alarms(&rp, rs, n, &n_alarms) == TD_OK);
        CHECK_QUIET(ok, n_alarms == alarms);
    }
    CHECK(ok);

    CHECK_EQ(td_detector_reset(NULL), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(NULL, &p, 1u, &trig), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(&det, NULL, 1u, &trig), TD_ERR_ARG);
    CHECK_EQ(td_detector_update(&det, &p, 1u, NULL), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(NULL, seq, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(&p, NULL, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_detector_count_alarms(&p, seq, 1u, NULL), TD_ERR_ARG);
}

/* ---- feature chart ------------------------------------------------------------------------ */

/* Reference chart step in 64 bits: statistic 2f moves by +shift - k, 2f + 1 by -shift - k, each clamped to 0 .. 65535;
 * returns the first index holding the largest value. */
static uint32_t ref_chart_step(int64_t *stats, const int16_t *shift, uint32_t n_features, int64_t k)
{
    for (uint32_t f = 0; f < n_features; f++) {
        for (uint32_t dir = 0; dir < 2u; dir++) {
            int64_t v = stats[2u * f + dir] + (dir == 0u ? shift[f] : -(int64_t)shift[f]) - k;
            v = v < 0 ? 0 : v;
            stats[2u * f + dir] = v > 65535 ? 65535 : v;
        }
    }
    int64_t best = -1;
    uint32_t top = 0u;
    for (uint32_t i = 2u * n_features; i-- > 0u;) {
        if (stats[i] >= best) {
            best = stats[i];
            top = i;
        }
    }
    return top;
}

static void test_feature_chart(void)
{
    /* Hand-worked, k = 10, two features:
     *   shifts      up0  down0  up1  down1   top
     *   (50, -30)    40     0     0    20     0
     *   (-5, -30)    25     0     0    40     3
     *   (0, 50)      15     0    40     0     2  (40 twice: lowest index)
     *   (32767, -32768)  32772  0  0  32758   0
     *   (32767, -32768)  65529  0  0  65516   0
     *   (32767, -32768)  65535  0  0  65535   0  (both saturated: lowest index)
     */
    uint16_t st[2u * TD_MAX_FEATURES + 2u];
    memset(st, 0, sizeof st);
    st[4] = 0xBEEFu; /* beyond the two features: untouched */
    static const int16_t sh[6][2] = {{50, -30}, {-5, -30}, {0, 50}, {32767, -32768}, {32767, -32768}, {32767, -32768}};
    static const uint16_t want[6][4] = {{40, 0, 0, 20},        {25, 0, 0, 40},        {15, 0, 40, 0},
                                        {32772, 0, 0, 32758}, {65529, 0, 0, 65516}, {65535, 0, 0, 65535}};
    static const uint32_t want_top[6] = {0u, 3u, 2u, 0u, 0u, 0u};
    for (uint32_t t = 0; t < 6u; t++) {
        CHECK_EQ(td_chart_step(st, sh[t], 2u, 10u), want_top[t]);
        for (uint32_t i = 0; i < 4u; i++) {
            CHECK_EQ(st[i], want[t][i]);
        }
        CHECK_EQ(st[4], 0xBEEFu);
    }
    /* k = 65535 empties every statistic in one step; all equal: index 0. No features: index 0, nothing written. */
    static const int16_t no_shift[2] = {0, 0};
    CHECK_EQ(td_chart_step(st, no_shift, 2u, 65535u), 0u);
    CHECK(st[0] == 0u && st[1] == 0u && st[2] == 0u && st[3] == 0u);
    st[0] = 7u;
    CHECK_EQ(td_chart_step(st, sh[0], 0u, 0u), 0u);
    CHECK_EQ(st[0], 7u);

    /* Random statistics (both ends often), shifts and k against the reference. */
    int ok = 1;
    unsigned long n_zero = 0, n_sat = 0, n_ties = 0;
    for (uint32_t t = 0; t < 20000u && ok; t++) {
        const uint32_t F = (uint32_t)rnd_range(1, TD_MAX_FEATURES);
        int16_t shift[TD_MAX_FEATURES];
        int64_t ref[2u * TD_MAX_FEATURES];
        const uint32_t regime = (uint32_t)(rnd64() % 4u);
        for (uint32_t i = 0; i < 2u * F; i++) {
            const uint32_t pick = (uint32_t)(rnd64() % 4u);
            st[i] = (uint16_t)(pick == 0u ? 0u : (pick == 1u ? 65535u : (uint64_t)rnd_range(0, 65535)));
            if (regime == 3u) { /* few distinct values: ties */
                st[i] = (uint16_t)(rnd64() % 3u * 1000u);
            }
            ref[i] = st[i];
        }
        st[2u * F] = 0x5A5Au;
        for (uint32_t f = 0; f < F; f++) {
            shift[f] = (int16_t)(regime == 0u ? rnd_range(-32768, 32767) : rnd_range(-2000, 2000));
        }
        const uint32_t k = (uint32_t)(regime == 1u ? rnd_range(0, 65535) : rnd_range(0, 500));
#if TD_OPTIMIZE_SPEED
        /* The speed build's form (USUB16/SEL maximum on the Cortex-M4): the same statistics, their maximum, and the
         * lowest index holding it. */
        uint16_t st2[2u * TD_MAX_FEATURES + 2u];
        memcpy(st2, st, sizeof st2);
        const uint32_t best = td_chart_update(st2, shift, F, k);
#endif
        const uint32_t top = td_chart_step(st, shift, F, k);
        const uint32_t want_i = ref_chart_step(ref, shift, F, k);
        CHECK_QUIET(ok, top == want_i);
#if TD_OPTIMIZE_SPEED
        CHECK_QUIET(ok, memcmp(st2, st, sizeof st2) == 0);
        CHECK_QUIET(ok, best == ref[want_i]);
        CHECK_QUIET(ok, td_chart_top(st2, F, best) == want_i);
#endif
        for (uint32_t i = 0; i < 2u * F; i++) {
            CHECK_QUIET(ok, st[i] == ref[i]);
            n_zero += ref[i] == 0;
            n_sat += ref[i] == 65535;
            n_ties += i != want_i && ref[i] == ref[want_i];
        }
        CHECK_QUIET(ok, st[2u * F] == 0x5A5Au);
        if (!ok) {
            printf("  chart step trial %u: %u features, k %u\n", (unsigned)t, (unsigned)F, (unsigned)k);
        }
    }
    CHECK(ok);
    CHECK(n_zero > 1000u && n_sat > 1000u && n_ties > 1000u);

    /* Alarm counter. k = 0, h = 100, one feature at 60 a window: 60, 120 alarm (reset), 60, 120 alarm: two alarms in
     * four windows (without the reset, three). A downward shift counts as well. */
    uint32_t n_alarms = 99u;
    const int16_t up4[4] = {60, 60, 60, 60};
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 4u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 2u);
    const int16_t down4[4] = {-60, -60, -60, -60};
    CHECK_EQ(td_chart_count_alarms(0u, 100u, down4, 4u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 2u);
    CHECK_EQ(td_chart_count_alarms(0u, 120u, up4, 4u, 1u, &n_alarms), TD_OK); /* 120 == h is not above */
    CHECK_EQ(n_alarms, 1u);
    /* Two features, rows (60, -50), (0, -50): the first feature's up 60, 60; the second's down 50, 100 > 90. The reset
     * after it clears the first feature too: the next rows (60, 0), (0, 0) give 60, 60 and no alarm. */
    const int16_t two[8] = {60, -50, 0, -50, 60, 0, 0, 0};
    CHECK_EQ(td_chart_count_alarms(0u, 90u, two, 4u, 2u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    CHECK_EQ(td_chart_count_alarms(0u, 59u, two, 4u, 2u, &n_alarms), TD_OK); /* 60 > 59 at rows 0, 2 (reset at 0) */
    CHECK_EQ(n_alarms, 2u);
    const int16_t full[3] = {32767, 32767, 32767}; /* 32767, 65534, 65535 (saturated) */
    CHECK_EQ(td_chart_count_alarms(0u, 65535u, full, 3u, 1u, &n_alarms), TD_OK); /* saturates at h: never above */
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(0u, 65534u, full, 2u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(0u, 65534u, full, 3u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 1u);
    CHECK_EQ(td_chart_count_alarms(0u, 0xFFFFFFFFu, full, 3u, 1u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    CHECK_EQ(td_chart_count_alarms(65535u, 0u, full, 3u, 1u, &n_alarms), TD_OK); /* k = 65535: allowed, all 0 */
    CHECK_EQ(n_alarms, 0u);
    n_alarms = 99u;
    CHECK_EQ(td_chart_count_alarms(0u, 0u, NULL, 0u, 2u, &n_alarms), TD_OK);
    CHECK_EQ(n_alarms, 0u);
    n_alarms = 99u;
    CHECK_EQ(td_chart_count_alarms(0u, 0u, up4, 4u, 0u, &n_alarms), TD_OK); /* no features: nothing to alarm on */
    CHECK_EQ(n_alarms, 0u);
    /* Errors. */
    CHECK_EQ(td_chart_count_alarms(65536u, 100u, up4, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0xFFFFFFFFu, 100u, up4, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, NULL, 4u, 1u, &n_alarms), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 4u, 1u, NULL), TD_ERR_ARG);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 1u, TD_MAX_FEATURES + 1u, &n_alarms), TD_ERR_LIMIT);
    CHECK_EQ(td_chart_count_alarms(0u, 100u, up4, 0u, 0xFFFFFFFFu, &n_alarms), TD_ERR_LIMIT);

    /* Random streams against the reference, resetting every statistic after each alarm. */
    static int16_t rows[600 * TD_MAX_FEATURES];
    unsigned long total_alarms = 0, quiet_streams = 0;
    for (uint32_t t = 0; t < 300u && ok; t++) {
        const uint32_t F = (uint32_t)rnd_range(1, TD_MAX_FEATURES);
        const uint32_t n = (uint32_t)rnd_range(0, 600);
        const int64_t drift = rnd_range(-300, 300);
        const uint32_t spread = (uint32_t)(rnd64() % 8u == 0u ? 32767 : rnd_range(0, 2000));
        for (uint32_t i = 0; i < n * F; i++) {
            const int64_t v = drift + rnd_range(-(int64_t)spread, spread);
            rows[i] = (int16_t)(v > 32767 ? 32767 : (v < -32767 ? -32767 : v));
        }
        const uint32_t k = (uint32_t)rnd_range(0, rnd64() % 4u == 0u ? 65535 : 1000);
        const uint32_t h = (uint32_t)rnd_range(0, rnd64() % 4u == 0u ? 70000 : 20000);
        int64_t ref[2u * TD_MAX_FEATURES];
        memset(ref, 0, sizeof ref);
        uint32_t alarms = 0u;
        for (uint32_t i = 0; i < n; i++) {
            const uint32_t top = ref_chart_step(ref, rows + (size_t)i * F, F, k);
            if (ref[top] > (int64_t)h) {
                alarms++;
                memset(ref, 0, sizeof ref);
            }
        }
        CHECK_QUIET(ok, td_chart_count_alarms(k, h, rows, n, F, &n_alarms) == TD_OK);
        CHECK_QUIET(ok, n_alarms == alarms);
        total_alarms += alarms;
        quiet_streams += n > 100u && alarms == 0u;
    }
    CHECK(ok);
    CHECK(total_alarms > 1000u && quiet_streams > 10u);
    printf("  chart step: statistics at 0 %lu, at 65535 %lu, tied with the top %lu; alarm counter: %lu alarms, %lu quiet "
           "streams\n", n_zero, n_sat, n_ties, total_alarms, quiet_streams);
}


int main(void)
{
    test_detector();
    test_feature_chart();
    printf("test_detector: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
