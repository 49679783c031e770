"""Fitting the reference embedding: the PCA projection (quantized to int8 as the device stores it) and the
k-means centres of the embedded training windows."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from tinydrift.core.errors import InputError
from tinydrift.core.native import lib


def quantize_projection(components: np.ndarray) -> tuple[np.ndarray, int]:
    """int8 matrix and shift with components ~ P / 2^shift, using as many bits as int8 allows."""
    peak = float(np.abs(components).max())
    shift = 15 if peak == 0 else int(min(15, math.floor(math.log2(127.49 / peak))))
    shift = max(shift, 0)
    return np.clip(np.round(components * 2.0**shift), -127, 127).astype(np.int8), shift


@lru_cache(maxsize=1)
def _blas() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, found once (about 1 ms; imported on first use)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def pca(z: np.ndarray, n_dims: int | None, explained_variance: float) -> np.ndarray:
    # One BLAS thread: a windows x features SVD is too small to share, and a second thread waiting for a core on
    # a busy machine made it 0.3 ms -> up to 90 ms (measured); the same bits either way.
    with _blas().limit(limits=1, user_api="blas"):
        _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    energy = s**2
    total = energy.sum()
    limit = min(lib.TD_MAX_DIMS, vt.shape[0])
    if n_dims is None:
        if total == 0:
            n_dims = 1
        else:
            n_dims = int(np.searchsorted(np.cumsum(energy) / total, explained_variance) + 1)
    if not 1 <= n_dims <= limit:
        raise InputError(f"dims must be between 1 and {limit} for this data, got {n_dims}")
    vt = vt[:n_dims]
    # SVD signs are arbitrary; fix them so the same data always gives the same profile bytes.
    signs = np.sign(vt[np.arange(n_dims), np.abs(vt).argmax(axis=1)])
    return vt * signs[:, None]


# Lloyd's iterations stop when an iteration lowers the inertia (the summed squared distance of the points to their
# nearest centre) by less than this share of it, or moves no point, and after KMEANS_ITERATIONS at the latest.
KMEANS_TOL = 1e-4
KMEANS_ITERATIONS = 100


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = KMEANS_ITERATIONS,
           tol: float = KMEANS_TOL) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns at most k distinct centres.

    Iterations stop when no point changes cluster or the inertia falls by at most tol of itself. On structureless
    data (i.i.d. Gaussian windows) Lloyd's crawls to any cap; this stops it after 10-50 iterations with the inertia
    within 0.6 % of 100 iterations' (tests/test_build_speed.py: against a float64 loop run to the cap).
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    while len(centres) < k and d2.sum() > 0:
        centres.append(points[rng.choice(n, p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres)
    origin = points.mean(axis=0)  # distances from centred points: no cancellation far from the origin
    columns = np.ascontiguousarray((points - origin).T)  # (d, n): one contiguous row per dimension
    raw_columns = np.ascontiguousarray(points.T)
    norms = float((columns * columns).sum())
    labels: np.ndarray | None = None
    inertia = np.inf
    with _blas().limit(limits=1, user_api="blas"):  # a (k, d) x (d, n) product: one thread is enough
        for _ in range(iterations):
            centred = c - origin
            dist = (-2.0 * centred) @ columns  # |x - c|^2 - |x|^2, (k, n)
            dist += (centred * centred).sum(axis=1)[:, None]
            new_labels, nearest = _nearest(dist)
            new_inertia = max(float(nearest.sum()) + norms, 0.0)
            if labels is not None and (np.array_equal(new_labels, labels) or inertia - new_inertia <= tol * inertia):
                break
            labels, inertia = new_labels, new_inertia
            c = _cluster_means(points, raw_columns, labels, c)
    return c


def _nearest(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dist.argmin(axis=0) of a (k, n) array (the first of equal minima) and the minima, one comparison per centre."""
    labels = np.zeros(dist.shape[1], np.intp)
    best = dist[0].copy()
    for j in range(1, len(dist)):
        closer = dist[j] < best
        labels[closer] = j
        np.minimum(best, dist[j], out=best)
    return labels, best


def _cluster_means(points: np.ndarray, columns: np.ndarray, labels: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Mean of each cluster's points (c[j] for an empty cluster j), equal to points[labels == j].mean(axis=0).

    numpy sums the rows of a 2-D array one after the other, in order, as bincount does per cluster;
    one column is summed pairwise instead, so one-dimensional points keep numpy's mean per cluster.
    """
    k, d = c.shape
    if d == 1:
        return np.array([points[labels == j].mean(axis=0) if np.any(labels == j) else c[j] for j in range(k)])
    counts = np.bincount(labels, minlength=k)
    sums = np.empty((k, d))
    for j, column in enumerate(columns):  # one pass per dimension: no (d, n) array of cluster indices
        sums[:, j] = np.bincount(labels, weights=column, minlength=k)
    present = counts > 0
    new = c.copy()
    new[present] = sums[present] / counts[present, None]
    return new
