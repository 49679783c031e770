"""Threshold calibration: run the C detector over held-out reference scores until the false-alarm rate fits."""

from __future__ import annotations

import math

import numpy as np

from tinydrift.core.native import check, ffi, lib
from tinydrift.core.monitor import TRIGGER_HEALTH

# Windows of consecutive held-out scores kept together when resampling (keeps short-range correlation).
BLOCK_WINDOWS = 16
# Fewer expected exceedances than this and the empirical quantile is too noisy: fit the tail instead.
MIN_TAIL_COUNT = 20
TAIL_QUANTILE = 0.90
CUSUM_K_QUANTILE = 0.95
UINT32_MAX = 0xFFFFFFFF


def count_alarms(k_q8: int, h_q8: int, instant_q8: int, scores_q8: np.ndarray) -> int:
    """Alarms the C detector raises over scores, resetting after each (td_detector_count_alarms)."""
    params = ffi.new("td_detector_params_t *", {"k_q8": k_q8, "h_q8": h_q8, "instant_q8": instant_q8})
    arr = np.ascontiguousarray(scores_q8, dtype=np.uint32)
    n_alarms = ffi.new("uint32_t *")
    check(lib.td_detector_count_alarms(params, ffi.from_buffer("uint32_t[]", arr), len(arr), n_alarms),
          "td_detector_count_alarms")
    return int(n_alarms[0])


def count_chart_alarms(k_q8: int, h_q8: int, shifts_q8: np.ndarray) -> int:
    """Alarms the C feature chart raises over rows of per-feature shifts, resetting after each
    (td_chart_count_alarms)."""
    arr = np.ascontiguousarray(shifts_q8, dtype=np.int16)
    n_alarms = ffi.new("uint32_t *")
    check(lib.td_chart_count_alarms(k_q8, h_q8, ffi.from_buffer("int16_t[]", arr), arr.shape[0], arr.shape[1],
                                    n_alarms), "td_chart_count_alarms")
    return int(n_alarms[0])


def false_alarms(profile: object, rows: np.ndarray) -> int:
    """Alarms in Monitor rows: score triggers and feature-chart alarms, each counted by its own counter with a reset
    after each (as a user acknowledging them would), plus health events."""
    scores_q8 = np.round(rows["score"] * 256).astype(np.uint32)
    n = count_alarms(profile.cusum_k_q8, profile.cusum_h_q8, profile.instant_q8, scores_q8)  # type: ignore[attr-defined]
    if getattr(profile, "feature_chart", False):
        shifts_q8 = np.round(rows["shift"] * 256).astype(np.int16)
        n += count_chart_alarms(profile.chart_k_q8, profile.chart_h_q8, shifts_q8)  # type: ignore[attr-defined]
    return n + int(np.count_nonzero(rows["trigger"] & TRIGGER_HEALTH))


def block_indices(n: int, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """n_windows indices into n held-out windows: random blocks of BLOCK_WINDOWS consecutive ones (fewer if n is
    smaller), which keeps the short-range correlation between neighbouring windows."""
    block = min(BLOCK_WINDOWS, n)
    starts = rng.integers(0, n - block + 1, size=-(-n_windows // block))
    return (starts[:, None] + np.arange(block)[None, :]).ravel()[:n_windows]


def resample(scores_q8: np.ndarray, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """A stream of n_windows scores made of random blocks of consecutive held-out scores.

    Smoothed bootstrap: each drawn score is jittered by a log-normal factor with
    Silverman's bandwidth on log scores, so the stream has values between and a
    little beyond the few held-out scores in the tail, which is where CUSUM
    false alarms come from; a plain bootstrap would make the tail look lighter
    than fresh data shows it to be.
    """
    n = len(scores_q8)
    idx = block_indices(n, n_windows, rng)
    logs = np.log1p(scores_q8.astype(np.float64))
    bandwidth = 1.06 * float(logs.std()) * n ** -0.2
    jittered = np.expm1(logs[idx] + rng.normal(0.0, bandwidth, size=len(idx)))
    return np.ascontiguousarray(np.clip(np.round(jittered), 0, UINT32_MAX), dtype=np.uint32)


def instant_threshold(scores_q8: np.ndarray, rate: float) -> int:
    """Score above which a single window is rare enough: P(score > t) ~ rate."""
    s = np.sort(scores_q8.astype(np.float64))
    if len(s) * rate >= MIN_TAIL_COUNT:
        return int(math.ceil(np.quantile(s, 1.0 - rate)))
    # Exponential tail over the top (1 - TAIL_QUANTILE) of the scores: P(S > x) = p_u * exp(-(x - u) / beta).
    u = float(np.quantile(s, TAIL_QUANTILE))
    excess = s[s > u] - u
    beta = float(excess.mean()) if excess.size else max(1.0, u * 0.1)
    p_u = max(excess.size / len(s), 1.0 / len(s))
    t = u + beta * max(0.0, math.log(p_u / rate))
    return int(min(UINT32_MAX - 1, math.ceil(max(t, s[-1]))))


def calibrate(scores_q8: np.ndarray, rate: float, n_windows: int, seed: int) -> tuple[int, int, int]:
    """(k, h, instant) in Q8 so the detector's alarms per window on resampled held-out scores <= rate."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    stream = resample(np.asarray(scores_q8, dtype=np.uint32), n_windows, rng)
    budget = int(math.floor(rate * len(stream)))
    instant = instant_threshold(scores_q8, rate / 2.0)
    k = int(math.ceil(np.quantile(scores_q8.astype(np.float64), CUSUM_K_QUANTILE)))
    never = UINT32_MAX
    while count_alarms(k, never, instant, stream) > budget // 2 and instant < UINT32_MAX - 1:
        instant = min(UINT32_MAX - 1, instant * 2 + 1)
    # Smallest h whose total alarm count fits the budget (alarm counts fall as h grows).
    lo, hi = 0, int(min(never, np.maximum(stream.astype(np.int64) - k, 0).sum() + 1))
    while lo < hi:
        mid = (lo + hi) // 2
        if count_alarms(k, mid, instant, stream) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return k, lo, instant


def resample_shifts(shifts_q8: np.ndarray, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """n_windows rows of per-feature shifts made of random blocks of consecutive held-out rows, each value
    jittered by a normal with Silverman's bandwidth per feature (a smoothed bootstrap, as for the scores)."""
    n = len(shifts_q8)
    idx = block_indices(n, n_windows, rng)
    values = shifts_q8.astype(np.float64)
    bandwidth = 1.06 * values.std(axis=0) * n ** -0.2
    jittered = values[idx] + rng.normal(0.0, 1.0, size=(len(idx), values.shape[1])) * bandwidth
    return np.ascontiguousarray(np.clip(np.round(jittered), -32767, 32767), dtype=np.int16)


def calibrate_chart(shifts_q8: np.ndarray, rate: float, n_windows: int, seed: int, k_q8: int) -> int:
    """Smallest h (Q8) whose feature-chart alarms per window on resampled held-out shifts <= rate."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {rate}")
    stream = resample_shifts(np.asarray(shifts_q8), n_windows, np.random.default_rng(seed))
    budget = int(math.floor(rate * len(stream)))
    lo, hi = 0, 0xFFFF  # h = 65535 never fires: the statistics saturate there
    while lo < hi:
        mid = (lo + hi) // 2
        if count_chart_alarms(k_q8, mid, stream) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return lo
