"""Fitting the reference embedding: the PCA projection (quantized to int8 as the device stores it) and the
k-means centres of the embedded training windows."""

from __future__ import annotations

import math

import numpy as np

from tinydrift.core.errors import InputError
from tinydrift.core.native import lib


def quantize_projection(components: np.ndarray) -> tuple[np.ndarray, int]:
    """int8 matrix and shift with components ~ P / 2^shift, using as many bits as int8 allows."""
    peak = float(np.abs(components).max())
    shift = 15 if peak == 0 else int(min(15, math.floor(math.log2(127.49 / peak))))
    shift = max(shift, 0)
    return np.clip(np.round(components * 2.0**shift), -127, 127).astype(np.int8), shift


def pca(z: np.ndarray, n_dims: int | None, explained_variance: float) -> np.ndarray:
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
    for _ in range(iterations):
        labels = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        new = np.array([points[labels == j].mean(axis=0) if np.any(labels == j) else c[j] for j in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    return c
