"""The hardware self-test's profile and known recording (``tinydrift selftest``), from the bundled recording.

    >>> profile, stream = selftest_profile(), selftest_stream()   # deterministic: same bytes every time

The profile is ``build_profile`` on the 40 training cases of data/basicmotions.npz (window 10,
seed 0); the recording is 12 held-out cases (120 windows) with a gyroscope gain x3 in windows
40-79 and the accelerometer's z axis stuck at its rail from window 80, so the device's health,
CUSUM and attribution paths run as well as the plain score. tinydrift.device.selftest compares
the board's records with tinydrift.score on them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tinydrift.build.builder import build_profile
from tinydrift.core.errors import InputError

ROOT = Path(__file__).resolve().parents[3]  # the checkout: host/tinydrift/build/ -> repository root
PACKAGED = Path(__file__).resolve().parents[1] / "_data"  # an installed wheel's copy (setup.py)
WINDOW = 10
SEED = 0
TRAIN_FRAMES = 4000  # the 40 training cases of data/basicmotions.npz
STREAM = (4000, 5200)  # 12 held-out cases: 120 windows of 10 frames
GAIN_WINDOWS = (40, 80)  # gyr_y (channel 4) x3 in these windows
GAIN_CHANNEL, GAIN = 4, 3.0
STUCK_FROM_WINDOW, STUCK_CHANNEL = 80, 2  # acc_z stuck at +32767 from this window on


def bundled_recording(root: Path | None = None) -> np.ndarray:
    """The frames of data/basicmotions.npz (int16, 6 channels): this checkout's, else the installed wheel's copy."""
    if root is not None:
        path = root / "data" / "basicmotions.npz"
    else:
        path = ROOT / "data" / "basicmotions.npz"
        if not path.is_file() and (PACKAGED / "basicmotions.npz").is_file():
            path = PACKAGED / "basicmotions.npz"
    try:
        with np.load(path) as data:
            return np.asarray(data["frames"], dtype=np.int16)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"the bundled recording {path} is not readable ({exc}); reinstall tinydrift (its wheel "
                         "carries tinydrift/_data/basicmotions.npz) or run from a checkout") from None


def selftest_profile(frames: np.ndarray | None = None):  # noqa: ANN201 - Profile (imported lazily)
    """The self-test profile: build_profile on the bundled training cases (window 10, seed 0; deterministic)."""
    if frames is None:
        return _bundled_profile()
    return _build(frames)


@functools.lru_cache(maxsize=1)
def _bundled_profile():  # noqa: ANN202
    return _build(bundled_recording())


def _build(frames: np.ndarray):  # noqa: ANN202
    return build_profile(frames[:TRAIN_FRAMES], window=WINDOW, seed=SEED,
                         channel_names=["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"])


def selftest_stream(frames: np.ndarray | None = None) -> np.ndarray:
    """The known recording injected: 120 held-out windows with a gain drift and a stuck channel."""
    frames = bundled_recording() if frames is None else frames
    stream = frames[STREAM[0] : STREAM[1]].astype(np.int32)
    lo, hi = GAIN_WINDOWS[0] * WINDOW, GAIN_WINDOWS[1] * WINDOW
    stream[lo:hi, GAIN_CHANNEL] = np.round(stream[lo:hi, GAIN_CHANNEL] * GAIN)
    stream[STUCK_FROM_WINDOW * WINDOW :, STUCK_CHANNEL] = 32767
    return np.clip(stream, -32768, 32767).astype(np.int16)


__all__ = ["bundled_recording", "selftest_profile", "selftest_stream"]
