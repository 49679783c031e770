"""Exact integer window statistics of the C core vs an independent numpy int64 / Fraction oracle.

Everything the monitor reports per window and channel (sum, sumsq, min, max, n_missing,
n_saturated, mean_q8, std_q8) is checked for exact equality against Python integers, and the
header's accuracy promises (mean within 1/512 LSB, std within 1/512 + 1/65536 LSB of the exact
population values) are checked both exactly (rationals) and against float64 numpy.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import (
    INT16_MAX,
    INT16_MIN,
    mean_q8_oracle,
    round_half_away,
    stats_profile,
    std_q8_oracle,
    var_q32_oracle,
    window_oracle,
)
from tinydrift import ChannelConfig, Monitor
from tinydrift.core.native import ffi, lib

STD_BOUND = Fraction(1, 512) + Fraction(1, 65536)   # td_stats.h: std_q8 vs exact population std
MEAN_BOUND = Fraction(1, 512)                        # td_stats.h: mean_q8 vs exact mean
FLOAT_SLACK = 1e-9                                   # float64 numpy's own error on these inputs


# ---------------------------------------------------------------------------------------------
# Oracle comparison of Monitor rows
# ---------------------------------------------------------------------------------------------

def _clamp16(v: int) -> int:
    return max(INT16_MIN, min(INT16_MAX, v))


def check_rows(frames: np.ndarray, channels: list[ChannelConfig], window: int, rows: np.ndarray) -> None:
    """Assert every per-window statistic in rows equals the exact oracle computed from frames."""
    n_windows = len(frames) // window
    assert len(rows) == n_windows
    assert rows["window"].tolist() == list(range(n_windows))
    for w in range(n_windows):
        block = frames[w * window : (w + 1) * window]
        z_all = []
        recon_q16 = 0
        for c, cfg in enumerate(channels):
            o = window_oracle(block[:, c], cfg)
            ctx = f"window {w} channel {c} cfg {cfg}"
            assert rows["sum"][w, c] == o["sum"], ctx
            assert rows["sumsq"][w, c] == o["sumsq"], ctx
            assert rows["min"][w, c] == o["min"], ctx
            assert rows["max"][w, c] == o["max"], ctx
            assert rows["n_missing"][w, c] == o["n_missing"], ctx
            assert rows["n_saturated"][w, c] == o["n_saturated"], ctx

            n = o["n_valid"]
            mean_q8 = mean_q8_oracle(o["sum"], n)
            var_q32 = var_q32_oracle(o["sum"], o["sumsq"], n)
            std_q8 = std_q8_oracle(var_q32)
            mean_c = rows["mean"][w, c] * 256.0
            std_c = rows["std"][w, c] * 256.0
            assert mean_c == mean_q8, ctx
            assert std_c == std_q8, ctx

            if n:
                # Header promises, exactly: |mean_q8/256 - mean| <= 1/512, |std_q8/256 - std| <= 1/512 + 1/65536.
                exact_mean = Fraction(o["sum"], n)
                exact_var = Fraction(n * o["sumsq"] - o["sum"] ** 2, n * n)
                assert abs(Fraction(mean_q8, 256) - exact_mean) <= MEAN_BOUND, ctx
                s = Fraction(std_q8, 256)
                lo = max(s - STD_BOUND, Fraction(0))
                assert lo * lo <= exact_var <= (s + STD_BOUND) ** 2, ctx
                # ... and against float64 numpy.
                valid = o["valid"].astype(np.float64)
                assert abs(rows["mean"][w, c] - valid.mean()) <= float(MEAN_BOUND) + FLOAT_SLACK, ctx
                assert abs(rows["std"][w, c] - valid.std()) <= float(STD_BOUND) + FLOAT_SLACK, ctx

            # Stats profile: mu = 0, inv_sigma = 2^24, so z is the feature clamped to int16 (0 if no valid sample).
            zm = _clamp16(mean_q8) if n else 0
            zs = _clamp16(std_q8) if n else 0
            assert rows["z_mean"][w, c] * 256.0 == zm, ctx
            assert rows["z_std"][w, c] * 256.0 == zs, ctx
            z_all.append(max(abs(zm), abs(zs)))
            recon_q16 += zm * zm + zs * zs
        # top_channel: first channel with the largest |z| (0 when all are 0).
        expected_top = 0
        best = 0
        for c, a in enumerate(z_all):
            if a > best:
                best, expected_top = a, c
        assert rows["top_channel"][w] == expected_top, f"window {w}"
        # Zero projection and centroid: embedding 0, dist 0, recon = |z|^2 rounded Q16 -> Q8 (saturating uint32).
        assert rows["dist"][w] == 0.0
        assert rows["recon"][w] * 256.0 == min((recon_q16 + 128) >> 8, 0xFFFFFFFF), f"window {w}"


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

@st.composite
def channel_configs(draw) -> ChannelConfig:
    kind = draw(st.sampled_from(["default", "default", "rails", "rails_sentinel_lo", "rails_sentinel_hi",
                                 "sentinel_min"]))
    if kind == "default":
        return ChannelConfig()
    if kind == "sentinel_min":  # common device convention: INT16_MIN marks a missing reading
        return ChannelConfig(rail_lo=-32767, rail_hi=32767, sentinel=-32768)
    lo = draw(st.integers(-32768, 32766))
    hi = draw(st.integers(lo + 1, 32767))
    if kind == "rails":
        return ChannelConfig(rail_lo=lo, rail_hi=hi)
    if kind == "rails_sentinel_lo":
        return ChannelConfig(rail_lo=lo, rail_hi=hi, sentinel=draw(st.integers(-32768, lo)))
    return ChannelConfig(rail_lo=lo, rail_hi=hi, sentinel=draw(st.integers(hi, 32767)))


STYLES = ["uniform", "narrow", "gauss", "extremes", "constant", "sentinel_heavy", "around_rails", "mixed"]


def gen_channel(rng: np.random.Generator, n: int, cfg: ChannelConfig, style: str) -> np.ndarray:
    """Samples of one channel in a given style (int64, within int16)."""
    if style == "uniform":
        x = rng.integers(INT16_MIN, INT16_MAX + 1, n)
    elif style == "narrow":
        centre = int(rng.integers(INT16_MIN, INT16_MAX + 1))
        x = centre + rng.integers(-3, 4, n)
    elif style == "gauss":
        x = np.round(rng.normal(rng.uniform(-30000, 30000), rng.uniform(0.1, 3000), n))
    elif style == "extremes":
        x = rng.choice(np.array([INT16_MIN, INT16_MAX]), n)
    elif style == "constant":
        x = np.full(n, int(rng.choice([INT16_MIN, INT16_MAX, 0, -1, 1, int(rng.integers(INT16_MIN, 32768))])))
    elif style == "sentinel_heavy":
        x = rng.integers(INT16_MIN, INT16_MAX + 1, n)
        s = cfg.sentinel if cfg.sentinel is not None else INT16_MIN
        x[rng.random(n) < rng.uniform(0.5, 1.0)] = s
    elif style == "around_rails":
        pts = np.array([cfg.rail_lo - 1, cfg.rail_lo, cfg.rail_lo + 1, cfg.rail_hi - 1, cfg.rail_hi,
                        cfg.rail_hi + 1, INT16_MIN, INT16_MAX])
        x = rng.choice(pts, n)
    else:  # mixed: a bit of everything, in random order
        parts = [gen_channel(rng, n, cfg, s) for s in STYLES[:-1]]
        pick = rng.integers(0, len(parts), n)
        x = np.choose(pick, parts)
    x = np.clip(x, INT16_MIN, INT16_MAX)
    if cfg.sentinel is not None and style != "sentinel_heavy":
        x[rng.random(n) < 0.05] = cfg.sentinel
    return x.astype(np.int16)


def run_case(window: int, channels: list[ChannelConfig], styles: list[str], n_frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = np.empty((n_frames, len(channels)), np.int16)
    for c, (cfg, style) in enumerate(zip(channels, styles)):
        frames[:, c] = gen_channel(rng, n_frames, cfg, style)
    profile = stats_profile(window, channels)
    rows = Monitor(profile).push(frames)
    check_rows(frames, profile.channels, window, rows)


# ---------------------------------------------------------------------------------------------
# Monitor.push vs the oracle
# ---------------------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), window=st.integers(2, 1024), n_ch=st.integers(1, 16), seed=st.integers(0, 2**32 - 1))
def test_window_stats_random(data, window, n_ch, seed):
    channels = [data.draw(channel_configs()) for _ in range(n_ch)]
    styles = [data.draw(st.sampled_from(STYLES)) for _ in range(n_ch)]
    n_windows = data.draw(st.integers(1, max(1, 4096 // window)))
    extra = data.draw(st.integers(0, window - 1))  # a trailing partial window yields no row
    run_case(window, channels, styles, n_windows * window + extra, seed)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    window=st.integers(2, 48),
    data=st.data(),
)
def test_window_stats_small_arrays(window, data):
    """Element-wise hypothesis frames (shrinkable), biased to special values."""
    n_ch = data.draw(st.integers(1, 4))
    channels = [data.draw(channel_configs()) for _ in range(n_ch)]
    special = [INT16_MIN, INT16_MIN + 1, -1, 0, 1, INT16_MAX - 1, INT16_MAX]
    for cfg in channels:
        special += [cfg.rail_lo, cfg.rail_hi] + ([cfg.sentinel] if cfg.sentinel is not None else [])
    value = st.one_of(st.sampled_from(special), st.integers(INT16_MIN, INT16_MAX))
    n_frames = window * data.draw(st.integers(1, 3))
    flat = data.draw(st.lists(value, min_size=n_frames * n_ch, max_size=n_frames * n_ch))
    frames = np.array(flat, dtype=np.int16).reshape(n_frames, n_ch)
    profile = stats_profile(window, channels)
    check_rows(frames, profile.channels, window, Monitor(profile).push(frames))


ADVERSARIAL = {
    "all_min": lambda n: np.full(n, INT16_MIN),
    "all_max": lambda n: np.full(n, INT16_MAX),
    "constant": lambda n: np.full(n, 12345),
    "alternating": lambda n: np.where(np.arange(n) % 2 == 0, INT16_MIN, INT16_MAX),
    "alternating_max_first": lambda n: np.where(np.arange(n) % 2 == 0, INT16_MAX, INT16_MIN),
    "ramp": lambda n: np.linspace(INT16_MIN, INT16_MAX, n).round(),
    "one_outlier": lambda n: np.r_[np.full(n - 1, 32000), [-32768]],
    "tiny_var_large_offset": lambda n: 32766 + (np.arange(n) == n // 2),
    "max_var": lambda n: np.r_[np.full(n // 2, INT16_MIN), np.full(n - n // 2, INT16_MAX)],
}

ADVERSARIAL_CFGS = {
    "default": ChannelConfig(),
    "sentinel_min": ChannelConfig(rail_lo=-32767, rail_hi=32767, sentinel=-32768),
    "sentinel_max": ChannelConfig(rail_lo=-32768, rail_hi=32766, sentinel=32767),
    "rails_inside": ChannelConfig(rail_lo=-1000, rail_hi=1000),
    "rails_inside_sentinel": ChannelConfig(rail_lo=-1000, rail_hi=1000, sentinel=-1000),
    "rails_adjacent": ChannelConfig(rail_lo=0, rail_hi=1, sentinel=-5),
    "rails_12345": ChannelConfig(rail_lo=12344, rail_hi=12346),
    "rail_equals_value": ChannelConfig(rail_lo=12345, rail_hi=32000),
}


@pytest.mark.parametrize("window", [2, 3, 64, 1023, 1024])
@pytest.mark.parametrize("pattern", sorted(ADVERSARIAL))
def test_window_stats_adversarial(window, pattern):
    cfg_names = sorted(ADVERSARIAL_CFGS)
    channels = [ChannelConfig(**vars(ADVERSARIAL_CFGS[name])) for name in cfg_names]
    col = np.clip(ADVERSARIAL[pattern](2 * window), INT16_MIN, INT16_MAX).astype(np.int16)
    frames = np.repeat(col[:, None], len(channels), axis=1)
    profile = stats_profile(window, channels)
    check_rows(frames, profile.channels, window, Monitor(profile).push(frames))


@pytest.mark.parametrize("window", [2, 17, 1024])
def test_window_stats_sentinel_only(window):
    """A window whose every sample is missing: no valid sample, min/max at their 'none' values, z = 0."""
    cfg = ChannelConfig(rail_lo=-32767, rail_hi=32767, sentinel=-32768)
    frames = np.full((2 * window, 2), INT16_MIN, np.int16)
    frames[window:, 1] = 5  # second window of channel 1 fully valid
    profile = stats_profile(window, [cfg, ChannelConfig(**vars(cfg))])
    rows = Monitor(profile).push(frames)
    check_rows(frames, profile.channels, window, rows)
    assert rows["n_missing"][0].tolist() == [window, window]
    assert rows["min"][0].tolist() == [INT16_MAX, INT16_MAX]
    assert rows["max"][0].tolist() == [INT16_MIN, INT16_MIN]
    assert rows["mean"][1, 1] == 5.0 and rows["std"][1, 1] == 0.0


def test_window_stats_rails_inside_range_counts():
    """Hand-computed case: rails (-10, 10), sentinel -10 (at the low rail: missing, not saturated)."""
    cfg = ChannelConfig(rail_lo=-10, rail_hi=10, sentinel=-10)
    x = np.array([-10, -11, -9, 0, 9, 10, 11, 32767, -10, 3], np.int16)
    profile = stats_profile(10, [cfg])
    rows = Monitor(profile).push(x.reshape(-1, 1))
    valid = [-11, -9, 0, 9, 10, 11, 32767, 3]
    assert rows["sum"][0, 0] == sum(valid)
    assert rows["sumsq"][0, 0] == sum(v * v for v in valid)
    assert rows["n_missing"][0, 0] == 2
    assert rows["n_saturated"][0, 0] == 4  # -11, 10, 11, 32767
    assert rows["min"][0, 0] == -11 and rows["max"][0, 0] == 32767


# ---------------------------------------------------------------------------------------------
# Direct C API: td_window_add with strides and chunks, td_mean_q8, td_var_q32, td_std_q8, td_isqrt64
# ---------------------------------------------------------------------------------------------

def _rules(cfg: ChannelConfig):
    return ffi.new("td_sample_rules_t *", {
        "rail_lo": cfg.rail_lo, "rail_hi": cfg.rail_hi,
        "sentinel": 0 if cfg.sentinel is None else cfg.sentinel,
        "use_sentinel": 0 if cfg.sentinel is None else 1,
    })


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    cfg=channel_configs(),
    style=st.sampled_from(STYLES),
    n=st.integers(0, 1024),
    stride=st.integers(1, 17),
    n_chunks=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_td_window_add_strided_chunks(cfg, style, n, stride, n_chunks, seed):
    rng = np.random.default_rng(seed)
    samples = gen_channel(rng, n, cfg, style) if n else np.zeros(0, np.int16)
    # Interleave with poison values that would corrupt every statistic if the stride were ignored.
    buf = np.full(max(1, n * stride), INT16_MIN if cfg.rail_lo > INT16_MIN else INT16_MAX, np.int16)
    buf[: n * stride : stride] = samples
    if stride > 1:
        buf[1 : n * stride : stride] = rng.integers(INT16_MIN, INT16_MAX + 1, len(buf[1 : n * stride : stride]))
    cuts = sorted(rng.integers(0, n + 1, n_chunks - 1).tolist())
    bounds = [0] + cuts + [n]

    acc = ffi.new("td_window_acc_t *")
    assert lib.td_window_reset(acc) == lib.TD_OK
    rules = _rules(cfg)
    keep = ffi.from_buffer("int16_t[]", buf)  # keeps the buffer view alive while base is used
    base = ffi.cast("int16_t *", keep)
    for a, b in zip(bounds[:-1], bounds[1:]):
        assert lib.td_window_add(acc, rules, base + a * stride, stride, b - a) == lib.TD_OK
    o = window_oracle(samples, cfg)
    assert (acc.sum, acc.sumsq, acc.min, acc.max, acc.n_missing, acc.n_saturated, acc.n_samples) == (
        o["sum"], o["sumsq"], o["min"], o["max"], o["n_missing"], o["n_saturated"], n)


def test_td_window_add_capacity_and_args():
    acc = ffi.new("td_window_acc_t *")
    assert lib.td_window_reset(acc) == lib.TD_OK
    rules = _rules(ChannelConfig())
    buf = np.arange(1100, dtype=np.int16)
    ptr = ffi.from_buffer("int16_t[]", buf)
    assert lib.td_window_add(acc, rules, ptr, 1, 1000) == lib.TD_OK
    before = (acc.sum, acc.sumsq, acc.min, acc.max, acc.n_samples)
    assert lib.td_window_add(acc, rules, ptr, 1, 25) == lib.TD_ERR_CAPACITY
    assert (acc.sum, acc.sumsq, acc.min, acc.max, acc.n_samples) == before  # nothing consumed
    assert lib.td_window_add(acc, rules, ptr, 1, 24) == lib.TD_OK
    assert acc.n_samples == 1024
    assert acc.sum == int(np.arange(1000).sum() + np.arange(24).sum())
    assert lib.td_window_add(acc, rules, ptr, 1, 1) == lib.TD_ERR_CAPACITY
    assert lib.td_window_add(acc, rules, ptr, 0, 0) == lib.TD_ERR_ARG       # stride 0
    assert lib.td_window_add(acc, rules, ffi.NULL, 1, 1) == lib.TD_ERR_ARG  # NULL samples with n > 0
    assert lib.td_window_add(acc, rules, ffi.NULL, 1, 0) == lib.TD_OK       # n == 0 needs no buffer
    assert lib.td_window_add(acc, ffi.NULL, ptr, 1, 0) == lib.TD_ERR_ARG


def test_td_window_add_rejects_invalid_rules():
    """td_stats.h: TD_ERR_ARG unless rail_lo < rail_hi and a used sentinel lies outside (rail_lo, rail_hi)."""
    buf = np.array([5, -5, 0, 0, 7], np.int16)
    ptr = ffi.from_buffer("int16_t[]", buf)
    bad = [
        {"rail_lo": 10, "rail_hi": 10, "sentinel": 0, "use_sentinel": 0},
        {"rail_lo": 11, "rail_hi": 10, "sentinel": 0, "use_sentinel": 0},
        {"rail_lo": -32768, "rail_hi": 32767, "sentinel": 0, "use_sentinel": 1},      # sentinel inside the rails
        {"rail_lo": -100, "rail_hi": 100, "sentinel": -99, "use_sentinel": 1},
        {"rail_lo": -100, "rail_hi": 100, "sentinel": 99, "use_sentinel": 1},
    ]
    for fields in bad:
        acc = ffi.new("td_window_acc_t *")
        assert lib.td_window_reset(acc) == lib.TD_OK
        assert lib.td_window_add(acc, ffi.new("td_sample_rules_t *", fields), ptr, 1, 5) == lib.TD_ERR_ARG, fields
        assert (acc.n_samples, acc.sum, acc.sumsq, acc.n_missing) == (0, 0, 0, 0)
    # At a rail, or unused, the sentinel is fine; the sentinel wins over the rail.
    for fields, missing in [({"rail_lo": -100, "rail_hi": 100, "sentinel": -100, "use_sentinel": 1}, 0),
                            ({"rail_lo": -5, "rail_hi": 100, "sentinel": -5, "use_sentinel": 1}, 1),
                            ({"rail_lo": -100, "rail_hi": 0, "sentinel": 0, "use_sentinel": 1}, 2),
                            ({"rail_lo": -100, "rail_hi": 100, "sentinel": 0, "use_sentinel": 0}, 0)]:
        acc = ffi.new("td_window_acc_t *")
        assert lib.td_window_reset(acc) == lib.TD_OK
        assert lib.td_window_add(acc, ffi.new("td_sample_rules_t *", fields), ptr, 1, 5) == lib.TD_OK, fields
        assert acc.n_missing == missing, fields
        cfg = ChannelConfig(rail_lo=fields["rail_lo"], rail_hi=fields["rail_hi"],
                            sentinel=fields["sentinel"] if fields["use_sentinel"] else None)
        o = window_oracle(buf, cfg)
        assert (acc.sum, acc.sumsq, acc.n_saturated, acc.min, acc.max) == (
            o["sum"], o["sumsq"], o["n_saturated"], o["min"], o["max"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(n=st.integers(0, 1100), s=st.integers(-2**31, 2**31 - 1), q=st.integers(-2**63, 2**63 - 1))
def test_td_mean_var_total_for_any_input(n, s, q):
    """td_stats.h: total; |sum| clamped to 32768 n (mean), sumsq clamped to [0, 2^30 n] (variance)."""
    if n == 0 or n > 1024:
        assert lib.td_mean_q8(s, n) == 0 and lib.td_var_q32(s, q, n) == 0
        return
    assert lib.td_mean_q8(s, n) == mean_q8_oracle(max(-32768 * n, min(32768 * n, s)), n)
    sq = max(0, min(q, (1 << 30) * n))
    d = max(0, n * sq - s * s)
    assert lib.td_var_q32(s, q, n) == round_half_away(Fraction(d << 32, n * n))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(n=st.integers(1, 1024), data=st.data())
def test_td_mean_q8_exact(n, data):
    sums = [0, 1, -1, n // 2, -(n // 2), 32767 * n, -32768 * n, n, -n, data.draw(st.integers(-32768 * n, 32767 * n))]
    for s in sums:
        assert lib.td_mean_q8(s, n) == mean_q8_oracle(s, n), (s, n)


def test_td_mean_q8_ties_and_totality():
    # sum*256/n = k + 1/2 exactly: ties go away from zero, symmetrically.
    for n in (2, 512, 1024):
        for k in range(-3, 3):
            s2 = (2 * k + 1) * n  # 2*sum*256 = (2k+1) n  ->  sum = (2k+1) n / 512
            if s2 % 512 == 0:
                s = s2 // 512
                expected = k + 1 if k >= 0 else k
                assert lib.td_mean_q8(s, n) == expected, (s, n)
    assert lib.td_mean_q8(1, 512) == 1 and lib.td_mean_q8(-1, 512) == -1
    assert lib.td_mean_q8(123, 0) == 0
    assert lib.td_mean_q8(123, 1025) == 0
    assert lib.td_var_q32(5, 25, 0) == 0
    assert lib.td_var_q32(5, 25, 1025) == 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(n=st.integers(1, 1024), style=st.sampled_from(STYLES), seed=st.integers(0, 2**32 - 1))
def test_td_var_std_q32_exact(n, style, seed):
    x = gen_channel(np.random.default_rng(seed), n, ChannelConfig(), style).astype(np.int64)
    s, q = int(x.sum()), int((x * x).sum())
    v = lib.td_var_q32(s, q, n)
    assert v == var_q32_oracle(s, q, n)
    assert lib.td_std_q8(v) == std_q8_oracle(v)


def test_td_var_q32_extremes():
    for n in (1, 2, 1023, 1024):
        for x in ([INT16_MIN] * n, [INT16_MAX] * n,
                  [INT16_MIN] * (n // 2) + [INT16_MAX] * (n - n // 2)):
            s, q = sum(x), sum(v * v for v in x)
            v = lib.td_var_q32(s, q, n)
            assert v == var_q32_oracle(s, q, n)
            assert lib.td_std_q8(v) == std_q8_oracle(v)
    # Largest possible variance: half at each extreme of 1024 samples: var = 32767.5^2.
    assert lib.td_var_q32(512 * (INT16_MIN + INT16_MAX), 512 * (INT16_MIN**2 + INT16_MAX**2), 1024) == (
        round(Fraction(65535, 2) ** 2 * 2**32))


ISQRT_EDGES = [0, 1, 2, 3, 4, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
for _s in (1, 2, 3, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1):
    ISQRT_EDGES += [_s * _s - 1, _s * _s, _s * _s + 1]
ISQRT_EDGES = sorted({v for v in ISQRT_EDGES if 0 <= v < 2**64})


@pytest.mark.parametrize("value", ISQRT_EDGES)
def test_td_isqrt64_edges(value):
    assert lib.td_isqrt64(value) == math.isqrt(value)


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1).map(lambda s: s * s),
                 st.integers(1, 2**32 - 1).map(lambda s: s * s - 1),
                 st.integers(0, 2**32 - 2).map(lambda s: s * s + 2 * s)))
def test_td_isqrt64_random(value):
    assume(value < 2**64)
    assert lib.td_isqrt64(value) == math.isqrt(value)


def test_td_isqrt64_bulk_random():
    rng = np.random.default_rng(20240611)
    vals = rng.integers(0, 2**64, size=20000, dtype=np.uint64, endpoint=False).tolist()
    vals += [int(v) >> int(k) for v, k in zip(vals[:2000], rng.integers(1, 64, 2000))]
    for v in vals:
        assert lib.td_isqrt64(v) == math.isqrt(v), v
