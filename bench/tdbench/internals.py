"""The only place the benchmark reaches into tinydrift's internals (everything else uses the public API).

If the host package moves these names, this file is the one to change.
"""

from __future__ import annotations

from tinydrift.core.monitor import RAW_DTYPE, TRIGGER_HEALTH, TRIGGER_OCCUPANCY
from tinydrift.device.protocol import MAX_INJECT_VALUES, MSG_INJECT, MSG_TELEMETRY, encode_frame
from tinydrift.device.records import records_equal_rows
from tinydrift.device.sim import Simulator

__all__ = ["MAX_INJECT_VALUES", "MSG_INJECT", "MSG_TELEMETRY", "RAW_DTYPE", "Simulator", "TRIGGER_HEALTH", "TRIGGER_OCCUPANCY",
           "encode_frame", "records_equal_rows"]
