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


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns at most k distinct centres."""
    n = len(points)
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    while len(centres) < k and d2.sum() > 0:
        centres.append(points[rng.choice(n, p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres)
    columns = np.ascontiguousarray(np.asarray(points).T)  # (d, n): one contiguous row per dimension
    for _ in range(iterations):
        labels = _nearest(_square_distances(columns, c))
        new = _cluster_means(points, columns, labels, c)
        if np.all(np.abs(new - c) <= _ATOL + _RTOL * np.abs(c)):  # np.allclose(new, c) on finite values
            break
        c = new
    return c


_RTOL, _ATOL = 1e-05, 1e-08  # np.allclose's defaults


def _square_distances(columns: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(k, n) transposed ((points[:, None, :] - c[None]) ** 2).sum(axis=2), bit for bit; columns = points.T.

    numpy sums a contiguous axis of fewer than 8 terms in order, and of 8 to 128 terms in 8 running sums (terms
    j, j + 8, ...) combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) before the rest is added in order;
    the same additions on whole (k, n) planes give the same sums without numpy's many short reductions. Points
    go in blocks of at most _BLOCK_VALUES differences, so memory stays O(k n), not O(d k n).
    """
    m, n = columns.shape
    if m > 128:  # numpy splits longer sums in halves; not a case of this project (TD_MAX_DIMS <= 64)
        points = columns.T
        return ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).T
    total = np.empty((len(c), n))
    centres = c.T[:, :, None]
    step = max(1, _BLOCK_VALUES // (m * len(c)))
    for start in range(0, n, step):
        terms = columns[:, None, start : start + step] - centres  # (d, k, block): plane j is dimension j
        np.square(terms, out=terms)
        out = total[:, start : start + step]
        if m < 8:
            np.copyto(out, terms[0])
            for t in terms[1:]:
                out += t
            continue
        r = terms[:8]  # views: the running sums accumulate in place
        i = 8
        while i < m - m % 8:
            r += terms[i : i + 8]
            i += 8
        np.add(r[0] + r[1], r[2] + r[3], out=out)
        out += (r[4] + r[5]) + (r[6] + r[7])
        for t in terms[i:]:
            out += t
    return total


_BLOCK_VALUES = 1 << 18  # differences per block of points: 2 MiB of float64


def _nearest(dist: np.ndarray) -> np.ndarray:
    """dist.argmin(axis=0) of a (k, n) array (the first of equal minima), one comparison per centre."""
    labels = np.zeros(dist.shape[1], np.intp)
    best = dist[0].copy()
    for j in range(1, len(dist)):
        closer = dist[j] < best
        labels[closer] = j
        np.minimum(best, dist[j], out=best)
    return labels


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
