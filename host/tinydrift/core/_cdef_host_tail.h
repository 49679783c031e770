/* cffi declaration of the host-only tail and chart helpers (host/tinydrift/core/_host_tail.h); keep in step. */
td_status td_host_resample_tops(const uint32_t *idx, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                uint32_t *counts, double *out);
typedef struct {
    uint64_t state_hi;
    uint64_t state_lo;
    uint64_t inc_hi;
    uint64_t inc_lo;
    uint32_t has_uint32;
    uint32_t uinteger;
} td_host_pcg64_t;
td_status td_host_bootstrap_tops(td_host_pcg64_t *rng, uint32_t n_rows, uint32_t n, const double *s, uint32_t keep,
                                 uint32_t *counts, double *out);
td_status td_host_chart_threshold(uint32_t k_q8, const int16_t *shifts_q8, uint32_t n_windows, uint32_t n_features,
                                  uint32_t budget, uint32_t *h_q8);
