"""The occupancy test (profile flag bit 4): G statistic of nearest-centroid counts, its calibration and format."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

from conftest import occupancy_alarms_oracle
import tinydrift
import tinydrift.cli.app
import tinydrift.core.profile
from tinydrift.build import occupancy
from tinydrift.core.errors import InputError, ProfileError
from tinydrift.core.monitor import TRIGGER_OCCUPANCY
from tinydrift.core.profile import Profile

WINDOW = 16
N_WINDOWS = 40  # ten recordings of 4 windows: longer than any stretch of one activity in training


def _recording(rng: np.random.Generator, activity: int, windows: int = 4) -> np.ndarray:
    """One activity of three, each with its own level and spread on 2 channels."""
    level = np.array([[0.0, 0.0], [3000.0, -2000.0], [-4000.0, 2500.0]])[activity]
    spread = np.array([50.0, 400.0, 150.0])[activity]
    x = level + rng.normal(0.0, spread, size=(windows * WINDOW, 2))
    return np.clip(np.round(x), -32767, 32767).astype(np.int16)


def _recordings(rng: np.random.Generator, n: int, activities=(0, 1, 2)) -> list[np.ndarray]:
    return [_recording(rng, int(rng.choice(activities))) for _ in range(n)]


@pytest.fixture(scope="module")
def train() -> list[np.ndarray]:
    return _recordings(np.random.default_rng(1), 200)


@pytest.fixture(scope="module")
def profile(train) -> Profile:
    return tinydrift.build_profile(train, window=WINDOW, n_centroids=3, occupancy_windows=N_WINDOWS, seed=2)


def test_profile_round_trip_and_show(profile, train, tmp_path, capsys):
    assert profile.occupancy_windows == N_WINDOWS and profile.occupancy_cost_q8.shape == (3,)
    back = Profile.from_bytes(profile.to_bytes())
    assert back.occupancy_windows == N_WINDOWS and back.occupancy_threshold_q8 == profile.occupancy_threshold_q8
    assert np.array_equal(back.occupancy_cost_q8, profile.occupancy_cost_q8)
    # cost_k = -log2 p_k of the training windows' nearest centroids, with half a window of pseudo-count each.
    counts = np.zeros(3)
    for rec in train:
        counts += np.bincount(tinydrift.Monitor(profile).push(rec)["nearest"], minlength=3)
    expected = -np.log2((counts + 0.5) / (counts.sum() + 1.5))
    np.testing.assert_allclose(profile.occupancy_cost_q8 / 256, expected, atol=0.5 / 256)
    path = tmp_path / "occ.tdp"
    profile.save(path)
    assert tinydrift.cli.app.main(["profile", "show", str(path)]) == 0
    assert f"over {N_WINDOWS} windows" in capsys.readouterr().out


def test_statistic_matches_float64_oracle_and_the_core(profile):
    rng = np.random.default_rng(5)
    stream = np.concatenate(_recordings(rng, 40))
    rows = tinydrift.Monitor(profile.replace(occupancy_threshold_q8=0xFFFFFFFF)).push(stream)
    nearest = rows["nearest"].astype(np.int64)
    exact = occupancy.statistic(nearest, profile.occupancy_cost_q8, N_WINDOWS)
    assert np.array_equal(np.round(rows["occupancy"] * 256).astype(np.int64), exact)
    # float64 G in bits against the stored costs: log2 is truncated to 1/256 per term.
    cost = profile.occupancy_cost_q8 / 256.0
    for t in range(N_WINDOWS - 1, len(nearest)):
        c = np.bincount(nearest[t - N_WINDOWS + 1 : t + 1], minlength=3).astype(float)
        nz = c > 0
        g = float((c[nz] * np.log2(c[nz])).sum() + c @ cost - N_WINDOWS * np.log2(N_WINDOWS))
        assert abs(rows["occupancy"][t] - g) <= 2 * N_WINDOWS / 256 + 1e-9, t
    assert (rows["occupancy"][: N_WINDOWS - 1] == 0).all() and rows["occupancy"].max() > 1.0


def test_prior_shift_alarms_and_reset_restarts_the_ring(profile):
    rng = np.random.default_rng(6)
    mixed = np.concatenate(_recordings(rng, 20))
    only_quiet = np.concatenate(_recordings(rng, 30, activities=(0,)))
    mon = tinydrift.Monitor(profile)
    before = mon.push(mixed)
    assert not (before["trigger"] & TRIGGER_OCCUPANCY).any()
    after = mon.push(only_quiet)
    hits = np.flatnonzero(after["trigger"] & TRIGGER_OCCUPANCY)
    assert len(hits) and hits[0] < 2 * N_WINDOWS
    assert after["alarm"][hits[0]] and not after["score"][hits[0]] > profile.instant_q8 / 256
    mon.reset_alarm()
    again = mon.push(only_quiet[: (N_WINDOWS - 1) * WINDOW])
    assert (again["occupancy"] == 0).all() and not again["alarm"].any()


def test_false_alarms_on_fresh_in_distribution_streams(profile):
    """Calibrated to rate / 2 per window for the occupancy test; fresh streams stay within 2x of it."""
    rng = np.random.default_rng(11)
    alarms = windows = 0
    for _ in range(8):
        rows = tinydrift.Monitor(profile).push(np.concatenate(_recordings(rng, 100)))
        stat = np.round(rows["occupancy"] * 256).astype(np.int64)
        alarms += occupancy.count_alarms(stat, profile.occupancy_threshold_q8, N_WINDOWS)
        windows += len(rows)
    assert alarms <= 2 * profile.false_alarm_rate / 2 * windows + 2, (alarms, windows)


def test_count_alarms_waits_n_windows_after_each():
    stat = np.array([0, 0, 9, 9, 9, 9, 9, 0, 9])
    assert occupancy.count_alarms(stat, 5, 3) == 3  # at 2, then not before 5, then at 8
    assert occupancy.count_alarms(stat, 9, 3) == 0


@pytest.mark.parametrize("windows, error", [(0, "out of range"), (1, "out of range"), (65, "compile-time limit")])
def test_parser_rejects_bad_window_counts(profile, windows, error):
    with pytest.raises(ProfileError, match=error):
        profile.replace(occupancy_windows=windows or 1).to_bytes() if windows else _patched(profile, 4, 0)


def _patched(profile: Profile, section_byte: int, value: int) -> None:
    """Validate the profile's blob with one byte of its occupancy section replaced (CRC fixed up)."""
    blob = bytearray(profile.to_bytes())
    n_dims, k, c = profile.n_dims, profile.n_centroids, profile.n_channels
    start = 64 + 24 * c + 8 * 2 * c + (n_dims * 2 * c + 3) // 4 * 4 + 4 * k * n_dims + 4 * k * (n_dims + 1)
    blob[start + section_byte] = value
    body = bytes(blob[:-4])
    tinydrift.core.profile.validate(body + struct.pack("<I", zlib.crc32(body)))


@pytest.mark.parametrize("byte", [5, 6, 7, 8 + 2 * 3])  # reserved header bytes, then the cost padding
def test_parser_rejects_nonzero_reserved_bytes(profile, byte):
    with pytest.raises(ProfileError, match="out of range"):
        _patched(profile, byte, 1)
    _patched(profile, byte, 0)  # the same edit with a zero byte is a valid profile: the offset is right


def test_options_are_checked():
    train = _recordings(np.random.default_rng(3), 10)
    with pytest.raises(InputError, match="occupancy windows must be between 2 and 64"):
        tinydrift.build_profile(train, window=WINDOW, n_centroids=3, occupancy_windows=1)
    with pytest.raises(InputError, match="needs at least"):
        tinydrift.build_profile(train[:20], window=WINDOW, n_centroids=3, occupancy_windows=64)


def test_cli_builds_with_occupancy(tmp_path, capsys):
    rng = np.random.default_rng(4)
    paths = []
    for i, rec in enumerate(_recordings(rng, 30)):
        path = tmp_path / f"r{i}.npy"
        np.save(path, rec)
        paths.append(str(path))
    out = tmp_path / "p.tdp"
    argv = ["profile", "build", *paths, "-o", str(out), "--window", str(WINDOW), "--centroids", "3", "-q"]
    assert tinydrift.cli.app.main([*argv, "--occupancy", "10"]) == 0
    assert tinydrift.load_profile(out).occupancy_windows == 10
    assert tinydrift.cli.app.main([*argv, "--occupancy", "1"]) == 2
    assert "--occupancy: must be between 2 and 64, got 1" in capsys.readouterr().err


def _stream_concat(nearest: list[np.ndarray], n_total: int, seed: int) -> np.ndarray:
    """Reference: the same seeded draws, concatenated recording by recording."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(s) for s in nearest])
    draws = max(1, math.ceil(n_total / max(lengths.mean(), 1.0) * 1.1))
    picks = rng.integers(0, len(nearest), size=draws)
    while lengths[picks].sum() < n_total:
        picks = np.concatenate([picks, rng.integers(0, len(nearest), size=draws)])
    return np.concatenate([np.asarray(nearest[i], np.int64) for i in picks])


def test_stream_and_alarm_count_equal_their_reference_loops():
    rng = np.random.default_rng(4)
    segments = [rng.integers(0, 5, int(rng.integers(1, 30))) for _ in range(17)]
    for seed in range(3):
        stream = occupancy.calibration_stream(segments, 20_000, seed)
        assert np.array_equal(stream, _stream_concat(segments, 20_000, seed))
        stat = occupancy.statistic(stream, occupancy.reference_costs(segments, 5), 12)
        for threshold in np.quantile(stat, [0.1, 0.5, 0.9, 0.999]).astype(int):
            for n in (2, 7, 12):
                assert occupancy.count_alarms(stat, threshold, n) == occupancy_alarms_oracle(stat, threshold, n)
