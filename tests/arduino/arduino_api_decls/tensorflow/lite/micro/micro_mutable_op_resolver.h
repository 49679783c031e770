/* micro_mutable_op_resolver.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md):
 * the op registrations the ImuClassifier example makes. */
#ifndef TD_DECLS_TFLM_MICRO_MUTABLE_OP_RESOLVER_H
#define TD_DECLS_TFLM_MICRO_MUTABLE_OP_RESOLVER_H

#include "tensorflow/lite/micro/micro_interpreter.h"

namespace tflite {

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
public:
    TfLiteStatus AddConv2D();
    TfLiteStatus AddExpandDims();
    TfLiteStatus AddReshape();
    TfLiteStatus AddMean();
    TfLiteStatus AddFullyConnected();
    TfLiteStatus AddSoftmax();
};

} // namespace tflite

#endif
