"""Streaming costs beside speed.run_stream: the bare C call (the floor of a one-window push) and the conversion of
C results into push()'s rows, tinydrift's C converter against the whole-column numpy conversion it replaced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tinydrift
from tinydrift.core.monitor import result_dtype
from tinydrift.core.native import ffi, lib

from .speed import timed


@dataclass
class RowSpeed:
    floor_us: float                     # td_monitor_push through CFFI, pointers made beforehand, per one-window call
    block_rows: int                     # rows converted at once in the block figures
    # (what, microseconds per row over a block, microseconds for a single row)
    conversion: list[tuple[str, float, float]] = field(default_factory=list)


def numpy_rows(raw: np.ndarray, n_channels: int, n_dims: int) -> np.ndarray:
    """push()'s rows by whole-column numpy assignments: Monitor.to_rows before issue 24 (the baseline)."""
    c, k = n_channels, n_dims
    out = np.empty((len(raw),), dtype=result_dtype(c, k))
    ch = raw["channels"][:, :c]
    out["window"] = raw["window_index"]
    for name in ("score", "dist", "recon", "cusum", "occupancy", "chart"):
        out[name] = raw[name + "_q8"] / 256.0
    for name in ("alarm", "trigger", "nearest", "top_channel", "stuck_mask", "saturated_mask", "missing_mask",
                 "n_embeddings", "n_inferences", "top_class", "ddm_state", "n_labels", "n_correct"):
        out[name] = raw[name]
    for name in ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy"):
        out[name] = raw[name + "_q16"] / 65536
    out["embedding"] = raw["embedding_q8"][:, :k] / 256.0
    out["shift"] = raw["shift_q8"][:, : 2 * c] / 256.0
    for name in ("mean", "std", "z_mean", "z_std"):
        out[name] = ch[name + "_q8"] / 256.0
    for name in ("min", "max", "sum", "sumsq", "n_missing", "n_saturated"):
        out[name] = ch[name]
    return out


def floor_us(profile: object, frames: np.ndarray, repeats: int, calls: int) -> float:
    """Microseconds per one-window td_monitor_push with its arguments converted to cdata before the timing."""
    mon = tinydrift.Monitor(profile)
    w = mon.window
    blocks = [np.ascontiguousarray(frames[i * w : (i + 1) * w]) for i in range(calls)]
    ptrs = [ffi.from_buffer("int16_t[]", b) for b in blocks]
    results = ffi.new("td_window_result_t[]", 1)
    n_out = ffi.new("uint32_t *")
    state, push = mon._mon, lib.td_monitor_push

    def loop() -> None:
        for p in ptrs:
            push(state, p, w, results, 1, n_out)
    return timed(loop, repeats) / calls * 1e6


def run_rows(profile: object, frames: np.ndarray, repeats: int, calls: int) -> RowSpeed:
    """The floor, then both conversions of the same C results: per row over all of them, and one row per call."""
    mon = tinydrift.Monitor(profile)
    raw = mon.push_raw(frames)
    c, k = mon.profile.n_channels, mon.profile.n_dims
    if mon.to_rows(raw).tobytes() != numpy_rows(raw, c, k).tobytes():
        raise RuntimeError("the C row converter differs from the numpy conversion")
    singles = [raw[i : i + 1] for i in range(min(calls, len(raw)))]
    out = RowSpeed(floor_us(profile, frames, repeats, min(calls, len(raw))), len(raw))
    for what, convert in (("numpy whole-column conversion (before issue 24)", lambda r: numpy_rows(r, c, k)),
                          ("Monitor.to_rows (C loop, td_host_rows)", mon.to_rows)):
        block = timed(lambda convert=convert: convert(raw), repeats) / len(raw) * 1e6

        def one_by_one(convert: Callable[[np.ndarray], object] = convert) -> None:
            for r in singles:
                convert(r)
        single = timed(one_by_one, repeats) / len(singles) * 1e6
        out.conversion.append((what, block, single))
    return out
