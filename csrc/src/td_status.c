/* td_status.c - human-readable status strings. */
#include "tinydrift/td_status.h"

const char *td_status_str(td_status status)
{
    switch (status) {
    case TD_OK: return "ok";
    case TD_ERR_ARG: return "invalid argument";
    case TD_ERR_TRUNCATED: return "truncated data";
    case TD_ERR_MAGIC: return "bad magic";
    case TD_ERR_VERSION: return "unsupported version";
    case TD_ERR_CRC: return "CRC mismatch";
    case TD_ERR_SIZE: return "inconsistent size";
    case TD_ERR_LIMIT: return "exceeds compile-time limit";
    case TD_ERR_RANGE: return "value out of range";
    case TD_ERR_CAPACITY: return "capacity exceeded";
    case TD_ERR_STATE: return "invalid state";
    case TD_ERR_MODE: return "unsupported mode or board";
    }
    return "unknown status";
}
