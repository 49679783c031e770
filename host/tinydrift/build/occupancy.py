"""The occupancy test: how often each centroid is the nearest over the last n windows, against the reference mix.

A class-prior shift (one activity far more often than in training) or a new class that lands on existing
centroids moves no single window out of distribution, but it changes which centroids the windows land on.
The device keeps the nearest-centroid index of the last n windows and computes the G statistic in bits,

    G = sum_k c_k log2(c_k / (n p_k)) = sum_k [c_k log2 c_k + c_k cost_k] - n log2 n,   cost_k = -log2 p_k,

with td_log2_q8 (8 fraction bits, truncated) so that this module and the C core agree bit for bit. An alarm
is raised when G exceeds the profile's threshold once n windows have passed since start or the last reset.

The threshold is calibrated on streams made of whole training recordings drawn with replacement, so the
dependence between consecutive windows of one recording is kept; an i.i.d. window model would put the
threshold far too low. The test therefore assumes the device switches between activities about as often
as the training recordings do: a long stretch of one activity is, to this test, a prior shift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tinydrift.core.native import check, ffi, lib
from tinydrift.core.errors import InputError

# Laplace-style pseudo-count: a centroid never nearest in training still gets a finite cost.
PSEUDO_COUNT = 0.5
MIN_CALIBRATION_WINDOWS = 200_000
# Automatic window (build_profile's default): twice the longest run of one centroid within a training recording,
# at least AUTO_MIN_WINDOWS; the training data must hold AUTO_SEGMENTS such windows to calibrate the threshold.
AUTO_MIN_WINDOWS = 8
AUTO_SEGMENTS = 5
# Below this many training windows the automatic test stays off: the reference mix is estimated from the same
# windows k-means placed the centroids on, and fresh windows land on them in other proportions (with 100 i.i.d.
# windows the test alone raised about 3x its share of false alarms; with 300, 1.2x; with 1,000, as calibrated).
AUTO_MIN_TRAINING_WINDOWS = 300
CALIBRATION_EXPECTED_ALARMS = 50


def n_log2_n_q8(n: np.ndarray | int) -> np.ndarray:
    """n * td_log2_q8(n), exactly as the core computes it (0 for n = 0 and 1)."""
    values = np.atleast_1d(np.asarray(n, dtype=np.int64))
    table = {int(v): int(v) * int(lib.td_log2_q8(int(v))) for v in np.unique(values)}
    return np.vectorize(table.__getitem__, otypes=[np.int64])(values).reshape(np.shape(n))


def reference_costs(nearest: Sequence[np.ndarray], n_centroids: int) -> np.ndarray:
    """cost_k = -log2 p_k in Q8 (uint16) from the nearest-centroid indices of the training windows."""
    counts = np.bincount(np.concatenate([np.asarray(s, np.int64) for s in nearest]), minlength=n_centroids)
    p = (counts + PSEUDO_COUNT) / (counts.sum() + PSEUDO_COUNT * n_centroids)
    return np.clip(np.round(-256.0 * np.log2(p)), 0, 0xFFFF).astype(np.uint16)


def statistic(nearest: np.ndarray, cost_q8: np.ndarray, n_windows: int) -> np.ndarray:
    """G statistic (bits, Q8 integer) of every window over the last n_windows; windows before the n-th are 0.

    Equal to the core's occupancy_q8 on a stream without alarm resets (a reset only delays the next value). One O(n)
    pass in C (td_host_occupancy_stat, a host-only helper): a running sum updated as each window enters and the
    oldest leaves, integer throughout, so it equals the per-window sum bit for bit (tests/test_build_speed.py checks
    it against the numpy version, one pass per centroid, that it replaced).
    """
    idx = np.ascontiguousarray(nearest, dtype=np.int64)
    cost = np.ascontiguousarray(np.asarray(cost_q8).astype(np.int64))
    if n_windows < 1:
        raise InputError(f"occupancy windows must be at least 1, got {n_windows}")
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(cost)):
        raise InputError(f"nearest-centroid indices must lie in 0..{len(cost) - 1}")
    table = np.ascontiguousarray(n_log2_n_q8(np.arange(n_windows + 1)))
    counts = np.zeros(max(len(cost), 1), np.uint32)
    stat = np.zeros(len(idx), np.int64)
    check(lib.td_host_occupancy_stat(ffi.from_buffer("int64_t[]", idx), len(idx), ffi.from_buffer("int64_t[]", cost),
                                     len(cost), ffi.from_buffer("int64_t[]", table), n_windows,
                                     ffi.from_buffer("uint32_t[]", counts), ffi.from_buffer("int64_t[]", stat)),
          "td_host_occupancy_stat")
    return stat


def count_alarms(stat: np.ndarray, threshold_q8: int, n_windows: int) -> int:
    """Alarms on one stream with a reset after each: the next may come n windows later at the earliest (one C pass,
    td_host_occupancy_alarms)."""
    arr = np.ascontiguousarray(stat, dtype=np.int64)
    n_alarms = ffi.new("uint32_t *")
    check(lib.td_host_occupancy_alarms(ffi.from_buffer("int64_t[]", arr), len(arr), int(threshold_q8), n_windows,
                                       n_alarms), "td_host_occupancy_alarms")
    return int(n_alarms[0])


def calibration_stream(nearest: Sequence[np.ndarray], n_total: int, seed: int) -> np.ndarray:
    """Whole recordings' index sequences drawn with replacement and concatenated to at least n_total windows."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(s) for s in nearest])
    draws = max(1, math.ceil(n_total / max(lengths.mean(), 1.0) * 1.1))
    picks = rng.integers(0, len(nearest), size=draws)
    while lengths[picks].sum() < n_total:
        picks = np.concatenate([picks, rng.integers(0, len(nearest), size=draws)])
    # gather from one flat copy of the recordings: each pick contributes flat[start : start + length]
    flat = np.concatenate([np.asarray(s, np.int64) for s in nearest])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out_len = lengths[picks]
    offsets = np.repeat(starts[picks] - np.concatenate([[0], np.cumsum(out_len)[:-1]]), out_len)
    return flat[np.arange(int(out_len.sum())) + offsets]


def as_segments(nearest: Sequence[np.ndarray], n_windows: int) -> list[np.ndarray]:
    """The resampling units: recordings, or blocks of n windows when there are too few recordings to draw from."""
    segments = [np.asarray(s, np.int64) for s in nearest if len(s)]
    if len(segments) >= 8:
        return segments
    return [s[i:i + n_windows] for s in segments for i in range(0, len(s), n_windows)]


def pearson_p(cost_q8: np.ndarray) -> np.ndarray:
    """The reference mix the costs stand for, p_k = 2^-cost_k."""
    return np.exp2(-np.asarray(cost_q8, np.float64) / 256.0)


def reference_spread(segments: Sequence[np.ndarray], cost_q8: np.ndarray) -> float:
    """E sum_k (p*_k - p_k)^2 / p_k over the pooled mix p* of the segments drawn with replacement (as many as there
    are), p the mix the costs stand for: the reference mix's own sampling noise, per window, in Pearson form
    ((k - 1) / N for N i.i.d. windows)."""
    k = len(cost_q8)
    counts = np.stack([np.bincount(np.asarray(s, np.int64), minlength=k) for s in segments]).astype(np.float64)
    var = len(segments) * counts.var(axis=0) / counts.sum() ** 2  # variance of the pooled mix under the resampling
    return float((var / pearson_p(cost_q8)).sum())


def window_spread(stream: np.ndarray, cost_q8: np.ndarray, n_windows: int) -> float:
    """Mean over the stream's n-window spans of sum_k (c_k / n - p_k)^2 / p_k, p the mix the costs stand for: the
    spans' own sampling noise in the same form as reference_spread ((k - 1) / n for i.i.d. windows)."""
    p = pearson_p(cost_q8)
    total = np.zeros(max(len(stream) - n_windows + 1, 0))
    for k in range(len(p)):
        cum = np.concatenate([[0], np.cumsum(np.asarray(stream) == k)])
        total += ((cum[n_windows:] - cum[:-n_windows]) / n_windows - p[k]) ** 2 / p[k]
    return float(total.mean())


def threshold_for(stat: np.ndarray, n_windows: int, false_alarm_rate: float) -> int:
    """The smallest threshold giving at most false_alarm_rate alarms per window on stat (with resets)."""
    allowed = false_alarm_rate * len(stat)
    lo, hi = -1, max(int(stat.max()), 0)  # alarms(hi) == 0 <= allowed
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_alarms(stat, mid, n_windows) <= allowed:
            hi = mid
        else:
            lo = mid
    return hi


def calibrate(nearest: Sequence[np.ndarray], n_centroids: int, n_windows: int, false_alarm_rate: float,
              seed: int = 0, reference_noise: bool = False) -> tuple[np.ndarray, int]:
    """(cost_q8, threshold_q8) giving at most false_alarm_rate alarms per window on resampled training streams.

    The streams scatter around the very mix the costs are estimated from, while fresh windows scatter around the
    truth, which the estimate misses by its own sampling noise: the threshold is optimistic (on i.i.d. windows from
    a known mix, 300 training windows, n = 20-40, it gave fresh streams 1.4-2.1x the rate;
    tests/test_occupancy_calibration.py).
    reference_noise scales the threshold by 1 + reference_spread / window_spread, the factor by which that noise
    widens G to first order (1 + n / N for i.i.d. windows). It is off in build_profile: on the benchmarks' real
    recordings the test was mostly at or below its share already, and the factor cost prior-shift detection
    (docs/algorithm.md)."""
    if not 2 <= n_windows <= lib.TD_MAX_OCCUPANCY_WINDOWS:
        raise InputError(f"occupancy windows must be between 2 and {lib.TD_MAX_OCCUPANCY_WINDOWS}, got {n_windows}")
    segments = as_segments(nearest, n_windows)
    total = sum(len(s) for s in segments)
    if total < 2 * n_windows:
        raise InputError(f"the occupancy test over {n_windows} windows needs at least {2 * n_windows} training "
                         f"windows, got {total}")
    cost = reference_costs(segments, n_centroids)
    n_total = max(MIN_CALIBRATION_WINDOWS, math.ceil(CALIBRATION_EXPECTED_ALARMS / false_alarm_rate))
    stream = calibration_stream(segments, n_total, seed)
    threshold = threshold_for(statistic(stream, cost, n_windows), n_windows, false_alarm_rate)
    if reference_noise:
        factor = 1.0 + reference_spread(segments, cost) / window_spread(stream, cost, n_windows)
        threshold = min(math.ceil(threshold * factor), 0xFFFFFFFF)
    return cost, threshold


def longest_run(nearest: Sequence[np.ndarray]) -> int:
    """The longest run of one nearest centroid within any one sequence (runs never cross recordings)."""
    longest = 0
    for seq in nearest:
        idx = np.asarray(seq, np.int64)
        if len(idx) == 0:
            continue
        change = np.flatnonzero(np.diff(idx) != 0)
        bounds = np.concatenate([[-1], change, [len(idx) - 1]])
        longest = max(longest, int(np.diff(bounds).max()))
    return longest


def choose_windows(nearest: Sequence[np.ndarray], n_centroids: int) -> tuple[int | None, str]:
    """The occupancy window for training data whose windows' nearest centroids are nearest (one array per
    recording), or None, with a one-line reason either way."""
    total = sum(len(s) for s in nearest)
    if n_centroids < 2:
        return None, "occupancy test off: the profile has one centroid, so the mix of windows cannot move"
    if total < AUTO_MIN_TRAINING_WINDOWS:
        return None, (f"occupancy test off: {total} training windows; its reference mix needs at least "
                      f"{AUTO_MIN_TRAINING_WINDOWS} (occupancy_windows=N / --occupancy N turns it on anyway)")
    run = longest_run(nearest)
    n = max(AUTO_MIN_WINDOWS, 2 * run)
    if n > lib.TD_MAX_OCCUPANCY_WINDOWS:
        return None, (f"occupancy test off: the training data stay on one centroid for up to {run} windows, and the "
                      f"test's window (twice that) exceeds the core's {lib.TD_MAX_OCCUPANCY_WINDOWS}")
    if total < AUTO_SEGMENTS * n:
        return None, (f"occupancy test off: over {n} windows (twice the longest run of one centroid, {run}) it needs "
                      f"at least {AUTO_SEGMENTS * n} training windows, got {total}")
    return n, f"occupancy test over {n} windows (twice the longest run of one centroid in the training data, {run})"
