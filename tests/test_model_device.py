"""A real TensorFlow model end to end: its int8 TFLite embeddings drive the device monitor in both
simulators bit for bit, and its int8 class probabilities give a label-free accuracy estimate and
a DDM concept-drift alarm on the bundled recording."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.core.monitor import score_events
from tinydrift.device.sim import Simulator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "imu_classifier" / "train.py"
KNOWN = [0, 1, 2]  # standing, running, walking; badminton is the novel class


def _example():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("imu_classifier_train_dev", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("tensorflow")
    from tinydrift.build.model import load_embedding_model
    from tinydrift.build.model_profile import build_model_profile

    ex = _example()
    d = tmp_path_factory.mktemp("model-device")
    known = ex.load_cases(KNOWN)
    every = ex.load_cases()
    x, y = ex.windows(known["train"], known["train_labels"])
    keras_model = ex.train(x, y, n_classes=len(KNOWN), epochs=40, seed=0)
    (d / "model.tflite").write_bytes(ex.to_tflite_int8(keras_model, x))
    embedder = load_embedding_model(d / "model.tflite", tensor="output:1")
    classifier = load_embedding_model(d / "model.tflite", tensor="output:0")
    profile = build_model_profile(known["train"], embedder, channel_names=known["channel_names"])
    x_test, y_test = ex.windows(known["test"], known["test_labels"])
    unseen = [f for f, lab in zip(every["test"], every["test_labels"]) if lab == 3]
    x_unseen, _ = ex.windows(unseen, np.full(len(unseen), 3))
    return {"ex": ex, "embedder": embedder, "classifier": classifier, "profile": profile,
            "test": known["test"], "x_test": x_test, "y_test": y_test, "x_unseen": x_unseen}


def _events(model: dict, frames: np.ndarray) -> list:
    w = model["profile"].window
    n = len(frames) // w
    emb = model["embedder"].embed(frames[: n * w].reshape(n, w, frames.shape[1]))
    events = []
    for i in range(n):
        events += [("embeddings", emb[i : i + 1]), ("frames", frames[i * w : (i + 1) * w])]
    return events


@pytest.mark.parametrize("board", ["host", "qemu"])
def test_tflite_embeddings_on_the_device_equal_host_scores(model: dict, board: str) -> None:
    if board == "qemu" and not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / gcc-arm-none-eabi not installed")
    frames = np.concatenate(model["test"][:6])
    drifted = frames.astype(np.int32)
    drifted[len(frames) // 2 :, 0] *= -1  # accelerometer x mounted the other way round
    stream = np.concatenate([frames, np.clip(drifted, -32768, 32767).astype(np.int16)])
    events = _events(model, stream)
    rows = score_events(model["profile"], events)
    with Simulator(board) as sim, tinydrift.Device(sim.url, timeout=2.0) as dev:
        dev.upload_profile(model["profile"])
        records = dev.inject_stream(events)
    assert len(records) == len(rows) > 0
    for rec, row in zip(records, rows):
        assert (rec.window, rec.score, rec.dist, rec.nearest, rec.n_embeddings, rec.alarm, rec.trigger) == (
            row["window"], row["score"], row["dist"], row["nearest"], row["n_embeddings"], row["alarm"],
            row["trigger"])
        np.testing.assert_array_equal(np.asarray(rec.z_mean), row["z_mean"])
    assert rows["n_embeddings"].min() == 1 and rows["dist"].max() > 0


def test_label_free_accuracy_estimate_and_ddm_on_the_recording(model: dict) -> None:
    from tinydrift.outputs import Ddm, OutputWindow, calibrate_outputs

    cls = model["classifier"]
    probs = cls.embed(model["x_test"])
    labels = model["y_test"]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    cal, ev = order[: len(order) // 2], order[len(order) // 2 :]
    cfg = calibrate_outputs(probs[cal], labels[cal], scale=cls.scale, zero_point=cls.zero_point, n_bins=8)

    win = OutputWindow(cfg)
    predicted = win.push(probs[ev])
    realized = float(np.mean(predicted == labels[ev]))
    estimate = win.summary().estimated_accuracy
    assert abs(estimate - realized) <= 0.05, (estimate, realized)

    # A class never seen in training: every prediction is wrong; the estimate must drop.
    novel = OutputWindow(cfg)
    novel.push(cls.embed(model["x_unseen"]))
    assert novel.summary().estimated_accuracy < estimate - 0.05
    assert novel.summary().prior_shift > win.summary().prior_shift

    # A noisy channel lowers the estimate too.
    noisy_x = model["x_test"].astype(np.float64)
    noisy_x[..., 0] += rng.normal(0, 4000, noisy_x.shape[:2])
    noisy = OutputWindow(cfg)
    noisy.push(cls.embed(np.clip(np.round(noisy_x), -32768, 32767).astype(np.int16)))
    assert noisy.summary().estimated_accuracy < estimate

    # Concept drift: same inputs, permuted labels. DDM on the error stream fires...
    ddm = Ddm()
    stream_pred = np.tile(predicted, 3)
    stream_lab = np.tile(labels[ev], 3)
    permuted = np.concatenate([stream_lab, np.roll(stream_lab, 7)])
    verdicts = ddm.run(np.concatenate([stream_pred, stream_pred]) == permuted)
    assert (verdicts[len(stream_lab):] == Ddm.DRIFT).any()
    assert not (verdicts[: len(stream_lab)] == Ddm.DRIFT).any()
    # ...while the raw-statistics monitor sees nothing: the sensor data did not change.
    # (Reference and scored recordings interleave, so both hold the same classes: the test cases are ordered by class.)
    pca = tinydrift.build_profile(model["test"][0::2], window=20)
    rows = tinydrift.score(pca, np.concatenate(model["test"][1::2]))
    fired = rows["trigger"] != 0
    episodes = int(np.count_nonzero(fired[1:] & ~fired[:-1])) + int(fired[0])  # score() does not reset the alarm
    assert episodes <= 1
