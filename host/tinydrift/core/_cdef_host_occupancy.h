/* cffi declaration of the host-only occupancy statistic (host/tinydrift/core/_host_occupancy.h); keep in step. */
td_status td_host_occupancy_stat(const int64_t *idx, uint32_t n, const int64_t *cost, uint32_t n_cost,
                                 const int64_t *table, uint32_t n_windows, uint32_t *counts, int64_t *out);
td_status td_host_occupancy_alarms(const int64_t *stat, uint32_t n, int64_t threshold, uint32_t n_windows,
                                   uint32_t *n_alarms);
