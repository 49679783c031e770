"""tinydrift: on-device drift monitoring for TinyML, with the device's exact arithmetic on the host."""

from __future__ import annotations

from .build import build_profile
from .device import Device
from .errors import CoreError, InputError, ProfileError, TinyDriftError
from .link import DeviceError, TelemetryRecord
from .model import EmbeddingModel, load_embedding_model
from .model_profile import build_model_profile
from .monitor import Monitor, result_dtype, score, score_events
from .profile import ChannelConfig, Profile, load_profile

__version__ = "0.1.0"

__all__ = [
    "ChannelConfig", "CoreError", "Device", "DeviceError", "EmbeddingModel", "InputError", "Monitor", "Profile",
    "ProfileError", "TelemetryRecord", "TinyDriftError",
    "build_model_profile", "build_profile", "load_embedding_model", "load_profile", "result_dtype", "score",
    "score_events", "__version__",
]
