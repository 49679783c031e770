"""Fleet simulator: N simulated devices behind one gateway, each producing the records a board would send.

A simulated device is the C core through CFFI (``tinydrift.score``) over its own seeded sensor
stream: the records are the ones the firmware computes for that stream (the device tests check
firmware and host agree field for field). Every fourth device drifts (gain x3 on channel 0)
from the middle of its stream on, so the fleet has alarms. The gateway spools each device's
records together with the device's next seq (a spool mark, as a real device keeps its ring),
so a gateway restarted mid-stream goes on where it stopped, without gaps or repeats.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass

import numpy as np

from tinydrift.core.profile import Profile
from tinydrift.device.records import TelemetryRecord
from tinydrift.fleet import payload
from tinydrift.fleet.publisher import Publisher

CHANNELS = 3
WINDOW = 16
WINDOW_MS = 160  # 100 Hz sampling


def device_uid(index: int) -> str:
    """The simulated device's unique id as INFO reports one (16 hex digits): a 64-bit hash of its index,
    distinct for every index a fleet uses (``tests/test_fleet.py`` checks 100,000)."""
    digest = hashlib.blake2b(index.to_bytes(8, "little"), digest_size=8, person=b"tinydrift-sim").digest()
    return f"{int.from_bytes(digest, 'little') or 1:016x}"


def boot_id(index: int) -> int:
    """The simulated device's boot id (fixed: simulated devices do not reboot)."""
    return zlib.crc32(device_uid(index).encode()) or 1


def _stream(index: int, n_windows: int, drift: bool) -> np.ndarray:
    rng = np.random.default_rng(1000 + index)
    n = n_windows * WINDOW
    t = np.arange(n) / 100.0
    base = np.stack([400 * np.sin(2 * np.pi * 1.3 * t + c) for c in range(CHANNELS)], axis=1)
    x = base + rng.normal(0, 60, size=(n, CHANNELS))
    if drift:
        x[n // 2:, 0] *= 3.0
    return np.clip(np.round(x), -2000, 2000).astype(np.int16)


def build_sim_profile(seed: int = 7) -> Profile:
    """The profile every simulated device runs (built from undrifted streams of other seeds). Its 1,200 windows do
    not resolve 1e-3 by rank; the CalibrationWarning saying so is meant for a user's own profile, not printed here."""
    import warnings

    from tinydrift.build.builder import CalibrationWarning, build_profile

    train = [_stream(10_000 + i, 300, False) for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return build_profile(train, window=WINDOW, false_alarm_rate=1e-3, seed=seed,
                             channel_names=[f"ax{c}" for c in range(CHANNELS)], progress=None)


def device_records(profile: Profile, index: int, n_records: int) -> list[TelemetryRecord]:
    """The first ``n_records`` records of simulated device ``index``."""
    from tinydrift.core.monitor import score

    rows = score(profile, _stream(index, n_records, drift=index % 4 == 3))
    boot = boot_id(index)
    return [TelemetryRecord.from_row(row, seq=i, boot_id=boot, profile_id=profile.profile_id,
                                     uptime_ms=(i + 1) * WINDOW_MS) for i, row in enumerate(rows)]


@dataclass
class SimStats:
    """What a simulated gateway produced in this run."""

    records: int = 0
    alarms: int = 0


def run_gateway(publisher: Publisher, profile: Profile, devices: range, n_records: int, *, gateway: str,
                rate: float = 0.0, flush_timeout: float = 600.0) -> SimStats:
    """Produce ``n_records`` per device (``rate`` records/s per device, 0 = as fast as possible), spooling
    each batch with the devices' next seqs; then wait until the broker acknowledged everything."""
    stats = SimStats()
    records = {i: device_records(profile, i, n_records) for i in devices}
    marks = publisher.spool.marks()
    next_seq = {i: marks.get(device_uid(i), 0) for i in devices}
    start_seq = dict(next_seq)
    t0 = time.monotonic()
    prefix = publisher.url.prefix
    while any(next_seq[i] < n_records for i in devices):
        elapsed = time.monotonic() - t0
        for i in devices:
            due = n_records if rate <= 0 else min(n_records, start_seq[i] + int(elapsed * rate) + 1)
            due = min(due, next_seq[i] + 50)
            if due <= next_seq[i]:
                continue
            uid = device_uid(i)
            out = []
            prev_alarm = records[i][next_seq[i] - 1].alarm if next_seq[i] else False
            for rec in records[i][next_seq[i]:due]:
                now = time.time()
                out.append((payload.topic(prefix, uid, "record"), payload.encode_record(uid, gateway, now, rec)))
                if rec.alarm and not prev_alarm:
                    event = {"boot_id": rec.boot_id, "seq": rec.seq, "window": rec.window, "trigger": rec.trigger,
                             "score": rec.score, "top_channel": rec.top_channel}
                    out.append((payload.topic(prefix, uid, "alarm"), payload.encode_alarm(uid, gateway, now, event)))
                    stats.alarms += 1
                prev_alarm = rec.alarm
            publisher.put(out, marks={uid: due})
            stats.records += due - next_seq[i]
            next_seq[i] = due
        if rate > 0:
            time.sleep(0.02)
    publisher.flush(flush_timeout)
    return stats
