"""The default "mixture" scoring: log-std features and per-centroid scales, checked against a float64 oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.core.native import lib
from tinydrift.core.errors import InputError
from tinydrift.core.profile import Profile

WINDOW = 32
DATA_CSV = Path(__file__).resolve().parents[1] / "data" / "basicmotions.csv"


def _activities(rng: np.random.Generator, n_recordings: int = 24, frames: int = 320) -> list[np.ndarray]:
    """Recordings that alternate a quiet and a busy activity on 3 channels (spreads 10x apart)."""
    recs = []
    for i in range(n_recordings):
        busy = i % 2 == 1
        spread = np.array([400.0, 300.0, 150.0]) if busy else np.array([40.0, 30.0, 15.0])
        level = np.array([2000.0, -1500.0, 8000.0]) if busy else np.array([0.0, 500.0, 8200.0])
        x = level + rng.normal(0.0, 1.0, size=(frames, 3)) * spread
        recs.append(np.clip(np.round(x), -32767, 32767).astype(np.int16))
    return recs


@pytest.fixture(scope="module")
def mixture_profile() -> Profile:
    return tinydrift.build_profile(_activities(np.random.default_rng(7)), window=WINDOW, n_centroids=4, seed=1)


def _oracle_scores(prof: Profile, frames: np.ndarray) -> np.ndarray:
    """Score per window in float64 from the profile's documented meaning (docs/profile-format.md)."""
    n = len(frames) // WINDOW
    x = frames[: n * WINDOW].astype(np.float64).reshape(n, WINDOW, -1)
    mean = x.mean(axis=1)
    std = x.std(axis=1)
    floors = np.array([ch.std_floor for ch in prof.channels], np.float64)
    f = np.empty((n, 2 * x.shape[2]))
    f[:, 0::2] = mean
    f[:, 1::2] = np.log2(std + floors)
    mu = prof.feature_mu_q8.astype(np.float64) / 256.0
    sigma = 2.0**24 / prof.feature_inv_sigma_q24.astype(np.float64)
    z = (f - mu) / sigma
    p = prof.projection.astype(np.float64) / 2.0**prof.proj_shift
    e = z @ p.T
    recon = ((z - e @ p) ** 2).sum(axis=1)
    centres = prof.centroids_q8.astype(np.float64) / 256.0
    inv = prof.centroid_inv_scale_q16.astype(np.float64) / 65536.0
    offset = prof.centroid_offset_q8.astype(np.float64) / 256.0
    d = (((e[:, None, :] - centres[None]) * inv[None]) ** 2).sum(axis=2) + offset[None]
    return d.min(axis=1) + recon


def test_mixture_profile_fields(mixture_profile: Profile) -> None:
    prof = mixture_profile
    assert prof.log_std and prof.centroid_scales
    assert prof.n_dims == 6  # every feature kept
    assert all(ch.std_floor >= 1 for ch in prof.channels)
    assert prof.centroid_inv_scale_q16.shape == (prof.n_centroids, prof.n_dims)
    assert int(prof.centroid_offset_q8.min()) == 0  # offsets are relative to the tightest centroid
    back = Profile.from_bytes(prof.to_bytes())
    assert back.to_bytes() == prof.to_bytes()
    assert back.log_std and [c.std_floor for c in back.channels] == [c.std_floor for c in prof.channels]
    np.testing.assert_array_equal(back.centroid_inv_scale_q16, prof.centroid_inv_scale_q16)
    np.testing.assert_array_equal(back.centroid_offset_q8, prof.centroid_offset_q8)


def test_scores_match_float64_oracle(mixture_profile: Profile) -> None:
    stream = np.concatenate(_activities(np.random.default_rng(11), n_recordings=6))
    rows = tinydrift.Monitor(mixture_profile).push(stream)
    want = _oracle_scores(mixture_profile, stream)
    # Fixed point: 8 fraction bits in the log and Q8 z and embeddings, magnified by the tightest scales
    # (1 / 0.05): a few tenths of a score unit per window, unbiased on average.
    err = rows["score"] - want
    assert np.abs(err).max() < 1.5
    assert abs(float(err.mean())) < 0.1 and float(np.abs(err).mean()) < 0.3
    assert float(np.median(want)) > 1.0  # the comparison is not trivially near zero


def test_log2_q8_matches_numpy() -> None:
    xs = np.unique(np.round(np.geomspace(1, 2**32 - 1, 5000)).astype(np.uint64))
    got = np.array([lib.td_log2_q8(int(x)) for x in xs], np.float64)
    exact = 256.0 * np.log2(xs.astype(np.float64))
    assert np.all(got <= exact + 1e-6) and np.all(got > exact - 1.0)
    assert lib.td_log2_q8(0) == 0


def test_gain_in_the_quiet_activity_is_scored_higher_by_the_mixture() -> None:
    """A x2 gain inside the quiet activity: the per-centroid scale makes it stand out; one global scale hides it."""
    train = _activities(np.random.default_rng(3))
    mixture = tinydrift.build_profile(train, window=WINDOW, n_centroids=4, seed=0)
    centroids = tinydrift.build_profile(train, window=WINDOW, n_centroids=4, seed=0, scoring="centroids")
    quiet = _activities(np.random.default_rng(5), n_recordings=2)[0]
    drifted = quiet.copy()
    drifted[:, 1] = np.clip(drifted[:, 1].astype(np.int64) * 2, -32767, 32767).astype(np.int16)

    def ratio(prof: Profile) -> float:
        clean = tinydrift.Monitor(prof).push(quiet)["score"]
        bad = tinydrift.Monitor(prof).push(drifted)["score"]
        return float(np.median(bad) / prof.cusum_k_q8 * 256), float(np.median(clean) / prof.cusum_k_q8 * 256)

    mix_bad, mix_clean = ratio(mixture)
    cen_bad, _ = ratio(centroids)
    assert mix_clean < 1.0 < mix_bad  # scores above the CUSUM reference value only after the change
    assert mix_bad > 2.0 * cen_bad


def test_unknown_scoring_is_an_input_error() -> None:
    with pytest.raises(InputError, match="scoring must be one of"):
        tinydrift.build_profile(_activities(np.random.default_rng(1), 4), window=WINDOW, scoring="gmm")


def test_cli_scoring_option_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinydrift.cli.app import main
    from tinydrift.core.profile import load_profile

    data = str(DATA_CSV)
    flat = tmp_path / "flat.tdp"
    mixed = tmp_path / "mixed.tdp"
    assert main(["profile", "build", data, "-o", str(flat), "--window", "10", "--scoring", "centroids", "-q"]) == 0
    assert main(["profile", "build", data, "-o", str(mixed), "--window", "10", "-q"]) == 0
    assert not load_profile(flat).log_std and load_profile(flat).centroid_inv_scale_q16 is None
    prof = load_profile(mixed)
    assert prof.log_std and prof.centroid_scales and prof.n_dims == 12
    capsys.readouterr()
    assert main(["profile", "show", str(mixed)]) == 0
    out = capsys.readouterr().out
    assert "log2(std + floor)" in out and "Centroid scales" in out
    assert main(["profile", "build", data, "-o", str(flat), "--scoring", "gmm", "-q"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("scaled", [False, True])
def test_nearest_centroid_tie_goes_to_lower_index_whatever_the_last_window(scaled):
    """The core searches the last window's centroid first; a tie must still go to the lower index."""
    from tinydrift import ChannelConfig, Monitor

    # z of the window mean is the mean in Q8 and the embedding is that z, so e = 256 * mean.
    prof = Profile(
        window=4,
        channels=[ChannelConfig(rail_lo=-32767, rail_hi=32767, ref_mean_q8=0, ref_std_q8=256)],
        feature_mu_q8=np.array([0, 0], np.int32),
        feature_inv_sigma_q24=np.array([1 << 24, 1 << 24], np.uint32),
        projection=np.array([[1, 0]], np.int8), proj_shift=0,
        centroids_q8=np.array([[-512], [512], [4096]], np.int32),
        centroid_offset_q8=np.array([3, 3, 0], np.uint32) if scaled else None,
        centroid_inv_scale_q16=np.array([[1 << 15], [1 << 15], [1 << 16]], np.uint32) if scaled else None,
        cusum_k_q8=1 << 30, cusum_h_q8=1 << 30, instant_q8=(1 << 32) - 1, false_alarm_ppb=1_000_000,
        created_unix=1_700_000_000,
    )
    means = [3, 0, 16, 0, 1, -1, 0]  # 3 -> centroid 1; 0 ties 0 and 1; 16 -> centroid 2; ...
    frames = np.repeat(np.array(means, np.int16), 4).reshape(-1, 1)
    rows = Monitor(prof.to_bytes()).push(frames)
    half = 0.5 if scaled else 1.0  # distances are halved by the 2^15 inverse scale of centroids 0 and 1
    offset = [3, 3, 0] if scaled else [0, 0, 0]
    inv = [half, half, 1.0]
    expect_nearest, expect_dist = [], []
    for m in means:
        # Score units: the Q8 offset over 256, the squared Q8 distance over 2^16.
        d = [offset[k] / 256 + ((256 * m - c) * inv[k]) ** 2 / 65536 for k, c in enumerate((-512, 512, 4096))]
        best = min(d)
        expect_nearest.append(d.index(best))  # index() returns the first, i.e. the lower index on a tie
        expect_dist.append(best)
    assert rows["nearest"].tolist() == expect_nearest
    assert rows["nearest"].tolist()[:4] == [1, 0, 2, 0]
    np.testing.assert_allclose(rows["dist"], expect_dist, atol=1 / 256)
