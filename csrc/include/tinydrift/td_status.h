/* td_status.h - the one status type every fallible tinydrift function returns.
 * Depends on: nothing.
 */
#ifndef TINYDRIFT_TD_STATUS_H
#define TINYDRIFT_TD_STATUS_H

#if defined(__GNUC__) || defined(__clang__)
#define TD_CHECK_RESULT __attribute__((warn_unused_result))
#else
#define TD_CHECK_RESULT
#endif

/** Result of a tinydrift call: TD_OK or a negative error code. */
typedef enum {
    TD_OK = 0,               /**< success */
    TD_ERR_ARG = -1,         /**< NULL pointer, zero or out-of-range argument */
    TD_ERR_TRUNCATED = -2,   /**< buffer shorter than its declared contents */
    TD_ERR_MAGIC = -3,       /**< not a tinydrift blob (bad magic) */
    TD_ERR_VERSION = -4,     /**< unsupported format version */
    TD_ERR_CRC = -5,         /**< checksum mismatch */
    TD_ERR_SIZE = -6,        /**< declared size inconsistent with the counts */
    TD_ERR_LIMIT = -7,       /**< count exceeds a compile-time limit (td_config.h) */
    TD_ERR_RANGE = -8,       /**< a field holds a value outside its allowed range */
    TD_ERR_CAPACITY = -9,    /**< caller-provided buffer too small, or a count at its limit */
    TD_ERR_STATE = -10,      /**< call not valid in the object's current state */
    TD_ERR_MODE = -11        /**< not supported in this mode (embedding entry point) or on this board (no sensors) */
} td_status;

/** Short constant English description of a status code; total (unknown codes map to "unknown status"). */
const char *td_status_str(td_status status);

#endif /* TINYDRIFT_TD_STATUS_H */
