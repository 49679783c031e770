"""Drift scenarios: seeded streams of held-out cases with a known change point, and the drift injector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import RAILS, SENTINEL, WINDOW
from .data import Dataset


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



DRIFTS = [s.key for s in SCENARIOS if s.drift]
