"""The build's faster parts against their oracles.

- k-means (stops when an iteration gains less than 1e-4 of the inertia): against float64 Lloyd's iterated to its
  100-iteration cap (``loop_kmeans``, the loop the first vectorisation replaced, kept verbatim): the same optimum on
  well-separated clusters, inertia within 1 % on structureless data;
- the occupancy statistic (C, one running sum): an n x k matrix of cumulative one-hot counts (``matrix_statistic``)
  and the numpy pass per centroid it replaced (``numpy_statistic``), down to the profile bytes with build_profile
  run with the matrix patched in;
- the fold loop's scoring of each fold's windows alone: the rows the whole recordings give;
- the feature chart's threshold search in C (each probe stopping past the budget): the bisection over
  count_chart_alarms it replaced (``search_chart_threshold``, verbatim), and the predictive tails' resample tops in
  C (tests/test_tail_batch.py) with the numpy picks they replaced (``numpy_resample_tops``, verbatim), down to the
  profile bytes with build_profile run with both patched in.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.build import builder, calibrate, occupancy, tail_batch
from tinydrift.build.embedding_fit import kmeans
from tinydrift.build.occupancy import n_log2_n_q8, statistic
from tinydrift.core.errors import CoreError, InputError
from tinydrift.core.native import lib

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


def numpy_statistic(nearest: np.ndarray, cost_q8: np.ndarray, n_windows: int) -> np.ndarray:
    """occupancy.statistic as it was before the C helper: one numpy pass over the stream per centroid (verbatim)."""
    idx = np.asarray(nearest, dtype=np.int64)
    n, nw = len(idx), n_windows
    cost = np.asarray(cost_q8).astype(np.int64)
    stat = np.zeros(n, np.int64)
    if n < nw:
        return stat
    table = n_log2_n_q8(np.arange(nw + 1))
    g = stat[nw - 1:]
    g -= table[nw]
    for j in range(len(cost)):
        running = np.cumsum(idx == j, dtype=np.int32)
        counts = running[nw - 1:].copy()
        counts[1:] -= running[:-nw]
        g += table[counts] + counts * cost[j]
    return stat


def _points(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:  # clusters
        centres = rng.normal(0, 5, size=(6, d))
        return centres[rng.integers(0, 6, n)] + rng.normal(0, 1, size=(n, d))
    if kind == 1:  # quantized, with ties and repeated points
        return np.round(rng.normal(0, 2, size=(n, d)) * 4) / 4
    return rng.standard_cauchy(size=(n, d))  # heavy tails


def _inertia(points: np.ndarray, centres: np.ndarray) -> float:
    """Summed squared distance of each point to its nearest centre, float64 by broadcasting."""
    return float(((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).min(axis=1).sum())


def test_kmeans_finds_well_separated_clusters() -> None:
    """Clusters 40 sd apart: Lloyd's optimum is each cluster's own mean. Wherever the float64 loop (same seeding)
    reaches it, kmeans must too, with no worse inertia; where seeding put two centres in one cluster, within 1 %."""
    rng = np.random.default_rng(24)
    reached = 0
    for trial in range(60):
        d, k = int(rng.integers(1, 17)), int(rng.integers(2, 9))
        known = rng.permutation(np.arange(k * 4))[:k, None] * 40.0 * np.ones((1, d)) + rng.normal(0, 1, size=(k, d))
        sizes = rng.integers(20, 400, size=k)
        points = np.concatenate([c + rng.normal(0, 1, size=(m, d)) for c, m in zip(known, sizes)])
        means = np.array([points[sum(sizes[:j]):sum(sizes[:j + 1])].mean(axis=0) for j in range(k)])
        seed = int(rng.integers(1 << 30))
        want = loop_kmeans(points, k, np.random.default_rng(seed))
        got = kmeans(points, k, np.random.default_rng(seed))
        if np.allclose(np.sort(want, axis=0), np.sort(means, axis=0), rtol=0, atol=1e-9):
            reached += 1
            assert np.allclose(np.sort(got, axis=0), np.sort(means, axis=0), rtol=0, atol=1e-9), trial
            assert _inertia(points, got) <= _inertia(points, want) * (1 + 1e-12), trial
        else:  # two seeds in one cluster: a local optimum that both runs keep
            assert _inertia(points, got) <= _inertia(points, want) * 1.01, trial
    assert reached >= 50  # k-means++ seeds one centre per cluster nearly always


def test_kmeans_is_as_tight_as_the_loop_on_structureless_data() -> None:
    """i.i.d. Gaussian windows (no clusters to find), where Lloyd's crawls to its 100-iteration cap: stopping when an
    iteration gains less than 1e-4 of the inertia leaves it within 1 % of the capped loop's (0.6 % at worst
    measured), and random point sets of every kind stay within 1 % at the 95th percentile."""
    rng = np.random.default_rng(5)
    for n in (900, 9000):
        for seed in range(3):
            points = np.round(rng.normal(0, 1, size=(n, 12)) * 256) / 256  # Q8 embeddings
            want = _inertia(points, loop_kmeans(points, 8, np.random.default_rng(seed)))
            assert _inertia(points, kmeans(points, 8, np.random.default_rng(seed))) <= want * 1.01, (n, seed)
    ratios = []
    for trial in range(120):
        d = int(rng.integers(1, 17)) if trial % 4 else int(rng.integers(17, 140))
        n, k = int(rng.integers(1, 1500)), int(rng.integers(1, 17))
        points = _points(rng, n, d)
        seed = int(rng.integers(1 << 30))
        got = kmeans(points, min(k, n), np.random.default_rng(seed))
        assert 1 <= len(got) <= min(k, n) and np.all(np.isfinite(got)), trial
        want = _inertia(points, loop_kmeans(points, min(k, n), np.random.default_rng(seed)))
        ratios.append(_inertia(points, got) / want if want > 0 else 1.0)
    assert np.quantile(ratios, 0.95) <= 1.01, np.quantile(ratios, 0.95)


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
        assert np.array_equal(got, numpy_statistic(nearest, cost, nw)), (trial, k, nw, n)


def test_statistic_in_c_equals_the_numpy_passes_on_calibration_streams() -> None:
    """The C running sum against the numpy version it replaced, on the streams calibrate() builds (whole
    recordings resampled to 200,000 windows), every window count the core allows, and a window of one centroid."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        k = int(rng.integers(2, 17))
        recordings = [np.repeat(rng.integers(0, k, size=30), rng.integers(1, 40, size=30)) for _ in range(20)]
        stream = occupancy.calibration_stream(recordings, 200_000, seed=trial)
        cost = occupancy.reference_costs(recordings, k)
        nw = int(rng.integers(2, 65))
        assert np.array_equal(statistic(stream, cost, nw), numpy_statistic(stream, cost, nw)), (trial, k, nw)
    same = np.zeros(500, np.int64)  # every count reaches n_windows: the table's last entry, never past it
    cost = np.array([7, 900], np.uint16)
    for nw in (1, 2, 64, 499, 500, 501):
        assert np.array_equal(statistic(same, cost, nw), numpy_statistic(same, cost, nw)), nw


def search_count_alarms(stat: np.ndarray, threshold_q8: int, n_windows: int) -> int:
    """occupancy.count_alarms as it was before the C helper (verbatim): a search per alarm."""
    over = np.flatnonzero(stat > threshold_q8)
    alarms, ready = 0, n_windows - 1
    i = int(np.searchsorted(over, ready))
    while i < len(over):
        alarms += 1
        i = int(np.searchsorted(over, int(over[i]) + n_windows, side="left"))
    return alarms


def test_count_alarms_in_c_equals_the_search() -> None:
    """Alarms with a reset after each, C loop against the search per alarm it replaced, on calibration streams'
    statistics at thresholds from none to every window exceeding, and on short and empty streams."""
    rng = np.random.default_rng(3)
    for trial in range(10):
        k = int(rng.integers(2, 17))
        recordings = [np.repeat(rng.integers(0, k, size=30), rng.integers(1, 40, size=30)) for _ in range(20)]
        nw = int(rng.integers(2, 65))
        stat = statistic(occupancy.calibration_stream(recordings, 50_000, seed=trial),
                         occupancy.reference_costs(recordings, k), nw)
        for q in (0.0, 0.5, 0.9, 0.99, 0.999, 1.0):
            thr = int(np.quantile(stat, q)) - (1 if q == 0.0 else 0)
            assert occupancy.count_alarms(stat, thr, nw) == search_count_alarms(stat, thr, nw), (trial, q)
    for n, nw in ((0, 1), (1, 1), (3, 5), (5, 5), (6, 5)):
        stat = rng.integers(-5, 5, size=n).astype(np.int64)
        for thr in (-6, -1, 0, 4):
            assert occupancy.count_alarms(stat, thr, nw) == search_count_alarms(stat, thr, nw), (n, nw, thr)


def search_chart_threshold(stream: np.ndarray, rate: float, k_q8: int) -> int:
    """calibrate.chart_threshold as it was before the C search: a bisection over count_chart_alarms (verbatim)."""
    budget = int(math.floor(rate * len(stream)))
    lo, hi = 0, 0xFFFF  # h = 65535 never fires: the statistics saturate there
    while lo < hi:
        mid = (lo + hi) // 2
        if calibrate.count_chart_alarms(k_q8, mid, stream) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return lo


def numpy_resample_tops(s: np.ndarray, lo: int, refits: int, rng: np.random.Generator) -> np.ndarray:
    """tail_batch.resample_tops as it was before the C count: a draw per resample, a pick above a cutoff and a sort
    of it (verbatim, its _top_sorted inlined)."""
    n = len(s)
    out = np.empty((refits, n - lo))
    step = max(1, tail_batch.BLOCK_VALUES // max(n, 1))
    for start in range(0, refits, step):
        block = np.empty((min(step, refits - start), n), np.int64)
        for row in block:
            row[:] = rng.integers(0, n, size=n)
        keep = n - lo
        want = keep + 8.0 * math.sqrt(keep) + 16.0
        if lo == 0 or want >= 0.5 * n:
            top = np.partition(block, lo, axis=1)[:, lo:] if lo else block
            top.sort(axis=1)
        else:
            cutoff = n - int(want)
            top = np.empty((len(block), keep), np.int64)
            for row, dest in zip(block, top):
                picked = row[row >= cutoff]
                if len(picked) < keep:
                    picked = np.partition(row, lo)[lo:]
                picked.sort()
                dest[:] = picked[len(picked) - keep:]
        out[start : start + len(block)] = s[top]
    return out


def test_chart_threshold_in_c_equals_the_bisection() -> None:
    """The C search against the Python bisection over count_chart_alarms, on resampled held-out shifts (1 to 12
    features, small to large spreads, with a biased feature), rates from 1e-4 to 0.2 and k from 0 to 4 sd; and on
    empty, one-window and never-alarming streams."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        n_features = int(rng.integers(1, 13))
        spread = rng.uniform(5, 600, n_features)
        bias = rng.normal(0, 300) if trial % 3 == 0 else 0.0
        shifts = np.round(rng.normal(0, 1, size=(int(rng.integers(50, 3000)), n_features)) * spread + bias)
        shifts = shifts.astype(np.int16)
        stream = calibrate.resample_shifts(shifts, 40_000, np.random.default_rng(trial))
        for rate in (1e-4, 0.002, 0.05, 0.2):
            for k_q8 in (0, 64, 256, 1024):
                want = search_chart_threshold(stream, rate, k_q8)
                assert calibrate.chart_threshold(stream, rate, k_q8) == want, (trial, rate, k_q8)
    for stream in (np.zeros((0, 4), np.int16), np.full((1, 3), 500, np.int16), np.zeros((1000, 2), np.int16)):
        for rate in (0.001, 0.5):
            assert calibrate.chart_threshold(stream, rate, 8) == search_chart_threshold(stream, rate, 8)
    # the int16 extremes (-32768 has no int16 negation) and k up to 65535, where every sum saturates
    extremes = rng.choice(np.array([-32768, -32767, -1, 0, 1, 32766, 32767], np.int16), size=(3000, 9))
    mixed = np.concatenate([extremes, rng.integers(-32768, 32768, size=(3000, 9)).astype(np.int16)])
    for stream in (extremes, mixed, np.full((500, 17), -32768, np.int16)):
        for k_q8 in (0, 300, 32768, 40000, 65535):
            for rate in (0.0005, 0.01, 0.3):
                assert calibrate.chart_threshold(stream, rate, k_q8) == search_chart_threshold(stream, rate, k_q8), \
                    (k_q8, rate)


def test_chart_threshold_rejects_bad_input() -> None:
    with pytest.raises(CoreError):
        calibrate.chart_threshold(np.zeros((10, lib.TD_MAX_FEATURES + 1), np.int16), 0.1, 0)
    with pytest.raises(CoreError):
        calibrate.chart_threshold(np.zeros((10, 2), np.int16), 0.1, 0x10000)


@pytest.mark.parametrize("nearest,cost,nw", [([0, 3, 1], [5, 5, 5], 2), ([0, -1, 1], [5, 5], 2), ([0, 1], [5, 5], 0)])
def test_statistic_rejects_bad_input(nearest: list[int], cost: list[int], nw: int) -> None:
    with pytest.raises(InputError):
        statistic(np.array(nearest), np.array(cost, np.uint16), nw)


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
                m.setattr(occupancy, "statistic", matrix_statistic)
                m.setattr(builder, "chart_threshold", search_chart_threshold)
                m.setattr(tail_batch, "resample_tops", numpy_resample_tops)
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
