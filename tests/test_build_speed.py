"""The vectorised k-means and occupancy statistic give what the loops they replaced gave, down to the profile bytes.

Oracles: the previous implementations, kept here verbatim (``loop_kmeans``: a Python mean per centroid;
``matrix_statistic``: an n x k matrix of cumulative one-hot counts), and build_profile run with them patched in.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.build import builder, embedding_fit, occupancy
from tinydrift.build.embedding_fit import kmeans
from tinydrift.build.occupancy import n_log2_n_q8, statistic

ROOT = Path(__file__).resolve().parents[1]


def loop_kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 100) -> np.ndarray:
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


def matrix_statistic(nearest: np.ndarray, cost_q8: np.ndarray, n_windows: int) -> np.ndarray:
    idx = np.asarray(nearest, dtype=np.int64)
    k = len(cost_q8)
    if len(idx) == 0:
        return np.zeros(0, np.int64)
    onehot = np.zeros((len(idx) + 1, k), np.int64)
    onehot[np.arange(1, len(idx) + 1), idx] = 1
    cum = np.cumsum(onehot, axis=0)
    stat = np.zeros(len(idx), np.int64)
    if len(idx) < n_windows:
        return stat
    counts = cum[n_windows:] - cum[:-n_windows]
    table = n_log2_n_q8(np.arange(n_windows + 1))
    stat[n_windows - 1:] = table[counts].sum(axis=1) + counts @ cost_q8.astype(np.int64) - table[n_windows]
    return stat


def _points(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # clusters
        centres = rng.normal(0, 5, size=(6, d))
        return centres[rng.integers(0, 6, n)] + rng.normal(0, 1, size=(n, d))
    if kind == 1:  # quantized, with ties and repeated points
        return np.round(rng.normal(0, 2, size=(n, d)) * 4) / 4
    return rng.standard_cauchy(size=(n, d))  # heavy tails


def test_kmeans_equals_the_loop() -> None:
    rng = np.random.default_rng(24)
    for trial in range(200):
        d = int(rng.integers(1, 17)) if trial % 4 else int(rng.integers(17, 140))  # past TD_MAX_DIMS' limit too
        n = int(rng.integers(1, 1500))
        k = int(rng.integers(1, 17))
        points = _points(rng, n, d)
        seed = int(rng.integers(1 << 30))
        want = loop_kmeans(points, min(k, n), np.random.default_rng(seed))
        got = kmeans(points, min(k, n), np.random.default_rng(seed))
        assert got.shape == want.shape and np.array_equal(got, want), (trial, n, d, k)


def test_kmeans_in_small_blocks_equals_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_fit, "_BLOCK_VALUES", 100)  # a few points per block: many blocks per pass
    rng = np.random.default_rng(11)
    for trial in range(30):
        d, n, k = int(rng.integers(1, 17)), int(rng.integers(1, 600)), int(rng.integers(1, 17))
        points = _points(rng, n, d)
        want = loop_kmeans(points, min(k, n), np.random.default_rng(trial))
        assert np.array_equal(kmeans(points, min(k, n), np.random.default_rng(trial)), want), (trial, n, d, k)


def test_statistic_equals_the_count_matrix() -> None:
    rng = np.random.default_rng(7)
    for trial in range(200):
        k = int(rng.integers(1, 17))
        nw = int(rng.integers(1, 256))
        n = int(rng.choice([0, 1, nw - 1, nw, nw + 1, int(rng.integers(0, 5000))]))
        n = max(n, 0)
        if trial % 2:  # long runs of one centroid, as recordings have
            nearest = np.repeat(rng.integers(0, k, size=n // 20 + 1), rng.integers(1, 60, size=n // 20 + 1))[:n]
        else:
            nearest = rng.choice(k, size=n, p=rng.dirichlet(np.ones(k)))
        cost = rng.integers(0, 4000, size=k).astype(np.uint16)
        want = matrix_statistic(nearest, cost, nw)
        got = statistic(nearest, cost, nw)
        assert got.dtype == want.dtype and np.array_equal(got, want), (trial, k, nw, n)


def _data_sets() -> list[tuple[str, list[np.ndarray] | np.ndarray, dict]]:
    d = np.load(ROOT / "data" / "basicmotions.npz")
    train = d["frames"][d["split"] == 0]
    rng = np.random.default_rng(5)
    gauss = rng.normal(0, 1000, size=(10_000, 6)).astype(np.int16)
    mixed = np.concatenate([rng.normal(m, 300, size=(2_000, 3)) for m in (-2000, 0, 2500, 800)]).astype(np.int16)
    return [("basicmotions w10", train, {"window": 10}), ("basicmotions w32", train, {"window": 32}),
            ("gaussian w10", gauss, {"window": 10}), ("mixture 3ch w16", mixed, {"window": 16}),
            ("gaussian 1 dim", gauss, {"window": 10, "n_dims": 1}),
            ("basicmotions occupancy", train, {"window": 10, "occupancy_windows": 20})]


@pytest.mark.parametrize("name,frames,kwargs", _data_sets(), ids=[d[0] for d in _data_sets()])
def test_profiles_are_byte_identical(name: str, frames: np.ndarray, kwargs: dict,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in (0, 3):
            new = tinydrift.build_profile(frames, seed=seed, progress=None, **kwargs)
            with monkeypatch.context() as m:
                m.setattr(builder, "kmeans", loop_kmeans)
                m.setattr(occupancy, "statistic", matrix_statistic)
                old = tinydrift.build_profile(frames, seed=seed, progress=None, **kwargs)
            # the bytes but the creation time (a second may pass between the builds)
            assert new.replace(created_unix=0).to_bytes() == old.replace(created_unix=0).to_bytes(), (name, seed)


def test_fold_windows_score_alone() -> None:
    """The fold loop scores only each fold's own windows (builder._select): a window's score, embedding and fitted
    shifts must be those it gets in the whole recording, whatever windows precede it."""
    d = np.load(ROOT / "data" / "basicmotions.npz")
    recordings = [d["frames"][(d["split"] == 0)][i * 1000:(i + 1) * 1000 + 37] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof = tinydrift.build_profile(recordings, window=10, progress=None)
    prof = prof.replace(feature_chart=True, chart_k_q8=builder.CHART_K_Q8, chart_h_q8=0xFFFF)
    whole = builder._run(prof, recordings)
    picked = np.flatnonzero(np.random.default_rng(1).random(len(whole)) < 0.3)
    alone = builder._run(prof, builder._select(recordings, 10, picked))
    assert len(alone) == len(picked)
    for field in ("score", "shift", "embedding", "nearest"):
        assert np.array_equal(alone[field], whole[field][picked]), field
