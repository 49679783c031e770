"""Calibration benchmark: does a profile's false-alarm rate hold on real data nobody here tuned to?

For each data set (bench/calibration/datasets.py), training size (about 30, 100, 300, 1,000 and 3,000 windows
where the training pool has them) and target rate (1e-2, 1e-3):

- training draws: about 20 pieces of random recordings of the training pool, exactly the size in all (seeded);
  ``build_profile(train, window, false_alarm_rate, sentinel=-32768, rails=(-32767, 32767))``, defaults otherwise;
- control: the test pool's recordings (never seen by the build) concatenated in seeded random orders, pushed
  window by window through ``Monitor.push`` with ``reset_alarm`` after every alarm (tinydrift.control); the
  achieved/target ratio with a 95 % Clopper-Pearson interval over all draws;
- drift kinds caught (first draw): gain x2, offset 1 sd, stuck, dropout (10 % sentinel), noise 0.5 sd on a random
  channel from window 100 of a 200-window test stream; new class (a profile built without one class, then that
  class) and prior shift (then one class only) where the data have classes. Caught: an alarm within 100 windows
  of the change.

Writes docs/benchmarks-calibration.md. ``--quick``: fewer sizes, draws and streams (a smoke run).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as D  # noqa: E402

import tinydrift  # noqa: E402
from tinydrift.build.builder import CalibrationWarning, RecordingDisagreementWarning  # noqa: E402
from tinydrift.build.control import ControlCount, count_control_alarms  # noqa: E402
from tinydrift.core.errors import InputError  # noqa: E402

SIZES = (30, 100, 300, 1000, 3000)
RATES = (1e-2, 1e-3)
SENTINEL = -32768
RAILS = (-32767, 32767)
KINDS = ("gain x2", "offset 1 sd", "stuck", "dropout", "noise 0.5 sd", "new class", "prior shift")
CHANGE_AT = 100
STREAM_WINDOWS = 200


@dataclass
class Cell:
    """One data set x training size x rate."""

    dataset: str
    size: int
    rate: float
    control: ControlCount = field(default_factory=ControlCount)
    builds: int = 0
    refused: str = ""
    methods: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)  # "rank" (too few windows), "recordings" (they disagree)
    caught: dict[str, tuple[int, int]] = field(default_factory=dict)
    distinct_windows: int = 0
    seconds: float = 0.0

    def ratio(self) -> tuple[float, float, float]:
        """Achieved/target ratio and its 95 % Clopper-Pearson interval."""
        n, k = self.control.windows, self.control.alarms
        lo, hi = clopper_pearson(k, n)
        return k / n / self.rate, lo / self.rate, hi / self.rate

    def verdict(self) -> str:
        """Whether the cell meets the issue's criterion: ratio within 0.5-2, or the builder refused or warned."""
        if self.refused:
            return "refused"
        r, _, _ = self.ratio()
        if 0.5 <= r <= 2.0:
            return "yes"
        return "warned" if self.warnings else "NO"


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials (via the beta quantiles of scipy)."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def draw_training(ds: D.Dataset, size: int, rng: np.random.Generator, exclude: int | None = None) -> list[np.ndarray]:
    """Pieces of the training pool's recordings, exactly size windows in all: about 20 pieces of size // 20
    windows (at least 1; a recording shorter than that is one piece of its whole length, as is the rest at a
    recording's end) from random places of random recordings, so a small training set still samples the whole pool
    (as a user records a bit of each condition), not one or two recordings of it. The pieces of one source recording
    form one training recording. ValueError when the pool (without class exclude) holds fewer than size windows."""
    piece = max(1, size // 20)
    candidates = [(i, start, min(piece, n - start)) for i, rec in enumerate(ds.train)
                  if exclude is None or ds.train_labels[i] != exclude
                  for n in (len(rec) // ds.window,) for start in range(0, n, piece)]
    if sum(c[2] for c in candidates) < size:
        raise ValueError(f"{ds.name}: the training pool holds fewer than {size} windows")
    order = rng.permutation(len(candidates))
    chosen: dict[int, list[tuple[int, int]]] = {}
    need = size
    for j in order:
        i, start, length = candidates[j]
        n = min(length, need)
        chosen.setdefault(i, []).append((start, n))
        need -= n
        if need == 0:
            break
    # One training recording per source recording (its pieces in time order): the builder's folds are then by
    # source recording, as a user's recordings are one per session.
    return [np.concatenate([ds.train[i][s * ds.window:(s + n) * ds.window] for s, n in sorted(parts)])
            for i, parts in sorted(chosen.items())]


def stream_of(ds: D.Dataset, idx: list[int], windows: int | None = None) -> np.ndarray:
    """Test recordings idx (whole windows each) concatenated, cut to windows windows if given."""
    parts = [ds.test[i][: len(ds.test[i]) // ds.window * ds.window] for i in idx]
    frames = np.concatenate(parts) if parts else np.zeros((0, ds.test[0].shape[1]), np.int16)
    return frames if windows is None else frames[: windows * ds.window]


def control_stream(ds: D.Dataset, rng: np.random.Generator, min_windows: int) -> np.ndarray:
    """Shuffled passes over the test pool until min_windows windows."""
    parts = []
    total = 0
    while total < min_windows:
        s = stream_of(ds, list(rng.permutation(len(ds.test))))
        parts.append(s)
        total += len(s) // ds.window
    return np.concatenate(parts)


def build(ds: D.Dataset, train: list[np.ndarray], rate: float, seed: int) -> tuple[tinydrift.Profile, set[str]]:
    """A profile with the defaults (the bench's sentinel and rails), and the builder's calibration warnings: "rank"
    (the windows do not resolve the rate by rank), "recordings" (the training recordings disagree)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        prof = tinydrift.build_profile(train, window=ds.window, false_alarm_rate=rate, sentinel=SENTINEL, rails=RAILS,
                                       seed=seed)
    return prof, {"recordings" if issubclass(w.category, RecordingDisagreementWarning) else "rank"
                  for w in caught if issubclass(w.category, CalibrationWarning)}


def first_alarm_after(prof: tinydrift.Profile, frames: np.ndarray, change: int) -> bool:
    """An alarm within STREAM_WINDOWS - change windows of the change (alarms acknowledged as they come)."""
    mon = tinydrift.Monitor(prof)
    w = prof.window
    for i in range(len(frames) // w):
        row = mon.push(frames[i * w:(i + 1) * w])[0]
        if row["alarm"]:
            if i >= change:
                return True
            mon.reset_alarm()
    return False


def drifted(kind: str, frames: np.ndarray, start: int, ch: int, sd: float, rng: np.random.Generator) -> np.ndarray:
    """frames with the drift kind applied to channel ch from frame start on."""
    x = frames.astype(np.int64).copy()
    seg = x[start:, ch]
    if kind == "gain x2":
        seg *= 2
    elif kind == "offset 1 sd":
        seg += int(round(sd))
    elif kind == "stuck":
        seg[:] = seg[0]
    elif kind == "dropout":
        seg[rng.random(len(seg)) < 0.1] = SENTINEL
    elif kind == "noise 0.5 sd":
        seg += np.round(rng.normal(0, 0.5 * sd, len(seg))).astype(np.int64)
    x[start:, ch] = seg
    out = np.clip(x, -32768, 32767)
    if kind != "dropout":
        out[start:, ch] = np.clip(out[start:, ch], RAILS[0], RAILS[1])
    return out.astype(np.int16)


def drift_checks(ds: D.Dataset, cell: Cell, prof: tinydrift.Profile, train: list[np.ndarray], streams: int,
                 seed: int) -> None:
    """Fill cell.caught: per drift kind, streams caught / streams."""
    rng = np.random.default_rng(seed)
    sd = np.concatenate(train).astype(np.float64).std(axis=0)
    w = ds.window
    for kind in KINDS[:5]:
        hits = 0
        for _ in range(streams):
            frames = control_stream(ds, rng, STREAM_WINDOWS)[: STREAM_WINDOWS * w]
            ch = int(rng.integers(ds.test[0].shape[1]))
            hits += first_alarm_after(prof, drifted(kind, frames, CHANGE_AT * w, ch, float(sd[ch]), rng), CHANGE_AT)
        cell.caught[kind] = (hits, streams)
    if ds.n_classes < 2:
        return
    new_hits = prior_hits = tries = 0
    for s in range(streams):
        cls = int(rng.integers(ds.n_classes))
        of_class = [i for i, c in enumerate(ds.test_labels) if c == cls]
        others = [i for i, c in enumerate(ds.test_labels) if c != cls]
        if not of_class or not others:
            continue
        tries += 1
        before = stream_of(ds, list(rng.permutation(len(ds.test))), CHANGE_AT)
        after_idx = list(rng.choice(of_class, size=max(1, STREAM_WINDOWS), replace=True))
        after = stream_of(ds, after_idx, STREAM_WINDOWS - CHANGE_AT)
        prior_hits += first_alarm_after(prof, np.concatenate([before, after]), CHANGE_AT)
        try:
            without = draw_training(ds, cell.size, np.random.default_rng(seed + 100 + s), exclude=cls)
        except ValueError:  # the pool without this class is smaller than the cell's size
            continue
        try:
            prof_wo, _ = build(ds, without, cell.rate, seed)
        except InputError:
            continue
        before_wo = stream_of(ds, [i for i in rng.permutation(len(ds.test)) if ds.test_labels[i] != cls], CHANGE_AT)
        new_hits += first_alarm_after(prof_wo, np.concatenate([before_wo, after]), CHANGE_AT)
    cell.caught["prior shift"] = (prior_hits, tries)
    cell.caught["new class"] = (new_hits, tries)


def run_cell(ds: D.Dataset, size: int, rate: float, draws: int, control_windows: int, streams: int) -> Cell:
    """Build draws profiles of this size and rate, count control alarms, check drift detection on the first."""
    cell = Cell(ds.name, size, rate)
    t0 = time.time()
    for d in range(draws):
        rng = np.random.default_rng([size, d])  # the same training draws for both rates
        train = draw_training(ds, size, rng)
        try:
            prof, warned = build(ds, train, rate, seed=d)
        except InputError as exc:
            cell.refused = str(exc).split(";")[0]
            return cell
        cell.builds += 1
        cell.warnings |= warned
        if prof.calibration is not None:
            cell.methods.add(prof.calibration.method)
        frames = control_stream(ds, rng, control_windows)
        cell.control.add(count_control_alarms(prof, frames))
        if d == 0 and streams:
            drift_checks(ds, cell, prof, train, streams, seed=size)
    cell.distinct_windows = ds.windows("test")
    cell.seconds = time.time() - t0
    return cell


def fmt_ratio(cell: Cell) -> str:
    if cell.refused:
        return f"refused: {cell.refused}"
    r, lo, hi = cell.ratio()
    return f"{r:.2f} [{lo:.2f}, {hi:.2f}] ({cell.control.alarms}/{cell.control.windows:,})"


def fmt_caught(cell: Cell) -> str:
    if cell.refused or not cell.caught:
        return "-"
    return ", ".join(f"{k} {h}/{n}" for k, (h, n) in cell.caught.items() if n)


def fmt_triggers(cell: Cell) -> str:
    """Control alarms each trigger took part in (an alarm of two triggers counts for both)."""
    return ", ".join(f"{k} {n}" for k, n in sorted(cell.control.by_trigger.items())) or "-"


def table(cells: list[Cell]) -> list[str]:
    lines = ["| windows | target | achieved/target [95 % CI] (alarms/windows) | within 0.5-2 | instant threshold "
             "(warnings) | control alarms by trigger | drift kinds caught (streams) |", "|---:|---:|---|---|---|---|---|"]
    for c in cells:
        method = "/".join(sorted(c.methods)) + (f" ({', '.join(sorted(c.warnings))})" if c.warnings else "") \
            if c.methods else "-"
        lines.append(f"| {c.size:,} | {c.rate:g} | {fmt_ratio(c)} | {c.verdict()} | {method} | {fmt_triggers(c)} | "
                     f"{fmt_caught(c)} |")
    return lines


def report(results: dict[str, list[Cell]], data: dict[str, D.Dataset], args: argparse.Namespace,
           seconds: float) -> str:
    np_version = np.__version__
    out = ["# Calibration benchmark", "",
           "Generated by `make bench` (`bench/calibration/run.py`); do not edit by hand: re-run it.", "",
           f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
           f"Python {platform.python_version()}, numpy {np_version}; {seconds / 60:.1f} min on this machine",
           f"- command: `{' '.join(['python', 'bench/calibration/run.py', *sys.argv[1:]])}`", "",
           "Question: built with the defaults (`build_profile(train, window, false_alarm_rate)`, plus the bench's "
           "sentinel and rails), do profiles raise the false alarms they were calibrated for on recordings the build "
           "never saw? Each cell: training draws of exactly that many windows (about 20 pieces from random places of "
           f"the training pool's recordings, seeded; {args.draws} draws, fewer above 1,000 windows), control streams of the test pool "
           "(recordings the build never saw, in random orders) pushed window by window with the alarm acknowledged "
           "after each, as a user would. Achieved/target is alarms per window over the target rate, every alarm of "
           "any trigger counted; the interval is Clopper-Pearson on the alarm count (it treats windows as "
           "independent; the streams reuse the test pool's distinct windows, whose count each section gives). "
           "Drift kinds: first draw only, on 200-window test streams with the change at window 100; caught = an "
           "alarm within 100 windows of the change.", "",
           "The cells meet the criterion when the ratio is within 0.5-2, or the builder refused or warned. It warns "
           "(\"rank\") when the training windows cannot resolve the target rate by rank, (n + 1) x rate < 5: below 499 "
           "windows at 1e-2 and 4,999 at 1e-3; the thresholds then rest on the predictive tail, which is set so that the "
           "expected rate is the target, not on the warning. It warns (\"recordings\") when the training recordings "
           "disagree: their out-of-fold scores have a level per recording (half-swap permutation test p < 0.01 and a "
           "design effect of 2 or more, `tinydrift.build.disagreement`), so the rate holds on average over recordings "
           "like them but a new recording's can lie well above or below it. Control alarms by trigger: the alarms each "
           "trigger took part in, against the budget shares (feature chart 10 %, the rest to the score's instant "
           "threshold and CUSUM, split evenly with the occupancy test where it is on).", ""]
    tuned = [n for n, d in data.items() if not d.set_aside and not d.reference]
    aside = [n for n, d in data.items() if d.set_aside]
    reference = [n for n, d in data.items() if d.reference]
    summary = []
    for group, names in (("tuned-on", tuned), ("set-aside", aside), ("reference (synthetic)", reference)):
        if not names:
            summary.append(f"- {group} data sets: none in this run (--datasets)")
            continue
        cells = [c for n in names for c in results.get(n, []) if not c.refused]
        inside = sum(1 for c in cells if 0.5 <= c.ratio()[0] <= 2.0)
        ok = sum(1 for c in cells if c.verdict() != "NO")
        by = {kind: sum(1 for c in cells if c.verdict() == "warned" and kind in c.warnings)
              for kind in ("rank", "recordings")}
        summary.append(f"- {group} data sets ({', '.join(names)}): {inside} of {len(cells)} cells within 0.5-2; "
                       f"{ok} of {len(cells)} meet the criterion (within, or warned); of the cells outside 0.5-2, "
                       f"{by['rank']} carry the rank warning and {by['recordings']} the recordings warning")
    out += ["## Summary", "", *summary, ""]
    for group, names in (("Data sets", tuned), ("Set-aside data set (never tuned on; reported separately)", aside),
                         ("Reference: synthetic recordings that meet the assumption (reported apart)", reference)):
        if not names:
            continue
        out += [f"## {group}", ""]
        for n in names:
            ds = data[n]
            out += [f"### {n}", "", f"- what: {ds.what}; window {ds.window} samples; {ds.n_classes} class(es)",
                    f"- source: {ds.source}", f"- licence: {ds.licence}",
                    f"- training pool {len(ds.train)} recordings ({ds.windows('train'):,} windows); test pool "
                    f"{len(ds.test)} recordings ({ds.windows('test'):,} distinct windows)", "",
                    *table(results.get(n, [])), ""]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes 100 and 1,000, one draw, 2 drift streams")
    ap.add_argument("--draws", type=int, default=3, help="training draws per cell up to 1,000 windows (default 3)")
    ap.add_argument("--streams", type=int, default=3, help="drift streams per kind (default 3)")
    ap.add_argument("--datasets", default=",".join(D.LOADERS), help="comma-separated names")
    ap.add_argument("--sizes", default=None, help="comma-separated training sizes (default: all)")
    ap.add_argument("--out", default=str(D.ROOT / "docs" / "benchmarks-calibration.md"))
    ap.add_argument("--jobs", type=int, default=1, help="cells run in parallel processes (default 1)")
    args = ap.parse_args(argv)
    sizes = (100, 1000) if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(x) for x in args.sizes.split(","))
    if args.quick:
        args.draws, args.streams = 1, 2
    t0 = time.time()
    data = {n: D.LOADERS[n]() for n in args.datasets.split(",")}
    results: dict[str, list[Cell]] = {}
    jobs = [(name, size, rate, args.draws if size <= 1000 else max(1, args.draws - 1), max(5000, math.ceil(20 / rate)))
            for name, ds in data.items() for size in sizes if size <= ds.windows("train") for rate in RATES]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_cell, data[name], size, rate, draws, control, args.streams)
                   for name, size, rate, draws, control in jobs]
        for (name, size, rate, _, _), future in zip(jobs, futures):
            cell = future.result()
            results.setdefault(name, []).append(cell)
            print(f"{name} {size} {rate:g}: {fmt_ratio(cell)} {cell.verdict()} {cell.control.by_trigger} "
                  f"{sorted(cell.methods)} {sorted(cell.warnings)} | {fmt_caught(cell)} ({cell.seconds:.0f} s)",
                  flush=True)
    Path(args.out).write_text(report(results, data, args, time.time() - t0), encoding="utf-8")
    print(f"wrote {args.out} ({(time.time() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
