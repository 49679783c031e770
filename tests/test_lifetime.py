"""Lifetime (Chan parallel-merge) statistics of the C core vs exact rationals and float64 numpy.

docs/architecture.md ("Lifetime statistics") documents, per merge, in LSB / LSB^2:

    |d_mean| <= 2^-33 (|delta| + 2)
    |d_var|  <= 2^-33 (|var_b - var_a| + delta^2 + 3) + 2^-18 |delta|

and "after M merges the error is at most M times the largest per-merge bound". The stream tests
check that accumulated form (and the simpler M * 2^-31 * (...) form) against the exact mean and
variance of all valid samples, and print the worst observed error / bound ratios. The per-merge
tests check single merges from arbitrary states against exact rational arithmetic.

Finding (see test_documented_var_bound_counterexample): the per-merge variance bound is too tight
when |delta| is large (>~ 2^15 |1 - 2w|): w(1 - w) is formed from the already rounded w and rounded
again, so its error is up to 2^-33 (1 + |1 - 2w|), i.e. the delta^2 coefficient must be up to 2^-32.
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
from tinydrift.core import ffi, lib

Q32 = 2**32
TWO_M33 = 2.0**-33
TWO_M31 = 2.0**-31
TWO_M18 = 2.0**-18

WORST: dict[str, float] = {}  # scenario -> worst observed error/bound ratio (printed by the tests)


def new_life(n: int = 0, mean_q32: int = 0, var_q32: int = 0):
    life = ffi.new("td_lifetime_t *")
    assert lib.td_lifetime_init(life) == lib.TD_OK
    life.n, life.mean_q32, life.var_q32 = n, mean_q32, var_q32
    return life


def merge(life, n: int, s: int, q: int) -> None:
    assert lib.td_lifetime_merge(life, n, s, q) == lib.TD_OK


def get(life) -> tuple[int, int, int]:
    n, m, v = ffi.new("uint64_t *"), ffi.new("int64_t *"), ffi.new("uint64_t *")
    assert lib.td_lifetime_get(life, n, m, v) == lib.TD_OK
    return int(n[0]), int(m[0]), int(v[0])


def exact_merge(na: int, mean_q32: int, var_q32: int, n: int, s: int, q: int):
    """Exact Chan merge of the (exact, as stored) state with the exact window statistics."""
    ma, va = Fraction(mean_q32, Q32), Fraction(var_q32, Q32)
    mb, vb = Fraction(s, n), Fraction(n * q - s * s, n * n)
    w = Fraction(n, na + n)
    d = mb - ma
    return ma + d * w, va + (vb - va) * w + d * d * w * (1 - w), d, vb - va, w


# ---------------------------------------------------------------------------------------------
# Single merges
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


def test_merge_edge_arguments():
    life = new_life()
    merge(life, 10, 100, 1000)
    before = get(life)
    merge(life, 0, 0, 0)  # empty window: no-op
    assert get(life) == before
    assert lib.td_lifetime_merge(life, 1025, 0, 0) == lib.TD_ERR_ARG
    assert get(life) == before
    assert lib.td_lifetime_merge(ffi.NULL, 1, 0, 0) == lib.TD_ERR_ARG
    assert lib.td_lifetime_init(ffi.NULL) == lib.TD_ERR_ARG
    assert lib.td_lifetime_get(life, ffi.NULL, ffi.new("int64_t *"), ffi.new("uint64_t *")) == lib.TD_ERR_ARG
    assert lib.td_lifetime_init(life) == lib.TD_OK
    assert get(life) == (0, 0, 0)


@pytest.mark.parametrize("values", [[7] * 64, [-32768] * 1024, [32767, -32768] * 512, list(range(-500, 524))])
def test_identical_windows_leave_state_unchanged(values):
    """delta == 0 and var_b == var_a: every merge after the first must be exact (no drift at all)."""
    x = np.array(values, np.int64)
    life = new_life()
    merge(life, len(x), int(x.sum()), int((x * x).sum()))
    first = get(life)
    for k in range(2, 2000):
        merge(life, len(x), int(x.sum()), int((x * x).sum()))
    n, m, v = get(life)
    assert n == 1999 * len(x)
    assert (m, v) == first[1:]


@st.composite
def merge_cases(draw):
    n = draw(st.integers(1, 1024))
    centre = draw(st.integers(-32768, 32767))
    spread = draw(st.sampled_from([0, 1, 3, 100, 20000, 65535]))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.clip(centre + np.random.default_rng(seed).integers(-spread, spread + 1, n), -32768, 32767).astype(np.int64)
    na = draw(st.one_of(st.integers(1, 4096), st.integers(1, 2**40), st.integers(max(1, n - 3), n + 3)))
    mean_q32 = draw(st.one_of(st.integers(-32768 * Q32, 32767 * Q32),
                              st.integers(-2**36, 2**36).map(lambda e: int(x.sum()) * Q32 // n + e)))
    mean_q32 = max(-32768 * Q32, min(32767 * Q32, mean_q32))
    var_q32 = draw(st.one_of(st.integers(0, 2**62), st.integers(0, 2**40), st.just(0)))
    return na, mean_q32, var_q32, n, int(x.sum()), int((x * x).sum())


def _rigorous_var_bound(d, dv, w) -> Fraction:
    """Per-merge variance error bound derived from the code's roundings (see module docstring)."""
    d, dv = abs(d), abs(dv)
    return (Fraction(1, 2**33) * (dv + (1 + abs(1 - 2 * w)) * d * d + 4)
            + w * (1 - w) * Fraction(1, 2**16) * d * (1 + Fraction(1, 2**15)))


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(case=merge_cases())
def test_single_merge_error_bounds(case):
    na, mq, vq, n, s, q = case
    life = new_life(na, mq, vq)
    merge(life, n, s, q)
    n_out, m_out, v_out = get(life)
    mean_x, var_x, d, dv, w = exact_merge(na, mq, vq, n, s, q)
    assert n_out == na + n
    # Mean: the documented per-merge bound holds exactly.
    assert abs(Fraction(m_out, Q32) - mean_x) <= Fraction(1, 2**33) * (abs(d) + 2)
    # Variance: the bound derived from the code's roundings (documented one: see the counterexample test).
    assert abs(Fraction(v_out, Q32) - var_x) <= _rigorous_var_bound(d, dv, w)


# A Monitor-reachable counterexample: window 0 = 991 valid samples of -26413, window 1 = 8 valid samples of 31232
# (the rest of each 1024-frame window is the missing-value sentinel -32768).
COUNTER_A, COUNTER_B = (991, -26413), (8, 31232)


def _doc_var_bound(d, dv) -> Fraction:
    """docs/architecture.md: |dvar| <= 2^-33 (|var_b - var_a| + 2 delta^2 + 4) + 2^-17 |delta|."""
    return Fraction(1, 2**33) * (abs(dv) + 2 * d * d + 4) + Fraction(1, 2**17) * abs(d)


def test_documented_var_bound_holds_on_large_jump():
    """A jump of ~57,000 LSB with w ~ 0.008 once broke an earlier, too tight documented bound."""
    (n1, c1), (n2, c2) = COUNTER_A, COUNTER_B
    # Through the monitor, exactly as a device would see it.
    cfg = ChannelConfig(rail_lo=-32768, rail_hi=32767, sentinel=-32768)
    frames = np.full((2048, 1), -32768, np.int16)
    frames[:n1, 0] = c1
    frames[1024 : 1024 + n2, 0] = c2
    mon = Monitor(stats_profile(1024, [cfg]))
    rows = mon.push(frames)
    assert rows["n_missing"][:, 0].tolist() == [1024 - n1, 1024 - n2]
    n, mean, var = mon.lifetime(0)
    life = new_life()
    merge(life, n1, n1 * c1, n1 * c1 * c1)
    state = get(life)
    merge(life, n2, n2 * c2, n2 * c2 * c2)
    _, _, v_q32 = get(life)
    assert (n, var) == (n1 + n2, v_q32 / Q32)  # the monitor merges exactly what the direct calls merge
    _, var_x, d, dv, _ = exact_merge(*state, n2, n2 * c2, n2 * c2 * c2)
    N, S, Q = n1 + n2, n1 * c1 + n2 * c2, n1 * c1 * c1 + n2 * c2 * c2
    assert var_x == Fraction(N * Q - S * S, N * N)  # first merge is exact here: state = exact window 0
    err = abs(Fraction(v_q32, Q32) - var_x)
    assert err <= _doc_var_bound(d, dv), f"error {float(err):.4f} > documented {float(_doc_var_bound(d, dv)):.4f}"


def test_counterexample_within_corrected_bound():
    """The same merge respects the bound with the delta^2 coefficient 2^-33 (1 + |1 - 2w|) (<= 2^-32)."""
    (n1, c1), (n2, c2) = COUNTER_A, COUNTER_B
    life = new_life()
    merge(life, n1, n1 * c1, n1 * c1 * c1)
    state = get(life)
    merge(life, n2, n2 * c2, n2 * c2 * c2)
    _, _, v_q32 = get(life)
    _, var_x, d, dv, w = exact_merge(*state, n2, n2 * c2, n2 * c2 * c2)
    err = abs(Fraction(v_q32, Q32) - var_x)
    assert err <= _rigorous_var_bound(d, dv, w)
    # Relative to the variance itself the error is negligible (3e-8).
    assert err / var_x < Fraction(1, 10**7)


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
    n_valid = (sc.window - rows["n_missing"][:, 0].astype(np.int64)).tolist()
    sums = rows["sum"][:, 0].tolist()
    sumsqs = rows["sumsq"][:, 0].tolist()

    life = new_life()
    N = S = Q = 0
    M = 0
    max_d = max_dv = max_var = 0.0
    max_doc_mean = max_doc_var = 0.0
    ratios = {"doc_mean": 0.0, "doc_var": 0.0, "brief_mean": 0.0, "brief_var": 0.0}
    checkpoints = set(np.linspace(0, len(sums) - 1, 25).astype(int).tolist())
    for i, (n, s, q) in enumerate(zip(n_valid, sums, sumsqs)):
        if n:
            _, mq, vq = get(life)
            if M:
                d = s / n - mq / Q32
                var_a, var_b = vq / Q32, (n * q - s * s) / (n * n)
            else:  # first merge: only the roundings of mean_b and var_b
                d, var_a, var_b = 0.0, 0.0, 0.0
            M += 1
            max_d, max_dv = max(max_d, abs(d)), max(max_dv, abs(var_b - var_a))
            max_var = max(max_var, var_a, var_b)
            max_doc_mean = max(max_doc_mean, TWO_M33 * (abs(d) + 2))
            max_doc_var = max(max_doc_var, TWO_M33 * (abs(var_b - var_a) + d * d + 3) + TWO_M18 * abs(d))
            merge(life, n, s, q)
            N, S, Q = N + n, S + s, Q + q
        if i in checkpoints and N:
            _, mq, vq = get(life)
            err_mean = float(abs(Fraction(mq, Q32) - Fraction(S, N)))
            err_var = float(abs(Fraction(vq, Q32) - Fraction(N * Q - S * S, N * N)))
            bounds = {
                "doc_mean": (err_mean, M * max_doc_mean),
                "doc_var": (err_var, M * max_doc_var),
                "brief_mean": (err_mean, M * TWO_M31 * (1 + max_d)),
                "brief_var": (err_var, M * TWO_M31 * (1 + max_var + max_d**2)),
            }
            for key, (err, bound) in bounds.items():
                ratios[key] = max(ratios[key], err / bound)
                assert err <= bound, f"{name}: window {i}: {key} error {err:.3e} > bound {bound:.3e}"

    # The monitor merged exactly these windows (n_valid, sum, sumsq), in this order.
    n_mon, mean_mon, var_mon = mon.lifetime(0)
    n_r, mq, vq = get(life)
    assert (n_mon, mean_mon, var_mon) == (n_r, mq / Q32, vq / Q32)

    # float64 numpy over all valid samples of the completed windows.
    samples = x[: len(rows) * sc.window]
    valid = samples[samples != sc.sentinel].astype(np.float64) if sc.sentinel is not None else samples.astype(float)
    assert len(valid) == n_mon
    ref_mean, ref_var = valid.mean(), valid.var()
    np_slack_mean = 1e-9 * (1 + abs(ref_mean))
    np_slack_var = 1e-9 * (1 + ref_var) + 2 * abs(ref_mean) * np_slack_mean
    assert abs(mean_mon - ref_mean) <= M * max_doc_mean + np_slack_mean
    assert abs(var_mon - ref_var) <= M * max_doc_var + np_slack_var
    WORST[name] = max(ratios.values())
    print(f"\n[lifetime] {name}: merges={M} max|delta|={max_d:.1f} max var={max_var:.1f} "
          f"|mean err|={abs(mean_mon - ref_mean):.2e} |var err|={abs(var_mon - ref_var):.2e} "
          + " ".join(f"{k}_ratio={v:.2e}" for k, v in ratios.items()))


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
