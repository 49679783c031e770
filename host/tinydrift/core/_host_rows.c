/* _host_rows.c - push()'s rows from td_window_result_t in one C loop (host-only helper of the CFFI module).
 * Same values as the numpy conversion it replaced: integers widened, Q8 and Q16 divided in double. */
#include "_host_rows.h"

#include <string.h>

enum {
    F_WINDOW, F_SCORE, F_DIST, F_RECON, F_CUSUM, F_ALARM, F_TRIGGER, F_NEAREST, F_TOP_CHANNEL, F_STUCK,
    F_SATURATED, F_MISSING, F_N_EMBEDDINGS, F_N_INFERENCES, F_TOP_CLASS, F_DDM_STATE, F_MEAN_CONFIDENCE,
    F_ESTIMATED_ACCURACY, F_PRIOR_SHIFT, F_N_LABELS, F_N_CORRECT, F_ACCURACY, F_OCCUPANCY, F_CHART, F_SHIFT,
    F_EMBEDDING, F_MEAN, F_STD, F_Z_MEAN, F_Z_STD, F_MIN, F_MAX, F_SUM, F_SUMSQ, F_N_MISSING, F_N_SATURATED,
    F_COUNT
};

typedef char td_host_rows_fields_match[(F_COUNT == TD_HOST_ROW_FIELDS) ? 1 : -1];

static void put_u8(uint8_t *row, uint32_t off, uint8_t v) { row[off] = v; }
static void put_u16(uint8_t *row, uint32_t off, uint16_t v) { memcpy(row + off, &v, sizeof v); }
static void put_i16(uint8_t *row, uint32_t off, int16_t v) { memcpy(row + off, &v, sizeof v); }
static void put_u32(uint8_t *row, uint32_t off, uint32_t v) { memcpy(row + off, &v, sizeof v); }
static void put_i64(uint8_t *row, uint32_t off, int64_t v) { memcpy(row + off, &v, sizeof v); }
static void put_f64(uint8_t *row, uint32_t off, double v) { memcpy(row + off, &v, sizeof v); }

td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out) {
    if (raw == NULL || offsets == NULL || out == NULL || n_channels < 1 || n_channels > TD_MAX_CHANNELS ||
        n_dims > TD_MAX_DIMS || 2u * n_channels > TD_MAX_FEATURES) {
        return TD_ERR_ARG;
    }
    const uint32_t *o = offsets;
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
    return TD_OK;
}
