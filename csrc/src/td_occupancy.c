/* td_occupancy.c - the occupancy test: G statistic of the last n windows' nearest centroids against the
 * training shares, kept incrementally. */
#include "td_monitor_internal.h"

#if TD_FEATURE_OCCUPANCY

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

void td_mon_occupancy(td_monitor_t *mon, td_window_result_t *res)
{
    if (occupancy_update(&mon->occupancy, mon->profile->occupancy, res->nearest, &res->occupancy_q8)) {
        res->trigger |= TD_TRIGGER_OCCUPANCY;
        mon->detector.alarm = 1u;
    }
}
#else
/* The build leaves the occupancy test out (TD_FEATURE_OCCUPANCY 0). */
typedef int td_occupancy_left_out_t;
#endif
