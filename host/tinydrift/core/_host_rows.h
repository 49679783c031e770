/* _host_rows.h - host-only helper of the CFFI module (not part of the C core, never built for a device).
 * Depends on: tinydrift/td_monitor.h.
 */
#ifndef TINYDRIFT_HOST_ROWS_H
#define TINYDRIFT_HOST_ROWS_H

#include <stdint.h>

#include "tinydrift/td_monitor.h"

/** Fields of a push() row, in the order of td_host_rows' offsets (tinydrift.core.monitor.ROW_FIELDS). */
#define TD_HOST_ROW_FIELDS 36

/** Row paths built in: 2 SSE2 and AVX2 (chosen at run time), 1 SSE2 alone, 0 field by field alone (tests set it). */
#ifndef TD_HOST_ROWS_SIMD
#if TD_HOST_X86
#define TD_HOST_ROWS_SIMD 2
#else
#define TD_HOST_ROWS_SIMD 0
#endif
#endif

/** td_host_push_rows stores rows of outputs of at least this many bytes (out_cap rows) non-temporally: converted in
 *  cache a few windows at a time (at most TD_HOST_ROWS_STREAM_CHUNK), out written in whole 64-byte lines that bypass
 *  the cache (SIMD builds, result_dtype's packed layout). */
#ifndef TD_HOST_ROWS_STREAM_MIN
#define TD_HOST_ROWS_STREAM_MIN (1u << 20)
#endif
#ifndef TD_HOST_ROWS_STREAM_CHUNK
#define TD_HOST_ROWS_STREAM_CHUNK 4u
#endif

/** Converts n window results into push()'s rows: offsets[i] is field i's byte offset in a row of row_size bytes
 *  (Q8 as value / 256.0, Q16 as value / 65536.0, alarm as 0/1); TD_ERR_ARG for NULL or counts over the limits. */
td_status td_host_rows(const td_window_result_t *raw, uint32_t n, uint32_t n_channels, uint32_t n_dims,
                       const uint32_t *offsets, uint32_t row_size, uint8_t *out);

/** td_monitor_push of n_frames frames, at most scratch_cap windows (into the caller's scratch) at a time, each chunk
 *  converted as td_host_rows into out (room for out_cap rows) after the rows before it; *n_rows rows written,
 *  *n_taken frames consumed by the chunks that succeeded. TD_ERR_CAPACITY, nothing taken, when more than out_cap
 *  windows would complete; TD_ERR_ARG for NULL, a zero scratch_cap or counts over the limits. */
td_status td_host_push_rows(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *scratch,
                            uint32_t scratch_cap, const uint32_t *offsets, uint32_t row_size, uint8_t *out,
                            uint32_t out_cap, uint32_t *n_rows, uint32_t *n_taken);

/** The row path this build takes on this CPU for result_dtype's layout: 2 AVX2, 1 SSE2, 0 field by field. */
uint32_t td_host_rows_path(void);

#endif
