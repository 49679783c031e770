/* _host_rows.h - host-only helper of the CFFI module (not part of the C core, never built for a device).
 * Depends on: tinydrift/td_monitor.h.
 */
#ifndef TINYDRIFT_HOST_ROWS_H
#define TINYDRIFT_HOST_ROWS_H

#include <stdint.h>

#include "tinydrift/td_monitor.h"

/** Fields of a push() row, in the order of td_host_rows' offsets (tinydrift.core.monitor.ROW_FIELDS). */
#define TD_HOST_ROW_FIELDS 36

/** Converts n window results into push()'s rows: offsets[i] is field i's byte offset in a row of row_size bytes
 *  (Q8 as value / 256.0, Q16 as value / 65536.0, alarm as 0/1); TD_ERR_ARG for NULL or counts over the limits. */
td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out);

#endif
