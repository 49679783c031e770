"""The detection experiment: every detector on every stream, as configured and tuned; per-cell summaries."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tinydrift.build.control import ControlCount, count_control_alarms
from tinydrift.core.monitor import TRIGGER_NAMES

from .config import OCCUPANCY_WINDOWS, RATE, SENTINEL, WINDOW
from .data import Dataset
from .detectors import (Run, adwin_factory, bonferroni_z, build_reference, mahalanobis_stat, ph_factory, run_river,
                        run_threshold, run_tinydrift, zscores_of_means, ztest_stat)
from .metrics import bisect_knob, detection_delay, false_alarms, median_delay, per_1000, threshold_for_count
from .scenarios import DRIFTS, SCENARIOS, Stream, make_stream


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
    by_trigger: dict[str, int] = field(default_factory=dict)     # tinydrift's false alarms per trigger (all streams)
    swapped: ControlCount | None = None                          # control with training and held-out sets swapped


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
    by_trigger: dict[str, int] = {}
    for r, s in zip(td_runs, streams):
        end = len(r.alarm) if s.change is None else s.change
        for t in r.extra["trigger"][:end][r.alarm[:end]]:
            for bit, name in TRIGGER_NAMES:
                if int(t) & bit:
                    by_trigger[name] = by_trigger.get(name, 0) + 1
    swapped = swapped_control(ds, repeats, seed)
    say(f"  tinydrift's false alarms by trigger: {by_trigger}; with the sets swapped: {swapped.alarms} on "
        f"{swapped.windows:,} control windows ({per_1000(swapped.alarms, swapped.windows):.2f} per 1,000) "
        f"{swapped.by_trigger}")
    return Quality(settings, outcomes, streams, example, (td_fa, n_control), sd, time.perf_counter() - t0, diag,
                   by_trigger, swapped)


def swapped_control(ds: Dataset, repeats: int, seed: int) -> ControlCount:
    """Control false alarms with the roles of the two sets swapped: a profile built, as configured, on the held-out
    recordings, over the training recordings in repeats seeded orders. A second draw of the 400 distinct windows
    the control rests on, so one set's luck (an outlying recording or none) shows."""
    test = [c[0] for c in ds.cases(1)]
    profile = build_reference("swapped", test, ds.names).profile
    train = [c[0] for c in ds.cases(0)]
    out = ControlCount()
    for rep in range(repeats):
        order = np.random.default_rng([seed, 1000, rep]).permutation(len(train))
        out.add(count_control_alarms(profile, np.ascontiguousarray(np.concatenate([train[i] for i in order]))))
    return out


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



def winners(q: Quality, setting: str, scenario: str) -> tuple[list[str], dict[str, Cell]]:
    """Detectors with the lowest median delay (misses = inf) in a scenario; ties share the win."""
    cells = {d: cell(q.outcomes[(setting, d)], scenario) for d in DETECTORS}
    best = min(c.median for c in cells.values())
    if math.isinf(best):
        # Nobody detects in half the runs: most detections wins.
        most = max(c.detected for c in cells.values())
        return ([d for d, c in cells.items() if c.detected == most] if most else []), cells
    return [d for d, c in cells.items() if c.median == best], cells

