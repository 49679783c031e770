"""Shared helpers for the tinydrift pytest suite: exact oracles, a stats-only profile, a seeded generator."""

from __future__ import annotations

import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from math import isqrt

import numpy as np
import pytest

import tinydrift
from tinydrift import ChannelConfig, Profile

INT16_MIN, INT16_MAX = -32768, 32767


# ---------------------------------------------------------------------------------------------
# Exact integer / rational oracles (independent of the C core)
# ---------------------------------------------------------------------------------------------

def round_half_away(x: Fraction) -> int:
    """Round a rational to the nearest integer, ties away from zero."""
    x = Fraction(x)
    mag = abs(x)
    r = int(mag.numerator * 2 + mag.denominator) // (2 * mag.denominator)  # floor(|x| + 1/2)
    return -r if x < 0 else r


def mean_q8_oracle(total: int, n: int) -> int:
    """round(sum * 256 / n), ties away from zero; 0 when n == 0."""
    return 0 if n == 0 else round_half_away(Fraction(total * 256, n))


def var_q32_oracle(total: int, sumsq: int, n: int) -> int:
    """round((n*sumsq - sum^2) * 2^32 / n^2), population variance in Q32; 0 when n == 0."""
    if n == 0:
        return 0
    num = n * sumsq - total * total
    assert num >= 0
    return round_half_away(Fraction(num << 32, n * n))


def std_q8_oracle(var_q32: int) -> int:
    """(isqrt(var_q32) + 128) >> 8 as documented in td_stats.h."""
    return (isqrt(var_q32) + 128) >> 8


def window_oracle(x: np.ndarray, cfg: ChannelConfig) -> dict:
    """Exact int64 statistics of one window of one channel (x: int16 1-D) under cfg's rules."""
    x64 = x.astype(np.int64)
    missing = (x64 == cfg.sentinel) if cfg.sentinel is not None else np.zeros(len(x64), bool)
    valid = x64[~missing]
    sat = (valid <= cfg.rail_lo) | (valid >= cfg.rail_hi)
    return {
        "sum": int(valid.sum()),
        "sumsq": int((valid * valid).sum()),
        "min": int(valid.min()) if len(valid) else INT16_MAX,
        "max": int(valid.max()) if len(valid) else INT16_MIN,
        "n_missing": int(missing.sum()),
        "n_saturated": int(sat.sum()),
        "n_valid": int(len(valid)),
        "valid": valid,
    }


# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------

def stats_profile(window: int, channels: list[ChannelConfig]) -> Profile:
    """A profile whose only job is to expose exact window statistics: mu 0, inv_sigma 1<<24 (z = f)."""
    c = len(channels)
    for cfg in channels:
        cfg.max_missing = window
        cfg.max_saturated = window
    return Profile(
        window=window,
        channels=channels,
        feature_mu_q8=np.zeros(2 * c, np.int32),
        feature_inv_sigma_q24=np.full(2 * c, 1 << 24, np.uint32),
        projection=np.zeros((1, 2 * c), np.int8),
        centroids_q8=np.zeros((1, 1), np.int32),
        created_unix=0,
    )


# ---------------------------------------------------------------------------------------------
# Seeded synthetic stationary sensor generator (6 correlated Gaussian channels)
# ---------------------------------------------------------------------------------------------

class SensorGenerator:
    """Stationary 6-channel int16 source: correlated Gaussians (std ~200 LSB), offsets, channel 4 a mix of 0."""

    N_CHANNELS = 6
    OFFSETS = np.array([100.0, -3000.0, 5000.0, 0.0, 12000.0, -20000.0])
    MIX = np.array([
        [1.0, 0.0, 0.0, 0.0],
        [0.6, 0.8, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.5, 0.866],
        [0.0, 0.0, 0.0, 1.0],  # replaced by a linear mix of channel 0 below
        [0.3, -0.4, 0.5, 0.7],
    ])
    STD = 200.0

    def draw(self, rng: np.random.Generator, n_frames: int) -> np.ndarray:
        latent = rng.standard_normal((n_frames, self.MIX.shape[1]))
        x = latent @ self.MIX.T * self.STD
        x[:, 4] = 0.7 * x[:, 0] + 50.0 * rng.standard_normal(n_frames)
        x += self.OFFSETS
        return np.round(x).astype(np.int16)


@pytest.fixture(scope="session")
def sensor_generator() -> SensorGenerator:
    return SensorGenerator()


@pytest.fixture(scope="session")
def recordings() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The bundled BasicMotions recordings (data/basicmotions.npz): (training, held-out), one array per recording."""
    d = np.load(Path(__file__).resolve().parents[1] / "data" / "basicmotions.npz")
    frames, case, split = d["frames"], d["case"], d["split"]
    train = [frames[(case == c) & (split == 0)] for c in np.unique(case[split == 0])]
    test = [frames[(case == c) & (split == 1)] for c in np.unique(case[split == 1])]
    return train, test


def gain_field_case(window: int = 10) -> tuple[Profile, list[str], np.ndarray]:
    """(profile, channel names, field): a profile from the bundled training split and 1,500 held-out frames with a
    gyr_y gain x4 from frame 600 (the CLI tests' drifted field recording)."""
    data = np.load(Path(__file__).resolve().parents[1] / "data" / "basicmotions.npz")
    frames, split = data["frames"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    profile = tinydrift.build_profile(frames[split == 0], window=window, channel_names=names)
    field = frames[split == 1][:1500].astype(np.int32)
    field[600:, 4] *= 4  # gyr_y gain
    return profile, names, np.clip(field, -32768, 32767).astype(np.int16)


def occupancy_alarms_oracle(stat: np.ndarray, threshold: float, n_windows: int) -> int:
    """Reference occupancy alarm count: every exceedance in turn, an alarm when the ring of n_windows has refilled
    since the last one (the next needs n fresh windows)."""
    alarms, ready = 0, n_windows - 1
    for t in np.flatnonzero(stat > threshold):
        if t >= ready:
            alarms += 1
            ready = t + n_windows
    return alarms


@pytest.fixture(scope="module")
def pg():
    """A throwaway PostgreSQL server (Debian's binaries) on a loopback port, for one test module."""
    from tinydrift.fleet.localservers import Postgres

    # Not under pytest's basetemp: other pytest runs (as root) reset it to mode 0700, which would lock
    # out the unprivileged user PostgreSQL runs as.
    work = Path(tempfile.mkdtemp(prefix="tinydrift-test-pg-"))
    server = Postgres(work / "pg")
    server.init()
    server.start()
    server.create_database()
    yield server
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
