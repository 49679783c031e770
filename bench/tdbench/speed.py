"""Host speed: tinydrift's monitor through CFFI against numpy window statistics and river's detectors."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import tinydrift

from .config import RATE, SPEED_WINDOW
from .data import Dataset, window_stats_numpy
from .internals import RAW_DTYPE


@dataclass
class Speed:
    frames: int
    rows: list[tuple[str, float, str]]        # (what, seconds per frame-batch median, note)
    river_sample_frames: int
    repeats: int
    # (window, tinydrift Monitor.push, Monitor.push_raw(out=), plain C int64 loop, numpy float64 statistics) in
    # channel-samples/s
    blocks: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    stream: list[tuple[str, float]] = field(default_factory=list)  # (what, microseconds per one-window call)


BLOCK_WINDOWS = (10, 64)
TARGET_CHANNEL_SAMPLES = 1e9    # issue 24: >= 1e9 channel-samples/s per core at window 64
TARGET_VS_NUMPY = 5.0           # >= 5x numpy float64 window statistics at windows 10 and 64
TARGET_STREAM_US = 3.0          # one-window streaming push <= 3 us

_C_LOOP = """
#include <stdint.h>
/* Per window and channel: int64 sum of samples and of squares; the floor any window statistic pays. */
static void td_bench_sums(const int16_t *x, uint32_t n_frames, uint32_t n_ch, uint32_t window,
                          int64_t *sum, int64_t *sumsq) {
    uint32_t n_win = n_frames / window;
    for (uint32_t w = 0; w < n_win; w++) {
        int64_t s[16] = {0}, q[16] = {0};
        const int16_t *p = x + (uint64_t)w * window * n_ch;
        for (uint32_t i = 0; i < window; i++)
            for (uint32_t c = 0; c < n_ch; c++) {
                int32_t v = p[i * n_ch + c];
                s[c] += v;
                q[c] += (int64_t)(v * v);
            }
        for (uint32_t c = 0; c < n_ch; c++) {
            sum[(uint64_t)w * n_ch + c] = s[c];
            sumsq[(uint64_t)w * n_ch + c] = q[c];
        }
    }
}
"""


@lru_cache(maxsize=1)
def c_loop() -> Any:
    """The plain C baseline compiled -O2 (the core's flags until issue 24) into a temporary module; its lib."""
    import importlib.util

    from cffi import FFI

    builder = FFI()
    builder.cdef("static void td_bench_sums(const int16_t *x, uint32_t n_frames, uint32_t n_ch, uint32_t window, "
                 "int64_t *sum, int64_t *sumsq);")
    builder.set_source("_td_bench_cloop", _C_LOOP, extra_compile_args=["-std=c99", "-O2"])
    so = builder.compile(tmpdir=tempfile.mkdtemp(prefix="tdbench-cloop-"))
    spec = importlib.util.spec_from_file_location("_td_bench_cloop", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def c_loop_sums(frames: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 (sum, sumsq) per window and channel by the plain C loop."""
    mod = c_loop()
    n_win, n_ch = len(frames) // window, frames.shape[1]
    s = np.empty((n_win, n_ch), np.int64)
    q = np.empty((n_win, n_ch), np.int64)
    mod.lib.td_bench_sums(mod.ffi.from_buffer("int16_t[]", frames), len(frames), n_ch, window,
                          mod.ffi.from_buffer("int64_t[]", s), mod.ffi.from_buffer("int64_t[]", q))
    return s, q


def run_blocks(ds: Dataset, profiles: dict[int, object], repeats: int,
               n_frames: int) -> list[tuple[int, float, float, float, float]]:
    """Block throughput at each window: tinydrift (push, push_raw into a reused buffer), the C loop and numpy on the
    same frames, same process."""
    reps = -(-n_frames // len(ds.frames))
    frames = np.ascontiguousarray(np.tile(ds.frames, (reps, 1))[:n_frames])
    out = []
    for w in BLOCK_WINDOWS:
        s, q = c_loop_sums(frames, w)  # the baseline computes what numpy computes (checked, not timed)
        ref = window_stats_numpy(frames, w)
        if not (np.array_equal(s, ref[0]) and np.array_equal(q, ref[1])):
            raise RuntimeError(f"C loop sums differ from numpy's at window {w}")
        # push_raw into one buffer made (and its pages touched) before the runs, reused by each: the C results as
        # they are, no conversion and no fresh pages
        buf = np.empty((len(frames) // w,), dtype=RAW_DTYPE)
        buf.view(np.uint8).fill(0)
        # The four take turns in each repeat, so a slow stretch of this shared machine falls on all of them alike and
        # the ratios of the medians compare like with like; each monitor is made outside its timed part.
        times: list[list[float]] = [[], [], [], []]
        for _ in range(repeats):
            mon = tinydrift.Monitor(profiles[w])
            t = time.perf_counter()
            mon.push(frames)
            times[0].append(time.perf_counter() - t)
            mon = tinydrift.Monitor(profiles[w])
            t = time.perf_counter()
            mon.push_raw(frames, out=buf)
            times[1].append(time.perf_counter() - t)
            t = time.perf_counter()
            c_loop_sums(frames, w)
            times[2].append(time.perf_counter() - t)
            t = time.perf_counter()
            window_stats_numpy(frames, w)
            times[3].append(time.perf_counter() - t)
        samples = frames.size
        out.append((w, *(samples / float(np.median(ts)) for ts in times)))
    return out


def run_stream(profile: object, frames: np.ndarray, repeats: int, calls: int) -> list[tuple[str, float]]:
    """Microseconds per call when each call pushes exactly one window."""
    mon = tinydrift.Monitor(profile)
    w = mon.window
    blocks = [np.ascontiguousarray(frames[i * w : (i + 1) * w]) for i in range(calls)]
    out = []
    for what, fn in (("Monitor.push (numpy rows)", mon.push),
                     ("Monitor.push_raw (C results, a copy)", mon.push_raw),
                     ("Monitor.push_raw(copy=False) (C results, a view of the reused buffer)",
                      lambda b: mon.push_raw(b, copy=False))):
        def loop(fn: Callable[[np.ndarray], object] = fn) -> None:
            for b in blocks:
                fn(b)
        out.append((what, timed(loop, repeats) / calls * 1e6))
    return out


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
    profiles = {SPEED_WINDOW: profile}
    for w in BLOCK_WINDOWS:
        if w not in profiles:
            profiles[w] = tinydrift.build_profile(np.concatenate(train), window=w, false_alarm_rate=RATE)
    blocks = run_blocks(ds, profiles, repeats, n)
    stream = run_stream(profile, frames, repeats, min(n_windows, 2000))
    try:
        from river import drift
    except ImportError:
        return Speed(n, rows, 0, repeats, blocks, stream), profile
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
    return Speed(n, rows, river_frames, repeats, blocks, stream), profile

