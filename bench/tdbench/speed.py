"""Host speed: tinydrift's monitor through CFFI against numpy window statistics and river's detectors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tinydrift

from .config import RATE, SPEED_WINDOW
from .data import Dataset, window_stats_numpy


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

