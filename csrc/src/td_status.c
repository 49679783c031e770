/* td_status.c - human-readable status strings. */
#include "tinydrift/td_status.h"

#include <stdint.h>

#include "tinydrift/td_config.h"

/* The strings of TD_OK, TD_ERR_ARG (-1) ... TD_ERR_MODE (-11) in order, then the one for any other value, each ended
 * by its NUL: one array and a short scan instead of a switch's jump table of pointers (48 bytes of flash); the scan
 * passes at most 12 strings and only error reporting calls it. */
#if TD_FEATURE_STATUS_STRINGS
static const char td_status_names[] = "ok\0"
                                      "invalid argument\0"
                                      "truncated data\0"
                                      "bad magic\0"
                                      "unsupported version\0"
                                      "CRC mismatch\0"
                                      "inconsistent size\0"
                                      "exceeds compile-time limit\0"
                                      "value out of range\0"
                                      "capacity exceeded\0"
                                      "invalid state\0"
                                      "unsupported mode or board\0"
                                      "unknown status";
#endif

const char *td_status_str(td_status status)
{
#if !TD_FEATURE_STATUS_STRINGS
    (void)status;
    return "";
#else
    /* 0 for TD_OK, 11 for TD_ERR_MODE; anything else (also positive values) wraps past 11 to the last string. */
    uint32_t skip = 0u - (uint32_t)(int32_t)status;
    if (skip > (uint32_t)-TD_ERR_MODE) {
        skip = (uint32_t)-TD_ERR_MODE + 1u;
    }
    const char *p = td_status_names;
    while (skip > 0u) {
        if (*p++ == '\0') {
            skip--;
        }
    }
    return p;
#endif
}
