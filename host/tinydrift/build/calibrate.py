"""Threshold calibration from out-of-fold reference scores (tinydrift.build.crossfit): conformal ranks where the scores
resolve the rate, a generalized Pareto tail where they do not, and the C detectors run over resampled streams."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydrift.build.tail import TailFit, fit_gpd, fit_tail, predictive_tail  # noqa: F401  (re-exported)
from tinydrift.core.native import check, ffi, lib
from tinydrift.core.monitor import TRIGGER_HEALTH

# Windows of consecutive held-out scores kept together when resampling (keeps short-range correlation).
BLOCK_WINDOWS = 16
# Fewer expected exceedances than this above a rank threshold and the rank is too coarse: fit the tail instead.
MIN_CONFORMAL_EXCEEDANCES = 5
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


@dataclass(frozen=True)
class Basis:
    """What a threshold rests on: the scores it was set from, the method, and the rate to expect."""

    n_windows: int
    method: str  # "conformal" (finite-sample rank) or "tail" (generalized Pareto fit of the top scores)
    rate: float
    interval: tuple[float, float]  # 90 % interval of the rate these windows can vouch for
    windows_needed: int  # windows that would resolve the rate by rank alone (MIN_CONFORMAL_EXCEEDANCES / rate)

    def describe(self) -> str:
        lo, hi = self.interval
        return (f"{self.method} on {self.n_windows} out-of-fold windows: expected {self.rate:.3g} false alarms/window "
                f"(90 % interval {lo:.2g}-{hi:.2g})")


def conformal_threshold(scores: np.ndarray, rate: float) -> float | None:
    """The ceil((n + 1)(1 - rate))-th smallest score: a fresh exchangeable score exceeds it with probability at
    most rate. None when that rank is past n (the scores cannot resolve the rate)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    rank = math.ceil((n + 1) * (1.0 - rate) - 1e-9)
    if rank > n or n == 0:
        return None
    return float(s[max(rank, 1) - 1])


def resolves(n: int, rate: float) -> bool:
    """Whether n scores resolve rate by rank: at least MIN_CONFORMAL_EXCEEDANCES expected above the threshold."""
    return (n + 1) * rate >= MIN_CONFORMAL_EXCEEDANCES


def threshold_method(n: int, rate: float) -> str:
    """How a threshold for rate is set from n scores: "conformal" (a rank) where they resolve it, else "tail"."""
    return "conformal" if resolves(n, rate) else "tail"


def rate_interval(n: int, rate: float, level: float = 0.90, seed: int = 0) -> tuple[float, float]:
    """Interval of the rate that n windows can vouch for: among n + 1 exchangeable scores, the exceedance probability
    of the rank threshold with (n + 1) * rate scores above it is Beta((n + 1) rate, (n + 1)(1 - rate)) distributed
    (Monte Carlo quantiles, seeded)."""
    a = max((n + 1) * rate, 1e-6)
    b = max((n + 1) - a, 1e-6)
    draws = np.random.default_rng(seed).beta(a, b, size=200_000)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def basis(n: int, rate: float) -> Basis:
    """The basis of a threshold set for rate from n scores (see Basis)."""
    return Basis(n, threshold_method(n, rate), rate, rate_interval(n, rate), math.ceil(MIN_CONFORMAL_EXCEEDANCES / rate))


def instant_threshold(scores_q8: np.ndarray, rate: float, seed: int = 0) -> int:
    """Score (Q8) above which a single window is rare enough, P(score > t) <= rate: the conformal rank where the
    scores resolve the rate, else the quantile of the predictive tail (tinydrift.build.tail: the scores' ranks up to
    the largest, 1 / (n + 1) beyond it spread by the generalized Pareto tail averaged over bootstrap refits), so the
    expected rate on fresh scores is the target."""
    s = np.asarray(scores_q8, dtype=np.float64)
    t = conformal_threshold(s, rate) if resolves(len(s), rate) else None
    if t is None:
        t = predictive_tail(s, seed).quantile(rate)
    return int(min(UINT32_MAX - 1, math.ceil(t)))


def resample(scores_q8: np.ndarray, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """A stream of n_windows scores: random blocks of consecutive out-of-fold scores, in which a share 1 / (n + 1) of
    the windows, taken among those in the top tail, is replaced by draws beyond the largest score from the
    predictive tail (tinydrift.build.tail).

    The blocks keep the correlation of neighbouring windows (which CUSUM feels) and the scores' own distribution up to
    the largest; the draws give the stream the mass a fresh score has above the largest one seen, 1 / (n + 1) by
    exchangeability, spread as the fitted tail (averaged over its uncertainty) says.
    """
    s = np.asarray(scores_q8, dtype=np.float64)
    idx = block_indices(len(s), n_windows, rng)
    stream = s[idx]
    tail = predictive_tail(s, int(rng.integers(1 << 31)))
    u = fit_tail(s).u
    in_tail = stream > u
    share = float(np.mean(s > u))
    if share > 0.0:
        chosen = in_tail & (rng.random(len(stream)) < min(1.0, tail.beyond / share))
        stream[chosen] = tail.sample_beyond(int(chosen.sum()), rng)
    return np.ascontiguousarray(np.clip(np.round(stream), 0, UINT32_MAX), dtype=np.uint32)


def calibrate(scores_q8: np.ndarray, rate: float, n_windows: int, seed: int) -> tuple[int, int, int]:
    """(k, h, instant) in Q8 so the detector's alarms per window on a resampled stream of the scores <= rate."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores_q8, dtype=np.uint32)
    stream = resample(scores, n_windows, rng)
    budget = int(math.floor(rate * len(stream)))
    instant = instant_threshold(scores, rate / 2.0, seed)
    k = int(math.ceil(np.quantile(scores.astype(np.float64), CUSUM_K_QUANTILE)))
    never = UINT32_MAX
    if count_alarms(k, never, instant, stream) > budget // 2:
        # The stream's own tail asks for more: the smallest instant threshold within half the budget on it.
        lo_i, hi_i = instant, int(min(UINT32_MAX - 1, int(stream.max())))
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            if count_alarms(k, never, mid, stream) <= budget // 2:
                hi_i = mid
            else:
                lo_i = mid + 1
        instant = lo_i
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
    """n_windows rows of per-feature shifts made of random blocks of consecutive out-of-fold rows; per feature, every
    value whose size is in the top tail is, with the probability that puts a share 1 / (n + 1) of the rows there,
    replaced, sign kept, by a draw beyond the largest |shift| from that feature's predictive tail
    (tinydrift.build.tail), and the rest jittered by a normal with Silverman's bandwidth (a smoothed bootstrap,
    with the same fitted tail as the scores' streams)."""
    n = len(shifts_q8)
    idx = block_indices(n, n_windows, rng)
    values = shifts_q8.astype(np.float64)
    bandwidth = 1.06 * values.std(axis=0) * n ** -0.2
    stream = values[idx] + rng.normal(0.0, 1.0, size=(len(idx), values.shape[1])) * bandwidth
    for f in range(values.shape[1]):
        size = np.abs(values[:, f])
        u = fit_tail(size).u
        share = float(np.mean(size > u))
        if share == 0.0:
            continue
        tail = predictive_tail(size, int(rng.integers(1 << 31)))
        drawn = (np.abs(values[idx, f]) > u) & (rng.random(len(idx)) < min(1.0, tail.beyond / share))
        stream[drawn, f] = np.sign(values[idx, f][drawn]) * tail.sample_beyond(int(drawn.sum()), rng)
    return np.ascontiguousarray(np.clip(np.round(stream), -32767, 32767), dtype=np.int16)


def calibrate_chart(shifts_q8: np.ndarray, rate: float, n_windows: int, seed: int, k_q8: int) -> int:
    """Smallest h (Q8) whose feature-chart alarms per window on resampled held-out shifts <= rate."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {rate}")
    return chart_threshold(resample_shifts(np.asarray(shifts_q8), n_windows, np.random.default_rng(seed)), rate, k_q8)


def chart_threshold(stream: np.ndarray, rate: float, k_q8: int) -> int:
    """Smallest h (Q8) whose feature-chart alarms per window on a resampled stream of shifts (resample_shifts) <=
    rate: calibrate_chart's search, for a stream kept across several k. The bisection over 0..65535 (65535 never
    fires: the statistics saturate there) runs in C (td_host_chart_threshold), each probe stopping once its alarms
    pass the budget: the probes and the answer of a search by count_chart_alarms."""
    arr = np.ascontiguousarray(stream, dtype=np.int16)
    budget = int(math.floor(rate * len(arr)))
    h_q8 = ffi.new("uint32_t *")
    check(lib.td_host_chart_threshold(k_q8, ffi.from_buffer("int16_t[]", arr), arr.shape[0], arr.shape[1], budget,
                                      h_q8), "td_host_chart_threshold")
    return int(h_q8[0])
