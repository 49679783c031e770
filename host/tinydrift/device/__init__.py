"""Layer 2, talking to devices: link frames and messages, telemetry records, the Device client, simulators, firmware.

Imports only tinydrift.core; independent of tinydrift.build.
"""

from __future__ import annotations

from tinydrift.device.client import Device
from tinydrift.device.protocol import DeviceError
from tinydrift.device.records import TelemetryRecord

__all__ = ["Device", "DeviceError", "TelemetryRecord"]
