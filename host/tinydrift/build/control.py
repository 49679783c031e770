"""Control false alarms: a profile's alarms on in-distribution data as a user sees them.

The stream goes through ``Monitor.push`` window by window, and the latched alarm is acknowledged
(``reset_alarm``) right after every window that raised one, so each alarm counts once and the next
one starts from a clean detector state, as on the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinydrift.core.monitor import TRIGGER_NAMES, Monitor
from tinydrift.core.profile import Profile


@dataclass
class ControlCount:
    """Alarms over windows, and how many alarms each trigger took part in."""

    alarms: int = 0
    windows: int = 0
    by_trigger: dict[str, int] = field(default_factory=dict)

    def add(self, other: ControlCount) -> None:
        """Accumulate another count into this one."""
        self.alarms += other.alarms
        self.windows += other.windows
        for name, n in other.by_trigger.items():
            self.by_trigger[name] = self.by_trigger.get(name, 0) + n


def count_control_alarms(profile: Profile, frames: np.ndarray) -> ControlCount:
    """Alarms of a fresh monitor over one recording, pushed a window at a time with a reset after each alarm."""
    mon = Monitor(profile)
    w = profile.window
    out = ControlCount()
    for start in range(0, len(frames) - w + 1, w):
        rows = mon.push(frames[start:start + w])
        out.windows += len(rows)
        for row in rows:
            if row["alarm"]:
                out.alarms += 1
                trig = int(row["trigger"])
                for bit, name in TRIGGER_NAMES:
                    if trig & bit:
                        out.by_trigger[name] = out.by_trigger.get(name, 0) + 1
                mon.reset_alarm()
    return out
