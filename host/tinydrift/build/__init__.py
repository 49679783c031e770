"""Layer 2, making profiles: reference statistics, calibration, occupancy, model embeddings, output calibration.

Imports only tinydrift.core; independent of tinydrift.device.
"""

from __future__ import annotations

from tinydrift.build.builder import (DEFAULT_HOLDOUT, SCORINGS, CalibrationWarning, RecordingDisagreementWarning,
                                     build_profile)

__all__ = ["DEFAULT_HOLDOUT", "SCORINGS", "CalibrationWarning", "RecordingDisagreementWarning", "build_profile"]
