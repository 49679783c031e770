/* schema_generated.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md). */
#ifndef TD_DECLS_TFLM_SCHEMA_GENERATED_H
#define TD_DECLS_TFLM_SCHEMA_GENERATED_H

#include "tensorflow/lite/micro/micro_interpreter.h"

#define TFLITE_SCHEMA_VERSION (3)

namespace tflite {
const Model *GetModel(const void *buf);
} // namespace tflite

#endif
