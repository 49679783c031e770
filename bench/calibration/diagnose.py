"""Where a calibration-bench cell's control false alarms come from, and why its ratio is off the target.

For each cell given as DATASET:SIZE:RATE[:DRAW] (the bench's first training draw by default), builds the profile as
the bench does and prints:

- control alarms per window over the target, in all and by trigger, against each trigger's budget share;
- the score's detector alone (instant threshold and CUSUM, td_detector_count_alarms) on the control stream and, once
  through, on the out-of-fold scores it was calibrated on;
- score quantiles: the final model on its own training windows (in-sample), the fold models on the windows they
  held out (out-of-fold, what calibration sees), the fold models on the control stream, the final model on the
  control stream (what the device sees). Out-of-fold above "fold models on control" means the held-out training
  recordings are harder than the control's for the same models (the pools differ, or recordings disagree); "fold
  models" above "final model" on the control stream is the final model's gain from the extra (K-1)/K -> 1 data;
- the between-recording test of the out-of-fold scores (tinydrift.build.disagreement).

It records the builder's fold models and out-of-fold rows by wrapping two of its private functions for the one build.

    python bench/calibration/diagnose.py heartpy-PPG:1000:0.01 BasicMotions:300:0.01
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as D  # noqa: E402
import run as R  # noqa: E402

import tinydrift  # noqa: E402
from tinydrift.build import builder as B  # noqa: E402
from tinydrift.build import crossfit  # noqa: E402
from tinydrift.build.calibrate import count_alarms, count_chart_alarms  # noqa: E402
from tinydrift.build.disagreement import recording_disagreement  # noqa: E402

QUANTILES = (0.5, 0.9, 0.99, 0.999)


def recorded_build(train: list[np.ndarray], window: int, rate: float, seed: int) -> tuple[tinydrift.Profile, dict]:
    """build_profile as the bench calls it, plus its fold models, out-of-fold rows and windows per recording."""
    seen: dict = {"models": []}
    fit_model, finish, make_folds = B._fit_model, B._finish, crossfit.make_folds

    def fit_spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = fit_model(*args, **kwargs)
        seen["models"].append(out[0])
        return out

    def finish_spy(staged, ref, centroids, score_holdout, **kwargs):  # noqa: ANN001, ANN003, ANN202
        def scored(prof):  # noqa: ANN001, ANN202
            seen["oof"] = score_holdout(prof)
            return seen["oof"]
        return finish(staged, ref, centroids, scored, **kwargs)

    def folds_spy(counts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen["counts"] = list(counts)
        return make_folds(counts, *args, **kwargs)

    B._fit_model, B._finish, crossfit.make_folds = fit_spy, finish_spy, folds_spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof = tinydrift.build_profile(train, window=window, false_alarm_rate=rate, sentinel=R.SENTINEL,
                                           rails=R.RAILS, seed=seed)
    finally:
        B._fit_model, B._finish, crossfit.make_folds = fit_model, finish, make_folds
    return prof, seen


def q8(rows: np.ndarray) -> np.ndarray:
    return np.round(rows["score"] * 256)


def diagnose(ds: D.Dataset, size: int, rate: float, draw: int) -> list[str]:
    """The report lines of one cell and draw."""
    rng = np.random.default_rng([size, draw])  # the bench's training draw and control stream
    train = R.draw_training(ds, size, rng)
    prof, seen = recorded_build(train, ds.window, rate, draw)
    frames = R.control_stream(ds, rng, max(5000, math.ceil(20 / rate)))
    control = R.count_control_alarms(prof, frames)
    chart = B.CHART_SHARE if prof.feature_chart else 0.0
    score_share = (1 - chart) / (2 if prof.occupancy_windows else 1)
    out = [f"{ds.name} {size} windows ({len(train)} recordings), target {rate:g}, draw {draw}: control "
           f"{control.alarms / control.windows / rate:.2f}x ({control.alarms}/{control.windows}); by trigger "
           + ", ".join(f"{k} {n / control.windows / rate:.2f}x" for k, n in sorted(control.by_trigger.items()))
           + f"; shares: score {score_share:.2f}, occupancy {score_share if prof.occupancy_windows else 0:.2f}, "
           f"chart {chart:.2f}"]
    test = tinydrift.Monitor(prof).push(frames)
    oof, t_final = q8(seen["oof"]), q8(test)
    score_test = count_alarms(prof.cusum_k_q8, prof.cusum_h_q8, prof.instant_q8, t_final.astype(np.uint32))
    score_oof = count_alarms(prof.cusum_k_q8, prof.cusum_h_q8, prof.instant_q8, oof.astype(np.uint32))
    line = (f"  score detector alone: control {score_test / len(t_final) / rate:.2f}x, out-of-fold (once through) "
            f"{score_oof / len(oof) / rate:.2f}x; instant threshold exceeded by {np.mean(t_final > prof.instant_q8):.4f}"
            f" of control, {np.mean(oof > prof.instant_q8):.4f} of out-of-fold windows")
    if prof.feature_chart:
        shifts = np.round(test["shift"] * 256).astype(np.int16)
        line += f"; chart alone on control {count_chart_alarms(prof.chart_k_q8, prof.chart_h_q8, shifts) / len(t_final) / rate:.2f}x"
    out.append(line)
    fold_models = seen["models"][:-1]  # the last is the final model
    t_fold = np.concatenate([q8(tinydrift.Monitor(m.replace(channels=prof.channels)).push(frames))
                             for m in fold_models])
    in_sample = np.concatenate([q8(tinydrift.Monitor(prof).push(r)) for r in train])
    out.append(f"  score quantiles {', '.join(f'{q:g}' for q in QUANTILES)} (Q8):")
    for label, s in (("in-sample (final model, training windows)", in_sample), ("out-of-fold (calibration)", oof),
                     ("fold models on control", t_fold), ("final model on control (device)", t_final)):
        out.append(f"    {label:44s} {'  '.join(f'{v:8.0f}' for v in np.quantile(s, QUANTILES))}")
    found = recording_disagreement(oof, seen["counts"], draw)
    out.append("  recordings: " + ("too few to test" if found is None else
                                   f"{'DISAGREE' if found.clear else 'agree'}: {found.describe()}"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", nargs="+", metavar="DATASET:SIZE:RATE[:DRAW]")
    args = ap.parse_args(argv)
    loaded: dict[str, D.Dataset] = {}
    for cell in args.cells:
        parts = cell.split(":")
        if len(parts) not in (3, 4) or parts[0] not in D.LOADERS:
            print(f"diagnose: bad cell {cell!r}: DATASET:SIZE:RATE[:DRAW], DATASET one of {', '.join(D.LOADERS)}",
                  file=sys.stderr)
            return 2
        ds = loaded.setdefault(parts[0], D.LOADERS[parts[0]]())
        print("\n".join(diagnose(ds, int(parts[1]), float(parts[2]), int(parts[3]) if len(parts) == 4 else 0)),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
