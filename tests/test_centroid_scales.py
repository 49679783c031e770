"""Centroid scales (tinydrift.build.scales): the empirical-Bayes prior on the clusters' variances.

Oracles: scipy's F density, and variances drawn from a scaled inverse chi-square of known degrees of freedom, whose
maximum-likelihood estimate must come back near the truth; clusters cut from one Gaussian blob must get (nearly)
the pooled scale, and activities of very different spread must keep their own.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tinydrift.build import scales


def test_log_f_density_equals_scipy():
    x = np.array([0.01, 0.3, 1.0, 2.5, 40.0])
    d1 = np.array([1.0, 4.0, 9.0, 30.0, 2.0])
    for d2 in (0.7, 5.0, 120.0):
        assert np.allclose(scales.log_f_density(x, d1, d2), stats.f.logpdf(x, d1, d2), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("nu0", [3.0, 20.0, 200.0])
def test_prior_df_recovers_the_degrees_of_freedom_it_was_drawn_with(nu0):
    rng = np.random.default_rng(int(nu0))
    n_var, dof = 4000, 15.0
    sigma2 = nu0 / rng.chisquare(nu0, n_var)          # scaled inverse chi-square around tau^2 = 1
    s2 = sigma2 * rng.chisquare(dof, n_var) / dof       # sample variances on dof degrees of freedom
    est = scales.prior_df(s2, np.full(n_var, dof))
    assert nu0 / 1.5 < est < nu0 * 1.5


def loop_prior_df(ratios: np.ndarray, dof: np.ndarray) -> tuple[float, np.ndarray]:
    """prior_df as it was before the grid was computed at once (verbatim): log_f_density per grid value, in turn;
    nu0 and the log-likelihoods."""
    r, d = np.asarray(ratios, np.float64), np.asarray(dof, np.float64)
    keep = (d > 0) & (r > 0) & np.isfinite(r)
    r, d = r[keep], d[keep]
    grid = np.exp(np.linspace(np.log(scales.PRIOR_DF_RANGE[0]), np.log(scales.PRIOR_DF_RANGE[1]), scales.PRIOR_DF_GRID))
    loglik = np.array([float(np.sum(scales.log_f_density(r, d, float(g)))) for g in grid])
    return float(grid[int(np.argmax(loglik))]), loglik


def test_prior_df_on_the_whole_grid_has_the_loops_bits():
    """The grid at once (log_f_density_grid) against log_f_density per grid value: every log-likelihood and nu0
    the same bits, on cluster-shaped dof (one value per centroid, repeated over dimensions) and on scattered dof."""
    rng = np.random.default_rng(24)
    for trial in range(40):
        k, dims = int(rng.integers(1, 17)), int(rng.integers(1, 20))
        if trial % 2:
            dof = np.repeat(rng.integers(0, 3000, size=k), dims).astype(np.float64)
        else:
            dof = rng.uniform(0.5, 500.0, size=k * dims)
        ratios = rng.chisquare(np.maximum(dof, 1.0)) / np.maximum(dof, 1.0) * rng.lognormal(0, rng.uniform(0, 2))
        want, want_loglik = loop_prior_df(ratios, dof)
        keep = (dof > 0) & (ratios > 0)
        grid = np.exp(np.linspace(np.log(scales.PRIOR_DF_RANGE[0]), np.log(scales.PRIOR_DF_RANGE[1]),
                                  scales.PRIOR_DF_GRID))
        got_loglik = scales.log_f_density_grid(ratios[keep], dof[keep], grid).sum(axis=1)
        assert np.array_equal(got_loglik, want_loglik), trial
        assert scales.prior_df(ratios, dof) == want, trial


def _clusters(spreads: list[float], n_per: int, dims: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = np.arange(len(spreads))[:, None] * 1000.0 * np.ones((1, dims))
    x = np.concatenate([c + rng.normal(0, s, (n_per, dims)) for c, s in zip(centres, spreads)])
    return x, np.round(centres * 256).astype(np.int32)


def test_equal_spreads_are_pooled_and_different_ones_kept():
    rng = np.random.default_rng(3)
    x, c = _clusters([1.0] * 6, 12, 8, rng)
    _, inv, nu0 = scales.centroid_scales(x, c)
    assert nu0 > 100                                     # spreads differ only by sampling: mostly pooled
    sigma = 65536.0 / inv
    assert (sigma.std(axis=0) / sigma.mean(axis=0)).max() < 0.05   # per dimension, every cluster about the same
    x, c = _clusters([0.2, 0.2, 5.0, 5.0], 12, 8, rng)
    _, inv, nu0 = scales.centroid_scales(x, c)
    assert nu0 <= 1.0                                    # 25x in spread: the prior is worth at most one window
    sigma = 65536.0 / inv
    own = np.array([x[i * 12:(i + 1) * 12].std(axis=0).mean() for i in range(4)])
    assert np.allclose(sigma.mean(axis=1)[2:], own[2:], rtol=0.15)       # the wide clusters keep their spread
    assert sigma.mean(axis=1)[:2].max() < sigma.mean(axis=1)[2:].min() / 5  # the tight ones stay far tighter


def test_no_cluster_with_two_windows_gives_the_pooled_scale():
    x = np.array([[0.0, 0.0], [10.0, 1.0], [20.0, -1.0]])
    c = np.round(x * 256).astype(np.int32)
    _, inv, nu0 = scales.centroid_scales(x, c, dim_floor=0.0)
    assert nu0 == scales.PRIOR_DF_NO_DATA
    assert (inv == inv[0]).all()
