/* DriftMonitor.ino - the tinydrift device application on an Arduino Nano 33 BLE (Sense).
 *
 * The on-board IMU (Arduino_LSM9DS1: acc_x, acc_y, acc_z in 8192 LSB/g, gyr_x, gyr_y, gyr_z in
 * 16.384 LSB/dps) feeds the drift monitor; the tinydrift link (docs/protocol.md of the
 * repository) is served over USB serial, so the host tools work on this board:
 *     tinydrift upload --port auto ref.tdp                    # a profile, stored in flash (A/B slots)
 *     tinydrift monitor --port auto --sensor-rate 50 --db telemetry.db
 *     tinydrift selftest --port auto                          # the board computes what the host does
 * Sampling starts when the host sends SENSOR (`--sensor-rate`); every completed window becomes one
 * telemetry record, kept in a 128-record ring for FETCH while no host listens. Nothing else is
 * printed on Serial. The built-in LED blinks fast if initialisation fails and lights while a host
 * has the port open.
 *
 * Needs: the Arduino Mbed OS Nano core (arduino:mbed_nano) and the Arduino_LSM9DS1 library. For
 * the Nano 33 BLE Sense Rev2 (BMI270 IMU) build with -DTD_NANO_IMU=2 and Arduino_BMI270_BMM150.
 * The board layer is the library's src/tinydrift/boards/nano33ble/hal_nano33ble.cpp.
 */
#include <tinydrift.h>

#if !defined(ARDUINO_ARDUINO_NANO33BLE) && !defined(TD_NANO33BLE_HAL)
#error "DriftMonitor runs on the Arduino Nano 33 BLE / BLE Sense (FQBN arduino:mbed_nano:nano33ble)"
#endif

static td_app_t g_app; /* all application state, statically allocated (55,464 bytes with the default limits) */
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
