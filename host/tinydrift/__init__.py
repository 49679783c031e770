"""tinydrift: on-device drift monitoring for TinyML, with the device's exact arithmetic on the host."""

from __future__ import annotations

from .build import build_profile
from .errors import CoreError, InputError, ProfileError, TinyDriftError
from .monitor import Monitor, result_dtype, score
from .profile import ChannelConfig, Profile, load_profile

__version__ = "0.1.0"

__all__ = [
    "ChannelConfig", "CoreError", "InputError", "Monitor", "Profile", "ProfileError", "TinyDriftError",
    "build_profile", "load_profile", "result_dtype", "score", "__version__",
]
