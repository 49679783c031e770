"""Trigger bits of a window (td_monitor.h TD_TRIGGER_*) and their names, without loading the C core."""

from __future__ import annotations

from collections.abc import Sequence

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
# Health masks of a window (one bit per channel): the result field and the name the CLI, store and report use.
HEALTH_MASKS = (("stuck_mask", "stuck"), ("saturated_mask", "saturated"), ("missing_mask", "missing"))


def trigger_names(bits: int) -> list[str]:
    """Names of the trigger bits set in ``bits``, in bit order."""
    return [name for bit, name in TRIGGER_NAMES if int(bits) & bit]


def mask_channels(mask: int, names: Sequence[str]) -> list[str]:
    """Names of the channels whose bit is set in a 16-bit channel mask (chN past the known names)."""
    return [names[c] if c < len(names) else f"ch{c}" for c in range(16) if int(mask) >> c & 1]
