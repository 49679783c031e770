"""top_channel during a CUSUM run: the matched-filter attribution of the C core against a float64 oracle.

docs/algorithm.md ("Per window", top_channel) defines it: per window of a run, each feature's fit
<a_f, u>^2 / |a_f|^2 with a_f,j = P[j, f] / s_kj and u_j = (e_j - c_kj) / s_kj for the nearest centroid k; a channel
scores the larger of its two features; the scores add up from the window the run starts; the largest sum names the
channel. Outside a run the largest |z| does (tests/test_window_stats.py).
"""

from __future__ import annotations


import numpy as np
import pytest

import tinydrift
from tinydrift.core.profile import Profile

WINDOW = 10


@pytest.fixture(scope="module")
def profile(recordings) -> Profile:
    return tinydrift.build_profile(recordings[0], window=WINDOW, false_alarm_rate=1e-3, sentinel=-32768,
                                   rails=(-32767, 32767), seed=3)


def _oracle_fit(prof: Profile, embedding: np.ndarray, k: int) -> np.ndarray:
    """Per channel, the larger matched-filter fit of its mean and spread features, float64, z^2 units."""
    proj = prof.projection.astype(np.float64) / 2.0 ** prof.proj_shift          # (dims, features)
    inv = prof.centroid_inv_scale_q16[k].astype(np.float64) / 65536.0           # 1 / s_kj
    u = (embedding - prof.centroids_q8[k] / 256.0) * inv
    a = proj * inv[:, None]
    fit = (a.T @ u) ** 2 / (a**2).sum(axis=0)
    return fit.reshape(prof.n_channels, 2).max(axis=1)


def _drifted_stream(recordings, rng: np.random.Generator) -> np.ndarray:
    """Held-out recordings in random order; from a third of the way on, one channel gets an offset or a gain."""
    test = recordings[1]
    frames = np.concatenate([test[i] for i in rng.permutation(len(test))]).astype(np.int64)
    start = len(frames) // 3
    channel = int(rng.integers(frames.shape[1]))
    sd = frames[:, channel].std()
    if rng.random() < 0.5:
        frames[start:, channel] += int(rng.choice([-1, 1]) * rng.uniform(0.25, 1.0) * sd)
    else:
        frames[start:, channel] = np.round(frames[start:, channel] * rng.uniform(1.5, 3.0))
    return np.clip(frames, -32767, 32767).astype(np.int16)


def _check_runs(profile: Profile, rows: np.ndarray) -> tuple[int, int]:
    """Replay the oracle over rows (a run starts where the statistic leaves 0) and assert every clear decision.
    Returns the decisions compared and how many of them differ from the largest-|z| rule."""
    blame = np.zeros(profile.n_channels)
    previous_cusum = 0.0
    compared = differs_from_z = 0
    for row in rows:
        if row["cusum"] > 0:
            if previous_cusum == 0:
                blame[:] = 0.0
            blame += _oracle_fit(profile, row["embedding"], int(row["nearest"]))
            order = np.argsort(blame)[::-1]
            # Fixed-point rounding may swap near ties; every clear decision must agree.
            if blame[order[0]] > 1.02 * blame[order[1]] + 0.05:
                assert row["top_channel"] == order[0], (row["window"], blame)
                compared += 1
                z_top = np.argmax(np.abs(np.stack([row["z_mean"], row["z_std"]])).max(axis=0))
                differs_from_z += int(row["top_channel"] != z_top)
        previous_cusum = row["cusum"]
    return compared, differs_from_z


def test_top_channel_in_a_run_matches_float64_matched_filter(profile, recordings):
    compared = differs_from_z = 0
    for seed in range(6):
        rows = tinydrift.Monitor(profile).push(_drifted_stream(recordings, np.random.default_rng(seed)))
        c, d = _check_runs(profile, rows)
        compared += c
        differs_from_z += d
    assert compared > 200
    assert differs_from_z > 20  # the run rule decided differently from the |z| rule often enough to be tested


def test_run_restarts_from_no_evidence_after_reset_alarm(profile, recordings):
    """reset_alarm clears the CUSUM statistic, so the run in progress ends and the next starts from zero."""
    stream = _drifted_stream(recordings, np.random.default_rng(11))
    rows = tinydrift.Monitor(profile).push(stream)
    inside = np.flatnonzero((rows["cusum"][:-1] > 0) & (rows["cusum"][1:] > 0))
    assert inside.size
    cut = int(inside[len(inside) // 2]) + 1  # the run continues across this window boundary without a reset
    mon = tinydrift.Monitor(profile)
    mon.push(stream[: cut * WINDOW])
    mon.reset_alarm()
    compared, _ = _check_runs(profile, mon.push(stream[cut * WINDOW :]))
    assert compared > 0
