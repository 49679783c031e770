"""tinydrift: on-device drift monitoring for TinyML, with the device's exact arithmetic on the host."""

from __future__ import annotations

from tinydrift.build.builder import build_profile
from tinydrift.build.model import EmbeddingModel, load_embedding_model
from tinydrift.build.model_profile import build_model_profile
from tinydrift.core.errors import CoreError, InputError, ProfileError, TinyDriftError
from tinydrift.core.monitor import Monitor, result_dtype, score, score_events
from tinydrift.core.profile import ChannelConfig, Profile, load_profile
from tinydrift.core.version import __version__
from tinydrift.device.client import Device
from tinydrift.device.protocol import DeviceError
from tinydrift.device.records import TelemetryRecord

__all__ = [
    "ChannelConfig", "CoreError", "Device", "DeviceError", "EmbeddingModel", "InputError", "Monitor", "Profile",
    "ProfileError", "TelemetryRecord", "TinyDriftError",
    "build_model_profile", "build_profile", "load_embedding_model", "load_profile", "result_dtype", "score",
    "score_events", "__version__",
]
