/* cffi declaration of the host-only row converter (host/tinydrift/core/_host_rows.h); keep in step with it. */
#define TD_HOST_ROW_FIELDS ...

td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out);
