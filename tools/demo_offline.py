#!/usr/bin/env python3
"""make demo: build a profile from the bundled IMU recording, score a drifted copy, report detection.

Steps (all offline, no hardware):
1. Load data/basicmotions.npz (UEA BasicMotions: a smartwatch's 3-axis accelerometer and
   gyroscope at 10 Hz while people stand, walk, run and play badminton; see data/README.md).
2. Build a reference profile from the 40 training recordings (window 10 frames = 1 s),
   calibrated to 1 false alarm per 1,000 windows.
3. Score the 40 held-out test recordings played back as one stream, first clean, then with
   two drifts injected: from 150 s the gyroscope's y axis reads 4x too high (a wrong
   full-scale setting), from 300 s the gyroscope's x axis is stuck at its last value.
4. Print when each drift began, when the monitor detected it and which channel it blamed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import tinydrift
from tinydrift.monitor import TRIGGER_CUSUM, TRIGGER_HEALTH, TRIGGER_INSTANT

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
RATE = 1e-3
SAMPLE_RATE_HZ = 10.0
GAIN_CHANNEL, GAIN, GAIN_FROM = "gyr_y", 4.0, 1500
STUCK_CHANNEL, STUCK_FROM = "gyr_x", 3000


def trigger_names(bits: int) -> str:
    names = [n for b, n in ((TRIGGER_INSTANT, "instant"), (TRIGGER_CUSUM, "cusum"), (TRIGGER_HEALTH, "health"))
             if bits & b]
    return "+".join(names) or "none"


def blamed_channels(row: np.void, names: list[str]) -> str:
    """Health events name their channels directly; otherwise the channel whose statistics moved most."""
    mask = int(row["stuck_mask"]) | int(row["saturated_mask"]) | int(row["missing_mask"])
    if int(row["trigger"]) & TRIGGER_HEALTH and mask:
        kinds = [k for k, m in (("stuck", "stuck_mask"), ("saturated", "saturated_mask"), ("missing", "missing_mask"))
                 if int(row[m])]
        return ", ".join(names[c] for c in range(len(names)) if mask >> c & 1) + f" ({'/'.join(kinds)})"
    top = int(row["top_channel"])
    return f"{names[top]} (z of mean {row['z_mean'][top]:+.1f}, z of std {row['z_std'][top]:+.1f})"


def main() -> int:
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    test = frames[split == 1]
    print(f"[1/3] building a profile from {len(train)} training recordings "
          f"({sum(len(t) for t in train)} frames x {len(names)} channels, window {WINDOW} frames)")
    profile = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, channel_names=names)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ref.tdp"
        profile.save(path)
        size = path.stat().st_size
        profile = tinydrift.load_profile(path).replace(channel_names=names)
    print(f"      profile {profile.profile_id:#010x}: {size} bytes, {profile.n_dims} PCA dims, "
          f"{profile.n_centroids} centroids, CUSUM k={profile.cusum_k_q8 / 256:.2f} h={profile.cusum_h_q8 / 256:.2f}, "
          f"instant {profile.instant_q8 / 256:.2f}")

    clean = tinydrift.score(profile, test)
    print(f"[2/3] clean held-out stream: {len(clean)} windows, "
          f"{int(np.count_nonzero(clean['trigger']))} windows with a trigger")

    drifted = test.astype(np.int32)
    g = names.index(GAIN_CHANNEL)
    drifted[GAIN_FROM:, g] = np.round(drifted[GAIN_FROM:, g] * GAIN)
    s = names.index(STUCK_CHANNEL)
    drifted[STUCK_FROM:, s] = drifted[STUCK_FROM - 1, s]
    drifted = np.clip(drifted, -32768, 32767).astype(np.int16)
    rows = tinydrift.score(profile, drifted)
    print(f"[3/3] drifted stream ({len(rows)} windows):")
    ok = True
    events = [(GAIN_FROM, STUCK_FROM, f"{GAIN_CHANNEL} gain x{GAIN:g}", GAIN_CHANNEL),
              (STUCK_FROM, len(test), f"{STUCK_CHANNEL} stuck", STUCK_CHANNEL)]
    for begin_frame, end_frame, what, channel in events:
        begin, end = begin_frame // WINDOW, end_frame // WINDOW
        hits = np.nonzero((rows["trigger"] != 0) & (rows["window"] >= begin) & (rows["window"] < end))[0]
        print(f"      {what} from t={begin_frame / SAMPLE_RATE_HZ:.0f} s (window {begin}): ", end="")
        if not len(hits):
            print("NOT detected")
            ok = False
            continue
        first = rows[hits[0]]
        delay = int(first["window"]) - begin
        blamed = blamed_channels(first, names)
        print(f"detected at window {int(first['window'])}, {delay} windows ({delay * WINDOW / SAMPLE_RATE_HZ:.0f} s) "
              f"later, by {trigger_names(int(first['trigger']))}; blamed {blamed}")
        ok = ok and blamed.startswith(channel)
    before = int(np.count_nonzero(rows["trigger"][: GAIN_FROM // WINDOW]))
    print(f"      windows with a trigger before any drift: {before}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
