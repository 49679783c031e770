"""The occupancy threshold on fresh data: i.i.d. windows from a known centroid mix, counted by a float64 oracle.

The threshold is calibrated on streams resampled from the training windows, which scatter around the very mix the
costs were estimated from; fresh windows scatter around the truth, which that estimate misses by its own sampling
noise. These tests measure that optimism against the truth and check the first-order correction
(occupancy.calibrate's reference_noise) that removes it.
"""

from __future__ import annotations

import numpy as np

from conftest import occupancy_alarms_oracle
from tinydrift.build import occupancy

RATE = 5e-3
FRESH = 60_000
DRAWS = 24
# (centroids, window n): 300 training windows in 30 recordings of 10 i.i.d. windows each
CASES = ((4, 20), (8, 20), (8, 40), (16, 40))


def _oracle_g_bits(stream: np.ndarray, cost_q8: np.ndarray, n: int, k: int) -> np.ndarray:
    """G in bits over the last n windows at every window (float64, exact log2; 0 before the n-th window)."""
    onehot = np.zeros((len(stream) + 1, k))
    onehot[np.arange(1, len(stream) + 1), stream] = 1.0
    cum = np.cumsum(onehot, axis=0)
    c = cum[n:] - cum[:-n]
    clog = np.where(c > 0, c * np.log2(np.maximum(c, 1.0)), 0.0)
    g = clog.sum(axis=1) + c @ (np.asarray(cost_q8, np.float64) / 256.0) - n * np.log2(n)
    return np.concatenate([np.zeros(n - 1), g])


def _fresh_ratio(reference_noise: bool) -> float:
    """Alarms on fresh streams over the expected count at RATE, pooled over every case and training draw."""
    alarms = expected = 0.0
    for k, n in CASES:
        for seed in range(DRAWS):
            rng = np.random.default_rng([k, n, seed])
            p = rng.dirichlet(np.full(k, 2.0))
            training = [rng.choice(k, size=10, p=p) for _ in range(30)]
            cost, threshold = occupancy.calibrate(training, k, n, RATE, seed, reference_noise=reference_noise)
            fresh = rng.choice(k, size=FRESH, p=p)
            alarms += occupancy_alarms_oracle(_oracle_g_bits(fresh, cost, n, k), threshold / 256.0, n)
            expected += RATE * FRESH
    return alarms / expected


def test_in_sample_threshold_alarms_above_its_rate_on_fresh_streams():
    """The default (the training mix taken as the truth) gave 1.4-1.8x the rate per case, 1.6x pooled (measured
    with 30 draws each); over 96 draws the pooled ratio's standard error is about 0.05."""
    assert _fresh_ratio(reference_noise=False) > 1.35


def test_reference_noise_correction_brings_fresh_streams_to_the_rate():
    """With the threshold widened by 1 + reference_spread / window_spread: 1.05-1.22x per case, 1.1x pooled (the
    rest is the threshold's own estimation noise: the exceedance rate is convex in the threshold)."""
    assert 0.8 <= _fresh_ratio(reference_noise=True) <= 1.3


def test_spreads_match_the_multinomial_formulas():
    """For i.i.d. windows: (k - 1) / N for the reference mix of N windows, (k - 1) / n for n-window spans."""
    rng = np.random.default_rng(7)
    k = 6
    p = rng.dirichlet(np.full(k, 3.0))
    segments = [rng.choice(k, size=10, p=p) for _ in range(400)]
    cost = occupancy.reference_costs(segments, k)
    assert abs(occupancy.reference_spread(segments, cost) / ((k - 1) / 4000) - 1.0) < 0.2
    true_cost = np.round(-256.0 * np.log2(p)).astype(np.uint16)
    stream = rng.choice(k, size=200_000, p=p)
    for n in (8, 32):
        assert abs(occupancy.window_spread(stream, true_cost, n) / ((k - 1) / n) - 1.0) < 0.03
