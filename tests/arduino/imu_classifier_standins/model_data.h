/* model_data.h - compile-check stand-in (tests/arduino): declares what examples/imu_classifier/train.py's
 * model_data.h defines (the model array and its IMU_MODEL_* constants), with this example's values, so the
 * ImuClassifier sketch compiles in make arduino-lib-check. Not a model: run train.py for the real file. */
#ifndef IMU_MODEL_DATA_H
#define IMU_MODEL_DATA_H
#include <stdint.h>
#define IMU_MODEL_WINDOW 20u
#define IMU_MODEL_CHANNELS 6u
#define IMU_MODEL_CLASSES 4u
#define IMU_MODEL_EMBEDDING_DIMS 8u
#define IMU_MODEL_EMBEDDING_OUTPUT 1u
#define IMU_MODEL_INPUT_SCALE (1.0f / 4096.0f)
extern const unsigned char imu_model[];
extern const unsigned int imu_model_len;
#endif
