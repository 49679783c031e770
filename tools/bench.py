#!/usr/bin/env python3
"""make bench: tinydrift against peer detectors on the bundled real recording, speed, footprint, telemetry link.

Writes docs/benchmarks.md (tables, PNG plots under docs/img/) and prints the headline rows.

Detection quality. Streams are built from the held-out test cases of data/basicmotions.npz
(40 recordings of 10 s at 10 Hz, 4 classes; the training split builds the profile and the
peers' reference statistics). Every scenario has a known change point at a window boundary;
each is repeated with seeded random case orderings, change points and drifted channels:

    control        all 40 test cases in random order, no drift
    gain / offset / stuck / dropout / noise
                   all 40 cases shuffled (400 windows), change at a random window in [150, 250],
                   the drift applied to one random channel from there to the end
    unseen class   profile and peers trained on 3 classes; 15-30 test cases of those classes,
                   then the 10 test cases of the 4th (each class takes that role in turn)
    prior shift    20-33 cases mixing all classes, then only one class (the rest of its cases)

Detectors see the same windows (10 frames = 1 s):
    tinydrift      build_profile(training split, window 10, rate 1e-3, sentinel -32768, rails
                   +-32767), pushed window by window, alarm acknowledged (reset) after each trigger
    z-test         per channel z of the window mean against the training windows' mean and sd,
                   two-sided, Bonferroni over the channels
    Mahalanobis    of the window's (mean, std) per channel against the training windows;
                   threshold: quantile of the training windows' distances
    ADWIN, PH      river's ADWIN (clock=1) and PageHinkley, one per channel, fed the window
                   mean standardized by the training windows; alarm when any channel fires

Two settings: "as configured" (tinydrift and the z-test at 1e-3 false alarms per window,
Mahalanobis at the 1-1e-3 quantile, river's defaults) and "tuned" (each peer's threshold set
on the control streams so that it raises no more false alarms there than tinydrift did:
an oracle that favours the peers).

Usage: tools/bench.py [--repeats 20] [--seed 0] [--quick] [--no-speed] [--no-link] [--no-device]
                      [--out docs/benchmarks.md] [--img docs/img]
Needs the optional peers: pip install '.[bench]' (river). Runs in about 2-4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
RATE = 1e-3
OCCUPANCY_WINDOWS = 50  # the occupancy test (prior shift, look-alike new classes) over 50 windows = 5 recordings
SENTINEL = -32768
RAILS = (-32767, 32767)
SPEED_WINDOW = 64
INF = math.inf
FLOOR_PER_CHANNEL_SAMPLE = (6, 8)
IMG_LIMIT = 150 * 1024


# ------------------------------------------------------------------------------------------ data

@dataclass
class Dataset:
    frames: np.ndarray       # int16, frames x channels
    labels: np.ndarray       # class index per frame
    case: np.ndarray         # case index per frame
    split: np.ndarray        # 0 training, 1 test
    names: list[str]         # channel names
    classes: list[str]       # class names

    @property
    def n_channels(self) -> int:
        return self.frames.shape[1]

    def cases(self, split: int, classes: Sequence[int] | None = None) -> list[tuple[np.ndarray, int]]:
        """(frames, class) of every case of a split, optionally only of some classes, in file order."""
        out = []
        for k in np.unique(self.case[self.split == split]):
            sel = self.case == k
            label = int(self.labels[sel][0])
            if classes is None or label in classes:
                out.append((self.frames[sel], label))
        return out


def load_dataset(path: Path = DATA) -> Dataset:
    d = np.load(path)
    return Dataset(frames=d["frames"], labels=d["labels"].astype(np.int64), case=d["case"].astype(np.int64),
                   split=d["split"].astype(np.int64), names=[str(n) for n in d["channel_names"]],
                   classes=[str(c).lower() for c in d["class_names"]])


# ------------------------------------------------------------------------------------- scenarios

@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    kind: str            # control, gain, offset, stuck, dropout, noise, unseen, prior
    magnitude: float = 0.0

    @property
    def channel_drift(self) -> bool:
        return self.kind in CHANNEL_KINDS

    @property
    def drift(self) -> bool:
        return self.kind != "control"


CHANNEL_KINDS = ("gain", "offset", "stuck", "dropout", "noise")
SCENARIOS = (
    Scenario("control", "control (no drift)", "control"),
    Scenario("gain", "gain x2 on one channel", "gain", 2.0),
    Scenario("offset", "offset +1 sd on one channel", "offset", 1.0),
    Scenario("offset_small", "offset +0.25 sd on one channel", "offset", 0.25),
    Scenario("stuck", "stuck channel (holds its last value)", "stuck"),
    Scenario("dropout", "dropouts: 10 % of one channel's samples read the sentinel", "dropout", 0.10),
    Scenario("noise", "added Gaussian noise, 0.5 sd, on one channel", "noise", 0.5),
    Scenario("unseen", "a class never seen in training", "unseen"),
    Scenario("prior", "class-prior shift: one class only after the change", "prior"),
)
SHORT = {"control": "control", "gain": "gain x2", "offset": "offset 1 sd", "offset_small": "offset 0.25 sd",
         "stuck": "stuck", "dropout": "dropout", "noise": "noise 0.5 sd", "unseen": "unseen class",
         "prior": "prior shift"}
SCENARIO_BY_KEY = {s.key: s for s in SCENARIOS}


@dataclass
class Stream:
    scenario: str
    rep: int
    frames: np.ndarray            # int16
    change: int | None            # first drifted window (None: no drift)
    channel: int | None           # drifted channel (channel scenarios)
    reference: str                # "all" or "without:<class index>"
    note: str = ""

    @property
    def n_windows(self) -> int:
        return len(self.frames) // WINDOW


def inject(frames: np.ndarray, start: int, kind: str, channel: int, magnitude: float, sd: float,
           rng: np.random.Generator, sentinel: int = SENTINEL) -> np.ndarray:
    """A copy of frames with one channel drifted from frame `start` on (values clip at the rails +-32767;
    the sentinel marks dropped samples)."""
    out = frames.astype(np.int64, copy=True)
    seg = out[start:, channel]
    if kind == "gain":
        seg = np.round(seg * magnitude)
    elif kind == "offset":
        seg = seg + int(round(magnitude * sd))
    elif kind == "stuck":
        if start < 1:
            raise ValueError("a stuck channel needs a sample before the change")
        seg = np.full_like(seg, out[start - 1, channel])
    elif kind == "noise":
        seg = seg + np.round(rng.normal(0.0, magnitude * sd, size=len(seg)))
    elif kind != "dropout":
        raise ValueError(f"unknown drift kind {kind!r}")
    seg = np.clip(seg, RAILS[0], RAILS[1])
    if kind == "dropout":
        seg = np.where(rng.random(len(seg)) < magnitude, sentinel, seg)
    out[start:, channel] = seg
    return out.astype(np.int16)


def _concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.int16)


def make_stream(ds: Dataset, scenario: Scenario, rep: int, seed: int, sd: np.ndarray) -> Stream:
    """The rep-th stream of a scenario; deterministic in (seed, scenario, rep)."""
    index = [s.key for s in SCENARIOS].index(scenario.key) if scenario.key in SCENARIO_BY_KEY else 99
    rng = np.random.default_rng([seed, index, rep])
    test = ds.cases(1)
    n_classes = len(ds.classes)
    if scenario.kind in ("control",) + CHANNEL_KINDS:
        order = rng.permutation(len(test))
        base = _concat([test[i][0] for i in order])
        if scenario.kind == "control":
            return Stream(scenario.key, rep, base, None, None, "all")
        n_windows = len(base) // WINDOW
        change = int(rng.integers(int(0.375 * n_windows), int(0.625 * n_windows) + 1))
        channel = int(rng.integers(ds.n_channels))
        frames = inject(base, change * WINDOW, scenario.kind, channel, scenario.magnitude, float(sd[channel]), rng)
        return Stream(scenario.key, rep, frames, change, channel, "all", ds.names[channel])
    cls = rep % n_classes
    if scenario.kind == "unseen":
        seen = [c for c in test if c[1] != cls]
        new = [c for c in test if c[1] == cls]
        pre_idx = rng.permutation(len(seen))[: int(rng.integers(len(seen) // 2, len(seen) + 1))]
        post_idx = rng.permutation(len(new))
        pre = [seen[i][0] for i in pre_idx]
        post = [new[i][0] for i in post_idx]
        return Stream(scenario.key, rep, _concat(pre + post), sum(map(len, pre)) // WINDOW, None,
                      f"without:{cls}", ds.classes[cls])
    if scenario.kind == "prior":
        mine = [c[0] for c in test if c[1] == cls]
        others = [c[0] for c in test if c[1] != cls]
        mine = [mine[i] for i in rng.permutation(len(mine))]
        n_mix = max(1, len(mine) * 3 // 10)
        pool = others + mine[:n_mix]
        pre_idx = rng.permutation(len(pool))[: int(rng.integers(len(pool) * 6 // 10, len(pool) + 1))]
        pre = [pool[i] for i in pre_idx]
        post = mine[n_mix:]
        return Stream(scenario.key, rep, _concat(pre + post), sum(map(len, pre)) // WINDOW, None, "all",
                      ds.classes[cls])
    raise ValueError(f"unknown scenario kind {scenario.kind!r}")


# ------------------------------------------------------------------------------- window features

def window_features(frames: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Per window and channel: mean and population std in float64 (raw values, sentinel included)."""
    n = len(frames) // window
    x = np.asarray(frames[: n * window], dtype=np.float64).reshape(n, window, -1)
    return x.mean(axis=1), x.std(axis=1)


def window_stats_numpy(frames: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """sum, sumsq, min, max, mean, std per window and channel, vectorized in float64 (the speed baseline)."""
    n = len(frames) // window
    x = frames[: n * window].reshape(n, window, -1).astype(np.float64)
    s = x.sum(axis=1)
    ss = (x * x).sum(axis=1)
    mn = x.min(axis=1)
    mx = x.max(axis=1)
    mean = s / window
    std = np.sqrt(np.maximum(ss / window - mean * mean, 0.0))
    return s, ss, mn, mx, mean, std


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


def features(means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    f = np.empty((len(means), 2 * means.shape[1]))
    f[:, 0::2] = means
    f[:, 1::2] = stds
    return f


def build_reference(key: str, train: list[np.ndarray], names: list[str]) -> Reference:
    import tinydrift

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
    import tinydrift
    from tinydrift.core.monitor import TRIGGER_HEALTH, TRIGGER_OCCUPANCY

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


# --------------------------------------------------------------------------------------- metrics

def false_alarms(alarm: np.ndarray, change: int | None) -> tuple[int, int]:
    """(alarms, windows) over the in-distribution part: the whole stream without drift, else before the change."""
    end = len(alarm) if change is None else change
    return int(np.count_nonzero(alarm[:end])), int(end)


def detection_delay(alarm: np.ndarray, change: int) -> int | None:
    """Windows from the change to the first alarm at or after it (0: in the first drifted window); None if none."""
    hits = np.flatnonzero(alarm[change:])
    return int(hits[0]) if hits.size else None


def median_delay(delays: Sequence[int | None]) -> float:
    """Median over runs with misses counted as infinitely late (inf when half or more were missed)."""
    if not delays:
        return INF
    return float(np.median([INF if d is None else d for d in delays]))


def per_1000(alarms: int, windows: int) -> float:
    return 1000.0 * alarms / windows if windows else float("nan")


def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a Poisson mean after observing k events."""
    alpha = 1.0 - confidence

    def cdf(lam: float) -> float:
        term = total = math.exp(-lam)
        for i in range(1, k + 1):
            term *= lam / i
            total += term
        return total

    lo, hi = 0.0, max(10.0, 10.0 * (k + 1))
    for _ in range(200):
        mid = (lo + hi) / 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def threshold_for_count(stat: np.ndarray, allowed: int) -> float:
    """Smallest threshold t from the data with count(stat > t) <= allowed (alarm when stat > t)."""
    s = np.sort(np.asarray(stat, dtype=np.float64))[::-1]
    if allowed >= len(s):
        return -INF
    return float(s[allowed])


def bisect_knob(count: Callable[[float], int], allowed: int, lo: float, hi: float, increasing: bool,
                steps: int = 22) -> float:
    """The most sensitive knob value in [lo, hi] (log scale) with count(knob) <= allowed.

    increasing: alarms grow with the knob (ADWIN's delta), else they fall (PageHinkley's threshold).
    Returns the safe end if even it raises too many alarms.
    """
    a, b = math.log(lo), math.log(hi)
    safe = a if increasing else b
    if count(math.exp(safe)) > allowed:
        return math.exp(safe)
    sensitive = b if increasing else a
    if count(math.exp(sensitive)) <= allowed:
        return math.exp(sensitive)
    for _ in range(steps):
        mid = (safe + sensitive) / 2
        if count(math.exp(mid)) <= allowed:
            safe = mid
        else:
            sensitive = mid
    return math.exp(safe)


# ------------------------------------------------------------------------------ the experiment

DETECTORS = ("tinydrift", "z-test", "Mahalanobis", "ADWIN", "PageHinkley")
PEERS = DETECTORS[1:]


@dataclass
class Outcome:
    """One detector on one stream."""

    scenario: str
    rep: int
    fa: int
    fa_windows: int
    delay: int | None
    named_ok: bool | None
    note: str = ""
    how: int = 0          # tinydrift: trigger bits of the detecting window


@dataclass
class Quality:
    settings: dict[str, dict[str, str]]                         # setting -> detector -> parameter text
    outcomes: dict[tuple[str, str], list[Outcome]]               # (setting, detector) -> outcomes
    streams: list[Stream]
    example: dict[str, object]                                   # what the timeline plot needs
    tuned_target: tuple[int, int]                                # tinydrift's control (alarms, windows)
    sd: np.ndarray
    seconds: float
    diag: dict[str, dict[str, float]] = field(default_factory=dict)


def outcome_of(run: Run, stream: Stream) -> Outcome:
    fa, n = false_alarms(run.alarm, stream.change)
    delay = None if stream.change is None else detection_delay(run.alarm, stream.change)
    named_ok = None
    if stream.channel is not None and delay is not None:
        named_ok = int(run.named[stream.change + delay]) == 1 << stream.channel
    how = 0
    if delay is not None and "trigger" in run.extra:
        how = int(run.extra["trigger"][stream.change + delay])
    return Outcome(stream.scenario, stream.rep, fa, n, delay, named_ok, stream.note, how)


def run_quality(ds: Dataset, repeats: int, seed: int, say: Callable[[str], None] = print) -> Quality:
    t0 = time.perf_counter()
    train_cases = ds.cases(0)
    sd = np.concatenate([c[0] for c in train_cases]).astype(np.float64).std(axis=0)
    refs = {"all": build_reference("all", [c[0] for c in train_cases], ds.names)}
    for cls in range(len(ds.classes)):
        refs[f"without:{cls}"] = build_reference(f"without:{cls}", [c[0] for c in train_cases if c[1] != cls],
                                                 ds.names)
    streams = [make_stream(ds, s, rep, seed, sd) for s in SCENARIOS for rep in range(repeats)]
    say(f"  {len(streams)} streams ({repeats} per scenario, {sum(s.n_windows for s in streams):,} windows); "
        f"{len(refs)} references (profiles built in {time.perf_counter() - t0:.1f} s)")

    # Per stream: tinydrift runs, peers' statistics (memoryless ones are thresholded per setting).
    td_runs = [run_tinydrift(refs[s.reference].profile, s.frames) for s in streams]
    zstats = [ztest_stat(refs[s.reference], s.frames) for s in streams]
    mstats = [mahalanobis_stat(refs[s.reference], s.frames) for s in streams]
    zmeans = [zscores_of_means(refs[s.reference], s.frames) for s in streams]
    control = [i for i, s in enumerate(streams) if s.scenario == "control"]
    td_fa = sum(false_alarms(td_runs[i].alarm, None)[0] for i in control)
    n_control = sum(streams[i].n_windows for i in control)
    say(f"  tinydrift: {td_fa} alarms on {n_control:,} control windows "
        f"({per_1000(td_fa, n_control):.2f} per 1,000; calibrated for {RATE * 1000:g})")

    z_thr = bonferroni_z(RATE, ds.n_channels)
    m_q = {k: float(np.quantile(r.train_d2, 1.0 - RATE)) for k, r in refs.items()}
    settings: dict[str, dict[str, str]] = {"configured": {}, "tuned": {}}
    settings["configured"] = {
        "tinydrift": f"build_profile(window {WINDOW}, false_alarm_rate {RATE:g}, sentinel {SENTINEL}, rails +-32767; "
                     "default scoring: mixture; occupancy_windows "
                     f"{OCCUPANCY_WINDOWS}, which splits the rate between the score and the occupancy test)",
        "z-test": f"max abs(z) > {z_thr:.2f} (two-sided, Bonferroni over {ds.n_channels} channels at {RATE:g}/window)",
        "Mahalanobis": f"d^2 > the {1 - RATE:g} quantile of the training windows' d^2 ({m_q['all']:.1f})",
        "ADWIN": "river ADWIN(delta=0.002, clock=1): delta is river's default",
        "PageHinkley": "river PageHinkley(threshold=50, delta=0.005, min_instances=30): river's defaults",
    }

    # Tuned: each peer's knob set on the control streams so that it raises at most tinydrift's count there.
    allowed = td_fa
    z_ctrl = np.concatenate([zstats[i][0] for i in control])
    m_ctrl = np.concatenate([mstats[i][0] for i in control])
    z_tuned = threshold_for_count(z_ctrl, allowed)
    m_tuned = threshold_for_count(m_ctrl, allowed)

    def river_count(make: Callable[[], object]) -> int:
        return sum(int(run_river(make, zmeans[i]).alarm.sum()) for i in control)

    adwin_delta = bisect_knob(lambda d: river_count(adwin_factory(d)), allowed, 1e-12, 0.5, increasing=True)
    ph_thr = bisect_knob(lambda t: river_count(ph_factory(t)), allowed, 0.5, 1e4, increasing=False)
    settings["tuned"] = {
        "tinydrift": "as configured (not tuned)",
        "z-test": f"max abs(z) > {z_tuned:.2f}",
        "Mahalanobis": f"d^2 > {m_tuned:.1f}",
        "ADWIN": f"delta = {adwin_delta:.3g}",
        "PageHinkley": f"threshold = {ph_thr:.3g}",
    }
    say(f"  tuned to <= {allowed} control alarms: z {z_tuned:.2f}, Mahalanobis {m_tuned:.1f}, "
        f"ADWIN delta {adwin_delta:.3g}, PageHinkley threshold {ph_thr:.3g}")

    outcomes: dict[tuple[str, str], list[Outcome]] = {}
    runs_by: dict[tuple[str, str], list[Run]] = {}
    for setting in ("configured", "tuned"):
        for det in DETECTORS:
            runs: list[Run] = []
            for i, s in enumerate(streams):
                if det == "tinydrift":
                    r = td_runs[i]
                elif det == "z-test":
                    r = run_threshold(*zstats[i], z_thr if setting == "configured" else z_tuned)
                elif det == "Mahalanobis":
                    r = run_threshold(*mstats[i], m_q[s.reference] if setting == "configured" else m_tuned)
                elif det == "ADWIN":
                    r = run_river(adwin_factory(0.002 if setting == "configured" else adwin_delta), zmeans[i])
                else:
                    r = run_river(ph_factory(50.0 if setting == "configured" else ph_thr), zmeans[i])
                runs.append(r)
            runs_by[(setting, det)] = runs
            outcomes[(setting, det)] = [outcome_of(r, s) for r, s in zip(runs, streams)]

    # tinydrift diagnostics: how its scores move after the change, against the CUSUM reference value k.
    diag: dict[str, dict[str, float]] = {}
    for key in DRIFTS:
        pre, post, k_pre, k_post = [], [], [], []
        for i, s in enumerate(streams):
            if s.scenario != key:
                continue
            k = refs[s.reference].profile.cusum_k_q8 / 256  # type: ignore[attr-defined]
            sc = td_runs[i].stat
            pre.append(sc[: s.change])
            post.append(sc[s.change :])
            k_pre.append(sc[: s.change] > k)
            k_post.append(sc[s.change :] > k)
        diag[key] = {"pre_median": float(np.median(np.concatenate(pre))),
                     "post_median": float(np.median(np.concatenate(post))),
                     "pre_above_k": float(np.concatenate(k_pre).mean()),
                     "post_above_k": float(np.concatenate(k_post).mean())}

    # The plotted example: the first gain stream.
    ex = next(i for i, s in enumerate(streams) if s.scenario == "gain")
    example = {
        "stream": streams[ex], "names": ds.names, "profile": refs["all"].profile,
        "td": td_runs[ex], "z": zstats[ex][0], "z_thr": (z_thr, z_tuned), "m": mstats[ex][0],
        "m_thr": (m_q["all"], m_tuned), "zmeans": zmeans[ex],
        "runs": {key: runs_by[key][ex] for key in runs_by},
    }
    return Quality(settings, outcomes, streams, example, (td_fa, n_control), sd, time.perf_counter() - t0, diag)


# ----------------------------------------------------------------------------------- summaries

@dataclass
class Cell:
    runs: int
    detected: int
    median: float
    named_ok: int
    named_of: int

    def text(self) -> str:
        med = "-" if math.isinf(self.median) else f"{self.median:g}"
        return f"{self.detected}/{self.runs}, {med}"


def cell(outs: list[Outcome], scenario: str) -> Cell:
    sel = [o for o in outs if o.scenario == scenario]
    delays = [o.delay for o in sel]
    named = [o.named_ok for o in sel if o.named_ok is not None]
    return Cell(len(sel), sum(d is not None for d in delays), median_delay(delays), sum(named), len(named))


def fa_total(outs: list[Outcome], scenarios: Sequence[str] | None = None) -> tuple[int, int]:
    sel = [o for o in outs if scenarios is None or o.scenario in scenarios]
    return sum(o.fa for o in sel), sum(o.fa_windows for o in sel)


DRIFTS = [s.key for s in SCENARIOS if s.drift]


def winners(q: Quality, setting: str, scenario: str) -> tuple[list[str], dict[str, Cell]]:
    """Detectors with the lowest median delay (misses = inf) in a scenario; ties share the win."""
    cells = {d: cell(q.outcomes[(setting, d)], scenario) for d in DETECTORS}
    best = min(c.median for c in cells.values())
    if math.isinf(best):
        # Nobody detects in half the runs: most detections wins.
        most = max(c.detected for c in cells.values())
        return ([d for d, c in cells.items() if c.detected == most] if most else []), cells
    return [d for d, c in cells.items() if c.median == best], cells


# ------------------------------------------------------------------------------------- speed

@dataclass
class Speed:
    frames: int
    rows: list[tuple[str, float, str]]        # (what, seconds per frame-batch median, note)
    river_sample_frames: int
    repeats: int


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run_speed(ds: Dataset, repeats: int, n_windows: int, river_frames: int) -> tuple[Speed, object]:
    import tinydrift

    train = [c[0] for c in ds.cases(0)]
    profile = tinydrift.build_profile(np.concatenate(train), window=SPEED_WINDOW, false_alarm_rate=RATE)
    reps = -(-n_windows * SPEED_WINDOW // len(ds.frames))
    frames = np.ascontiguousarray(np.tile(ds.frames, (reps, 1))[: n_windows * SPEED_WINDOW])
    n = len(frames)
    rows: list[tuple[str, float, str]] = []

    times = []
    for _ in range(repeats):
        mon = tinydrift.Monitor(profile)  # a fresh monitor each run, created outside the timed part
        t = time.perf_counter()
        out = mon.push(frames)
        times.append(time.perf_counter() - t)
        if len(out) != n_windows:
            raise RuntimeError(f"Monitor.push returned {len(out)} windows, expected {n_windows}")
    rows.append(("tinydrift Monitor.push (C core via CFFI, full monitor: stats, z, PCA, distance, CUSUM, health)",
                 float(np.median(times)), "one call over all frames; includes converting the C results to numpy rows"))
    rows.append(("numpy float64 window statistics (sum, sumsq, min, max, mean, std)",
                 timed(lambda: window_stats_numpy(frames, SPEED_WINDOW), repeats),
                 "vectorized reshape; statistics only, no scoring"))
    try:
        from river import drift
    except ImportError:
        return Speed(n, rows, 0, repeats), profile
    means = window_stats_numpy(frames, SPEED_WINDOW)[4].tolist()

    def river_windows() -> None:
        dets = [(drift.ADWIN(), drift.PageHinkley()) for _ in range(ds.n_channels)]
        for row in means:
            for (a, p), x in zip(dets, row):
                a.update(x)
                p.update(x)

    rows.append(("river ADWIN + PageHinkley per channel, fed per-window means",
                 timed(river_windows, repeats), "one update per channel per window (the detection setup above); "
                 "river defaults (ADWIN clock=32); window means precomputed, not timed"))
    sub = frames[:river_frames].astype(np.float64).tolist()

    def river_samples() -> None:
        dets = [(drift.ADWIN(), drift.PageHinkley()) for _ in range(ds.n_channels)]
        for row in sub:
            for (a, p), x in zip(dets, row):
                a.update(x)
                p.update(x)

    t_sub = timed(river_samples, max(1, repeats // 2))
    rows.append(("river ADWIN + PageHinkley per channel, fed every sample",
                 t_sub * n / river_frames, f"river's natural use (one update per observation); measured on "
                 f"{river_frames:,} frames and scaled to {n:,}"))
    return Speed(n, rows, river_frames, repeats), profile


# -------------------------------------------------------------------------- device and footprint

def sh(cmd: list[str], timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=timeout)


def device_section(say: Callable[[str], None]) -> tuple[str, dict[str, float]]:
    """docs-ready device benchmark markdown (live from tools/bench_device.py when QEMU is there, else the
    committed docs/benchmarks-device.md) and the per-channel-sample numbers."""
    md_path = Path("/tmp") / f"tinydrift-bench-device-{os.getpid()}.md"
    text = None
    source = ""
    if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"):
        proc = sh([sys.executable, "tools/bench_device.py", "--runs", "1", "--markdown", str(md_path)], 900)
        if proc.returncode == 0 and md_path.exists():
            text = md_path.read_text()
            source = "measured now: `tools/bench_device.py --runs 1` (builds bench.elf from this checkout)"
        else:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
            say(f"  device bench failed ({tail[0]}); using docs/benchmarks-device.md")
        md_path.unlink(missing_ok=True)
    if text is None:
        committed = ROOT / "docs" / "benchmarks-device.md"
        if not committed.exists():
            return "Device benchmark not available (no QEMU and no docs/benchmarks-device.md).\n", {}
        text = committed.read_text()
        source = "copied from the committed docs/benchmarks-device.md (`make bench-device`); not re-measured"
    nums: dict[str, float] = {}
    for key, pattern in (("block", r"\| channel-sample, pushed in blocks \| ([\d,.]+)"),
                         ("fast", r"\| channel-sample, fast path only \| ([\d,.]+)"),
                         ("single", r"\| channel-sample, pushed one frame at a time \| ([\d,.]+)"),
                         ("close", r"\| window close[^|]*\| ([\d,.]+)"),
                         ("telemetry", r"\| window \+ telemetry[^|]*\| ([\d,.]+)"),
                         ("close_run", r"\| window close, window in a CUSUM run \| ([\d,.]+)"),
                         ("close_out", r"\| window close, window outside a CUSUM run \| ([\d,.]+)")):
        m = re.search(pattern, text)
        if m:
            nums[key] = float(m.group(1).replace(",", ""))
    body = re.sub(r"^## .*\n", "", text, count=1).strip()
    body = body.replace("\n| quantity |", "\n| quantity |")
    return f"Source: {source}.\n\n{body}\n", nums


@dataclass
class Footprint:
    rows: list[tuple[str, str, str, str]]      # (what, flash, RAM, how)
    raw: list[str]


def footprint(say: Callable[[str], None]) -> Footprint:
    rows: list[tuple[str, str, str, str]] = []
    raw: list[str] = []
    if not shutil.which("arm-none-eabi-gcc"):
        return Footprint([("(arm-none-eabi-gcc not installed)", "-", "-", "")], raw)
    proc = sh([sys.executable, "tools/size_report.py", "--channels", "6"])
    if proc.returncode == 0:
        out = proc.stdout
        raw += ["$ python3 tools/size_report.py --channels 6", *out.strip().splitlines()]
        flash = re.search(r"core flash \(objects \+ helpers\): (\d+) bytes", out)
        mon = re.search(r"sizeof\(td_monitor_t\) = (\d+) bytes", out)
        res = re.search(r"sizeof\(td_window_result_t\) = (\d+) bytes", out)
        rows.append(("core, Cortex-M4 -Os, 6 channels (`tools/size_report.py`)",
                     f"{int(flash.group(1)):,} B" if flash else "?",
                     (f"{int(mon.group(1)):,} B td_monitor_t" if mon else "?") +
                     (f" (+ {int(res.group(1)):,} B per td_window_result_t)" if res else ""),
                     "core objects + libgcc helpers (target <= 8 KB flash, <= 1 KB state)"))
    else:
        say(f"  size_report failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    proc = sh(["make", "-s", "--no-print-directory", "fw-qemu"])
    elf = ROOT / "build" / "fw" / "mps2-an386" / "tinydrift.elf"
    if proc.returncode == 0 and elf.exists():
        out = sh(["arm-none-eabi-size", str(elf)]).stdout
        raw += ["", "$ arm-none-eabi-size build/fw/mps2-an386/tinydrift.elf", *out.strip().splitlines()]
        text_b, data_b, bss_b = (int(x) for x in out.splitlines()[1].split()[:3])
        rows.append(("whole firmware, mps2-an386 (`make fw-qemu`)", f"{text_b + data_b:,} B",
                     f"{data_b + bss_b:,} B + stack", "text + data / data + bss; RAM includes the board's 12 KB "
                     "storage mirror and 4 KB receive ring and the 128-record telemetry ring"))
    else:
        say("  make fw-qemu failed; firmware size omitted")
    proc = sh(["make", "-s", "--no-print-directory", "fw-nano33ble-check"])
    if proc.returncode == 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("fw-nano33ble-check:")]
        raw += ["", "$ make fw-nano33ble-check", *lines]
        core_names = sorted(p.stem for p in (ROOT / "csrc" / "src").glob("*.c"))
        objs = [ROOT / "build" / "fw" / "nano33ble" / "check" / "core" / f"{n}.o" for n in core_names]
        objs = [o for o in objs if o.exists()]
        if objs:
            out = sh(["arm-none-eabi-size", "-t", *map(str, objs)]).stdout.strip().splitlines()[-1]
            text_b, data_b, bss_b = (int(x) for x in out.split()[:3])
            rows.append((f"core, Nano 33 BLE flags (Mbed core's softfp C flags), {len(objs)} objects",
                         f"{text_b + data_b:,} B", f"{data_b + bss_b:,} B static",
                         "csrc/src objects from `make fw-nano33ble-check`, before --gc-sections"))
        app = next((ln for ln in lines if "core + app objects" in ln), None)
        probe = next((ln for ln in lines if "static td_app_t" in ln), None)
        if app:
            m = re.search(r"text (\d+), data (\d+), bss (\d+)", app)
            ram = re.search(r"td_app_t: (\d+) bytes", probe or "")
            if m:
                rows.append(("core + firmware app, Nano 33 BLE flags", f"{int(m.group(1)) + int(m.group(2)):,} B",
                             f"{int(ram.group(1)):,} B td_app_t" if ram else "?",
                             "before --gc-sections; the Arduino/Mbed runtime comes on top"))
    else:
        say("  make fw-nano33ble-check failed; Nano 33 BLE size omitted")
    return Footprint(rows, raw)


# ----------------------------------------------------------------------------------------- link

@dataclass
class LinkResult:
    board: str
    records: int
    frames: int
    seconds: float
    uploads: list[float]
    profile_bytes: int
    bit_exact: bool
    error: str = ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_link(board: str, profile: object, frames: np.ndarray, uploads: int) -> LinkResult:
    import tinydrift
    from tinydrift.device.records import records_equal_rows
    from tinydrift.device.sim import Simulator

    blob = len(profile.to_bytes())  # type: ignore[attr-defined]
    logger = logging.getLogger("tinydrift.device.client")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # link warnings go into the report, not the terminal
    try:
        with Simulator(board) as sim, tinydrift.Device(sim.url, timeout=2.0) as dev:
            times = []
            for _ in range(uploads):
                t = time.perf_counter()
                dev.upload_profile(profile)
                times.append(time.perf_counter() - t)
            dev.info()
            t = time.perf_counter()
            records = dev.inject(frames)
            took = time.perf_counter() - t
        expected = len(frames) // profile.window  # type: ignore[attr-defined]
        exact = records_equal_rows(records, tinydrift.score(profile, frames))
        error = ""
        if len(records) != expected or not exact:
            first = handler.messages[0] if handler.messages else "records differ from tinydrift.score"
            error = (f"{len(records)} of {expected} records received; {len(handler.messages)} link warnings, "
                     f"first: {first}")
        return LinkResult(board, len(records), len(frames), took, times, blob, exact, error)
    except Exception as exc:  # noqa: BLE001 - reported in the document, the rest of the bench goes on
        return LinkResult(board, 0, len(frames), 0.0, [], blob, False, f"{type(exc).__name__}: {exc}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def wire_sizes(profile: object, frames: np.ndarray) -> dict[str, int]:
    import tinydrift
    from tinydrift.device.protocol import MAX_INJECT_VALUES, MSG_INJECT, MSG_TELEMETRY, encode_frame
    from tinydrift.device.records import TelemetryRecord

    row = tinydrift.score(profile, frames[: WINDOW])[0]
    payload = TelemetryRecord.from_row(row, seq=12345, boot_id=1, profile_id=1, uptime_ms=1000).pack()
    wire = encode_frame(MSG_TELEMETRY, 12345, payload)
    c = frames.shape[1]
    per_msg = MAX_INJECT_VALUES // c
    inj = encode_frame(MSG_INJECT, 1, np.ascontiguousarray(frames[:per_msg], dtype="<i2").tobytes())
    return {"record_payload": len(payload), "record_wire": len(wire), "inject_frames": per_msg,
            "inject_wire": len(inj), "channels": c}


# ------------------------------------------------------------------------------------------ plots

def plot_timeline(q: Quality, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = q.example
    s: Stream = ex["stream"]  # type: ignore[assignment]
    names: list[str] = ex["names"]  # type: ignore[assignment]
    prof = ex["profile"]
    td: Run = ex["td"]  # type: ignore[assignment]
    runs: dict[tuple[str, str], Run] = ex["runs"]  # type: ignore[assignment]
    x = np.arange(s.n_windows)
    fig, axes = plt.subplots(5, 1, figsize=(10.5, 9.0), sharex=True)

    def marks(ax: object, det: str) -> None:
        lo, hi = ax.get_ylim()  # type: ignore[attr-defined]
        log = ax.get_yscale() == "log"  # type: ignore[attr-defined]
        for frac, setting, mk, col in ((1.0, "configured", "v", "tab:red"), (0.9, "tuned", "^", "tab:purple")):
            yy = math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo))) if log else lo + frac * (hi - lo)
            a = runs[(setting, det)].alarm
            ax.plot(x[a], np.full(a.sum(), yy), mk, ms=4, color=col, ls="none",  # type: ignore[attr-defined]
                    label=f"alarm ({setting})", clip_on=False)

    ax = axes[0]
    ax.semilogy(x, np.maximum(td.stat, 1e-2), lw=0.8, color="tab:blue", label="score")
    ax.semilogy(x, np.maximum(td.extra["cusum"], 1e-2), lw=0.8, color="tab:green", label="CUSUM S")
    ax.axhline(prof.instant_q8 / 256, color="tab:blue", ls=":", lw=0.8, label="instant threshold")  # type: ignore
    ax.axhline(prof.cusum_h_q8 / 256, color="tab:green", ls=":", lw=0.8, label="h")  # type: ignore
    marks(ax, "tinydrift")
    ax.set_title("tinydrift: window score and CUSUM", fontsize=9, loc="left")
    ax = axes[1]
    ax.plot(x, ex["z"], lw=0.8, color="tab:blue", label="max |z| of window means")
    ax.axhline(ex["z_thr"][0], color="tab:red", ls=":", lw=0.8, label="threshold (configured)")
    ax.axhline(ex["z_thr"][1], color="tab:purple", ls=":", lw=0.8, label="threshold (tuned)")
    marks(ax, "z-test")
    ax.set_title("z-test (Bonferroni)", fontsize=9, loc="left")
    ax = axes[2]
    ax.semilogy(x, np.maximum(ex["m"], 1e-2), lw=0.8, color="tab:blue", label="d^2")
    ax.axhline(ex["m_thr"][0], color="tab:red", ls=":", lw=0.8, label="threshold (configured)")
    ax.axhline(ex["m_thr"][1], color="tab:purple", ls=":", lw=0.8, label="threshold (tuned)")
    marks(ax, "Mahalanobis")
    ax.set_title("Mahalanobis distance of (mean, std) per channel", fontsize=9, loc="left")
    for ax, det in ((axes[3], "ADWIN"), (axes[4], "PageHinkley")):
        ax.plot(x, ex["zmeans"][:, s.channel], lw=0.8, color="tab:blue",
                label=f"input: {names[s.channel]} (std. mean)")
        marks(ax, det)
        ax.set_title(f"river {det} (one per channel; input of the drifted channel shown)", fontsize=9, loc="left")
    for ax in axes:
        ax.axvline(s.change, color="k", lw=1.0, ls="--")
        ax.tick_params(labelsize=7)
        h, lab = ax.get_legend_handles_labels()
        uniq = dict(zip(lab, h))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, frameon=False)
    axes[-1].set_xlabel(f"window ({WINDOW} frames = 1 s); dashed line: change point", fontsize=8)
    fig.suptitle(f"Gain x2 on {names[s.channel]} from window {s.change} (held-out BasicMotions cases, "
                 f"stream {s.rep})", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.78, top=0.93, bottom=0.06, hspace=0.35)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    shrink_png(path)


def plot_delays(q: Quality, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DRIFTS), figsize=(11.0, 3.2), sharey=True)
    colors = dict(zip(DETECTORS, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    cap = 60
    for ax, key in zip(axes, DRIFTS):
        for j, det in enumerate(DETECTORS):
            outs = [o for o in q.outcomes[("tuned", det)] if o.scenario == key]
            d = np.array([cap if o.delay is None or o.delay > cap else o.delay for o in outs], float)
            jitter = (np.arange(len(d)) % 5 - 2) * 0.06
            ax.plot(np.full(len(d), j) + jitter, d, "o", ms=2.5, color=colors[det], alpha=0.6)
            med = median_delay([o.delay for o in outs])
            if not math.isinf(med):
                ax.plot([j - 0.3, j + 0.3], [min(med, cap)] * 2, color="k", lw=1.2)
        ax.set_title(SHORT[key], fontsize=8)
        ax.set_xticks(range(len(DETECTORS)))
        ax.set_xticklabels(["td", "z", "Mah", "ADW", "PH"], fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
        ax.axhline(cap, color="grey", lw=0.5, ls=":")
    axes[0].set_ylabel(f"delay, windows (>= {cap}: late or missed)", fontsize=7)
    fig.suptitle("Detection delay per run, peers tuned to tinydrift's false-alarm count (bar: median)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    shrink_png(path)


def shrink_png(path: Path) -> None:
    """Re-save with an adaptive palette when Pillow is there (plots have few colours)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=64).save(path, optimize=True)


# ----------------------------------------------------------------------------------------- report

def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import river

        river_v = river.__version__
    except ImportError:
        river_v = "not installed"
    import tinydrift

    commit = sh(["git", "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    dirty = bool(sh(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip())
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
        "numpy": np.__version__, "river": river_v, "tinydrift": getattr(tinydrift, "__version__", "?"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def fmt_rate(alarms: int, windows: int) -> str:
    return f"{per_1000(alarms, windows):.2f} ({alarms}/{windows:,})"


def quality_tables(q: Quality, setting: str) -> list[str]:
    lines = ["| detector | false alarms per 1,000 in-distribution windows | "
             + " | ".join(SHORT[k] for k in DRIFTS) + " |",
             "|---|---:|" + "---:|" * len(DRIFTS)]
    for det in DETECTORS:
        outs = q.outcomes[(setting, det)]
        fa, n = fa_total(outs)
        cells = [cell(outs, k) for k in DRIFTS]
        win = [det in winners(q, setting, k)[0] for k in DRIFTS]
        lines.append(f"| {det} | {fmt_rate(fa, n)} | "
                     + " | ".join((f"**{c.text()}**" if w else c.text()) for c, w in zip(cells, win)) + " |")
    return lines


def channel_table(q: Quality, setting: str) -> list[str]:
    keys = [s.key for s in SCENARIOS if s.channel_drift]
    lines = ["| detector | " + " | ".join(SHORT[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for det in DETECTORS:
        outs = q.outcomes[(setting, det)]
        cells = [cell(outs, k) for k in keys]
        lines.append(f"| {det} | " + " | ".join(f"{c.named_ok}/{c.named_of}" for c in cells) + " |")
    return lines


def class_breakdown(q: Quality, setting: str, scenario: str, classes: list[str]) -> list[str]:
    lines = ["| detector | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
    for det in DETECTORS:
        outs = [o for o in q.outcomes[(setting, det)] if o.scenario == scenario]
        row = []
        for cname in classes:
            sel = [o for o in outs if o.note == cname]
            med = median_delay([o.delay for o in sel])
            row.append(f"{sum(o.delay is not None for o in sel)}/{len(sel)}, "
                       + ("-" if math.isinf(med) else f"{med:g}"))
        lines.append(f"| {det} | " + " | ".join(row) + " |")
    return lines


def reading(q: Quality, dev: dict[str, float], speed: Speed | None) -> tuple[list[str], dict[str, object]]:
    """The honest reading, computed from the results (so it stays true when the numbers change)."""
    td = q.outcomes[("configured", "tinydrift")]
    fa, n = fa_total(td)
    rate = per_1000(fa, n)
    upper = 1000.0 * poisson_upper(fa) / n
    missed = {k: cell(td, k) for k in DRIFTS if cell(td, k).detected < cell(td, k).runs}
    wins, ties, losses = [], [], []
    for k in DRIFTS:
        w, cells = winners(q, "tuned", k)
        if w == ["tinydrift"]:
            wins.append(k)
        elif "tinydrift" in w:
            ties.append((k, [d for d in w if d != "tinydrift"]))
        else:
            losses.append((k, w, cells))
    facts = {"fa_per_1000": rate, "fa_upper": upper, "missed": [k for k in DRIFTS if k in missed], "wins": wins,
             "ties": [k for k, _ in ties], "losses": [k for k, _, _ in losses]}
    out = []
    ok_fa = rate <= 2.0 * RATE * 1000
    distinct = q.streams[0].n_windows  # the control stream holds every held-out window once
    upper_distinct = 1000.0 * poisson_upper(0) / distinct
    out.append(f"- **False alarms.** tinydrift raised {fa} alarms on {n:,} in-distribution windows "
               f"({rate:.2f} per 1,000; 95 % upper bound {upper:.2f} if the windows were independent) against its "
               f"calibrated {RATE * 1000:g} per 1,000: {'within' if ok_fa else 'NOT within'} the 2x target. "
               f"Caveat: the streams re-order the same {distinct} held-out windows (40 recordings); order matters "
               f"only to CUSUM, so for the per-window checks the evidence is {distinct} distinct windows, which "
               f"cannot show a rate below {upper_distinct:.1f} per 1,000 even with no alarm. The 2x target is met "
               "on this data but not proven to 1e-3 precision.")
    if missed:
        out.append("- **Detection.** tinydrift misses runs in: " + "; ".join(
            f"{SHORT[k]} ({c.detected}/{c.runs} detected)" for k, c in missed.items()) + ". In every other "
            "drift scenario it detects every run.")
    else:
        out.append("- **Detection.** tinydrift detects every run of every drift scenario.")
    if wins:
        out.append("- **Fastest at equal false alarms** (peers tuned to tinydrift's control count): "
                   + ", ".join(SHORT[k] for k in wins) + ".")
    if ties:
        out.append("- **Tied for fastest**: " + "; ".join(f"{SHORT[k]} (with {', '.join(o)})" for k, o in ties) + ".")
    if losses:
        parts = []
        for k, w, cells in losses:
            tdc = cells["tinydrift"]
            best = ", ".join(f"{d} {cells[d].text()}" for d in w) or "nobody"
            parts.append(f"{SHORT[k]}: tinydrift {tdc.text()} vs {best}")
        out.append("- **Not the fastest** (detected/runs, median delay in windows): " + "; ".join(parts) + ".")
    chan_keys = [sc.key for sc in SCENARIOS if sc.channel_drift]
    named = []
    for setting, det in [("configured", "tinydrift")] + [("tuned", d) for d in PEERS]:
        cs = [cell(q.outcomes[(setting, det)], k) for k in chan_keys]
        ok, of = sum(c.named_ok for c in cs), sum(c.named_of for c in cs)
        if of:
            named.append(f"{det} {ok}/{of} ({100 * ok / of:.0f} %)")
    if named:
        out.append("- **Root cause.** Drifted channel named correctly at the first alarm after the change, over the "
                   "channel scenarios (correct/detected; peers tuned): " + ", ".join(named) + ".")
    sat = []
    for k in ("gain", "offset", "noise"):
        hows = [o.how for o in td if o.scenario == k and o.delay is not None]
        if hows:
            rails = sum(1 for h in hows if h & 4)
            chart = sum(1 for h in hows if not h & 4 and h & 0x20 and not h & 3)
            score = len(hows) - rails - chart
            sat.append(f"{SHORT[k]}: rails {rails}, feature chart alone {chart}, window score {score} (of {len(hows)})")
    if sat:
        out.append("- **How gains, offsets and noise are caught.** Which check raised tinydrift's first alarm after "
                   "the change: the saturation check (the drifted signal reaching the +-32767 rails), the feature "
                   "chart alone (a two-sided CUSUM per channel mean and spread), or the window score (CUSUM or "
                   "instant threshold, possibly with the chart in the same window): " + "; ".join(sat) + ".")
    classes_unseen = sorted({o.note for o in td if o.scenario == "unseen"})
    if classes_unseen:
        per = []
        for cname in classes_unseen:
            sel = [o for o in td if o.scenario == "unseen" and o.note == cname]
            med = median_delay([o.delay for o in sel])
            per.append(f"{cname} {sum(o.delay is not None for o in sel)}/{len(sel)}"
                       + ("" if math.isinf(med) else f" (median {med:g} windows)"))
        out.append("- **Unseen class** (left-out class: tinydrift detected/runs): " + ", ".join(per) + ". A class "
                   "whose windows fall inside the span of the other classes looks in-distribution window by "
                   "window; per class for every detector in the tables below.")
    weak = [k for k in DRIFTS if k in missed and k in q.diag and k not in ("prior",)]
    if weak:
        ratios = ", ".join(f"{SHORT[k]} x{q.diag[k]['post_median'] / max(q.diag[k]['pre_median'], 1e-9):.1f}, "
                           f"{100 * q.diag[k]['post_above_k']:.0f} % above k" for k in weak)
        out.append("- **Where tinydrift still misses.** After the change its window scores rise (median after/before: "
                   f"{ratios}); the CUSUM reference value k is the 95th percentile of held-out scores, so a "
                   "rise that stays mostly below k accumulates slowly. The score sums 12 standardized dimensions, so "
                   "a small change in one of them is diluted by the other eleven's noise. "
                   "`tools/studies/feature_chart.py` (float64, not in the product) tries two more CUSUMs beside the "
                   "score, one per feature on the attribution's matched-filter fit and one on the embedding's global "
                   "Mahalanobis distance, calibrated the same way; its docstring has the figures.")
    if "prior" in missed or "prior" in facts["losses"]:
        out.append("- A class-prior shift leaves every window in-distribution; tinydrift scores windows one at a "
                   "time against the reference mixture, so it is blind to it by design. Detectors that track the "
                   "level of the stream (ADWIN, PageHinkley) can see the mean move. tinydrift's answer is on the "
                   "model side (`tinydrift.outputs`: the predicted-class histogram against the reference prior), "
                   "which needs a model's predictions and is not exercised by this benchmark.")
    if "offset_small" in missed or "offset_small" in facts["losses"]:
        out.append("- Small offsets: +0.25 sd of the whole recording is about 0.1 of the standing-to-running spread "
                   "of a channel's window mean; the per-centroid scales make it visible within a quiet activity, "
                   "less so within a busy one.")
    if dev:
        lo, hi = FLOOR_PER_CHANNEL_SAMPLE
        fast, block = dev.get("fast"), dev.get("block")
        if fast and block:
            out.append(f"- **Device cost.** {fast:.1f} instructions per channel-sample on the fast path and "
                       f"{block:.1f} on real data, against a floor of about {lo}-{hi} (load, subtract-compare-"
                       f"branch, add, multiply-accumulate, loop): {block / hi:.1f}-{block / lo:.1f}x the floor on "
                       "real data. The window close and the telemetry frame cost more than all of a window's "
                       "samples at window 64" + (f" ({dev['telemetry']:,.0f} instructions per window with its record)."
                                                if dev.get("telemetry") else ".")
                       + (f" Every window pays for the feature chart's fitted shifts (a close outside a CUSUM run "
                          f"costs {dev['close_out']:,.0f}), and a window inside a run also for the channel "
                          f"attribution: {dev['close_run']:,.0f}." if dev.get("close_run") and dev.get("close_out")
                          else ""))
    if speed and len(speed.rows) >= 2:
        td_t, np_t = speed.rows[0][1], speed.rows[1][1]
        out.append(f"- **Host speed.** The full monitor through CFFI runs at {speed.frames / td_t / 1e6:.2f} M "
                   f"frames/s, {np_t / td_t:.2f}x the speed of numpy computing only the window statistics"
                   + (f", {speed.rows[2][1] / td_t:.1f}x river's ADWIN + PageHinkley fed window means"
                      if len(speed.rows) > 2 else "")
                   + (f" and {speed.rows[3][1] / td_t:,.0f}x river fed every sample" if len(speed.rows) > 3 else "")
                   + " (one core, this machine).")
    return out, facts


def targets_table(q: Quality) -> list[str]:
    """The issue's three targets for tinydrift, each with its measured result."""
    _, facts = reading(q, {}, None)
    td = q.outcomes[("configured", "tinydrift")]
    fa, n = fa_total(td)
    missed = facts["missed"]
    won = facts["wins"] + facts["ties"]
    return [
        "| target | result | met |", "|---|---|---|",
        "| detects every drift scenario (every run) | "
        + (f"misses runs in {len(missed)} of {len(DRIFTS)}: " + ", ".join(
            f"{SHORT[k]} {cell(td, k).detected}/{cell(td, k).runs}" for k in missed) if missed else "all runs detected")
        + f" | {'no' if missed else 'yes'} |",
        f"| false alarms within 2x the calibrated {RATE:g}/window | {per_1000(fa, n):.2f} per 1,000 ({fa} of {n:,} "
        f"windows; only {q.streams[0].n_windows} distinct) | "
        f"{'yes (on this data)' if per_1000(fa, n) <= 2 * RATE * 1000 else 'no'} |",
        "| lowest median delay among detectors at the same false-alarm rate | fastest or tied in "
        f"{len(won)} of {len(DRIFTS)}: " + (", ".join(SHORT[k] for k in won) or "none")
        + f" | {'yes' if len(won) == len(DRIFTS) else 'no'} |",
    ]


def write_doc(path: Path, info: dict[str, str], command: str, q: Quality | None, speed: Speed | None,
              dev_md: str | None, dev: dict[str, float], foot: Footprint | None, links: list[LinkResult],
              wire: dict[str, int] | None, imgs: dict[str, str], classes: list[str], names: list[str],
              repeats: int, alibi_note: str) -> list[str]:
    L: list[str] = []
    L += ["# Benchmarks", "",
          "Generated by `make bench` (`tools/bench.py`); do not edit by hand: re-run it.", "",
          f"- date: {info['date']}; machine: {info['cpu']}, {info['cores']} cores, {info['os']}",
          f"- Python {info['python']}, numpy {info['numpy']}, river {info['river']}, tinydrift {info['tinydrift']} "
          f"at {info['commit']}",
          f"- command: `{command}`", ""]
    headline: list[str] = []
    if q is not None:
        headline = quality_tables(q, "tuned")
        read, _ = reading(q, dev, speed)
        L += ["## Headline", "",
              f"Detection on the real recording (held-out BasicMotions cases), {repeats} seeded streams per "
              "scenario. Cells: runs detected / runs, median delay in windows after the change (1 window = 1 s; "
              "misses count as infinitely late, `-` when half or more were missed). Peers **tuned** so they raise "
              "no more false alarms on the control streams than tinydrift did (tinydrift is not tuned). Bold: "
              "lowest median delay in the column.", ""]
        L += headline
        L += ["", "### Targets", ""] + targets_table(q) + [""]
        L += ["### Reading", ""] + read + [""]
        L += ["## Detection quality", "",
              "### Setup", "",
              "- Data: `data/basicmotions.npz` (smartwatch IMU, 6 channels `" + ", ".join(names) + "`, 10 Hz, "
              "classes " + ", ".join(classes) + "). Training split: 40 recordings of 10 s, the profile and every "
              "peer's reference statistics. Streams: the 40 held-out test recordings, concatenated in seeded random "
              "orders; windows are aligned with recording boundaries, as in training.",
              f"- Window {WINDOW} frames (1 s) for every detector; one alarm per window at most.",
              "- Scenarios (a drifted channel and the change point are drawn per stream; `sd` is the channel's "
              "standard deviation over all training samples: " + ", ".join(
                  f"{n_} {s_:.0f}" for n_, s_ in zip(names, q.sd)) + " LSB):", ""]
        for s in SCENARIOS:
            desc = {
                "control": "all 40 test recordings shuffled, no change (400 windows)",
                "gain": "from a random window in [150, 250], one channel multiplied by 2 (clipped at the rails "
                        "+-32767, as a sensor would)",
                "offset": "from a random window in [150, 250], `magnitude x sd` added to one channel",
                "stuck": "from a random window in [150, 250], one channel repeats its last value",
                "dropout": "from a random window in [150, 250], each sample of one channel is the sentinel -32768 "
                           "with probability 0.1 (peers see the raw value)",
                "noise": "from a random window in [150, 250], Gaussian noise of `magnitude x sd` added to one channel",
                "unseen": "profile and peers trained on 3 classes; 15-30 held-out recordings of those classes, then "
                          "the 10 of the 4th class (the left-out class rotates over the 4 classes)",
                "prior": "20-33 recordings mixing all 4 classes, then only one class (7 recordings; the class "
                         "rotates)",
            }[s.kind]
            L.append(f"  - **{SHORT[s.key]}**: {desc}.")
        L += ["",
              "- Alarms: every window in which a detector fires is an alarm; tinydrift's latched alarm is "
              "acknowledged (`reset_alarm`) right after each, as its calibration counts alarms. False alarms: "
              "alarms in the control streams and before the change in the others. Detected: an alarm at or after "
              "the change window. Delay: windows from the change to that alarm (0 = in the first drifted window).",
              "- Channel named: tinydrift's health masks when a health check fired, else `top_channel` (during a CUSUM run the "
              "channel whose shift best explains the run's windows, a matched filter in the nearest centroid's scale; "
              "see docs/architecture.md), none for an alarm of the occupancy test alone; z-test and "
              "Mahalanobis: the channel with the largest |z| of its mean (and std); ADWIN / PageHinkley: the "
              "channel whose detector fired (the largest |z| if several fired in the same window).", "",
              "### Detectors and settings", "",
              "| detector | as configured | tuned |", "|---|---|---|"]
        for det in DETECTORS:
            L.append(f"| {det} | {q.settings['configured'][det]} | {q.settings['tuned'][det]} |")
        td_fa, td_n = q.tuned_target
        L += ["",
              f"Tuning: on the {repeats} control streams ({td_n:,} windows) tinydrift raised {td_fa} alarms. Each peer "
              f"gets the most sensitive value of its one knob that raises at most {td_fa} alarms on those same "
              "windows: for the z-test and Mahalanobis the largest control statistic that may be exceeded that "
              "often; for ADWIN's delta and PageHinkley's threshold a bisection on a log scale (river's detectors "
              "are run on the control streams at each step). The peers are tuned on the very streams they are "
              "scored on and tinydrift is calibrated on training data only, so the tuned setting favours the peers. "
              "ADWIN runs with `clock=1` (it checks for a cut after every window; river's default of 32 would add "
              "up to 31 windows of delay). The peers see the raw window values: the dropout sentinel enters their "
              "window means; they have no notion of missing samples.",
              "",
              "River's detectors get standardized window means, one per channel (river's usual use is one "
              "detector per univariate stream); they do not see the window standard deviation, so a change "
              "that leaves the mean alone (noise, a gain on a zero-mean gyroscope axis) is invisible to them by "
              "construction. The z-test has the same blind spot; Mahalanobis and tinydrift use mean and std.",
              "", "### As configured", "",
              "Each detector at its own setting: tinydrift and the z-test aim at 1e-3 false alarms per window, "
              "Mahalanobis at the 0.999 quantile of its training distances, river's detectors at their defaults.",
              ""]
        L += quality_tables(q, "configured")
        L += ["", "### Tuned to tinydrift's false-alarm count", ""] + quality_tables(q, "tuned")
        L += ["", "### Channel named at the first alarm after the change (correct / detected)", "",
              "As configured:", ""] + channel_table(q, "configured")
        L += ["", "Tuned:", ""] + channel_table(q, "tuned")
        L += ["", "### Unseen class and prior shift by class (tuned peers; detected / runs, median delay)", "",
              "Unseen class (the column's class is left out of training and streamed after the change):", ""]
        L += class_breakdown(q, "tuned", "unseen", classes)
        L += ["", "Prior shift (only the column's class after the change):", ""]
        L += class_breakdown(q, "tuned", "prior", classes)
        for setting in ("configured", "tuned"):
            L += ["", f"### False alarms by scenario ({'as configured' if setting == 'configured' else 'tuned'}; "
                  "alarms / in-distribution windows: control streams and before the change)", "",
                  "| detector | " + " | ".join(SHORT[s.key] for s in SCENARIOS) + " |",
                  "|---|" + "---:|" * len(SCENARIOS)]
            for det in DETECTORS:
                outs = q.outcomes[(setting, det)]
                L.append(f"| {det} | " + " | ".join(
                    f"{fa_total(outs, [s.key])[0]}/{fa_total(outs, [s.key])[1]:,}" for s in SCENARIOS) + " |")
        L += ["", "The unseen-class streams use 3-class references (a separate tinydrift profile and peer statistics "
              "per left-out class); the tuned peer thresholds were set on the 4-class control streams, so their "
              "false alarms there are not tuned away."]
        L += ["", "### Inside tinydrift: why it detects or not", "",
              "Window scores before and after the change, against the CUSUM reference value k (the 95th "
              "percentile of held-out scores; CUSUM only accumulates `score - k` when a score exceeds k), and "
              "which check fired first after the change (instant threshold, CUSUM, health, feature chart).", "",
              "| scenario | median score before | after | windows above k before | after | first alarm by |",
              "|---|---:|---:|---:|---:|---|"]
        for key in DRIFTS:
            d = q.diag.get(key)
            if not d:
                continue
            hows = [o.how for o in q.outcomes[("configured", "tinydrift")] if o.scenario == key and o.delay is not None]
            by = ", ".join(f"{name} {sum(1 for h in hows if h & bit)}" for name, bit in
                           (("instant", 1), ("CUSUM", 2), ("health", 4), ("feature chart", 0x20))
                           if any(h & bit for h in hows)) or "-"
            L.append(f"| {SHORT[key]} | {d['pre_median']:.1f} | {d['post_median']:.1f} | "
                     f"{100 * d['pre_above_k']:.0f} % | {100 * d['post_above_k']:.0f} % | {by} |")
        L += [""]
        if "timeline" in imgs:
            L += ["### One stream, every detector", "", f"![timeline]({imgs['timeline']})", ""]
        if "delays" in imgs:
            L += [f"![delays]({imgs['delays']})", ""]
        L += [f"Detection section: {q.seconds:.0f} s.", ""]
    L += ["## Speed on the host", ""]
    if speed is not None:
        td_t = speed.rows[0][1]
        L += [f"{speed.frames:,} frames x 6 channels of the bundled recording (tiled), window {SPEED_WINDOW}; "
              f"median of {speed.repeats} runs (`time.perf_counter`), one process on this machine.", "",
              "| what | frames/s | channel-samples/s | vs tinydrift | note |", "|---|---:|---:|---:|---|"]
        for what, t, note in speed.rows:
            fps = speed.frames / t
            L.append(f"| {what} | {fps:,.0f} | {fps * 6:,.0f} | {td_t / t:.3g}x | {note} |")
        L += ["", "`vs tinydrift` > 1 means faster than tinydrift. numpy computes only the six statistics; "
              "tinydrift's monitor also standardizes, projects, finds the nearest centroid, runs CUSUM and the "
              "health checks and merges lifetime statistics, all in exact integer arithmetic.", ""]
    else:
        L += ["Skipped (--no-speed).", ""]
    L += ["## On the device (Cortex-M4F, QEMU instruction counts)", ""]
    if dev_md:
        lo, hi = FLOOR_PER_CHANNEL_SAMPLE
        L += [f"The hardware floor for the per-sample work is about {lo}-{hi} instructions per channel-sample on a "
              "Cortex-M4: a load (`LDRSH`), a subtract-compare-branch against the min/max band, an add, a 32x32->64 "
              "multiply-accumulate (`SMLAL`) and the loop's pointer/counter/branch. "]
        if dev.get("block") and dev.get("fast"):
            L[-1] += (f"Measured: {dev['fast']:.1f} on the fast path ({dev['fast'] / hi:.2f}-{dev['fast'] / lo:.2f}x "
                      f"the floor), {dev['block']:.1f} on real data in blocks ({dev['block'] / hi:.2f}-"
                      f"{dev['block'] / lo:.2f}x).")
        L += ["", dev_md]
    else:
        L += ["Skipped (--no-device).", ""]
    L += ["## Footprint", ""]
    if foot is not None:
        L += ["| what | flash | RAM | note |", "|---|---:|---:|---|"]
        L += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in foot.rows]
        if foot.raw:
            L += ["", "```", *foot.raw, "```"]
        L.append("")
    else:
        L += ["Skipped (--no-device).", ""]
    L += ["## Telemetry link (simulated boards)", ""]
    if wire:
        L += [f"One telemetry record ({wire['channels']} channels) is {wire['record_payload']} bytes of payload and "
              f"{wire['record_wire']} bytes on the wire (COBS, header, CRC-32, delimiter; encoded by the C codec "
              f"through `tinydrift.device.protocol.encode_frame`): {wire['record_wire'] / WINDOW:.1f} bytes per frame at window "
              f"{WINDOW}, {wire['record_wire'] / SPEED_WINDOW:.1f} at window {SPEED_WINDOW}. Replaying frames "
              f"costs {wire['inject_wire']} wire bytes per INJECT of {wire['inject_frames']} frames.", ""]
    if links:
        L += ["| board | telemetry records/s | frames/s | profile upload (median) | profile bytes | host check |",
              "|---|---:|---:|---:|---:|---|"]
        for r in links:
            up = (f"{statistics.median(r.uploads) * 1000:.1f} ms ({len(r.uploads)} uploads)" if r.uploads else "-")
            if r.error:
                L.append(f"| {r.board} | - | - | {up} | {r.profile_bytes} | FAILED: {r.error} |")
                continue
            L.append(f"| {r.board} | {r.records / r.seconds:,.0f} | {r.frames / r.seconds:,.0f} | {up} | "
                     f"{r.profile_bytes} | records equal tinydrift.score, field for field |")
        r0 = next((r for r in links if not r.error), None)
        if r0:
            L += ["", f"`tinydrift.device.sim.Simulator` + `tinydrift.Device`: {r0.frames:,} frames (window {WINDOW}) "
                  f"injected as fast as the device acknowledges (INJECT messages of whole frames, each acknowledged "
                  f"before the next), so records/s measures the request/acknowledge round trip over the simulated "
                  f"serial link (TCP to the host process; QEMU's emulated UART), not a radio. Upload: "
                  "UPLOAD_BEGIN, 256-byte chunks, COMMIT (write to the inactive flash slot, read back, switch).", ""]
    else:
        L += ["Skipped (--no-link).", ""]
    L += ["## Peers not included", "", alibi_note, ""]
    path.write_text("\n".join(L))
    return headline


ALIBI_NOTE = (
    "alibi-detect (0.13.0, the current release) is not in the comparison. Its base package pins `numpy<2.0.0` "
    "(and `numba<0.60`, `Pillow<11`), while river 0.26 requires `numpy>=2.2.5` and the project's environment "
    "(TensorFlow 2.21 for the `[tf]` extra, through ml_dtypes 0.6) needs numpy 2 as well: the two peers cannot "
    "share one environment (`pip install --dry-run alibi-detect` in the project's venv wants to downgrade numpy "
    "to 1.26.4 and Pillow to 10.4). Its online MMD and LSDD detectors also need a deep-learning backend: the "
    "`tensorflow` extra pins `tensorflow<2.19` (this project uses `tensorflow-cpu` 2.21) and the `torch` extra "
    "pulls PyPI's CUDA build of PyTorch, several GB on a CPU-only machine. alibi-detect's numpy/numba-only online "
    "detectors (CVM, FET) would need their own environment; they are left for later.")


# ------------------------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40, help="streams per scenario (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 streams per scenario, small speed runs, no link/device")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-link", action="store_true", help="skip the simulated boards")
    ap.add_argument("--no-device", action="store_true", help="skip QEMU instruction counts and firmware sizes")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--img", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 4)
        args.no_link = args.no_device = True
    if args.repeats < 1:
        print("bench: --repeats must be at least 1", file=sys.stderr)
        return 2
    try:
        import river  # noqa: F401
    except ImportError:
        print("bench: the peer detectors need river: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = Path(args.out)
    img = Path(args.img)
    img.mkdir(parents=True, exist_ok=True)
    command = "make bench" if not argv and len(sys.argv) == 1 else \
        "python tools/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    ds = load_dataset()
    say = print

    say(f"[1/5] detection quality: {len(SCENARIOS)} scenarios x {args.repeats} streams, {len(DETECTORS)} detectors")
    q = run_quality(ds, args.repeats, args.seed, say)
    imgs: dict[str, str] = {}
    rel = os.path.relpath(img, out.parent)
    for name, fn in (("timeline", plot_timeline), ("delays", plot_delays)):
        p = img / f"bench-{name}.png"
        fn(q, p)
        size = p.stat().st_size
        if size > IMG_LIMIT:
            say(f"  warning: {p} is {size // 1024} KB (limit {IMG_LIMIT // 1024} KB)")
        imgs[name] = f"{rel}/{p.name}"
    say(f"  done in {q.seconds:.0f} s")

    speed = None
    if not args.no_speed:
        say("[2/5] host speed")
        n_win = 1024 if args.quick else 8192
        speed, _ = run_speed(ds, 3 if args.quick else 5, n_win, 2000 if args.quick else 20000)
        for what, t, _ in speed.rows:
            say(f"  {speed.frames / t:>14,.0f} frames/s  {what}")

    dev_md, dev, foot = None, {}, None
    if not args.no_device:
        say("[3/5] device: QEMU instruction counts, footprint")
        dev_md, dev = device_section(say)
        foot = footprint(say)
        for row in foot.rows:
            say(f"  {row[0]}: flash {row[1]}, RAM {row[2]}")

    links: list[LinkResult] = []
    import tinydrift

    train = [c[0] for c in ds.cases(0)]
    profile10 = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, channel_names=ds.names)
    test = np.ascontiguousarray(ds.frames[ds.split == 1])
    wire = wire_sizes(profile10, test)
    if not args.no_link:
        say("[4/5] telemetry link on the simulated boards")
        boards = ["host"] + (["qemu"] if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
                             else [])
        for board in boards:
            r = run_link(board, profile10, test, uploads=5)
            links.append(r)
            if r.error:
                say(f"  {board}: FAILED: {r.error}")
            else:
                say(f"  {board}: {r.records / r.seconds:,.0f} records/s, profile upload "
                    f"{statistics.median(r.uploads) * 1000:.1f} ms, records equal tinydrift.score")

    say(f"[5/5] writing {out}")
    headline = write_doc(out, info, command, q, speed, dev_md, dev, foot, links, wire, imgs, ds.classes, ds.names,
                         args.repeats, ALIBI_NOTE)
    print()
    print("Headline (peers tuned to tinydrift's false-alarm count; detected/runs, median delay in windows):")
    for line in headline:
        if not line.startswith("|---"):
            print("  " + line)
    print()
    for line in targets_table(q):
        if not line.startswith("|---"):
            print("  " + line)
    read, _ = reading(q, dev, speed)
    print()
    for line in read:
        print("  " + line)
    print(f"\nbench: {time.perf_counter() - t0:.0f} s; wrote {out} and {len(imgs)} plots in {img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
