/* tinydrift_nano33ble.ino - the tinydrift firmware on an Arduino Nano 33 BLE (Sense): td_app on hal_nano33ble.cpp.
 *
 * Build this sketch from the assembled folder build/fw/nano33ble/tinydrift_nano33ble/
 * (make -f firmware/firmware.mk fw-nano33ble-sketch copies the C core and the firmware app
 * into its src/), see boards/nano33ble/README.md. The host talks to it over USB CDC with
 * the tinydrift link protocol (docs/protocol.md); nothing else is printed on Serial.
 * The built-in LED blinks fast if initialisation fails, and lights while a host has the
 * port open.
 */
extern "C" {
#include "src/td_app.h"
#include "src/td_hal.h"
}

static td_app_t g_app; /* all application state, statically allocated (about 64 KB) */
static bool g_host_connected = false;

void setup()
{
    pinMode(LED_BUILTIN, OUTPUT);
    digitalWrite(LED_BUILTIN, LOW);
    if (td_hal_init() != TD_OK || td_app_init(&g_app) != TD_OK) {
        for (;;) {
            digitalWrite(LED_BUILTIN, HIGH);
            delay(100);
            digitalWrite(LED_BUILTIN, LOW);
            delay(100);
        }
    }
}

void loop()
{
    /* A host opening the port (DTR rising) starts a new session: drop any partial frame. */
    const bool connected = Serial.dtr();
    if (connected && !g_host_connected) {
        if (td_app_link_reset(&g_app) != TD_OK) {
            /* cannot fail for a valid app; nothing more to do */
        }
    }
    if (connected != g_host_connected) {
        digitalWrite(LED_BUILTIN, connected ? HIGH : LOW);
    }
    g_host_connected = connected;
    if (td_app_poll(&g_app) != TD_OK) {
        /* the app has already answered with a NACK or LOG; keep serving */
    }
    td_hal_idle();
}
