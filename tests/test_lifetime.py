"""Lifetime statistics of the C core: exact sums, read out as exactly rounded mean and variance.

A lifetime keeps the exact count, sum and (128-bit) sum of squares of every merged sample;
td_lifetime_get rounds mean and variance once, in the window formats. So every read-out must equal
the rational oracle (Python integers and Fractions) exactly, at any size up to
TD_LIFETIME_MAX_SAMPLES = 2^48, and agree with float64 numpy over the samples themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import round_half_away, stats_profile, var_q32_oracle
from tinydrift import ChannelConfig, Monitor
from tinydrift.core.native import ffi, lib

Q32 = 2**32
MAX_SAMPLES = 2**48


def new_life(n: int = 0, total: int = 0, sumsq: int = 0):
    """A lifetime holding the given exact sums (as merges would have left them)."""
    life = ffi.new("td_lifetime_t *")
    assert lib.td_lifetime_init(life) == lib.TD_OK
    life.n, life.sum, life.sumsq_lo, life.sumsq_hi = n, total, sumsq & (2**64 - 1), sumsq >> 64
    return life


def merge(life, n: int, s: int, q: int) -> None:
    assert lib.td_lifetime_merge(life, n, s, q) == lib.TD_OK


def get(life) -> tuple[int, int, int]:
    n, m, v = ffi.new("uint64_t *"), ffi.new("int64_t *"), ffi.new("uint64_t *")
    assert lib.td_lifetime_get(life, n, m, v) == lib.TD_OK
    return int(n[0]), int(m[0]), int(v[0])


def oracle(n: int, total: int, sumsq: int) -> tuple[int, int, int]:
    """(n, round(mean 2^32) ties away from zero, round(var 2^32) as td_var_q32) from exact sums."""
    if n == 0:
        return 0, 0, 0
    return n, round_half_away(Fraction(total * Q32, n)), var_q32_oracle(total, sumsq, n)


# ---------------------------------------------------------------------------------------------
# Merges and read-out
# ---------------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None, derandomize=True)
@given(n=st.integers(1, 1024), centre=st.integers(-32768, 32767), spread=st.sampled_from([0, 1, 5, 300, 65535]),
       seed=st.integers(0, 2**32 - 1))
def test_first_merge_is_exactly_rounded(n, centre, spread, seed):
    rng = np.random.default_rng(seed)
    x = np.clip(centre + rng.integers(-spread, spread + 1, n), -32768, 32767).astype(np.int64)
    s, q = int(x.sum()), int((x * x).sum())
    life = new_life()
    merge(life, n, s, q)
    assert get(life) == (n, round_half_away(Fraction(s * Q32, n)), var_q32_oracle(s, q, n))
    # A window's own variance (td_var_q32) and the lifetime's agree on one window.
    assert get(life)[2] == lib.td_var_q32(s, q, n)


def test_merge_edge_arguments():
    life = new_life()
    merge(life, 10, 100, 1000)
    before = get(life)
    merge(life, 0, 0, 0)  # empty window: no-op
    assert get(life) == before
    for n, s, q in [(1025, 0, 0), (1, 32769, 2**30), (1, -32769, 2**30), (2, 0, -1), (2, 0, 2**31 + 1),
                    (0, 1, 0), (0, 0, 1)]:
        assert lib.td_lifetime_merge(life, n, s, q) == lib.TD_ERR_ARG, (n, s, q)
        assert get(life) == before
    merge(life, 1, -32768, 2**30)  # the extremes themselves are valid
    assert lib.td_lifetime_merge(ffi.NULL, 1, 0, 0) == lib.TD_ERR_ARG
    assert lib.td_lifetime_init(ffi.NULL) == lib.TD_ERR_ARG
    assert lib.td_lifetime_get(life, ffi.NULL, ffi.new("int64_t *"), ffi.new("uint64_t *")) == lib.TD_ERR_ARG
    assert lib.td_lifetime_init(life) == lib.TD_OK
    assert get(life) == (0, 0, 0)


def test_capacity_limit_leaves_state_unchanged():
    n0 = MAX_SAMPLES - 64
    life = new_life(n0, -32768 * n0, 2**30 * n0)
    assert lib.td_lifetime_merge(life, 65, 0, 0) == lib.TD_ERR_CAPACITY
    assert get(life) == oracle(n0, -32768 * n0, 2**30 * n0)
    merge(life, 64, -32768 * 64, 2**30 * 64)  # exactly up to the limit
    assert get(life) == (MAX_SAMPLES, -32768 * Q32, 0)
    assert life.sum == -(2**63) and (life.sumsq_hi, life.sumsq_lo) == (2**14, 0)
    assert lib.td_lifetime_merge(life, 1, 0, 0) == lib.TD_ERR_CAPACITY


@st.composite
def lifetime_states(draw):
    """Exact sums any sequence of valid windows can produce: n samples in [-32768, 32767]."""
    n = draw(st.one_of(st.integers(1, 4096), st.integers(1, 2**40), st.integers(MAX_SAMPLES - 2**20, MAX_SAMPLES)))
    lo, hi = draw(st.sampled_from([(-32768, 32767), (-32768, -32768), (32767, 32767), (-5, 5), (30000, 30001)]))
    k = draw(st.integers(0, n))  # k samples at hi, n - k at lo: the extreme variance for that sum ...
    total = k * hi + (n - k) * lo
    sumsq_max = k * hi * hi + (n - k) * lo * lo
    sumsq_min = -(-total * total // n)  # ... and anything down to the least sum of squares a sum allows
    sumsq = draw(st.one_of(st.just(sumsq_max), st.just(sumsq_min), st.integers(sumsq_min, sumsq_max)))
    return n, total, sumsq


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(state=lifetime_states(), window=st.tuples(st.integers(0, 1024), st.integers(0, 2**32 - 1)))
def test_readout_is_exactly_rounded_at_any_size(state, window):
    n, total, sumsq = state
    life = new_life(n, total, sumsq)
    assert get(life) == oracle(n, total, sumsq)
    # One more window merges exactly (or is refused at the limit with the state unchanged).
    m, seed = window
    x = np.random.default_rng(seed).integers(-32768, 32768, m).astype(np.int64)
    s, q = int(x.sum()), int((x * x).sum())
    st_ = lib.td_lifetime_merge(life, m, s, q)
    if n + m > MAX_SAMPLES:
        assert st_ == lib.TD_ERR_CAPACITY and get(life) == oracle(n, total, sumsq)
    else:
        assert st_ == lib.TD_OK and get(life) == oracle(n + m, total + s, sumsq + q)


@pytest.mark.parametrize("values", [[7] * 64, [-32768] * 1024, [32767, -32768] * 512, list(range(-500, 524))])
def test_identical_windows_read_the_same(values):
    """The same window merged 1999 times reads exactly the one window's mean and variance."""
    x = np.array(values, np.int64)
    life = new_life()
    merge(life, len(x), int(x.sum()), int((x * x).sum()))
    first = get(life)
    for _ in range(2, 2000):
        merge(life, len(x), int(x.sum()), int((x * x).sum()))
    n, m, v = get(life)
    assert n == 1999 * len(x)
    assert (m, v) == first[1:]


def test_large_jump_is_exact():
    """991 samples of -26413, then 8 of 31232 (a jump that once broke the Chan merge's error bound): exact now."""
    cfg = ChannelConfig(rail_lo=-32768, rail_hi=32767, sentinel=-32768)
    frames = np.full((2048, 1), -32768, np.int16)
    frames[:991, 0] = -26413
    frames[1024 : 1024 + 8, 0] = 31232
    mon = Monitor(stats_profile(1024, [cfg]))
    assert mon.push(frames)["n_missing"][:, 0].tolist() == [1024 - 991, 1024 - 8]
    N, S = 999, 991 * -26413 + 8 * 31232
    Q = 991 * 26413**2 + 8 * 31232**2
    _, m, v = oracle(N, S, Q)
    assert mon.lifetime(0) == (N, m / Q32, v / Q32)


# ---------------------------------------------------------------------------------------------
# Streams through the Monitor vs exact and float64 references
# ---------------------------------------------------------------------------------------------

@dataclass
class Scenario:
    window: int
    n_windows: int
    make: object  # (rng, n_frames) -> int16 samples of one channel
    sentinel: int | None = None
    extra: dict = field(default_factory=dict)


def _gauss(mean, std):
    return lambda rng, n: np.clip(np.round(rng.normal(mean, std, n)), -32768, 32767).astype(np.int16)


def _tiny_variance(rng, n):
    x = np.full(n, 31999, np.int16)
    x[rng.random(n) < 0.01] = 32000
    return x


def _drift(rng, n):
    return np.clip(np.round(np.linspace(-32000, 32000, n) + rng.normal(0, 20, n)), -32768, 32767).astype(np.int16)


def _regimes(rng, n):
    level = np.where((np.arange(n) // (128 * 37)) % 2 == 0, -30000.0, 30000.0)
    return np.clip(np.round(level + rng.normal(0, 100, n)), -32768, 32767).astype(np.int16)


def _with_missing(rng, n):
    x = np.clip(np.round(rng.normal(1000, 500, n)), -32767, 32767).astype(np.int16)
    x[rng.random(n) < 0.3] = -32768
    x[128 * 10 : 128 * 13] = -32768  # three windows with no valid sample at all
    x[128 * 50 : 128 * 51 - 3] = -32768  # a window with only 3 valid samples
    return x


SCENARIOS = {
    "stationary": Scenario(64, 4000, _gauss(0, 200)),
    "offset_hi": Scenario(256, 1500, _gauss(32000, 300)),
    "offset_lo": Scenario(256, 1500, _gauss(-32000, 300)),
    "tiny_variance": Scenario(1024, 600, _tiny_variance),
    "drift": Scenario(64, 4000, _drift),
    "regimes": Scenario(128, 2000, _regimes),
    "missing": Scenario(128, 2000, _with_missing, sentinel=-32768),
    "many_merges": Scenario(4, 60000, _gauss(30000, 3)),
}


def _replay_and_check(name: str, sc: Scenario, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = sc.make(rng, sc.window * sc.n_windows)
    cfg = ChannelConfig(rail_lo=-32767 if sc.sentinel is not None else -32768, rail_hi=32767, sentinel=sc.sentinel)
    mon = Monitor(stats_profile(sc.window, [cfg]))
    rows = mon.push(x.reshape(-1, 1))
    assert len(rows) == sc.n_windows

    # Exact: the rounded mean and variance of every valid sample of the completed windows.
    samples = x[: len(rows) * sc.window].astype(np.int64)
    valid = samples[samples != sc.sentinel] if sc.sentinel is not None else samples
    N, S, Q = len(valid), int(valid.sum()), int((valid * valid).sum())
    n_mon, mean_mon, var_mon = mon.lifetime(0)
    _, mq, vq = oracle(N, S, Q)
    assert (n_mon, mean_mon, var_mon) == (N, mq / Q32, vq / Q32)

    # float64 numpy over the samples themselves: within the read-out's rounding (2^-33) and numpy's own error.
    ref_mean, ref_var = valid.astype(np.float64).mean(), valid.astype(np.float64).var()
    assert abs(mean_mon - ref_mean) <= 2.0**-32 + 1e-12 * (1 + abs(ref_mean))
    assert abs(var_mon - ref_var) <= 2.0**-32 + 1e-9 * (1 + ref_var + ref_mean**2 * 1e-3)
    print(f"\n[lifetime] {name}: windows={len(rows)} samples={N} mean={mean_mon:.6f} var={var_mon:.6f} "
          f"|mean - float64|={abs(mean_mon - ref_mean):.2e} |var - float64|={abs(var_mon - ref_var):.2e}")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lifetime_stream_vs_reference(name):
    _replay_and_check(name, SCENARIOS[name], seed=sorted(SCENARIOS).index(name) + 100)


def test_lifetime_multichannel_monitor_matches_per_channel():
    """Channels are merged independently: a 3-channel monitor equals three 1-channel monitors."""
    rng = np.random.default_rng(3)
    frames = np.stack([_gauss(0, 200)(rng, 64 * 500), _drift(rng, 64 * 500), _tiny_variance(rng, 64 * 500)], axis=1)
    mon = Monitor(stats_profile(64, [ChannelConfig() for _ in range(3)]))
    mon.push(frames)
    for c in range(3):
        single = Monitor(stats_profile(64, [ChannelConfig()]))
        single.push(frames[:, c : c + 1])
        assert mon.lifetime(c) == single.lifetime(0)
    from tinydrift import InputError
    with pytest.raises(InputError):
        mon.lifetime(3)
