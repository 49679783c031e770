"""Model-output monitoring in the C core: exact window statistics, a label-free accuracy estimate
that tracks realized accuracy, and DDM on the labelled error stream."""

from __future__ import annotations

import numpy as np
import pytest

from tinydrift.core import lib
from tinydrift.errors import CoreError, InputError
from tinydrift.outputs import Ddm, OutputsConfig, OutputWindow, calibrate_outputs, dequantize

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
    assert lib.td_ddm_update(lib.NULL if hasattr(lib, "NULL") else __import__("tinydrift").core.ffi.NULL, 1,
                             __import__("tinydrift").core.ffi.new("uint8_t *")) == lib.TD_ERR_ARG
    assert dequantize(np.array([-128, 127]), 1 / 256, -128).tolist() == [0.0, 255 / 256]
