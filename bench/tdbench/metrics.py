"""Detection metrics: false alarms, delays, Poisson bounds, and the peers' tuning helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .config import INF


def false_alarms(alarm: np.ndarray, change: int | None) -> tuple[int, int]:
    """(alarms, windows) over the in-distribution part: the whole stream without drift, else before the change."""
    end = len(alarm) if change is None else change
    return int(np.count_nonzero(alarm[:end])), int(end)


def detection_delay(alarm: np.ndarray, change: int) -> int | None:
    """Windows from the change to the first alarm at or after it (0: in the first drifted window); None if none."""
    hits = np.flatnonzero(alarm[change:])
    return int(hits[0]) if hits.size else None


def median_delay(delays: Sequence[int | None]) -> float:
    """Median over runs with misses counted as infinitely late (inf when half or more were missed)."""
    if not delays:
        return INF
    return float(np.median([INF if d is None else d for d in delays]))


def per_1000(alarms: int, windows: int) -> float:
    return 1000.0 * alarms / windows if windows else float("nan")


def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a Poisson mean after observing k events."""
    alpha = 1.0 - confidence

    def cdf(lam: float) -> float:
        term = total = math.exp(-lam)
        for i in range(1, k + 1):
            term *= lam / i
            total += term
        return total

    lo, hi = 0.0, max(10.0, 10.0 * (k + 1))
    for _ in range(200):
        mid = (lo + hi) / 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def threshold_for_count(stat: np.ndarray, allowed: int) -> float:
    """Smallest threshold t from the data with count(stat > t) <= allowed (alarm when stat > t)."""
    s = np.sort(np.asarray(stat, dtype=np.float64))[::-1]
    if allowed >= len(s):
        return -INF
    return float(s[allowed])


def bisect_knob(count: Callable[[float], int], allowed: int, lo: float, hi: float, increasing: bool,
                steps: int = 22) -> float:
    """The most sensitive knob value in [lo, hi] (log scale) with count(knob) <= allowed.

    increasing: alarms grow with the knob (ADWIN's delta), else they fall (PageHinkley's threshold).
    Returns the safe end if even it raises too many alarms.
    """
    a, b = math.log(lo), math.log(hi)
    safe = a if increasing else b
    if count(math.exp(safe)) > allowed:
        return math.exp(safe)
    sensitive = b if increasing else a
    if count(math.exp(sensitive)) <= allowed:
        return math.exp(sensitive)
    for _ in range(steps):
        mid = (safe + sensitive) / 2
        if count(math.exp(mid)) <= allowed:
            safe = mid
        else:
            sensitive = mid
    return math.exp(safe)

