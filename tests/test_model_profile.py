"""External-embedding profiles from the application's model: tinydrift.build.model, tinydrift.build.model_profile, the CLI.

A small 1-D CNN (examples/imu_classifier/train.py's) is trained here, seeded, on three of the
four BasicMotions classes (standing, running, walking; badminton is never seen), saved as
.keras and converted to a full-int8 .tflite with two outputs (probabilities, embedding).
Checked:

- the .tflite embeddings are exactly the int8 values an independently driven TFLite
  interpreter (reference kernels, the ones TFLite Micro matches) puts in the tensor, for an
  output and for an intermediate tensor; the .keras embeddings are the layer's float output
  quantized with the recorded symmetric scale;
- profiles round-trip through the C parser; ext_scale_q24 / ext_zero_point are the tensor's
  quantization; the window embeddings the C monitor reports are the documented dequantization;
- scoring (per window: its embedding, then its frames): few false alarms on the unseen test
  cases of the three classes, alarms on the never-seen class and on an accelerometer axis with
  4x gain;
- `tinydrift profile build --model` for both formats (same profile as the library) and
  `tinydrift score --model`;
- one-line errors: unknown layer / tensor, non-int8 tensor, non-vector layer, wrong channel
  count, corrupt model files, a model whose input is not (window, channels), TensorFlow missing;
- `import tinydrift` does not import TensorFlow.

Tests that need TensorFlow skip without it (pytest.importorskip); the others run anyway.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift import InputError, Monitor, Profile, TinyDriftError
from tinydrift.cli.app import main
from tinydrift.build.model import TF_MISSING, TensorFlowMissingError, load_embedding_model
from tinydrift.build.model_profile import build_model_profile, run_with_embeddings, score_with_model

# Keras 3.15's own model.save on numpy 2 (keras/src/backend/tensorflow/core.py), not tinydrift's code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "imu_classifier" / "train.py"
KNOWN = [0, 1, 2]  # standing, running, walking
UNSEEN = 3  # badminton
GAIN_CHANNEL = 1  # acc_y (the model relies little on the gyroscope: a gyro gain barely moves its embedding)


def _example():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("imu_classifier_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    rc, out, err = _cli(capsys, *argv)
    lines = [ln for ln in err.splitlines() if ln.startswith("tinydrift:")]
    assert rc == 1 and out == "" and len(lines) == 1 and lines[0].startswith("tinydrift: error: "), (rc, out, err)
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three-class model (.keras, two-output int8 .tflite) and the data around it."""
    pytest.importorskip("tensorflow")
    ex = _example()
    d = tmp_path_factory.mktemp("model")
    known = ex.load_cases(KNOWN)
    every = ex.load_cases()
    x, y = ex.windows(known["train"], known["train_labels"])
    model = ex.train(x, y, n_classes=len(KNOWN), epochs=40, seed=0)
    model.save(d / "model.keras")
    blob = ex.to_tflite_int8(model, x)
    (d / "model.tflite").write_bytes(blob)
    x_test, y_test = ex.windows(known["test"], known["test_labels"])
    acc = float(np.mean(np.argmax(model.predict(x_test * ex.INPUT_SCALE, verbose=0), axis=1) == y_test))
    unseen = [f for f, lab in zip(every["test"], every["test_labels"]) if lab == UNSEEN]
    return {
        "dir": d, "keras": d / "model.keras", "tflite": d / "model.tflite", "ex": ex, "accuracy": acc,
        "train": known["train"], "test": np.concatenate(known["test"]), "unseen": np.concatenate(unseen),
        "names": known["channel_names"],
    }


@pytest.fixture(scope="module")
def tflite_profile(trained: dict) -> tuple:
    model = load_embedding_model(trained["tflite"], tensor="output:1")
    return model, build_model_profile(trained["train"], model, channel_names=trained["names"])


def _gain(frames: np.ndarray, channel: int, gain: float) -> np.ndarray:
    x = frames.astype(np.float64)
    x[:, channel] *= gain
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


# ------------------------------------------------------------------------------------ without TensorFlow


def test_import_does_not_import_tensorflow() -> None:
    code = ("import sys, tinydrift, tinydrift.build.model, tinydrift.build.model_profile, tinydrift.cli.app; "
            "bad = [m for m in ('tensorflow', 'keras') if sys.modules.get(m) is not None]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_tensorflow_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises ImportError
    for name, kwargs in (("m.keras", {"layer": "embedding"}), ("m.tflite", {"tensor": "output:1"})):
        (tmp_path / name).write_bytes(b"not a model")
        with pytest.raises(TensorFlowMissingError) as info:
            load_embedding_model(tmp_path / name, **kwargs)
        assert str(info.value) == TF_MISSING == "TensorFlow is not installed: pip install 'tinydrift[tf]'"
        assert isinstance(info.value, TinyDriftError) and isinstance(info.value, ImportError)
    line = _one_line_error(capsys, "profile", "build", ROOT / "data" / "basicmotions.npz", "-o", tmp_path / "r.tdp",
                           "--model", tmp_path / "m.keras", "--layer", "embedding", "-q")
    assert line == f"tinydrift: error: {TF_MISSING}"
    assert not (tmp_path / "r.tdp").exists()


def test_model_options_need_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_error(capsys, "profile", "build", ROOT / "data" / "basicmotions.npz", "-o", tmp_path / "r.tdp",
                           "--tensor", "3", "-q")
    assert "--tensor applies only with --model" in line
    line = _one_line_error(capsys, "profile", "build", ROOT / "data" / "basicmotions.npz", "-o", tmp_path / "r.tdp",
                           "--model", tmp_path / "m.onnx", "-q")
    assert "unsupported model type '.onnx'" in line


# ------------------------------------------------------------------------------------ Keras


def test_keras_embedding_and_profile(trained: dict) -> None:
    import keras

    assert trained["accuracy"] >= 0.9
    model = load_embedding_model(trained["keras"], layer="embedding")
    assert (model.kind, model.window, model.n_channels, model.n_dims) == ("keras", 20, 6, 8)
    assert model.scale is None and model.zero_point == 0 and not model.int8_tensor
    windows = model.windows(trained["test"])
    with pytest.raises(InputError, match="scale not set"):
        model.embed(windows)
    profile = build_model_profile(trained["train"], model)
    # The scale is chosen from the training embeddings (max |e| / 127, a multiple of 2^-24) and recorded.
    assert model.scale is not None and model.zero_point == 0
    assert profile.ext_scale_q24 == model.ext_scale_q24 == model.scale * 2**24
    fit = np.concatenate([model.windows(r[: len(r) - 40]) for r in trained["train"]])  # the fitting windows
    full = keras.models.load_model(trained["keras"], compile=False)
    sub = keras.Model(full.inputs[0], full.get_layer("embedding").output)
    peak = float(np.abs(sub(fit.astype(np.float32) / np.float32(4096)).numpy()).max())
    assert model.scale == math.ceil(peak / 127 * 2**24) / 2**24
    e = sub(windows.astype(np.float32) / np.float32(4096)).numpy().astype(np.float64)
    expected = np.clip(_round_half_away(e / model.scale), -128, 127)
    assert np.array_equal(model.embed(windows), expected.astype(np.int8))
    assert profile.external_embedding and profile.window == 20 and profile.n_dims == 8
    assert Profile.from_bytes(profile.to_bytes()).to_bytes() == profile.to_bytes()


# ------------------------------------------------------------------------------------ TFLite


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tflite_embeddings_equal_the_interpreter(trained: dict) -> None:
    import tensorflow as tf

    by_output = load_embedding_model(trained["tflite"], tensor="output:1")
    by_name = load_embedding_model(trained["tflite"], tensor=by_output.tensor)
    by_index = load_embedding_model(trained["tflite"], tensor=str(by_output.tensor_index))
    assert by_output.tensor_index == by_name.tensor_index == by_index.tensor_index
    assert by_output.output_index == 1 and by_output.int8_tensor
    assert (by_output.window, by_output.n_channels, by_output.n_dims) == (20, 6, 8)

    interp = tf.lite.Interpreter(model_path=str(trained["tflite"]), experimental_preserve_all_tensors=True,
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()
    assert [list(o["shape"]) for o in out] == [[1, 3], [1, 8]]
    assert all(np.dtype(o["dtype"]) == np.int8 for o in [inp, *out])
    assert (by_output.scale, by_output.zero_point) == out[1]["quantization"]
    pool = next(d for d in interp.get_tensor_details() if d["name"].endswith("pool_1/Mean"))
    by_pool = load_embedding_model(trained["tflite"], tensor=pool["name"])  # an intermediate tensor
    assert by_pool.output_index is None and by_pool.n_dims == 16

    windows = by_output.windows(np.concatenate([trained["test"][:400], trained["unseen"][:400]]))
    s_in, zp_in = inp["quantization"]
    x = windows.astype(np.float32) * np.float32(1 / 4096) / np.float32(s_in)
    q = np.clip(_round_half_away(x) + zp_in, -128, 127).astype(np.int8)
    want, want_pool = [], []
    for w in q:
        interp.set_tensor(inp["index"], w[None])
        interp.invoke()
        want.append(interp.get_tensor(out[1]["index"])[0].copy())
        want_pool.append(interp.get_tensor(pool["index"])[0].copy())
    assert np.array_equal(by_output.embed(windows), np.array(want))
    assert np.array_equal(by_pool.embed(windows), np.array(want_pool))
    assert by_output.embed(windows).dtype == np.int8


def test_tflite_profile_and_scores(trained: dict, tflite_profile: tuple) -> None:
    model, profile = tflite_profile
    # The profile's quantization is the embedding tensor's; it survives the C parser unchanged.
    assert profile.external_embedding and profile.projection is None and profile.proj_shift == 0
    assert profile.ext_scale_q24 == math.floor(model.scale * 2**24 + 0.5) and profile.ext_zero_point == model.zero_point
    assert (profile.window, profile.n_channels, profile.n_dims) == (20, 6, 8)
    again = Profile.from_bytes(profile.to_bytes())
    assert (again.ext_scale_q24, again.ext_zero_point, again.window) == (profile.ext_scale_q24,
                                                                         profile.ext_zero_point, 20)
    assert np.array_equal(again.centroids_q8, profile.centroids_q8)

    clean = score_with_model(profile, trained["test"], model)
    # Same rows as pushing by hand: per window its embedding, then its frames.
    emb = model.embed(model.windows(trained["test"]))
    mon = Monitor(profile)
    manual = []
    for i, e in enumerate(emb):
        mon.push_embedding(e)
        manual.append(mon.push(trained["test"][i * 20 : (i + 1) * 20]))
    assert np.array_equal(np.concatenate(manual), clean)
    assert np.array_equal(run_with_embeddings(profile, trained["test"], emb), clean)
    # The window embedding is the documented dequantization of the one int8 embedding pushed.
    num = (emb.astype(np.int64) - profile.ext_zero_point) * profile.ext_scale_q24
    assert np.array_equal(clean["embedding"] * 256, np.sign(num) * ((np.abs(num) + 2**15) >> 16))
    assert np.all(clean["n_embeddings"] == 1) and np.all(clean["recon"] == 0)
    assert np.array_equal(clean["score"], clean["dist"])

    unseen = score_with_model(profile, trained["unseen"], model)
    gained = score_with_model(profile, _gain(trained["test"], GAIN_CHANNEL, 4.0), model)
    n_clean = int(np.count_nonzero(clean["trigger"]))
    print(f"\nmodel profile: accuracy {trained['accuracy']:.3f}; clean {len(clean)} windows: median score "
          f"{np.median(clean['score']):.2f}, {n_clean} triggers; unseen class: median "
          f"{np.median(unseen['score']):.2f}, {int(np.count_nonzero(unseen['trigger']))}/{len(unseen)} triggers; "
          f"acc_y x4: median {np.median(gained['score']):.2f}, {int(np.count_nonzero(gained['trigger']))}/"
          f"{len(gained)} triggers; instant {profile.instant_q8 / 256:.1f}, k {profile.cusum_k_q8 / 256:.1f}, "
          f"h {profile.cusum_h_q8 / 256:.1f}")
    assert n_clean <= 2  # 150 unseen in-distribution windows; calibrated for 1e-3 per window
    assert not clean["alarm"].any()
    assert np.median(unseen["score"]) > 5 * np.median(clean["score"])
    assert np.count_nonzero(unseen["trigger"]) >= len(unseen) // 2 and unseen["alarm"].any()
    assert np.median(gained["score"]) > 3 * np.median(clean["score"])
    assert np.count_nonzero(gained["trigger"]) >= len(gained) // 2 and gained["alarm"].any()


def test_score_checks_the_model_against_the_profile(trained: dict, tflite_profile: tuple) -> None:
    _, profile = tflite_profile
    probs = load_embedding_model(trained["tflite"], tensor="output:0")
    with pytest.raises(InputError, match="embedding dims"):
        score_with_model(profile, trained["test"], probs)
    other = load_embedding_model(trained["tflite"], tensor="output:1")
    other.scale *= 2  # as if another model's tensor
    with pytest.raises(InputError, match="not the model"):
        score_with_model(profile, trained["test"], other)
    # A float model takes the profile's quantization.
    keras_model = load_embedding_model(trained["keras"], layer="embedding")
    rows = score_with_model(profile, trained["test"], keras_model)
    assert keras_model.ext_scale_q24 == profile.ext_scale_q24 and keras_model.zero_point == profile.ext_zero_point
    assert len(rows) == len(trained["test"]) // 20
    pca = tinydrift.build_profile(trained["train"], window=20)
    with pytest.raises(InputError, match="PCA profile"):
        score_with_model(pca, trained["test"], keras_model)


# ------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def train_files(trained: dict) -> list[Path]:
    """One .npz per class: three separate training recordings for the CLI."""
    paths = []
    for k in range(len(KNOWN)):
        p = trained["dir"] / f"train_{k}.npz"
        np.savez(p, frames=np.concatenate(trained["train"][k * 10 : (k + 1) * 10]),
                 channel_names=np.array(trained["names"]))
        paths.append(p)
    return paths


@pytest.mark.parametrize("fmt", ["keras", "tflite"])
def test_cli_build_and_score(trained: dict, train_files: list[Path], tmp_path: Path, fmt: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    select = ["--layer", "embedding"] if fmt == "keras" else ["--tensor", "output:1"]
    ref = tmp_path / "ref.tdp"
    rc, out, err = _cli(capsys, "profile", "build", *train_files, "-o", ref, "--model", trained[fmt], *select)
    assert rc == 0, err
    assert "8 embedding dims" in out and "window 20 frames" in out and "embeddings: 8 dims" in err
    recordings = [np.load(p)["frames"] for p in train_files]
    model = load_embedding_model(trained[fmt], **({"layer": "embedding"} if fmt == "keras" else
                                                  {"tensor": "output:1"}))
    library = build_model_profile(recordings, model, channel_names=list(trained["names"]))  # the files' names
    assert tinydrift.load_profile(ref).profile_id == library.profile_id
    assert tinydrift.load_profile(ref).channel_names == list(trained["names"])

    rc, out, _ = _cli(capsys, "profile", "show", ref, "--json")
    shown = json.loads(out)
    assert rc == 0 and shown["mode"] == "external-embedding" and shown["window"] == 20
    assert (shown["ext_scale_q24"], shown["ext_zero_point"]) == (library.ext_scale_q24, library.ext_zero_point)

    stream = tmp_path / "unseen.npz"
    np.savez(stream, frames=trained["unseen"])
    rc, out, _ = _cli(capsys, "score", "--profile", ref, stream, "--model", trained[fmt], *select, "--json")
    assert rc == 0
    rows = score_with_model(library, trained["unseen"], model)
    assert [r["score"] for r in json.loads(out)] == rows["score"].tolist()
    rc, out, _ = _cli(capsys, "score", "--profile", ref, stream, "--model", trained[fmt], *select,
                      "--fail-on-alarm")
    assert rc == 3 and "DRIFT" in out

    line = _one_line_error(capsys, "score", "--profile", ref, stream)
    assert "external-embedding profile: pass --model" in line
    line = _one_line_error(capsys, "profile", "build", *train_files, "-o", tmp_path / "x.tdp", "--model",
                           trained[fmt], *select, "--window", "32")
    assert "--window 32 differs from the model's input length 20" in line
    line = _one_line_error(capsys, "profile", "build", *train_files, "-o", tmp_path / "x.tdp", "--model",
                           trained[fmt], *select, "--dims", "3")
    assert "--dims" in line


# ------------------------------------------------------------------------------------ bad inputs


@pytest.fixture(scope="module")
def bad_models(trained: dict) -> dict[str, Path]:
    """Corrupt files and a model whose input is not (window, channels)."""
    import keras

    d = trained["dir"]
    (d / "corrupt.keras").write_bytes(b"PK\x03\x04 truncated zip")
    (d / "corrupt.tflite").write_bytes(bytes(range(256)) * 4)
    inp = keras.Input((6,))
    keras.Model(inp, keras.layers.Dense(4, name="dense")(inp)).save(d / "flat.keras")
    return {"corrupt_keras": d / "corrupt.keras", "corrupt_tflite": d / "corrupt.tflite", "flat": d / "flat.keras"}


def test_bad_inputs_are_one_line_errors(trained: dict, bad_models: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    keras_path, tflite_path = trained["keras"], trained["tflite"]
    int32_tensor = next(d["index"] for d in load_embedding_model(tflite_path, tensor="output:1")
                        ._interp.get_tensor_details() if np.dtype(d["dtype"]) == np.int32 and len(d["shape"]) == 1
                        and d["shape"][0] > 1)  # a bias vector
    cases = [
        ({"path": keras_path, "layer": "nope"}, "no layer named 'nope'; layers: frames, conv1, conv2, pool, "
                                                "embedding"),
        ({"path": keras_path}, "name the embedding layer"),
        ({"path": keras_path, "layer": "conv1"}, "layer 'conv1' outputs shape (18, 16); the embedding must be a "
                                                 "vector"),
        ({"path": keras_path, "tensor": "output:1"}, "selects its embedding with layer=NAME"),
        ({"path": tflite_path, "tensor": "nope"}, "no tensor named 'nope'; output:0 = #"),
        ({"path": tflite_path, "tensor": "output:7"}, "model has 2 outputs"),
        ({"path": tflite_path, "tensor": "9999"}, "no tensor #9999"),
        ({"path": tflite_path, "tensor": int32_tensor}, "is int32 (not quantized); in an int8 model the embedding "
                                                        "must be an int8 tensor"),
        ({"path": tflite_path, "layer": "embedding"}, "selects its embedding with tensor="),
        ({"path": bad_models["corrupt_keras"], "layer": "x"}, "cannot load Keras model"),
        ({"path": bad_models["corrupt_tflite"], "tensor": "0"}, "cannot load TFLite model"),
        ({"path": bad_models["flat"], "layer": "dense"}, "model input shape (?, 6) is not (batch, window, channels)"),
        ({"path": tmp_path / "missing.tflite", "tensor": "0"}, "no such model file"),
    ]
    for kwargs, message in cases:
        path = kwargs.pop("path")
        with pytest.raises(InputError) as info:
            load_embedding_model(path, **kwargs)
        text = str(info.value)
        assert message in text and "\n" not in text and str(path) in text, (kwargs, text)

    three = [r[:, :3] for r in trained["train"]]
    with pytest.raises(InputError, match="training data has 3 channels but model .* expects 6"):
        build_model_profile(three, keras_path, layer="embedding")

    npz = trained["dir"] / "three_channels.npz"
    np.savez(npz, frames=np.concatenate(three))
    for argv, message in (
        (["--model", keras_path, "--layer", "nope"], "no layer named 'nope'"),
        (["--model", tflite_path, "--tensor", str(int32_tensor)], "must be an int8 tensor"),
        (["--model", bad_models["corrupt_tflite"], "--tensor", "0"], "cannot load TFLite model"),
        (["--model", bad_models["corrupt_keras"], "--layer", "x"], "cannot load Keras model"),
    ):
        line = _one_line_error(capsys, "profile", "build", ROOT / "data" / "basicmotions.npz", "-o",
                               tmp_path / "x.tdp", *argv, "-q")
        assert message in line, line
    line = _one_line_error(capsys, "profile", "build", npz, "-o", tmp_path / "x.tdp", "--model", tflite_path,
                           "--tensor", "output:1", "-q")
    assert "training data has 3 channels but model" in line and "expects 6" in line
    assert not (tmp_path / "x.tdp").exists()


# ------------------------------------------------------------------------------------ the example


def test_example_end_to_end(tmp_path: Path) -> None:
    """examples/imu_classifier/train.py: model, two-output int8 TFLite, profile, sketch folder."""
    pytest.importorskip("tensorflow")
    ex = _example()
    assert ex.main(["-o", str(tmp_path), "--epochs", "60"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    print(f"\nexample: {summary}")
    assert summary["accuracy_keras"] >= 0.9 and summary["accuracy_int8"] >= 0.9
    assert summary["clean"]["windows_with_trigger"] <= 2
    assert summary["acc_x sign flipped"]["windows_with_trigger"] >= 50
    profile = tinydrift.load_profile(tmp_path / "ref.tdp")
    model = load_embedding_model(tmp_path / "model.tflite", tensor="output:1")
    assert model.output_index == 1 and profile.ext_scale_q24 == model.ext_scale_q24
    assert profile.ext_zero_point == model.zero_point
    sketch = tmp_path / "ImuClassifier"
    for name in ("ImuClassifier.ino", "model_data.h", "tinydrift_profile.h"):
        assert (sketch / name).is_file(), name
    assert f"{profile.to_bytes()[0]:#04x}" in (sketch / "tinydrift_profile.h").read_text()
    cxx = shutil.which("g++")
    if cxx:  # the generated headers compile with the core's headers, as the sketch includes them (C linkage)
        probe = tmp_path / "probe.cpp"
        probe.write_text('extern "C" {\n#include "tinydrift/tinydrift.h"\n}\n#include "model_data.h"\n'
                         '#include "tinydrift_profile.h"\nint probe() { td_profile_t p; '
                         'return td_profile_parse(&p, tinydrift_profile, TINYDRIFT_PROFILE_SIZE) == TD_OK && '
                         'imu_model_len > 0 && IMU_MODEL_EMBEDDING_OUTPUT == 1u; }\n')
        subprocess.run([cxx, "-std=gnu++14", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", str(sketch),
                        "-I", str(ROOT / "csrc" / "include"), str(probe)], check=True, cwd=sketch)
    arm = shutil.which("arm-none-eabi-g++")
    if arm:  # the sketch itself with these generated headers, as make arduino-lib-check compiles it (declarations)
        import importlib.util

        spec = importlib.util.spec_from_file_location("arduino_lib", ROOT / "tools" / "arduino_lib.py")
        lib = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lib)
        folder, _, _ = lib.write_library(tmp_path / "arduino", tmp_path / "dist")
        subprocess.run([arm, "-std=gnu++14", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16",
                        "-Os", "-fno-rtti", "-fno-exceptions", "-Wall", "-Wextra", "-Werror", "-DARDUINO=10819",
                        "-I", str(ROOT / "tests" / "arduino" / "arduino_api_decls"), "-I", str(folder / "src"),
                        "-include", "Arduino.h", "-x", "c++", "-c", str(sketch / "ImuClassifier.ino"),
                        "-o", str(tmp_path / "ImuClassifier.o")], check=True, cwd=sketch)
