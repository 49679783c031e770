"""Fixed settings of the benchmark: paths, window, false-alarm rate, rails, speed window, limits."""

from __future__ import annotations

import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
RATE = 1e-3
OCCUPANCY_WINDOWS = 50  # the occupancy test (prior shift, look-alike new classes) over 50 windows = 5 recordings
SENTINEL = -32768
RAILS = (-32767, 32767)
SPEED_WINDOW = 64
INF = math.inf
FLOOR_PER_CHANNEL_SAMPLE = (6, 8)
IMG_LIMIT = 150 * 1024
