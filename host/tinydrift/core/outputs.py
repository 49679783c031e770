"""Model-output monitoring on the host, through the C core (td_outputs.h).

- ``OutputsConfig``: the profile's outputs section (reference prior, confidence->accuracy map).
- ``OutputWindow``: per-window prediction histogram, mean confidence, prior shift and the
  label-free accuracy estimate, exactly as the device computes them.
- ``Ddm``: the Drift Detection Method on the error stream of labelled predictions.

Calibrating a section and attaching it to a profile is tinydrift.build.outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydrift.core.fixed import Q16, Q24
from tinydrift.core.native import check, ffi, lib
from tinydrift.core.errors import InputError


@dataclass
class OutputsConfig:
    """Reference behaviour of a classifier's outputs (probabilities as floats in [0, 1])."""

    prior: np.ndarray            # (n_classes,) frequency of each predicted class on reference data
    accuracy: np.ndarray         # (n_bins,) held-out accuracy per top-1 confidence bin
    scale: float = 1.0 / 256     # output tensor quantization (TFLite int8 softmax: 1/256, -128)
    zero_point: int = -128

    @property
    def n_classes(self) -> int:
        return len(self.prior)

    @property
    def n_bins(self) -> int:
        return len(self.accuracy)

    def quantized(self) -> tuple[int, int, int, int, list[int], list[int]]:
        """(n_classes, n_bins, scale_q24, zero_point, prior_q16, accuracy_q16): the integers a profile stores."""
        return (self.n_classes, self.n_bins, int(round(float(self.scale) * Q24)), int(self.zero_point),
                [int(round(float(p) * Q16)) for p in np.asarray(self.prior, dtype=np.float64).ravel()],
                [int(round(float(a) * Q16)) for a in np.asarray(self.accuracy, dtype=np.float64).ravel()])

    def to_c(self) -> object:
        cfg = ffi.new("td_outputs_config_t *")
        if not 2 <= self.n_classes <= lib.TD_MAX_CLASSES:
            raise InputError(f"classes must be 2..{lib.TD_MAX_CLASSES}, got {self.n_classes}")
        if not 1 <= self.n_bins <= lib.TD_MAX_CONFIDENCE_BINS:
            raise InputError(f"confidence bins must be 1..{lib.TD_MAX_CONFIDENCE_BINS}, got {self.n_bins}")
        n_classes, n_bins, scale_q24, zero_point, prior_q16, accuracy_q16 = self.quantized()
        if not 0 <= scale_q24 < 2**32 or not -2**31 <= zero_point < 2**31 or \
                any(not 0 <= v < 2**32 for v in prior_q16 + accuracy_q16):
            raise InputError("outputs configuration out of range: scale must be in [0, 256), probabilities in [0, 1]")
        cfg.n_classes = n_classes
        cfg.n_bins = n_bins
        cfg.scale_q24 = scale_q24
        cfg.zero_point = zero_point
        for c, p in enumerate(prior_q16):
            cfg.prior_q16[c] = p
        for b, a in enumerate(accuracy_q16):
            cfg.accuracy_q16[b] = a
        check(lib.td_outputs_check(cfg), "td_outputs_check")
        return cfg


def dequantize(probs_int8: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float probabilities of int8 outputs."""
    return (np.asarray(probs_int8, dtype=np.float64) - zero_point) * scale


@dataclass
class OutputSummary:
    count: int
    mean_confidence: float
    estimated_accuracy: float
    prior_shift: float
    top_class: int


class OutputWindow:
    """Accumulates one window of model outputs in the C core."""

    def __init__(self, config: OutputsConfig) -> None:
        self.config = config
        self._cfg = config.to_c()
        self._acc = ffi.new("td_outputs_acc_t *")
        self._pred = ffi.new("uint8_t *")
        self.reset()

    def reset(self) -> None:
        check(lib.td_outputs_reset(self._acc), "td_outputs_reset")

    def push(self, probs_int8: np.ndarray) -> np.ndarray:
        """Add inferences (n x classes int8); returns their predicted classes."""
        arr = np.ascontiguousarray(np.atleast_2d(probs_int8), dtype=np.int8)
        if arr.shape[1] != self.config.n_classes:
            raise InputError(f"outputs have {arr.shape[1]} classes, the configuration {self.config.n_classes}")
        out = np.empty(len(arr), dtype=np.uint8)
        for i, row in enumerate(arr):
            check(lib.td_outputs_push(self._acc, self._cfg, ffi.from_buffer("int8_t[]", row), len(row), self._pred),
                  "td_outputs_push")
            out[i] = self._pred[0]
        return out

    def summary(self) -> OutputSummary:
        s = ffi.new("td_outputs_summary_t *")
        check(lib.td_outputs_summary(self._acc, self._cfg, s), "td_outputs_summary")
        return OutputSummary(int(s.count), s.mean_confidence_q16 / Q16, s.estimated_accuracy_q16 / Q16,
                             s.prior_shift_q16 / Q16, int(s.top_class))


class Ddm:
    """The Drift Detection Method (Gama et al., 2004) on labelled predictions, in the C core."""

    OK, WARNING, DRIFT = 0, 1, 2

    def __init__(self) -> None:
        self._ddm = ffi.new("td_ddm_t *")
        self._verdict = ffi.new("uint8_t *")
        check(lib.td_ddm_init(self._ddm), "td_ddm_init")

    def update(self, correct: bool) -> int:
        check(lib.td_ddm_update(self._ddm, 1 if correct else 0, self._verdict), "td_ddm_update")
        return int(self._verdict[0])

    def run(self, correct: np.ndarray) -> np.ndarray:
        """Verdicts for a sequence of correct (1) / wrong (0) predictions."""
        return np.array([self.update(bool(c)) for c in np.asarray(correct)], dtype=np.uint8)

    @property
    def accuracy(self) -> float:
        return lib.td_ddm_accuracy_q16(self._ddm) / Q16
