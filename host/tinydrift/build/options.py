"""The options every profile build shares (build_profile and build_model_profile): defaults and checks once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tinydrift.build.health_limits import HealthLimit, resolve_limits
from tinydrift.core.channel_names import NamesError, check_channel_names
from tinydrift.core.errors import InputError
from tinydrift.core.native import lib

Progress = Callable[[str], None]
DEFAULT_HOLDOUT = 0.2  # fraction of the training windows kept back to calibrate the thresholds


@dataclass(frozen=True)
class BuildOptions:
    """The 13 keyword options of both profile builders, with their defaults (documented on build_profile)."""

    false_alarm_rate: float = 1e-3
    n_centroids: int = 8
    rails: tuple[int, int] | Sequence[tuple[int, int]] | None = None
    sentinel: int | Sequence[int | None] | None = None
    stuck_tolerance: int = 0
    max_missing: HealthLimit = None
    max_saturated: HealthLimit = None
    holdout: float = DEFAULT_HOLDOUT
    min_sigma: float = 1.0 / 16
    calibration_windows: int | None = None
    channel_names: Sequence[str] | None = None
    seed: int = 0
    progress: Progress | None = None

    def check(self) -> None:
        """InputError naming the first option out of range."""
        if not 0.0 < self.false_alarm_rate < 1.0:
            raise InputError(f"false-alarm rate must be between 0 and 1 (per window), got {self.false_alarm_rate}")
        if not 1 <= self.n_centroids <= lib.TD_MAX_CENTROIDS:
            raise InputError(f"centroids must be between 1 and {lib.TD_MAX_CENTROIDS}, got {self.n_centroids}")
        if not 0 <= self.stuck_tolerance <= 65535:
            raise InputError(f"stuck tolerance must be 0..65535, got {self.stuck_tolerance}")
        if not 0.0 < self.holdout < 1.0:
            raise InputError(f"holdout fraction must be between 0 and 1, got {self.holdout}")

    def check_names(self, n_channels: int) -> None:
        """InputError unless channel_names (when given) are names a profile can carry, one per channel."""
        if self.channel_names is not None:
            try:
                check_channel_names(self.channel_names, n_channels)
            except NamesError as exc:
                raise InputError(f"channel names: {exc}") from None

    def health_limits(self, window: int, n_channels: int) -> tuple[list[int | None], list[int | None]]:
        """max_missing and max_saturated, one per channel (None: the training maximum); InputError when out of range."""
        names = list(self.channel_names) if self.channel_names is not None else [f"ch{c}" for c in range(n_channels)]
        return (resolve_limits(self.max_missing, "max_missing", window, names),
                resolve_limits(self.max_saturated, "max_saturated", window, names))

    def say(self) -> Progress:
        """The progress callback, or one that drops messages."""
        return self.progress or (lambda _msg: None)


DEFAULTS = BuildOptions()
