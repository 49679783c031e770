"""Between-recording disagreement of out-of-fold scores (tinydrift.build.disagreement) against data whose recordings
are known to agree (exchangeable, autocorrelated within a recording) or to disagree (a level per recording)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinydrift
from tinydrift.build import RecordingDisagreementWarning
from tinydrift.build.disagreement import normal_scores, recording_disagreement

RECORDINGS = 20
WINDOWS = 50


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A stationary AR(1) series of unit variance."""
    e = rng.normal(0.0, 1.0, n)
    out = np.empty(n)
    out[0] = e[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + np.sqrt(1.0 - phi * phi) * e[t]
    return out


def scores(rng: np.random.Generator, level_sd: float, phi: float) -> np.ndarray:
    """RECORDINGS x WINDOWS lognormal scores: per recording a level N(0, level_sd^2), within it AR(1) noise."""
    return np.concatenate([np.exp(rng.normal(0.0, level_sd) + ar1(rng, WINDOWS, phi)) for _ in range(RECORDINGS)])


@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_exchangeable_recordings_are_not_flagged(phi: float) -> None:
    """No recording level: not one of 10 seeds is flagged, also with strong autocorrelation within recordings (an
    i.i.d. window model, e.g. a chi-square test of per-recording exceedance counts, reads that as disagreement)."""
    for seed in range(10):
        found = recording_disagreement(scores(np.random.default_rng(seed), 0.0, phi), [WINDOWS] * RECORDINGS, seed)
        assert found is not None and not found.clear, (seed, found)


@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_recordings_with_their_own_level_are_flagged(phi: float) -> None:
    """A level per recording of 1 sd of the within-recording noise: every one of 10 seeds is flagged."""
    for seed in range(10):
        found = recording_disagreement(scores(np.random.default_rng(seed), 1.0, phi), [WINDOWS] * RECORDINGS, seed)
        assert found is not None and found.clear, (seed, found)


def test_intra_class_correlation_matches_the_generating_model() -> None:
    """Levels N(0, 1) and i.i.d. N(0, 1) noise in log space: the true intra-class correlation is 1 / (1 + 1) = 0.5
    (normal scores of ranks keep it, the log being monotone) and the design effect 1 + 49 * 0.5 = 25.5; the
    estimates averaged over 20 seeds lie within 0.1 and 25 % of them."""
    found = [recording_disagreement(scores(np.random.default_rng(100 + s), 1.0, 0.0), [WINDOWS] * RECORDINGS, s,
                                    permutations=200) for s in range(20)]
    icc = np.mean([f.icc for f in found if f is not None])
    design = np.mean([f.design_effect for f in found if f is not None])
    assert abs(icc - 0.5) < 0.1, icc
    assert abs(design / 25.5 - 1.0) < 0.25, design


def test_permutation_p_value_is_uniform_without_disagreement() -> None:
    """200 exchangeable data sets: the share with p < 0.05 is that of a valid test, within 0.01-0.10."""
    p = [recording_disagreement(scores(np.random.default_rng(1000 + s), 0.0, 0.5), [WINDOWS] * RECORDINGS, s,
                                permutations=199).p_value for s in range(200)]
    assert 0.01 <= np.mean(np.array(p) < 0.05) <= 0.10


def test_too_few_recordings_cannot_be_tested() -> None:
    rng = np.random.default_rng(0)
    assert recording_disagreement(rng.random(300), [100, 100, 100]) is None
    assert recording_disagreement(rng.random(30), [3] * 10) is None  # recordings too short to halve


def test_normal_scores_match_the_rank_definition() -> None:
    """Mid-ranks for ties, then the standard normal quantile of (rank - 0.5) / n (scipy as the reference)."""
    from scipy.stats import norm, rankdata

    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 2.0, 0.5])
    assert np.allclose(normal_scores(x), norm.ppf((rankdata(x) - 0.5) / len(x)), atol=1e-12)


W, C = 16, 4


def recordings(seed: int, level_sd: float) -> list[np.ndarray]:
    """20 recordings of 50 windows of 4 channels, each with its own offset of level_sd sd per channel."""
    rng = np.random.default_rng(seed)
    return [np.round(300.0 * (rng.normal(0.0, 1.0, (WINDOWS * W, C)) + rng.normal(0.0, level_sd, C))).astype(np.int16)
            for _ in range(RECORDINGS)]


def build(train: list[np.ndarray], said: list[str]) -> list[type[Warning]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tinydrift.build_profile(train, window=W, false_alarm_rate=0.01, progress=said.append)
    return [w.category for w in caught]


def test_builder_warns_when_training_recordings_disagree() -> None:
    """Offsets of 1 sd per recording: one RecordingDisagreementWarning, whose line says what was measured, what it
    means for the rate and what to do."""
    said: list[str] = []
    assert build(recordings(3, 1.0), said).count(RecordingDisagreementWarning) == 1
    line = next(s for s in said if s.startswith("warning: the training recordings disagree"))
    assert "permutation test over 20 recordings" in line and "independent ones" in line
    assert "above or below" in line and "give more recordings" in line


def test_builder_is_quiet_about_agreeing_recordings() -> None:
    said: list[str] = []
    assert RecordingDisagreementWarning not in build(recordings(3, 0.0), said)
    assert any(s.startswith("recordings agree:") for s in said)
