"""The feature chart: per feature, a two-sided CUSUM on the window's fitted shift (docs/profile-format.md).

Checks the C core's fitted shifts against an exact integer re-implementation of the documented formula and a float64
matched filter, the stored roots against the ones the core computes itself, the profile section's validation, and
that the chart catches a small one-channel offset that the score's CUSUM alone is slow to see, naming the channel.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

import tinydrift
from tinydrift.core.errors import ProfileError
from tinydrift.core.monitor import TRIGGER_HEALTH
from tinydrift.core.profile import Profile

WINDOW = 16
INT16_MAX = 32767


@pytest.fixture(scope="module")
def profile(recordings) -> Profile:
    return tinydrift.build_profile(recordings[0], window=WINDOW, false_alarm_rate=1e-3, sentinel=-32768,
                                   rails=(-32767, 32767), seed=5)


def exact_shifts(prof: Profile, embedding_q8: np.ndarray, k: int) -> list[int]:
    """The documented integer formula, written independently of the C code."""
    inv = [int(v) for v in prof.centroid_inv_scale_q16[k]]
    shift = max(0, max(inv).bit_length() - 15)
    t = []
    for j, e in enumerate(int(v) for v in embedding_q8):
        diff = e - int(prof.centroids_q8[k][j])
        mag = min((abs(diff) * inv[j] + 32768) >> 16, INT16_MAX)
        t.append(-mag if diff < 0 else mag)
    out = []
    for f in range(2 * prof.n_channels):
        a = [int(prof.projection[j][f]) * (inv[j] >> shift) for j in range(prof.n_dims)]
        n = sum(x * y for x, y in zip(a, t))
        root = math.isqrt(sum(x * x for x in a))
        q = min(abs(n) // root, INT16_MAX) if root else 0
        out.append(-q if n < 0 else q)
    return out


def test_chart_is_on_by_default_with_the_documented_reference_value(profile):
    assert profile.feature_chart and profile.chart_k_q8 == 128
    assert 0 < profile.chart_h_q8 < 0xFFFF
    blob = profile.to_bytes()
    assert struct.unpack_from("<H", blob, 22)[0] & 0x20
    back = Profile.from_bytes(blob)
    assert (back.feature_chart, back.chart_k_q8, back.chart_h_q8) == (True, 128, profile.chart_h_q8)


def test_shifts_equal_the_exact_formula_and_the_float64_matched_filter(profile, recordings):
    stream = np.concatenate(recordings[1])
    rows = tinydrift.Monitor(profile).push(stream)
    assert len(rows) > 200
    worst = 0.0
    for row in rows:
        k = int(row["nearest"])
        e_q8 = np.round(row["embedding"] * 256).astype(np.int64)
        got = np.round(row["shift"] * 256).astype(np.int64).tolist()
        assert got == exact_shifts(profile, e_q8, k), row["window"]
        # The matched filter in float64: g_f = <a_f, u> / |a_f| with a_f,j = P[j, f] / s_kj, u_j = (e_j - c_kj) / s_kj.
        inv = profile.centroid_inv_scale_q16[k] / 65536.0
        u = (row["embedding"] - profile.centroids_q8[k] / 256.0) * inv
        a = profile.projection.astype(np.float64) * inv[:, None]
        g = (a.T @ u) / np.sqrt((a * a).sum(axis=0))
        unclamped = np.abs(u) < 127
        if unclamped.all():
            worst = max(worst, float(np.max(np.abs(row["shift"] - g) / (0.02 + 0.01 * np.abs(g)))))
    assert worst <= 1.0, worst


def test_stored_roots_equal_the_ones_the_core_computes(profile, recordings):
    """Without the section the core computes the roots itself (inside CUSUM runs): same shifts there."""
    stream = np.concatenate(recordings[1][::-1])
    stream = stream.astype(np.int64)
    stream[len(stream) // 2:, 2] *= 3  # a drift, so that CUSUM runs happen
    stream = np.clip(stream, -32767, 32767).astype(np.int16)
    with_chart = tinydrift.Monitor(profile).push(stream)
    without = tinydrift.Monitor(profile.replace(feature_chart=False)).push(stream)
    assert np.array_equal(with_chart["score"], without["score"])
    in_run = without["cusum"] > 0
    assert in_run.sum() > 20
    assert np.array_equal(with_chart["shift"][in_run], without["shift"][in_run])
    assert not without["shift"][~in_run].any() and not without["chart"].any()


def _with_root(blob: bytes, index: int, value: int) -> bytes:
    """The blob with root number index of the chart section set to value (CRC fixed)."""
    prof = Profile.from_bytes(blob)
    n_roots = prof.n_centroids * 2 * prof.n_channels
    start = len(blob) - 4 - 4 * n_roots  # no outputs section: the roots end just before the CRC
    out = bytearray(blob)
    struct.pack_into("<I", out, start + 4 * index, value)
    struct.pack_into("<I", out, len(out) - 4, zlib.crc32(bytes(out[:-4])))
    return bytes(out)


def test_section_validation(profile):
    blob = profile.to_bytes()
    roots = profile.chart_roots()
    first = int(roots.ravel()[0])
    assert Profile.from_bytes(_with_root(blob, 0, first)).feature_chart
    with pytest.raises(ProfileError, match="roots do not match"):
        Profile.from_bytes(_with_root(blob, 0, first + 1))
    with pytest.raises(ProfileError, match="out of range"):
        Profile.from_bytes(_with_root(blob, 0, (1 << 25) + 1))
    # The C parser alone accepts any root up to 2^25 (the host refuses non-derived ones, above).
    tinydrift.core.profile.validate(_with_root(blob, 0, 1 << 25))
    assert profile.replace(feature_chart=False).to_bytes() != blob


def _offset_stream(recordings, channel: int, sd_fraction: float, seed: int) -> tuple[np.ndarray, int]:
    test = recordings[1]
    rng = np.random.default_rng(seed)
    frames = np.concatenate([test[i] for i in rng.permutation(len(test))]).astype(np.int64)
    change = (len(frames) // 3) // WINDOW * WINDOW
    frames[change:, channel] += int(round(sd_fraction * frames[:, channel].std()))
    return np.clip(frames, -32767, 32767).astype(np.int16), change // WINDOW


def _named(row: np.void) -> int:
    """Channels an alarm names, as docs/algorithm.md says a user reads them: a health event's masks, else
    1 << top_channel."""
    if int(row["trigger"]) & TRIGGER_HEALTH:
        return int(row["stuck_mask"]) | int(row["saturated_mask"]) | int(row["missing_mask"])
    return 1 << int(row["top_channel"])


def test_chart_catches_a_small_offset_sooner_and_names_the_channel(profile, recordings):
    score_only = tinydrift.build_profile(recordings[0], window=WINDOW, false_alarm_rate=1e-3, sentinel=-32768,
                                         rails=(-32767, 32767), seed=5, feature_chart=False)
    delays = {"chart": [], "score": []}
    named = 0
    for channel in range(6):
        stream, change = _offset_stream(recordings, channel, 0.5, seed=channel)
        for name, prof in (("chart", profile), ("score", score_only)):
            rows = tinydrift.Monitor(prof).push(stream)
            hits = np.flatnonzero(rows["trigger"][change:] != 0)
            delays[name].append(int(hits[0]) if hits.size else len(rows) - change)
            if name == "chart" and hits.size:
                named += int(_named(rows[change + hits[0]]) == 1 << channel)
    print(f"\n[feature chart] offset 0.5 sd, delay in windows per channel: chart {delays['chart']}, "
          f"score only {delays['score']}; channel named {named}/6")
    assert np.median(delays["chart"]) < np.median(delays["score"])
    assert sum(delays["chart"]) < sum(delays["score"])
    assert named >= 5


def test_chart_left_out_when_the_held_out_windows_cannot_be_calibrated():
    """Held-out tails that differ from the fitting windows along one feature keep its shift biased: no reference
    value up to 2 sd holds the chart under its budget, so the builder leaves the chart out and says so."""
    rng = np.random.default_rng(8)
    frames = rng.normal(0, 100, (64 * 400, 3)).astype(np.int64)
    frames[-64 * 80 :, 1] += 300  # the held-out tail (the last 20 % of windows, holdout=0.2) sits 3 sd above the rest
    said: list[str] = []
    prof = tinydrift.build_profile(frames.astype(np.int16), window=64, holdout=0.2, progress=said.append)
    assert not prof.feature_chart
    assert any("feature chart left out" in line for line in said)
    assert sum("calibrating the feature chart" in line for line in said) == 3  # k 0.5, 1 and 2 tried
    assert not tinydrift.Monitor(prof).push(frames[: 64 * 10].astype(np.int16))["chart"].any()
    clean = tinydrift.build_profile(rng.normal(0, 100, (64 * 400, 3)).astype(np.int16), window=64)
    assert clean.feature_chart and clean.chart_k_q8 == 128
