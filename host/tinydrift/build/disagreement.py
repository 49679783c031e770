"""Do the training recordings disagree? Between-recording spread of out-of-fold scores against its within-recording
value.

Calibration treats the out-of-fold windows as exchangeable with the field's: the rate a threshold gives on them is the
rate to expect. When each recording has its own level (a session, an appliance, a mounting), a new recording's windows
are not exchangeable with the training windows, only recordings are: its false-alarm rate sits above or below the
target by recording, and the windows count for fewer independent ones than their number.

The test (half-swap permutation): each recording's out-of-fold scores, as normal scores of their ranks, are cut into a
first and a second half. With exchangeable recordings the two halves of one recording are as alike as halves of two
different recordings (the halves keep the autocorrelation within a recording, which an i.i.d. window model would
read as disagreement), so the spread of the recordings' means is compared with its spread over random re-pairings of
the halves. The between-recording variance beyond that, as a share of the scores' variance (the intra-class
correlation), gives the design effect 1 + (m - 1) rho of recordings of m windows and the effective window count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

# Fewest recordings of at least MIN_RECORDING_WINDOWS windows the test needs.
MIN_RECORDINGS = 4
MIN_RECORDING_WINDOWS = 4
PERMUTATIONS = 2000
# "Clear" disagreement: significant at this level and costing at least this design effect (windows count for half).
ALPHA = 0.01
MIN_DESIGN_EFFECT = 2.0


@dataclass(frozen=True)
class Disagreement:
    """Between-recording disagreement of out-of-fold scores (see the module doc)."""

    n_recordings: int  # recordings the test used (MIN_RECORDING_WINDOWS windows or more)
    n_windows: int  # windows of all recordings
    ratio: float  # spread of the recordings' means over its mean under random re-pairing of halves (1: none)
    p_value: float  # share of re-pairings at least as spread (with the observed pairing counted)
    icc: float  # between-recording variance share of the scores' variance (0 when not above the within value)
    design_effect: float  # 1 + (m - 1) icc, m the window-weighted mean recording length
    effective_windows: float  # n_windows / design_effect

    @property
    def clear(self) -> bool:
        """Significant (p < ALPHA) and large enough to halve the windows' worth (design effect >= MIN_DESIGN_EFFECT)."""
        return self.p_value < ALPHA and self.design_effect >= MIN_DESIGN_EFFECT

    def describe(self) -> str:
        """One line: what was measured."""
        return (f"their own levels make up {self.icc:.0%} of the out-of-fold scores' variance (half-swap permutation "
                f"test over {self.n_recordings} recordings, p = {self.p_value:.2g}), so the {self.n_windows} windows "
                f"count for about {self.effective_windows:.0f} independent ones")


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Van der Waerden scores: the standard normal quantile of each value's mid-rank (ties share a rank)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    # Ties: the mean rank of their run.
    uniq, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    mid = (sums / counts)[inverse]
    inv = NormalDist().inv_cdf
    return np.array([inv((r - 0.5) / len(x)) for r in mid])


def _spread(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """Window-weighted variance of the pair means (a + b) / 2, each pair weighted by its half length w."""
    m = 0.5 * (a + b)
    mean = float((w * m).sum() / w.sum())
    return float((w * (m - mean) ** 2).sum() / w.sum())


def recording_disagreement(scores: np.ndarray, windows_per_recording: Sequence[int], seed: int = 0,
                           permutations: int = PERMUTATIONS) -> Disagreement | None:
    """The half-swap test of scores (windows in recording order) over the recordings; None with fewer than
    MIN_RECORDINGS recordings of MIN_RECORDING_WINDOWS windows or more (too few to tell)."""
    counts = np.asarray(windows_per_recording, dtype=np.int64)
    z = normal_scores(np.asarray(scores, dtype=np.float64))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first, second, half = [], [], []
    for s, n in zip(starts, counts):
        if n < MIN_RECORDING_WINDOWS:
            continue
        h = int(n) // 2
        first.append(z[s:s + h].mean())
        second.append(z[s + n - h:s + n].mean())
        half.append(h)
    if len(half) < MIN_RECORDINGS:
        return None
    a, b, w = np.array(first), np.array(second), np.array(half, dtype=np.float64)
    observed = _spread(a, b, w)
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([a, b])
    weights = np.concatenate([w, w])
    r = len(a)
    null = np.empty(permutations)
    for i in range(permutations):
        p = rng.permutation(2 * r)
        x, y = pooled[p[:r]], pooled[p[r:]]
        null[i] = _spread(x, y, 0.5 * (weights[p[:r]] + weights[p[r:]]))
    p_value = float((1 + np.count_nonzero(null >= observed)) / (1 + permutations))
    ratio = observed / float(null.mean()) if null.mean() > 0 else math.inf
    # Variance components: with a recording level of variance tau^2 and half means of variance s^2 around it, the
    # observed pairs' means spread tau^2 + s^2 / 2 and random pairs' (tau^2 + s^2) / 2: the excess is tau^2 / 2. Per
    # window tau^2 is the intra-class correlation (z has variance ~1).
    icc = min(1.0, 2.0 * max(0.0, observed - float(null.mean())) / max(float(z.var()), 1e-12))
    used = 2 * w
    m = float((used**2).sum() / used.sum())
    design = 1.0 + (m - 1.0) * icc
    n = int(counts.sum())
    return Disagreement(r, n, float(ratio), p_value, float(icc), float(design), n / design)
