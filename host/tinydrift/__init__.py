"""tinydrift: on-device drift monitoring for TinyML, with the device's exact arithmetic on the host.

The public names below are imported on first use (module ``__getattr__``, PEP 562): ``import tinydrift``
costs next to nothing, and ``tinydrift.build_profile`` loads the core and the builder but not the device
client, the CLI or the fleet modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and IDEs
    from tinydrift.build.builder import CalibrationWarning, RecordingDisagreementWarning, build_profile
    from tinydrift.build.model import EmbeddingModel, load_embedding_model
    from tinydrift.build.model_profile import build_model_profile
    from tinydrift.core.errors import CoreError, InputError, ProfileError, TinyDriftError
    from tinydrift.core.monitor import Monitor, result_dtype, score, score_events
    from tinydrift.core.profile import ChannelConfig, Profile, load_profile
    from tinydrift.core.version import __version__
    from tinydrift.device.client import Device
    from tinydrift.device.protocol import DeviceError
    from tinydrift.device.records import TelemetryRecord

_PUBLIC = {
    "build_profile": "tinydrift.build.builder", "CalibrationWarning": "tinydrift.build.builder",
    "RecordingDisagreementWarning": "tinydrift.build.builder",
    "EmbeddingModel": "tinydrift.build.model", "load_embedding_model": "tinydrift.build.model",
    "build_model_profile": "tinydrift.build.model_profile",
    "CoreError": "tinydrift.core.errors", "InputError": "tinydrift.core.errors",
    "ProfileError": "tinydrift.core.errors", "TinyDriftError": "tinydrift.core.errors",
    "Monitor": "tinydrift.core.monitor", "result_dtype": "tinydrift.core.monitor", "score": "tinydrift.core.monitor",
    "score_events": "tinydrift.core.monitor",
    "ChannelConfig": "tinydrift.core.profile", "Profile": "tinydrift.core.profile",
    "load_profile": "tinydrift.core.profile",
    "__version__": "tinydrift.core.version",
    "Device": "tinydrift.device.client", "DeviceError": "tinydrift.device.protocol",
    "TelemetryRecord": "tinydrift.device.records",
}

__all__ = [
    "CalibrationWarning", "ChannelConfig", "CoreError", "Device", "DeviceError", "EmbeddingModel", "InputError", "Monitor", "Profile",
    "ProfileError", "RecordingDisagreementWarning", "TelemetryRecord", "TinyDriftError",
    "build_model_profile", "build_profile", "load_embedding_model", "load_profile", "result_dtype", "score",
    "score_events", "__version__",
]


def __getattr__(name: str) -> Any:
    """A public name from its module, or a subpackage (tinydrift.core, ...), imported on first use."""
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
