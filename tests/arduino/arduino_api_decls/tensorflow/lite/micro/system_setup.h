/* system_setup.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md). */
#ifndef TD_DECLS_TFLM_SYSTEM_SETUP_H
#define TD_DECLS_TFLM_SYSTEM_SETUP_H

namespace tflite {
void InitializeTarget();
} // namespace tflite

#endif
