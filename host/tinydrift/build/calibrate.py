"""Threshold calibration from out-of-fold reference scores (tinydrift.build.crossfit): conformal ranks where the scores
resolve the rate, a generalized Pareto tail where they do not, and the C detectors run over resampled streams."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydrift.core.native import check, ffi, lib
from tinydrift.core.monitor import TRIGGER_HEALTH

# Windows of consecutive held-out scores kept together when resampling (keeps short-range correlation).
BLOCK_WINDOWS = 16
# Fewer expected exceedances than this above a rank threshold and the rank is too coarse: fit the tail instead.
MIN_CONFORMAL_EXCEEDANCES = 5
# The tail fit uses the top 10 % of the scores, at least 20 of them (at most half).
TAIL_FRACTION = 0.10
MIN_TAIL_POINTS = 20
# Weight, in exceedances, of the prior that pulls a fitted tail shape toward 0 (exponential).
XI_PRIOR_POINTS = 10
# Fewer exceedances than this and a fitted bounded tail (xi < 0) is not trusted: xi is floored at 0.
TAIL_BOUNDED_MIN_POINTS = 50
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
class TailFit:
    """A generalized Pareto tail above u: P(S > u + y) = p_u * (1 + xi * y / sigma) ** (-1 / xi)."""

    u: float
    p_u: float
    sigma: float
    xi: float
    n_exceed: int

    def quantile(self, rate: float) -> float:
        """x with P(S > x) = rate (rate <= p_u)."""
        ratio = self.p_u / rate
        if abs(self.xi) < 1e-9:
            return self.u + self.sigma * math.log(ratio)
        return self.u + self.sigma / self.xi * (ratio**self.xi - 1.0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws from the tail (values above u)."""
        v = rng.random(n)
        if abs(self.xi) < 1e-9:
            return self.u - self.sigma * np.log1p(-v)
        return self.u + self.sigma / self.xi * ((1.0 - v) ** (-self.xi) - 1.0)


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


def fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """(sigma, xi) of a generalized Pareto distribution fitted to positive excesses.

    Zhang & Stephens (2009, Technometrics 51:316), the posterior-mean estimator over a grid of theta = -xi / sigma:
    defined for every sample (no failed maximum-likelihood iterations), accurate down to a few dozen points.
    """
    x = np.sort(np.asarray(excesses, dtype=np.float64))
    n = len(x)
    if n < 2 or x[-1] <= 0:
        scale = float(x.mean()) if n and x.mean() > 0 else 1.0
        return scale, 0.0
    m = 20 + int(math.sqrt(n))
    quartile = x[max(0, int(n / 4.0 + 0.5) - 1)]
    if quartile <= 0:
        quartile = float(x[x > 0].min())
    j = np.arange(1, m + 1)
    theta = 1.0 / x[-1] + (1.0 - np.sqrt(m / (j - 0.5))) / (3.0 * quartile)
    k = -np.log1p(-theta[:, None] * x[None, :]).mean(axis=1)
    log_lik = n * (np.log(theta / k) + k - 1.0)
    weights = np.exp(log_lik - log_lik.max())
    weights /= weights.sum()
    theta_hat = float((theta * weights).sum())
    k_hat = float(-np.log1p(-theta_hat * x).mean())
    if abs(theta_hat) < 1e-12:
        return float(x.mean()), 0.0
    return k_hat / theta_hat, -k_hat


def fit_tail(scores: np.ndarray) -> TailFit:
    """Generalized Pareto fit of the top scores: the top TAIL_FRACTION, at least MIN_TAIL_POINTS, at most half."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    n_tail = int(min(n // 2, max(MIN_TAIL_POINTS, round(TAIL_FRACTION * n))))
    n_tail = max(n_tail, 1)
    u = float(s[n - n_tail - 1]) if n > n_tail else float(s[0])
    excess = s[n - n_tail:] - u
    excess = excess[excess > 0]
    if excess.size == 0:
        return TailFit(u, n_tail / n, max(1.0, abs(u) * 0.01), 0.0, 0)
    _, xi = fit_gpd(excess)
    # The shape of a few dozen points is uncertain (+-0.3 and more): shrink it toward the exponential tail (0) as a
    # prior worth XI_PRIOR_POINTS exceedances would. A bounded tail (xi < 0) fitted to few points would also put a
    # hard ceiling right above the largest score seen: below TAIL_BOUNDED_MIN_POINTS the fit is no lighter than
    # exponential. The scale then follows from the mean excess, sigma = mean * (1 - xi), so the tail keeps the
    # scores' own mean excess whatever the shape.
    m = excess.size
    xi = xi * m / (m + XI_PRIOR_POINTS)
    if m < TAIL_BOUNDED_MIN_POINTS:
        xi = max(xi, 0.0)
    sigma = float(excess.mean()) * (1.0 - xi)
    return TailFit(u, m / n, max(sigma, 1e-9), xi, int(m))


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
    method = "conformal" if resolves(n, rate) else "tail"
    return Basis(n, method, rate, rate_interval(n, rate), math.ceil(MIN_CONFORMAL_EXCEEDANCES / rate))


def instant_threshold(scores_q8: np.ndarray, rate: float) -> int:
    """Score (Q8) above which a single window is rare enough, P(score > t) <= rate: the conformal rank where the
    scores resolve the rate, else the generalized Pareto tail's quantile (never below the largest score)."""
    s = np.asarray(scores_q8, dtype=np.float64)
    t = conformal_threshold(s, rate) if resolves(len(s), rate) else None
    if t is None:
        t = max(fit_tail(s).quantile(rate), float(s.max()))
    return int(min(UINT32_MAX - 1, math.ceil(t)))


def resample(scores_q8: np.ndarray, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """A stream of n_windows scores: random blocks of consecutive out-of-fold scores, with every score in the top
    tail replaced by a fresh draw from the generalized Pareto fit of that tail.

    The blocks keep the correlation of neighbouring windows (which CUSUM feels); the fitted tail gives values
    beyond the largest score seen, with the frequency the fit says, instead of repeating the few largest ones.
    """
    s = np.asarray(scores_q8, dtype=np.float64)
    idx = block_indices(len(s), n_windows, rng)
    stream = s[idx]
    tail = fit_tail(s)
    in_tail = stream > tail.u
    stream[in_tail] = tail.sample(int(in_tail.sum()), rng)
    return np.ascontiguousarray(np.clip(np.round(stream), 0, UINT32_MAX), dtype=np.uint32)


def calibrate(scores_q8: np.ndarray, rate: float, n_windows: int, seed: int) -> tuple[int, int, int]:
    """(k, h, instant) in Q8 so the detector's alarms per window on a resampled stream of the scores <= rate."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"false-alarm rate must be in (0, 1), got {rate}")
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores_q8, dtype=np.uint32)
    stream = resample(scores, n_windows, rng)
    budget = int(math.floor(rate * len(stream)))
    instant = instant_threshold(scores, rate / 2.0)
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
    value whose size is in the top tail is replaced, sign kept, by a fresh draw from the generalized Pareto fit of
    that feature's |shift| tail, and the rest jittered by a normal with Silverman's bandwidth (a smoothed bootstrap,
    with the same fitted tail as the scores' streams)."""
    n = len(shifts_q8)
    idx = block_indices(n, n_windows, rng)
    values = shifts_q8.astype(np.float64)
    bandwidth = 1.06 * values.std(axis=0) * n ** -0.2
    stream = values[idx] + rng.normal(0.0, 1.0, size=(len(idx), values.shape[1])) * bandwidth
    for f in range(values.shape[1]):
        tail = fit_tail(np.abs(values[:, f]))
        drawn = np.abs(values[idx, f]) > tail.u
        stream[drawn, f] = np.sign(values[idx, f][drawn]) * tail.sample(int(drawn.sum()), rng)
    return np.ascontiguousarray(np.clip(np.round(stream), -32767, 32767), dtype=np.int16)


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
