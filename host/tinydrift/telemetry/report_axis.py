"""The report's x axis for one run of records: device time where the records carry it, else the window index.

Every panel of a run (timeline, trigger raster, heatmaps, health, outputs) plots against one ``XAxis`` and takes
its limits from it, so they share one x range: the records' span widened to every lost or not-received stretch of
the run, plus half a window each side.

Time is the device's uptime (``uptime_ms`` of each record, stamped at the window's close): it is used when it
rises strictly from record to record. Windows without a record (lost, not received) get a time by linear
interpolation between their neighbours, or by the median window period beyond the first or last record. The host's
receive time (``received_at``) is not used: records fetched after a gap all arrive at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class XAxis:
    """Positions of a run's records and windows on the shared x axis."""

    kind: str  # "time" (device uptime, s) or "index" (window index, or telemetry seq)
    label: str
    index: np.ndarray  # per record: window index (or seq), int
    x: np.ndarray  # per record: position on the axis
    period: float  # x units per window
    _t_index: np.ndarray  # the records' index values (sorted) the interpolation uses
    _t_x: np.ndarray
    lo: float = 0.0  # shared limits
    hi: float = 0.0

    def at(self, index: np.ndarray | float) -> np.ndarray:
        """Axis position of window index values (fractions allowed): interpolated inside, extrapolated outside."""
        i = np.asarray(index, dtype=np.float64)
        if self.kind == "index":
            return i.copy()
        out = np.interp(i, self._t_index, self._t_x)
        below, above = i < self._t_index[0], i > self._t_index[-1]
        out[below] = self._t_x[0] + (i[below] - self._t_index[0]) * self.period
        out[above] = self._t_x[-1] + (i[above] - self._t_index[-1]) * self.period
        return out

    def span(self, index_lo: float, index_hi: float) -> tuple[float, float]:
        """Axis span of the windows index_lo..index_hi inclusive (each window half a period wide either side)."""
        a, b = self.at(np.array([index_lo - 0.5, index_hi + 0.5]))
        return float(a), float(b)

    def edges(self, grid: np.ndarray) -> np.ndarray:
        """Cell edges of consecutive windows grid[0]..grid[-1] (len(grid) + 1 values), for heatmaps."""
        return self.at(np.concatenate((grid - 0.5, [grid[-1] + 0.5])))


def make_axis(index: np.ndarray, uptime_ms: np.ndarray, index_label: str,
              extra_spans: Sequence[tuple[float, float]] = ()) -> XAxis:
    """The axis of a run: time when uptime rises strictly with the index, else the index itself.

    extra_spans are (lo, hi) ranges in index units (lost / not-received windows) that the shared range must cover.
    """
    index = np.asarray(index, dtype=np.int64)
    up = np.asarray(uptime_ms, dtype=np.float64) / 1000.0
    timed = len(index) > 1 and bool(np.all(np.diff(index) > 0)) and bool(np.all(np.diff(up) > 0))
    if timed:
        period = float(np.median(np.diff(up) / np.diff(index)))
        axis = XAxis("time", "device uptime (s)", index, up, period, index.astype(np.float64), up)
    else:
        axis = XAxis("index", index_label, index, index.astype(np.float64), 1.0, index.astype(np.float64),
                     index.astype(np.float64))
    lo_i = float(index.min()) - 0.5 if len(index) else -0.5
    hi_i = float(index.max()) + 0.5 if len(index) else 0.5
    for a, b in extra_spans:
        lo_i, hi_i = min(lo_i, a), max(hi_i, b)
    axis.lo, axis.hi = (float(v) for v in axis.at(np.array([lo_i, hi_i])))
    return axis
