"""The detectors: tinydrift's monitor and the peers (z-test, Mahalanobis, river's ADWIN and PageHinkley)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tinydrift

from .config import OCCUPANCY_WINDOWS, RAILS, RATE, SENTINEL, WINDOW
from .data import features, window_features
from .internals import TRIGGER_HEALTH, TRIGGER_OCCUPANCY


@dataclass
class Reference:
    """What every detector learns from the training cases of one class set."""

    key: str
    profile: object                    # tinydrift.Profile
    mean_mu: np.ndarray                # per channel: mean and sd of training window means
    mean_sd: np.ndarray
    feat_mu: np.ndarray                # per feature (mean_c, std_c interleaved): mean, sd
    feat_sd: np.ndarray
    cov_inv: np.ndarray
    train_d2: np.ndarray               # Mahalanobis d^2 of the training windows


def build_reference(key: str, train: list[np.ndarray], names: list[str]) -> Reference:
    profile = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, sentinel=SENTINEL, rails=RAILS,
                                      channel_names=names, occupancy_windows=OCCUPANCY_WINDOWS)
    parts = [window_features(t) for t in train]
    means = np.concatenate([p[0] for p in parts])
    stds = np.concatenate([p[1] for p in parts])
    f = features(means, stds)
    feat_mu = f.mean(axis=0)
    feat_sd = np.maximum(f.std(axis=0), 1e-9)
    cov = np.cov(f, rowvar=False) + np.eye(f.shape[1]) * 1e-6 * np.trace(np.cov(f, rowvar=False)) / f.shape[1]
    cov_inv = np.linalg.inv(cov)
    d = f - feat_mu
    train_d2 = np.einsum("ij,jk,ik->i", d, cov_inv, d)
    return Reference(key, profile, means.mean(axis=0), np.maximum(means.std(axis=0), 1e-9), feat_mu, feat_sd,
                     cov_inv, train_d2)


# ------------------------------------------------------------------------------------- detectors

@dataclass
class Run:
    """One detector over one stream: per window the alarm, the channels it names (bit mask) and its statistic."""

    alarm: np.ndarray
    named: np.ndarray
    stat: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def run_tinydrift(profile: object, frames: np.ndarray) -> Run:
    """The C monitor window by window; every trigger is one alarm, acknowledged at once (reset_alarm),
    as td_detector_count_alarms counts them during calibration. Named: health masks, else top_channel."""
    mon = tinydrift.Monitor(profile)
    n = len(frames) // WINDOW
    alarm = np.zeros(n, bool)
    named = np.zeros(n, np.int64)
    score = np.zeros(n)
    cusum = np.zeros(n)
    trig = np.zeros(n, np.int64)
    for i in range(n):
        row = mon.push(frames[i * WINDOW : (i + 1) * WINDOW])[0]
        score[i] = row["score"]
        cusum[i] = row["cusum"]
        t = int(row["trigger"])
        trig[i] = t
        if t:
            alarm[i] = True
            health = int(row["stuck_mask"]) | int(row["saturated_mask"]) | int(row["missing_mask"])
            if t & TRIGGER_HEALTH and health:
                named[i] = health
            elif t & ~TRIGGER_OCCUPANCY:
                named[i] = 1 << int(row["top_channel"])
            # an alarm of the occupancy test alone names no channel: the mix of windows moved, not a sensor
            mon.reset_alarm()
    return Run(alarm, named, score, {"cusum": cusum, "trigger": trig})


def zscores_of_means(ref: Reference, frames: np.ndarray) -> np.ndarray:
    means, _ = window_features(frames)
    return (means - ref.mean_mu) / ref.mean_sd


def ztest_stat(ref: Reference, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.abs(zscores_of_means(ref, frames))
    return z.max(axis=1), z.argmax(axis=1)


def mahalanobis_stat(ref: Reference, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    means, stds = window_features(frames)
    f = features(means, stds)
    d = f - ref.feat_mu
    d2 = np.einsum("ij,jk,ik->i", d, ref.cov_inv, d)
    zf = np.abs(d / ref.feat_sd).reshape(len(f), -1, 2).max(axis=2)
    return d2, zf.argmax(axis=1)


def run_threshold(stat: np.ndarray, top: np.ndarray, threshold: float) -> Run:
    alarm = stat > threshold
    named = np.where(alarm, np.left_shift(1, top.astype(np.int64)), 0)
    return Run(alarm, named, stat)


def bonferroni_z(rate: float, n_channels: int) -> float:
    """Two-sided z threshold with P(any of n_channels |z| > t) <= rate under independent Gaussian z."""
    return statistics.NormalDist().inv_cdf(1.0 - rate / (2.0 * n_channels))


def run_river(make: Callable[[], object], z: np.ndarray) -> Run:
    """One river detector per channel fed its standardized window means; alarm when any fires.
    Named: the channel that fired (the largest |z| of those firing in the same window)."""
    n, c = z.shape
    dets = [make() for _ in range(c)]
    alarm = np.zeros(n, bool)
    named = np.zeros(n, np.int64)
    vals = z.tolist()
    for i in range(n):
        row = vals[i]
        fired = -1
        for ch in range(c):
            d = dets[ch]
            d.update(row[ch])
            if d.drift_detected and (fired < 0 or abs(row[ch]) > abs(row[fired])):
                fired = ch
        if fired >= 0:
            alarm[i] = True
            named[i] = 1 << fired
    return Run(alarm, named, np.abs(z).max(axis=1))


def adwin_factory(delta: float) -> Callable[[], object]:
    from river import drift

    return lambda: drift.ADWIN(delta=delta, clock=1)


def ph_factory(threshold: float) -> Callable[[], object]:
    from river import drift

    return lambda: drift.PageHinkley(threshold=threshold)

