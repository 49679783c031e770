/* test_minimal.c - the minimal core (-DTD_MINIMAL=1: statistics, health, PCA embedding, score, CUSUM) against the
 * full one on what both compute. Built twice by make test-c, once per build; each prints one digest line per random
 * profile (FNV-1a over every window's score, distance, CUSUM, embedding, nearest centroid, health masks, the
 * instant/CUSUM/health trigger bits and every channel statistic) and the Makefile compares the two outputs byte for
 * byte. Each build also checks on its own: the square root (the minimal build has its own) against the reference,
 * and what the minimal build refuses (external embeddings, fewer dimensions than features, outputs, lifetime).
 *
 * Build and run (make test-c does, under ASan/UBSan):
 *   gcc -std=c99 -Wall -Wextra -Werror -DTD_MINIMAL=1 -Icsrc/include -Icsrc/src tests/c/test_minimal.c \
 *       csrc/src/td_*.c -o /tmp/test_minimal_1 -lm && /tmp/test_minimal_1 > /tmp/minimal.txt
 *   (the same with -DTD_MINIMAL=0 into /tmp/full.txt), then cmp /tmp/full.txt /tmp/minimal.txt
 * Prints the digests, then "test_minimal (TD_MINIMAL=N): P passed, F failed"; exits non-zero on any failure.
 */
#include "td_test_model.h"

static uint64_t g_hash = 0xCBF29CE484222325ull;

static void mix(int64_t v)
{
    for (uint32_t i = 0; i < 8u; i++) {
        g_hash = (g_hash ^ (uint8_t)((uint64_t)v >> (8u * i))) * 0x100000001B3ull;
    }
}

/* The fields both builds compute (the alarm and top_channel also follow the chart, occupancy and attribution). */
static void mix_result(const td_profile_t *prof, const td_window_result_t *r)
{
    mix(r->window_index);
    mix(r->score_q8);
    mix(r->dist_q8);
    mix(r->recon_q8);
    mix(r->cusum_q8);
    for (uint32_t j = 0; j < prof->n_dims; j++) {
        mix(r->embedding_q8[j]);
    }
    mix(r->nearest);
    mix(r->stuck_mask);
    mix(r->saturated_mask);
    mix(r->missing_mask);
    mix(r->trigger & (TD_TRIGGER_INSTANT | TD_TRIGGER_CUSUM | TD_TRIGGER_HEALTH));
    for (uint32_t c = 0; c < prof->n_channels; c++) {
        const td_channel_result_t *ch = &r->channels[c];
        mix(ch->sumsq);
        mix(ch->sum);
        mix(ch->mean_q8);
        mix(ch->std_q8);
        mix(ch->min);
        mix(ch->max);
        mix(ch->z_mean_q8);
        mix(ch->z_std_q8);
        mix(ch->n_missing);
        mix(ch->n_saturated);
    }
}

/* Random full-rank PCA profiles (the minimal build's kind; half with a feature chart, some with an outputs section,
 * which the minimal build ignores), 40 windows each in random blocks. */
static void test_same_results(void)
{
    static int16_t frames[40u * 64u * 6u];
    static td_window_result_t res[40];
    int ok = 1;
    uint32_t profiles = 0u;
    uint32_t windows = 0u;
    while (profiles < 300u) {
        w_spec_t s;
        random_profile(&s, 0);
        if (s.n_dims != 2u * s.n_channels) {
            continue;
        }
        if (rnd64() % 4u == 0u) {
            w_outputs(&s, 3u, 4u);
        }
        profiles++;
        parsed_t p;
        CHECK_QUIET(ok, parsed_open(&p, &s));
        td_monitor_t mon;
        CHECK_QUIET(ok, td_monitor_init(&mon, &p.prof) == TD_OK);
        const uint32_t n_win = 40u;
        for (uint32_t w = 0; w < n_win; w++) {
            gen_window(&s, frames + (size_t)w * s.window * s.n_channels);
        }
        g_hash = 0xCBF29CE484222325ull;
        uint32_t done = 0u;
        uint32_t n_res_total = 0u;
        const uint32_t total = n_win * s.window;
        while (done < total) {
            const uint32_t take = (uint32_t)rnd_range(1, rnd64() % 2u ? 5 : 3 * (int64_t)s.window);
            const uint32_t n = take < total - done ? take : total - done;
            uint32_t n_res = 0u;
            CHECK_QUIET(ok, td_monitor_push(&mon, frames + (size_t)done * s.n_channels, n, res, 40u, &n_res) == TD_OK);
            for (uint32_t i = 0; i < n_res; i++) {
                mix_result(&p.prof, &res[i]);
            }
            n_res_total += n_res;
            done += n;
        }
        CHECK_QUIET(ok, n_res_total == n_win);
        windows += n_res_total;
        printf("profile %u: %u channels, window %u, %u windows, digest %016llx\n", (unsigned)profiles,
               (unsigned)s.n_channels, (unsigned)s.window, (unsigned)n_res_total, (unsigned long long)g_hash);
        parsed_close(&p);
    }
    printf("%u profiles, %u windows\n", (unsigned)profiles, (unsigned)windows);
    CHECK(ok);
}

/* The square root (the minimal build's is bit-serial) against the reference, at powers of two, squares and their
 * neighbours, and random values. */
static void test_isqrt(void)
{
    int ok = 1;
    for (uint32_t b = 0; b < 64u; b++) {
        const uint64_t v = (uint64_t)1 << b;
        for (int64_t d = -2; d <= 2; d++) {
            CHECK_QUIET(ok, td_isqrt64(v + (uint64_t)d) == ref_isqrt(v + (uint64_t)d));
        }
    }
    for (uint32_t i = 0; i < 200000u; i++) {
        const uint64_t r = rnd64();
        const uint64_t v = r >> (r & 63u);
        const uint64_t sq = (uint64_t)(uint32_t)(v >> 32) * (uint32_t)(v >> 32);
        CHECK_QUIET(ok, td_isqrt64(v) == ref_isqrt(v));
        CHECK_QUIET(ok, td_isqrt64(sq) == ref_isqrt(sq) && td_isqrt64(sq - 1u) == ref_isqrt(sq - 1u));
    }
    CHECK_QUIET(ok, td_isqrt64(UINT64_MAX) == 0xFFFFFFFFu);
    CHECK(ok);
}

/* What the minimal build refuses, and the full build accepts. */
static void test_modes(void)
{
    w_spec_t s;
    parsed_t p;
    td_monitor_t mon;
    /* External embeddings: the parser refuses the profile (TD_ERR_MODE) in the minimal build. */
    w_ext(&s);
    p.blob = w_build(&s, &p.size);
    CHECK_EQ(td_profile_parse(&p.prof, p.blob, p.size), TD_MINIMAL ? TD_ERR_MODE : TD_OK);
    parsed_close(&p);
    /* Fewer dimensions than features (a reconstruction error to add): td_monitor_init refuses it. */
    w_pca(&s, 4u);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_MINIMAL ? TD_ERR_MODE : TD_OK);
    parsed_close(&p);
    /* Full rank with an outputs section: runs; the outputs, embeddings and lifetime entry points are TD_ERR_MODE. */
    w_pca(&s, 6u);
    w_outputs(&s, 3u, 4u);
    CHECK(parsed_open(&p, &s));
    CHECK_EQ(td_monitor_init(&mon, &p.prof), TD_OK);
    const int8_t probs[3] = {-128, 100, -100};
    uint32_t seq = 0u;
    CHECK_EQ(td_monitor_push_outputs(&mon, probs, 3u, &seq), TD_MINIMAL ? TD_ERR_MODE : TD_OK);
    CHECK_EQ(td_monitor_push_label(&mon, seq, 1u), TD_MINIMAL ? TD_ERR_MODE : TD_OK);
    const int8_t emb[6] = {0};
    CHECK_EQ(td_monitor_push_embedding(&mon, emb, 6u), TD_ERR_MODE);
    td_lifetime_t life;
    CHECK_EQ(td_monitor_lifetime(&mon, 0u, &life), TD_MINIMAL ? TD_ERR_MODE : TD_OK);
    CHECK_EQ(td_monitor_lifetime(NULL, 0u, &life), TD_ERR_ARG);
    parsed_close(&p);
}

int main(void)
{
    test_same_results();
    test_isqrt();
    test_modes();
    printf("test_minimal (TD_MINIMAL=%d): %lu passed, %lu failed\n", TD_MINIMAL, g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
