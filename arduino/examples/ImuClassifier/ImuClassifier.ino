/* ImuClassifier.ino - an IMU activity classifier (TensorFlow Lite Micro) watched by a tinydrift monitor.
 *
 * Every WINDOW frames (2 s at 10 Hz) the sketch runs the int8 model once and then feeds the
 * tinydrift monitor exactly what `tinydrift score --model` does on the host:
 *   1. td_monitor_push_embedding(the model's output(1): the int8 embedding),
 *   2. td_monitor_push(the window's WINDOW frames),
 * so the window that the frames complete carries that embedding. The monitor scores the
 * embedding's squared distance to the profile's reference centroids (CUSUM + instant
 * threshold) and checks sensor health (stuck / saturated channels) on the frames.
 *
 * Generated inputs, next to this file (examples/imu_classifier/train.py of the tinydrift
 * repository trains the model and writes them with this sketch into its output folder, see
 * examples/imu_classifier/README.md there):
 *   model_data.h         the full-int8 .tflite as imu_model[] plus IMU_MODEL_* constants; two
 *                        outputs: output(0) class probabilities, output(1) the embedding
 *   tinydrift_profile.h  the external-embedding profile built from output(1) of that model
 * Without them the sketch stops at compile time with a message saying so.
 *
 * Board: Arduino Nano 33 BLE / BLE Sense (LSM9DS1 IMU). Libraries: Arduino_TensorFlowLite
 * (tflite-micro-arduino-examples) and Arduino_LSM9DS1. Output: one line per window on Serial.
 *
 * Sensor units: the model was trained on BasicMotions counts, acceleration at 1024 counts per
 * m/s^2 and angular rate at 512 counts per rad/s (the dataset's units as far as its value
 * ranges tell: peak |gyro| 34.87 = 1998 deg/s). This sketch converts the LSM9DS1's g and
 * deg/s to those counts. A board on a desk is not a wrist playing badminton: expect the
 * monitor to say so.
 *
 * Status: compiled in the repository's `make test` only against declarations of the few
 * Arduino, Arduino_LSM9DS1 and TFLite Micro calls it uses (tests/arduino/arduino_api_decls/),
 * with the Nano core's flags: a compile-time check; not built with arduino-cli nor run on a
 * board there (no arduino-cli, no TFLite Micro sources, no hardware).
 */
#include <Arduino.h>
#include <Arduino_LSM9DS1.h>
#include <TensorFlowLite.h>
#include <math.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include <tinydrift.h>

#if !__has_include("model_data.h") || !__has_include("tinydrift_profile.h")
#error "ImuClassifier needs model_data.h and tinydrift_profile.h next to it: run examples/imu_classifier/train.py"
#endif
#include "model_data.h"
#include "tinydrift_profile.h"

namespace {

constexpr uint32_t kWindow = IMU_MODEL_WINDOW;
constexpr uint32_t kChannels = IMU_MODEL_CHANNELS;
constexpr uint32_t kFramePeriodMs = 100;               /* 10 Hz, the training data's rate */
constexpr float kAccCountsPerG = 9.80665f * 1024.0f;  /* g -> m/s^2 -> counts */
constexpr float kGyrCountsPerDps = 0.017453292f * 512.0f; /* deg/s -> rad/s -> counts */
const char *const kClassNames[] = {"Standing", "Running", "Walking", "Badminton"};

/* Tensor arena: inputs, outputs and intermediate tensors (setup() prints what it uses). */
constexpr int kTensorArenaSize = 8 * 1024;
alignas(16) uint8_t g_tensor_arena[kTensorArenaSize];

tflite::MicroInterpreter *g_interpreter = nullptr;
TfLiteTensor *g_input = nullptr;
TfLiteTensor *g_probs = nullptr;
TfLiteTensor *g_embedding = nullptr;

td_profile_t g_profile;  /* parsed in place: points into tinydrift_profile[] (flash) */
td_monitor_t g_monitor;
td_window_result_t g_result;

int16_t g_frames[kWindow][kChannels]; /* the window being collected, int16 counts */
uint32_t g_fill = 0;
uint32_t g_next_ms = 0;

[[noreturn]] void halt(const char *why)
{
    for (;;) {
        Serial.print("imu_classifier: ");
        Serial.println(why);
        delay(2000);
    }
}

int16_t to_counts(float value, float counts_per_unit)
{
    const long c = lroundf(value * counts_per_unit);
    return (int16_t)(c > 32767 ? 32767 : (c < -32768 ? -32768 : c));
}

/* The model input, exactly as tinydrift.model.EmbeddingModel.quantize_input computes it on the
 * host: q = clamp(lroundf((counts * INPUT_SCALE) / s_in) + zp_in), in float32. */
void fill_input()
{
    const float s_in = g_input->params.scale;
    const int32_t zp_in = g_input->params.zero_point;
    int8_t *dst = g_input->data.int8;
    for (uint32_t f = 0; f < kWindow; f++) {
        for (uint32_t c = 0; c < kChannels; c++) {
            const float x = (float)g_frames[f][c] * IMU_MODEL_INPUT_SCALE;
            long q = lroundf(x / s_in) + zp_in;
            q = q > 127 ? 127 : (q < -128 ? -128 : q);
            *dst++ = (int8_t)q;
        }
    }
}

bool read_frame(int16_t *frame)
{
    float ax, ay, az, gx, gy, gz;
    if (!IMU.readAcceleration(ax, ay, az) || !IMU.readGyroscope(gx, gy, gz)) {
        return false;
    }
    frame[0] = to_counts(ax, kAccCountsPerG);
    frame[1] = to_counts(ay, kAccCountsPerG);
    frame[2] = to_counts(az, kAccCountsPerG);
    frame[3] = to_counts(gx, kGyrCountsPerDps);
    frame[4] = to_counts(gy, kGyrCountsPerDps);
    frame[5] = to_counts(gz, kGyrCountsPerDps);
    return true;
}

}  // namespace

void setup()
{
    Serial.begin(115200);
    const uint32_t t0 = millis();
    while (!Serial && millis() - t0 < 3000) {
    }
    tflite::InitializeTarget();
    if (!IMU.begin()) {
        halt("IMU.begin failed");
    }

    /* The drift profile: validated in place (CRC, ranges), then checked against the model. */
    if (td_profile_parse(&g_profile, tinydrift_profile, TINYDRIFT_PROFILE_SIZE) != TD_OK) {
        halt("invalid tinydrift profile");
    }
    if (!(g_profile.flags & TD_PROFILE_FLAG_EXTERNAL_EMBEDDING) || g_profile.window != kWindow ||
        g_profile.n_channels != kChannels || g_profile.n_dims != IMU_MODEL_EMBEDDING_DIMS) {
        halt("profile does not match the model (window, channels, dims or mode)");
    }
    if (td_monitor_init(&g_monitor, &g_profile) != TD_OK) {
        halt("td_monitor_init failed");
    }

    const tflite::Model *model = tflite::GetModel(imu_model);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        halt("model schema version mismatch");
    }
    /* The ops train.py reports for the converted model (it checks this list). */
    static tflite::MicroMutableOpResolver<6> resolver;
    resolver.AddConv2D();
    resolver.AddExpandDims();
    resolver.AddReshape();
    resolver.AddMean();
    resolver.AddFullyConnected();
    resolver.AddSoftmax();
    static tflite::MicroInterpreter interpreter(model, resolver, g_tensor_arena, kTensorArenaSize);
    g_interpreter = &interpreter;
    if (g_interpreter->AllocateTensors() != kTfLiteOk) {
        halt("AllocateTensors failed (tensor arena too small?)");
    }
    if (g_interpreter->inputs_size() != 1 || g_interpreter->outputs_size() != 2) {
        halt("model must have one input and two outputs");
    }
    g_input = g_interpreter->input(0);
    g_probs = g_interpreter->output(0);
    /* TFLite Micro reuses intermediate tensors' memory, so the embedding must be a model
     * output to be readable after Invoke(); train.py puts it at output(1). */
    g_embedding = g_interpreter->output(IMU_MODEL_EMBEDDING_OUTPUT);
    if (g_input->type != kTfLiteInt8 || g_input->bytes != kWindow * kChannels ||
        g_probs->type != kTfLiteInt8 || g_probs->bytes != IMU_MODEL_CLASSES ||
        g_embedding->type != kTfLiteInt8 || g_embedding->bytes != IMU_MODEL_EMBEDDING_DIMS) {
        halt("unexpected input/output tensor types or sizes");
    }
    /* The profile's embedding quantization must be this tensor's (train.py built it so). */
    const long scale_q24 = lroundf(g_embedding->params.scale * 16777216.0f);
    if ((uint32_t)scale_q24 != g_profile.ext_scale_q24 || g_embedding->params.zero_point != g_profile.ext_zero_point) {
        halt("profile's ext_scale_q24 / ext_zero_point differ from the embedding output's quantization");
    }
    Serial.print("imu_classifier: profile 0x");
    Serial.print(g_profile.profile_id, HEX);
    Serial.print(", model arena ");
    Serial.print((unsigned long)g_interpreter->arena_used_bytes());
    Serial.println(" bytes; window,class,p,score,cusum,trigger,alarm,estimated_accuracy");
    g_next_ms = millis();
}

void loop()
{
    if ((int32_t)(millis() - g_next_ms) < 0) {
        return;
    }
    g_next_ms += kFramePeriodMs;
    if (!read_frame(g_frames[g_fill])) {
        return; /* no fresh sample: try again at the next tick */
    }
    if (++g_fill < kWindow) {
        return;
    }
    g_fill = 0;

    /* 1. The model on the whole window. */
    fill_input();
    if (g_interpreter->Invoke() != kTfLiteOk) {
        halt("Invoke failed");
    }
    uint32_t best = 0;
    for (uint32_t k = 1; k < IMU_MODEL_CLASSES; k++) {
        if (g_probs->data.int8[k] > g_probs->data.int8[best]) {
            best = k;
        }
    }
    const float p = (g_probs->data.int8[best] - g_probs->params.zero_point) * g_probs->params.scale;

    /* 2. Its embedding into the monitor's current window, 3. then the window's frames, which
     *    complete that window: exactly one result. */
    uint32_t n_results = 0;
    uint32_t inference_seq = 0; /* label it later with td_monitor_push_label(&g_monitor, inference_seq, label) */
    if (td_monitor_push_outputs(&g_monitor, g_probs->data.int8, IMU_MODEL_CLASSES, &inference_seq) != TD_OK ||
        td_monitor_push_embedding(&g_monitor, g_embedding->data.int8, IMU_MODEL_EMBEDDING_DIMS) != TD_OK ||
        td_monitor_push(&g_monitor, &g_frames[0][0], kWindow, &g_result, 1, &n_results) != TD_OK) {
        halt("tinydrift monitor error");
    }
    if (n_results == 1) {
        Serial.print(g_result.window_index);
        Serial.print(',');
        Serial.print(best < sizeof kClassNames / sizeof kClassNames[0] ? kClassNames[best] : "?");
        Serial.print(',');
        Serial.print(p, 2);
        Serial.print(',');
        Serial.print(g_result.score_q8 / 256.0f, 2);
        Serial.print(',');
        Serial.print(g_result.cusum_q8 / 256.0f, 2);
        Serial.print(',');
        Serial.print(g_result.trigger);
        Serial.print(',');
        Serial.print(g_result.alarm);
        Serial.print(',');
        Serial.println(g_result.estimated_accuracy_q16 / 65536.0f, 3);
    }
}
