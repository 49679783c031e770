#!/usr/bin/env python3
"""Train a small IMU activity classifier and build a drift profile from its embedding layer.

    .venv/bin/python examples/imu_classifier/train.py -o build/imu_classifier

Steps (CPU, seeded, a few seconds):
1. Windows of WINDOW frames (2 s at 10 Hz) cut from the bundled BasicMotions recording
   (data/basicmotions.npz: standing, running, walking, badminton; 40 training and 40 test
   cases of 100 frames, 6 channels acc_x..gyr_z in int16 counts).
2. A 1-D CNN: Conv1D(16) -> Conv1D(16) -> global average pooling -> Dense(8) "embedding" ->
   Dense(classes, softmax) "probs", trained on the training cases. Model input = int16 counts *
   INPUT_SCALE (1/4096), the convention of tinydrift.build.model. Prints held-out (test split) accuracy.
3. Full-int8 TFLite conversion (representative dataset: the training windows) of a model with
   TWO outputs, output 0 = class probabilities, output 1 = the embedding. TFLite Micro frees
   intermediate tensors, so a device can read the embedding only as a model output. The
   converter orders outputs its own way; the subgraph's output list is rewritten to the Keras
   order and checked (output(1) is the embedding, int8, its quantization equals the embedding
   tensor's).
4. tinydrift.build_model_profile on the training cases (one recording per case) with
   tensor "output:1": window = the model's input length, int8 embedding scale and zero point =
   the output tensor's quantization, centroids and thresholds from the C monitor.
5. Writes into the output directory: model.keras, model.tflite, ref.tdp, summary.json, and the
   Arduino sketch folder ImuClassifier/ (the tinydrift Arduino library's example
   arduino/examples/ImuClassifier/ImuClassifier.ino, model_data.h with the .tflite as a C array
   plus its constants, tinydrift_profile.h), ready for arduino-cli with the tinydrift library
   installed (`make arduino-lib`). The sketch's op resolver must cover the model's ops: checked here.
6. Scores the test split (in distribution, never seen in training) and two drifts: the
   gyroscope's y axis at 4x gain, and the accelerometer's x axis with its sign flipped (a
   sensor mounted the other way round).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "basicmotions.npz"
WINDOW = 20
INPUT_SCALE = 1.0 / 4096
EMBEDDING_LAYER = "embedding"
EMBEDDING_DIMS = 8
EMBEDDING_OUTPUT = 1  # the device reads interpreter.output(1)
RATE = 1e-3
SKETCH = ROOT / "arduino" / "examples" / "ImuClassifier" / "ImuClassifier.ino"
# Builtin ops the sketch registers (MicroMutableOpResolver::Add<Op> in ImuClassifier.ino).
SKETCH_OPS = {"CONV_2D": "AddConv2D", "EXPAND_DIMS": "AddExpandDims", "RESHAPE": "AddReshape", "MEAN": "AddMean",
              "FULLY_CONNECTED": "AddFullyConnected", "SOFTMAX": "AddSoftmax"}


def _tf():  # noqa: ANN202
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        sys.exit("TensorFlow is not installed: pip install 'tinydrift[tf]'")
    return tf


def load_cases(classes: list[int] | None = None) -> dict[str, object]:
    """BasicMotions as per-case recordings: {'train': [...], 'test': [...], labels, names}."""
    data = np.load(DATA)
    frames, case, split, labels = data["frames"], data["case"], data["split"], data["labels"]
    out: dict[str, object] = {"class_names": [str(c) for c in data["class_names"]],
                              "channel_names": [str(c) for c in data["channel_names"]]}
    for name, s in (("train", 0), ("test", 1)):
        ids = [k for k in np.unique(case[split == s]) if classes is None or int(labels[case == k][0]) in classes]
        out[name] = [frames[case == k] for k in ids]
        out[name + "_labels"] = np.array([int(labels[case == k][0]) for k in ids])
    return out


def windows(recordings: list[np.ndarray], labels: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Tumbling windows (n, window, C) int16 of each recording, with the recording's label."""
    xs, ys = [], []
    for rec, y in zip(recordings, labels):
        n = len(rec) // window
        xs.append(rec[: n * window].reshape(n, window, rec.shape[1]))
        ys.append(np.full(n, y))
    return np.concatenate(xs), np.concatenate(ys)


def make_model(n_classes: int, window: int = WINDOW, n_channels: int = 6, seed: int = 0):  # noqa: ANN201
    """The classifier; its Dense layer EMBEDDING_LAYER is the embedding (no activation: a signed vector)."""
    _tf()
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((window, n_channels), name="frames")
    x = keras.layers.Conv1D(16, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.Conv1D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    emb = keras.layers.Dense(EMBEDDING_DIMS, name=EMBEDDING_LAYER)(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="probs")(keras.layers.ReLU(name="relu")(emb))
    model = keras.Model(inp, out, name="imu_classifier")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def train(x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int = 60, seed: int = 0):  # noqa: ANN201
    model = make_model(n_classes, x.shape[1], x.shape[2], seed)
    model.fit(x.astype(np.float32) * np.float32(INPUT_SCALE), y, epochs=epochs, batch_size=32, verbose=0,
              shuffle=True)
    return model


def _reorder_outputs(tflite: bytes, order: list[int]) -> bytes:
    """Rewrite the subgraph's output list to the signature's output_0, output_1, ... order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    model.subgraphs[0].outputs = np.array(order, dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def to_tflite_int8(model, x_rep: np.ndarray, embedding_layer: str = EMBEDDING_LAYER) -> bytes:  # noqa: ANN001
    """Full-int8 TFLite of (probs, embedding): output 0 = probs, output 1 = embedding (checked)."""
    tf = _tf()
    import keras

    two = keras.Model(model.inputs, [model.outputs[0], model.get_layer(embedding_layer).output])
    rep = x_rep.astype(np.float32) * np.float32(INPUT_SCALE)

    def representative():  # noqa: ANN202
        for i in range(len(rep)):
            yield [rep[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(two)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's chatter
        warnings.simplefilter("ignore")
        blob = conv.convert()
        interp = tf.lite.Interpreter(model_content=blob)
    # The signature maps output_0 / output_1 (Keras order) to tensors; make the subgraph agree.
    sig = interp.get_signature_runner()
    names = sorted(sig.get_output_details(), key=lambda n: int(n.rsplit("_", 1)[1]))
    order = [int(sig.get_output_details()[n]["index"]) for n in names]
    if [int(o["index"]) for o in interp.get_output_details()] != order:
        blob = _reorder_outputs(blob, order)
    check_two_outputs(blob, n_classes=int(model.outputs[0].shape[-1]))
    return blob


def check_two_outputs(blob: bytes, n_classes: int) -> dict[str, object]:
    """Assert output 0 is (1, classes) and output 1 the (1, EMBEDDING_DIMS) int8 embedding."""
    tf = _tf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interp = tf.lite.Interpreter(model_content=blob)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    shapes = [list(map(int, o["shape"])) for o in outs]
    if len(outs) != 2 or shapes != [[1, n_classes], [1, EMBEDDING_DIMS]]:
        raise SystemExit(f"converted model's outputs are {shapes}, expected [[1, {n_classes}], [1, {EMBEDDING_DIMS}]]")
    if any(np.dtype(t["dtype"]) != np.int8 for t in (inp, *outs)):
        raise SystemExit("converted model is not full-int8")
    ops = sorted({op["op_name"] for op in interp._get_ops_details()} - {"DELEGATE"})
    return {"input": inp, "probs": outs[0], "embedding": outs[EMBEDDING_OUTPUT], "ops": ops}


def check_sketch_ops(ops: list[str]) -> None:
    """Every op of the model must be registered by the sketch's resolver (and the sketch must say so)."""
    text = SKETCH.read_text()
    missing = [op for op in ops if op not in SKETCH_OPS or f"resolver.{SKETCH_OPS[op]}();" not in text]
    if missing:
        raise SystemExit(f"the model uses ops the sketch does not register: {', '.join(missing)}")


def assemble_sketch(out: Path, model_h: str, profile_h: str) -> Path:
    """OUT/ImuClassifier/: the library's example sketch and the generated headers (the tinydrift core comes from
    the tinydrift Arduino library, `make arduino-lib`)."""
    sketch = out / SKETCH.stem
    if sketch.exists():
        shutil.rmtree(sketch)
    sketch.mkdir(parents=True)
    shutil.copy(SKETCH, sketch / SKETCH.name)
    (sketch / "model_data.h").write_text(model_h)
    (sketch / "tinydrift_profile.h").write_text(profile_h)
    return sketch


def c_array(blob: bytes, symbol: str, info: dict[str, object]) -> str:
    """model_data.h: the model as an aligned const array plus the constants the sketch needs."""
    lines = [
        f"/* model_data.h - generated by examples/imu_classifier/train.py; do not edit. */",
        "#ifndef IMU_MODEL_DATA_H",
        "#define IMU_MODEL_DATA_H",
        "",
        "#include <stdint.h>",
        "",
        f"#define IMU_MODEL_WINDOW {info['window']}u            /* frames per model input (= profile window) */",
        f"#define IMU_MODEL_CHANNELS {info['channels']}u",
        f"#define IMU_MODEL_CLASSES {info['classes']}u",
        f"#define IMU_MODEL_EMBEDDING_OUTPUT {EMBEDDING_OUTPUT}u  /* interpreter.output(n) holding the embedding */",
        f"#define IMU_MODEL_EMBEDDING_DIMS {info['dims']}u",
        f"#define IMU_MODEL_INPUT_SCALE (1.0f / {round(1 / INPUT_SCALE)}.0f) /* model input = int16 counts * this */",
        f"/* embedding quantization (= the profile's ext_scale_q24 / 2^24 and ext_zero_point): scale "
        f"{info['scale']!r}, zero point {info['zero_point']} */",
        "",
        f"alignas(16) static const unsigned char {symbol}[{len(blob)}] = {{",
    ]
    for i in range(0, len(blob), 12):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in blob[i : i + 12]) + ",")
    lines += ["};", f"static const unsigned int {symbol}_len = {len(blob)}u;", "", "#endif", ""]
    return "\n".join(lines)


def accuracy_tflite(model, x: np.ndarray, y: np.ndarray) -> float:  # noqa: ANN001
    """Accuracy of an int8 tinydrift.build.model.EmbeddingModel's interpreter on the class output."""
    interp = model._interp
    probs_index = int(interp.get_output_details()[0]["index"])
    q = model.quantize_input(x)
    hits = 0
    for i in range(len(q)):
        interp.set_tensor(model._input_index, q[i : i + 1])
        interp.invoke()
        hits += int(np.argmax(interp.get_tensor(probs_index)[0]) == y[i])
    return hits / len(y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "build" / "imu_classifier"), metavar="DIR",
                        help="output directory (default: build/imu_classifier)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=RATE, help="false alarms per window (default: 1e-3)")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    import tinydrift
    from tinydrift.outputs import OutputWindow, calibrate_profile_outputs
    from tinydrift.build.model_profile import score_with_model

    data = load_cases()
    names = data["channel_names"]
    x_train, y_train = windows(data["train"], data["train_labels"])
    x_test, y_test = windows(data["test"], data["test_labels"])
    n_classes = len(data["class_names"])
    print(f"[1/5] {len(x_train)} training / {len(x_test)} test windows of {WINDOW} frames x {len(names)} channels")

    model = train(x_train, y_train, n_classes, args.epochs, args.seed)
    model.save(out / "model.keras")
    acc = float(np.mean(np.argmax(model.predict(x_test * INPUT_SCALE, verbose=0), axis=1) == y_test))
    print(f"[2/5] trained {model.count_params()} parameters; held-out accuracy (float Keras): {acc:.3f}")

    blob = to_tflite_int8(model, x_train)
    (out / "model.tflite").write_bytes(blob)
    details = check_two_outputs(blob, n_classes)
    check_sketch_ops(details["ops"])
    tfl = tinydrift.load_embedding_model(out / "model.tflite", tensor=f"output:{EMBEDDING_OUTPUT}",
                                         input_scale=INPUT_SCALE)
    acc8 = accuracy_tflite(tfl, x_test, y_test)
    print(f"[3/5] int8 TFLite: {len(blob)} bytes, ops {', '.join(details['ops'])}; outputs (probs, embedding); "
          f"embedding = output:{EMBEDDING_OUTPUT} (tensor {tfl.tensor!r}), int8 scale {tfl.scale:.6g} zero point "
          f"{tfl.zero_point}; held-out accuracy (int8): {acc8:.3f}")

    profile = tinydrift.build_model_profile(data["train"], tfl, false_alarm_rate=args.rate, channel_names=names)
    scale, zero_point = details["embedding"]["quantization"]
    if (profile.ext_scale_q24, profile.ext_zero_point) != (math.floor(scale * 2**24 + 0.5), zero_point):
        raise SystemExit("profile quantization differs from the embedding output's")
    # Model outputs: calibrate confidence -> accuracy and the class prior on held-out labelled windows,
    # so the device can estimate its accuracy without labels and run DDM when labels arrive.
    probs_model = tinydrift.load_embedding_model(out / "model.tflite", tensor="output:0", input_scale=INPUT_SCALE)
    half = len(x_test) // 2
    profile = calibrate_profile_outputs(profile, probs_model.embed(x_test[:half]), y_test[:half],
                                        scale=probs_model.scale, zero_point=probs_model.zero_point)
    check_window = OutputWindow(profile.outputs)
    predicted = check_window.push(probs_model.embed(x_test[half:]))
    estimate = check_window.summary().estimated_accuracy
    realized = float(np.mean(predicted == y_test[half:]))
    print(f"      outputs: label-free accuracy estimate {estimate:.3f} vs realized {realized:.3f} "
          f"on {len(x_test) - half} held-out windows")
    profile.save(out / "ref.tdp")
    info = {"window": WINDOW, "channels": len(names), "classes": n_classes, "dims": tfl.n_dims,
            "scale": tfl.scale, "zero_point": tfl.zero_point}
    sketch = assemble_sketch(out, c_array(blob, "imu_model", info), profile.to_c_header("tinydrift_profile"))
    print(f"[4/5] profile {profile.profile_id:#010x}: window {profile.window}, {profile.n_dims} dims, "
          f"{profile.n_centroids} centroids, instant {profile.instant_q8 / 256:.2f}, CUSUM k "
          f"{profile.cusum_k_q8 / 256:.2f} h {profile.cusum_h_q8 / 256:.2f}")

    test = np.concatenate(data["test"])
    clean = score_with_model(profile, test, tfl)
    results = {"accuracy_keras": acc, "accuracy_int8": acc8, "windows": len(clean),
               "clean": {"windows_with_trigger": int(np.count_nonzero(clean["trigger"])),
                         "median_score": float(np.median(clean["score"]))}}
    print(f"[5/5] test split ({len(clean)} windows, in distribution): median score "
          f"{np.median(clean['score']):.2f}, windows with a trigger: {int(np.count_nonzero(clean['trigger']))}")
    for label, channel, fn in (("gyr_y gain x4", "gyr_y", lambda v: v * 4.0),
                               ("acc_x sign flipped", "acc_x", lambda v: -v)):
        drifted = test.astype(np.float64)
        c = names.index(channel)
        drifted[:, c] = fn(drifted[:, c])
        rows = score_with_model(profile, np.clip(np.round(drifted), -32768, 32767).astype(np.int16), tfl)
        first = int(np.argmax(rows["alarm"])) if rows["alarm"].any() else None
        results[label] = {"median_score": float(np.median(rows["score"])),
                          "windows_with_trigger": int(np.count_nonzero(rows["trigger"])), "first_alarm": first}
        print(f"      {label}: median score {np.median(rows['score']):.2f}, windows with a trigger "
              f"{int(np.count_nonzero(rows['trigger']))} of {len(rows)}, first alarm at window {first}")
    (out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}/: model.keras model.tflite ref.tdp summary.json, sketch {sketch}/ "
          f"({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
