/* test_outputs.c - the monitor's model-output monitoring (td_outputs.c, td_monitor_push_outputs /
 * push_label, DDM) against a reference, and its API's errors.
 *
 * Build and run (make test-c does, under ASan/UBSan, also with TD_OPTIMIZE_SPEED=1 and TD_TEST_NARROW; make
 * test-core-m4 on a Cortex-M4):
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_outputs.c csrc/src/td_*.c -o /tmp/test_outputs -lm && /tmp/test_outputs
 * Prints "test_outputs: N passed, M failed" and exits non-zero on any failure. Shared writer and reference model:
 * td_test_model.h.
 */
#include "td_test_model.h"

/* ---- monitor: model outputs ----------------------------------------------------------------- */

/* Random int8 class probabilities: mostly a confident class, sometimes flat, ties included. */
static void random_probs(int8_t *probs, uint32_t n_classes)
{
    const uint32_t mode = (uint32_t)(rnd64() % 4u);
    for (uint32_t c = 0; c < n_classes; c++) {
        probs[c] = (int8_t)(mode == 0u ? rnd_range(-128, 127) : rnd_range(-128, -100));
    }
    if (mode == 1u) {
        probs[rnd64() % n_classes] = (int8_t)rnd_range(0, 127);
    } else if (mode == 2u) {
        probs[0] = probs[n_classes - 1u] = 50; /* a tie: the lower index wins */
    }
}

/* What the monitor must report, driven directly through td_outputs and td_ddm. */
typedef struct {
    td_outputs_acc_t acc;
    td_ddm_t ddm;
    uint8_t worst;
    uint32_t n_labels, n_correct;
} ref_outputs_t;

static void test_monitor_outputs_reference(void)
{
    static w_spec_t with;
    static w_spec_t without;
    static int16_t frames[40 * 3];
    static uint8_t predicted_of[100000];
    static uint8_t labelled[100000];
    int ok = 1;
    unsigned long n_windows = 0, n_labels = 0, n_drift_windows = 0, n_warning_windows = 0, n_bad = 0;
    for (uint32_t trial = 0; trial < 24u && ok; trial++) {
        const uint8_t n_classes = (uint8_t)rnd_range(2, TD_MAX_CLASSES);
        const uint8_t n_bins = (uint8_t)rnd_range(1, TD_MAX_CONFIDENCE_BINS);
        w_pca(&with, 3u);
        with.window = (uint16_t)rnd_range(4, 40);
        for (uint32_t c = 0; c < 3u; c++) { /* only CONCEPT can alarm: no health events, thresholds out of reach */
            with.ch[c].flags &= (uint16_t)~TD_CHANNEL_FLAG_STUCK_CHECK;
            with.ch[c].max_missing = with.ch[c].max_saturated = with.window;
        }
        with.cusum_h_q8 = with.instant_q8 = with.cusum_k_q8 = 0xFFFFFFFFu;
        without = with;
        w_outputs(&with, n_classes, n_bins);
        with.out_scale_q24 = (uint32_t)rnd_range(1 << 14, 1 << 17);
        with.out_zero_point = (int32_t)rnd_range(-128, 0);
        for (uint32_t k = 0; k < n_bins; k++) {
            with.out_accuracy_q16[k] = (uint32_t)rnd_range(0, 65536);
        }
        parsed_t pw, po;
        CHECK_QUIET(ok, parsed_open(&pw, &with));
        CHECK_QUIET(ok, parsed_open(&po, &without));
        td_outputs_config_t cfg;
        CHECK_QUIET(ok, td_profile_outputs(&pw.prof, &cfg) == TD_OK);
        td_monitor_t mon, plain;
        CHECK_QUIET(ok, td_monitor_init(&mon, &pw.prof) == TD_OK);
        CHECK_QUIET(ok, td_monitor_init(&plain, &po.prof) == TD_OK);
        ref_outputs_t ref;
        CHECK_QUIET(ok, td_outputs_reset(&ref.acc) == TD_OK && td_ddm_init(&ref.ddm) == TD_OK);
        ref.worst = TD_DDM_OK;
        ref.n_labels = ref.n_correct = 0u;
        uint8_t alarm = 0u;
        uint32_t seq = 0u;
        /* Labels agree with the predictions at first (90 %), then mostly not: DDM must see concept drift. */
        const uint32_t switch_at = (uint32_t)rnd_range(150, 600);
        const uint32_t windows = 120u;
        for (uint32_t w = 0; w < windows && ok; w++) {
            gen_window(&with, frames);
            const uint32_t n_inf = rnd64() % 6u == 0u ? 0u : (uint32_t)rnd_range(1, 30);
            uint32_t fed = 0u;
            const uint32_t cut = (uint32_t)rnd_range(0, with.window - 1u);
            td_window_result_t got, want_plain;
            uint32_t n_res = 0u, n_plain = 0u;
            /* Frames in three pieces (the last frame alone closes the window), outputs and labels before each. */
            for (uint32_t piece = 0; piece < 3u && ok; piece++) {
                const uint32_t k = piece == 2u ? n_inf - fed : (uint32_t)rnd_range(0, n_inf - fed);
                for (uint32_t i = 0; i < k; i++) {
                    int8_t probs[TD_MAX_CLASSES];
                    uint8_t pred;
                    uint32_t got_seq = 0xDEADu;
                    random_probs(probs, n_classes);
                    CHECK_QUIET(ok, td_outputs_push(&ref.acc, &cfg, probs, n_classes, &pred) == TD_OK);
                    CHECK_QUIET(ok, td_monitor_push_outputs(&mon, probs, n_classes, &got_seq) == TD_OK);
                    CHECK_QUIET(ok, got_seq == seq);
                    predicted_of[seq] = pred;
                    labelled[seq] = 0u;
                    seq++;
                    /* Label a random recent inference (sometimes an invalid one). */
                    if (rnd64() % 8u != 0u) {
                        const uint32_t back = (uint32_t)(rnd64() % 10u == 0u ? rnd_range(0, 80) : rnd_range(1, 8));
                        const uint32_t target = seq - back;
                        uint8_t label;
                        const uint32_t done = seq > switch_at ? seq - switch_at : 0u;
                        if (target < 100000u && (done == 0u ? rnd64() % 10u != 0u : rnd64() % 2u == 0u)) {
                            label = predicted_of[target];
                        } else {
                            label = (uint8_t)(rnd64() % n_classes);
                        }
                        if (rnd64() % 50u == 0u) {
                            label = (uint8_t)(n_classes + rnd64() % 3u);
                        }
                        const td_status st = td_monitor_push_label(&mon, target, label);
                        td_status expect;
                        if (back == 0u || back > TD_MAX_PENDING_PREDICTIONS || back > seq) {
                            expect = TD_ERR_RANGE;
                        } else if (label >= n_classes) {
                            expect = TD_ERR_ARG;
                        } else if (labelled[target]) {
                            expect = TD_ERR_STATE;
                        } else {
                            expect = TD_OK;
                        }
                        CHECK_QUIET(ok, st == expect);
                        if (expect == TD_OK) {
                            uint8_t verdict;
                            const uint8_t correct = predicted_of[target] == label ? 1u : 0u;
                            CHECK_QUIET(ok, td_ddm_update(&ref.ddm, correct, &verdict) == TD_OK);
                            ref.worst = verdict > ref.worst ? verdict : ref.worst;
                            ref.n_labels++;
                            ref.n_correct += correct;
                            labelled[target] = 1u;
                            n_labels++;
                        } else {
                            n_bad++;
                        }
                    }
                }
                fed += k;
                const uint32_t from = piece == 0u ? 0u : (piece == 1u ? cut : with.window - 1u);
                const uint32_t to = piece == 0u ? cut : (piece == 1u ? with.window - 1u : with.window);
                CHECK_QUIET(ok, td_monitor_push(&mon, frames + (size_t)from * 3u, to - from, &got, 1, &n_res) == TD_OK);
                CHECK_QUIET(ok, n_res == (piece == 2u ? 1u : 0u));
            }
            CHECK_QUIET(ok, td_monitor_push(&plain, frames, with.window, &want_plain, 1, &n_plain) == TD_OK);
            CHECK_QUIET(ok, n_plain == 1u);
            /* The outputs fields equal td_outputs / td_ddm driven directly. */
            td_outputs_summary_t sum;
            CHECK_QUIET(ok, td_outputs_summary(&ref.acc, &cfg, &sum) == TD_OK);
            CHECK_QUIET(ok, got.n_inferences == sum.count && sum.count == n_inf);
            CHECK_QUIET(ok, got.top_class == sum.top_class);
            CHECK_QUIET(ok, got.mean_confidence_q16 == sum.mean_confidence_q16);
            CHECK_QUIET(ok, got.estimated_accuracy_q16 == sum.estimated_accuracy_q16);
            CHECK_QUIET(ok, got.prior_shift_q16 == sum.prior_shift_q16);
            CHECK_QUIET(ok, got.ddm_state == ref.worst);
            CHECK_QUIET(ok, got.n_labels == ref.n_labels && got.n_correct == ref.n_correct);
            CHECK_QUIET(ok, got.accuracy_q16 == td_ddm_accuracy_q16(&ref.ddm));
            const uint8_t concept = ref.worst == TD_DDM_DRIFT ? TD_TRIGGER_CONCEPT : 0u;
            alarm |= concept ? 1u : 0u;
            CHECK_QUIET(ok, got.trigger == concept);
            CHECK_QUIET(ok, got.alarm == alarm);
            n_drift_windows += concept ? 1u : 0u;
            n_warning_windows += ref.worst == TD_DDM_WARNING ? 1u : 0u;
            /* Everything else equals a monitor on the same profile without the outputs section. */
            want_plain.n_inferences = got.n_inferences;
            want_plain.top_class = got.top_class;
            want_plain.ddm_state = got.ddm_state;
            want_plain.mean_confidence_q16 = got.mean_confidence_q16;
            want_plain.estimated_accuracy_q16 = got.estimated_accuracy_q16;
            want_plain.prior_shift_q16 = got.prior_shift_q16;
            want_plain.n_labels = got.n_labels;
            want_plain.n_correct = got.n_correct;
            want_plain.accuracy_q16 = got.accuracy_q16;
            want_plain.trigger |= concept;
            want_plain.alarm = alarm;
            CHECK_QUIET(ok, result_equal(&with, &got, &want_plain));
            if (!ok) {
                printf("  outputs trial %u window %u (%u classes, %u bins)\n", (unsigned)trial, (unsigned)w,
                       (unsigned)n_classes, (unsigned)n_bins);
            }
            CHECK_QUIET(ok, td_outputs_reset(&ref.acc) == TD_OK);
            ref.worst = TD_DDM_OK;
            ref.n_labels = ref.n_correct = 0u;
            n_windows++;
            if (trial % 2u == 1u && alarm && rnd64() % 4u == 0u) {
                CHECK_QUIET(ok, td_monitor_reset_alarm(&mon) == TD_OK);
                alarm = 0u;
            }
        }
        parsed_close(&pw);
        parsed_close(&po);
    }
    CHECK(ok);
    CHECK(n_windows == 24u * 120u);
    CHECK(n_labels > 10000u);
    CHECK(n_bad > 100u);
    CHECK(n_drift_windows >= 24u); /* every trial's switch is detected */
    CHECK(n_warning_windows > 0u);
}

static void test_monitor_outputs_api(void)
{
    static w_spec_t s;
    parsed_t p;
    td_monitor_t mon;
    td_window_result_t r;
    uint32_t n_res;
    uint32_t seq = 0xDEADu;
    int8_t probs[TD_MAX_CLASSES + 1];
    memset(probs, 0, sizeof probs);
    int16_t fr[16 * 3];
    for (uint32_t i = 0; i < 16u * 3u; i++) {
        fr[i] = (int16_t)(i * 37u % 101u);
    }

    /* Without an outputs section: TD_ERR_MODE, and the result's outputs fields are all zero. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 2, &seq), TD_ERR_MODE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 0), TD_ERR_MODE);
    CHECK_EQ(seq, 0xDEADu);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 0);
    CHECK_EQ(r.accuracy_q16, 0u);
    CHECK_EQ(r.ddm_state, 0);
    CHECK_EQ(r.trigger, 0);
    parsed_close(&p);

    /* Hand-worked window: 3 classes, 4 bins with accuracies 0.1, 0.2, 0.6, 0.9; scale 1/256, zero point -128. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    w_outputs(&s, 3u, 4u);
    s.out_prior_q16[0] = 32768u; /* 0.5, 0.25, 0.25 */
    s.out_prior_q16[1] = 16384u;
    s.out_prior_q16[2] = 16384u;
    s.out_accuracy_q16[0] = 6554u;
    s.out_accuracy_q16[1] = 13107u;
    s.out_accuracy_q16[2] = 39322u;
    s.out_accuracy_q16[3] = 58982u;
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    CHECK_EQ(td_monitor_push_outputs(NULL, probs, 3, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, NULL, 3, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 2, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 4, &seq), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(NULL, 0, 0), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 0), TD_ERR_RANGE); /* nothing pushed yet */
    CHECK_EQ(seq, 0xDEADu);
    /* Inference 0: class 1 with p = (64+128)/256 = 0.75 -> bin 3 (0.9). Inference 1: class 2 with
     * p = (0+128)/256 = 0.5 -> bin 2 (0.6). Inference 2: a tie between 0 and 2 at p = 0.25 -> class 0, bin 1 (0.2). */
    const int8_t a[3] = {-96, 64, -96};
    const int8_t b[3] = {-64, -64, 0};
    const int8_t c[3] = {-64, -128, -64};
    CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0u);
    CHECK_EQ(td_monitor_push_outputs(&mon, b, 3, &seq), TD_OK);
    CHECK_EQ(seq, 1u);
    CHECK_EQ(td_monitor_push_outputs(&mon, c, 3, NULL), TD_OK); /* the number is optional */
    CHECK_EQ(td_monitor_push_label(&mon, 3, 0), TD_ERR_RANGE);   /* the future */
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFFu, 0), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 3), TD_ERR_ARG);     /* label >= n_classes */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 255), TD_ERR_ARG);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_OK);          /* right */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_ERR_STATE);   /* once only */
    CHECK_EQ(td_monitor_push_label(&mon, 0, 2), TD_ERR_STATE);
    CHECK_EQ(td_monitor_push_label(&mon, 2, 2), TD_OK);          /* wrong */
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(n_res, 1u);
    CHECK_EQ(r.n_inferences, 3);
    CHECK_EQ(r.top_class, 0); /* one each: the lowest index */
    CHECK_EQ(r.mean_confidence_q16, (49152u + 32768u + 16384u + 1u) / 3u);
    CHECK_EQ(r.estimated_accuracy_q16, (58982u + 39322u + 13107u + 1u) / 3u);
    /* TV distance: (|1/3 - 1/2| + |1/3 - 1/4| + |1/3 - 1/4|) / 2 = 1/6 -> round(65536 / 6) = 10923. */
    CHECK_EQ(r.prior_shift_q16, 10923u);
    CHECK_EQ(r.n_labels, 2);
    CHECK_EQ(r.n_correct, 1);
    CHECK_EQ(r.accuracy_q16, 32768u);
    CHECK_EQ(r.ddm_state, TD_DDM_OK);
    CHECK_EQ(r.trigger, 0);
    /* Late label for inference 1 (of the previous window): counts in this window; the window is otherwise empty. */
    CHECK_EQ(td_monitor_push_label(&mon, 1, 2), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 0);
    CHECK_EQ(r.mean_confidence_q16, 0u);
    CHECK_EQ(r.n_labels, 1);
    CHECK_EQ(r.n_correct, 1);
    CHECK_EQ(r.accuracy_q16, 43691u); /* 2 of 3 */

    /* The ring: the last TD_MAX_PENDING_PREDICTIONS inferences can be labelled, older ones cannot. */
    for (uint32_t i = 0; i < TD_MAX_PENDING_PREDICTIONS + 5u; i++) {
        CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    }
    CHECK_EQ(seq, 3u + TD_MAX_PENDING_PREDICTIONS + 4u);
    CHECK_EQ(td_monitor_push_label(&mon, seq - TD_MAX_PENDING_PREDICTIONS, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, 0, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push_label(&mon, seq - TD_MAX_PENDING_PREDICTIONS + 1u, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, seq, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, seq + 1u, 1), TD_ERR_RANGE);
    /* The counter wraps at 2^32 and the ring keeps working across it. */
    mon.out.seq = 0xFFFFFFFEu;
    CHECK_EQ(td_monitor_push_outputs(&mon, a, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0xFFFFFFFEu);
    CHECK_EQ(td_monitor_push_outputs(&mon, b, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0xFFFFFFFFu);
    CHECK_EQ(td_monitor_push_outputs(&mon, c, 3, &seq), TD_OK);
    CHECK_EQ(seq, 0u);
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFEu, 1), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 0xFFFFFFFFu, 2), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 0u, 0), TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, 1u, 0), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, TD_MAX_PENDING_PREDICTIONS + 5u + 3u);
    CHECK_EQ(r.n_labels, 5);
    CHECK_EQ(r.n_correct, 5);
    parsed_close(&p);

    /* CONCEPT latches the alarm like health; reset clears it. */
    w_pca(&s, 4u);
    s.cusum_h_q8 = s.instant_q8 = s.cusum_k_q8 = 0xFFFFFFFFu;
    w_outputs(&s, 2u, 1u);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    const int8_t yes[2] = {-128, 127};
    uint32_t labels_fed = 0;
    uint32_t drift_window = 0xFFFFFFFFu;
    for (uint32_t w = 0; w < 40u && drift_window == 0xFFFFFFFFu; w++) {
        for (uint32_t i = 0; i < 20u; i++) {
            CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_OK);
            /* 300 labels with 2 % errors, then only errors. */
            const uint8_t right = labels_fed < 300u ? (uint8_t)(labels_fed % 50u != 7u) : 0u;
            CHECK_EQ(td_monitor_push_label(&mon, seq, right ? 1u : 0u), TD_OK);
            labels_fed++;
        }
        CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
        if (r.trigger & TD_TRIGGER_CONCEPT) {
            drift_window = w;
            CHECK_EQ(r.ddm_state, TD_DDM_DRIFT);
            CHECK_EQ(r.trigger, TD_TRIGGER_CONCEPT);
            CHECK_EQ(r.alarm, 1);
        } else {
            CHECK_EQ(r.alarm, 0);
        }
    }
    CHECK(drift_window >= 15u && drift_window < 25u);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK); /* no labels: no trigger, still latched */
    CHECK_EQ(r.trigger, 0);
    CHECK_EQ(r.ddm_state, TD_DDM_OK);
    CHECK_EQ(r.alarm, 1);
    CHECK_EQ(td_monitor_reset_alarm(&mon), TD_OK);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.alarm, 0);

    /* Capacity: 65535 inferences per window, then TD_ERR_CAPACITY without numbering one. */
    for (uint32_t i = 0; i < 65535u; i++) {
        if (td_monitor_push_outputs(&mon, yes, 2, &seq) != TD_OK) {
            CHECK(0);
            break;
        }
    }
    const uint32_t last = seq;
    CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_ERR_CAPACITY);
    CHECK_EQ(seq, last);
    CHECK_EQ(td_monitor_push_label(&mon, last + 1u, 1), TD_ERR_RANGE);
    CHECK_EQ(td_monitor_push(&mon, fr, 16, &r, 1, &n_res), TD_OK);
    CHECK_EQ(r.n_inferences, 65535);
    CHECK_EQ(td_monitor_push_outputs(&mon, yes, 2, &seq), TD_OK);
    CHECK_EQ(seq, last + 1u);
    parsed_close(&p);
}


int main(void)
{
    test_monitor_outputs_reference();
    test_monitor_outputs_api();
    printf("test_outputs: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
