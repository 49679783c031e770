"""The tail of out-of-fold scores (tinydrift.build.tail) against independent oracles.

- the median-matched scale: the fitted tail's median excess equals the scores' own, for shapes at and above 1
  (where a mean-matched scale collapses the tail onto its threshold);
- the predictive tail: P(fresh > the largest of n) = 1 / (n + 1) exactly (exchangeability), below the largest the
  conformal rank (a float64 count written here), and thresholds whose *expected* rate over training draws is at
  the target on scores of known distribution (true exceedance in closed form: exponential, generalized Pareto).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinydrift.build.tail import fit_tail, median_scale, predictive_tail


def gpd_draws(rng: np.random.Generator, n: int, xi: float, sigma: float = 1.0) -> np.ndarray:
    u = rng.random(n)
    return -sigma * np.log1p(-u) if xi == 0 else sigma / xi * ((1 - u) ** (-xi) - 1)


def gpd_sf(x: float, xi: float, sigma: float = 1.0) -> float:
    return math.exp(-x / sigma) if xi == 0 else (1 + xi * x / sigma) ** (-1 / xi)


@pytest.mark.parametrize("xi", [0.0, 0.5, 1.0, 1.5])
def test_median_scale_gives_the_gpd_median(xi: float) -> None:
    """The GPD median is sigma (2^xi - 1) / xi (ln 2 sigma at 0): median_scale inverts it."""
    sigma = median_scale(3.0, xi)
    median = sigma * math.log(2) if xi == 0 else sigma * (2**xi - 1) / xi
    assert median == pytest.approx(3.0, rel=1e-12)


def test_heavy_tail_keeps_its_spread() -> None:
    """200 scores of shape 2 (infinite mean): the shape shrunk toward 0 is still above 1, where a scale from the mean
    excess, mean (1 - xi), went negative and was clamped to 1e-9 (the tail sat on its threshold: the 1e-4 quantile
    was 32 with the largest score at 527,000). The median-matched scale keeps the spread: the 1e-4 quantile lies
    beyond 3x the largest of the 200 scores (the truth, (1e-4 ** -2 - 1) / 2 = 5e7, lies beyond that too)."""
    x = gpd_draws(np.random.default_rng(1), 200, 2.0)
    fit = fit_tail(x)
    assert fit.xi > 1.0
    assert fit.sigma > 0.1 * float(np.median(x))
    assert 3 * float(x.max()) < fit.quantile(1e-4) < (1e-4 ** -2.0 - 1) / 2.0


def test_predictive_tail_puts_one_over_n_plus_one_beyond_the_largest() -> None:
    x = np.random.default_rng(2).exponential(1.0, 99)
    tail = predictive_tail(x, seed=0)
    assert tail.exceedance(float(x.max())) == pytest.approx(1 / 100)
    ranked = np.sort(x)
    for j in (1, 2, 5, 30):  # at the j-th largest score: j / (n + 1)
        assert tail.exceedance(float(ranked[-j])) == pytest.approx(j / 100)


@pytest.mark.parametrize("rate", [0.5, 0.2, 0.05, 0.011, 0.01])
def test_predictive_quantile_is_the_conformal_rank_where_the_ranks_reach(rate: float) -> None:
    """For rate >= 1 / (n + 1): the smallest score t with #{s >= t} <= (n + 1) rate, counted in float64 here."""
    x = np.random.default_rng(3).gamma(2.0, 1.0, 99)
    allowed = (len(x) + 1) * rate
    reference = min(float(t) for t in x if np.count_nonzero(x > t) + 1 <= allowed + 1e-9)
    assert predictive_tail(x).quantile(rate) == reference


@pytest.mark.parametrize("dist,n,rate,low,high", [
    ("exponential", 100, 1e-3, 0.4, 1.1),
    ("exponential", 300, 1e-3, 0.6, 1.1),
    ("gpd 0.3", 300, 1e-3, 0.6, 2.0),
    ("exponential", 30, 1e-2, 0.6, 1.2),
    ("gpd 0.3", 100, 1e-2, 0.6, 1.5),
])
def test_predictive_threshold_holds_the_expected_rate(dist: str, n: int, rate: float, low: float,
                                                      high: float) -> None:
    """Over 150 training draws of n scores, the mean true exceedance probability of the predictive threshold (closed
    form) is near the target: the expected false-alarm rate of a threshold set from so few scores. Measured, in the
    order of the cases: 0.80, 0.95, 1.63, 0.75, 1.03 (the point fit, floored at the largest score: 1.15, 0.79, 1.91,
    0.88, 0.91; its heavy-tail case is the one the predictive tail brings down)."""
    xi = 0.0 if dist == "exponential" else 0.3
    rates = []
    for seed in range(150):
        x = gpd_draws(np.random.default_rng(seed), n, xi)
        rates.append(gpd_sf(predictive_tail(x, seed).quantile(rate), xi))
    expected = float(np.mean(rates)) / rate
    assert low <= expected <= high, expected
