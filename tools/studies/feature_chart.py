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

A third column adds a CUSUM on the embedding's global Mahalanobis distance (the distance the Mahalanobis peer of
`make bench` uses, here on tinydrift's own features; on the device 78 multiply-accumulates with the full inverse
covariance used here, 12 if the PCA basis's diagonal one were enough), each chart at SHARE of the budget and the
profile's tests at the rest.

Run from the repository root: .venv/bin/python tools/studies/feature_chart.py [K2 [SHARE]]   (K2: the feature
chart's reference value in fit units, default 3; a negative K2 gives each feature its own, the held-out mean fit
plus |K2|; SHARE: each chart's part of the false-alarm budget, default 0.1;
about 5 minutes: the unseen-class scenario builds a profile per left-out class). Measured 2026-11-24, K2 3, SHARE 0.1
(cells: runs detected / 40, median delay in windows; control alarms on 16,000 windows: 3 in every column):

    scenario          current       + feature chart   + global chart
    gain x2           37/40, 20     38/40, 18.5       39/40, 15
    offset 1 sd       40/40, 12     40/40, 9          40/40, 8
    offset 0.25 sd    34/40, 77     38/40, 49         38/40, 49
    noise 0.5 sd      40/40, 22     40/40, 21         40/40, 21
    unseen class      40/40, 20     40/40, 21         40/40, 21
    prior shift       40/40, 46     40/40, 46.5       40/40, 46.5
    stuck, dropout    40/40, 0      unchanged         unchanged

Per-feature reference values (K2 -1: held-out mean fit + 1; SHARE 0.1), "+ feature chart" column: gain x2 39/40
(18.5), offset 0.25 sd 40/40 (49.5), offset 1 sd 40/40 (10.5), noise 40/40 (21.5), prior shift 40/40 (46.5), unseen
class 40/40 (21), control alarms 3; the global chart adds nothing but delay (gain x2 17). The best variant tried, and
still one gain x2 run short; K2 and SHARE were chosen looking at these very streams, so the figures flatter it.

Earlier runs of the feature chart alone at SHARE 1/3: K2 3 gain x2 38/40 (13.5), offset 0.25 sd 39/40 (48), but
prior shift 39/40 (the profile's own tests had less budget); K2 4 gain x2 39/40 (11.5), offset 0.25 sd 39/40 (31.5).

Reading: the charts shorten delays and catch some of the missed runs at the same control alarm count, but not every
run; the runs still missed are gain x2 on gyr_y and small offsets on acc_x/acc_z. The calibrated thresholds swing
widely between training sets (h2 from 46 to 372 over the five references) because the held-out set is 80 windows:
a product version needs a sturdier calibration (more held-out windows or cross-validation). A K2 below some
features' mean fit (1.76, 4x the median) makes the chart drift upwards on in-distribution data; its calibrated h2
(694) then never fires. On the device the feature chart needs every window's fits: about 1,300 Cortex-M4
instructions at blame_channels' current code, unless the roots |a_f| are cached per centroid or stored in the
profile.
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


def chart(F: np.ndarray, k: float | np.ndarray, h: float) -> np.ndarray:
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


def calibrate_h(F_hold: np.ndarray, k: float | np.ndarray, rate: float, seed: int = 0) -> float:
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


def embeddings(profile, rows) -> np.ndarray:
    return np.array([np.asarray(r["embedding"], float)[: profile.projection.shape[0]] for r in rows])


class Detectors:
    """For one training set: the current profile, and a profile at (1 - 2 SHARE) of the budget plus two charts at
    SHARE each: the feature chart (K2) and a CUSUM on the global Mahalanobis distance of the embedding (its mean and
    covariance from the fitting windows; reference value the 95th percentile of the held-out distances)."""

    def __init__(self, train: list[np.ndarray], k2: float, share: float, kw: dict) -> None:
        self.current = tinydrift.build_profile(train, false_alarm_rate=B.RATE, **kw)
        self.shared = tinydrift.build_profile(train, false_alarm_rate=B.RATE * (1 - 2 * share), **kw)
        split = _split(train, B.WINDOW, DEFAULT_HOLDOUT)
        hold_rows = [monitor_rows(self.shared, r) for r in split.holdout]
        f_hold = np.concatenate([fits(self.shared, r) for r in hold_rows])
        # k2 < 0 means per feature: the held-out mean fit plus |k2| (a shift of 1 sd adds 1 to a fit's mean).
        self.k2 = k2 if k2 >= 0 else f_hold.mean(axis=0) - k2
        self.h2 = calibrate_h(f_hold, self.k2, B.RATE * share)
        e_fit = np.concatenate([embeddings(self.shared, monitor_rows(self.shared, r)) for r in split.fit])
        self.mu = e_fit.mean(axis=0)
        self.cov_inv = np.linalg.inv(np.cov(e_fit, rowvar=False))
        d_hold = self.distance(np.concatenate([embeddings(self.shared, r) for r in hold_rows]))[:, None]
        self.k3 = float(np.quantile(d_hold, 0.95))
        self.h3 = calibrate_h(d_hold, self.k3, B.RATE * share)

    def distance(self, e: np.ndarray) -> np.ndarray:
        d = e - self.mu
        return np.einsum("ij,jk,ik->i", d, self.cov_inv, d)

    def alarms(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per window: current profile, + feature chart, + both charts."""
        cur = np.array([bool(r["trigger"]) for r in monitor_rows(self.current, frames)])
        rows = monitor_rows(self.shared, frames)
        base = np.array([bool(r["trigger"]) for r in rows])
        feat = base | chart(fits(self.shared, rows), self.k2, self.h2)
        both = feat | chart(self.distance(embeddings(self.shared, rows))[:, None], self.k3, self.h3)
        return cur, feat, both


def cell(delays: list) -> str:
    got = [x for x in delays if x is not None]
    if not delays:
        return "-"
    med = float(np.median([x if x is not None else 10**9 for x in delays]))
    return f"{len(got)}/{len(delays)}, {med:g}" if len(got) * 2 > len(delays) else f"{len(got)}/{len(delays)}, -"


def main() -> int:
    k2 = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0  # about the fit of a 1.7 sd shift per window
    share = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    ds = B.load_dataset()
    cases = ds.cases(0)
    sd = np.concatenate([c[0] for c in cases]).astype(np.float64).std(axis=0)
    kw = dict(window=B.WINDOW, sentinel=B.SENTINEL, rails=B.RAILS, channel_names=ds.names,
              occupancy_windows=B.OCCUPANCY_WINDOWS)
    refs: dict[str, Detectors] = {}
    names = ("current", "+ feature chart", "+ global chart")
    print(f"{'scenario':16s}" + "".join(f"{n:>24s}" for n in names))
    for sc in B.SCENARIOS:
        fa = [0, 0, 0]
        delays: list[list] = [[], [], []]
        for rep in range(40):
            s = B.make_stream(ds, sc, rep, 0, sd)
            if s.reference not in refs:
                left_out = int(s.reference.split(":")[1]) if ":" in s.reference else -1
                refs[s.reference] = Detectors([c[0] for c in cases if c[1] != left_out], k2, share, kw)
                d = refs[s.reference]
                k2_text = f"{d.k2:g}" if np.ndim(d.k2) == 0 else "mean fit + " + f"{-k2:g}"
                print(f"  [{s.reference}: feature chart k2 {k2_text} h2 {d.h2:.1f}; global chart k3 {d.k3:.1f} "
                      f"h3 {d.h3:.1f}]")
            for i, a in enumerate(refs[s.reference].alarms(s.frames)):
                change = s.change if s.change is not None else len(a)
                fa[i] += int(a[:change].sum())
                if s.change is not None:
                    hit = np.flatnonzero(a[s.change:])
                    delays[i].append(int(hit[0]) if len(hit) else None)
        print(f"{B.SHORT[sc.key]:16s}" + "".join(f"{f'FA {fa[i]:2d}  ' + cell(delays[i]):>24s}" for i in range(3)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
