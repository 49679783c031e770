/* hal_host.h - board-private controls of the POSIX host simulator's HAL (boards/host/hal_host.c).
 *
 * main.c configures the link and storage file before td_hal_init and asks the
 * HAL about reconnects; the firmware app itself only sees td_hal.h.
 * Depends on: <stdint.h>.
 */
#ifndef TINYDRIFT_HAL_HOST_H
#define TINYDRIFT_HAL_HOST_H

#include <stdint.h>

/** Default storage file, relative to the working directory. */
#define TD_HOST_DEFAULT_STORAGE "tinydrift-storage.bin"

/** Which byte stream the simulator serves. */
typedef enum {
    TD_HOST_LINK_TCP = 0, /**< listen on 127.0.0.1:port, one client at a time */
    TD_HOST_LINK_PTY = 1  /**< a pseudo-terminal; clients open its slave path */
} td_host_link_kind_t;

/** Options main() passes to the HAL before td_hal_init. */
typedef struct {
    td_host_link_kind_t link; /**< TCP or PTY */
    uint16_t port;            /**< TCP port, 0 = pick a free one */
    const char *storage_path; /**< flash image file (created 0xFF-filled) */
    const char *sensor_path;  /**< recorded sensor stream (raw int16 LE, interleaved), NULL: no sensor */
    uint64_t device_uid;      /**< --device-id: stored as the board's uid; 0 = keep the stored one (or make one) */
} td_host_options_t;

/** Set the options td_hal_init uses; call before it (the strings must outlive the process). */
void td_host_configure(const td_host_options_t *options);

/** Address clients use after td_hal_init: "socket://127.0.0.1:PORT" or the pty slave path. */
const char *td_host_link_address(void);

/** 1 once after the link got a new client since the last call (the app must drop partial frames); total. */
int td_host_take_reconnect(void);

/** Close the link and the storage file. */
void td_host_shutdown(void);

#endif /* TINYDRIFT_HAL_HOST_H */
