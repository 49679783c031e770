"""Study: per-feature matched-filter CUSUMs next to tinydrift's score CUSUM (float64 prototype).

The signed chart below is now in the product (the feature chart, profile flag bit 5, on by default in
build_profile; docs/profile-format.md). This study keeps measuring the prototype against profiles built without
it (feature_chart=False), so its figures below still reproduce.

Why: `make bench` shows tinydrift missing runs of two channel scenarios (gain x2 37/40, offset 0.25 sd 34/40), and
`make demo` takes 38 windows to flag a 4x gain on a gyroscope axis. The window score sums 12 standardized
dimensions, so a shift along one feature is diluted by the other eleven's noise, and the CUSUM's reference value
(the 95th percentile of held-out scores) lets a small rise accumulate only slowly.

The attribution (fitted_shifts and blame_update in csrc/src/td_monitor.c) computes, in the nearest centroid's scale, the
matched filter of a shift of each feature f: with u the window's deviation from its centroid and a_f the direction a
shift of feature f moves u in, g_f = <a_f, u> / |a_f| is the fitted shift in z units (about N(0, 1) in distribution;
blame uses its square, the fit). A persistent drift of one sensor keeps the sign of its g_f from window to window;
noise does not. This study tries, beside the profile's own tests:

  squared: one CUSUM per feature on g_f^2, reference value the held-out mean of g_f^2 + 1;
  signed:  two CUSUMs per feature on g_f and -g_f, reference value 0.5 (half a 1 sd shift, the textbook choice).

Either alarms when its largest statistic passes h (all reset after an alarm). h is calibrated like the score
CUSUM's: on the profile's own held-out training windows, resampled in blocks with a smoothed bootstrap, to SHARE of
the false-alarm budget; the profile is built for the rest (build_profile splits that between its score and
occupancy tests). The study replays `make bench`'s 9 x 40 streams (seed 0; per left-out class for the unseen-class
scenario) and prints per scenario the alarms before the change and the runs detected with their median delay.

Run from the repository root: .venv/bin/python tools/studies/feature_chart.py [SHARE]   (default 0.1; about 5
minutes, as the unseen-class scenario builds profiles per left-out class). Measured 2026-11-24, SHARE 0.1 (cells:
alarms before the change, runs detected / 40, median delay in windows):

    scenario          current            + squared chart     + signed chart
    control           3                  3                   3
    gain x2           3, 37/40, 20       2, 39/40, 17.5      2, 40/40, 11.5
    offset 1 sd       1, 40/40, 12       1, 40/40, 10        1, 40/40, 7.5
    offset 0.25 sd    3, 34/40, 77       3, 40/40, 49.5      3, 40/40, 21
    stuck, dropout    2, 40/40, 0        2, 40/40, 0         2, 40/40, 0
    noise 0.5 sd      1, 40/40, 22       1, 40/40, 21        1, 40/40, 18.5
    unseen class      31, 40/40, 20      30, 40/40, 20       30, 40/40, 20
    prior shift       8, 40/40, 46       7, 40/40, 46.5      7, 40/40, 46.5

    calibrated h: squared 151 (70-209 over the five training sets), signed 28.8 (24.7-99.2)

So the signed chart detects every run of every scenario at the control streams' alarm count of the current profile
(3 of 16,000 windows), with shorter delays in the channel scenarios (gain x2 20 -> 11.5 windows, offset 0.25 sd
77 -> 21) and the same in the others; its reference value is the textbook one,
not tuned on these streams (SHARE 0.1 was). A reference value of 0.75 or 1 shortens delays further but about
doubles the alarms before the change.

Cost of a product version: the chart needs every window's g_f, which the attribution computes only inside a CUSUM run
(about 3,900 Cortex-M4 instructions, most of it the norms |a_f|, which depend only on the centroid). With the norms
kept per centroid (RAM) or stored in the profile (a profile-format change), the per-window cost is one pass of
n_dims x n_features multiply-accumulates plus one division per feature; the statistics fit int16 Q8 (two per
feature). The held-out set is small (80 windows here), so h moves with the training set: the calibration deserves
more held-out windows or cross-validation.
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
from tinydrift.build.builder import CALIBRATION_EXPECTED_ALARMS, DEFAULT_HOLDOUT, _split  # noqa: E402
from tinydrift.build.calibrate import BLOCK_WINDOWS  # noqa: E402

SIGNED_K = 0.5  # half of a 1 sd shift
SQUARED_MARGIN = 1.0  # a 1 sd shift adds 1 to the mean of g^2


def monitor_rows(profile, frames: np.ndarray) -> list:
    mon = tinydrift.Monitor(profile)
    rows = []
    for i in range(len(frames) // B.WINDOW):
        row = mon.push(frames[i * B.WINDOW:(i + 1) * B.WINDOW])[0]
        rows.append(row)
        if row["trigger"]:
            mon.reset_alarm()
    return rows


def matched_filter(profile, rows) -> np.ndarray:
    """(windows, features) g_f = <a_f, u> / |a_f| in the nearest centroid's scale, float64."""
    P = profile.projection.astype(np.float64)
    C = profile.centroids_q8 / 256.0
    INV = profile.centroid_inv_scale_q16 / 65536.0
    out = np.empty((len(rows), P.shape[1]))
    for i, r in enumerate(rows):
        k = int(r["nearest"])
        u = (np.asarray(r["embedding"], float)[: P.shape[0]] - C[k]) * INV[k]
        A = P * INV[k][:, None]
        out[i] = (A.T @ u) / np.sqrt((A * A).sum(axis=0))
    return out


def chart(X: np.ndarray, k: float | np.ndarray, h: float) -> np.ndarray:
    """Alarm per window of one-sided CUSUMs on the columns of X, all reset after an alarm."""
    S = np.zeros(X.shape[1])
    alarm = np.zeros(len(X), bool)
    for i, x in enumerate(X):
        S = np.maximum(0.0, S + x - k)
        if S.max() > h:
            alarm[i] = True
            S[:] = 0.0
    return alarm


def resample(G: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of consecutive held-out windows, each value jittered (smoothed bootstrap, Silverman's bandwidth)."""
    block = min(BLOCK_WINDOWS, len(G))
    starts = rng.integers(0, len(G) - block + 1, size=-(-n // block))
    idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
    bw = 1.06 * G.std(axis=0) * len(G) ** -0.2
    return G[idx] + rng.normal(0.0, 1.0, size=(n, G.shape[1])) * bw


def calibrate_h(stream: np.ndarray, k: float | np.ndarray, rate: float) -> float:
    """Smallest h (bisection) whose alarms on the resampled stream fit rate."""
    budget = int(math.floor(rate * len(stream)))
    lo, hi = 0.0, 2000.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if chart(stream, k, mid).sum() <= budget:
            hi = mid
        else:
            lo = mid
    return hi


def signed_columns(G: np.ndarray) -> np.ndarray:
    return np.concatenate([G, -G], axis=1)


class Detectors:
    """The current profile and, for one training set, the profile at (1 - SHARE) with each chart at SHARE."""

    def __init__(self, train: list[np.ndarray], share: float, kw: dict) -> None:
        self.current = tinydrift.build_profile(train, false_alarm_rate=B.RATE, **kw)
        self.shared = tinydrift.build_profile(train, false_alarm_rate=B.RATE * (1 - share), **kw)
        hold = _split(train, B.WINDOW, DEFAULT_HOLDOUT).holdout
        g_hold = np.concatenate([matched_filter(self.shared, monitor_rows(self.shared, r)) for r in hold])
        rate = B.RATE * share
        n = int(math.ceil(CALIBRATION_EXPECTED_ALARMS / rate))
        stream = resample(g_hold, n, np.random.default_rng(0))
        self.k_squared = (g_hold**2).mean(axis=0) + SQUARED_MARGIN
        self.h_squared = calibrate_h(stream**2, self.k_squared, rate)
        self.h_signed = calibrate_h(signed_columns(stream), SIGNED_K, rate)

    def alarms(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per window: current profile, + squared chart, + signed chart."""
        cur = np.array([bool(r["trigger"]) for r in monitor_rows(self.current, frames)])
        rows = monitor_rows(self.shared, frames)
        base = np.array([bool(r["trigger"]) for r in rows])
        g = matched_filter(self.shared, rows)
        return (cur, base | chart(g**2, self.k_squared, self.h_squared),
                base | chart(signed_columns(g), SIGNED_K, self.h_signed))


def cell(delays: list) -> str:
    got = [x for x in delays if x is not None]
    if not delays:
        return "-"
    med = float(np.median([x if x is not None else 10**9 for x in delays]))
    return f"{len(got)}/{len(delays)}, {med:g}" if len(got) * 2 > len(delays) else f"{len(got)}/{len(delays)}, -"


def main() -> int:
    share = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    ds = B.load_dataset()
    cases = ds.cases(0)
    sd = np.concatenate([c[0] for c in cases]).astype(np.float64).std(axis=0)
    kw = dict(window=B.WINDOW, sentinel=B.SENTINEL, rails=B.RAILS, channel_names=ds.names,
              occupancy_windows=B.OCCUPANCY_WINDOWS, feature_chart=False)
    refs: dict[str, Detectors] = {}
    names = ("current", "+ squared chart", "+ signed chart")
    print(f"SHARE {share:g}; cells: alarms before the change, runs detected, median delay")
    print(f"{'scenario':16s}" + "".join(f"{n:>24s}" for n in names))
    for sc in B.SCENARIOS:
        fa = [0, 0, 0]
        delays: list[list] = [[], [], []]
        for rep in range(40):
            s = B.make_stream(ds, sc, rep, 0, sd)
            if s.reference not in refs:
                left_out = int(s.reference.split(":")[1]) if ":" in s.reference else -1
                refs[s.reference] = d = Detectors([c[0] for c in cases if c[1] != left_out], share, kw)
                print(f"  [{s.reference}: squared chart h {d.h_squared:.1f}; signed chart h {d.h_signed:.1f}]")
            for i, a in enumerate(refs[s.reference].alarms(s.frames)):
                change = s.change if s.change is not None else len(a)
                fa[i] += int(a[:change].sum())
                if s.change is not None:
                    hit = np.flatnonzero(a[s.change:])
                    delays[i].append(int(hit[0]) if len(hit) else None)
        print(f"{B.SHORT[sc.key]:16s}" + "".join(f"{f'{fa[i]:2d}  ' + cell(delays[i]):>24s}" for i in range(3)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
