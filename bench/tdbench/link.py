"""The telemetry link on the simulated boards: profile uploads, replayed frames, records against tinydrift.score."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import tinydrift

from .config import WINDOW
from .internals import MAX_INJECT_VALUES, MSG_INJECT, MSG_TELEMETRY, Simulator, encode_frame, records_equal_rows


@dataclass
class LinkResult:
    board: str
    records: int
    frames: int
    seconds: float
    uploads: list[float]
    profile_bytes: int
    bit_exact: bool
    error: str = ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_link(board: str, profile: object, frames: np.ndarray, uploads: int) -> LinkResult:
    blob = len(profile.to_bytes())  # type: ignore[attr-defined]
    logger = logging.getLogger("tinydrift.device.client")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # link warnings go into the report, not the terminal
    try:
        with Simulator(board) as sim, tinydrift.Device(sim.url, timeout=2.0) as dev:
            times = []
            for _ in range(uploads):
                t = time.perf_counter()
                dev.upload_profile(profile)
                times.append(time.perf_counter() - t)
            dev.info()
            t = time.perf_counter()
            records = dev.inject(frames)
            took = time.perf_counter() - t
        expected = len(frames) // profile.window  # type: ignore[attr-defined]
        exact = records_equal_rows(records, tinydrift.score(profile, frames))
        error = ""
        if len(records) != expected or not exact:
            first = handler.messages[0] if handler.messages else "records differ from tinydrift.score"
            error = (f"{len(records)} of {expected} records received; {len(handler.messages)} link warnings, "
                     f"first: {first}")
        return LinkResult(board, len(records), len(frames), took, times, blob, exact, error)
    except Exception as exc:  # noqa: BLE001 - reported in the document, the rest of the bench goes on
        return LinkResult(board, 0, len(frames), 0.0, [], blob, False, f"{type(exc).__name__}: {exc}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def wire_sizes(profile: object, frames: np.ndarray) -> dict[str, int]:
    row = tinydrift.score(profile, frames[: WINDOW])[0]
    payload = tinydrift.TelemetryRecord.from_row(row, seq=12345, boot_id=1, profile_id=1, uptime_ms=1000).pack()
    wire = encode_frame(MSG_TELEMETRY, 12345, payload)
    c = frames.shape[1]
    per_msg = MAX_INJECT_VALUES // c
    inj = encode_frame(MSG_INJECT, 1, np.ascontiguousarray(frames[:per_msg], dtype="<i2").tobytes())
    return {"record_payload": len(payload), "record_wire": len(wire), "inject_frames": per_msg,
            "inject_wire": len(inj), "channels": c}

