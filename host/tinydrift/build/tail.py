"""Tails of out-of-fold scores: a generalized Pareto fit of the top scores, and the predictive tail built on it.

The point fit (fit_tail) reads the 1e-3 quantile of 100 scores off a curve fitted to the top 20 of them. Two
things make the rate a threshold set from it really gives on fresh data higher than the target: the fitted curve
often puts less mass above the largest score than the 1 / (n + 1) that exchangeability alone guarantees a fresh
score has there, and its shape is uncertain by +-0.3 and more. The predictive tail (PredictiveTail) keeps the
scores' own ranks up to the largest, puts exactly 1 / (n + 1) beyond it, and spreads that mass by the fitted tail
averaged over bootstrap refits, so a threshold where it equals the target has an expected rate at the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydrift.build import tail_batch

# The tail fit uses the top 10 % of the scores, at least 20 of them (at most half).
TAIL_FRACTION = 0.10
MIN_TAIL_POINTS = 20
# Weight, in exceedances, of the prior that pulls a fitted tail shape toward 0 (exponential).
XI_PRIOR_POINTS = 10
# Fewer exceedances than this and a fitted bounded tail (xi < 0) is not trusted: xi is floored at 0.
TAIL_BOUNDED_MIN_POINTS = 50
# Bootstrap refits averaged by the predictive tail, each shrunk like the point fit: unshrunk, the refits of 40
# held-out scores of tests/test_model_profile.py reached shapes above 1 and put the instant threshold at 27,951
# (median score 6.4; an unseen class then triggered 22/50 windows, 44/50 shrunk), for an expected rate of the 1e-3
# threshold of 100 lognormal scores of 1.7x the target against 2.0-2.3x shrunk (100 draws).
PREDICTIVE_REFITS = 200
REFIT_PRIOR_POINTS = XI_PRIOR_POINTS


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

    def exceedance(self, x: float) -> float:
        """P(S > x) for x >= u."""
        y = max(x - self.u, 0.0)
        if abs(self.xi) < 1e-9:
            return self.p_u * math.exp(-y / self.sigma)
        base = 1.0 + self.xi * y / self.sigma
        return 0.0 if base <= 0.0 else self.p_u * base ** (-1.0 / self.xi)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws from the tail (values above u)."""
        v = rng.random(n)
        if abs(self.xi) < 1e-9:
            return self.u - self.sigma * np.log1p(-v)
        return self.u + self.sigma / self.xi * ((1.0 - v) ** (-self.xi) - 1.0)


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
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lik = n * (np.log(theta / k) + k - 1.0)
    log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
    if not np.isfinite(log_lik.max()):
        return float(x.mean()), 0.0
    weights = np.exp(log_lik - log_lik.max())
    weights /= weights.sum()
    theta_hat = float((theta * weights).sum())
    k_hat = float(-np.log1p(-theta_hat * x).mean())
    if abs(theta_hat) < 1e-12:
        return float(x.mean()), 0.0
    return k_hat / theta_hat, -k_hat


def median_scale(median_excess: float, xi: float) -> float:
    """The generalized Pareto scale sigma whose median is median_excess at shape xi."""
    if abs(xi) < 1e-9:
        return median_excess / math.log(2.0)
    return median_excess * xi / (2.0**xi - 1.0)


def fit_sorted_tail(s: np.ndarray, prior_points: float = XI_PRIOR_POINTS) -> TailFit:
    """fit_tail of scores already sorted ascending (float64), the shape shrunk by a prior worth prior_points."""
    n = len(s)
    n_tail = max(int(min(n // 2, max(MIN_TAIL_POINTS, round(TAIL_FRACTION * n)))), 1)
    u = float(s[n - n_tail - 1]) if n > n_tail else float(s[0])
    excess = s[n - n_tail:] - u
    excess = excess[excess > 0]
    if excess.size == 0:
        return TailFit(u, n_tail / n, max(1.0, abs(u) * 0.01), 0.0, 0)
    _, xi = fit_gpd(excess)
    return _shrunk_fit(u, excess.size, float(np.median(excess)), xi, n, prior_points)


def _shrunk_fit(u: float, m: int, median: float, xi: float, n: int, prior_points: float) -> TailFit:
    """The TailFit of m positive excesses over u (of n scores), their median and fitted shape xi, the shape shrunk
    by the prior."""
    # The shape of a few dozen points is uncertain (+-0.3 and more): shrink it toward the exponential tail (0) as a
    # prior worth prior_points exceedances would. A bounded tail (xi < 0) fitted to few points would also put a hard
    # ceiling right above the largest score seen: below TAIL_BOUNDED_MIN_POINTS the fit is no lighter than
    # exponential. The scale then follows from the median excess, sigma = median * xi / (2^xi - 1) (ln 2 at xi = 0),
    # so the tail keeps the scores' own median excess whatever the shape; the median exists for every shape, where
    # the mean (sigma = mean (1 - xi)) does not for xi >= 1 and would collapse the tail onto u.
    xi = xi * m / (m + prior_points)
    if m < TAIL_BOUNDED_MIN_POINTS:
        xi = max(xi, 0.0)
    return TailFit(u, m / n, max(median_scale(median, xi), 1e-9), xi, int(m))


def fit_tail(scores: np.ndarray) -> TailFit:
    """Generalized Pareto fit of the top scores: the top TAIL_FRACTION, at least MIN_TAIL_POINTS, at most half."""
    return fit_sorted_tail(np.sort(np.asarray(scores, dtype=np.float64)))


@dataclass(frozen=True)
class PredictiveTail:
    """The predictive distribution of a fresh score: the scores' own ranks up to the largest, a fitted tail beyond.

    Up to the largest score x_(n), P(S > x) = (#{scores > x} + 1) / (n + 1), the conformal predictive distribution: a
    fresh exchangeable score exceeds the j-th largest with probability j / (n + 1), whatever the distribution. Beyond it
    the mass 1 / (n + 1) is spread by the generalized Pareto tail above x_(n) (a GPD's excesses over a higher
    threshold are GPD with the same shape and scale sigma + xi (x_(n) - u)), averaged over bootstrap refits:

        P(S > x) = 1 / (n + 1) * mean_b (1 + xi_b (x - x_(n)) / sigma_b) ** (-1 / xi_b),   x >= x_(n).

    A point fit read at the largest score often claims a mass there well below 1 / (n + 1) (it was fitted to the
    top scores and treats the gap above them as empty); anchored, a threshold set where this equals the target has
    an expected rate at the target down to the largest score by exchangeability alone, and beyond it as far as the
    tail's shape (with its uncertainty) holds."""

    scores: np.ndarray  # sorted ascending, float64
    sigma: np.ndarray  # per refit: scale and shape of the excesses over the largest score
    xi: np.ndarray

    @property
    def beyond(self) -> float:
        """P(fresh score > the largest score) = 1 / (n + 1)."""
        return 1.0 / (len(self.scores) + 1)

    def survival(self, y: float) -> float:
        """P(S > x_(n) + y | S > x_(n)), y >= 0, averaged over the refits."""
        flat = np.abs(self.xi) < 1e-9
        safe_xi = np.where(flat, 1.0, self.xi)
        base = 1.0 + self.xi * y / self.sigma
        gpd = np.where(flat, np.exp(-y / self.sigma),
                       np.where(base > 0.0, np.maximum(base, 1e-300) ** (-1.0 / safe_xi), 0.0))
        return float(gpd.mean())

    def exceedance(self, x: float) -> float:
        """P(fresh score > x)."""
        n = len(self.scores)
        top = float(self.scores[-1])
        if x < top:  # at or above the j-th largest score with probability j / (n + 1)
            return float(n - np.searchsorted(self.scores, x, side="right") + 1) / (n + 1)
        return self.beyond * self.survival(x - top)

    def quantile(self, rate: float) -> float:
        """The smallest x with exceedance(x) <= rate: a score where rate >= 1 / (n + 1), else beyond the largest
        (bisection: the survival falls as y grows)."""
        n = len(self.scores)
        if rate >= self.beyond:  # the conformal rank: ceil((n + 1)(1 - rate)) = n + 1 - floor((n + 1) rate)
            above = int(math.floor(rate * (n + 1) + 1e-9))
            return float(self.scores[max(n - above, 0)])
        target = rate / self.beyond
        lo, hi = 0.0, float(np.max(self.sigma))
        while self.survival(hi) > target:
            lo, hi = hi, 2.0 * hi
            if hi > 1e30:
                return float(self.scores[-1]) + hi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.survival(mid) > target:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-6 * max(1.0, hi):
                break
        return float(self.scores[-1]) + hi

    def sample_beyond(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws above the largest score, each from a random refit's tail beyond it."""
        b = rng.integers(0, len(self.sigma), size=n)
        scale, xb = self.sigma[b], self.xi[b]
        v = rng.random(n)
        flat = np.abs(xb) < 1e-9
        safe_xi = np.where(flat, 1.0, xb)
        draws = np.where(flat, -scale * np.log1p(-v), scale / safe_xi * ((1.0 - v) ** (-safe_xi) - 1.0))
        return float(self.scores[-1]) + draws


def predictive_tail(scores: np.ndarray, seed: int = 0, refits: int = PREDICTIVE_REFITS) -> PredictiveTail:
    """The predictive tail of scores (see PredictiveTail): fit_tail on refits bootstrap resamples (seeded), each
    carried to the largest score. The resamples' tops and their fits run on whole arrays (tinydrift.build.tail_batch),
    the same bits as fit_sorted_tail on each resample in turn."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    top = float(s[-1])
    rng = np.random.default_rng(seed)
    n_tail = max(int(min(n // 2, max(MIN_TAIL_POINTS, round(TAIL_FRACTION * n)))), 1)
    if n <= n_tail:  # a single score: no top to fit apart from it
        fits = [fit_sorted_tail(np.sort(s[rng.integers(0, n, size=n)]), prior_points=REFIT_PRIOR_POINTS)
                for _ in range(refits)]
        return PredictiveTail(s, np.array([max(f.sigma + f.xi * max(top - f.u, 0.0), 1e-9) for f in fits]),
                              np.array([f.xi for f in fits]))
    tops = tail_batch.resample_tops(s, n - n_tail - 1, refits, rng)  # per resample: u, then its n_tail top scores
    u = tops[:, 0].copy()
    excess = tops[:, 1:] - u[:, None]
    counts = np.count_nonzero(excess > 0, axis=1)  # rows ascend: the positive excesses are each row's last ones
    shapes, medians = np.zeros(refits), np.zeros(refits)
    ok = np.zeros(refits, bool)
    for m in np.unique(counts[counts >= 2]):
        rows = np.flatnonzero(counts == m)
        x = np.ascontiguousarray(excess[rows, n_tail - m:])
        shapes[rows], ok[rows] = tail_batch.gpd_shapes(x)
        medians[rows] = tail_batch.sorted_medians(x)
    # _shrunk_fit's steps on every fitted refit at once (the same operations in the same order, so the same bits;
    # 2^xi by Python's float power, as median_scale takes it)
    xi = shapes * counts / (counts + REFIT_PRIOR_POINTS)
    few = counts < TAIL_BOUNDED_MIN_POINTS
    xi[few] = np.maximum(xi[few], 0.0)
    flat = np.abs(xi) < 1e-9
    growth = np.array([2.0**x if fitted else 2.0 for x, fitted in zip(xi.tolist(), ok.tolist())]) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.maximum(np.where(flat, medians / math.log(2.0), medians * xi / growth), 1e-9)
    for r in np.flatnonzero(~ok).tolist():  # fit_gpd's other paths (fewer than 2 exceedances, a flat likelihood)
        fit = fit_sorted_tail(np.concatenate([np.full(n - n_tail - 1, -np.inf), tops[r]]),
                              prior_points=REFIT_PRIOR_POINTS)
        xi[r], scale[r], u[r] = fit.xi, fit.sigma, fit.u
    sigma = np.maximum(scale + xi * np.maximum(top - u, 0.0), 1e-9)
    return PredictiveTail(s, sigma, xi)
