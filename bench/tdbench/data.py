"""The bundled BasicMotions recording (data/basicmotions.npz) and per-window statistics of frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DATA, WINDOW


@dataclass
class Dataset:
    frames: np.ndarray       # int16, frames x channels
    labels: np.ndarray       # class index per frame
    case: np.ndarray         # case index per frame
    split: np.ndarray        # 0 training, 1 test
    names: list[str]         # channel names
    classes: list[str]       # class names

    @property
    def n_channels(self) -> int:
        return self.frames.shape[1]

    def cases(self, split: int, classes: Sequence[int] | None = None) -> list[tuple[np.ndarray, int]]:
        """(frames, class) of every case of a split, optionally only of some classes, in file order."""
        out = []
        for k in np.unique(self.case[self.split == split]):
            sel = self.case == k
            label = int(self.labels[sel][0])
            if classes is None or label in classes:
                out.append((self.frames[sel], label))
        return out


def load_dataset(path: Path = DATA) -> Dataset:
    d = np.load(path)
    return Dataset(frames=d["frames"], labels=d["labels"].astype(np.int64), case=d["case"].astype(np.int64),
                   split=d["split"].astype(np.int64), names=[str(n) for n in d["channel_names"]],
                   classes=[str(c).lower() for c in d["class_names"]])



def window_features(frames: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Per window and channel: mean and population std in float64 (raw values, sentinel included)."""
    n = len(frames) // window
    x = np.asarray(frames[: n * window], dtype=np.float64).reshape(n, window, -1)
    return x.mean(axis=1), x.std(axis=1)


def window_stats_numpy(frames: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """sum, sumsq, min, max, mean, std per window and channel, vectorized in float64 (the speed baseline)."""
    n = len(frames) // window
    x = frames[: n * window].reshape(n, window, -1).astype(np.float64)
    s = x.sum(axis=1)
    ss = (x * x).sum(axis=1)
    mn = x.min(axis=1)
    mx = x.max(axis=1)
    mean = s / window
    std = np.sqrt(np.maximum(ss / window - mean * mean, 0.0))
    return s, ss, mn, mx, mean, std


def features(means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    f = np.empty((len(means), 2 * means.shape[1]))
    f[:, 0::2] = means
    f[:, 1::2] = stds
    return f
