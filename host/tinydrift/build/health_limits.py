"""Per-channel health rules of a profile: missing / saturated limits (given, or the training maximum) and the stuck check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np

from tinydrift.core.errors import InputError
from tinydrift.core.profile import ChannelConfig

# A limit of samples per window: one for every channel, one per channel (None: the training maximum) or {name: N}.
HealthLimit = Union[int, Sequence[Union[int, None]], Mapping[str, int], None]


def resolve_limits(value: HealthLimit, what: str, window: int, names: Sequence[str]) -> list[int | None]:
    """One limit per channel (None: keep the training maximum); InputError naming the option and the channel when
    a limit lies outside 0..window or names a channel the data do not have."""
    n = len(names)
    if value is None:
        return [None] * n
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise InputError(f"{what} names channel {unknown[0]!r}, which is not one of {', '.join(names)}")
        limits: list[object] = [value.get(name) for name in names]
    elif isinstance(value, (str, bytes)):
        raise InputError(f"{what} must be a count, one count per channel or {{channel name: count}}, got {value!r}")
    elif isinstance(value, Sequence):
        if len(value) != n:
            raise InputError(f"{what} gives {len(value)} limits for {n} channels")
        limits = list(value)
    else:
        limits = [value] * n
    per_channel = isinstance(value, (Mapping, Sequence))
    out: list[int | None] = []
    for name, limit in zip(names, limits):
        if limit is None:
            out.append(None)
            continue
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 0 <= limit <= window:
            where = f" of channel {name}" if per_channel else ""
            raise InputError(f"{what}{where} must be a count of samples from 0 to the window ({window}), got {limit!r}")
        out.append(int(limit))
    return out


def describe(missing: Sequence[int], saturated: Sequence[int], names: Sequence[str]) -> str:
    """'missing 2, saturated 0', each count per channel ('ax 2, ay 0') where the channels differ."""
    def one(limits: Sequence[int]) -> str:
        if len(set(limits)) == 1:
            return str(limits[0])
        return ", ".join(f"{name} {limit}" for name, limit in zip(names, limits))

    return f"missing {one(missing)}; saturated {one(saturated)}"


def set_health_rules(configs: list[ChannelConfig], rows: np.ndarray, recordings: list[np.ndarray],
                     stuck_tolerance: int, max_missing: Sequence[int | None] | None = None,
                     max_saturated: Sequence[int | None] | None = None) -> None:
    """Each channel's missing and saturated limits (the given ones, else the largest count of a reference window),
    its stuck check (only where no reference window sits still) and its reference mean and std."""
    for c, cfg in enumerate(configs):
        given_missing = max_missing[c] if max_missing is not None else None
        given_saturated = max_saturated[c] if max_saturated is not None else None
        cfg.max_missing = int(rows["n_missing"][:, c].max()) if given_missing is None else given_missing
        cfg.max_saturated = int(rows["n_saturated"][:, c].max()) if given_saturated is None else given_saturated
        valid_windows = (rows["max"][:, c].astype(np.int32) >= rows["min"][:, c])
        spread = rows["max"][:, c].astype(np.int32) - rows["min"][:, c]
        # Check for "stuck" only where the reference itself never sits still.
        cfg.stuck_tolerance = stuck_tolerance
        cfg.stuck_check = bool(valid_windows.any() and spread[valid_windows].min() > stuck_tolerance)
        samples = np.concatenate([r[:, c] for r in recordings]).astype(np.float64)
        if cfg.sentinel is not None:
            samples = samples[samples != cfg.sentinel]
        if len(samples):
            cfg.ref_mean_q8 = int(np.round(samples.mean() * 256))
            cfg.ref_std_q8 = int(np.round(samples.std() * 256))
