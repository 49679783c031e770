/* test_stats.c - window statistics and fixed-point arithmetic (td_stats.c, td_fixed.h): the window
 * accumulator against a reference accumulator, mean / variance / std, isqrt (exhaustive at the edges), exact
 * lifetime sums, the 64-by-32-bit divisions.
 *
 * Build and run (make test-c does, under ASan/UBSan, also with TD_OPTIMIZE_SPEED=1 and TD_TEST_NARROW; make
 * test-core-m4 on a Cortex-M4):
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_stats.c csrc/src/td_*.c -o /tmp/test_stats -lm && /tmp/test_stats
 * Prints "test_stats: N passed, M failed" and exits non-zero on any failure. Shared writer and reference model:
 * td_test_model.h.
 */
#include "td_test_model.h"
#include "td_stats_internal.h"

/* Add n samples to both, in one call. */
static td_status acc_add_both(td_window_acc_t *acc, ref_acc_t *ref, const td_sample_rules_t *rules,
                              const int16_t *x, uint32_t stride, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        ref_acc_add(ref, rules, x[(size_t)i * stride]);
    }
    return td_window_add(acc, rules, x, stride, n);
}

/* Out-of-contract inputs: clamped or rejected, never undefined behaviour. */
static void test_stats_contract_edges(void)
{
    td_window_acc_t acc;
    const td_sample_rules_t inside = {-100, 100, 0, 1u};
    const td_sample_rules_t flipped = {100, -100, 0, 0u};
    const int16_t samples[4] = {-5, 5, 0, 0};
    CHECK(td_mean_q8(INT32_MIN, 1u) == -32768 * 256);
    CHECK(td_mean_q8(INT32_MAX, 1u) == 32768 * 256);
    CHECK(td_mean_q8(-32768 * 1024, 1024u) == -32768 * 256);
    CHECK(td_var_q32(0, INT64_MAX, 2u) == ((uint64_t)1 << 62));
    CHECK(td_var_q32(0, -5, 2u) == 0u);
    CHECK(td_window_reset(&acc) == TD_OK);
    CHECK(td_window_add(&acc, &inside, samples, 1u, 4u) == TD_ERR_ARG);
    CHECK(td_window_add(&acc, &flipped, samples, 1u, 4u) == TD_ERR_ARG);
    CHECK(acc.n_samples == 0u && acc.sum == 0);
}

static void test_window_fixed(void)
{
    static int16_t x[2048];
    td_window_acc_t acc;
    const td_sample_rules_t extreme = {-32768, 32767, 0, 0};

    /* Empty window. */
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, NULL, 1, 0), TD_OK);
    CHECK_EQ(acc.sum, 0);
    CHECK_EQ(acc.sumsq, 0);
    CHECK_EQ(acc.min, INT16_MAX);
    CHECK_EQ(acc.max, INT16_MIN);
    CHECK_EQ(acc.n_samples, 0);

    /* All samples on the int16 extremes with rails there: every sample saturated. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = (i % 3u == 0u) ? -32768 : 32767;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.n_saturated, 1024);
    CHECK_EQ(acc.n_missing, 0);
    CHECK_EQ(acc.n_samples, 1024);
    CHECK_EQ(acc.min, -32768);
    CHECK_EQ(acc.max, 32767);
    CHECK_EQ(acc.sum, 342 * -32768 + 682 * 32767);
    CHECK_EQ(acc.sumsq, 342ll * 32768 * 32768 + 682ll * 32767 * 32767);

    /* Alternating extremes: sum -512, largest possible sum of squares. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = (i & 1u) ? 32767 : -32768;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.sum, -512);
    CHECK_EQ(acc.sumsq, 512ll * 32768 * 32768 + 512ll * 32767 * 32767);
    CHECK_EQ(acc.n_saturated, 1024);
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), ref_var_q32(-512, acc.sumsq, 1024));
    /* variance = 32767.5^2 exactly: (65535/2)^2 * 2^32 = 65535^2 * 2^30 */
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), (uint64_t)65535u * 65535u << 30);
    CHECK_EQ(td_mean_q8(acc.sum, 1024), -128); /* -0.5 */
    CHECK_EQ(td_std_q8(td_var_q32(acc.sum, acc.sumsq, 1024)), 32767 * 256 + 128);

    /* Same samples, rails inside: nothing saturated at +-32000 ... but the extremes are. */
    const td_sample_rules_t inner = {-32000, 32000, 0, 0};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &inner, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.n_saturated, 1024);

    /* Constant window. */
    for (uint32_t i = 0; i < 1024u; i++) {
        x[i] = -1234;
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1024), TD_OK);
    CHECK_EQ(acc.sum, -1234 * 1024);
    CHECK_EQ(acc.sumsq, 1234ll * 1234 * 1024);
    CHECK_EQ(acc.min, -1234);
    CHECK_EQ(acc.max, -1234);
    CHECK_EQ(acc.n_saturated, 0);
    CHECK_EQ(td_mean_q8(acc.sum, 1024), -1234 * 256);
    CHECK_EQ(td_var_q32(acc.sum, acc.sumsq, 1024), 0);
    CHECK_EQ(td_std_q8(0), 0);

    /* Sentinel samples are excluded from everything but n_missing (sentinel on the low rail). */
    const td_sample_rules_t sent = {-100, 100, -100, 1};
    const int16_t s1[8] = {5, -100, 7, -100, -101, 100, -100, 6};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &sent, s1, 1, 8), TD_OK);
    CHECK_EQ(acc.n_missing, 3);
    CHECK_EQ(acc.n_saturated, 2); /* -101 and 100 */
    CHECK_EQ(acc.n_samples, 8);
    CHECK_EQ(acc.sum, 5 + 7 - 101 + 100 + 6);
    CHECK_EQ(acc.sumsq, 25 + 49 + 10201 + 10000 + 36);
    CHECK_EQ(acc.min, -101);
    CHECK_EQ(acc.max, 100);
    /* Only sentinels: no valid sample. */
    const int16_t s2[3] = {-100, -100, -100};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &sent, s2, 1, 3), TD_OK);
    CHECK_EQ(acc.n_missing, 3);
    CHECK_EQ(acc.min, INT16_MAX);
    CHECK_EQ(acc.max, INT16_MIN);
    CHECK_EQ(acc.sum, 0);
    /* use_sentinel 0: the sentinel value is an ordinary (here saturated) sample. */
    const td_sample_rules_t nosent = {-100, 100, -100, 0};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &nosent, s2, 1, 3), TD_OK);
    CHECK_EQ(acc.n_missing, 0);
    CHECK_EQ(acc.n_saturated, 3);
    CHECK_EQ(acc.sum, -300);

    /* Strided reads. */
    const int16_t inter[9] = {1, 100, -7, 2, 100, -7, 3, 100, -7};
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, inter + 1, 3, 3), TD_OK);
    CHECK_EQ(acc.sum, 300);
    CHECK_EQ(acc.min, 100);

    /* Capacity: at most 1024 samples per window; a refused add changes nothing. */
    for (uint32_t i = 0; i < 2048u; i++) {
        x[i] = (int16_t)(i * 7u);
    }
    CHECK_EQ(td_window_reset(&acc), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1025), TD_ERR_CAPACITY);
    CHECK_EQ(acc.n_samples, 0);
    CHECK_EQ(acc.sum, 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1000), TD_OK);
    td_window_acc_t saved;
    memcpy(&saved, &acc, sizeof saved);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 25), TD_ERR_CAPACITY);
    CHECK(memcmp(&saved, &acc, sizeof acc) == 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 24), TD_OK);
    CHECK_EQ(acc.n_samples, 1024);
    memcpy(&saved, &acc, sizeof saved);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 1), TD_ERR_CAPACITY);
    CHECK(memcmp(&saved, &acc, sizeof acc) == 0);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 0), TD_OK);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 1, 0xFFFFFFFFu), TD_ERR_CAPACITY);

    /* Arguments. */
    CHECK_EQ(td_window_reset(NULL), TD_ERR_ARG);
    CHECK_EQ(td_window_add(NULL, &extreme, x, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, NULL, x, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, &extreme, NULL, 1, 1), TD_ERR_ARG);
    CHECK_EQ(td_window_add(&acc, &extreme, x, 0, 1), TD_ERR_ARG);
}


static void test_window_random(void)
{
    static int16_t buf[1024 * 8];
    int ok = 1;
    for (uint32_t trial = 0; trial < 3000u; trial++) {
        td_sample_rules_t rules;
        random_rules(&rules);
        const uint32_t stride = (uint32_t)rnd_range(1, 8);
        const uint32_t n = trial % 7u == 0u ? 1024u : (uint32_t)rnd_range(0, 1024);
        const int32_t center = (int32_t)rnd_range(-32768, 32767);
        const int32_t amp = (int32_t)(rnd64() % 5u == 0u ? 0 : rnd_range(0, 40000));
        for (uint32_t i = 0; i < n * stride; i++) {
            buf[i] = rnd_sample(&rules, center, amp);
        }
        td_window_acc_t acc;
        ref_acc_t ref;
        CHECK_QUIET(ok, td_window_reset(&acc) == TD_OK);
        ref_acc_reset(&ref);
        /* Feed in random chunks. */
        uint32_t done = 0;
        while (done < n) {
            const uint32_t chunk = (uint32_t)rnd_range(1, rnd64() % 2u ? 16 : (int64_t)(n - done));
            const uint32_t take = chunk < n - done ? chunk : n - done;
            CHECK_QUIET(ok, acc_add_both(&acc, &ref, &rules, buf + (size_t)done * stride, stride, take) == TD_OK);
            done += take;
        }
        CHECK_QUIET(ok, acc_matches(&acc, &ref));
        CHECK_QUIET(ok, acc.n_samples == n);
        if (!ok) {
            printf("  window trial %u: rails [%d,%d] sentinel %d/%u n %u stride %u\n", (unsigned)trial,
                   rules.rail_lo, rules.rail_hi, rules.sentinel, rules.use_sentinel, (unsigned)n, (unsigned)stride);
            break;
        }
        /* Derived statistics of the window. */
        const uint32_t n_valid = n - ref.n_missing;
        CHECK_QUIET(ok, td_mean_q8(acc.sum, n_valid) == ref_mean_q8(ref.sum, n_valid));
        const uint64_t var = td_var_q32(acc.sum, acc.sumsq, n_valid);
        CHECK_QUIET(ok, var == ref_var_q32(ref.sum, ref.sumsq, n_valid));
        CHECK_QUIET(ok, td_std_q8(var) == ref_std_q8(var));
        /* One more sample than the window holds is refused. */
        if (n == 1024u) {
            CHECK_QUIET(ok, td_window_add(&acc, &rules, buf, 1, 1) == TD_ERR_CAPACITY);
        }
    }
    CHECK(ok);
}

/* Every field of two accumulators equal (memcmp would compare their padding). */
static int acc_equal(const td_window_acc_t *a, const td_window_acc_t *b)
{
    return a->sumsq == b->sumsq && a->sum == b->sum && a->band_lo == b->band_lo && a->band_span == b->band_span &&
           a->min == b->min && a->max == b->max && a->n_missing == b->n_missing && a->n_saturated == b->n_saturated &&
           a->n_samples == b->n_samples;
}

/* td_window_add_frames (the monitor's block step; lanes on an x86-64 speed build) against td_window_add channel by
 * channel: every field of every accumulator equal, and the reference model's sums, for 1-16 channels, blocks of
 * 0-1024 frames in random chunks, with rails, sentinels, -32768 and whole channels outside the rails. */
static void test_window_frames(void)
{
    static int16_t buf[1024 * 16];
    int ok = 1;
    for (uint32_t trial = 0; trial < 1500u && ok; trial++) {
        const uint32_t n_ch = (uint32_t)rnd_range(1, 16);
        const uint32_t n = trial % 5u == 0u ? 1024u : (uint32_t)rnd_range(0, 1024);
        td_sample_rules_t rules[16];
        td_window_acc_t acc[16];
        td_window_acc_t by_channel[16];
        ref_acc_t ref[16];
        for (uint32_t c = 0; c < n_ch; c++) {
            random_rules(&rules[c]);
            const int32_t center = (int32_t)rnd_range(-32768, 32767);
            /* Mostly quiet channels (the lane path keeps them), some reaching the rails or -32768. */
            const int32_t amp = (int32_t)(rnd64() % 4u == 0u ? rnd_range(0, 40000) : rnd_range(0, 300));
            for (uint32_t i = 0; i < n; i++) {
                buf[i * n_ch + c] = rnd_sample(&rules[c], center, amp);
            }
            if (n > 0u && rnd64() % 16u == 0u) {
                buf[rnd64() % n * n_ch + c] = INT16_MIN;
            }
            CHECK_QUIET(ok, td_window_reset(&acc[c]) == TD_OK && td_window_reset(&by_channel[c]) == TD_OK);
            ref_acc_reset(&ref[c]);
        }
        uint32_t done = 0;
        while (done < n) {
            const uint32_t chunk = (uint32_t)rnd_range(1, rnd64() % 2u ? 40 : (int64_t)(n - done));
            const uint32_t take = chunk < n - done ? chunk : n - done;
            const int16_t *block = buf + (size_t)done * n_ch;
            CHECK_QUIET(ok, td_window_add_frames(acc, rules, block, n_ch, take) == TD_OK);
            for (uint32_t c = 0; c < n_ch; c++) {
                CHECK_QUIET(ok, td_window_add(&by_channel[c], &rules[c], block + c, n_ch, take) == TD_OK);
                for (uint32_t i = 0; i < take; i++) {
                    ref_acc_add(&ref[c], &rules[c], block[(size_t)i * n_ch + c]);
                }
            }
            done += take;
        }
        for (uint32_t c = 0; c < n_ch; c++) {
            CHECK_QUIET(ok, acc_equal(&acc[c], &by_channel[c]));
            CHECK_QUIET(ok, acc_matches(&acc[c], &ref[c]));
        }
        if (!ok) {
            printf("  frames trial %u: %u channels, %u frames\n", (unsigned)trial, (unsigned)n_ch, (unsigned)n);
        }
    }
    /* A channel with rules td_window_add refuses: the same error, the same state as channel by channel. */
    td_sample_rules_t rules[3] = {{-100, 100, 0, 0}, {50, 50, 0, 0}, {-100, 100, 0, 0}};
    td_window_acc_t acc[3];
    td_window_acc_t by_channel[3];
    for (uint32_t c = 0; c < 3u; c++) {
        CHECK_QUIET(ok, td_window_reset(&acc[c]) == TD_OK && td_window_reset(&by_channel[c]) == TD_OK);
    }
    for (uint32_t i = 0; i < 3u * 64u; i++) {
        buf[i] = (int16_t)(i % 7u);
    }
    CHECK_QUIET(ok, td_window_add_frames(acc, rules, buf, 3, 64) == TD_ERR_ARG);
    CHECK_QUIET(ok, td_window_add(&by_channel[0], &rules[0], buf, 3, 64) == TD_OK);
    CHECK_QUIET(ok, td_window_add(&by_channel[1], &rules[1], buf + 1, 3, 64) == TD_ERR_ARG);
    for (uint32_t c = 0; c < 3u; c++) {
        CHECK_QUIET(ok, acc_equal(&acc[c], &by_channel[c]));
    }
    CHECK_QUIET(ok, td_window_add_frames(NULL, rules, buf, 3, 64) == TD_ERR_ARG);
    CHECK(ok);
}


/* Short blocks (the x86-64 speed build's block_frames: 2+ frames of up to 8 channels, one frame a vector; the last
 * frames moved down from the block's last 8 samples): every channel count 1-8 and every block of 1-40 frames, twice
 * over, in-band random samples (every channel kept by the block pass) or samples of -32767 and 32766 just inside
 * rails at -32768 and 32767 (the largest squares), against td_window_add channel by channel. */
static void test_window_short_blocks(void)
{
    static int16_t buf[40 * 8];
    int ok = 1;
    for (uint32_t round = 0; round < 4u; round++) {
        for (uint32_t n_ch = 1; n_ch <= 8u; n_ch++) {
            for (uint32_t n = 1; n <= 40u; n++) {
                td_sample_rules_t rules[8];
                td_window_acc_t acc[8];
                td_window_acc_t by_channel[8];
                for (uint32_t c = 0; c < n_ch; c++) {
                    rules[c] = (td_sample_rules_t){-32768, 32767, 0, 0};
                    CHECK_QUIET(ok, td_window_reset(&acc[c]) == TD_OK && td_window_reset(&by_channel[c]) == TD_OK);
                }
                for (uint32_t i = 0; i < n * n_ch; i++) {
                    buf[i] = (int16_t)(round % 2u == 0u ? rnd_range(-32767, 32766) : (rnd64() % 2u ? 32766 : -32767));
                }
                CHECK_QUIET(ok, td_window_add_frames(acc, rules, buf, n_ch, n) == TD_OK);
                for (uint32_t c = 0; c < n_ch; c++) {
                    CHECK_QUIET(ok, td_window_add(&by_channel[c], &rules[c], buf + c, n_ch, n) == TD_OK);
                    CHECK_QUIET(ok, acc_equal(&acc[c], &by_channel[c]));
                }
                if (!ok) {
                    printf("  short block: %u channels, %u frames\n", (unsigned)n_ch, (unsigned)n);
                    CHECK(ok);
                    return;
                }
            }
        }
    }
    CHECK(ok);
}

#if TD_BLOCK_LANES && TD_BLOCK_AVX2
/* Blocks td_window_add_fresh took in the tests below (0 on a CPU without AVX2). */
static unsigned long g_fresh_runs;

/* td_window_add_fresh (td_monitor_push's whole windows, x86-64 with AVX2) on empty accumulators against want and
 * want_acc (td_window_add channel by channel onto empty ones), the block in an allocation of its own size (ASan sees a
 * read past it); 1 when they agree or td_window_fresh_prepare does not take these rules and this shape. */
static int fresh_matches(const td_sample_rules_t *rules, const int16_t *frames, uint32_t n_ch, uint32_t n,
                         td_status want, const td_window_acc_t *want_acc)
{
    int16_t rails[16];
    if (!td_window_fresh_prepare(rules, n_ch, n, rails)) {
        return 1;
    }
    td_window_acc_t acc[8];
    for (uint32_t c = 0; c < n_ch; c++) {
        if (td_window_reset(&acc[c]) != TD_OK) {
            return 0;
        }
    }
    int16_t *const block = malloc((size_t)n * n_ch * sizeof *block);
    if (block == NULL) {
        return 0;
    }
    memcpy(block, frames, (size_t)n * n_ch * sizeof *block);
    int same = td_window_add_fresh(acc, rules, rails, block, n_ch, n) == want;
    free(block);
    for (uint32_t c = 0; c < n_ch; c++) {
        same = same && acc_equal(&acc[c], &want_acc[c]);
    }
    g_fresh_runs++;
    return same;
}
#endif

/* Blocks onto empty accumulators whose samples all lie inside the rails: the x86-64 speed build writes such
 * accumulators whole (block_finish) after testing every channel's rules and accumulator at once. Every channel count
 * 1-16 and blocks of 2-40 frames and longer ones, with random rails the samples just miss or touch, sentinels outside
 * the rails, padding bytes of the rules set, and one of: nothing else, one channel's samples touching a rail, one
 * channel already holding a sample (TD_ERR_CAPACITY for 1024 more), one channel's sentinel inside its rails
 * (TD_ERR_ARG), against td_window_add channel by channel (fields, errors) and the reference model. The block and the
 * rules sit in allocations of their own size, so ASan catches a read past either. */
static void test_window_block_fresh(void)
{
    static int16_t buf[1024 * 16];
    static const uint32_t longer[] = {63, 64, 65, 128, 1000, 1024};
    int ok = 1;
    for (uint32_t n_ch = 1; n_ch <= 16u && ok; n_ch++) {
        for (uint32_t k = 0; k < 39u + sizeof longer / sizeof longer[0] && ok; k++) {
            const uint32_t n = k < 39u ? k + 2u : longer[k - 39u];
            for (uint32_t variant = 0; variant < 4u && ok; variant++) {
                const uint32_t odd = (uint32_t)(rnd64() % n_ch); /* the channel variants 1-3 change */
                td_sample_rules_t rules[16];
                td_window_acc_t acc[16];
                td_window_acc_t by_channel[16];
                ref_acc_t ref[16];
                for (uint32_t c = 0; c < n_ch; c++) {
                    memset(&rules[c], (int)(rnd64() & 0xFFu), sizeof rules[c]); /* padding bytes too */
                    const int32_t lo = (int32_t)rnd_range(-32768, 30000);
                    const int32_t hi = (int32_t)rnd_range(lo + 2, lo + 2 + 2000 > 32767 ? 32767 : lo + 2 + 2000);
                    rules[c].rail_lo = (int16_t)lo;
                    rules[c].rail_hi = (int16_t)hi;
                    rules[c].use_sentinel = (uint8_t)(rnd64() % 2u);
                    rules[c].sentinel = (int16_t)(lo > -32768 && rnd64() % 2u ? rnd_range(-32768, lo) : hi);
                    if (!rules[c].use_sentinel && rnd64() % 2u) { /* unused: anywhere */
                        rules[c].sentinel = (int16_t)rnd_range(lo, hi);
                    }
                    if (variant == 3u && c == odd) {
                        rules[c].use_sentinel = 1u;
                        rules[c].sentinel = (int16_t)rnd_range(lo + 1, hi - 1);
                    }
                    for (uint32_t i = 0; i < n; i++) { /* strictly inside the rails: the first and last in-band values */
                        const uint32_t pick = (uint32_t)(rnd64() % 4u);
                        buf[(size_t)i * n_ch + c] =
                            (int16_t)(pick == 0u ? lo + 1 : (pick == 1u ? hi - 1 : rnd_range(lo + 1, hi - 1)));
                    }
                    if (variant == 1u && c == odd) {
                        buf[(rnd64() % n) * n_ch + c] = (int16_t)(rnd64() % 2u ? lo : hi);
                    }
                    CHECK_QUIET(ok, td_window_reset(&acc[c]) == TD_OK && td_window_reset(&by_channel[c]) == TD_OK);
                    ref_acc_reset(&ref[c]);
                    if (variant == 2u && c == odd) {
                        const int16_t v = (int16_t)(lo + 1);
                        CHECK_QUIET(ok, td_window_add(&acc[c], &rules[c], &v, 1, 1) == TD_OK);
                        CHECK_QUIET(ok, td_window_add(&by_channel[c], &rules[c], &v, 1, 1) == TD_OK);
                        ref_acc_add(&ref[c], &rules[c], v);
                    }
                }
                td_status want = TD_OK;
                for (uint32_t c = 0; c < n_ch && want == TD_OK; c++) {
                    want = td_window_add(&by_channel[c], &rules[c], buf + c, n_ch, n);
                    for (uint32_t i = 0; i < n && want == TD_OK; i++) {
                        ref_acc_add(&ref[c], &rules[c], buf[(size_t)i * n_ch + c]);
                    }
                }
                /* the block and the rules in allocations of their own size: ASan sees any read past either */
                int16_t *const block = malloc((size_t)n * n_ch * sizeof *block);
                td_sample_rules_t *const own_rules = malloc(n_ch * sizeof *own_rules);
                CHECK_QUIET(ok, block != NULL && own_rules != NULL);
                if (block == NULL || own_rules == NULL) {
                    free(block);
                    free(own_rules);
                    return;
                }
                memcpy(block, buf, (size_t)n * n_ch * sizeof *block);
                memcpy(own_rules, rules, n_ch * sizeof *own_rules);
#if TD_BLOCK_LANES && TD_BLOCK_AVX2
                /* the fresh path takes only valid rules (variant 3's sentinel is not) and empty accumulators */
                int16_t rails[16];
                CHECK_QUIET(ok, variant != 3u || !td_window_fresh_prepare(own_rules, n_ch, n, rails));
                CHECK_QUIET(ok, variant == 2u || fresh_matches(own_rules, block, n_ch, n, want, by_channel));
#endif
                CHECK_QUIET(ok, td_window_add_frames(acc, own_rules, block, n_ch, n) == want);
                free(block);
                free(own_rules);
                /* the errors: a sentinel inside the rails, no room for 1024 more samples after one */
                CHECK_QUIET(ok, want == (variant == 3u ? TD_ERR_ARG
                                                       : (variant == 2u && n == 1024u ? TD_ERR_CAPACITY : TD_OK)));
                for (uint32_t c = 0; c < n_ch; c++) {
                    CHECK_QUIET(ok, acc_equal(&acc[c], &by_channel[c]));
                    CHECK_QUIET(ok, want != TD_OK || acc_matches(&acc[c], &ref[c]));
                }
                if (!ok) {
                    printf("  fresh block: %u channels, %u frames, variant %u (channel %u)\n", (unsigned)n_ch,
                           (unsigned)n, (unsigned)variant, (unsigned)odd);
                }
            }
        }
    }
    CHECK(ok);
}

/* The block step's kernels (x86-64 speed build: frames_avx2 for 5-8 channels, the AVX2 or SSE2 lanes with their
 * odd last group and the frames past the last group, block_frames; the Cortex-M4's pairs) against td_window_add
 * channel by channel, the portable accumulation, and the reference model: every channel count 1-16, every block of
 * 1-40 frames and longer ones around the group sizes (63-65, 127-129, 1000), onto an empty or a part-filled
 * accumulator. Each channel's samples take one of five forms: the largest squares (only -32767 and 32766, rails at
 * -32768 and 32767), the same with one -32768 (a rail: the channel goes sample by sample), random rules with rails,
 * sentinels and saturated samples, a quiet channel, uniform samples over (-32768, 32767). */
static void test_window_block_kernels(void)
{
    static int16_t buf[1024 * 16];
    static const uint32_t longer[] = {47, 63, 64, 65, 96, 127, 128, 129, 255, 256, 1000};
    int ok = 1;
    for (uint32_t round = 0; round < 2u && ok; round++) {
        for (uint32_t n_ch = 1; n_ch <= 16u && ok; n_ch++) {
            for (uint32_t k = 0; k < 40u + sizeof longer / sizeof longer[0] && ok; k++) {
                const uint32_t n = k < 40u ? k + 1u : longer[k - 40u];
                const uint32_t prefix = rnd64() % 2u ? (uint32_t)rnd_range(1, 1024 - n < 24u ? 1024 - n : 24) : 0u;
                td_sample_rules_t rules[16];
                td_window_acc_t acc[16];
                td_window_acc_t by_channel[16];
                ref_acc_t ref[16];
                for (uint32_t c = 0; c < n_ch; c++) {
                    const uint32_t form = (uint32_t)(rnd64() % 5u);
                    rules[c] = (td_sample_rules_t){-32768, 32767, 0, 0};
                    if (form == 2u) {
                        random_rules(&rules[c]);
                    }
                    const int32_t center = (int32_t)rnd_range(-30000, 30000);
                    for (uint32_t i = 0; i < n; i++) {
                        int16_t v;
                        switch (form) {
                        case 0u:
                        case 1u: v = (int16_t)(rnd64() % 2u ? 32766 : -32767); break;
                        case 2u: v = rnd_sample(&rules[c], center, (int32_t)rnd_range(0, 3000)); break;
                        case 3u: v = (int16_t)(center + rnd_range(-300, 300)); break;
                        default: v = (int16_t)rnd_range(-32767, 32766); break;
                        }
                        buf[(size_t)i * n_ch + c] = v;
                    }
                    if (form == 1u) {
                        buf[(size_t)(rnd64() % n) * n_ch + c] = INT16_MIN;
                    }
                    CHECK_QUIET(ok, td_window_reset(&acc[c]) == TD_OK && td_window_reset(&by_channel[c]) == TD_OK);
                    ref_acc_reset(&ref[c]);
                    /* a part-filled window: some samples of the same kind before the block */
                    for (uint32_t i = 0; i < prefix; i++) {
                        const int16_t v = buf[(size_t)(i % n) * n_ch + c];
                        CHECK_QUIET(ok, td_window_add(&acc[c], &rules[c], &v, 1, 1) == TD_OK);
                        CHECK_QUIET(ok, td_window_add(&by_channel[c], &rules[c], &v, 1, 1) == TD_OK);
                        ref_acc_add(&ref[c], &rules[c], v);
                    }
                }
                CHECK_QUIET(ok, td_window_add_frames(acc, rules, buf, n_ch, n) == TD_OK);
                for (uint32_t c = 0; c < n_ch; c++) {
                    CHECK_QUIET(ok, td_window_add(&by_channel[c], &rules[c], buf + c, n_ch, n) == TD_OK);
                    for (uint32_t i = 0; i < n; i++) {
                        ref_acc_add(&ref[c], &rules[c], buf[(size_t)i * n_ch + c]);
                    }
                    CHECK_QUIET(ok, acc_equal(&acc[c], &by_channel[c]));
                    CHECK_QUIET(ok, acc_matches(&acc[c], &ref[c]));
                    CHECK_QUIET(ok, acc[c].n_samples == prefix + n);
                }
#if TD_BLOCK_LANES && TD_BLOCK_AVX2
                CHECK_QUIET(ok, prefix != 0u || fresh_matches(rules, buf, n_ch, n, TD_OK, by_channel));
#endif
                if (!ok) {
                    printf("  block kernels: %u channels, %u frames, %u before\n", (unsigned)n_ch, (unsigned)n,
                           (unsigned)prefix);
                }
            }
        }
    }
    CHECK(ok);
}

static void test_stats_functions(void)
{
    /* Hand-checked means. */
    CHECK_EQ(td_mean_q8(1, 512), 1);   /* 0.5 -> 1 (tie away from zero) */
    CHECK_EQ(td_mean_q8(-1, 512), -1); /* -0.5 -> -1 */
    CHECK_EQ(td_mean_q8(1, 513), 0);   /* 0.499 -> 0 */
    CHECK_EQ(td_mean_q8(1, 3), 85);    /* 85.33 */
    CHECK_EQ(td_mean_q8(2, 3), 171);   /* 170.67 */
    CHECK_EQ(td_mean_q8(-2, 3), -171);
    CHECK_EQ(td_mean_q8(32767 * 1024, 1024), 32767 * 256);
    CHECK_EQ(td_mean_q8(-32768 * 1024, 1024), -32768 * 256);
    CHECK_EQ(td_mean_q8(5, 0), 0);
    CHECK_EQ(td_mean_q8(5, 1025), 0);
    CHECK_EQ(td_var_q32(5, 25, 0), 0);
    CHECK_EQ(td_var_q32(5, 25, 1025), 0);
    CHECK_EQ(td_var_q32(1, 1, 2), (uint64_t)1 << 30); /* {0, 1}: variance 1/4 */
    CHECK_EQ(td_var_q32(1, 1, 3), 954437177u);        /* {0,0,1}: 2/9 * 2^32 = 954437176.9 */

    int ok = 1;
    /* Means: every n, sums across the whole reachable range |sum| <= 32768 n, and near-ties. */
    for (uint32_t n = 1; n <= 1024u; n++) {
        for (uint32_t t = 0; t < 200u; t++) {
            int64_t sum;
            switch (t % 4u) {
            case 0: sum = rnd_range(-32768 * (int64_t)n, 32767 * (int64_t)n); break;
            case 1: sum = rnd_range(-3 * (int64_t)n, 3 * (int64_t)n); break;
            case 2: { /* sum * 256 / n lands on or next to a half */
                const int64_t k = rnd_range(-32767, 32767);
                sum = ((2 * k + 1) * (int64_t)n) / 512 + rnd_range(-1, 1);
                break;
            }
            default: sum = (t & 4u) ? 32767 * (int64_t)n - (int64_t)(t / 8u) : -32768 * (int64_t)n + (int64_t)(t / 8u);
            }
            CHECK_QUIET(ok, td_mean_q8((int32_t)sum, n) == ref_mean_q8(sum, n));
        }
    }
    CHECK(ok);

    /* Variances from real sample sets (consistent sum / sumsq), and the documented accuracy of std_q8:
     * |std_q8 - 256 * sqrt(var)| <= 1/2 + 1/256 (in Q8 units, i.e. 1/512 + 1/65536 LSB). */
    ok = 1;
    for (uint32_t t = 0; t < 4000u; t++) {
        const uint32_t n = t < 8u ? t + 1u : (uint32_t)rnd_range(1, 1024);
        const int64_t center = rnd_range(-32768, 32767);
        const int64_t amp = t % 3u == 0u ? rnd_range(0, 3) : rnd_range(0, 65535);
        int64_t sum = 0;
        int64_t sumsq = 0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t v = t % 11u == 0u ? ((i & 1u) ? 32767 : -32768) : center + rnd_range(-amp, amp);
            v = v > 32767 ? 32767 : (v < -32768 ? -32768 : v);
            sum += v;
            sumsq += v * v;
        }
        const uint64_t var = td_var_q32((int32_t)sum, sumsq, n);
        CHECK_QUIET(ok, var == ref_var_q32(sum, sumsq, n));
        const int32_t sd = td_std_q8(var);
        CHECK_QUIET(ok, sd == ref_std_q8(var));
#if TD_TEST_WIDE
        /* D = n*sumsq - sum^2 = n^2 var; check (256 sd - 129)^2 n^2 <= 2^32 D <= (256 sd + 129)^2 n^2. */
        const iwide d = (iwide)n * sumsq - (iwide)sum * sum;
        const iwide nn = (iwide)n * n;
        const iwide lo = (iwide)sd * 256 - 129;
        const iwide hi = (iwide)sd * 256 + 129;
        CHECK_QUIET(ok, lo <= 0 || lo * lo * nn <= (d << 32));
        CHECK_QUIET(ok, (d << 32) <= hi * hi * nn);
#endif
    }
    CHECK(ok);

    /* isqrt: edges, perfect squares and neighbours, random values of every magnitude. */
    CHECK_EQ(td_isqrt64(0), 0);
    CHECK_EQ(td_isqrt64(1), 1);
    CHECK_EQ(td_isqrt64(2), 1);
    CHECK_EQ(td_isqrt64(3), 1);
    CHECK_EQ(td_isqrt64(4), 2);
    CHECK_EQ(td_isqrt64(UINT64_MAX), 0xFFFFFFFFu);
    CHECK_EQ(td_isqrt64(0xFFFFFFFE00000001ull), 0xFFFFFFFFu); /* (2^32-1)^2 */
    CHECK_EQ(td_isqrt64(0xFFFFFFFE00000000ull), 0xFFFFFFFEu);
    CHECK_EQ(td_isqrt64((uint64_t)1 << 62), (uint32_t)1 << 31);
    CHECK_EQ(td_isqrt64(((uint64_t)1 << 62) - 1u), ((uint32_t)1 << 31) - 1u);
    ok = 1;
    for (uint32_t t = 0; t < 200000u; t++) {
        uint64_t v;
        switch (t % 4u) {
        case 0: v = rnd64(); break;
        case 1: v = rnd64() >> (rnd64() % 64u); break;
        default: { /* k^2 - 1, k^2 or k^2 + 1 (k^2 - 1 wraps to UINT64_MAX for k = 0) */
            const uint64_t k = t % 8u == 2u ? 0xFFFFFFFFu - (rnd64() % 1000u) : (rnd64() >> (32u + rnd64() % 32u));
            v = k * k + (uint64_t)rnd_range(-1, 1);
        }
        }
        const uint32_t r = td_isqrt64(v);
        CHECK_QUIET(ok, is_floor_sqrt(r, v));
        CHECK_QUIET(ok, r == ref_isqrt(v));
#if TD_OPTIMIZE_SPEED
        /* The window close's root of v 4^k (v 4^k < 2^64), every k the value allows. */
        for (uint32_t k = 0; k < 32u && (k == 0u || (v >> (64u - 2u * k)) == 0u); k++) {
            CHECK_QUIET(ok, td_isqrt64_shl(v, k) == ref_isqrt(v << (2u * k)));
        }
#endif
        if (t < 20000u) {
            CHECK_QUIET(ok, td_std_q8(v) == (int32_t)(((uint64_t)r + 128u) >> 8));
        }
    }
    CHECK(ok);
    CHECK_EQ(td_std_q8(UINT64_MAX), (int32_t)((0xFFFFFFFFull + 128u) >> 8));
}

/* The window's in-loop edge handling (a new min or max strictly inside the rails moves one band edge
 * without the bookkeeping call): ramps and widening zig-zags make nearly every sample a new extreme,
 * with rails and the sentinel next to the ramps' ends, fed in chunks of every size. */
static void test_window_edges(void)
{
    static int16_t buf[1024 * 3];
    int ok = 1;
    for (uint32_t trial = 0; trial < 4000u; trial++) {
        td_sample_rules_t rules;
        random_rules(&rules);
        const uint32_t stride = (uint32_t)rnd_range(1, 3);
        const uint32_t n = (uint32_t)rnd_range(1, 1024);
        const int32_t start = (int32_t)rnd_range(rules.rail_lo, rules.rail_hi);
        const int32_t step = (int32_t)rnd_range(1, trial % 3u == 0u ? 3 : 200);
        for (uint32_t i = 0; i < n; i++) {
            int64_t v;
            switch (trial % 4u) {
            case 0: v = start + (int64_t)i * step; break;                         /* rising ramp */
            case 1: v = start - (int64_t)i * step; break;                         /* falling ramp */
            case 2: v = start + ((i & 1u) ? 1 : -1) * (int64_t)(i / 2u) * step; break; /* widening zig-zag */
            default: v = rnd64() % 8u == 0u ? rnd_sample(&rules, start, 3) : start + ((i & 1u) ? 1 : -1) * (int64_t)i;
            }
            if (rnd64() % 64u == 0u) {
                v = rnd64() & 1u ? rules.sentinel : (rnd64() & 1u ? rules.rail_lo : rules.rail_hi);
            }
            buf[(size_t)i * stride] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
        }
        td_window_acc_t acc;
        ref_acc_t ref;
        CHECK_QUIET(ok, td_window_reset(&acc) == TD_OK);
        ref_acc_reset(&ref);
        uint32_t done = 0;
        while (done < n) {
            const uint32_t chunk = (uint32_t)rnd_range(1, trial & 8u ? 3 : 300);
            const uint32_t take = chunk < n - done ? chunk : n - done;
            CHECK_QUIET(ok, acc_add_both(&acc, &ref, &rules, buf + (size_t)done * stride, stride, take) == TD_OK);
            done += take;
        }
        CHECK_QUIET(ok, acc_matches(&acc, &ref));
        if (!ok) {
            printf("  edge trial %u: rails [%d,%d] sentinel %d/%u n %u\n", (unsigned)trial, rules.rail_lo,
                   rules.rail_hi, rules.sentinel, rules.use_sentinel, (unsigned)n);
            break;
        }
    }
    CHECK(ok);
}

static int isqrt_ok(uint64_t v)
{
    return is_floor_sqrt(td_isqrt64(v), v);
}

/* td_isqrt64 (normalization, a 16-bit root by Newton steps, one Karatsuba step): every 32-bit perfect
 * square and its neighbours, every 64-bit square of a root in [2^31 - 2^16, 2^32) and of every
 * k 2^16 + j (random j) so each inner 16-bit root is reached, powers of two, and random values. */
static void test_isqrt_exhaustive(void)
{
    int ok = 1;
    for (uint64_t k = 0; k <= 65536u; k++) {
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k);
        CHECK_QUIET(ok, sq == 0u || td_isqrt64(sq - 1u) == k - 1u);
        CHECK_QUIET(ok, td_isqrt64(sq + 1u) == (k == 0u ? 1u : k));
        CHECK_QUIET(ok, isqrt_ok(sq + k) && isqrt_ok(sq + 2u * k)); /* the largest remainders */
    }
    for (uint64_t k = 0xFFFFFFFFu - 65536u; k <= 0xFFFFFFFFu; k++) {
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k && td_isqrt64(sq - 1u) == k - 1u);
        CHECK_QUIET(ok, k == 0xFFFFFFFFu ? td_isqrt64(sq + 2u * k) == k : td_isqrt64(sq + 2u * k + 1u) == k + 1u);
    }
    for (uint64_t hi = 1u; hi <= 65535u; hi++) {
        const uint64_t k = (hi << 16) | (rnd64() & 0xFFFFu);
        const uint64_t sq = k * k;
        CHECK_QUIET(ok, td_isqrt64(sq) == k && td_isqrt64(sq - 1u) == k - 1u && td_isqrt64(sq + 2u * k) == k);
        CHECK_QUIET(ok, isqrt_ok(hi << 32) && isqrt_ok((hi << 32) - 1u) && isqrt_ok(hi * hi << 32));
    }
    for (unsigned b = 0; b < 64u; b++) {
        const uint64_t p2 = (uint64_t)1 << b;
        CHECK_QUIET(ok, isqrt_ok(p2) && isqrt_ok(p2 - 1u) && isqrt_ok(p2 + 1u));
        CHECK_QUIET(ok, isqrt_ok(p2 | (p2 - 1u)));
    }
    for (uint32_t t = 0; t < 1000000u; t++) {
        const uint64_t v = rnd64() >> (rnd64() % 64u);
        CHECK_QUIET(ok, isqrt_ok(v));
        if (t < 20000u) {
            CHECK_QUIET(ok, td_isqrt64(v) == ref_isqrt(v));
        }
    }
    CHECK(ok);
}

/* The x86-64 speed build's paths (TD_HOST_X86: td_isqrt64 and td_isqrt64_shl through SQRTSD with a fix-up,
 * td_var_q32 through 64-bit division) against the references: 4 million random 64-bit values of every magnitude
 * and the squares k^2 - 1, k^2, k^2 + 2k of random k (where a double root lands on or next to an integer) through
 * the floor-root property, then 10^6 random (sum, sumsq, n) of every other window size through ref_var_q32. On the
 * other builds the same checks run on fewer values (the integer paths; the M4 in QEMU is slow). */
static void test_host_x86_paths(void)
{
    const uint32_t n_roots = TD_HOST_X86 ? 4000000u : 20000u;
    const uint32_t n_vars = TD_HOST_X86 ? 1000000u : 5000u;
    int ok = 1;
    for (uint32_t t = 0; t < n_roots; t++) {
        uint64_t v;
        if (t % 2u == 0u) {
            v = rnd64() >> (rnd64() % 64u);
        } else {
            const uint64_t k = rnd64() >> (32u + rnd64() % 32u); /* [0, 2^32) */
            const uint64_t sq = k * k;
            v = t % 6u == 1u ? sq - (k != 0u) : (t % 6u == 3u ? sq : sq + 2u * k);
        }
        CHECK_QUIET(ok, isqrt_ok(v));
#if TD_OPTIMIZE_SPEED
        const uint32_t k = 1u + (uint32_t)(rnd64() % 8u);
        CHECK_QUIET(ok, (v >> (64u - 2u * k)) != 0u || td_isqrt64_shl(v, k) == td_isqrt64(v << (2u * k)));
#endif
    }
    CHECK_QUIET(ok, td_isqrt64(UINT64_MAX) == 0xFFFFFFFFu && td_isqrt64(0xFFFFFFFE00000001u) == 0xFFFFFFFFu &&
                        td_isqrt64(0xFFFFFFFE00000000u) == 0xFFFFFFFEu);
    for (uint32_t t = 0; t < n_vars; t++) {
        const uint32_t n = (uint32_t)rnd_range(2, 1024);
        /* sums of n int16 samples: |sum| <= 32768 n, sum^2 / n <= sumsq <= 2^30 n */
        const int64_t sum = t % 3u == 0u ? rnd_range(-3 * (int64_t)n, 3 * (int64_t)n)
                                         : rnd_range(-32768 * (int64_t)n, 32767 * (int64_t)n);
        const int64_t low = (sum * sum + n - 1) / n;
        const int64_t sumsq = t % 4u == 0u ? low + rnd_range(0, 3) : rnd_range(low, ((int64_t)1 << 30) * n);
        CHECK_QUIET(ok, td_var_q32((int32_t)sum, sumsq, n) == ref_var_q32(sum, sumsq, n));
    }
    CHECK(ok);
}

#if TD_HOST_X86
/* td_mean_std_q8_x86 (the x86-64 window close's mean and std: DIVSD, SQRTSD and a 128-bit fix-up) against the integer
 * functions it replaces, td_mean_q8 and td_std_q8(td_var_q32), on 4 million windows of every size 1..1024: samples
 * of two or three values in any counts (every spread from none to the int16 range), near-constant windows (the
 * smallest variances, where the variance's rounding matters most), and 20,000 windows of random samples. */
static void test_mean_std_x86(void)
{
    int ok_mean = 1;
    int ok_std = 1;
    td_recip_t recip = {0u, 0.0, 0.0}; /* reused across calls, as the window close does */
    uint32_t near_half = 0u; /* windows whose std_q8 sits within 1/64 of a rounding step: the 128-bit test's */
    for (uint32_t t = 0; t < 4000000u; t++) {
        const uint32_t n = t % 8u == 0u ? (uint32_t)rnd_range(1, 8) : (uint32_t)rnd_range(1, 1024);
        int64_t sum = 0;
        int64_t sumsq = 0;
        const int64_t base = t % 5u == 0u ? (t % 10u == 0u ? -32768 : 32767) : rnd_range(-32768, 32767);
        const uint32_t kind = t % 4u;
        if (kind == 3u && t % 200u == 3u) {
            for (uint32_t i = 0; i < n; i++) {
                const int64_t v = rnd_range(-32768, 32767);
                sum += v;
                sumsq += v * v;
            }
        } else {
            /* k samples at a, m at b, the rest at base: a, b at most `spread` away (1 for near-constant windows) */
            const int64_t spread = kind == 0u ? 1 : (kind == 1u ? rnd_range(1, 300) : 65535);
            const int64_t a = base + rnd_range(-spread, spread);
            const int64_t av = a < -32768 ? -32768 : (a > 32767 ? 32767 : a);
            const int64_t bv = kind == 0u ? base : rnd_range(-32768, 32767);
            const uint32_t k = (uint32_t)rnd_range(0, n);
            const uint32_t m = (uint32_t)rnd_range(0, n - k);
            const uint32_t r = n - k - m;
            sum = (int64_t)k * av + (int64_t)m * bv + (int64_t)r * base;
            sumsq = (int64_t)k * av * av + (int64_t)m * bv * bv + (int64_t)r * base * base;
        }
        int32_t mean;
        int32_t std;
        td_mean_std_q8_x86((int32_t)sum, sumsq, n, &recip, &mean, &std);
        const int32_t want_std = td_std_q8(td_var_q32((int32_t)sum, sumsq, n));
        CHECK_QUIET(ok_mean, mean == td_mean_q8((int32_t)sum, n));
        CHECK_QUIET(ok_std, std == want_std);
        const uint64_t var = td_var_q32((int32_t)sum, sumsq, n);
        const uint32_t low8 = (td_isqrt64(var) + 128u) & 0xFFu;
        near_half += low8 < 4u || low8 > 251u ? 1u : 0u;
    }
    /* Where the estimate's floor is wrong: the variance's rounding puts V on (256 s - 128)^2 from up to 1/2 below it,
     * so std_q8 is s while sqrt(d 2^32 / n^2) (and x) stay below. d around the least d of that interval, with sum
     * chosen so that sumsq = (d + sum^2) / n is an integer. */
    uint32_t boundary_cases = 0u;
    for (uint32_t t = 0; t < 200000u; t++) {
        const uint32_t n = (uint32_t)rnd_range(2, 1024);
        const uint64_t nn = (uint64_t)n * n;
        const uint64_t j = 256u * (uint64_t)rnd_range(1, 1 << 23) - 128u;
        /* the least d with d 2^33 >= (2 j^2 - 1) nn */
        const td_u128_t need = (td_u128_t)(2u * j * j - 1u) * nn;
        const uint64_t d0 = (uint64_t)((need + ((td_u128_t)1 << 33) - 1u) >> 33);
        for (int64_t dd = -2; dd <= 2; dd++) {
            const int64_t d = (int64_t)d0 + dd;
            for (int64_t sum = 0; sum < (int64_t)n; sum++) {
                if ((d + sum * sum) % (int64_t)n != 0) {
                    continue;
                }
                const int64_t sumsq = (d + sum * sum) / (int64_t)n;
                if (d < 0 || sumsq > ((int64_t)1 << 30) * n) {
                    break;
                }
                int32_t mean;
                int32_t std;
                td_mean_std_q8_x86((int32_t)sum, sumsq, n, &recip, &mean, &std);
                CHECK_QUIET(ok_std, std == td_std_q8(td_var_q32((int32_t)sum, sumsq, n)));
                CHECK_QUIET(ok_mean, mean == td_mean_q8((int32_t)sum, n));
                boundary_cases++;
                break;
            }
        }
    }
    CHECK(boundary_cases > 100000u);
    /* The mean for every count, at every multiple of the count and next to it (a / 2n an integer or within 1 / 2n of
     * one: where a rounded reciprocal's product would fall short). */
    int ok_every_n = 1;
    for (uint32_t n = 1; n <= 1024u; n++) {
        for (uint32_t i = 0; i < 300u; i++) {
            const int64_t base = (int64_t)n * rnd_range(-32768, 32767);
            const int64_t sum = base + rnd_range(-1, 1);
            if (sum < -32768 * (int64_t)n || sum > 32767 * (int64_t)n) {
                continue;
            }
            int32_t mean;
            int32_t std;
            td_mean_std_q8_x86((int32_t)sum, (int64_t)32767 * 32767 * n, n, &recip, &mean, &std);
            CHECK_QUIET(ok_every_n, mean == td_mean_q8((int32_t)sum, n));
        }
    }
    CHECK(ok_every_n);
    /* The edges: one sample of each extreme, all samples at one extreme, and the widest spread. */
    const int64_t edge_sums[][3] = {{-32768, (int64_t)1 << 30, 1}, {32767, (int64_t)32767 * 32767, 1},
                                    {-32768 * 1024, ((int64_t)1 << 30) * 1024, 1024},
                                    {-512, 512 * ((int64_t)1 << 30) + 512 * (int64_t)32767 * 32767, 1024}};
    for (uint32_t i = 0; i < sizeof edge_sums / sizeof edge_sums[0]; i++) {
        const int32_t sum = (int32_t)edge_sums[i][0];
        const int64_t sumsq = edge_sums[i][1];
        const uint32_t n = (uint32_t)edge_sums[i][2];
        int32_t mean;
        int32_t std;
        td_mean_std_q8_x86(sum, sumsq, n, &recip, &mean, &std);
        CHECK_EQ(mean, td_mean_q8(sum, n));
        CHECK_EQ(std, td_std_q8(td_var_q32(sum, sumsq, n)));
    }
    CHECK(ok_mean);
    CHECK(ok_std);
    CHECK(near_half > 10000u); /* the fix-up really ran on many windows */
}
#endif
/* td_std_q8_pow2 (the Cortex-M4F close's std of 2^p samples: a float root, then an integer fix-up) against the
 * reference root (ref_isqrt of scaled 4^(16 - p), which the other builds' td_isqrt64_shl also gives): every window
 * size 2^p up to 1024, 0 and the largest scaled, scaled of every magnitude, and the values on both sides of each
 * boundary where std steps (y = scaled 2^(18 - 2p) reaching (2s - 1)^2, for random s and the largest). 2 million
 * values a size on x86-64 hosts (plain C there but for the root: the same IEEE single-precision operations),
 * fewer on the M4 in QEMU, where td_sqrt_f32 is VSQRT.F32. */
static int32_t ref_std_pow2(uint64_t scaled, uint32_t p)
{
    return (int32_t)(((uint64_t)ref_isqrt(scaled << (32u - 2u * p)) + 128u) >> 8);
}

static void test_std_pow2(void)
{
#if defined(__x86_64__)
    const uint32_t n_values = 2000000u;
#else
    const uint32_t n_values = 20000u;
#endif
    int ok = 1;
    for (uint32_t p = 0; p <= 10u; p++) {
        const uint64_t limit = (uint64_t)1 << (2u * p + 30u); /* scaled < n^2 2^30 */
        CHECK_QUIET(ok, td_std_q8_pow2(0u, p) == 0 && td_std_q8_pow2(1u, p) == ref_std_pow2(1u, p));
        CHECK_QUIET(ok, td_std_q8_pow2(limit - 1u, p) == ref_std_pow2(limit - 1u, p));
        for (uint32_t t = 0; t < n_values; t++) {
            uint64_t v;
            if (t % 2u == 0u) {
                v = (rnd64() % limit) >> (rnd64() % (2u * p + 30u));
            } else {
                /* y = v 2^(18 - 2p) (or v / 4 for p = 10) crosses o^2: the smallest such v and its neighbours */
                const uint64_t s = t % 64u == 1u ? (1u << 23) - (rnd64() % 4096u) : 1u + (rnd64() >> (40u + rnd64() % 24u));
                const uint64_t o = 2u * s - 1u;
                const uint64_t sq = o * o;
                const uint64_t first = p <= 9u ? (sq + ((uint64_t)1 << (18u - 2u * p)) - 1u) >> (18u - 2u * p) : 4u * sq;
                v = first + (uint64_t)rnd_range(-1, 1);
                if (v >= limit) {
                    v = limit - 1u;
                }
            }
            const int32_t got = td_std_q8_pow2(v, p);
            CHECK_QUIET(ok, got == ref_std_pow2(v, p));
#if TD_OPTIMIZE_SPEED
            if (t % 64u == 0u) {
                CHECK_QUIET(ok, got == (int32_t)((td_isqrt64_shl(v, 16u - p) + 128u) >> 8));
            }
#endif
        }
    }
    CHECK(ok);
}

/* The lifetime read-out (exact sums, 128-bit arithmetic in two words) against the compiler's native 128-bit
 * division, for states up to TD_LIFETIME_MAX_SAMPLES with extreme and random sums, each followed by a merge.
 * Host only (TD_TEST_WIDE: the reference needs 128-bit division); the read-out is plain C on 32-bit words with no
 * target-specific path, and the firmware does not link it. */
#if TD_TEST_WIDE
static void test_lifetime_exact(void)
{
    int ok = 1;
    uint32_t at_limit = 0;
    for (uint32_t trial = 0; trial < 20000u; trial++) {
        uint64_t n;
        switch (trial % 4u) {
        case 0: n = (uint64_t)rnd_range(1, 5000); break;
        case 1: n = (uint64_t)rnd_range(1, (int64_t)1 << 40); break;
        case 2: n = TD_LIFETIME_MAX_SAMPLES - (uint64_t)rnd_range(0, 3000); break;
        default: n = TD_LIFETIME_MAX_SAMPLES;
        }
        /* k samples at hi and n - k at lo: the largest sum of squares for that sum; or the least one it allows. */
        const int64_t lo = trial % 3u == 0u ? -32768 : rnd_range(-32768, 32767);
        const int64_t hi = trial % 5u == 0u ? 32767 : rnd_range(lo, 32767);
        const uint64_t k = (uint64_t)rnd_range(0, (int64_t)n);
        const iwide sum = (iwide)k * hi + (iwide)(n - k) * lo;
        uwide sumsq = (uwide)k * (uwide)(hi * hi) + (uwide)(n - k) * (uwide)(lo * lo);
        if (trial % 7u == 0u) {
            const uwide least = ((uwide)(sum < 0 ? -sum : sum) * (uwide)(sum < 0 ? -sum : sum) + n - 1u) / n;
            sumsq = least;
        }
        td_lifetime_t life;
        CHECK_QUIET(ok, td_lifetime_init(&life) == TD_OK);
        life.n = n;
        life.sum = (int64_t)sum;
        life.sumsq_lo = (uint64_t)sumsq;
        life.sumsq_hi = (uint64_t)(sumsq >> 64);
        for (uint32_t step = 0; step < 2u && ok; step++) {
            uint64_t got_n;
            int64_t got_mean;
            uint64_t got_var;
            CHECK_QUIET(ok, td_lifetime_get(&life, &got_n, &got_mean, &got_var) == TD_OK);
            const iwide s_now = (iwide)life.sum;
            const uwide q_now = ((uwide)life.sumsq_hi << 64) | life.sumsq_lo;
            const uint64_t nn_now = life.n;
            const uwide mag = (uwide)(s_now < 0 ? -s_now : s_now);
            const uwide mean_mag = ((mag << 32) + nn_now / 2u) / nn_now; /* ties away from zero */
            const uwide nq = (uwide)nn_now * q_now;
            const uwide d = nq > mag * mag ? nq - mag * mag : 0u;
            const uwide nn = (uwide)nn_now * nn_now;
            const uwide r = d % nn;
            const uwide var = ((d / nn) << 32) + ((r << 32) / nn) + (2u * ((r << 32) % nn) >= nn ? 1u : 0u);
            CHECK_QUIET(ok, got_n == nn_now && got_mean == (s_now < 0 ? -(int64_t)mean_mag : (int64_t)mean_mag) &&
                                got_var == (uint64_t)var);
            /* Then one more window of random samples: merged exactly, or refused at the limit. */
            const uint32_t m = (uint32_t)rnd_range(0, 1024);
            int32_t ws = 0;
            int64_t wq = 0;
            for (uint32_t i = 0; i < m; i++) {
                const int32_t v = (int32_t)rnd_range(-32768, 32767);
                ws += v;
                wq += (int64_t)v * v;
            }
            const td_lifetime_t before = life;
            const td_status st = td_lifetime_merge(&life, m, ws, wq);
            if (before.n + m > TD_LIFETIME_MAX_SAMPLES) {
                at_limit++;
                CHECK_QUIET(ok, st == TD_ERR_CAPACITY && memcmp(&before, &life, sizeof life) == 0);
            } else {
                const uwide q_next = q_now + (uwide)wq;
                CHECK_QUIET(ok, st == TD_OK && life.n == before.n + m && life.sum == before.sum + ws &&
                                    life.sumsq_lo == (uint64_t)q_next && life.sumsq_hi == (uint64_t)(q_next >> 64));
            }
        }
    }
    CHECK(ok);
    CHECK(at_limit > 1000u);
}
#endif

/* ---- 64-by-32-bit division (td_udiv64_32, td_round_div32: private, csrc/src/td_fixed.h) ---- */

#include "td_fixed.h"

/* Own xorshift64 stream, so the tests after this one see the shared stream unchanged. */
static uint64_t div_rnd(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Every window size n = 1..1024 through td_var_q32 and a lifetime of that one window: a power of two takes the
 * exact shift in td_var_q32 (n^2 divides 2^32), any other n the long division; both against 128-bit references,
 * with extreme and random sample sets (own stream: the later tests see the shared one unchanged). */
static void test_stats_every_n(void)
{
    uint64_t state = 0x243F6A8885A308D3ull;
    int ok = 1;
    uint32_t n_pow2 = 0;
    uint32_t n_other = 0;
    for (uint32_t n = 1; n <= 1024u; n++) {
        if ((n & (n - 1u)) == 0u) {
            n_pow2++;
        } else {
            n_other++;
        }
        for (uint32_t t = 0; t < 6u; t++) {
            int64_t sum = 0;
            int64_t sumsq = 0;
            for (uint32_t i = 0; i < n; i++) {
                int64_t v;
                switch (t) {
                case 0: v = -32768; break;
                case 1: v = (i & 1u) ? 32767 : -32768; break;
                case 2: v = i == 0u ? 32767 : -32768; break;
                case 3: v = (int64_t)(div_rnd(&state) % 3u) - 1; break;
                default: v = (int64_t)(div_rnd(&state) % 65536u) - 32768;
                }
                sum += v;
                sumsq += v * v;
            }
            const uint64_t var = td_var_q32((int32_t)sum, sumsq, n);
            CHECK_QUIET(ok, var == ref_var_q32(sum, sumsq, n));
            td_lifetime_t life;
            uint64_t got_n;
            int64_t got_mean;
            uint64_t got_var;
            CHECK_QUIET(ok, td_lifetime_init(&life) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_merge(&life, n, (int32_t)sum, sumsq) == TD_OK);
            CHECK_QUIET(ok, td_lifetime_get(&life, &got_n, &got_mean, &got_var) == TD_OK);
            CHECK_QUIET(ok, got_n == n && got_var == var &&
                                got_mean == (int64_t)ref_round_div((iwide)sum * ((iwide)1 << 32), n));
        }
    }
    CHECK(ok);
    CHECK(n_pow2 == 11u && n_other == 1013u);
}

/* td_udiv64_32 and td_round_div32 against native 64-bit and 128-bit division: edge cases, then
 * 10^6 random pairs of mixed magnitudes; and the outputs' divisions on extreme states. */
static void test_div64_32(void)
{
    static const uint32_t dens[] = {1u, 2u, 3u, 7u, 10u, 255u, 0xFFFFu, 0x10000u, 0x10001u, 0x7FFFFFu,
                                    0x800000u, 0x12345678u, 0x7FFFFFFFu, 0x80000000u, 0x80000001u,
                                    0x8000FFFFu, 0x80010000u, 0xFFFF0000u, 0xFFFF0001u, 0xFFFFFFFEu,
                                    0xFFFFFFFFu};
    static const uint64_t nums[] = {0u, 1u, 2u, 0xFFFFu, 0x10000u, 0xFFFFFFFFu, 0x100000000ull, 0x100000001ull,
                                    0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0xFFFFFFFF00000000ull,
                                    0xFFFFFFFFFFFFFFFEull, 0xFFFFFFFFFFFFFFFFull};
    int ok = 1;
    unsigned long cases = 0;
    for (uint32_t i = 0; i < sizeof dens / sizeof dens[0] + 32u; i++) {
        /* the listed divisors, then every power of two */
        const uint32_t den = i < sizeof dens / sizeof dens[0] ? dens[i] : (uint32_t)1 << (i - sizeof dens / sizeof dens[0]);
        for (uint32_t j = 0; j < sizeof nums / sizeof nums[0] + 64u + 12u; j++) {
            uint64_t num;
            if (j < sizeof nums / sizeof nums[0]) {
                num = nums[j];
            } else if (j < sizeof nums / sizeof nums[0] + 64u) {
                num = (uint64_t)1 << (j - sizeof nums / sizeof nums[0]);
            } else {
                /* q den + r for quotients just below, at and above 2^32 and 2^16, r in {0, den - 1} */
                static const uint64_t qs[6] = {0xFFFFu, 0x10000u, 0xFFFFFFFEu, 0xFFFFFFFFu, 0x100000000ull,
                                               0x100000001ull};
                const uint32_t k = j - (uint32_t)(sizeof nums / sizeof nums[0]) - 64u;
                const uint64_t r = k % 2u ? den - 1u : 0u;
                if (qs[k / 2u] > (UINT64_MAX - r) / den) { /* past 2^64 */
                    continue;
                }
                num = qs[k / 2u] * den + r;
            }
            CHECK_QUIET(ok, td_udiv64_32(num, den) == num / den);
            cases++;
        }
    }
    uint64_t st = 0x2545F4914F6CDD1Dull;
    for (uint32_t i = 0; i < 1000000u; i++) {
        const uint64_t r = div_rnd(&st);
        uint64_t num = div_rnd(&st) >> (r & 63u);
        uint32_t den = (uint32_t)(div_rnd(&st) >> (32u + ((r >> 6) & 31u)));
        switch ((r >> 11) & 3u) {
        case 0: /* high half 0x8000..: the digit estimate is most often too large */
            den = 0x80000000u | (den & 0x0003FFFFu) | (den << 16);
            break;
        case 1: /* num's high word just below den (quotient just below 2^32) */
            num = ((uint64_t)(den - (den > 1u ? 1u + (uint32_t)(r >> 13) % (den - 1u) : 0u)) << 32) |
                  (uint32_t)num;
            break;
        default:
            break;
        }
        if (den == 0u) {
            den = 1u + (uint32_t)(r >> 40);
        }
        CHECK_QUIET(ok, td_udiv64_32(num, den) == num / den);
        /* td_round_div32 on |num| < 2^62 of either sign, ties included */
        int64_t sn = (int64_t)(num >> 2);
        if ((r >> 15) & 1u) {
            sn = (int64_t)(((uint64_t)sn / den) * den + den / 2u) & (((int64_t)1 << 62) - 1);
        }
        if ((r >> 16) & 1u) {
            sn = -sn;
        }
        CHECK_QUIET(ok, td_round_div32(sn, den) == (int64_t)ref_round_div(sn, den));
        cases++;
    }
    CHECK(ok);
    CHECK(cases > 1000000u);

    /* Lifetime weight for N = life.n + n_b across 2^20, 2^32, 2^53 up to 2^64 - 1. */
    /* The outputs' divisions on extreme accumulator and DDM states (sums near 2^32, priors beyond
     * 1 so the prior-shift distance exceeds 2^32, more errors than labels). */
    int ok_o = 1;
    for (uint32_t i = 0; i < 100000u; i++) {
        const uint64_t r = div_rnd(&st);
        td_outputs_config_t cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.n_classes = (uint8_t)(2u + r % (TD_MAX_CLASSES - 1u));
        td_outputs_acc_t acc;
        memset(&acc, 0, sizeof acc);
        acc.count = (uint16_t)((r >> 8) & 1u ? 0xFFFFu : 1u + (div_rnd(&st) % 0xFFFFu));
        acc.confidence_sum_q16 = (r >> 9) & 1u ? 0xFFFFFFFFu - (uint32_t)(r >> 40) % 4u : (uint32_t)div_rnd(&st);
        acc.estimate_sum_q16 = (uint32_t)div_rnd(&st);
        iwide distance = 0;
        for (uint32_t c = 0; c < cfg.n_classes; c++) {
            acc.histogram[c] = (uint16_t)div_rnd(&st);
            cfg.prior_q16[c] = (r >> 10) & 1u ? (uint32_t)div_rnd(&st) : (uint32_t)(div_rnd(&st) % (TD_Q16_ONE + 1u));
            const iwide d = ((iwide)acc.histogram[c] << 16) - (iwide)acc.count * cfg.prior_q16[c];
            distance += d < 0 ? -d : d;
        }
        td_outputs_summary_t out;
        CHECK_QUIET(ok_o, td_outputs_summary(&acc, &cfg, &out) == TD_OK);
        CHECK_QUIET(ok_o, out.mean_confidence_q16 == (uint32_t)ref_round_div(acc.confidence_sum_q16, acc.count));
        CHECK_QUIET(ok_o, out.estimated_accuracy_q16 == (uint32_t)ref_round_div(acc.estimate_sum_q16, acc.count));
        CHECK_QUIET(ok_o, out.prior_shift_q16 == (uint32_t)ref_round_div(distance, 2 * (iwide)acc.count));
        td_ddm_t ddm;
        CHECK_QUIET(ok_o, td_ddm_init(&ddm) == TD_OK);
        ddm.total = 1u + (uint32_t)(div_rnd(&st) >> ((r >> 11) % 32u));
        ddm.total_errors = (r >> 16) & 1u ? (uint32_t)div_rnd(&st) : (uint32_t)(div_rnd(&st) % (ddm.total + (uint64_t)1));
        const uint32_t right = ddm.total - ddm.total_errors;
        CHECK_QUIET(ok_o, td_ddm_accuracy_q16(&ddm) == (uint32_t)ref_round_div((iwide)right << 16, ddm.total));
    }
    CHECK(ok_o);
}


int main(void)
{
    test_stats_contract_edges();
    test_window_fixed();
    test_window_random();
    test_window_frames();
    test_window_short_blocks();
    test_window_block_fresh();
    test_window_block_kernels();
#if TD_BLOCK_LANES && TD_BLOCK_AVX2
    /* the fresh path ran wherever the CPU has AVX2 (it takes 5-8 channels, 2 frames or more) */
    printf("  fresh path: %lu blocks\n", g_fresh_runs);
    CHECK(g_fresh_runs > 0u || !__builtin_cpu_supports("avx2"));
#endif
    test_stats_functions();
    test_window_edges();
    test_isqrt_exhaustive();
    test_host_x86_paths();
#if TD_HOST_X86
    test_mean_std_x86();
#endif
    test_std_pow2();
#if TD_TEST_WIDE
    test_lifetime_exact();
#endif
    test_div64_32();
    test_stats_every_n();
    printf("test_stats: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
