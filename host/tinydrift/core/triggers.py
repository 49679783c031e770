"""Trigger bits of a window (td_monitor.h TD_TRIGGER_*) and their names, without loading the C core."""

from __future__ import annotations

TRIGGER_INSTANT = 0x01
TRIGGER_CUSUM = 0x02
TRIGGER_HEALTH = 0x04
TRIGGER_CONCEPT = 0x08
TRIGGER_OCCUPANCY = 0x10
TRIGGER_FEATURE = 0x20
# In bit order: the CLI, the telemetry store and the report name triggers with these.
TRIGGER_NAMES = ((TRIGGER_INSTANT, "instant"), (TRIGGER_CUSUM, "cusum"), (TRIGGER_HEALTH, "health"),
                 (TRIGGER_CONCEPT, "concept"), (TRIGGER_OCCUPANCY, "occupancy"),
                 (TRIGGER_FEATURE, "feature"))
