"""Model-output monitoring end to end on every simulated board (host build and QEMU Cortex-M4).

A PCA profile from data/basicmotions.npz (window 10) gets an outputs section calibrated on a
synthetic, perfectly calibrated 4-class classifier (Dirichlet probabilities, int8 softmax
quantization, as in tests/test_outputs.py). The stream interleaves frames (INJECT), the
classifier's outputs (INJECT_OUTPUTS, 0..4 per window at random frame positions) and labels
for them (LABEL, a few events later); from the middle on the labels are permuted, a concept
change that DDM must flag. Every telemetry record equals the row tinydrift.score_events
computes for the same event list, field for field, the model-output fields included, and a
CONCEPT trigger appears on both. NACKs: TD_ERR_STATE without a profile, TD_ERR_MODE without an
outputs section, TD_ERR_ARG for bad lengths, a failing LABEL pair with the pairs before it
applied. Lost ACKs are retried without applying anything twice. QEMU needs qemu-system-arm and
arm-none-eabi-gcc; without them its half is skipped.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift import Profile
from tinydrift.device import messages as link, protocol as proto
from tinydrift.core.native import lib
from tinydrift.device.client import Device
from tinydrift.core.errors import InputError
from tinydrift.device.protocol import DeviceError
from tinydrift.core.monitor import DDM_DRIFT, TRIGGER_CONCEPT
from tinydrift.outputs import attach_outputs, calibrate_outputs
from tinydrift.device.sim import Simulator
from e2e_boards import TIMEOUT, activate, assert_equal_rows, connect, dev, missing_tools, nack, sim  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
DATA_NPZ = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
N_CLASSES = 4
N_WINDOWS = 150
SWITCH_WINDOW = 80  # labels are permuted from this window on


def quantize(p: np.ndarray) -> np.ndarray:
    """TFLite's int8 softmax: scale 1/256, zero point -128."""
    return np.clip(np.round(p * 256) - 128, -128, 127).astype(np.int8)


def calibrated_classifier(rng: np.random.Generator, n: int, sharpness: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """int8 outputs of a perfectly calibrated classifier: each label is drawn from its predicted distribution."""
    p = rng.dirichlet(np.full(N_CLASSES, 1.0 / sharpness), size=n)
    labels = np.array([rng.choice(N_CLASSES, p=row) for row in p])
    return quantize(p), labels


def make_events(rng: np.random.Generator, frames: np.ndarray, probs: np.ndarray, labels: np.ndarray,
                switch_window: int = SWITCH_WINDOW) -> tuple[list[tuple[str, object]], np.ndarray]:
    """Frames of whole windows; 0..4 inferences per window at random frame positions; each inference's label
    one to a few split points later (always within the last 64 inferences). From switch_window on the labels
    are permuted (true class c reported as c + 1 mod N): concept drift. Returns the events and the number
    of inferences per window."""
    n_windows = len(frames) // WINDOW
    counts = rng.integers(0, 5, n_windows)
    positions = np.sort(np.concatenate([w * WINDOW + rng.integers(0, WINDOW, k) for w, k in enumerate(counts)]
                                       + [np.zeros(0, np.int64)]))
    assert len(positions) <= len(probs)
    events: list[tuple[str, object]] = []
    pending: list[tuple[int, int]] = []  # (inference seq, label) not sent yet
    done = i = 0
    while i < len(positions):
        p = int(positions[i])
        j = i
        while j < len(positions) and positions[j] == p:
            j += 1
        if p > done:
            events.append(("frames", frames[done:p]))
            done = p
        if pending and rng.random() < 0.6:  # labels of earlier inferences arrive before the new ones
            take = pending[: int(rng.integers(1, len(pending) + 1))]
            pending = pending[len(take):]
            events.append(("labels", (np.array([s for s, _ in take], np.uint32),
                                      np.array([y for _, y in take], np.uint8))))
        events.append(("outputs", probs[i:j]))
        for seq in range(i, j):
            y = int(labels[seq])
            if p // WINDOW >= switch_window:
                y = (y + 1) % N_CLASSES
            pending.append((seq, y))
        i = j
    if pending:
        events.append(("labels", (np.array([s for s, _ in pending], np.uint32),
                                  np.array([y for _, y in pending], np.uint8))))
    if done < n_windows * WINDOW:
        events.append(("frames", frames[done : n_windows * WINDOW]))
    return events, counts


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def data() -> dict:
    frames = np.load(DATA_NPZ)["frames"]
    train, stream = frames[:4000], frames[4000 : 4000 + N_WINDOWS * WINDOW].copy()
    rng = np.random.default_rng(42)
    ref_probs, ref_labels = calibrated_classifier(rng, 2000)
    cfg = calibrate_outputs(ref_probs, ref_labels, n_bins=8)
    pca = tinydrift.build_profile(train, window=WINDOW, seed=0)
    profile = attach_outputs(pca, cfg)
    blob = profile.to_bytes()
    assert Profile.from_bytes(blob).outputs is not None and struct.unpack_from("<H", blob, 22)[0] & 2
    probs, labels = calibrated_classifier(rng, 5 * N_WINDOWS)
    return {"profile": profile, "pca": pca, "stream": stream, "probs": probs, "labels": labels}


def label_payload(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack("<IB", s, y) for s, y in pairs)


# ------------------------------------------------------------------------------------------ tests


def test_outputs_and_label_nacks(dev: Device, data: dict) -> None:
    profile, probs = data["profile"], data["probs"]
    assert dev.info().profile_id == 0  # fresh storage: no profile yet
    nack(dev, proto.MSG_INJECT_OUTPUTS, bytes(N_CLASSES), lib.TD_ERR_STATE)
    nack(dev, proto.MSG_LABEL, label_payload([(0, 0)]), lib.TD_ERR_STATE)
    # A profile without an outputs section: the wrong mode.
    activate(dev, data["pca"])
    nack(dev, proto.MSG_INJECT_OUTPUTS, bytes(N_CLASSES), lib.TD_ERR_MODE)
    nack(dev, proto.MSG_LABEL, label_payload([(0, 0)]), lib.TD_ERR_MODE)
    with pytest.raises(DeviceError, match="INJECT_OUTPUTS rejected: TD_ERR_MODE"):
        dev.inject_outputs(probs[:2])
    # The outputs profile: malformed lengths.
    activate(dev, profile)
    for size in (N_CLASSES + 1, N_CLASSES - 1, 0, 324):
        nack(dev, proto.MSG_INJECT_OUTPUTS, bytes(size), lib.TD_ERR_ARG)
    for size in (0, 4, 6, 5 * 65):
        nack(dev, proto.MSG_LABEL, bytes(size), lib.TD_ERR_ARG)
    nack(dev, proto.MSG_LABEL, label_payload([(0, 0)]), lib.TD_ERR_RANGE)  # inference 0 not pushed yet
    with pytest.raises(InputError, match="4 classes"):
        dev.inject_outputs(np.zeros((2, N_CLASSES + 1), np.int8))  # checked on the host before sending
    with pytest.raises(InputError, match="int8"):
        dev.inject_outputs(np.full((1, N_CLASSES), 200))
    # Nothing was applied so far: inference numbers start at 0, consecutive across messages (80 per message).
    assert dev.inject_outputs(probs[:3]) == [0, 1, 2]
    assert dev.inject_outputs(probs[3:170]) == list(range(3, 170))
    # LABEL: pairs apply in order; the first failing one is NACKed with its status, earlier ones stay.
    pred = probs.argmax(axis=1)  # int8 argmax, lowest index on ties, like the core
    nack(dev, proto.MSG_LABEL, label_payload([(169, int(pred[169])), (169, 0), (168, int(pred[168]))]),
         lib.TD_ERR_STATE)
    nack(dev, proto.MSG_LABEL, label_payload([(168, N_CLASSES)]), lib.TD_ERR_ARG)
    nack(dev, proto.MSG_LABEL, label_payload([(170, 0)]), lib.TD_ERR_RANGE)
    nack(dev, proto.MSG_LABEL, label_payload([(105, 0)]), lib.TD_ERR_RANGE)  # older than the last 64
    assert dev.label(list(range(106, 169)), pred[106:169]) == 63  # one message of 63 pairs
    with pytest.raises(DeviceError, match="TD_ERR_STATE"):
        dev.label([168], [0])
    rec = dev.inject(data["stream"][:WINDOW])[0]
    assert (rec.version, rec.n_inferences, rec.n_labels, rec.n_correct, rec.accuracy) == (2, 170, 64, 64, 1.0)
    events = [("outputs", probs[:170]), ("labels", ([169], pred[[169]])),
              ("labels", (np.arange(106, 169), pred[106:169])), ("frames", data["stream"][:WINDOW])]
    assert_equal_rows([rec], tinydrift.score_events(profile, events))


def test_interleaved_stream_equals_score_events(sim: Simulator, dev: Device, data: dict) -> None:
    profile = data["profile"]
    activate(dev, profile)
    events, counts = make_events(np.random.default_rng(2025), data["stream"], data["probs"], data["labels"])
    kinds = [k for k, _ in events]
    assert kinds.count("outputs") > 100 and kinds.count("labels") > 50
    next_seq = dev.info().next_seq
    records = dev.inject_stream(events)
    rows = tinydrift.score_events(profile, events)
    assert len(rows) == len(records) == N_WINDOWS
    assert_equal_rows(records, rows)
    assert [r.seq for r in records] == list(range(next_seq, next_seq + N_WINDOWS))
    assert all(r.version == 2 for r in records)
    assert [r.n_inferences for r in records] == counts.tolist() == rows["n_inferences"].tolist()
    assert sum(r.n_labels for r in records) == counts.sum()
    # The outputs say something: estimates where there were inferences, DDM flags the permuted labels.
    has = counts > 0
    assert all(r.estimated_accuracy > 0 and r.mean_confidence > 0 for r, h in zip(records, has) if h)
    assert all(r.estimated_accuracy == 0 and r.prior_shift == 0 for r, h in zip(records, has) if not h)
    concept = [r.window for r in records if r.trigger & TRIGGER_CONCEPT]
    assert concept and concept == rows["window"][(rows["trigger"] & TRIGGER_CONCEPT) != 0].tolist()
    assert min(concept) >= SWITCH_WINDOW
    assert all(records[w].ddm_state == DDM_DRIFT and records[w].alarm for w in concept)
    assert records[SWITCH_WINDOW - 1].accuracy > 0.6 and records[-1].accuracy < records[SWITCH_WINDOW - 1].accuracy
    print(f"{sim.board}: {len(events)} events, concept drift at windows {concept}")


def test_lost_acks_are_retried_without_double_outputs_or_labels(sim: Simulator, data: dict) -> None:
    """Drop some first ACKs of INJECT_OUTPUTS and LABEL: the host retries with the same seq, the device answers
    from its retry cache (a LABEL applied twice would be NACKed TD_ERR_STATE, outputs would count twice)."""
    profile = data["profile"]
    seen = 0
    dropped = []

    def lose_acks(frame: proto.Frame) -> bool:
        nonlocal seen
        if frame.type == proto.MSG_ACK:
            ack = link.Ack.unpack(frame.payload)
            if ack.request_type in (proto.MSG_INJECT_OUTPUTS, proto.MSG_LABEL):
                seen += 1
                if seen % 7 == 3:
                    dropped.append(ack)
                    return False
        return True

    events, counts = make_events(np.random.default_rng(77), data["stream"][:400], data["probs"], data["labels"],
                                 switch_window=20)
    with Device(sim.url, timeout=0.2, frame_hook=lose_acks) as dev:
        activate(dev, profile)
        records = dev.inject_stream(events)
    assert {a.request_type for a in dropped} == {proto.MSG_INJECT_OUTPUTS, proto.MSG_LABEL}
    assert_equal_rows(records, tinydrift.score_events(profile, events))
    assert [r.n_inferences for r in records] == counts.tolist()
