/* TensorFlowLite.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md): the
 * Arduino_TensorFlowLite library's top header, which the ImuClassifier example includes. */
#ifndef TD_DECLS_TENSORFLOWLITE_H
#define TD_DECLS_TENSORFLOWLITE_H
#endif
