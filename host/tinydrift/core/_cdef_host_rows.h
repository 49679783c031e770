/* cffi declaration of the host-only row converter (host/tinydrift/core/_host_rows.h); keep in step with it. */
#define TD_HOST_ROW_FIELDS ...
#define TD_HOST_ROWS_SIMD ...
#define TD_HOST_ROWS_STREAM_MIN ...

td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out);
td_status td_host_push_rows(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *scratch,
                            uint32_t scratch_cap, const uint32_t *offsets, uint32_t row_size, uint8_t *out,
                            uint32_t out_cap, uint32_t *n_rows, uint32_t *n_taken);
uint32_t td_host_rows_path(void);
