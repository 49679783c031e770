"""Cross-fitting folds: which training windows fit each fold's reference model and which it scores.

Windows are numbered in recording order (recording 0's windows first). Every window is scored exactly once,
by a model that never saw it nor, within its recording, its nearest neighbours: consecutive windows of one
recording are correlated, and a model fit on a window's neighbour would score the window too well.

- By recording (default, with at least as many recordings as folds): whole recordings form the folds, dealt
  round-robin in recording order to the fold with the fewest windows so far, so no recording is split and
  recordings given grouped by condition spread over every fold.
- With 2 or more recordings but fewer than folds, none holding more than half of the windows: one fold per recording
  (leave one recording out). Contiguous blocks there would let each fold model see the rest of the recording it
  scores, and recordings with a level of their own would then calibrate as if they agreed: on 5 synthetic recordings
  of 60 windows with a level of 0.5 sd each, blocks put the 1e-2 threshold at 11.6x its rate on new recordings,
  one fold per recording at 1.00x (tests/test_crossfit_calibration.py).
- Otherwise each fold is one contiguous block of windows in recording order, and the fitting set leaves out
  ``gap`` windows on either side of it within the same recording. (``by="block"`` cuts every recording into
  blocks instead.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinydrift.core.errors import InputError

DEFAULT_FOLDS = 10
DEFAULT_GAP = 1
FOLD_BY = ("block", "recording")


@dataclass(frozen=True)
class Fold:
    """One fold: indices (into the windows in recording order) of the windows it fits on and those it scores."""

    fit: np.ndarray
    score: np.ndarray


def recording_folds(windows_per_recording: Sequence[int], n_folds: int) -> np.ndarray:
    """Fold of every recording, dealt in recording order to the fold with the fewest windows so far (the lowest
    numbered on ties): equal recordings go round-robin, so recordings given grouped by condition (all of one
    activity, then the next) spread over the folds instead of one fold taking a whole condition, which would
    leave its model without that condition and score it as if it were new."""
    load = np.zeros(n_folds, np.int64)
    out = np.empty(len(windows_per_recording), np.int64)
    for i, n in enumerate(windows_per_recording):
        f = int(np.argmin(load)) if n else 0
        out[i] = f
        load[f] += int(n)
    return out


def one_recording_per_fold(windows_per_recording: Sequence[int], n_folds: int) -> bool:
    """Whether folds by recording give each recording its own fold: 2 or more recordings with windows, fewer than
    n_folds, none holding more than half of the windows (so every fold model fits on at least half of them)."""
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    held = int(np.count_nonzero(counts))
    return 2 <= held < n_folds and 2 * int(counts.max()) <= int(counts.sum())


def folds_by_recording(windows_per_recording: Sequence[int], n_folds: int) -> bool:
    """Whether fold_of_window(..., by="recording") keeps every recording whole (else contiguous blocks)."""
    return (int(np.count_nonzero(np.asarray(windows_per_recording))) >= n_folds
            or one_recording_per_fold(windows_per_recording, n_folds))


def fold_of_window(windows_per_recording: Sequence[int], n_folds: int, by: str = "recording") -> np.ndarray:
    """Fold number of every window.

    by "recording" (default): whole recordings form the folds (dealt round-robin, balancing window counts:
    recording_folds), so a fold model has not seen the session it scores, as the final model will not have seen the
    field's; with 2 or more recordings but fewer than folds, one fold per recording (one_recording_per_fold: then
    fewer folds than n_folds); else contiguous blocks of the windows in recording order.
    by "block": each recording is cut into n_folds contiguous blocks and block f of every recording belongs to
    fold f, so every fold model has seen every recording but not the stretch it scores.
    """
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    total = int(counts.sum())
    if n_folds < 2:
        raise InputError(f"cross-fitting needs at least 2 folds, got {n_folds}")
    if total < n_folds:
        raise InputError(f"cross-fitting into {n_folds} folds needs at least {n_folds} windows, got {total}")
    if by not in FOLD_BY:
        raise InputError(f"folds are by one of {', '.join(FOLD_BY)}, got {by!r}")
    if by == "recording" and np.count_nonzero(counts) >= n_folds:
        return np.repeat(recording_folds(counts, n_folds), counts)
    if by == "recording" and one_recording_per_fold(counts, n_folds):
        return np.repeat(np.cumsum(counts > 0) - 1, counts)
    if len(counts) == 1 or by == "recording":
        return np.arange(total) * n_folds // total
    return np.concatenate([np.arange(n) * n_folds // max(n, 1) for n in counts])


def make_folds(windows_per_recording: Sequence[int], n_folds: int = DEFAULT_FOLDS,
               gap: int = DEFAULT_GAP, by: str = "recording") -> list[Fold]:
    """The folds (see fold_of_window: fewer than n_folds with one recording per fold); every window is in exactly one
    fold's score set, and no fold's fit holds a window within gap windows of one it scores in the same recording."""
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    folds = fold_of_window(counts, n_folds, by)
    recording = np.repeat(np.arange(len(counts)), counts)
    out: list[Fold] = []
    for f in range(int(folds.max()) + 1):
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

