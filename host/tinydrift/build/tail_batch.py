"""The bootstrap refits of the predictive tail (tinydrift.build.tail.predictive_tail) on whole arrays.

predictive_tail fits a generalized Pareto tail to each of its 200 bootstrap resamples; one resample after the other
that was 200 sorts of the whole resample and 200 small fits, about 0.02 s CPU per tail at 1,000 scores (Python calls)
and 1.7 s at 100,000 (sorts). Here a resample's top is found from its largest indices (the scores are sorted, so
the top indices give the top values in order: those above a cutoff, or a partition; O(n), not a sort), and the fits of every resample whose tail has the
same number of exceedances run as one (b, grid, m) computation. Every addition, mean and median is the one
fit_gpd and fit_sorted_tail make, in the same order (numpy reduces each row of a contiguous last axis as it
reduces a 1-D array), so the shapes are the same bits; tests/test_tail_batch.py checks that against the loop.
"""

from __future__ import annotations

import math

import numpy as np

# Values per block of resamples (indices, and grid x exceedances of the fit): 4 MiB of int64 or float64.
BLOCK_VALUES = 1 << 19


def resample_tops(s: np.ndarray, lo: int, refits: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the sorted values at ranks lo..n-1 of refits bootstrap resamples of the sorted scores s, drawn as
    np.sort(s[rng.integers(0, n, size=n)]) one resample after the other (the same draws).

    s is sorted, so a resample's top values are those of its largest indices: a block of resamples' indices is
    partitioned at rank lo and only the top is sorted (measured against a sort, or a bincount and repeat of the
    indices, of 20 resamples of 100,000: 24 ms, against 88 and 49)."""
    n = len(s)
    out = np.empty((refits, n - lo))
    step = max(1, BLOCK_VALUES // max(n, 1))
    for start in range(0, refits, step):
        block = np.empty((min(step, refits - start), n), np.int64)
        for row in block:
            row[:] = rng.integers(0, n, size=n)
        out[start : start + len(block)] = s[_top_sorted(block, lo)]
    return out


def _top_sorted(block: np.ndarray, lo: int) -> np.ndarray:
    """Each row's values at ranks lo..n-1, sorted: those at or above a cutoff that about (n - lo) + 8 sd + 16 of
    n uniform indices pass are the top ones whenever at least n - lo pass (checked; else the row is partitioned),
    and picking them is cheaper than a partition (5 rows of 100,000: 1.5 ms against 6.2 ms)."""
    n = block.shape[1]
    keep = n - lo
    want = keep + 8.0 * math.sqrt(keep) + 16.0
    if lo == 0 or want >= 0.5 * n:
        top = np.partition(block, lo, axis=1)[:, lo:] if lo else block
        top.sort(axis=1)
        return top
    cutoff = n - int(want)
    top = np.empty((len(block), keep), np.int64)
    for row, dest in zip(block, top):
        picked = row[row >= cutoff]
        if len(picked) < keep:  # too few above the cutoff (about 1e-15 per row): the partition
            picked = np.partition(row, lo)[lo:]
        picked.sort()
        dest[:] = picked[len(picked) - keep:]
    return top


def gpd_shapes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fit_gpd's xi (= -k_hat) for each row of x (b, m), rows sorted ascending, positive, m >= 2; and whether the
    row took fit_gpd's main path (False: a non-finite likelihood or theta_hat ~ 0, which fit_gpd answers
    otherwise: recompute those rows with it)."""
    b, n = x.shape
    m = 20 + int(math.sqrt(n))
    quartile = x[:, max(0, int(n / 4.0 + 0.5) - 1)]
    j = np.arange(1, m + 1)
    theta = (1.0 / x[:, -1])[:, None] + (1.0 - np.sqrt(m / (j - 0.5)))[None, :] / (3.0 * quartile)[:, None]
    k = np.empty((b, m))
    step = max(1, BLOCK_VALUES // (m * n))
    for start in range(0, b, step):
        rows = slice(start, start + step)
        terms = np.multiply(-theta[rows, :, None], x[rows, None, :])
        np.log1p(terms, out=terms)  # in place: one (b, grid, m) array, not two
        k[rows] = -terms.mean(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lik = n * (np.log(theta / k) + k - 1.0)
    log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
    best = log_lik.max(axis=1)
    ok = np.isfinite(best)
    with np.errstate(invalid="ignore"):
        weights = np.exp(log_lik - np.where(ok, best, 0.0)[:, None])
        weights /= weights.sum(axis=1)[:, None]
    theta_hat = (theta * weights).sum(axis=1)
    theta_hat = np.where(ok, theta_hat, 1.0)
    k_hat = -np.log1p(-theta_hat[:, None] * x).mean(axis=1)
    ok &= np.abs(theta_hat) >= 1e-12
    return -k_hat, ok
