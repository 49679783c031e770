/* td_monitor.c - window close: features, z, embedding, scores, health and decision. */
#include "tinydrift/td_monitor.h"

#include <stddef.h>
#include <string.h>

#include "td_fixed.h"
#include "td_layout.h"

/* Embedding values beyond +-2^24 (65536 in z units) are clamped so squared distances fit in int64. */
#define EMBEDDING_LIMIT_Q8 ((int64_t)1 << 24)

/* td_log2_q8 of a Q8 value is 8 * 256 above the log2 of the value itself. */
#define LOG2_Q8_OF_Q8 (8 * 256)

/* Code for windows that are rarely closed (a CUSUM run): out of line and optimized for size, so it neither bloats
 * the common close nor takes its registers. */
#if defined(__GNUC__) || defined(__clang__)
#define TD_RARE __attribute__((noinline, cold))
#else
#define TD_RARE
#endif

/* Bit of a pending prediction's byte set once its label has arrived (the class takes the low 7 bits). */
#define LABELLED 0x80u

static td_status monitor_reset_window(td_monitor_t *mon)
{
    /* Every channel starts from the same empty state: one reset, then copies (a call per channel cost more). */
    const td_status st = td_window_reset(&mon->acc[0]);
    if (st != TD_OK) {
        return st;
    }
    for (uint32_t c = 1; c < mon->profile->n_channels; c++) {
        mon->acc[c] = mon->acc[0];
    }
    mon->fill = 0u;
    /* Only the profile's own modes touch these (init zeroed them all), so other profiles skip the clearing. */
    if (mon->profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        memset(mon->emb_sum, 0, sizeof mon->emb_sum);
        mon->n_embeddings = 0u;
    }
    if (!mon->has_outputs) {
        return TD_OK;
    }
    mon->out.ddm_state = TD_DDM_OK;
    mon->out.n_labels = 0u;
    mon->out.n_correct = 0u;
    return td_outputs_reset(&mon->out.acc);
}

td_status td_monitor_init(td_monitor_t *mon, const td_profile_t *profile)
{
    if (mon == NULL || profile == NULL || profile->n_channels == 0u || profile->n_channels > TD_MAX_CHANNELS ||
        profile->n_dims > TD_MAX_DIMS || profile->window > TD_MAX_WINDOW) {
        return TD_ERR_ARG;
    }
    memset(mon, 0, sizeof *mon);
    mon->profile = profile;
    /* The lifetimes need no td_lifetime_init: all zero is the empty lifetime. */
    for (uint8_t c = 0; c < profile->n_channels; c++) {
        td_channel_config_t cfg;
        const td_status st = td_profile_channel(profile, c, &cfg);
        if (st != TD_OK) {
            return st;
        }
        mon->rules[c].rail_lo = cfg.rail_lo;
        mon->rules[c].rail_hi = cfg.rail_hi;
        mon->rules[c].sentinel = cfg.sentinel;
        mon->rules[c].use_sentinel = (cfg.flags & TD_CHANNEL_FLAG_SENTINEL) ? 1u : 0u;
    }
    if (profile->outputs != NULL) {
        const td_status st = td_profile_outputs(profile, &mon->out.cfg);
        if (st != TD_OK) {
            return st;
        }
        mon->has_outputs = 1u;
    }
    td_status st = td_detector_reset(&mon->detector);
    if (st == TD_OK) {
        st = td_ddm_init(&mon->out.ddm);
    }
    return st != TD_OK ? st : monitor_reset_window(mon);
}

static uint32_t abs16(int16_t v)
{
    return v < 0 ? (uint32_t)(-(int32_t)v) : (uint32_t)v;
}

/* z = round(centred inv_sigma / 2^24), ties away from zero, saturated to int16. The features and their reference
 * means lie within +-2^24 (|mu| <= 2^23 by the parser), so centred fits int32 and its magnitude's product is one
 * UMULL: no 64-bit subtraction or signed multiply. */
static int16_t standardize(int32_t centred, uint32_t inv_sigma)
{
    const uint32_t mag = td_abs32(centred);
    const uint64_t product = (uint64_t)mag * inv_sigma + (1u << (TD_INV_SIGMA_SHIFT - 1u));
    const uint32_t high = (uint32_t)(product >> 32);
    /* Past 2^(32 + 24) the magnitude is far beyond int16 anyway. */
    const uint32_t z = (high >> (32u - TD_INV_SIGMA_SHIFT)) != 0u
                           ? UINT32_MAX
                           : (high << (32u - TD_INV_SIGMA_SHIFT)) | ((uint32_t)product >> TD_INV_SIGMA_SHIFT);
    if (centred < 0) {
        return z >= 32768u ? INT16_MIN : (int16_t)-(int32_t)z;
    }
    return z >= 32767u ? INT16_MAX : (int16_t)z;
}

/* Per-channel statistics, health and standardized features; fills z_q8[0..2C). */
static td_status close_channels(td_monitor_t *mon, td_window_result_t *res, int16_t *z_q8)
{
    const td_profile_t *prof = mon->profile;
    uint32_t top_abs = 0u;
    for (uint8_t c = 0; c < prof->n_channels; c++) {
        const td_window_acc_t *acc = &mon->acc[c];
        td_channel_result_t *out = &res->channels[c];
        /* The few settings used here, read from the validated record (decoding it all cost ~35 instructions). */
        const uint8_t *const rec = prof->channels + (uint32_t)c * TD_PROFILE_CHANNEL_SIZE;
        const uint32_t n_valid = (uint32_t)acc->n_samples - acc->n_missing;
        const uint64_t var_q32 = td_var_q32(acc->sum, acc->sumsq, n_valid);
        /* Past TD_LIFETIME_MAX_SAMPLES (centuries) the lifetime statistics stop growing; the window goes on. */
        const td_status st = td_lifetime_merge(&mon->life[c], n_valid, acc->sum, acc->sumsq);
        if (st != TD_OK && st != TD_ERR_CAPACITY) {
            return st;
        }
        out->sum = acc->sum;
        out->sumsq = acc->sumsq;
        out->min = acc->min;
        out->max = acc->max;
        out->n_missing = acc->n_missing;
        out->n_saturated = acc->n_saturated;
        out->mean_q8 = td_mean_q8(acc->sum, n_valid);
        out->std_q8 = td_std_q8(var_q32);

        const uint16_t bit = (uint16_t)(1u << c);
        if (acc->n_missing > td_load_u16(rec + TD_CH_MAX_MISSING)) {
            res->missing_mask |= bit;
        }
        if (acc->n_saturated > td_load_u16(rec + TD_CH_MAX_SATURATED)) {
            res->saturated_mask |= bit;
        }
        if ((td_load_u16(rec + TD_CH_FLAGS) & TD_CHANNEL_FLAG_STUCK_CHECK) && n_valid >= 2u &&
            (uint32_t)((int32_t)acc->max - acc->min) <= td_load_u16(rec + TD_CH_STUCK_TOL)) {
            res->stuck_mask |= bit;
        }

        int32_t spread = out->std_q8;
        if (prof->flags & TD_PROFILE_FLAG_LOG_STD) {
            /* On a log scale a gain change moves the feature by the same amount in a quiet and a busy activity. */
            spread = (int32_t)td_log2_q8((uint32_t)out->std_q8 + ((uint32_t)td_load_u16(rec + TD_CH_STD_FLOOR) << 8)) - LOG2_Q8_OF_Q8;
        }
        const int32_t feature[TD_FEATURES_PER_CHANNEL] = {out->mean_q8, spread};
        for (uint32_t k = 0; k < TD_FEATURES_PER_CHANNEL; k++) {
            const uint32_t f = (uint32_t)c * TD_FEATURES_PER_CHANNEL + k;
            const uint8_t *rec = prof->features + f * TD_PROFILE_FEATURE_SIZE;
            const int32_t mu = td_load_i32(rec);
            const uint32_t inv_sigma = td_load_u32(rec + 4u);
            /* A channel with no valid sample carries no evidence: it sits at the reference (z = 0). */
            z_q8[f] = n_valid > 0u ? standardize(feature[k] - mu, inv_sigma) : 0;
        }
        out->z_mean_q8 = z_q8[2u * c];
        out->z_std_q8 = z_q8[2u * c + 1u];
        const uint32_t a = abs16(out->z_mean_q8) > abs16(out->z_std_q8) ? abs16(out->z_mean_q8) : abs16(out->z_std_q8);
        if (a > top_abs) {
            top_abs = a;
            res->top_channel = c;
        }
    }
    return TD_OK;
}

/* Two int16 lanes per word, low lane first: the operands of the Cortex-M4's dual multiply-accumulate. The DSP
 * instructions are used where the target has them; elsewhere the same lanes are computed in plain C, so host and
 * device run one algorithm and agree bit for bit. */
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define td_sxtb16(w) ((uint32_t)__sxtb16((int8x4_t)(w)))
#define td_smlad(x, y, acc) __smlad((int16x2_t)(x), (int16x2_t)(y), (acc))
/* Bytes 1 and 3 of w: SXTB16 with its operand rotated by 8, one instruction (ACLE has no rotated form). */
static TD_ALWAYS_INLINE uint32_t td_sxtb16_ror8(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* (a b + 2^31) >> 32 for a, b < 2^31: SMMULR, one instruction (not in ACLE; GCC emits three for the C form). */
static TD_ALWAYS_INLINE uint32_t td_smmulr(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
/* Bytes 0 and 2 of w, sign-extended into the low and high int16 lanes (SXTB16). */
static uint32_t td_sxtb16(uint32_t w)
{
    const uint32_t lo = (uint32_t)((int32_t)((w & 0xFFu) ^ 0x80u) - 0x80) & 0xFFFFu;
    const uint32_t hi = (uint32_t)((int32_t)(((w >> 16) & 0xFFu) ^ 0x80u) - 0x80) & 0xFFFFu;
    return lo | (hi << 16);
}

/* acc + low lanes product + high lanes product (SMLAD); callers keep the sum within int32. */
static int32_t td_smlad(uint32_t x, uint32_t y, int32_t acc)
{
    const int32_t x_lo = (int32_t)((x & 0xFFFFu) ^ 0x8000u) - 0x8000;
    const int32_t x_hi = (int32_t)((x >> 16) ^ 0x8000u) - 0x8000;
    const int32_t y_lo = (int32_t)((y & 0xFFFFu) ^ 0x8000u) - 0x8000;
    const int32_t y_hi = (int32_t)((y >> 16) ^ 0x8000u) - 0x8000;
    return acc + x_lo * y_lo + x_hi * y_hi;
}

/* Bytes 1 and 3 of w, sign-extended into the low and high int16 lanes (SXTB16 of w rotated right by 8). */
static uint32_t td_sxtb16_ror8(uint32_t w)
{
    return td_sxtb16((w >> 8) | (w << 24));
}

#if TD_OPTIMIZE_SPEED
/* The high word of a b + 2^31, rounded (SMMULR); a, b < 2^31. Only the scaled search's fast path uses it. */
static uint32_t td_smmulr(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a * b + 0x80000000u) >> 32);
}
#endif
#endif

static uint32_t pack16(int16_t lo, int16_t hi)
{
    return (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
}

/* PCA mode: e_q8[j] = round(dot / 2^shift), ties away from zero, clamped; |dot| < 2^27 keeps it in 32 bits. */
static TD_ALWAYS_INLINE int32_t pca_round(int32_t dot, uint32_t half, uint32_t shift)
{
    uint32_t mag = (td_abs32(dot) + half) >> shift;
    if (mag > (uint32_t)EMBEDDING_LIMIT_Q8) {
        mag = (uint32_t)EMBEDDING_LIMIT_Q8;
    }
    return dot < 0 ? -(int32_t)mag : (int32_t)mag;
}

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

/* PCA mode: project z into e_q8. */
static TD_NOINLINE void embed_pca(const td_profile_t *prof, const int16_t *z_q8, int32_t *e_q8)
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
        z_pairs[2u * q] = pack16(z[0], z[2]);
        z_pairs[2u * q + 1u] = pack16(z[1], z[3]);
    }
    const uint32_t half = shift != 0u ? 1u << (shift - 1u) : 0u;
    for (uint32_t j = 0; j < n_dims; j += TD_OPTIMIZE_SPEED ? 2u : 1u) {
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

/* PCA mode: the squared reconstruction error |z - P^T e|^2 in Q8. With every dimension kept (n_dims == n_features)
 * a PCA basis reconstructs z exactly, so the error is 0: the rest is int8 rounding residue (about 0.001 score units
 * on BasicMotions), and skipping it saves a whole second matrix pass. */
static uint32_t pca_recon_error(const td_profile_t *prof, const int16_t *z_q8, const int32_t *e_q8)
{
    const uint32_t n_features = prof->n_features;
    const uint32_t n_dims = prof->n_dims;
    const int8_t *const projection = (const int8_t *)prof->projection;
    if (n_dims >= n_features) {
        return 0u;
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
        const int64_t diff = td_clamp64((int64_t)z_q8[f] - back, EMBEDDING_LIMIT_Q8);
        err += diff * diff;
    }
    return td_sat_u32(((uint64_t)err + 128u) >> 8);
}

/* External mode: the dequantized mean of the embeddings pushed during the window. */
static void embed_external(const td_monitor_t *mon, int32_t *e_q8)
{
    const td_profile_t *prof = mon->profile;
    const uint32_t den = (uint32_t)mon->n_embeddings << (TD_EXT_SCALE_SHIFT - 8u); /* < 2^32: 16-bit count */
    for (uint32_t j = 0; j < prof->n_dims; j++) {
        const int64_t centred = (int64_t)mon->emb_sum[j] - (int64_t)mon->n_embeddings * prof->ext_zero_point;
        const int64_t e = td_round_div32(centred * (int64_t)prof->ext_scale_q24, den);
        e_q8[j] = (int32_t)td_clamp64(e, EMBEDDING_LIMIT_Q8);
    }
}

uint32_t td_log2_q8(uint32_t x)
{
    if (x == 0u) {
        return 0u;
    }
    /* Normalize so the top bit is bit 31: m / 2^31 is the mantissa in [1, 2), n the integer part. */
    const uint32_t lead = td_clz32(x);
    uint32_t m = x << lead;
    const uint32_t n = 31u - lead;
    /* Each squaring of the mantissa doubles its log2: the carry past 2 is the next fraction bit. */
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
    /* The same steps, two per loop pass: LSLS puts the carry (bit 63 of the square) into C, ADC appends it to the
     * result (n, which ends up 8 bits further left) and C picks the next mantissa. Six instructions per step where
     * GCC's C version takes eleven. Tested on the Cortex-M4 by make test-core-m4 (test_core.c's test_log2_q8). */
    uint32_t r = n;
    uint32_t lo;
    uint32_t hi;
    uint32_t t;
    uint32_t i = 4u;
    __asm__("1:\n\t"
            ".rept 2\n\t"
            "umull %[lo], %[hi], %[m], %[m]\n\t"
            "lsls %[t], %[hi], #1\n\t"
            "adc %[r], %[r], %[r]\n\t"
            "ite cs\n\t"
            "movcs %[m], %[hi]\n\t"
            "orrcc %[m], %[t], %[lo], lsr #31\n\t"
            ".endr\n\t"
            "subs %[i], %[i], #1\n\t"
            "bne 1b"
            : [r] "+&r"(r), [m] "+&r"(m), [lo] "=&r"(lo), [hi] "=&r"(hi), [t] "=&r"(t), [i] "+&r"(i)
            :
            : "cc");
    return r;
#else
    uint32_t frac = 0u;
    for (uint32_t i = 0; i < 8u; i++) {
        const uint64_t sq = (uint64_t)m * m;
        const uint32_t hi = (uint32_t)(sq >> 32);
        const uint32_t carry = hi >> 31;
        frac = (frac << 1) | carry;
        /* Word operations: a variable 64-bit shift costs the M4 several instructions. */
        m = carry ? hi : (hi << 1) | ((uint32_t)sq >> 31);
    }
    return (n << 8) | frac;
#endif
}

/* round(mag inv_scale / 2^16), half up, clamped to 2^24 (past 2^24, bit 40 of the unshifted product): as the signed
 * difference is squared, rounding its magnitude half up is the same as rounding it with ties away from zero. Out of
 * line: only differences of 2^15 (128 z units) or more need it. */
static TD_NOINLINE uint32_t scale_wide(uint32_t mag, uint32_t inv_scale)
{
    const uint64_t prod = (uint64_t)mag * inv_scale + (1u << (TD_CENTROID_SCALE_SHIFT - 1u));
    return (prod >> (TD_CENTROID_SCALE_SHIFT + 24u)) != 0u ? (uint32_t)EMBEDDING_LIMIT_Q8
                                                           : (uint32_t)(prod >> TD_CENTROID_SCALE_SHIFT);
}

/* Squared distance from e_q8 to centroid k (Q16): plain, or with centroid scales in the centroid's own scale plus
 * its offset. Stops early once the partial sum exceeds bound: the terms are non-negative, so the centroid cannot
 * win any more and the returned partial sum (> bound) says so. */
static uint64_t centroid_distance(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, uint64_t bound)
{
    const uint32_t n_dims = prof->n_dims;
    const uint8_t *row = prof->centroids + 4u * k * n_dims;
    uint64_t d = 0;
    /* TD_OPTIMIZE_SPEED: nearest_centroid searches scaled profiles itself. */
    if (TD_OPTIMIZE_SPEED || prof->centroid_scales == NULL) {
        for (uint32_t j = 0; j < n_dims && d <= bound; j++) {
            const int32_t diff = e_q8[j] - td_load_i32(row + 4u * j); /* both within +-2^24 */
            d += (uint64_t)((int64_t)diff * diff);
        }
        return d;
    }
    const uint8_t *scale = prof->centroid_scales + 4u * k * (n_dims + 1u);
    d = (uint64_t)td_load_u32(scale) << 8;
    const int32_t *e = e_q8;
    const int32_t *const end = e_q8 + n_dims;
    while (e != end && d <= bound) {
        const int32_t diff = *e++ - td_load_i32(row);
        const uint32_t mag = td_abs32(diff);
        row += 4;
        scale += 4;
        const uint32_t scaled = scale_wide(mag, td_load_u32(scale));
        d += (uint64_t)scaled * scaled;
    }
    return d;
}

#if TD_OPTIMIZE_SPEED
/* |a - b| for a, b within +-2^24 (the C form of the loop below). */
static TD_ALWAYS_INLINE uint32_t abs_diff(int32_t a, int32_t b)
{
    const uint32_t t = (uint32_t)(a - b);
    const uint32_t sign = 0u - (t >> 31);
    return (t ^ sign) - sign;
}

/* centroid_distance's scaled loop, inlined into nearest_centroid's search, for a centroid given by the ends of its
 * row and of its scale words (offset, then one inverse scale a dimension), row_bytes = 4 n_dims past the starts:
 * one index, counting up to zero, then serves all three arrays. No check before the first term: any partial sum past
 * bound is rejected alike, and it only grows. */
static TD_ALWAYS_INLINE uint64_t scaled_distance(const int32_t *e_end, const uint8_t *row_end,
                                                 const uint8_t *scale_end, uint32_t row_bytes, uint64_t bound)
{
    uint64_t d = (uint64_t)td_load_u32(scale_end - row_bytes - 4u) << 8;
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
    /* The C loop below, 16 instructions a dimension in 10 registers and no call: GCC's code for it (or with a call to
     * scale_wide) kept the pointers on the stack once inlined in the search, 22 a dimension. m = |e - c| (EOR/SUB with
     * the sign); below 2^15, m 2^16 and the scale (<= 2^24) are non-negative int32 and the rounded product is the
     * high word of m 2^16 scale + 2^31: one SMMULR. Else (rare, out of the way at 3:) scale_wide inline: the product
     * is below 2^49, + 2^15, clamped to 2^24 once its high word reaches 2^8 (bit 40), else bits 16..47. "memory": the
     * loop reads e, the row and the scales. Only the Cortex-M4 runs it: make test-core-m4 checks it in QEMU
     * (tests/c/test_nearest.c: 2^15, rounding, clamp and early-exit edges against a plain argmin; test_core.c). */
    uint32_t i = 0u - row_bytes;
    uint32_t m;
    uint32_t inv;
    __asm__("b 1f\n\t"
            "3:\n\t"
            "umull %[m], %[inv], %[m], %[inv]\n\t"
            "adds %[m], %[m], #0x8000\n\t"
            "adc %[inv], %[inv], #0\n\t"
            "cmp %[inv], #0x100\n\t"
            "itte lo\n\t"
            "lsrlo %[m], %[m], #16\n\t"
            "orrlo %[m], %[m], %[inv], lsl #16\n\t"
            "movhs %[m], #0x1000000\n\t"
            "b 2f\n\t"
            "1:\n\t"
            "ldr %[m], [%[e], %[i]]\n\t"
            "ldr %[inv], [%[row], %[i]]\n\t"
            "sub %[m], %[m], %[inv]\n\t"
            "eor %[inv], %[m], %[m], asr #31\n\t"
            "sub %[m], %[inv], %[m], asr #31\n\t"
            "ldr %[inv], [%[scale], %[i]]\n\t"
            "cmp %[m], #0x8000\n\t"
            "bhs 3b\n\t"
            "lsls %[m], %[m], #16\n\t"
            "smmulr %[m], %[m], %[inv]\n\t"
            "2:\n\t"
            "umlal %Q[d], %R[d], %[m], %[m]\n\t"
            "adds %[i], %[i], #4\n\t"
            "beq 4f\n\t"
            "cmp %Q[b], %Q[d]\n\t"
            "sbcs %[inv], %R[b], %R[d]\n\t"
            "bhs 1b\n\t"
            "4:"
            : [d] "+&r"(d), [i] "+&r"(i), [m] "=&r"(m), [inv] "=&r"(inv)
            : [e] "r"(e_end), [row] "r"(row_end), [scale] "r"(scale_end), [b] "r"(bound)
            : "cc", "memory");
#else
    const int32_t *e = e_end - row_bytes / 4u;
    const uint8_t *row = row_end - row_bytes;
    const uint8_t *scale = scale_end - row_bytes;
    do {
        const uint32_t mag = abs_diff(*e++, td_load_i32(row));
        const uint32_t inv_scale = td_load_u32(scale);
        row += 4;
        scale += 4;
        const uint32_t scaled = mag < 0x8000u ? td_smmulr(mag << 16, inv_scale) : scale_wide(mag, inv_scale);
        d += (uint64_t)scaled * scaled;
    } while (e != e_end && d <= bound);
#endif
    return d;
}
#endif

/* Score (Q8) of the nearest centroid; ties go to the lower index. The hint (last window's nearest) is tried
 * first: consecutive windows mostly share a centroid, and a tight bound early lets the others stop early. */
static uint32_t nearest_centroid(const td_monitor_t *mon, const int32_t *e_q8, uint8_t *nearest)
{
    const td_profile_t *prof = mon->profile;
    const uint32_t first = mon->last_nearest < prof->n_centroids ? mon->last_nearest : 0u;
#if TD_OPTIMIZE_SPEED
    if (prof->centroid_scales != NULL) {
        const uint32_t n_centroids = prof->n_centroids;
        const uint32_t row_bytes = 4u * prof->n_dims;
        const int32_t *const e_end = e_q8 + prof->n_dims;
        const uint8_t *const row_end = prof->centroids + row_bytes;
        const uint8_t *const scale_end = prof->centroid_scales + row_bytes + 4u;
        uint64_t best = UINT64_MAX;
        uint32_t best_k = first;
        /* The hint, then the others in index order, as below; one inlined copy of the loop. d <= best first: most
         * centroids stop early past it, and one compare turns them away. */
        for (uint32_t i = 0; i < n_centroids; i++) {
            const uint32_t k = i == 0u ? first : i - (i <= first);
            const uint64_t d = scaled_distance(e_end, row_end + k * row_bytes, scale_end + k * (row_bytes + 4u),
                                               row_bytes, best);
            if (d <= best && (d < best || k < best_k)) {
                best = d;
                best_k = k;
            }
        }
        *nearest = (uint8_t)best_k;
        return td_sat_u32((best + 128u) >> 8);
    }
#endif
    uint64_t best = centroid_distance(prof, e_q8, first, UINT64_MAX);
    uint32_t best_k = first;
    for (uint32_t k = 0; k < prof->n_centroids; k++) {
        if (k == first) {
            continue;
        }
        const uint64_t d = centroid_distance(prof, e_q8, k, best);
        if (d < best || (d == best && k < best_k)) {
            best = d;
            best_k = k;
        }
    }
    *nearest = (uint8_t)best_k;
    return td_sat_u32((best + 128u) >> 8);
}

/* n log2(n) in Q8 (0 for n = 0 and 1). */
static int32_t n_log2_n_q8(uint32_t n)
{
    return (int32_t)(n * td_log2_q8(n));
}

/* Move centroid k's count by step (+1 or -1) and its terms of the occupancy sum with it. */
static void occupancy_step(td_occupancy_t *occ, const uint8_t *cost, uint32_t k, int32_t step)
{
    const uint32_t c = occ->count[k];
    const uint32_t next = c + (uint32_t)step;
    occ->sum_q8 += n_log2_n_q8(next) - n_log2_n_q8(c) + step * (int32_t)td_load_u16(cost + 2u * k);
    occ->count[k] = (uint8_t)next;
}

/* Occupancy test: the G statistic, in bits, of how often each centroid was the nearest over the last n windows
 * against the reference frequencies p_k (cost_k = -log2 p_k, Q8): sum_k c_k log2(c_k / (n p_k)) =
 * sum_k [c_k log2 c_k + c_k cost_k] - n log2 n. The sum is kept incrementally, and a window whose centroid equals
 * the one leaving the ring changes nothing. Returns 1 when the ring is full and the statistic exceeds the
 * threshold. */
static uint32_t occupancy_update(td_occupancy_t *occ, const uint8_t *section, uint32_t nearest, int32_t *stat_q8)
{
    const uint32_t n_windows = section[4];
    const uint8_t *cost = section + TD_PROFILE_OCCUPANCY_HEADER_SIZE;
    const uint32_t leaving = occ->ring[occ->pos];
    if (occ->fill < n_windows || leaving != nearest) {
        if (occ->fill < n_windows) {
            occ->fill++;
        } else {
            occupancy_step(occ, cost, leaving, -1);
        }
        occupancy_step(occ, cost, nearest, 1);
        occ->ring[occ->pos] = (uint8_t)nearest;
    }
    occ->pos = (uint8_t)(occ->pos + 1u == n_windows ? 0u : occ->pos + 1u);
    *stat_q8 = occ->fill < n_windows ? 0 : occ->sum_q8 - n_log2_n_q8(n_windows);
    return occ->fill == n_windows && (int64_t)*stat_q8 > (int64_t)td_load_u32(section) ? 1u : 0u;
}

/* The fitted shift of each feature (PCA mode). A shift of feature f by x moves the embedding by x P[., f]; in the
 * nearest centroid's own scale, u_j = (e_j - c_kj) / s_kj, that is x a_f with a_f,j = P[j, f] / s_kj. The shift that
 * fits u best is g_f = <a_f, u> / |a_f| (in z units: a matched filter, the likelihood ratio of "feature f moved"
 * under the mixture's Gaussian; about N(0, 1) in distribution). Two things use it: the attribution during a CUSUM run
 * (blame_update) and the feature chart (td_chart_step) of profiles with a chart section, which also store the norms.
 *
 * Fixed point: t_j = u_j in Q8, clamped to int16 (+-128 z units); the centroid's inverse scales (1.0 without scales)
 * share one right shift that leaves the largest in 15 bits (the ratio does not depend on a common factor), so
 * a = P inv < 2^22, n = sum a t < 2^43 and d = sum a^2 < 2^50 (n_dims <= 64). root = floor(sqrt(d)) depends on the
 * centroid alone: the chart section stores it per centroid and feature, else it is computed here.
 * g_f = sign(n) min(floor(|n| / root), INT16_MAX), Q8 z units (|g| <= |t| < 2^18 by Cauchy-Schwarz before the
 * clamp; 0 for root 0). */
#if TD_OPTIMIZE_SPEED
/* The speed build: the same integers, summed in another order. n = sum_j P[j, f] w_j with w_j = (inv_j >> inv_shift)
 * t_j (|w| < 2^30), and d = sum_j P[j, f]^2 v_j with v_j = (inv_j >> inv_shift)^2 < 2^30: one multiply-accumulate a
 * term instead of GCC's thirteen instructions with spills. */

/* For each feature pair (f, f + 1), a column pair of the projection (one row every n_features bytes), into
 * sums[f], sums[f + 1]: sum_j P[j, f] x_j (square == 0, signed) or sum_j P[j, f]^2 x_j (square != 0, x_j < 2^30 and
 * the sums unsigned). n_features is even (two per channel). */
static TD_NOINLINE void blame_sums(const int8_t *projection, uint32_t n_features, uint32_t n_dims, const int32_t *x,
                                   uint32_t square, int64_t *sums)
{
    for (uint32_t f = 0; f < n_features; f += 2u) {
        const int8_t *const col = projection + f;
#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32 && defined(__GNUC__)
        /* One offset, counting up to zero by the row length, indexes both columns from their ends; the terms come
         * from the x word loaded once a row. 7 instructions a row for the pair (9 squared). Only the Cortex-M4 runs
         * it: make test-core-m4 checks it against test_core.c's reference attribution. */
        const uint32_t rows = n_dims * n_features;
        const int8_t *const end0 = col + rows;
        const int8_t *const end1 = end0 + 1;
        const int32_t *xp = x;
        uint32_t off = 0u - rows;
        uint64_t s0 = 0u;
        uint64_t s1 = 0u;
        uint32_t p;
        uint32_t v;
        if (square) {
            __asm__("1:\n\t"
                    "ldr %[v], [%[xp]], #4\n\t"
                    "ldrsb %[p], [%[e0], %[off]]\n\t"
                    "mul %[p], %[p], %[p]\n\t"
                    "umlal %Q[s0], %R[s0], %[p], %[v]\n\t"
                    "ldrsb %[p], [%[e1], %[off]]\n\t"
                    "mul %[p], %[p], %[p]\n\t"
                    "umlal %Q[s1], %R[s1], %[p], %[v]\n\t"
                    "adds %[off], %[off], %[stride]\n\t"
                    "bne 1b"
                    : [s0] "+&r"(s0), [s1] "+&r"(s1), [p] "=&r"(p), [v] "=&r"(v), [xp] "+&r"(xp), [off] "+&r"(off)
                    : [e0] "r"(end0), [e1] "r"(end1), [stride] "r"(n_features)
                    : "cc", "memory");
        } else {
            __asm__("1:\n\t"
                    "ldr %[v], [%[xp]], #4\n\t"
                    "ldrsb %[p], [%[e0], %[off]]\n\t"
                    "smlal %Q[s0], %R[s0], %[p], %[v]\n\t"
                    "ldrsb %[p], [%[e1], %[off]]\n\t"
                    "smlal %Q[s1], %R[s1], %[p], %[v]\n\t"
                    "adds %[off], %[off], %[stride]\n\t"
                    "bne 1b"
                    : [s0] "+&r"(s0), [s1] "+&r"(s1), [p] "=&r"(p), [v] "=&r"(v), [xp] "+&r"(xp), [off] "+&r"(off)
                    : [e0] "r"(end0), [e1] "r"(end1), [stride] "r"(n_features)
                    : "cc", "memory");
        }
        sums[f] = (int64_t)s0;
        sums[f + 1u] = (int64_t)s1;
#else
        int64_t s0 = 0;
        int64_t s1 = 0;
        const int8_t *p = col;
        for (uint32_t j = 0; j < n_dims; j++, p += n_features) {
            const int32_t p0 = square ? p[0] * p[0] : p[0];
            const int32_t p1 = square ? p[1] * p[1] : p[1];
            s0 += (int64_t)p0 * x[j];
            s1 += (int64_t)p1 * x[j];
        }
        sums[f] = s0;
        sums[f + 1u] = s1;
#endif
    }
}

/* min(floor(num / root), INT16_MAX), 0 for root 0 (then num is 0 too); num < 2^43, root < 2^25. A num of 32 bits
 * takes one division. Wider, below the clamp the quotient is under 2^15, so a 32-bit division of both operands shifted
 * right by k (the bits of num past 32) gives it or one less: root > 2^(16 + k) there, so the shifted divisor, plus one
 * to stay above root / 2^k, errs by under 2^-16 relatively, under 1 in the quotient. One remainder test corrects it
 * (td_udiv64_32 takes ~50 instructions). */
static uint32_t blame_len(uint64_t num, uint32_t root)
{
    const uint32_t hi = (uint32_t)(num >> 32);
    const uint32_t lo = (uint32_t)num;
    if (root == 0u) {
        return 0u;
    }
    if (hi == 0u) {
        const uint32_t q = lo / root;
        return q > (uint32_t)INT16_MAX ? (uint32_t)INT16_MAX : q;
    }
    if (num >= (uint64_t)root << 15) {
        return INT16_MAX;
    }
    const uint32_t k = 32u - td_clz32(hi); /* 1..11 */
    uint32_t q = ((lo >> k) | (hi << (32u - k))) / ((root >> k) + 1u);
    if (num - (uint64_t)q * root >= root) {
        q++;
    }
    return q;
}

static TD_NOINLINE void fitted_shifts(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, int16_t *shift_q8)
{
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_features = prof->n_features;
    const uint8_t *centroid = prof->centroids + 4u * k * n_dims;
    const uint8_t *scale = prof->centroid_scales != NULL ? prof->centroid_scales + 4u * k * (n_dims + 1u) + 4u : NULL;
    int32_t w[TD_MAX_DIMS];
    uint32_t inv[TD_MAX_DIMS];
    int64_t sums[TD_MAX_FEATURES];
    uint32_t root[TD_MAX_FEATURES];
    /* The shift first (every inverse scale is 1.0 without scales), so that one pass gives w. */
    uint32_t all = 1u << TD_CENTROID_SCALE_SHIFT;
    if (scale != NULL) {
        all = 0u;
        for (uint32_t j = 0; j < n_dims; j++) {
            all |= td_load_u32(scale + 4u * j);
        }
    }
    const uint32_t inv_shift = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
    for (uint32_t j = 0; j < n_dims; j++) {
        const int32_t diff = e_q8[j] - td_load_i32(centroid + 4u * j); /* both within +-2^24 */
        const uint32_t inv_q16 = scale != NULL ? td_load_u32(scale + 4u * j) : 1u << TD_CENTROID_SCALE_SHIFT;
        const uint32_t mag = td_abs32(diff);
        /* scale_wide's rounding; below 2^15 it is the search's rounded high-word multiply. */
        const uint32_t scaled = mag < 0x8000u ? td_smmulr(mag << 16, inv_q16) : scale_wide(mag, inv_q16);
        const int32_t t = scaled > (uint32_t)INT16_MAX ? INT16_MAX : (int32_t)scaled;
        inv[j] = inv_q16 >> inv_shift;
        w[j] = (diff < 0 ? -t : t) * (int32_t)inv[j];
    }
    const int8_t *const projection = (const int8_t *)prof->projection;
    /* The roots: the section's row for this centroid, read in place (little-endian), else computed into root[]. */
    const uint8_t *const row =
        prof->feature_chart != NULL ? prof->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * k * n_features : NULL;
    if (row == NULL) {
        for (uint32_t j = 0; j < n_dims; j++) {
            inv[j] *= inv[j];
        }
        blame_sums(projection, n_features, n_dims, (const int32_t *)inv, 1u, sums);
        for (uint32_t f = 0; f < n_features; f++) {
            root[f] = td_isqrt64((uint64_t)sums[f]);
        }
    }
    blame_sums(projection, n_features, n_dims, w, 0u, sums);
    for (uint32_t f = 0; f < n_features; f++) {
        const int32_t q = (int32_t)blame_len(td_abs64(sums[f]), row != NULL ? td_load_u32(row + 4u * f) : root[f]);
        shift_q8[f] = (int16_t)(sums[f] < 0 ? -q : q);
    }
}
#else
static TD_NOINLINE void fitted_shifts(const td_profile_t *prof, const int32_t *e_q8, uint32_t k, int16_t *shift_q8)
{
    const uint32_t n_dims = prof->n_dims;
    const uint32_t n_features = prof->n_features;
    const uint8_t *centroid = prof->centroids + 4u * k * n_dims;
    const uint8_t *scale = prof->centroid_scales != NULL ? prof->centroid_scales + 4u * k * (n_dims + 1u) + 4u : NULL;
    const uint8_t *chart_root =
        prof->feature_chart != NULL ? prof->feature_chart + TD_PROFILE_CHART_HEADER_SIZE + 4u * k * n_features : NULL;
    int32_t dev[TD_MAX_DIMS]; /* t_j, Q8 */
    uint32_t inv[TD_MAX_DIMS];
    uint32_t all = 0u;
    for (uint32_t j = 0; j < n_dims; j++) {
        const int32_t diff = e_q8[j] - td_load_i32(centroid + 4u * j); /* both within +-2^24 */
        const uint32_t inv_q16 = scale != NULL ? td_load_u32(scale + 4u * j) : 1u << TD_CENTROID_SCALE_SHIFT;
        /* The distance's own rounding of |diff| inv (exact for inv 1.0), clamped to int16. */
        const uint32_t mag = scale_wide(td_abs32(diff), inv_q16);
        const int32_t t = mag > (uint32_t)INT16_MAX ? INT16_MAX : (int32_t)mag;
        dev[j] = diff < 0 ? -t : t;
        inv[j] = inv_q16;
        all |= inv_q16;
    }
    /* The bit length of the largest inverse scale, less 15. */
    const uint32_t inv_shift = all > 0x7FFFu ? 17u - td_clz32(all) : 0u;
    const int8_t *const projection = (const int8_t *)prof->projection;
    for (uint32_t f = 0; f < n_features; f++) {
        const int8_t *p = projection + f;
        int64_t n = 0;
        uint64_t d = 0u;
        for (uint32_t j = 0; j < n_dims; j++, p += n_features) {
            const int32_t a = *p * (int32_t)(inv[j] >> inv_shift); /* |a| <= 2^22 */
            n += (int64_t)a * dev[j];
            d += (uint64_t)((int64_t)a * a);
        }
        const uint32_t root = chart_root != NULL ? td_load_u32(chart_root + 4u * f) : td_isqrt64(d);
        const uint64_t len = root != 0u ? td_udiv64_32(td_abs64(n), root) : 0u;
        const int32_t q = len > (uint64_t)INT16_MAX ? INT16_MAX : (int32_t)len;
        shift_q8[f] = (int16_t)(n < 0 ? -q : q);
    }
}
#endif

/* Which channel's fault best explains the window, during a CUSUM run. A channel scores the larger fit of its mean and
 * spread features, g_f^2 (the score the fitted shift removes), and the scores add up over the run, which averages out
 * the single window's noise. The channel with the largest sum is returned (ties: lower index; fallback while every
 * sum is 0). On BasicMotions this names the drifted channel at 91-96 % of the first score alarms, against 66 % for
 * the largest global |z| (docs/benchmarks.md). */
static uint8_t blame_update(td_monitor_t *mon, const int16_t *shift_q8, uint8_t fallback)
{
    uint32_t *const blame_q8 = mon->blame_q8;
    uint8_t top = fallback;
    uint32_t top_blame = 0u;
    for (uint32_t c = 0; c < mon->profile->n_channels; c++) {
        const uint32_t q0 = td_abs32(shift_q8[2u * c]);
        const uint32_t q1 = td_abs32(shift_q8[2u * c + 1u]);
        const uint32_t q = q0 > q1 ? q0 : q1;
        blame_q8[c] = td_sat_u32((uint64_t)blame_q8[c] + ((q * q + 128u) >> 8));
        if (blame_q8[c] > top_blame) {
            top_blame = blame_q8[c];
            top = (uint8_t)c;
        }
    }
    return top;
}

/* The window's fitted shifts, then the attribution (in_run) and the feature chart (with its section). A chart alarm
 * outside a CUSUM run names the channel of its largest statistic (4c..4c+3 are channel c's mean and spread, up and
 * down). */
static TD_NOINLINE void feature_tests(td_monitor_t *mon, td_window_result_t *res, uint32_t in_run)
{
    const td_profile_t *prof = mon->profile;
    const uint8_t *chart = prof->feature_chart;
    fitted_shifts(prof, res->embedding_q8, res->nearest, res->shift_q8);
    if (in_run) {
        res->top_channel = blame_update(mon, res->shift_q8, res->top_channel);
    }
    if (chart != NULL) {
        const uint32_t top = td_chart_step(mon->chart_q8, res->shift_q8, prof->n_features, td_load_u16(chart));
        res->chart_q8 = mon->chart_q8[top];
        if (res->chart_q8 > td_load_u16(chart + 2u)) {
            res->trigger |= TD_TRIGGER_FEATURE;
            mon->detector.alarm = 1u;
            if (!in_run) {
                res->top_channel = (uint8_t)(top >> 2);
            }
        }
    }
}

/* Model outputs of the window: summary, labels, DDM verdict (a drift raises CONCEPT and latches the alarm). */
static td_status close_outputs(td_monitor_t *mon, td_window_result_t *res)
{
    const td_monitor_outputs_t *out = &mon->out;
    td_outputs_summary_t sum;
    const td_status st = td_outputs_summary(&out->acc, &out->cfg, &sum);
    if (st != TD_OK) {
        return st;
    }
    res->n_inferences = sum.count;
    res->top_class = sum.top_class;
    res->mean_confidence_q16 = sum.mean_confidence_q16;
    res->estimated_accuracy_q16 = sum.estimated_accuracy_q16;
    res->prior_shift_q16 = sum.prior_shift_q16;
    res->ddm_state = out->ddm_state;
    res->n_labels = out->n_labels;
    res->n_correct = out->n_correct;
    res->accuracy_q16 = td_ddm_accuracy_q16(&out->ddm);
    if (out->ddm_state == TD_DDM_DRIFT) {
        res->trigger |= TD_TRIGGER_CONCEPT;
        mon->detector.alarm = 1u;
    }
    return TD_OK;
}

static td_status close_window(td_monitor_t *mon, td_window_result_t *res)
{
    const td_profile_t *prof = mon->profile;
    int16_t z_q8[TD_MAX_FEATURES];
    /* close_channels writes every field of channels[0..n_channels): only the rest needs clearing. */
    memset(res, 0, offsetof(td_window_result_t, channels));
    memset(&res->channels[prof->n_channels], 0, (TD_MAX_CHANNELS - prof->n_channels) * sizeof res->channels[0]);
    res->window_index = mon->window_index;
    td_status st = close_channels(mon, res, z_q8);
    if (st != TD_OK) {
        return st;
    }
    if (prof->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) {
        res->n_embeddings = mon->n_embeddings;
        if (mon->n_embeddings > 0u) {
            embed_external(mon, res->embedding_q8);
            res->dist_q8 = nearest_centroid(mon, res->embedding_q8, &res->nearest);
            mon->last_nearest = res->nearest;
        }
    } else {
        embed_pca(prof, z_q8, res->embedding_q8);
        res->recon_q8 = pca_recon_error(prof, z_q8, res->embedding_q8);
        res->dist_q8 = nearest_centroid(mon, res->embedding_q8, &res->nearest);
        mon->last_nearest = res->nearest;
    }
    res->score_q8 = td_sat_u32((uint64_t)res->dist_q8 + res->recon_q8);

    const td_detector_params_t params = {prof->cusum_k_q8, prof->cusum_h_q8, prof->instant_q8};
    const uint32_t cusum_before = mon->detector.cusum_q8;
    st = td_detector_update(&mon->detector, &params, res->score_q8, &res->trigger);
    if (st != TD_OK) {
        return st;
    }
    /* The attribution runs in the windows of a CUSUM run (a new run starts from no evidence), the feature chart in
     * every window; both need the fitted shifts. */
    const uint32_t in_run = mon->detector.cusum_q8 > 0u && !(prof->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING);
    if (in_run || prof->feature_chart != NULL) {
        if (in_run && cusum_before == 0u) {
            memset(mon->blame_q8, 0, sizeof mon->blame_q8);
        }
        feature_tests(mon, res, in_run);
    }
    if (prof->occupancy != NULL && (res->n_embeddings > 0u || !(prof->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) &&
        occupancy_update(&mon->occupancy, prof->occupancy, res->nearest, &res->occupancy_q8)) {
        res->trigger |= TD_TRIGGER_OCCUPANCY;
        mon->detector.alarm = 1u;
    }
    if (res->stuck_mask | res->saturated_mask | res->missing_mask) {
        res->trigger |= TD_TRIGGER_HEALTH;
        mon->detector.alarm = 1u;
    }
    if (mon->has_outputs) {
        st = close_outputs(mon, res);
        if (st != TD_OK) {
            return st;
        }
    }
    res->alarm = mon->detector.alarm;
    res->cusum_q8 = mon->detector.cusum_q8;
    mon->window_index++;
    return monitor_reset_window(mon);
}

td_status td_monitor_push(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *results,
                          uint32_t cap, uint32_t *n_results)
{
    if (mon == NULL || mon->profile == NULL || n_results == NULL || (frames == NULL && n_frames > 0u) ||
        (results == NULL && cap > 0u)) {
        return TD_ERR_ARG;
    }
    *n_results = 0u;
    const td_profile_t *prof = mon->profile;
    const uint32_t window = prof->window;
    const uint32_t n_channels = prof->n_channels;
    /* (fill + n) / window > cap, without a 64-bit division (a library call on the M4). */
    if ((uint64_t)mon->fill + n_frames >= ((uint64_t)cap + 1u) * window) {
        return TD_ERR_CAPACITY;
    }
    uint32_t remaining = n_frames;
    const int16_t *block = frames;
    while (remaining > 0u) {
        const uint32_t room = window - mon->fill;
        const uint32_t chunk = remaining < room ? remaining : room;
        /* Channel by channel over the block: each inner loop keeps one channel's sums in registers. */
        for (uint32_t c = 0; c < n_channels; c++) {
            const td_status st = td_window_add(&mon->acc[c], &mon->rules[c], block + c, n_channels, chunk);
            if (st != TD_OK) {
                return st;
            }
        }
        block += (size_t)chunk * n_channels;
        remaining -= chunk;
        mon->fill = (uint16_t)(mon->fill + chunk);
        if (mon->fill == window) {
            const td_status st = close_window(mon, &results[*n_results]);
            if (st != TD_OK) {
                return st;
            }
            (*n_results)++;
        }
    }
    return TD_OK;
}

td_status td_monitor_push_embedding(td_monitor_t *mon, const int8_t *embedding, uint32_t len)
{
    if (mon == NULL || mon->profile == NULL || embedding == NULL) {
        return TD_ERR_ARG;
    }
    if (!(mon->profile->flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING)) {
        return TD_ERR_MODE;
    }
    if (len != mon->profile->n_dims) {
        return TD_ERR_ARG;
    }
    if (mon->n_embeddings >= TD_MAX_EMBEDDINGS_PER_WINDOW) {
        return TD_ERR_CAPACITY;
    }
    for (uint32_t j = 0; j < len; j++) {
        mon->emb_sum[j] += embedding[j];
    }
    mon->n_embeddings++;
    return TD_OK;
}

td_status td_monitor_push_outputs(td_monitor_t *mon, const int8_t *probs, uint32_t n_classes, uint32_t *inference_seq)
{
    if (mon == NULL || mon->profile == NULL || probs == NULL) {
        return TD_ERR_ARG;
    }
    if (!mon->has_outputs) {
        return TD_ERR_MODE;
    }
    td_monitor_outputs_t *out = &mon->out;
    uint8_t predicted;
    const td_status st = td_outputs_push(&out->acc, &out->cfg, probs, n_classes, &predicted);
    if (st != TD_OK) {
        return st;
    }
    out->predicted[out->seq & (TD_MAX_PENDING_PREDICTIONS - 1u)] = predicted;
    if (out->n_pending < TD_MAX_PENDING_PREDICTIONS) {
        out->n_pending++;
    }
    if (inference_seq != NULL) {
        *inference_seq = out->seq;
    }
    out->seq++;
    return TD_OK;
}

td_status td_monitor_push_label(td_monitor_t *mon, uint32_t inference_seq, uint8_t label)
{
    if (mon == NULL || mon->profile == NULL) {
        return TD_ERR_ARG;
    }
    if (!mon->has_outputs) {
        return TD_ERR_MODE;
    }
    td_monitor_outputs_t *out = &mon->out;
    /* Age 1 is the latest inference; modular, so it survives the counter wrapping. */
    const uint32_t age = out->seq - inference_seq;
    if (age == 0u || age > out->n_pending) {
        return TD_ERR_RANGE;
    }
    if (label >= out->cfg.n_classes) {
        return TD_ERR_ARG;
    }
    uint8_t *slot = &out->predicted[inference_seq & (TD_MAX_PENDING_PREDICTIONS - 1u)];
    if (*slot & LABELLED) {
        return TD_ERR_STATE;
    }
    if (out->n_labels == UINT16_MAX) {
        return TD_ERR_CAPACITY;
    }
    const uint8_t correct = *slot == label ? 1u : 0u;
    uint8_t verdict;
    const td_status st = td_ddm_update(&out->ddm, correct, &verdict);
    if (st != TD_OK) {
        return st;
    }
    *slot |= LABELLED;
    out->n_labels++;
    out->n_correct = (uint16_t)(out->n_correct + correct);
    if (verdict > out->ddm_state) {
        out->ddm_state = verdict;
    }
    return TD_OK;
}

td_status td_monitor_reset_alarm(td_monitor_t *mon)
{
    if (mon == NULL) {
        return TD_ERR_ARG;
    }
    /* The occupancy test and the feature chart start over: they still hold the windows that raised the alarm. */
    memset(&mon->occupancy, 0, sizeof mon->occupancy);
    memset(mon->chart_q8, 0, sizeof mon->chart_q8);
    return td_detector_reset(&mon->detector);
}

td_status td_monitor_lifetime(const td_monitor_t *mon, uint8_t channel, td_lifetime_t *out)
{
    if (mon == NULL || mon->profile == NULL || out == NULL || channel >= mon->profile->n_channels) {
        return TD_ERR_ARG;
    }
    *out = mon->life[channel];
    return TD_OK;
}
