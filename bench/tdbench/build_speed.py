"""build_profile speed and memory by training size, against a Mahalanobis fit of the same windows (issue 24).

Every figure comes from a fresh Python process per size and method (python -m tdbench.build_speed --child), so
the peak memory of one does not hide in another's: the median wall time of ``repeats`` builds (time.perf_counter),
then one more build under tracemalloc (the numpy and Python allocations it made at their peak) and the growth
of the process's peak resident size (VmHWM; ru_maxrss would carry the parent's peak across exec) over the size
it had before the first build. The median CPU time of the builds (time.process_time) is printed too: on a
machine shared with other jobs the wall time grows with their load, the CPU time much less.

--stages: where the time goes, per size: one more build under cProfile with a CPU-time clock, the cumulative CPU
seconds of each stage of build_profile (stages nest: the chart's calibration holds most of the tail refits).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import features, window_features

BUILD_SIZES = (10_000, 100_000, 1_000_000)   # frames of 6 channels
BUILD_WINDOW = 10
BUILD_RATE = 0.01
TARGET_BUILD_SECONDS = 0.2                   # issue 24: build_profile <= 0.2 s for 10k frames
METHODS = ("tinydrift", "mahalanobis")


@dataclass
class BuildFigure:
    frames: int
    method: str
    seconds: float      # median of the repeats, in-process (imports done)
    peak_mib: float     # tracemalloc peak of one build
    rss_mib: float      # growth of the peak resident size over the process's before the first build
    repeats: int
    cpu_seconds: float = 0.0  # median CPU time of the repeats (time.process_time: every thread of the process)


@dataclass
class BuildSpeed:
    figures: list[BuildFigure] = field(default_factory=list)
    cold_seconds: float = 0.0        # fresh process: interpreter start, import tinydrift, build 10k frames
    cold_import_seconds: float = 0.0  # fresh process: interpreter start and import tinydrift only
    window: int = BUILD_WINDOW
    rate: float = BUILD_RATE

    def get(self, frames: int, method: str) -> BuildFigure:
        return next(f for f in self.figures if f.frames == frames and f.method == method)


def gaussian_frames(n_frames: int, seed: int = 0) -> np.ndarray:
    """i.i.d. Gaussian int16 frames, 6 channels (sd 1000 LSB)."""
    return np.random.default_rng(seed).normal(0, 1000, size=(n_frames, 6)).astype(np.int16)


def mahalanobis_fit(frames: np.ndarray, window: int, rate: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The baseline: per-window channel means and stds, their mean and inverse covariance, and the d^2 quantile
    at 1 - rate as threshold (the Mahalanobis peer's recipe in detectors.build_reference)."""
    means, stds = window_features(frames, window)
    f = features(means, stds)
    mu = f.mean(axis=0)
    cov = np.cov(f, rowvar=False)
    cov_inv = np.linalg.inv(cov + np.eye(f.shape[1]) * 1e-6 * np.trace(cov) / f.shape[1])
    d = f - mu
    d2 = np.einsum("ij,jk,ik->i", d, cov_inv, d)
    return mu, cov_inv, float(np.quantile(d2, 1.0 - rate))


def _builder(method: str, frames: np.ndarray) -> Callable[[], object]:
    if method == "mahalanobis":
        return lambda: mahalanobis_fit(frames, BUILD_WINDOW, BUILD_RATE)
    import tinydrift

    return lambda: tinydrift.build_profile(frames, window=BUILD_WINDOW, false_alarm_rate=BUILD_RATE, progress=None)


def peak_rss() -> int:
    """This process's peak resident size in bytes (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(n_frames: int, method: str, repeats: int) -> dict[str, float]:
    """One size and method in this process: median seconds (wall and CPU), tracemalloc peak, ru_maxrss growth
    (bytes)."""
    frames = gaussian_frames(n_frames)
    build = _builder(method, frames)
    before = peak_rss()
    times, cpu = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small sets warn that the tail is fitted: expected here
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            build()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        tracemalloc.start()
        build()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    grown = peak_rss() - before
    return {"seconds": statistics.median(times), "cpu": statistics.median(cpu), "peak": peak, "rss": max(grown, 0)}


# Stages of build_profile and the function whose cumulative time is each (module, function name).
STAGES = (
    ("build_profile", "tinydrift.build.builder", "build_profile"),
    ("window statistics (provisional C pass)", "tinydrift.build.builder", "_reference"),
    ("reference models (11: 10 folds + final)", "tinydrift.build.builder", "_fit_model"),
    ("  k-means", "tinydrift.build.embedding_fit", "kmeans"),
    ("  cluster scales", "tinydrift.build.scales", "centroid_scales"),
    ("C monitor passes (all)", "tinydrift.build.builder", "_run"),
    ("thresholds (_finish)", "tinydrift.build.builder", "_finish"),
    ("  feature chart calibration", "tinydrift.build.builder", "_calibrate_chart"),
    ("  score calibration", "tinydrift.build.calibrate", "calibrate"),
    ("  occupancy calibration", "tinydrift.build.occupancy", "calibrate"),
    ("  rate intervals", "tinydrift.build.calibrate", "rate_interval"),
    ("  feature chart threshold search", "tinydrift.build.calibrate", "chart_threshold"),
    ("predictive tails (200 refits each)", "tinydrift.build.tail", "predictive_tail"),
    ("  bootstrap tops (drawn and counted in C)", "tinydrift.build.tail_batch", "resample_tops"),
    ("  GPD grid fits (numpy log1p)", "tinydrift.build.tail_batch", "gpd_shapes"),
)


def stages(n_frames: int) -> dict[str, float]:
    """CPU seconds of each of STAGES in one build of n_frames (cProfile, process_time clock; after one warm-up)."""
    import cProfile
    import importlib
    import pstats

    import tinydrift

    frames = gaussian_frames(n_frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tinydrift.build_profile(gaussian_frames(10_000), window=BUILD_WINDOW, false_alarm_rate=BUILD_RATE, progress=None)
        prof = cProfile.Profile(time.process_time)
        prof.runcall(tinydrift.build_profile, frames, window=BUILD_WINDOW, false_alarm_rate=BUILD_RATE, progress=None)
    table = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for label, module, name in STAGES:
        code = getattr(getattr(importlib.import_module(module), name, None), "__code__", None)
        if code is None:
            continue
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        out[label] = table[key][3] if key in table else 0.0  # cumulative time
    return out


def _env() -> dict[str, str]:
    bench = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [bench, os.environ.get("PYTHONPATH")]))}


def _run_child(n_frames: int, method: str, repeats: int) -> BuildFigure:
    out = subprocess.run([sys.executable, "-m", "tdbench.build_speed", "--child", str(n_frames), method,
                          str(repeats)], capture_output=True, text=True, env=_env())
    if out.returncode != 0:
        raise RuntimeError(f"build_speed child {n_frames} {method} failed: {out.stderr.strip().splitlines()[-1:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return BuildFigure(n_frames, method, r["seconds"], r["peak"] / 2**20, r["rss"] / 2**20, repeats, r["cpu"])


def _cold(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=_env())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_build_speed(sizes: Sequence[int] = BUILD_SIZES, repeats: int = 5,
                    say: Callable[[str], None] = print) -> BuildSpeed:
    """Every size with both methods (fewer repeats as sizes grow), then the fresh-process times."""
    result = BuildSpeed()
    for n in sizes:
        reps = max(1, repeats if n <= 10_000 else repeats // 2 if n <= 100_000 else 1)
        for method in METHODS:
            fig = _run_child(n, method, reps)
            result.figures.append(fig)
            say(f"  build {n:>9,} frames  {method:<11} {fig.seconds:8.3f} s (CPU {fig.cpu_seconds:.3f} s)  "
                f"peak {fig.peak_mib:7.1f} MiB "
                f"(tracemalloc), RSS +{fig.rss_mib:.1f} MiB" +
                (f"  target <= {TARGET_BUILD_SECONDS} s" if method == "tinydrift" and n == 10_000 else ""))
    build_10k = ("import warnings; warnings.simplefilter('ignore'); import tinydrift; "
                 "from tdbench.build_speed import gaussian_frames; "
                 f"tinydrift.build_profile(gaussian_frames(10_000), window={BUILD_WINDOW}, "
                 f"false_alarm_rate={BUILD_RATE}, progress=None)")
    result.cold_seconds = _cold(build_10k, repeats)
    result.cold_import_seconds = _cold("import tinydrift", repeats)
    say(f"  fresh process, import tinydrift: {result.cold_import_seconds:.3f} s; with a 10k-frame build: "
        f"{result.cold_seconds:.3f} s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tdbench.build_speed", description=__doc__)
    ap.add_argument("--child", nargs=3, metavar=("FRAMES", "METHOD", "REPEATS"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default=",".join(str(s) for s in BUILD_SIZES), help="frames per size, comma-separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stages", action="store_true", help="where the time goes: CPU seconds per stage, per size")
    ap.add_argument("--stages-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stages_child:
        print(json.dumps(stages(args.stages_child)))
        return 0
    if args.child:
        n, method, reps = args.child
        if method not in METHODS:
            print(f"build_speed: unknown method {method!r}", file=sys.stderr)
            return 2
        print(json.dumps(child(int(n), method, int(reps))))
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        print(f"build_speed: --sizes takes comma-separated frame counts, got {args.sizes!r}", file=sys.stderr)
        return 2
    if args.stages:
        for n in sizes:
            out = subprocess.run([sys.executable, "-m", "tdbench.build_speed", "--stages-child", str(n)],
                                 capture_output=True, text=True, env=_env())
            if out.returncode != 0:
                print(f"build_speed: stages of {n} frames failed: {out.stderr.strip().splitlines()[-1:]}",
                      file=sys.stderr)
                return 1
            table = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  {n:,} frames, CPU seconds under cProfile (stages nest):")
            for label, secs in table.items():
                print(f"    {label:<42} {secs:8.3f}  {100 * secs / max(table['build_profile'], 1e-12):5.1f} %")
        return 0
    run_build_speed(sizes, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
