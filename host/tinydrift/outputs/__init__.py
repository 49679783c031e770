"""Model outputs (the profile's outputs section): the public module path ``tinydrift.outputs``.

The section's format and the C core's wrappers live in tinydrift.core.outputs, the calibration in
tinydrift.build.outputs; this module keeps ``from tinydrift.outputs import ...`` working.
"""

from __future__ import annotations

from tinydrift.build.outputs import attach_outputs, calibrate_outputs, calibrate_profile_outputs
from tinydrift.core.outputs import Ddm, OutputsConfig, OutputSummary, OutputWindow, dequantize

__all__ = ["Ddm", "OutputSummary", "OutputWindow", "OutputsConfig", "attach_outputs", "calibrate_outputs",
           "calibrate_profile_outputs", "dequantize"]
