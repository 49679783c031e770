/* micro_interpreter.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md): the
 * TFLite Micro types and interpreter calls the ImuClassifier example uses (c/common.h, micro_interpreter.h). */
#ifndef TD_DECLS_TFLM_MICRO_INTERPRETER_H
#define TD_DECLS_TFLM_MICRO_INTERPRETER_H

#include <stddef.h>
#include <stdint.h>

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt32 = 2, kTfLiteUInt8 = 3, kTfLiteInt8 = 9 } TfLiteType;
typedef struct TfLiteQuantizationParams {
    float scale;
    int32_t zero_point;
} TfLiteQuantizationParams;
typedef union TfLitePtrUnion {
    int32_t *i32;
    float *f;
    int8_t *int8;
    uint8_t *uint8;
    void *data;
} TfLitePtrUnion;
typedef struct TfLiteTensor {
    TfLiteType type;
    TfLitePtrUnion data;
    TfLiteQuantizationParams params;
    size_t bytes;
} TfLiteTensor;

namespace tflite {

class Model {
public:
    uint32_t version() const;
};

class MicroOpResolver {
public:
    virtual ~MicroOpResolver();
};

class MicroInterpreter {
public:
    MicroInterpreter(const Model *model, const MicroOpResolver &op_resolver, uint8_t *tensor_arena,
                     size_t tensor_arena_size);
    TfLiteStatus AllocateTensors();
    TfLiteStatus Invoke();
    size_t inputs_size() const;
    size_t outputs_size() const;
    TfLiteTensor *input(size_t index);
    TfLiteTensor *output(size_t index);
    size_t arena_used_bytes() const;
};

} // namespace tflite

#endif
