"""build_profile + calibration end to end on a seeded synthetic 6-channel source.

Checks the calibrated false-alarm rate on fresh data, detection and root-cause attribution of a
1-std mean shift, the monitor's decision against a pure-Python CUSUM, input validation of
build_profile, and that pushing a stream in one call or in arbitrary chunks gives identical rows.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinydrift
from conftest import SensorGenerator, stats_profile
from tinydrift import ChannelConfig, InputError, Monitor, build_profile
from tinydrift.build.calibrate import count_alarms, false_alarms
from tinydrift.core.native import ffi, lib

WINDOW = 64
RATE = 1e-3
TRAIN_WINDOWS = 3000
FRESH_WINDOWS = 20_000
UINT32_MAX = 0xFFFFFFFF


@pytest.fixture(scope="module")
def gen() -> SensorGenerator:
    return SensorGenerator()


@pytest.fixture(scope="module")
def profile(gen):
    train = gen.draw(np.random.default_rng(1234), WINDOW * TRAIN_WINDOWS)
    return build_profile(train, window=WINDOW, false_alarm_rate=RATE, seed=7)


# ---------------------------------------------------------------------------------------------
# Independent pure-Python detector
# ---------------------------------------------------------------------------------------------

def py_count_alarms(k: int, h: int, instant: int, scores_q8) -> int:
    """td_detector_count_alarms in Python: fresh CUSUM, reset after every trigger."""
    s, alarms = 0, 0
    for x in scores_q8:
        x = int(x)
        s = min(UINT32_MAX, s + x - k) if s + x > k else 0
        if x > instant or s > h:
            alarms += 1
            s = 0
    return alarms


def py_monitor_decisions(k: int, h: int, instant: int, scores_q8):
    """Per-window (trigger bits, cusum) of a monitor that is never reset."""
    s, out = 0, []
    for x in scores_q8:
        x = int(x)
        s = min(UINT32_MAX, s + x - k) if s + x > k else 0
        out.append(((1 if x > instant else 0) | (2 if s > h else 0), s))
    return out


def py_chart(k: int, h: int, shifts_q8, reset_after_alarm: bool):
    """The feature chart in Python: per window (largest statistic, alarm), up and down CUSUM per feature."""
    up = [0] * len(shifts_q8[0])
    down = [0] * len(shifts_q8[0])
    out = []
    for row in shifts_q8:
        for f, g in enumerate(int(v) for v in row):
            up[f] = min(65535, max(0, up[f] + g - k))
            down[f] = min(65535, max(0, down[f] - g - k))
        top = max(up + down)
        out.append((top, top > h))
        if top > h and reset_after_alarm:
            up = [0] * len(up)
            down = [0] * len(down)
    return out


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------

def test_profile_records_calibration_target(profile):
    assert profile.false_alarm_ppb == 1_000_000
    assert profile.false_alarm_rate == pytest.approx(RATE)
    assert profile.n_channels == 6 and profile.window == WINDOW
    assert 0 < profile.cusum_k_q8 < UINT32_MAX and 0 < profile.instant_q8 < UINT32_MAX
    assert profile.cusum_h_q8 < UINT32_MAX  # a real CUSUM threshold, not "never"


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_false_alarm_rate_on_fresh_data(profile, gen, seed):
    frames = gen.draw(np.random.default_rng(seed), WINDOW * FRESH_WINDOWS)
    rows = Monitor(profile).push(frames)
    assert len(rows) == FRESH_WINDOWS
    n_fa = false_alarms(profile, rows)
    rate = n_fa / len(rows)
    print(f"\n[calibration] seed {seed}: {n_fa} false alarms in {len(rows)} windows = {rate:.2e} per window "
          f"(target {RATE:g}, limit {2 * RATE:g})")
    assert rate <= 2 * RATE
    # The stream is in-distribution: no health events at all.
    assert not np.any(rows["trigger"] & lib.TD_TRIGGER_HEALTH)
    # false_alarms == an independent Python CUSUM over the same scores.
    scores = np.round(rows["score"] * 256).astype(np.int64)
    assert np.array_equal(scores, rows["score"] * 256)  # Q8 scores are exact in float64
    shifts = np.round(rows["shift"] * 256).astype(np.int64)
    chart_alarms = sum(alarm for _, alarm in py_chart(profile.chart_k_q8, profile.chart_h_q8, shifts, True))
    assert n_fa == py_count_alarms(profile.cusum_k_q8, profile.cusum_h_q8, profile.instant_q8, scores) + chart_alarms


def test_monitor_decisions_match_python_cusum(profile, gen):
    frames = gen.draw(np.random.default_rng(99), WINDOW * 3000)
    frames[WINDOW * 2000 :, 3] += 150  # drift to make the CUSUM work
    rows = Monitor(profile).push(frames)
    scores = np.round(rows["score"] * 256).astype(np.int64)
    ref = py_monitor_decisions(profile.cusum_k_q8, profile.cusum_h_q8, profile.instant_q8, scores)
    chart = py_chart(profile.chart_k_q8, profile.chart_h_q8, np.round(rows["shift"] * 256).astype(np.int64), False)
    assert (rows["chart"] * 256).astype(np.int64).tolist() == [top for top, _ in chart]
    # The occupancy test (on by default) is checked in test_occupancy.py; here the score's and the chart's triggers.
    triggers = (rows["trigger"] & (0xFF ^ lib.TD_TRIGGER_OCCUPANCY)).tolist()
    assert triggers == [t | (lib.TD_TRIGGER_FEATURE if a else 0) for (t, _), (_, a) in zip(ref, chart)]
    assert any(a for _, a in chart)  # the drift also fires the chart
    assert (rows["cusum"] * 256).astype(np.int64).tolist() == [s for _, s in ref]
    first = int(np.argmax(rows["trigger"] != 0))
    assert rows["alarm"][first:].all() and not rows["alarm"][:first].any()  # latched
    assert count_alarms(profile.cusum_k_q8, profile.cusum_h_q8, profile.instant_q8, scores.astype(np.uint32)) == (
        py_count_alarms(profile.cusum_k_q8, profile.cusum_h_q8, profile.instant_q8, scores))


# ---------------------------------------------------------------------------------------------
# Detection and attribution of a 1-std mean shift
# ---------------------------------------------------------------------------------------------

CHANGE_WINDOW = 60
POST_WINDOWS = 12


@pytest.mark.parametrize("channel", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("sign", [1, -1])
def test_one_std_mean_shift_detected_and_attributed(profile, gen, channel, sign):
    rng = np.random.default_rng(1000 + 10 * channel + (sign > 0))
    frames = gen.draw(rng, WINDOW * (CHANGE_WINDOW + POST_WINDOWS)).astype(np.int32)
    ref = gen.draw(np.random.default_rng(5), WINDOW * 2000)
    std = float(ref[:, channel].std())  # std of that channel's samples
    assert abs(std - profile.channels[channel].ref_std) < 0.05 * std
    frames[WINDOW * CHANGE_WINDOW :, channel] += sign * int(round(std))
    rows = Monitor(profile).push(frames.astype(np.int16))
    trig = rows["trigger"] != 0
    # Before the change: at most what a 1e-3 per-window rate allows in 60 windows (P(>= 2) ~ 0.2 %). Without a
    # reset a statistic above its threshold triggers in consecutive windows: one alarm is one run of triggers.
    onsets = trig[:CHANGE_WINDOW] & ~np.r_[False, trig[:CHANGE_WINDOW - 1]]
    assert onsets.sum() <= 1
    after = np.flatnonzero(trig[CHANGE_WINDOW:])
    assert after.size, f"shift on channel {channel} not detected in {POST_WINDOWS} windows"
    first = CHANGE_WINDOW + int(after[0])
    assert first < CHANGE_WINDOW + 5, f"detected only at window {first}"
    row = rows[first]
    assert row["top_channel"] == channel
    zm = np.abs(row["z_mean"])
    zs = np.abs(row["z_std"])
    others = np.r_[np.delete(zm, channel), zs]
    assert zm[channel] > others.max(), (zm, zs)
    assert np.sign(row["z_mean"][channel]) == sign
    print(f"\n[shift] channel {channel} sign {sign:+d}: detected at window {first} (change at {CHANGE_WINDOW}), "
          f"trigger {row['trigger']}, z_mean {row['z_mean'][channel]:.2f}, next largest |z| {others.max():.2f}")


# ---------------------------------------------------------------------------------------------
# build_profile input validation
# ---------------------------------------------------------------------------------------------

def test_build_profile_rejects_too_short_data(gen):
    with pytest.raises(InputError, match="too short"):
        build_profile(gen.draw(np.random.default_rng(0), WINDOW * 10), window=WINDOW)
    with pytest.raises(InputError):
        build_profile(gen.draw(np.random.default_rng(0), WINDOW - 1), window=WINDOW)


def test_build_profile_rejects_mismatched_channel_counts(gen):
    a = gen.draw(np.random.default_rng(0), WINDOW * 100)
    b = gen.draw(np.random.default_rng(1), WINDOW * 100)
    with pytest.raises(InputError, match="channels"):
        build_profile([a, b[:, :5]], window=WINDOW)
    with pytest.raises(InputError):
        build_profile([a[:, :1], b], window=WINDOW)


@pytest.mark.parametrize("window", [-1, 0, 1, 1025, 4096])
def test_build_profile_rejects_window_out_of_range(gen, window):
    with pytest.raises(InputError, match="window"):
        build_profile(gen.draw(np.random.default_rng(0), 64 * 100), window=window)


@pytest.mark.parametrize("kwargs", [
    {"false_alarm_rate": 0.0}, {"false_alarm_rate": 1.0}, {"n_centroids": 0}, {"n_centroids": 17},
    {"holdout": 0.0}, {"rails": (100, 100)}, {"sentinel": 0},
])
def test_build_profile_rejects_bad_arguments(gen, kwargs):
    with pytest.raises(InputError):
        build_profile(gen.draw(np.random.default_rng(0), 64 * 100), window=64, **kwargs)


def test_build_profile_rejects_non_int16_data(gen):
    x = gen.draw(np.random.default_rng(0), 64 * 100).astype(np.int32)
    x[5, 2] = 40000
    with pytest.raises(InputError):
        build_profile(x, window=64)
    with pytest.raises(InputError):
        build_profile(x[:, :2].astype(np.float64) + 0.5, window=64)


# ---------------------------------------------------------------------------------------------
# Chunking: one call == many calls, and the C capacity contract
# ---------------------------------------------------------------------------------------------

def _assert_rows_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    for name in a.dtype.names:
        assert np.array_equal(a[name], b[name]), name


def _push_chunked(mon: Monitor, frames: np.ndarray, sizes) -> np.ndarray:
    parts, pos = [], 0
    for size in sizes:
        parts.append(mon.push(frames[pos : pos + size]))
        pos += size
    parts.append(mon.push(frames[pos:]))
    return np.concatenate(parts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_push_in_chunks_equals_one_call(profile, gen, seed):
    rng = np.random.default_rng(seed)
    n_windows = 2500  # > 2048 windows: the single call itself goes through the Python block loop
    frames = gen.draw(rng, WINDOW * n_windows + 17)
    frames[WINDOW * 1500 :, 2] += 120  # some alarms, so detector state crosses chunk boundaries
    frames[rng.random(len(frames)) < 0.001, 5] = 32767  # saturation (health events)
    whole = Monitor(profile).push(frames)
    assert len(whole) == n_windows
    sizes = []
    total = 0
    while total < len(frames):
        s = int(rng.choice([0, 1, int(rng.integers(1, WINDOW)), WINDOW, int(rng.integers(1, 5 * WINDOW)),
                            int(rng.integers(1, 3000 * WINDOW))]))
        sizes.append(s)
        total += s
    _assert_rows_equal(_push_chunked(Monitor(profile), frames, sizes), whole)
    # Frame by frame at the start, then the rest.
    mon = Monitor(profile)
    first = np.concatenate([mon.push(frames[i : i + 1]) for i in range(3 * WINDOW + 5)])
    rest = mon.push(frames[3 * WINDOW + 5 :])
    _assert_rows_equal(np.concatenate([first, rest]), whole)
    assert mon.frames_pending == 17


def test_push_more_than_2048_windows_with_partial_fill():
    """Window 2: one push spans several 2048-window C calls while a partial window is pending."""
    rng = np.random.default_rng(5)
    frames = rng.integers(-32768, 32768, (2 * 5000 + 1, 3)).astype(np.int16)
    prof = stats_profile(2, [ChannelConfig() for _ in range(3)])
    whole = Monitor(prof).push(frames)
    mon = Monitor(prof)
    got = np.concatenate([mon.push(frames[:1]), mon.push(frames[1:4097 * 2]), mon.push(frames[4097 * 2 :])])
    _assert_rows_equal(got, whole)
    assert whole["window"].tolist() == list(range(5000))
    assert np.array_equal(whole["sum"], frames[:10000].reshape(5000, 2, 3).astype(np.int64).sum(axis=1))


def test_td_monitor_push_capacity_contract(profile, gen):
    blob_bytes = profile.to_bytes()
    blob = ffi.new("uint8_t[]", blob_bytes)
    parsed = ffi.new("td_profile_t *")
    assert lib.td_profile_parse(parsed, blob, len(blob_bytes)) == lib.TD_OK
    mon = ffi.new("td_monitor_t *")
    assert lib.td_monitor_init(mon, parsed) == lib.TD_OK
    results = ffi.new("td_window_result_t[]", 4)
    n_res = ffi.new("uint32_t *")
    frames = gen.draw(np.random.default_rng(8), WINDOW * 4)
    ref = Monitor(profile).push(frames)

    def push(lo, hi, cap):
        block = np.ascontiguousarray(frames[lo:hi])
        return lib.td_monitor_push(mon, ffi.from_buffer("int16_t[]", block), hi - lo, results, cap, n_res)

    # 3 windows into room for 2: refused, nothing consumed.
    assert push(0, 3 * WINDOW, 2) == lib.TD_ERR_CAPACITY and n_res[0] == 0
    # A partial window needs no room.
    assert push(0, WINDOW - 1, 0) == lib.TD_OK and n_res[0] == 0
    # Completing it needs room for one result.
    assert push(WINDOW - 1, WINDOW, 0) == lib.TD_ERR_CAPACITY and n_res[0] == 0
    # fill 63 + 129 frames = 3 windows: room for 2 is refused, room for 3 is enough.
    assert push(WINDOW - 1, 3 * WINDOW, 2) == lib.TD_ERR_CAPACITY and n_res[0] == 0
    assert push(WINDOW - 1, 3 * WINDOW, 3) == lib.TD_OK and n_res[0] == 3
    got = [(results[i].window_index, results[i].score_q8, results[i].channels[3].sum) for i in range(3)]
    assert push(3 * WINDOW, 4 * WINDOW, 1) == lib.TD_OK and n_res[0] == 1
    got.append((results[0].window_index, results[0].score_q8, results[0].channels[3].sum))
    assert got == [(int(r["window"]), int(round(r["score"] * 256)), int(r["sum"][3])) for r in ref]


def test_score_equals_monitor_push(profile, gen, tmp_path):
    frames = gen.draw(np.random.default_rng(17), WINDOW * 700 + 5)
    frames[WINDOW * 400 :, 0] += 250
    expected = Monitor(profile).push(frames)
    _assert_rows_equal(tinydrift.score(profile, frames), expected)
    _assert_rows_equal(tinydrift.score(profile.to_bytes(), frames), expected)
    path = tmp_path / "ref.tdp"
    profile.save(path)
    _assert_rows_equal(tinydrift.score(path, frames), expected)
    _assert_rows_equal(tinydrift.score(str(path), frames.astype(np.int64)), expected)
    assert expected["trigger"].any()
