/* main.c - the tinydrift firmware's entry point on QEMU's mps2-an386: td_app on this board's HAL.
 *
 * Errors td_app_poll returns (the app has already NACKed or logged them on the link) are
 * echoed on QEMU's console through semihosting, where the host simulator wrapper collects
 * QEMU's output. The CMSDK UART has no modem lines, so a new TCP client cannot be detected:
 * hosts flush a stale partial frame with a lone 0x00 (docs/protocol.md).
 * A "sensor_rate=HZ" word in QEMU's -append string starts the recorded sensor (hal_mps2.c) at HZ as soon
 * as a profile is active.
 * Depends on: td_app.h, td_hal.h, mps2.h, semihost.h.
 */
#include "mps2.h"
#include "semihost.h"
#include "td_app.h"
#include "td_hal.h"

static td_app_t g_app;

int main(void)
{
    if (td_hal_init() != TD_OK || td_app_init(&g_app) != TD_OK) {
        sh_write0("tinydrift: board or app initialisation failed\n");
        sh_exit(1);
    }
    uint16_t auto_rate = mps2_sensor_autostart_rate(); /* start the sensor once a profile is active */
    for (;;) {
        if (auto_rate > 0u && td_app_sensor_start(&g_app, auto_rate) == TD_OK) {
            auto_rate = 0u;
        }
        const td_status st = td_app_poll(&g_app);
        if (st != TD_OK) {
            sh_write0("tinydrift: td_app_poll: ");
            sh_write0(td_status_str(st));
            sh_write0("\n");
        }
        td_hal_idle();
    }
}
