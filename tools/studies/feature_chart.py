"""Study: a per-feature matched-filter CUSUM next to tinydrift's score CUSUM (float64 prototype, not the product).

Why: `make bench` shows tinydrift missing runs of two channel scenarios (gain x2 37/40, offset 0.25 sd 34/40): the
window score sums 12 standardized dimensions, so a shift along one feature is diluted by the other eleven's noise.
The attribution (blame_channels in csrc/src/td_monitor.c) already computes, in the nearest centroid's scale, the
matched-filter fit of a shift of each feature f: fit_f = <a_f, u>^2 / |a_f|^2, about chi-square(1) in distribution.
This study runs one one-sided CUSUM per feature on fit_f (S_f = max(0, S_f + fit_f - k2), alarm when max_f S_f > h2,
all S reset after an alarm), calibrated like the score CUSUM: on the profile's own held-out training windows,
resampled in blocks with a smoothed bootstrap, to a part of the false-alarm budget (the profile's score and
occupancy tests share the rest). It then replays the benchmark's 9 x 40 streams (seed 0) and prints, for
the current profile and for the profile + feature chart: control alarms, runs detected and median delay.

Run from the repository root: .venv/bin/python tools/studies/feature_chart.py [K2 [SHARE]]   (K2: the chart's
reference value in fit units, default 3; SHARE: its part of the false-alarm budget, default 1/3; about 20 s).
Measured 2026-11-24 (cells: runs detected / 40, median delay in windows; current -> with the chart):

    K2 3, SHARE 1/3 (h2 94.4): gain x2 37/40, 20 -> 38/40, 13.5   offset 0.25 sd 34/40, 77 -> 39/40, 48
        offset 1 sd 12 -> 7   noise 22 -> 19   unseen class 20 -> 13   prior shift 40/40, 46 -> 39/40, 47
    K2 4, SHARE 1/3 (h2 76.1): gain x2 -> 39/40, 11.5   offset 0.25 sd -> 39/40, 31.5   prior shift -> 39/40, 47
    K2 4 or 5, SHARE 0.2 or 0.1: prior shift stays 40/40; gain x2 38/40 (14.5-18.5), offset 0.25 sd 37/40 (35.5-48)
    Control alarms: 3 of 16,000 windows in every column.

So the chart shortens most delays by a third to a half at the same control alarm count, but alone it does not catch
every run. The runs it still misses are gain x2 on gyr_y (reps 16 and 28) and small offsets on acc_x and acc_z. The
Mahalanobis peer catches every gain x2 run: it sees the correlation between the channels' spreads that a gain breaks,
which the mixture's diagonal per-centroid scales do not. A K2 below some features' mean fit (1.76, 4x the median)
makes the chart drift upwards on in-distribution data, and its calibrated h2 (694) never fires. On the device the
chart needs every window's fits: about 1,300 Cortex-M4 instructions at blame_channels' current code, unless the roots
|a_f| are cached per centroid or stored in the profile.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "host"))

import bench as B  # noqa: E402
import tinydrift  # noqa: E402
from tinydrift.build import CALIBRATION_EXPECTED_ALARMS, DEFAULT_HOLDOUT, _split  # noqa: E402
from tinydrift.calibrate import BLOCK_WINDOWS  # noqa: E402


def monitor_rows(profile, frames: np.ndarray) -> list:
    mon = tinydrift.Monitor(profile)
    rows = []
    for i in range(len(frames) // B.WINDOW):
        row = mon.push(frames[i * B.WINDOW:(i + 1) * B.WINDOW])[0]
        rows.append(row)
        if row["trigger"]:
            mon.reset_alarm()
    return rows


def fits(profile, rows) -> np.ndarray:
    """(windows, features) matched-filter fits in the nearest centroid's scale, float64 (blame_channels' fit_f)."""
    P = profile.projection.astype(np.float64)
    C = profile.centroids_q8 / 256.0
    INV = profile.centroid_inv_scale_q16 / 65536.0
    out = np.empty((len(rows), P.shape[1]))
    for i, r in enumerate(rows):
        k = int(r["nearest"])
        u = (np.asarray(r["embedding"], float)[: P.shape[0]] - C[k]) * INV[k]
        A = P * INV[k][:, None]
        out[i] = (A.T @ u) ** 2 / (A * A).sum(axis=0)
    return out


def chart(F: np.ndarray, k: float, h: float) -> np.ndarray:
    S = np.zeros(F.shape[1])
    alarm = np.zeros(len(F), bool)
    for i, f in enumerate(F):
        S = np.maximum(0.0, S + f - k)
        if S.max() > h:
            alarm[i] = True
            S[:] = 0.0
    return alarm


def resample(F: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of consecutive held-out windows, each fit jittered log-normally (as calibrate.resample)."""
    block = min(BLOCK_WINDOWS, len(F))
    starts = rng.integers(0, len(F) - block + 1, size=-(-n // block))
    idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
    logs = np.log1p(F)
    bw = 1.06 * logs.std(axis=0) * len(F) ** -0.2
    return np.expm1(logs[idx] + rng.normal(0.0, 1.0, size=(n, F.shape[1])) * bw)


def calibrate_h(F_hold: np.ndarray, k: float, rate: float, seed: int = 0) -> float:
    n = int(math.ceil(CALIBRATION_EXPECTED_ALARMS / rate))
    stream = resample(F_hold, n, np.random.default_rng(seed))
    budget = int(math.floor(rate * n))
    lo, hi = 0.0, 1000.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if chart(stream, k, mid).sum() <= budget:
            hi = mid
        else:
            lo = mid
    return hi


def main() -> int:
    ds = B.load_dataset()
    share = float(sys.argv[2]) if len(sys.argv) > 2 else 1 / 3
    train = [c[0] for c in ds.cases(0)]
    sd = np.concatenate(train).astype(np.float64).std(axis=0)
    kw = dict(window=B.WINDOW, sentinel=B.SENTINEL, rails=B.RAILS, channel_names=ds.names,
              occupancy_windows=B.OCCUPANCY_WINDOWS)
    current = tinydrift.build_profile(train, false_alarm_rate=B.RATE, **kw)
    # The feature chart takes SHARE of the budget; build_profile splits the rest between the score and occupancy tests.
    shared = tinydrift.build_profile(train, false_alarm_rate=B.RATE * (1 - share), **kw)
    hold = _split(train, B.WINDOW, DEFAULT_HOLDOUT).holdout
    F_hold = np.concatenate([fits(shared, monitor_rows(shared, r)) for r in hold])
    k2 = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0  # about the fit of a 1.7 sd shift per window
    h2 = calibrate_h(F_hold, k2, B.RATE * share)
    print(f"held-out windows {len(F_hold)}; feature chart k2 {k2:.2f}, h2 {h2:.1f}")
    print(f"{'scenario':16s} {'current':>16s} {'+ feature chart':>22s}")
    for sc in B.SCENARIOS:
        cur_det, new_det, cur_d, new_d, cur_fa, new_fa = 0, 0, [], [], 0, 0
        for rep in range(40):
            s = B.make_stream(ds, sc, rep, 0, sd)
            ref = current if s.reference == "all" else None
            if ref is None:  # unseen class: profiles without the left-out class
                cls = int(s.reference.split(":")[1])
                sub = [c[0] for c in ds.cases(0) if c[1] != cls]
                ref = tinydrift.build_profile(sub, false_alarm_rate=B.RATE, **kw)
                sh = tinydrift.build_profile(sub, false_alarm_rate=B.RATE * (1 - share), **kw)
            else:
                sh = shared
            a_cur = np.array([bool(r["trigger"]) for r in monitor_rows(ref, s.frames)])
            rows = monitor_rows(sh, s.frames)
            a_new = np.array([bool(r["trigger"]) for r in rows]) | chart(fits(sh, rows), k2, h2)
            change = s.change if s.change is not None else len(a_cur)
            cur_fa += int(a_cur[:change].sum())
            new_fa += int(a_new[:change].sum())
            if s.change is not None:
                for a, dl in ((a_cur, cur_d), (a_new, new_d)):
                    hit = np.flatnonzero(a[s.change:])
                    dl.append(int(hit[0]) if len(hit) else None)
        def cell(d):
            got = [x for x in d if x is not None]
            if not d:
                return "-"
            med = float(np.median([x if x is not None else 10**9 for x in d]))
            return f"{len(got)}/{len(d)}, {med:g}" if len(got) * 2 > len(d) else f"{len(got)}/{len(d)}, -"
        print(f"{B.SHORT[sc.key]:16s} FA {cur_fa:3d} {cell(cur_d):>10s}   FA {new_fa:3d} {cell(new_d):>12s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
