"""Layer 1, the C core and its formats: cffi binding, Profile, Monitor, score, fixed-point and trigger constants, errors.

Imports nothing else from tinydrift; every other layer builds on it.
"""

from __future__ import annotations

from tinydrift.core.errors import CoreError, InputError, ProfileError, TinyDriftError
from tinydrift.core.monitor import Monitor, result_dtype, score, score_events
from tinydrift.core.profile import ChannelConfig, Profile, load_profile

__all__ = ["ChannelConfig", "CoreError", "InputError", "Monitor", "Profile", "ProfileError", "TinyDriftError",
           "load_profile", "result_dtype", "score", "score_events"]
