"""The predictive tail's bootstrap refits on whole arrays (tinydrift.build.tail_batch) give what the loop gave.

Oracle: the previous predictive_tail, kept here verbatim (fit_sorted_tail on each sorted resample in turn), on
continuous scores, integer scores with ties, scores that are mostly equal, and sizes from 1 to a few thousand.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinydrift.build import tail, tail_batch
from tinydrift.build.tail import REFIT_PRIOR_POINTS, PredictiveTail, fit_sorted_tail
from tinydrift.core.errors import CoreError
from tinydrift.core.native import check, ffi, lib


def loop_predictive_tail(scores: np.ndarray, seed: int = 0, refits: int = 200) -> PredictiveTail:
    s = np.sort(np.asarray(scores, dtype=np.float64))
    top = float(s[-1])
    rng = np.random.default_rng(seed)
    sigma, xi = [], []
    for _ in range(refits):
        fit = fit_sorted_tail(np.sort(s[rng.integers(0, len(s), size=len(s))]), prior_points=REFIT_PRIOR_POINTS)
        sigma.append(max(fit.sigma + fit.xi * max(top - fit.u, 0.0), 1e-9))
        xi.append(fit.xi)
    return PredictiveTail(s, np.array(sigma), np.array(xi))


def _scores(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:
        return rng.lognormal(0, 1, n)
    if kind == 1:
        return np.round(rng.exponential(3, n))  # integer scores: ties at and above u
    if kind == 2:
        return np.abs(np.round(rng.normal(0, 2, n)))  # mostly 0, 1, 2: few or no positive excesses
    if kind == 3:
        return np.full(n, 7.0)  # no excess at all
    return np.round(rng.pareto(1.5, n) * 100)  # heavy tail, Q8-like integers


def test_refits_equal_the_loop() -> None:
    rng = np.random.default_rng(24)
    for trial in range(150):
        n = int(rng.choice([1, 2, 3, 5, 20, 41, 100, 1000, int(rng.integers(1, 3000))]))
        kind = trial % 5
        scores = _scores(rng, kind, n)
        seed = int(rng.integers(1 << 30))
        want = loop_predictive_tail(scores, seed)
        got = tail.predictive_tail(scores, seed)
        assert np.array_equal(got.scores, want.scores), (trial, n, kind)
        assert np.array_equal(got.xi, want.xi) and np.array_equal(got.sigma, want.sigma), (trial, n, kind)


def test_refits_in_small_blocks_equal_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail_batch, "BLOCK_VALUES", 500)  # a resample or two per block, a row or two per fit
    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(50, 2000))
        scores = _scores(rng, trial % 5, n)
        want = loop_predictive_tail(scores, trial, 60)
        got = tail.predictive_tail(scores, trial, 60)
        assert np.array_equal(got.xi, want.xi) and np.array_equal(got.sigma, want.sigma), (trial, n)


def test_resample_tops_equal_sorted_resamples() -> None:
    """The top ranks of each resample (picked above a cutoff, or partitioned) against np.sort of the resample, drawn
    the same way, at sizes where either way is taken, up to 100,000."""
    for n in (1, 2, 30, 200, 1000, 100_000):
        s = np.sort(np.random.default_rng(n).lognormal(0, 1, n))
        for lo in {0, n // 2, max(n - n // 10 - 1, 0), n - 1}:
            want_rng, got_rng = np.random.default_rng(7), np.random.default_rng(7)
            want = np.array([np.sort(s[want_rng.integers(0, n, size=n)])[lo:] for _ in range(6)])
            assert np.array_equal(tail_batch.resample_tops(s, lo, 6, got_rng), want), (n, lo)


@pytest.mark.parametrize("bits", [np.random.PCG64, np.random.Philox])
def test_resample_tops_draw_as_numpy_and_leave_its_state(bits: type) -> None:
    """Drawn in C (PCG64) or by numpy in blocks (another bit generator): the tops of np.sort of each resample drawn
    by rng.integers one resample after the other (the oracle), and the generator left where those draws leave it
    (its state, and the next draws), from states with and without a spare 32-bit half, at sizes 1 to 100,003."""
    for n in (1, 2, 3, 7, 1000, 4099, 100_003):
        s = np.sort(np.random.default_rng(n).lognormal(0, 1, n))
        for lo, spare in ((0, False), (max(n - n // 10 - 1, 0), True), (n - 1, True)):
            want_rng, got_rng = np.random.Generator(bits(n)), np.random.Generator(bits(n))
            if spare:  # one 32-bit draw leaves the other half of a 64-bit output in the bit generator
                want_rng.integers(0, 5, dtype=np.uint32)
                got_rng.integers(0, 5, dtype=np.uint32)
            rows = 3 if n > 5000 else 9
            want = np.array([np.sort(s[want_rng.integers(0, n, size=n)])[lo:] for _ in range(rows)])
            assert np.array_equal(tail_batch.resample_tops(s, lo, rows, got_rng), want), (n, lo)
            assert repr(got_rng.bit_generator.state) == repr(want_rng.bit_generator.state), (n, lo)
            assert np.array_equal(got_rng.integers(0, 1 << 40, size=5), want_rng.integers(0, 1 << 40, size=5))


def test_top_ranks_of_rows_with_too_few_above_the_cutoff() -> None:
    """Rows whose large indices are scarce (not uniform draws): the C count over every index takes over, the same
    values result as np.sort of the row (the oracle), for every keep from 1 to n."""
    rng = np.random.default_rng(5)
    n = 5000
    block = np.concatenate([rng.integers(0, 10, size=(3, n)), rng.integers(0, n, size=(2, n)),
                            np.full((1, n), n - 1), np.zeros((1, n))]).astype(np.uint32)
    s = np.sort(rng.lognormal(0, 1, n))
    for keep in (1, 2, 600, n - 1, n):
        want = s[np.sort(block.astype(np.int64), axis=1)[:, n - keep:]]
        assert np.array_equal(_tops(block, s, keep), want), keep


def _tops(block: np.ndarray, s: np.ndarray, keep: int) -> np.ndarray:
    out = np.empty((len(block), keep))
    counts = np.empty(block.shape[1], np.uint32)
    check(lib.td_host_resample_tops(ffi.from_buffer("uint32_t[]", block), len(block), block.shape[1],
                                    ffi.from_buffer("double[]", s), keep, ffi.from_buffer("uint32_t[]", counts),
                                    ffi.from_buffer("double[]", out)), "td_host_resample_tops")
    return out


@pytest.mark.parametrize("index,keep", [(5000, 10), (-1, 10), (0, 0), (0, 5001)])
def test_resample_tops_rejects_bad_input(index: int, keep: int) -> None:
    """An index outside 0..n-1, keep 0 or keep above n: TD_ERR_ARG (a CoreError), never a read outside s."""
    block = np.zeros((2, 5000), np.int64)
    block[1, 7] = index
    with pytest.raises(CoreError):
        _tops(block.astype(np.uint32), np.zeros(5000), keep)


def test_sorted_medians_are_numpys_bits() -> None:
    """The middle (or mean of the middle two) of sorted rows against np.median (the oracle), bit for bit: odd and
    even lengths 1 to 301, ties, values from 1e-300 to 1e300 where a sum could round or overflow."""
    rng = np.random.default_rng(9)
    for m in (1, 2, 3, 4, 20, 21, 100, 101, 300, 301):
        for x in (rng.lognormal(0, 3, size=(50, m)), np.round(rng.exponential(4, size=(50, m))) + 1.0,
                  10.0 ** rng.uniform(-300, 308, size=(50, m)), rng.uniform(1.0, 1.7, size=(50, m)) * 1e308,
                  rng.integers(1, 4, size=(50, m)) * 5e-324):
            x = np.sort(x, axis=1)
            with np.errstate(over="ignore"):  # both overflow to inf on the rows near 1e308
                want = np.median(x, axis=1)
                got = tail_batch.sorted_medians(x)
            assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), m
