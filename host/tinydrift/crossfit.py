"""Cross-fitting folds: which training windows fit each fold's reference model and which it scores.

Windows are numbered in recording order (recording 0's windows first). Every window is scored exactly once,
by a model that never saw it nor, within its recording, its nearest neighbours: consecutive windows of one
recording are correlated, and a model fit on a window's neighbour would score the window too well.

- With at least as many recordings as folds, whole recordings form the folds (contiguous runs of recordings
  with about equal window counts), so no recording is split.
- Otherwise each fold is one contiguous block of windows, and the fitting set leaves out ``gap`` windows on
  either side of the block within the same recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError

DEFAULT_FOLDS = 10
DEFAULT_GAP = 1


@dataclass(frozen=True)
class Fold:
    """One fold: indices (into the windows in recording order) of the windows it fits on and those it scores."""

    fit: np.ndarray
    score: np.ndarray


def fold_of_window(windows_per_recording: Sequence[int], n_folds: int) -> np.ndarray:
    """Fold number of every window: by whole recordings when there are at least n_folds of them, else by
    contiguous blocks of about equal size."""
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    total = int(counts.sum())
    if n_folds < 2:
        raise InputError(f"cross-fitting needs at least 2 folds, got {n_folds}")
    if total < n_folds:
        raise InputError(f"cross-fitting into {n_folds} folds needs at least {n_folds} windows, got {total}")
    position = np.arange(total)
    if np.count_nonzero(counts) >= n_folds:
        # A recording goes to the fold of its middle window, so folds are contiguous runs of recordings.
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        middle = starts + counts // 2
        rec_fold = np.minimum(middle * n_folds // total, n_folds - 1)
        folds = np.repeat(rec_fold, counts)
        # Balance is by window counts; a fold left empty by very unequal recordings falls back to blocks.
        if len(np.unique(folds)) == n_folds:
            return folds
    return position * n_folds // total


def make_folds(windows_per_recording: Sequence[int], n_folds: int = DEFAULT_FOLDS,
               gap: int = DEFAULT_GAP) -> list[Fold]:
    """The folds (see the module docstring); every window is in exactly one fold's score set."""
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    folds = fold_of_window(counts, n_folds)
    recording = np.repeat(np.arange(len(counts)), counts)
    out: list[Fold] = []
    for f in range(n_folds):
        held = folds == f
        excluded = held.copy()
        for step in range(1, gap + 1):
            # Neighbours within the same recording of a held-out window are left out of the fit too.
            left = np.zeros_like(held)
            left[:-step] = held[step:] & (recording[:-step] == recording[step:])
            right = np.zeros_like(held)
            right[step:] = held[:-step] & (recording[step:] == recording[:-step])
            excluded |= left | right
        out.append(Fold(fit=np.flatnonzero(~excluded), score=np.flatnonzero(held)))
    return out
