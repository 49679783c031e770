/* test_profile.c - the profile parser (td_profile.c): valid profiles decoded field by field, every
 * corruption and truncation rejected (each parser trial on a heap buffer of exactly the length passed, so
 * AddressSanitizer reports any read past it), semantic violations under a valid CRC, the outputs section.
 *
 * Build and run (make test-c does, under ASan/UBSan, also with TD_OPTIMIZE_SPEED=1 and TD_TEST_NARROW; make
 * test-core-m4 on a Cortex-M4):
 *   gcc -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
 *       -Icsrc/include -Icsrc/src tests/c/test_profile.c csrc/src/td_*.c -o /tmp/test_profile -lm && /tmp/test_profile
 * Prints "test_profile: N passed, M failed" and exits non-zero on any failure. Shared writer and reference model:
 * td_test_model.h.
 */
#include "td_test_model.h"

/* ---- profile: accept and decode ---------------------------------------------------- */

static void check_decoded(const w_spec_t *s, const uint8_t *blob, uint32_t size, const td_profile_t *p)
{
    const uint32_t n_features = 2u * s->n_channels;
    CHECK(p->blob == blob);
    CHECK_EQ(p->size, size);
    CHECK_EQ(p->profile_id, s->profile_id);
    CHECK_EQ(p->created_unix, s->created_unix);
    CHECK_EQ(p->flags, s->flags);
    CHECK_EQ(p->window, s->window);
    CHECK_EQ(p->n_channels, s->n_channels);
    CHECK_EQ(p->n_features, n_features);
    CHECK_EQ(p->n_dims, s->n_dims);
    CHECK_EQ(p->n_centroids, s->n_centroids);
    CHECK_EQ(p->proj_shift, s->proj_shift);
    CHECK_EQ(p->false_alarm_ppb, s->false_alarm_ppb);
    CHECK_EQ(p->cusum_k_q8, s->cusum_k_q8);
    CHECK_EQ(p->cusum_h_q8, s->cusum_h_q8);
    CHECK_EQ(p->instant_q8, s->instant_q8);
    CHECK_EQ(p->ext_scale_q24, s->ext_scale_q24);
    CHECK_EQ(p->ext_zero_point, s->ext_zero_point);
    const uint32_t off_features = 64u + 24u * s->n_channels;
    const uint32_t off_proj = off_features + 8u * n_features;
    const uint32_t off_cent = off_proj + w_proj_bytes(s);
    CHECK(p->channels == blob + 64);
    CHECK(p->features == blob + off_features);
    if (s->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        CHECK(p->projection == NULL);
    } else {
        CHECK(p->projection == blob + off_proj);
        int ok = 1;
        for (uint32_t i = 0; i < (uint32_t)s->n_dims * n_features; i++) {
            CHECK_QUIET(ok, (int8_t)p->projection[i] == s->proj[i]);
        }
        CHECK(ok);
    }
    CHECK(p->centroids == blob + off_cent);
    const uint32_t off_scales = off_cent + 4u * s->n_centroids * s->n_dims;
    const uint32_t off_chart = off_scales + w_scales_bytes(s);
    const uint32_t off_outputs = off_chart + w_chart_bytes(s);
    if (s->flags & TD_PROFILE_FLAG_CENTROID_SCALES) {
        CHECK(p->centroid_scales == blob + off_scales);
    } else {
        CHECK(p->centroid_scales == NULL);
    }
    CHECK(p->occupancy == NULL); /* the writer has no occupancy section */
    if (s->flags & TD_PROFILE_FLAG_FEATURE_CHART) {
        CHECK(p->feature_chart == blob + off_chart);
    } else {
        CHECK(p->feature_chart == NULL);
    }
    CHECK_EQ(off_outputs + w_outputs_bytes(s) + 4u, size);
    td_outputs_config_t oc;
    memset(&oc, 0x5A, sizeof oc);
    if (s->flags & TD_PROFILE_FLAG_OUTPUTS) {
        CHECK(p->outputs == blob + off_outputs);
        CHECK_EQ(td_profile_outputs(p, &oc), TD_OK);
        CHECK_EQ(oc.n_classes, s->out_n_classes);
        CHECK_EQ(oc.n_bins, s->out_n_bins);
        CHECK_EQ(oc.scale_q24, s->out_scale_q24);
        CHECK_EQ(oc.zero_point, s->out_zero_point);
        int ok_out = 1;
        for (uint32_t c = 0; c < TD_MAX_CLASSES; c++) {
            CHECK_QUIET(ok_out, oc.prior_q16[c] == (c < s->out_n_classes ? s->out_prior_q16[c] : 0u));
        }
        for (uint32_t k = 0; k < TD_MAX_CONFIDENCE_BINS; k++) {
            CHECK_QUIET(ok_out, oc.accuracy_q16[k] == (k < s->out_n_bins ? s->out_accuracy_q16[k] : 0u));
        }
        CHECK(ok_out);
        CHECK_EQ(td_outputs_check(&oc), TD_OK);
        CHECK_EQ(td_profile_size(s->n_channels, s->n_dims, s->n_centroids, s->flags), 0u);
    } else {
        CHECK(p->outputs == NULL);
        CHECK_EQ(td_profile_outputs(p, &oc), TD_ERR_MODE);
        CHECK_EQ(oc.n_classes, 0x5A); /* untouched */
        CHECK_EQ(td_profile_size(s->n_channels, s->n_dims, s->n_centroids, s->flags), size);
    }
    CHECK_EQ(td_profile_outputs(NULL, &oc), TD_ERR_ARG);
    CHECK_EQ(td_profile_outputs(p, NULL), TD_ERR_ARG);
    CHECK_EQ(td_profile_size_outputs(s->n_channels, s->n_dims, s->n_centroids, s->flags, s->out_n_classes,
                                     s->out_n_bins), size);
    int ok = 1;
    for (uint32_t i = 0; i < (uint32_t)s->n_centroids * s->n_dims; i++) {
        CHECK_QUIET(ok, (int32_t)get_u32(p->centroids + 4u * i) == s->centroid_q8[i]);
    }
    for (uint32_t f = 0; f < n_features; f++) {
        CHECK_QUIET(ok, (int32_t)get_u32(p->features + 8u * f) == s->mu_q8[f]);
        CHECK_QUIET(ok, get_u32(p->features + 8u * f + 4u) == s->inv_sigma_q24[f]);
    }
    CHECK(ok);
    for (uint8_t c = 0; c < s->n_channels; c++) {
        td_channel_config_t cfg;
        memset(&cfg, 0x5A, sizeof cfg);
        CHECK_EQ(td_profile_channel(p, c, &cfg), TD_OK);
        CHECK_EQ(cfg.rail_lo, s->ch[c].rail_lo);
        CHECK_EQ(cfg.rail_hi, s->ch[c].rail_hi);
        CHECK_EQ(cfg.sentinel, s->ch[c].sentinel);
        CHECK_EQ(cfg.flags, s->ch[c].flags);
        CHECK_EQ(cfg.stuck_tolerance, s->ch[c].stuck_tol);
        CHECK_EQ(cfg.max_missing, s->ch[c].max_missing);
        CHECK_EQ(cfg.max_saturated, s->ch[c].max_saturated);
        CHECK_EQ(cfg.std_floor, s->ch[c].reserved);
        CHECK_EQ(cfg.ref_mean_q8, s->ch[c].ref_mean_q8);
        CHECK_EQ(cfg.ref_std_q8, s->ch[c].ref_std_q8);
    }
    td_channel_config_t cfg;
    CHECK_EQ(td_profile_channel(p, s->n_channels, &cfg), TD_ERR_ARG);
    CHECK_EQ(td_profile_channel(NULL, 0, &cfg), TD_ERR_ARG);
    CHECK_EQ(td_profile_channel(p, 0, NULL), TD_ERR_ARG);
}

static unsigned long g_corrupt_trials;
static unsigned long g_trunc_trials;

/* Valid blob accepted (exact and longer buffer), every corruption and truncation rejected. */
static void profile_roundtrip_and_fuzz(const w_spec_t *s, const char *name)
{
    uint32_t size;
    uint8_t *blob = w_build(s, &size);
    td_profile_t prof;

    /* Exact-length buffer. */
    memset(&prof, 0, sizeof prof);
    const td_status st0 = td_profile_parse(&prof, blob, size);
    CHECK_EQ(st0, TD_OK);
    if (st0 == TD_OK) {
        check_decoded(s, blob, size, &prof);
    }

    /* A longer buffer (profile in a larger flash slot) with garbage after the profile. */
    uint8_t *longer = malloc(size + 37u);
    memcpy(longer, blob, size);
    memset(longer + size, 0xA7, 37u);
    memset(&prof, 0, sizeof prof);
    CHECK_EQ(td_profile_parse(&prof, longer, size + 37u), TD_OK);
    CHECK_EQ(prof.size, size);
    CHECK(prof.blob == longer);
    free(longer);

    /* Every single-byte corruption: xor 0x01, 0x80, 0xFF at each offset. */
    static const uint8_t masks[3] = {0x01u, 0x80u, 0xFFu};
    int ok_rej = 1;
    int ok_untouched = 1;
    td_profile_t sentinel_prof;
    memset(&sentinel_prof, 0xA5, sizeof sentinel_prof);
    for (uint32_t i = 0; i < size; i++) {
        for (uint32_t m = 0; m < 3u; m++) {
            uint8_t *buf = malloc(size);
            memcpy(buf, blob, size);
            buf[i] ^= masks[m];
            memcpy(&prof, &sentinel_prof, sizeof prof);
            const td_status st = td_profile_parse(&prof, buf, size);
            free(buf);
            g_corrupt_trials++;
            if (st == TD_OK && ok_rej) {
                printf("  %s: corruption at offset %u mask 0x%02X accepted\n", name, (unsigned)i, masks[m]);
            }
            CHECK_QUIET(ok_rej, st != TD_OK);
            CHECK_QUIET(ok_untouched, memcmp(&prof, &sentinel_prof, sizeof prof) == 0);
        }
    }
    CHECK(ok_rej);
    CHECK(ok_untouched);

    /* Every truncation: len 0 .. size-1, each in an exactly sized heap buffer. */
    int ok_trunc = 1;
    for (uint32_t len = 0; len < size; len++) {
        memcpy(&prof, &sentinel_prof, sizeof prof);
        const td_status st = parse_exact(blob, len, &prof);
        g_trunc_trials++;
        if (st != TD_ERR_TRUNCATED && ok_trunc) {
            printf("  %s: truncation to %u bytes gave %d\n", name, (unsigned)len, (int)st);
        }
        CHECK_QUIET(ok_trunc, st == TD_ERR_TRUNCATED);
        CHECK_QUIET(ok_trunc, memcmp(&prof, &sentinel_prof, sizeof prof) == 0);
    }
    CHECK(ok_trunc);
    free(blob);
}

static void test_profile_valid(void)
{
    static w_spec_t s;
    w_pca(&s, 4u); /* 4 x 6 projection: 24 bytes, no padding */
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4");

    w_pca(&s, 3u); /* 3 x 6 projection: 18 bytes + 2 padding */
    CHECK_EQ(w_proj_bytes(&s), 20u);
    profile_roundtrip_and_fuzz(&s, "pca3");

    w_ext(&s);
    profile_roundtrip_and_fuzz(&s, "ext");

    /* Log-std features and centroid scales (a section of 4 * K * (D + 1) bytes after the centroids). */
    w_pca(&s, 4u);
    s.flags = TD_PROFILE_FLAG_LOG_STD | TD_PROFILE_FLAG_CENTROID_SCALES;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        s.ch[c].reserved = (uint16_t)(3u + c);
    }
    for (uint32_t k = 0; k < s.n_centroids; k++) {
        s.cs_offset_q8[k] = 100u * k;
        for (uint32_t j = 0; j < s.n_dims; j++) {
            s.cs_inv_scale_q16[k * s.n_dims + j] = 30000u + 1000u * j + k;
        }
    }
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u * s.n_centroids * 5u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled");

    /* A feature chart section (4 + 4 * K * F bytes) after the scales, and before an outputs section. */
    w_chart(&s, 77u, 4321u);
    s.chart_root[0] = 0u;
    s.chart_root[s.n_centroids * 6u - 1u] = TD_PROFILE_CHART_MAX_ROOT;
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 24u + 48u + 4u * s.n_centroids * 5u + 4u + 4u * s.n_centroids * 6u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled-chart");
    w_outputs(&s, 3u, 2u);
    profile_roundtrip_and_fuzz(&s, "pca4-scaled-chart-outputs");
    w_pca(&s, 3u); /* without scales: the chart follows the centroids */
    w_chart(&s, 0xFFFFu, 0u);
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 20u + 36u + 4u + 4u * 3u * 6u + 4u);
    profile_roundtrip_and_fuzz(&s, "pca3-chart");

    /* Largest profile the default limits allow. */
    w_defaults(&s);
    s.n_channels = TD_MAX_CHANNELS;
    s.n_dims = TD_MAX_DIMS;
    s.n_centroids = TD_MAX_CENTROIDS;
    s.window = TD_MAX_WINDOW;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        w_default_channel(&s.ch[c]);
    }
    for (uint32_t f = 0; f < 2u * s.n_channels; f++) {
        s.inv_sigma_q24[f] = 0x80000000u;
        s.mu_q8[f] = (f & 1u) ? 32768 * 256 : -32768 * 256;
    }
    for (uint32_t i = 0; i < (uint32_t)s.n_dims * 2u * s.n_channels; i++) {
        s.proj[i] = (int8_t)(i & 1u ? -128 : 127);
    }
    for (uint32_t i = 0; i < (uint32_t)s.n_dims * s.n_centroids; i++) {
        s.centroid_q8[i] = (i & 1u) ? (1 << 24) : -(1 << 24);
    }
    s.proj_shift = 15u;
    s.false_alarm_ppb = 1000000000u;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* NULL arguments. */
    td_profile_t prof;
    uint8_t byte = 0;
    CHECK_EQ(td_profile_parse(NULL, &byte, 1), TD_ERR_ARG);
    CHECK_EQ(td_profile_parse(&prof, NULL, 64), TD_ERR_ARG);

    /* td_profile_size is 0 for counts out of range. */
    CHECK_EQ(td_profile_size(0, 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(TD_MAX_CHANNELS + 1, 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 0, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, TD_MAX_DIMS + 1, 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, 0, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, TD_MAX_CENTROIDS + 1, 0), 0);
    CHECK_EQ(td_profile_size(1, 1, 1, 0), 64u + 24u + 16u + 4u + 4u + 4u);
    CHECK_EQ(td_profile_size(1, 1, 1, TD_PROFILE_FLAG_EXTERNAL_EMBEDDING), 64u + 24u + 16u + 4u + 4u);
}

/* ---- profile: semantic violations under a valid CRC ---------------------------------- */

static void test_profile_semantics(void)
{
    static w_spec_t base;
    static w_spec_t s;
    w_pca(&base, 3u);
    CHECK_EQ(spec_status(&base), TD_OK);

    /* Header identity. */
    s = base;
    memcpy(s.magic, "TDPX", 4);
    CHECK_EQ(spec_status(&s), TD_ERR_MAGIC);
    s = base;
    s.magic[0] = 't';
    CHECK_EQ(spec_status(&s), TD_ERR_MAGIC);
    s = base;
    s.version = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s.version = 2u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s.version = 0x0101u;
    CHECK_EQ(spec_status(&s), TD_ERR_VERSION);
    s = base;
    s.header_size = 63u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.header_size = 65u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    /* Wrong magic wins over a short buffer once 4 bytes are there; fewer than 4 is truncation. */
    {
        const uint8_t junk[10] = {'X', 'D', 'P', 'F', 1, 0, 64, 0, 0, 0};
        td_profile_t prof;
        CHECK_EQ(parse_exact(junk, 10, &prof), TD_ERR_MAGIC);
        CHECK_EQ(parse_exact(junk, 3, &prof), TD_ERR_TRUNCATED);
    }

    /* Declared total size inconsistent with the counts (CRC valid over the real size). */
    s = base;
    s.total_size_override = 1;
    s.total_size = w_size(&base) + 4u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = w_size(&base) - 4u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    s.total_size = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);

    /* CRC mismatch. */
    {
        uint32_t size;
        uint8_t *b = w_build(&base, &size);
        b[size - 1u] ^= 0x10u;
        td_profile_t prof;
        CHECK_EQ(parse_exact(b, size, &prof), TD_ERR_CRC);
        b[size - 1u] ^= 0x10u;
        b[100] ^= 0x02u;
        CHECK_EQ(parse_exact(b, size, &prof), TD_ERR_CRC);
        free(b);
    }

    /* Counts. A count poked into a valid blob changes the computed size: TD_ERR_SIZE. */
    CHECK_EQ(poke_status(&base, 16, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, TD_MAX_CHANNELS + 1u), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, 127), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 16, 1, 128), TD_ERR_LIMIT); /* n_features would not fit 8 bits */
    CHECK_EQ(poke_status(&base, 16, 1, 255), TD_ERR_LIMIT);
    CHECK_EQ(poke_status(&base, 17, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 18, 1, 0), TD_ERR_SIZE);
    /* Written consistently (size matches the counts): the range/limit checks answer. */
    s = base;
    s.n_channels = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.n_channels = TD_MAX_CHANNELS + 1u;
    for (uint32_t c = 0; c < s.n_channels; c++) {
        w_default_channel(&s.ch[c]);
    }
    for (uint32_t f = 0; f < 2u * s.n_channels; f++) {
        s.inv_sigma_q24[f] = 1u << 24;
    }
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s = base;
    s.n_dims = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.n_dims = TD_MAX_DIMS + 1u;
    s.flags = TD_PROFILE_FLAG_EXTERNAL_EMBEDDING;
    s.proj_shift = 0u;
    s.ext_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.n_dims = TD_MAX_DIMS;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.n_centroids = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_centroids = TD_MAX_CENTROIDS + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.n_centroids = TD_MAX_CENTROIDS;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Window. */
    s = base;
    s.window = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.window = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.window = 2u; /* the channels' max_missing / max_saturated must not exceed the window */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].max_missing = 2u;
    s.ch[1].max_saturated = 2u;
    s.ch[2].max_saturated = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.window = 1024u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.window = 1025u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s.window = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);

    /* Profile flags and reserved header bytes (bits 1 and 3 add a section, so they change the size: SIZE; bit 2,
     * the log-std feature, needs every channel's std_floor >= 1). */
    s = base;
    s.flags = TD_PROFILE_FLAG_LOG_STD;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    for (uint32_t c = 0; c < s.n_channels; c++) {
        s.ch[c].reserved = (uint16_t)(c + 1u);
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[s.n_channels - 1u].reserved = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[s.n_channels - 1u].reserved = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_CENTROID_SCALES), TD_ERR_SIZE);
    s = base;
    s.flags = TD_PROFILE_FLAG_CENTROID_SCALES;
    for (uint32_t i = 0; i < (uint32_t)s.n_centroids * s.n_dims; i++) {
        s.cs_inv_scale_q16[i] = 1u << 16;
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_offset_q8[s.n_centroids - 1u] = 1u << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_offset_q8[s.n_centroids - 1u] = (1u << 24) + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.cs_offset_q8[s.n_centroids - 1u] = 0u;
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = 1u << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.cs_inv_scale_q16[s.n_centroids * s.n_dims - 1u] = (1u << 24) + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.flags = TD_PROFILE_FLAG_OCCUPANCY; /* the flag without its section: the size no longer adds up */
    CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_FEATURE_CHART), TD_ERR_SIZE); /* likewise */
    /* The feature chart section: any k and h; every root up to 2^25; PCA mode only; its size counts. */
    s = base;
    w_chart(&s, 0u, 0u);
    CHECK_EQ(spec_status(&s), TD_OK);
    s.chart_k_q8 = 0xFFFFu;
    s.chart_h_q8 = 0xFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    {
        const uint32_t n_roots = (uint32_t)s.n_centroids * 2u * s.n_channels;
        const uint32_t idx[3] = {0u, 7u, n_roots - 1u};
        for (uint32_t i = 0; i < 3u; i++) {
            static w_spec_t r;
            r = s;
            for (uint32_t j = 0; j < n_roots; j++) {
                r.chart_root[j] = TD_PROFILE_CHART_MAX_ROOT;
            }
            CHECK_EQ(spec_status(&r), TD_OK);
            r.chart_root[idx[i]] = TD_PROFILE_CHART_MAX_ROOT + 1u;
            CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
            r.chart_root[idx[i]] = 0xFFFFFFFFu;
            CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
            r.chart_root[idx[i]] = 0u;
            CHECK_EQ(spec_status(&r), TD_OK);
        }
        /* The chart's bytes under the flag cleared, or the flag over a blob without them: the size no longer adds
         * up. A declared size off by the section's header likewise. */
        CHECK_EQ(poke_status(&s, 22, 2, 0u), TD_ERR_SIZE);
        CHECK_EQ(poke_status(&s, 22, 2, TD_PROFILE_FLAG_FEATURE_CHART | TD_PROFILE_FLAG_OCCUPANCY), TD_ERR_SIZE);
        static w_spec_t r;
        r = s;
        r.total_size_override = 1;
        r.total_size = w_size(&s) - 4u;
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        r.total_size = w_size(&s) + 4u;
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        r.total_size = w_size(&base);
        CHECK_EQ(spec_status(&r), TD_ERR_SIZE);
        /* With the other sections. */
        r = s;
        r.flags |= TD_PROFILE_FLAG_CENTROID_SCALES;
        for (uint32_t j = 0; j < (uint32_t)r.n_centroids * r.n_dims; j++) {
            r.cs_inv_scale_q16[j] = 1u << 16;
        }
        w_outputs(&r, 2u, 3u);
        CHECK_EQ(spec_status(&r), TD_OK);
        r.chart_root[n_roots - 1u] = TD_PROFILE_CHART_MAX_ROOT + 1u;
        CHECK_EQ(spec_status(&r), TD_ERR_RANGE);
    }
    {
        static w_spec_t e;
        w_ext(&e);
        w_chart(&e, 10u, 100u); /* consistent size, but external mode has no fitted shifts */
        CHECK_EQ(spec_status(&e), TD_ERR_RANGE);
        for (uint32_t j = 0; j < (uint32_t)e.n_centroids * 2u * e.n_channels; j++) {
            e.chart_root[j] = 1u;
        }
        CHECK_EQ(spec_status(&e), TD_ERR_RANGE);
        e.flags &= (uint16_t)~TD_PROFILE_FLAG_FEATURE_CHART;
        CHECK_EQ(spec_status(&e), TD_OK);
    }
    for (uint32_t bit = 6; bit < 16u; bit++) {
        s = base;
        s.flags = (uint16_t)(1u << bit);
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_OUTPUTS), TD_ERR_SIZE);
    /* Header bytes 52..55 hold calibration_windows (informational, any value); 56..63 are reserved. */
    s = base;
    memset(s.reserved, 0xFF, 4u);
    CHECK_EQ(spec_status(&s), TD_OK);
    for (uint32_t i = 4; i < 12u; i++) {
        s = base;
        s.reserved[i] = (uint8_t)(1u << (i % 8u));
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    s = base;
    s.false_alarm_ppb = 1000000000u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.false_alarm_ppb = 1000000001u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* PCA-mode header fields. */
    s = base;
    s.proj_shift = 15u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.proj_shift = 16u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ext_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ext_zero_point = 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base; /* n_dims > n_features in PCA mode */
    s.n_channels = 1u;
    s.n_dims = 3u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_dims = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.n_dims = 7u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.n_dims = 6u;
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Projection padding must be zero (3 x 6 = 18 bytes + 2 padding). */
    s = base;
    s.proj_pad[0] = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.proj_pad[1] = 0x80u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* External-mode header fields. */
    static w_spec_t ext;
    w_ext(&ext);
    CHECK_EQ(spec_status(&ext), TD_OK);
    s = ext;
    s.ext_scale_q24 = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_scale_q24 = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = ext;
    s.ext_zero_point = -128;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ext_zero_point = 127;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ext_zero_point = -129;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_zero_point = 128;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ext_zero_point = INT32_MIN;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = ext;
    s.proj_shift = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* Channel records (channel 2 of the PCA base; channel 1 has the sentinel). */
    s = base;
    s.ch[2].rail_lo = s.ch[2].rail_hi;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].rail_lo = 5;
    s.ch[2].rail_hi = 4;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].rail_lo = 4;
    s.ch[2].rail_hi = 5;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.ch[1].sentinel = 0; /* inside (-2000, 2000) */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = -1999;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = 1999;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[1].sentinel = -2000; /* on a rail: allowed */
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[1].sentinel = 2000;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[1].sentinel = 32767;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    s.ch[2].sentinel = 5; /* a sentinel value without the sentinel flag */
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    for (uint32_t bit = 2; bit < 16u; bit++) {
        s = base;
        s.ch[2].flags = (uint16_t)(1u << bit);
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    s = base;
    s.ch[0].reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[0].reserved = 0x100u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].max_missing = 16u; /* == window */
    s.ch[2].max_saturated = 16u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.ch[2].max_missing = 17u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].max_missing = 0u;
    s.ch[2].max_saturated = 17u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.ch[2].ref_std_q8 = -1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.ch[2].ref_std_q8 = 0;
    s.ch[2].ref_mean_q8 = INT32_MIN; /* informational, any value */
    CHECK_EQ(spec_status(&s), TD_OK);

    /* Feature records. */
    s = base;
    s.inv_sigma_q24[4] = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.inv_sigma_q24[4] = 0x80000000u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.inv_sigma_q24[4] = 0x80000001u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.mu_q8[5] = 32768 * 256;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.mu_q8[5] = -32768 * 256;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.mu_q8[5] = 32768 * 256 + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.mu_q8[5] = -32768 * 256 - 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);

    /* Centroids within +-2^24. */
    s = base;
    s.centroid_q8[8] = 1 << 24;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.centroid_q8[8] = -(1 << 24);
    CHECK_EQ(spec_status(&s), TD_OK);
    s.centroid_q8[8] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.centroid_q8[8] = -(1 << 24) - 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.centroid_q8[8] = INT32_MIN;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = ext;
    s.centroid_q8[9] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
}


/* ---- profile: outputs section ------------------------------------------------------------ */

static void test_profile_outputs_valid(void)
{
    static w_spec_t s;
    w_pca(&s, 3u);
    w_outputs(&s, 4u, 5u);
    CHECK_EQ(w_size(&s), 64u + 72u + 48u + 20u + 36u + (12u + 16u + 20u) + 4u);
    profile_roundtrip_and_fuzz(&s, "pca3+outputs");

    w_ext(&s);
    w_outputs(&s, 2u, 1u);
    s.out_scale_q24 = 0xFFFFFFFFu;
    s.out_zero_point = 127;
    s.out_prior_q16[0] = 0u;
    s.out_prior_q16[1] = 65536u;
    s.out_accuracy_q16[0] = 65536u;
    profile_roundtrip_and_fuzz(&s, "ext+outputs");

    /* Largest section the build allows. */
    w_pca(&s, 4u);
    w_outputs(&s, TD_MAX_CLASSES, TD_MAX_CONFIDENCE_BINS);
    s.out_zero_point = -128;
    s.out_scale_q24 = 1u;
    profile_roundtrip_and_fuzz(&s, "pca4+outputs16");

    /* td_profile_size_outputs. */
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 1), 64u + 24u + 16u + 4u + 4u + 24u + 4u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, 0, 2, 1), 64u + 24u + 16u + 4u + 4u + 4u); /* counts ignored */
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, 0, 0, 0), td_profile_size(1, 1, 1, 0));
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 1, 1), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, TD_MAX_CLASSES + 1, 1), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 0), 0u);
    CHECK_EQ(td_profile_size_outputs(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, TD_MAX_CONFIDENCE_BINS + 1), 0u);
    CHECK_EQ(td_profile_size_outputs(0, 1, 1, TD_PROFILE_FLAG_OUTPUTS, 2, 1), 0u);
    CHECK_EQ(td_profile_size(1, 1, 1, TD_PROFILE_FLAG_OUTPUTS), 0u);
}

static void test_profile_outputs_semantics(void)
{
    static w_spec_t base;
    static w_spec_t s;
    static w_spec_t plain;
    w_pca(&base, 3u);
    w_outputs(&base, 4u, 5u);
    CHECK_EQ(spec_status(&base), TD_OK);
    const uint32_t sec = 64u + 72u + 48u + 20u + 36u; /* offset of the outputs section */

    /* Flag and section must agree: the flag without a section, a section without the flag. */
    w_pca(&plain, 3u);
    CHECK_EQ(poke_status(&plain, 22, 2, TD_PROFILE_FLAG_OUTPUTS), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, 22, 2, TD_PROFILE_FLAG_OUTPUTS | TD_PROFILE_FLAG_EXTERNAL_EMBEDDING), TD_ERR_SIZE);
    /* Counts poked into a valid blob no longer match the size. */
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 5), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 3), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 0), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 0u, 1, 255), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 1u, 1, 6), TD_ERR_SIZE);
    CHECK_EQ(poke_status(&base, sec + 1u, 1, 0), TD_ERR_SIZE);
    /* Moving one count into the other keeps the size: the values then decide. */
    CHECK_EQ(poke_status(&base, sec + 0u, 2, 5u | (4u << 8)), TD_OK);
    /* Declared total size inconsistent with the section (CRC valid over the real size). */
    s = base;
    s.total_size_override = 1;
    const uint32_t size = w_size(&base);
    const uint32_t bad_sizes[] = {size + 4u, size - 4u, size - 36u, sec + 4u, sec + 12u, sec + 15u, sec + 16u, 0u,
                                  0xFFFFFFFFu};
    for (uint32_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        s.total_size = bad_sizes[i];
        CHECK_EQ(spec_status(&s), TD_ERR_SIZE);
    }
    /* CRC still covers the section. */
    {
        uint32_t n;
        uint8_t *b = w_build(&base, &n);
        b[sec + 20u] ^= 0x04u;
        td_profile_t prof;
        CHECK_EQ(parse_exact(b, n, &prof), TD_ERR_CRC);
        free(b);
    }

    /* Counts written consistently: below the minimum RANGE, above the build's limit LIMIT. */
    s = base;
    s.out_n_classes = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_classes = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_classes = 2u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_classes = TD_MAX_CLASSES;
    for (uint32_t c = 0; c < W_MAX_CLASSES; c++) {
        s.out_prior_q16[c] = 100u;
    }
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_classes = TD_MAX_CLASSES + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    s = base;
    s.out_n_bins = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_n_bins = 1u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_bins = TD_MAX_CONFIDENCE_BINS;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_n_bins = TD_MAX_CONFIDENCE_BINS + 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);
    /* A limit beats a range error elsewhere (step 11 before the rest). */
    s.ch[2].reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_LIMIT);

    /* Reserved, scale, zero point. */
    s = base;
    s.out_reserved = 1u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_reserved = 0x8000u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s = base;
    s.out_scale_q24 = 0u;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    s.out_scale_q24 = 1u;
    CHECK_EQ(spec_status(&s), TD_OK);
    s.out_scale_q24 = 0xFFFFFFFFu;
    CHECK_EQ(spec_status(&s), TD_OK);
    s = base;
    const int32_t good_zp[] = {-128, 0, 127};
    const int32_t bad_zp[] = {-129, 128, INT32_MIN, INT32_MAX, 255};
    for (uint32_t i = 0; i < 3u; i++) {
        s.out_zero_point = good_zp[i];
        CHECK_EQ(spec_status(&s), TD_OK);
    }
    for (uint32_t i = 0; i < 5u; i++) {
        s.out_zero_point = bad_zp[i];
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }

    /* Every prior and every accuracy within [0, 1] (Q16). */
    for (uint32_t c = 0; c < 4u; c++) {
        s = base;
        s.out_prior_q16[c] = 65536u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_prior_q16[c] = 0u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_prior_q16[c] = 65537u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
        s.out_prior_q16[c] = 0xFFFFFFFFu;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    for (uint32_t k = 0; k < 5u; k++) {
        s = base;
        s.out_accuracy_q16[k] = 65536u;
        CHECK_EQ(spec_status(&s), TD_OK);
        s.out_accuracy_q16[k] = 65537u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
        s.out_accuracy_q16[k] = 0x80000000u;
        CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
    }
    /* The sections before it are still checked first. */
    s = base;
    s.out_scale_q24 = 0u;
    s.centroid_q8[0] = (1 << 24) + 1;
    CHECK_EQ(spec_status(&s), TD_ERR_RANGE);
}


int main(void)
{
    test_profile_valid();
    test_profile_semantics();
    test_profile_outputs_valid();
    test_profile_outputs_semantics();
    printf("test_profile: %lu corruption trials, %lu truncation trials\n", g_corrupt_trials, g_trunc_trials);
    printf("test_profile: %lu passed, %lu failed\n", g_pass, g_fail);
    return g_fail == 0u ? 0 : 1;
}
