/* tinydrift.h - the tinydrift Arduino library's umbrella header: the C core and the device application.
 *
 * `#include <tinydrift.h>` in a sketch gives, with C linkage:
 *   - the core (tinydrift/tinydrift.h: td_profile_parse, td_monitor_init, td_monitor_push, ...),
 *   - the firmware application (tinydrift/firmware/td_app.h: td_app_init, td_app_poll, ...) and
 *     its board interface (tinydrift/firmware/td_hal.h), which the library implements for the
 *     Nano 33 BLE in tinydrift/boards/nano33ble/hal_nano33ble.cpp.
 * The library's src/ is csrc/include/tinydrift, csrc/src, firmware/ and boards/nano33ble of the
 * tinydrift repository, laid out so the Arduino builder compiles it recursively with only src/ on
 * the include path (`make arduino-lib`, boards/nano33ble/README.md).
 */
#ifndef TINYDRIFT_ARDUINO_H
#define TINYDRIFT_ARDUINO_H

#ifdef __cplusplus
extern "C" {
#endif

#include "tinydrift/tinydrift.h"
#include "tinydrift/firmware/td_app.h"
#include "tinydrift/firmware/td_hal.h"

#ifdef __cplusplus
}
#endif

#endif /* TINYDRIFT_ARDUINO_H */
