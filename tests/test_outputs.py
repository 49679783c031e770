"""Model-output monitoring in the C core: exact window statistics, a label-free accuracy estimate
that tracks realized accuracy, DDM on the labelled error stream; the profile's outputs section and
the monitor running it (Monitor.push_outputs / push_label, score_events)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydrift import ChannelConfig, Monitor, Profile, ProfileError, score_events
from tinydrift.core.native import ffi, lib
from tinydrift.core.errors import CoreError, InputError
from tinydrift.core.monitor import DDM_DRIFT, TRIGGER_CONCEPT
from tinydrift.outputs import (
    Ddm, OutputsConfig, OutputWindow, attach_outputs, calibrate_outputs, calibrate_profile_outputs, dequantize,
)
from tinydrift.core.profile import validate

Q16 = 1 << 16


def quantize(p: np.ndarray) -> np.ndarray:
    """TFLite's int8 softmax: scale 1/256, zero point -128."""
    return np.clip(np.round(p * 256) - 128, -128, 127).astype(np.int8)


def calibrated_classifier(rng: np.random.Generator, n: int, n_classes: int, sharpness: float,
                          class_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outputs of a perfectly calibrated classifier: the label is drawn from the predicted distribution."""
    alpha = np.full(n_classes, 1.0 / sharpness)
    p = rng.dirichlet(alpha, size=n)
    if class_weights is not None:
        p = p * class_weights
        p /= p.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(n_classes, p=row) for row in p])
    return quantize(p), labels


def rdiv(num: int, den: int) -> int:
    """Round half away from zero, like the core."""
    q, r = divmod(abs(num), den)
    q += 2 * r >= den
    return q if num >= 0 else -q


def test_window_statistics_equal_integer_oracle() -> None:
    rng = np.random.default_rng(3)
    probs, labels = calibrated_classifier(rng, 400, 5, sharpness=2.0)
    cfg = calibrate_outputs(probs[:200], labels[:200], n_bins=8)
    win = OutputWindow(cfg)
    window = probs[200:263]
    predicted = win.push(window)
    s = win.summary()
    np.testing.assert_array_equal(predicted, np.argmax(window, axis=1))
    c = cfg.to_c()
    top = window[np.arange(len(window)), predicted].astype(np.int64)
    conf_q16 = np.clip([rdiv((int(q) + 128) * c.scale_q24, 256) for q in top], 0, Q16)
    bins = np.minimum(conf_q16 * 8 >> 16, 7)
    assert s.count == len(window)
    assert round(s.mean_confidence * Q16) == rdiv(int(conf_q16.sum()), len(window))
    assert round(s.estimated_accuracy * Q16) == rdiv(int(sum(c.accuracy_q16[b] for b in bins)), len(window))
    hist = np.bincount(predicted, minlength=5)
    tv = sum(abs((int(hist[k]) << 16) - len(window) * c.prior_q16[k]) for k in range(5))
    assert round(s.prior_shift * Q16) == rdiv(tv, 2 * len(window))
    assert s.top_class == int(np.argmax(hist))
    # Float cross-check of the meaning: total variation distance of the frequencies.
    assert s.prior_shift == pytest.approx(0.5 * np.abs(hist / len(window) - cfg.prior).sum(), abs=1e-4)


def test_label_free_estimate_tracks_accuracy_and_drops_under_shift() -> None:
    rng = np.random.default_rng(7)
    ref_probs, ref_labels = calibrated_classifier(rng, 4000, 4, sharpness=3.0)
    cfg = calibrate_outputs(ref_probs, ref_labels)
    probs, labels = calibrated_classifier(rng, 2000, 4, sharpness=3.0)
    win = OutputWindow(cfg)
    predicted = win.push(probs)
    realized = float(np.mean(predicted == labels))
    est = win.summary().estimated_accuracy
    assert abs(est - realized) < 0.05, (est, realized)
    # Less confident outputs (e.g. a noisy channel): the estimate falls with the realized accuracy.
    noisy_probs, noisy_labels = calibrated_classifier(rng, 2000, 4, sharpness=0.7)
    noisy = OutputWindow(cfg)
    noisy_pred = noisy.push(noisy_probs)
    noisy_realized = float(np.mean(noisy_pred == noisy_labels))
    assert noisy.summary().estimated_accuracy < est - 0.1
    assert abs(noisy.summary().estimated_accuracy - noisy_realized) < 0.08
    # Class-prior shift: predictions pile onto one class.
    shifted_probs, _ = calibrated_classifier(rng, 500, 4, sharpness=3.0, class_weights=np.array([8, 1, 1, 1.0]))
    shifted = OutputWindow(cfg)
    shifted.push(shifted_probs)
    same = OutputWindow(cfg)
    same.push(probs[:500])
    assert shifted.summary().prior_shift > 3 * same.summary().prior_shift
    assert shifted.summary().top_class == 0


def ddm_reference(correct: np.ndarray) -> list[int]:
    """The same integer algorithm written independently in Python."""
    out, n, err, best, mp, ms = [], 0, 0, None, 0, 0
    for c in correct:
        n += 1
        err += 0 if c else 1
        v = 0
        if n >= 100:
            p = rdiv((err + 1) << 16, n + 2)
            var = p * (Q16 - p) // n
            s = int(np.floor(np.sqrt(var)))
            while s * s > var:
                s -= 1
            while (s + 1) * (s + 1) <= var:
                s += 1
            if best is None or p + s < best:
                best, mp, ms = p + s, p, s
            if p + s >= mp + 3 * ms:
                v, n, err, best, mp, ms = 2, 0, 0, None, 0, 0
            elif p + s >= mp + 2 * ms:
                v = 1
        out.append(v)
    return out


def test_ddm_equals_reference_and_detects_concept_drift() -> None:
    false_drifts, delays = 0, []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        stable = rng.random(3000) > 0.1          # 90 % accurate
        permuted = rng.random(600) > 0.5         # labels permuted: about 50 %
        stream = np.concatenate([stable, permuted])
        ddm = Ddm()
        verdicts = ddm.run(stream)
        if seed < 3:
            assert verdicts.tolist() == ddm_reference(stream)
        false_drifts += int((verdicts[:3000] == Ddm.DRIFT).sum())
        hits = np.nonzero(verdicts[3000:] == Ddm.DRIFT)[0]
        delays.append(int(hits[0]) if len(hits) else 10**6)
        assert ddm.accuracy == pytest.approx(stream.mean(), abs=1 / Q16)
    assert false_drifts / 20 <= 0.5            # per 3,000 stationary labels
    assert np.median(delays) < 120 and max(delays) < 600  # every permutation detected


def test_ddm_perfect_start_is_not_a_drift() -> None:
    stream = np.ones(200, dtype=bool)
    stream[100] = False
    assert Ddm().run(stream)[100] != Ddm.DRIFT


def test_bad_configuration_and_input() -> None:
    with pytest.raises(InputError):
        OutputsConfig(prior=np.array([1.0]), accuracy=np.array([0.5])).to_c()
    with pytest.raises(CoreError):
        OutputsConfig(prior=np.array([0.5, 1.5]), accuracy=np.array([0.5])).to_c()
    win = OutputWindow(OutputsConfig(prior=np.array([0.5, 0.5]), accuracy=np.array([0.5])))
    with pytest.raises(InputError):
        win.push(np.zeros((1, 3), np.int8))
    assert lib.td_ddm_update(ffi.NULL, 1, ffi.new("uint8_t *")) == lib.TD_ERR_ARG
    assert dequantize(np.array([-128, 127]), 1 / 256, -128).tolist() == [0.0, 255 / 256]


# ---------------------------------------------------------------------------------------------
# Outputs section of a profile, and the monitor running it
# ---------------------------------------------------------------------------------------------

def small_profile(window: int = 16, external: bool = False) -> Profile:
    """Two channels, thresholds out of reach and no health limits: only model outputs can raise an alarm."""
    chans = [ChannelConfig(max_missing=window, max_saturated=window) for _ in range(2)]
    return Profile(
        window=window, channels=chans, feature_mu_q8=np.zeros(4, np.int32),
        feature_inv_sigma_q24=np.full(4, 1 << 24, np.uint32),
        projection=None if external else np.array([[1, 0, 0, 0]], np.int8),
        centroids_q8=np.zeros((2, 3) if external else (1, 1), np.int32),
        ext_scale_q24=(1 << 20) if external else 0, ext_zero_point=-3 if external else 0, created_unix=0,
    )


def example_outputs(n_classes: int = 4, n_bins: int = 8, seed: int = 5) -> tuple[OutputsConfig, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs, labels = calibrated_classifier(rng, 3000, n_classes, sharpness=2.5)
    return calibrate_outputs(probs, labels, n_bins=n_bins), probs, labels


def section_of(blob: bytes) -> tuple[int, bytes]:
    """Offset and bytes of the outputs section, decoded from the header with struct alone."""
    n_ch, n_dims, n_cent = blob[16], blob[17], blob[18]
    flags = struct.unpack_from("<H", blob, 22)[0]
    proj = 0 if flags & 1 else (n_dims * 2 * n_ch + 3) // 4 * 4
    off = 64 + 24 * n_ch + 16 * n_ch + proj + 4 * n_cent * n_dims
    return off, blob[off:-4]


def test_profile_outputs_section_layout_and_round_trip() -> None:
    cfg, _, _ = example_outputs()
    base = small_profile()
    prof = attach_outputs(base, cfg)
    blob = prof.to_bytes()
    plain = base.to_bytes()
    assert struct.unpack_from("<H", blob, 22)[0] == lib.TD_PROFILE_FLAG_OUTPUTS
    assert len(blob) == len(plain) + 12 + 4 * 4 + 4 * 8
    assert lib.td_profile_size_outputs(2, 1, 1, lib.TD_PROFILE_FLAG_OUTPUTS, 4, 8) == len(blob)
    assert lib.td_profile_size(2, 1, 1, lib.TD_PROFILE_FLAG_OUTPUTS) == 0
    off, sec = section_of(blob)
    assert blob[:off][64:] == plain[:-4][64:]  # everything before the section is unchanged
    n_classes, n_bins, reserved, scale_q24, zp = struct.unpack_from("<BBHIi", sec)
    values = struct.unpack_from("<12I", sec, 12)
    assert (n_classes, n_bins, reserved, scale_q24, zp) == (4, 8, 0, 1 << 16, -128)
    assert list(values[:4]) == [int(round(p * Q16)) for p in cfg.prior]
    assert list(values[4:]) == [int(round(a * Q16)) for a in cfg.accuracy]
    assert struct.unpack("<I", blob[-4:])[0] == zlib.crc32(blob[:-4])
    # The C parser's view and decoder agree with struct.
    parsed = ffi.new("td_profile_t *")
    assert lib.td_profile_parse(parsed, blob, len(blob)) == lib.TD_OK
    assert int(ffi.cast("uintptr_t", parsed.outputs)) - int(ffi.cast("uintptr_t", parsed.blob)) == off
    dec = ffi.new("td_outputs_config_t *")
    assert lib.td_profile_outputs(parsed, dec) == lib.TD_OK
    assert (dec.n_classes, dec.n_bins, dec.scale_q24, dec.zero_point) == (4, 8, 1 << 16, -128)
    assert list(dec.prior_q16)[:4] == list(values[:4]) and list(dec.accuracy_q16)[:8] == list(values[4:])
    assert lib.td_profile_parse(parsed, plain, len(plain)) == lib.TD_OK
    assert parsed.outputs == ffi.NULL and lib.td_profile_outputs(parsed, dec) == lib.TD_ERR_MODE
    # Round trip: exact, and the id covers the section.
    back = Profile.from_bytes(blob)
    assert back.outputs is not None
    assert back.outputs.quantized() == cfg.quantized()
    assert back.to_bytes() == blob
    assert back.profile_id == prof.profile_id != base.profile_id
    assert Profile.from_bytes(plain).outputs is None
    assert attach_outputs(prof, None).to_bytes() == plain
    # calibrate_profile_outputs is calibrate_outputs + attach_outputs.
    _, probs, labels = example_outputs()
    assert calibrate_profile_outputs(base, probs, labels, n_bins=8).to_bytes() == blob


@settings(max_examples=150, deadline=None, derandomize=True)
@given(n_classes=st.integers(2, 16), n_bins=st.integers(1, 16), external=st.booleans(),
       scale_q24=st.integers(1, 2**32 - 1), zero_point=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1))
def test_profile_outputs_round_trip_random(n_classes, n_bins, external, scale_q24, zero_point, seed) -> None:
    rng = np.random.default_rng(seed)
    prior_q16 = rng.integers(0, Q16 + 1, n_classes)
    accuracy_q16 = rng.integers(0, Q16 + 1, n_bins)
    cfg = OutputsConfig(prior=prior_q16 / Q16, accuracy=accuracy_q16 / Q16, scale=scale_q24 / 2**24,
                        zero_point=zero_point)
    prof = attach_outputs(small_profile(external=external), cfg)
    blob = prof.to_bytes()
    back = Profile.from_bytes(blob)
    assert back.outputs.quantized() == (n_classes, n_bins, scale_q24, zero_point, prior_q16.tolist(),
                                        accuracy_q16.tolist())
    assert back.to_bytes() == blob
    flags = struct.unpack_from("<H", blob, 22)[0]
    assert flags == (lib.TD_PROFILE_FLAG_OUTPUTS | (1 if external else 0))
    assert lib.td_profile_size_outputs(2, back.n_dims, back.n_centroids, flags, n_classes, n_bins) == len(blob)


def test_profile_outputs_corruption_truncation_and_ranges() -> None:
    cfg, _, _ = example_outputs(n_classes=3, n_bins=4)
    blob = attach_outputs(small_profile(), cfg).to_bytes()
    off, _ = section_of(blob)
    for mask in (0x01, 0x80, 0xFF):
        for i in range(len(blob)):
            bad = bytearray(blob)
            bad[i] ^= mask
            with pytest.raises(ProfileError) as exc:
                validate(bytes(bad))
            if off <= i < off + 2:  # the section's counts size it
                assert exc.value.status == lib.TD_ERR_SIZE, (i, mask)
    for n in range(len(blob)):
        with pytest.raises(ProfileError) as exc:
            validate(blob[:n])
        assert exc.value.status == lib.TD_ERR_TRUNCATED, n

    def patched(fmt: str, at: int, *values: int) -> bytes:
        b = bytearray(blob)
        struct.pack_into(fmt, b, at, *values)
        body = bytes(b[:-4])
        return body + struct.pack("<I", zlib.crc32(body))

    for name, bad, status in [
        ("one class", patched("<BB", off, 1, 6), lib.TD_ERR_RANGE),
        ("no bins", patched("<BB", off, 7, 0), lib.TD_ERR_RANGE),
        ("counts of another size", patched("<BB", off, 17, 0), lib.TD_ERR_SIZE),
        ("reserved", patched("<H", off + 2, 1), lib.TD_ERR_RANGE),
        ("scale 0", patched("<I", off + 4, 0), lib.TD_ERR_RANGE),
        ("zero point 128", patched("<i", off + 8, 128), lib.TD_ERR_RANGE),
        ("zero point -129", patched("<i", off + 8, -129), lib.TD_ERR_RANGE),
        ("prior > 1", patched("<I", off + 12, Q16 + 1), lib.TD_ERR_RANGE),
        ("accuracy > 1", patched("<I", off + 12 + 12 + 12, Q16 + 1), lib.TD_ERR_RANGE),
        ("flag without section", patched("<H", 22, 0), lib.TD_ERR_SIZE),
    ]:
        with pytest.raises(ProfileError) as exc:
            validate(bad)
        assert exc.value.status == status, name
    validate(patched("<BB", off, 4, 3))  # counts swapped between classes and bins: same size, valid values
    # The writer refuses what the parser would.
    with pytest.raises((InputError, CoreError)):
        attach_outputs(small_profile(), OutputsConfig(prior=np.array([0.5, 1.5]), accuracy=np.array([0.5])))
    with pytest.raises(ProfileError) as exc:  # more classes than the core's TD_MAX_CLASSES
        small_profile().replace(outputs=OutputsConfig(prior=np.full(17, 0.01), accuracy=np.array([0.5]))).to_bytes()
    assert exc.value.status == lib.TD_ERR_LIMIT
    with pytest.raises(ProfileError):
        small_profile().replace(outputs=OutputsConfig(prior=np.array([0.5, 0.5]), accuracy=np.array([0.5]),
                                                      zero_point=128)).to_bytes()


def drive(mon: Monitor, rng: np.random.Generator, probs: np.ndarray, labels: np.ndarray, frames: np.ndarray,
          label_prob: float = 0.8) -> tuple[np.ndarray, list[dict]]:
    """Push windows of outputs and labels (some late, from earlier windows) through ``mon``; return its rows and
    what OutputWindow / Ddm compute for the same calls."""
    w = mon.window
    ddm = Ddm()
    expected, rows, pending, pos, worst = [], [], [], 0, 0
    n_labels = n_correct = 0
    win = OutputWindow(mon.profile.outputs)
    predicted_of: dict[int, int] = {}
    for start in range(0, len(frames) - w + 1, w):
        n = int(rng.integers(0, 25))
        batch = probs[pos : pos + n]
        seqs = mon.push_outputs(batch)
        pred = win.push(batch) if n else np.zeros(0, np.uint8)
        for s_, p_, y_ in zip(seqs.tolist(), pred.tolist(), labels[pos : pos + n].tolist()):
            predicted_of[s_] = p_
            if rng.random() < label_prob:
                pending.append((s_, y_))
        pos += n
        # Deliver a random part of the pending labels (older ones first), in two halves around a frame push.
        k = int(rng.integers(0, len(pending) + 1))
        deliver, pending = pending[:k], pending[k:]
        half = len(deliver) // 2
        for part, frame_slice in ((deliver[:half], frames[start : start + w // 2]),
                                  (deliver[half:], frames[start + w // 2 : start + w])):
            if part:
                mon.push_label([s_ for s_, _ in part], [y_ for _, y_ in part])
                for s_, y_ in part:
                    worst = max(worst, ddm.update(predicted_of[s_] == y_))
                    n_labels += 1
                    n_correct += int(predicted_of[s_] == y_)
            rows.append(mon.push(frame_slice))
        s = win.summary()
        expected.append(dict(n_inferences=s.count, top_class=s.top_class, mean_confidence=s.mean_confidence,
                             estimated_accuracy=s.estimated_accuracy, prior_shift=s.prior_shift, ddm_state=worst,
                             n_labels=n_labels, n_correct=n_correct, accuracy=ddm.accuracy))
        win.reset()
        worst = n_labels = n_correct = 0
        # Inference numbers count from 0, so the next one is pos: drop labels the ring no longer remembers.
        pending = [(s_, y_) for s_, y_ in pending if pos - s_ <= lib.TD_MAX_PENDING_PREDICTIONS]
    return np.concatenate(rows), expected


def test_monitor_rows_equal_output_window_and_ddm(sensor_generator) -> None:
    rng = np.random.default_rng(11)
    cfg, _, _ = example_outputs(n_classes=5, n_bins=10, seed=2)
    probs, labels = calibrated_classifier(rng, 4000, 5, sharpness=2.5)
    # Concept drift halfway: the labels of the second half are permuted.
    labels[2000:] = (labels[2000:] + 1) % 5
    frames = sensor_generator.draw(rng, 16 * 300)
    prof = attach_outputs(small_profile(window=16), cfg)
    prof = prof.replace(channels=[ChannelConfig(max_missing=16, max_saturated=16) for _ in range(6)],
                        feature_mu_q8=np.zeros(12, np.int32), feature_inv_sigma_q24=np.full(12, 1 << 24, np.uint32),
                        projection=np.array([[1] + [0] * 11], np.int8))
    mon = Monitor(prof)
    assert mon.has_outputs
    rows, expected = drive(mon, rng, probs, labels, frames)
    assert len(rows) == len(expected) == 300
    for name in expected[0]:
        got = rows[name].tolist()
        want = [e[name] for e in expected]
        assert got == want, name
    assert rows["n_inferences"].sum() > 3000 and rows["n_labels"].sum() > 2000
    # Drift is detected after the switch, latches the alarm and raises CONCEPT only in windows DDM saw drift.
    concept = (rows["trigger"] & TRIGGER_CONCEPT) != 0
    assert np.array_equal(concept, rows["ddm_state"] == DDM_DRIFT)
    assert concept.any()
    first = int(np.argmax(concept))
    assert rows["alarm"][first:].all() and not rows["alarm"][:first].any()
    assert rows["n_inferences"][: first + 1].sum() > 2000  # after the switch
    assert ((rows["trigger"] | TRIGGER_CONCEPT) == TRIGGER_CONCEPT).all()  # sensors alone never alarm here
    # Sensor columns equal a monitor without the outputs section, whatever the outputs do.
    plain = Monitor(prof.replace(outputs=None)).push(frames)
    for name in ("score", "dist", "cusum", "mean", "std", "z_mean", "z_std", "sum", "sumsq"):
        assert np.array_equal(rows[name], plain[name]), name
    for name in ("n_inferences", "n_labels", "mean_confidence", "accuracy", "ddm_state"):
        assert (plain[name] == 0).all(), name
    # accuracy is DDM's running accuracy over every label so far.
    assert rows["accuracy"][-1] == round(rows["n_correct"].sum() / rows["n_labels"].sum() * Q16) / Q16


def test_score_events_with_outputs_and_labels() -> None:
    cfg, probs, labels = example_outputs(n_classes=4, n_bins=8, seed=9)
    prof = attach_outputs(small_profile(window=8), cfg)
    frames = np.arange(8 * 6 * 2, dtype=np.int16).reshape(-1, 2)
    events = [("outputs", probs[0:5]), ("frames", frames[:8]), ("labels", ([0, 1, 4], labels[[0, 1, 4]])),
              ("outputs", probs[5:7]), ("frames", frames[8:20]), ("labels", ([6], labels[[6]])),
              ("frames", frames[20:48])]
    rows = score_events(prof, events)
    assert rows["n_inferences"].tolist() == [5, 2, 0, 0, 0, 0]
    assert rows["n_labels"].tolist() == [0, 3, 1, 0, 0, 0]
    win = OutputWindow(cfg)
    pred = win.push(probs[:7])
    assert rows["n_correct"][1] == int((pred[[0, 1, 4]] == labels[[0, 1, 4]]).sum())
    win.reset()
    win.push(probs[:5])
    assert rows["mean_confidence"][0] == win.summary().mean_confidence
    correct = np.r_[pred[[0, 1, 4]] == labels[[0, 1, 4]], pred[[6]] == labels[[6]]]
    assert rows["accuracy"][2] == round(correct.mean() * Q16) / Q16
    assert rows["accuracy"][0] == 1.0  # no label yet
    with pytest.raises(InputError):
        score_events(prof, [("labels", [1, 2, 3])])
    with pytest.raises(InputError):
        score_events(small_profile(), [("outputs", probs[:1])])


def test_push_outputs_and_push_label_errors() -> None:
    cfg, probs, _ = example_outputs(n_classes=3, n_bins=4)
    mon = Monitor(attach_outputs(small_profile(), cfg))
    seqs = mon.push_outputs(probs[:3])
    assert seqs.dtype == np.uint32 and seqs.tolist() == [0, 1, 2]
    assert mon.push_outputs(probs[3]).tolist() == [3]  # one inference as a 1-D row
    with pytest.raises(InputError):
        mon.push_outputs(np.zeros((1, 4), np.int8))  # wrong class count
    with pytest.raises(InputError):
        mon.push_outputs(np.full((1, 3), 200))  # not int8
    with pytest.raises(InputError):
        mon.push_outputs(np.zeros((1, 3), np.float32))
    with pytest.raises(CoreError) as exc:
        mon.push_label([4], [0])  # not pushed yet
    assert exc.value.status == lib.TD_ERR_RANGE
    with pytest.raises(CoreError) as exc:
        mon.push_label([0], [3])  # class out of range
    assert exc.value.status == lib.TD_ERR_ARG
    mon.push_label([0], [1])
    with pytest.raises(CoreError) as exc:
        mon.push_label([0], [1])  # a second label for the same inference
    assert exc.value.status == lib.TD_ERR_STATE
    with pytest.raises(InputError):
        mon.push_label([1, 2], [0])
    with pytest.raises(InputError):
        mon.push_label([-1], [0])
    with pytest.raises(InputError):
        mon.push_label([1], [-1])
    # Only the last TD_MAX_PENDING_PREDICTIONS inferences can be labelled.
    n = lib.TD_MAX_PENDING_PREDICTIONS
    last = mon.push_outputs(np.repeat(probs[:1], n, axis=0))[-1]
    with pytest.raises(CoreError) as exc:
        mon.push_label([last - n], [0])
    assert exc.value.status == lib.TD_ERR_RANGE
    mon.push_label([last - n + 1, last], [0, 0])
    # Without an outputs section.
    plain = Monitor(small_profile())
    assert not plain.has_outputs
    with pytest.raises(InputError):
        plain.push_outputs(probs[:1])
    with pytest.raises(InputError):
        plain.push_label([0], [0])
    seq = ffi.new("uint32_t *")
    assert lib.td_monitor_push_outputs(plain._mon, ffi.new("int8_t[3]"), 3, seq) == lib.TD_ERR_MODE
    assert lib.td_monitor_push_label(plain._mon, 0, 0) == lib.TD_ERR_MODE


def test_profile_show_lists_the_outputs_section(tmp_path, capsys) -> None:
    import json

    import tinydrift
    from tinydrift.cli.app import main
    from tinydrift.outputs import attach_outputs

    x = np.random.default_rng(5).normal(0, 300, (64 * 40, 2)).astype(np.int16)
    cfg = OutputsConfig(prior=np.array([0.25, 0.75]), accuracy=np.array([0.5, 0.625, 0.875]))
    attach_outputs(tinydrift.build_profile(x, window=16), cfg).save(tmp_path / "o.tdp")
    assert main(["profile", "show", str(tmp_path / "o.tdp")]) == 0
    text = capsys.readouterr().out
    assert "Model outputs (2 classes, int8 scale 0.00390625, zero point -128)" in text
    assert main(["profile", "show", "--json", str(tmp_path / "o.tdp")]) == 0
    shown = json.loads(capsys.readouterr().out)["outputs"]
    assert shown["prior"] == [0.25, 0.75] and shown["accuracy"] == [0.5, 0.625, 0.875]
