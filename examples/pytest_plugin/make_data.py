"""Regenerate this example's data from the bundled BasicMotions recording (data/basicmotions.npz):

    ref.tdp      a profile built from the 40 training recordings (window 20 = 2 s at 10 Hz)
    field.csv    1,000 frames of held-out recordings, as recorded (the monitor stays quiet)
    drifted.csv  the same frames with gyr_y's gain x4 from frame 400 (the monitor alarms)

Run from the repository root: python examples/pytest_plugin/make_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinydrift
from tinydrift.core.recording import write_csv

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "data" / "basicmotions.npz"
WINDOW, RATE = 20, 1e-3
FRAMES, GAIN_FROM, GAIN = 1000, 400, 4.0


def main() -> None:
    data = np.load(DATA)
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    profile = tinydrift.build_profile(train, window=WINDOW, false_alarm_rate=RATE, channel_names=names)
    profile.save(HERE / "ref.tdp")
    field = frames[split == 1][:FRAMES]
    write_csv(HERE / "field.csv", field, names)
    drifted = field.astype(np.int32)
    g = names.index("gyr_y")
    drifted[GAIN_FROM:, g] = np.round(drifted[GAIN_FROM:, g] * GAIN)
    write_csv(HERE / "drifted.csv", np.clip(drifted, -32768, 32767).astype(np.int16), names)


if __name__ == "__main__":
    main()
