"""Per-centroid scales of the mixture score: each cluster's spread per dimension, shrunk toward the pooled spread by
an amount the data choose (empirical Bayes), and the Gaussian log-normaliser offsets that go with them.

A cluster's mean square around its centroid in one dimension, s^2 on d = n_k - 1 degrees of freedom, scatters
around its true variance sigma^2 as sigma^2 chi2_d / d. Taking the clusters' variances themselves to scatter around
the pooled one, tau^2, as a scaled inverse chi-square with nu0 degrees of freedom (the conjugate prior), the ratio
s^2 / tau^2 follows an F(d, nu0) law. nu0 is fitted by maximum likelihood over every cluster and dimension
(Smyth 2004, limma's variance moderation), and each variance becomes its posterior value

    sigma~^2 = (d s^2 + nu0 tau^2) / (d + nu0).

Clusters whose spreads differ no more than sampling explains get a large nu0 (mostly pooled); activities of
genuinely different spread (a still one, a busy one) get a small nu0 and keep their own scales. A fixed prior worth
one window per dimension shrank BasicMotions' few wide badminton clusters toward the tight walking and standing ones,
so fresh badminton windows went to those instead (10 of 100 test windows against 1 of 100 training ones), and the
occupancy test's view of a prior shift to badminton blurred.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Smallest per-centroid scale, in standardized units: a cluster that happens to sit still in one dimension
# must not turn every later wiggle there into an alarm.
MIN_CENTROID_SCALE = 0.05
# Weight of the Gaussian log-normaliser in a centroid's offset. The full normaliser (1.0) let tight
# clusters claim windows too eagerly on the bundled benchmark; half of it detected more (docs/benchmarks.md).
OFFSET_WEIGHT = 0.5
MAX_CENTROID_OFFSET_Q8 = 1 << 24
MAX_CENTROID_INV_SCALE_Q16 = 1 << 24
# Range searched for the prior's degrees of freedom nu0 (log-spaced grid); at the top the scales are the pooled ones.
PRIOR_DF_RANGE = (0.5, 1.0e4)
PRIOR_DF_GRID = 400
# Used when no cluster has two windows (nothing to fit): every scale is the pooled one.
PRIOR_DF_NO_DATA = PRIOR_DF_RANGE[1]


def _lgamma(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.lgamma, otypes=[np.float64])(x)


def log_f_density(x: np.ndarray, d1: np.ndarray, d2: float) -> np.ndarray:
    """log of the F(d1, d2) density at x > 0 (float64)."""
    x = np.asarray(x, np.float64)
    d1 = np.asarray(d1, np.float64)
    log_beta = _lgamma(d1 / 2) + math.lgamma(d2 / 2) - _lgamma((d1 + d2) / 2)
    return (0.5 * d1 * np.log(d1 / d2) + (0.5 * d1 - 1.0) * np.log(x)
            - 0.5 * (d1 + d2) * np.log1p(d1 * x / d2) - log_beta)


def prior_df(ratios: np.ndarray, dof: np.ndarray) -> float:
    """Maximum-likelihood nu0 of variance ratios s^2 / tau^2 with dof degrees of freedom each, under F(dof, nu0)
    (searched on a log grid over PRIOR_DF_RANGE); PRIOR_DF_NO_DATA without ratios."""
    r = np.asarray(ratios, np.float64)
    d = np.asarray(dof, np.float64)
    keep = (d > 0) & (r > 0) & np.isfinite(r)
    if not keep.any():
        return PRIOR_DF_NO_DATA
    r, d = r[keep], d[keep]
    grid, lgamma_half = _prior_grid()
    loglik = log_f_density_grid(r, d, grid, lgamma_half).sum(axis=1)
    return float(grid[int(np.argmax(loglik))])


@functools.lru_cache(maxsize=1)
def _prior_grid() -> tuple[np.ndarray, np.ndarray]:
    """prior_df's grid of nu0 and the log-gamma of half of each (constants: computed once, not once per fit)."""
    grid = np.exp(np.linspace(math.log(PRIOR_DF_RANGE[0]), math.log(PRIOR_DF_RANGE[1]), PRIOR_DF_GRID))
    grid.flags.writeable = False
    lgamma_half = np.array([math.lgamma(v / 2) for v in grid.tolist()])
    lgamma_half.flags.writeable = False
    return grid, lgamma_half


def log_f_density_grid(x: np.ndarray, d1: np.ndarray, d2: np.ndarray,
                       lgamma_half_d2: np.ndarray | None = None) -> np.ndarray:
    """log_f_density(x, d1, g) for every g of d2 at once, one row each (len(d2), len(x)): the same operations on the
    same values, element by element, so each row has log_f_density's bits; the log-gamma of d1 / 2 and (d1 + g) / 2
    is computed once per distinct d1 (a centroid's windows give every dimension the same d1), not once per element,
    and that of g / 2 is lgamma_half_d2 when given (math.lgamma of each, as computed here without it)."""
    x = np.asarray(x, np.float64)
    d1 = np.asarray(d1, np.float64)
    g = np.asarray(d2, np.float64)[:, None]
    distinct, which = np.unique(d1, return_inverse=True)
    which = which.ravel()
    if lgamma_half_d2 is None:
        lgamma_half_d2 = np.array([math.lgamma(v / 2) for v in g[:, 0].tolist()])
    lgamma_d2 = np.asarray(lgamma_half_d2, np.float64)[:, None]
    log_beta = _lgamma(distinct / 2)[which][None, :] + lgamma_d2 - _lgamma((distinct[None, :] + g) / 2)[:, which]
    return (0.5 * d1 * np.log(d1 / g) + (0.5 * d1 - 1.0) * np.log(x)
            - 0.5 * (d1 + g) * np.log1p(d1 * x / g) - log_beta)


def centroid_scales(embeddings: np.ndarray, centroids_q8: np.ndarray,
                    dim_floor: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Per centroid: score offset (Q8), per-dimension inverse scales (Q16) of a diagonal Gaussian mixture, and the
    fitted prior degrees of freedom nu0.

    Each fitting window belongs to its nearest centroid; a centroid's variance in a dimension is the mean square of
    its windows around it there, moderated toward the pooled variance (module docstring), and floored at
    MIN_CENTROID_SCALE and dim_floor (the quantization resolution). The offset is OFFSET_WEIGHT times the Gaussian
    log-normaliser sum(ln sigma^2) relative to the tightest centroid, so a window must be far from a wide cluster, in
    its own scale, before a tight one wins."""
    centres = centroids_q8.astype(np.float64) / 256.0
    labels = ((embeddings[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    pooled_var = ((embeddings - centres[labels]) ** 2).mean(axis=0)
    n_k = np.bincount(labels, minlength=len(centres)).astype(np.float64)
    sum_sq = np.zeros_like(centres)
    np.add.at(sum_sq, labels, (embeddings - centres[labels]) ** 2)
    dof = np.maximum(n_k - 1.0, 0.0)[:, None] * np.ones_like(centres)
    fit = (dof > 0) & (pooled_var[None, :] > 0)
    ratios = np.where(fit, sum_sq / np.maximum(dof, 1.0) / np.where(pooled_var > 0, pooled_var, 1.0)[None, :], 0.0)
    nu0 = prior_df(ratios[fit], dof[fit])
    sigma = np.sqrt((sum_sq + nu0 * pooled_var[None, :]) / (dof + nu0))
    sigma = np.maximum(sigma, np.maximum(MIN_CENTROID_SCALE, dim_floor))
    log_norm = OFFSET_WEIGHT * np.log(sigma**2).sum(axis=1)
    offset_q8 = np.clip(np.round((log_norm - log_norm.min()) * 256.0), 0, MAX_CENTROID_OFFSET_Q8).astype(np.uint32)
    inv_scale_q16 = np.clip(np.round(65536.0 / sigma), 1, MAX_CENTROID_INV_SCALE_Q16).astype(np.uint32)
    return offset_q8, inv_scale_q16, nu0
