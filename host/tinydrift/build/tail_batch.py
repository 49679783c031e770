"""The bootstrap refits of the predictive tail (tinydrift.build.tail.predictive_tail) on whole arrays.

predictive_tail fits a generalized Pareto tail to each of its 200 bootstrap resamples; one resample after the other
that was 200 sorts of the whole resample and 200 small fits, about 0.02 s CPU per tail at 1,000 scores (Python calls)
and 1.7 s at 100,000 (sorts). Here a resample's top is found from its largest indices (the scores are sorted, so
the top indices give the top values in order: a C count of the indices above a cutoff; O(n), not a sort), and
the fits of every resample whose tail has the same number of exceedances run as one (b, grid, m) computation.
Every addition, mean and median is the one fit_gpd and fit_sorted_tail make, in the same order (numpy reduces each
row of a contiguous last axis as it reduces a 1-D array), so the shapes are the same bits; tests/test_tail_batch.py
checks that against the loop.
"""

from __future__ import annotations

import math

import numpy as np

from tinydrift.core.native import check, ffi, lib

# Values per block of resamples (indices, and grid x exceedances of the fit): 4 MiB of int64 or float64.
BLOCK_VALUES = 1 << 19
_LOW64 = (1 << 64) - 1


def resample_tops(s: np.ndarray, lo: int, refits: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of the sorted values at ranks lo..n-1 of refits bootstrap resamples of the sorted scores s, drawn as
    np.sort(s[rng.integers(0, n, size=n)]) one resample after the other (the same draws; rng is left as they leave
    it).

    s is sorted, so a resample's top values are those of its largest indices: C counts each row's indices above a
    cutoff and writes the values from the largest index down, O(n) and no sort. With numpy's default bit generator
    (PCG64) the C helper td_host_bootstrap_tops also draws the indices, as Generator.integers does, and counts them
    as it goes; with another, numpy draws a block of resamples at a time (as uint32: the same integers as one int64
    call per resample, both being 32-bit Lemire draws and the spare half of a 64-bit output staying in the bit
    generator between calls) and td_host_resample_tops counts them. tests/test_tail_batch.py checks both against
    the loop. Measured (CPU, 200 resamples, min of 5): 0.6 ms at 1,000 scores, 5 ms at 10,000, 43 ms at 100,000
    with PCG64 in C; 1.0, 9.4 and 92 ms with numpy's draws; 3.2, 23 and 179 ms for a draw per resample, a pick above
    a cutoff and a sort of it."""
    n = len(s)
    keep = n - lo
    values = np.ascontiguousarray(s, dtype=np.float64)
    out = np.empty((refits, keep))
    counts = np.empty(n, np.uint32)
    bits = rng.bit_generator
    if type(bits) is np.random.PCG64 and refits > 0:
        state = bits.state
        words = state["state"]
        pcg = ffi.new("td_host_pcg64_t *", {
            "state_hi": words["state"] >> 64, "state_lo": words["state"] & _LOW64,
            "inc_hi": words["inc"] >> 64, "inc_lo": words["inc"] & _LOW64,
            "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]})
        check(lib.td_host_bootstrap_tops(pcg, refits, n, ffi.from_buffer("double[]", values), keep,
                                         ffi.from_buffer("uint32_t[]", counts), ffi.from_buffer("double[]", out)),
              "td_host_bootstrap_tops")
        bits.state = {"bit_generator": state["bit_generator"],
                      "state": {"state": (pcg.state_hi << 64) | pcg.state_lo, "inc": (pcg.inc_hi << 64) | pcg.inc_lo},
                      "has_uint32": pcg.has_uint32, "uinteger": pcg.uinteger}
        return out
    step = max(1, BLOCK_VALUES // max(n, 1))
    for start in range(0, refits, step):
        block = rng.integers(0, n, size=(min(step, refits - start), n), dtype=np.uint32)
        check(lib.td_host_resample_tops(ffi.from_buffer("uint32_t[]", block), len(block), n,
                                        ffi.from_buffer("double[]", values), keep,
                                        ffi.from_buffer("uint32_t[]", counts),
                                        ffi.from_buffer("double[]", out[start:start + len(block)])),
              "td_host_resample_tops")
    return out


def sorted_medians(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=1) of rows already sorted ascending: the middle value, or the mean of the middle two
    ((a + b) / 2, the sum and division np.median's mean makes), without its partition (0.1 ms a call)."""
    m = x.shape[1]
    if m % 2:
        return x[:, m // 2].copy()
    return (x[:, m // 2 - 1] + x[:, m // 2]) / 2


def gpd_shapes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fit_gpd's xi (= -k_hat) for each row of x (b, m), rows sorted ascending, positive, m >= 2; and whether the
    row took fit_gpd's main path (False: a non-finite likelihood or theta_hat ~ 0, which fit_gpd answers
    otherwise: recompute those rows with it)."""
    b, n = x.shape
    m = 20 + int(math.sqrt(n))
    quartile = x[:, max(0, int(n / 4.0 + 0.5) - 1)]
    j = np.arange(1, m + 1)
    theta = (1.0 / x[:, -1])[:, None] + (1.0 - np.sqrt(m / (j - 0.5)))[None, :] / (3.0 * quartile)[:, None]
    k = np.empty((b, m))
    step = max(1, BLOCK_VALUES // (m * n))
    for start in range(0, b, step):
        rows = slice(start, start + step)
        terms = np.multiply(-theta[rows, :, None], x[rows, None, :])
        np.log1p(terms, out=terms)  # in place: one (b, grid, m) array, not two
        k[rows] = -terms.mean(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lik = n * (np.log(theta / k) + k - 1.0)
    log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
    best = log_lik.max(axis=1)
    ok = np.isfinite(best)
    with np.errstate(invalid="ignore"):
        weights = np.exp(log_lik - np.where(ok, best, 0.0)[:, None])
        weights /= weights.sum(axis=1)[:, None]
    theta_hat = (theta * weights).sum(axis=1)
    theta_hat = np.where(ok, theta_hat, 1.0)
    k_hat = -np.log1p(-theta_hat[:, None] * x).mean(axis=1)
    ok &= np.abs(theta_hat) >= 1e-12
    return -k_hat, ok
