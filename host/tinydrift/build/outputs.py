"""Output calibration: a profile's outputs section from a classifier's held-out labelled outputs.

- ``calibrate_outputs``: learn the reference class prior and the confidence->accuracy map
  from a classifier's int8 outputs on held-out labelled data.
- ``attach_outputs`` / ``calibrate_profile_outputs``: put an ``OutputsConfig`` into a profile's
  outputs section, so that the monitor (``Monitor.push_outputs`` / ``push_label``, and a device
  running the profile) computes the section's quantities per window.
"""

from __future__ import annotations

import numpy as np

from tinydrift.core.errors import InputError
from tinydrift.core.outputs import OutputsConfig, dequantize
from tinydrift.core.profile import Profile


def calibrate_outputs(probs_int8: np.ndarray, labels: np.ndarray, *, scale: float = 1.0 / 256,
                      zero_point: int = -128, n_bins: int = 10, prior_strength: float = 2.0) -> OutputsConfig:
    """Reference prior and confidence->accuracy map from held-out labelled int8 outputs (n x classes).

    Each bin's accuracy is shrunk toward the bin's mean confidence with ``prior_strength``
    pseudo-observations, so sparsely populated bins fall back on the model's own confidence.
    """
    probs = np.asarray(probs_int8)
    y = np.asarray(labels).astype(np.int64)
    if probs.ndim != 2 or len(probs) != len(y) or len(y) == 0:
        raise InputError(f"need (n, classes) outputs and n labels, got {probs.shape} and {y.shape}")
    n_classes = probs.shape[1]
    predicted = np.argmax(probs, axis=1)  # first index on ties, like the C core
    confidence = np.clip(dequantize(probs[np.arange(len(probs)), predicted], scale, zero_point), 0.0, 1.0)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    correct = (predicted == y).astype(np.float64)
    accuracy = np.empty(n_bins)
    for b in range(n_bins):
        in_bin = bins == b
        centre = (b + 0.5) / n_bins
        accuracy[b] = (correct[in_bin].sum() + prior_strength * centre) / (in_bin.sum() + prior_strength)
    prior = np.bincount(predicted, minlength=n_classes) / len(predicted)
    return OutputsConfig(prior=prior, accuracy=accuracy, scale=scale, zero_point=zero_point)


def attach_outputs(profile: Profile, config: OutputsConfig | None) -> Profile:
    """A copy of ``profile`` whose outputs section holds ``config`` (None removes the section).

    The configuration is checked by the C core first (InputError / CoreError name what is wrong);
    the profile id changes with it, since the section is part of the blob.
    """
    if config is not None:
        if not isinstance(config, OutputsConfig):
            raise InputError(f"expected an OutputsConfig, got {type(config).__name__}")
        config.to_c()
    return profile.replace(outputs=config)


def calibrate_profile_outputs(profile: Profile, probs_int8: np.ndarray, labels: np.ndarray, **kwargs: object) -> Profile:
    """``attach_outputs(profile, calibrate_outputs(probs_int8, labels, **kwargs))``: calibrate the classifier's
    outputs on held-out labelled data (n x classes int8, n labels) and put the result into the profile."""
    return attach_outputs(profile, calibrate_outputs(probs_int8, labels, **kwargs))  # type: ignore[arg-type]
