"""Field collection: keep every telemetry record of a device in the SQLite store, live.

``Collector.run`` connects to a device, stores what it sends, asks its ring buffer for
anything missed (sequence gaps, the time it was unplugged) and records as a gap what the
ring no longer holds. It survives the board resetting or disappearing: it reconnects with
exponential backoff and goes on. Every store write is one transaction, so stopping it at
any moment (Ctrl-C) leaves the database consistent.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tinydrift.device.client import Device
from tinydrift.device.protocol import DeviceError
from tinydrift.device.records import TelemetryRecord
from tinydrift.device.messages import Info
from tinydrift.core.triggers import mask_channels
from tinydrift.core.triggers import trigger_names as trigger_kinds
from tinydrift.telemetry.store import TelemetryStore

log = logging.getLogger("tinydrift.collect")

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 8.0
RATE_SPAN_S = 10.0


@dataclass
class CollectStats:
    """What a collection run did."""

    records_new: int = 0
    records_duplicate: int = 0
    records_backfilled: int = 0
    gaps_recorded: int = 0
    seqs_lost: int = 0
    alarms: int = 0
    connects: int = 0
    alerts_failed: int = 0


@dataclass
class DeviceState:
    """The collector's view of the connected device, for the live display."""

    url: str
    connected: bool = False
    info: Info | None = None
    last: TelemetryRecord | None = None
    channel_names: list[str] = field(default_factory=list)
    instant: float | None = None
    cusum_h: float | None = None
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    message: str = ""

    def window_rate(self) -> float:
        """Windows per second over the last RATE_SPAN_S seconds."""
        now = time.monotonic()
        recent = [t for t in self.arrivals if now - t <= RATE_SPAN_S]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], 1e-6)
        return (len(recent) - 1) / span


class AlertRunner:
    """Runs the user's alert command per new alarm, the record as JSON on stdin, without waiting for it."""

    def __init__(self, command: str, stats: CollectStats) -> None:
        self.argv = shlex.split(command)
        self.stats = stats
        self._running: list[tuple[subprocess.Popen[bytes], threading.Thread]] = []

    def fire(self, record: dict[str, object]) -> None:
        self.reap()
        data = json.dumps(record).encode() + b"\n"
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        except OSError as exc:
            self.stats.alerts_failed += 1
            log.warning("alert command %r failed to start: %s", self.argv[0], exc.strerror or exc)
            return
        # A thread feeds stdin so a command that never reads cannot block the collector.
        feeder = threading.Thread(target=self._feed, args=(proc, data), daemon=True)
        feeder.start()
        self._running.append((proc, feeder))

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:
            pass

    def reap(self, wait: float = 0.0) -> None:
        """Collect finished commands and log failures; wait up to ``wait`` seconds for the rest."""
        deadline = time.monotonic() + wait
        still: list[tuple[subprocess.Popen[bytes], threading.Thread]] = []
        for proc, feeder in self._running:
            try:
                code = proc.wait(timeout=max(0.0, deadline - time.monotonic())) if wait else proc.poll()
            except subprocess.TimeoutExpired:
                code = None
            if code is None:
                still.append((proc, feeder))
            elif code != 0:
                self.stats.alerts_failed += 1
                err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
                log.warning("alert command exited with status %d%s", code, f": {err[-1]}" if err else "")
        self._running = still


def record_json(rec: TelemetryRecord, names: list[str]) -> dict[str, object]:
    """A record as a JSON-ready dict with trigger kinds and implicated channels spelled out."""
    d = asdict(rec)
    d["trigger_kinds"] = trigger_kinds(rec.trigger)
    labels = names if len(names) == rec.n_channels else [f"ch{c}" for c in range(rec.n_channels)]
    health = rec.stuck_mask | rec.saturated_mask | rec.missing_mask
    d["channels_implicated"] = mask_channels(health, labels) if health else [labels[rec.top_channel]]
    d["channel_names"] = labels
    return d


class Collector:
    """Collect a device's telemetry into a TelemetryStore until stopped.

    on_record(state, record, new) and on_status(state) let a view follow along. record_sink(record) and
    gap_sink(boot_id, first, last, reason) see every record and gap *before* the store writes it (the
    fleet gateway spools them there, so whatever the store holds was also handed on).
    """

    def __init__(self, url: str, store: TelemetryStore, *, device_name: str | None = None,
                 alert_cmd: str | None = None, sensor_rate: int | None = None,
                 on_record: Callable[[DeviceState, TelemetryRecord, bool], None] | None = None,
                 on_status: Callable[[DeviceState], None] | None = None,
                 timeout: float = 1.0, backoff_max: float = BACKOFF_MAX,
                 record_sink: Callable[[TelemetryRecord], None] | None = None,
                 gap_sink: Callable[[int, int, int, str], None] | None = None) -> None:
        self.url = url
        self.store = store
        self.device_name = device_name or url
        self.sensor_rate = sensor_rate
        self.stats = CollectStats()
        self.state = DeviceState(url)
        self.alerts = AlertRunner(alert_cmd, self.stats) if alert_cmd else None
        self.on_record = on_record
        self.on_status = on_status
        self.record_sink = record_sink
        self.gap_sink = gap_sink
        self.timeout = timeout
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._boot: int | None = None
        self._expected: int | None = None
        self._latched = False

    def stop(self) -> None:
        """Ask run() to return after the record in hand (thread-safe)."""
        self._stop.set()

    def _status(self, message: str) -> None:
        self.state.message = message
        log.info("%s: %s", self.url, message)
        if self.on_status:
            self.on_status(self.state)

    def run(self, duration: float | None = None, idle_exit: float | None = None) -> CollectStats:
        """Collect until stop(), ``duration`` seconds, or ``idle_exit`` seconds without a record."""
        end = None if duration is None else time.monotonic() + duration
        backoff = BACKOFF_FIRST
        last_record = time.monotonic()
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                try:
                    with Device(self.url, timeout=self.timeout) as dev:
                        self._connected(dev)
                        backoff = BACKOFF_FIRST
                        last_record = time.monotonic()
                        while not self._stop.is_set() and (end is None or time.monotonic() < end):
                            got = False
                            for rec in dev.telemetry(timeout=0.2):
                                self._take(dev, rec)
                                got = True
                                last_record = time.monotonic()
                                if self._stop.is_set():
                                    break
                            if not got:
                                if idle_exit is not None and time.monotonic() - last_record > idle_exit:
                                    self._stop.set()
                                    break
                                self._poll(dev)
                except DeviceError as exc:
                    self.state.connected = False
                    self._status(f"disconnected: {exc}; retrying in {backoff:.2f} s")
                    if idle_exit is not None and time.monotonic() - last_record > idle_exit:
                        break
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max)
        finally:
            if self.alerts:
                self.alerts.reap(wait=2.0)
        return self.stats

    def _connected(self, dev: Device) -> None:
        info = dev.info()
        if info.boot_id != self._boot:
            self._latched = False
        self.stats.connects += 1
        self.state.connected = True
        self.state.info = info
        self.store.add_device(self.device_name, board=info.board_name, board_id=info.board_id,
                              firmware=info.firmware)
        if info.profile_id:
            self.store.note_profile(info.profile_id, window=info.profile_window, n_channels=info.profile_channels)
            known = self.store.profile(info.profile_id)
            if known:
                self.state.channel_names = list(known.get("channel_names") or [])
                self.state.instant = known.get("instant")
                self.state.cusum_h = known.get("cusum_h")
        self._status(f"connected: {info.board_name} boot {info.boot_id:#010x}, profile {info.profile_id:#010x}")
        self._boot = info.boot_id
        self._backfill(dev, info)
        if self.sensor_rate:
            dev.sensor(self.sensor_rate)

    def _poll(self, dev: Device) -> None:
        """While idle, check the device is alive and that nothing slipped past (INFO's next seq)."""
        info = dev.info()
        self.state.info = info
        if info.boot_id != self._boot:  # reset without the link noticing (e.g. a pty)
            self._boot = info.boot_id
        self._backfill(dev, info)

    def _backfill(self, dev: Device, info: Info) -> None:
        """Fetch every seq of this boot below the device's next seq that the store lacks; record what is gone."""
        holes = self.store.missing_ranges(self.device_name, info.boot_id, info.next_seq)
        for lo, hi in holes:
            if hi < info.oldest_seq:
                self._gap(info.boot_id, lo, hi, "overwritten in the device's ring buffer")
                continue
            if lo < info.oldest_seq:
                self._gap(info.boot_id, lo, info.oldest_seq - 1, "overwritten in the device's ring buffer")
                lo = info.oldest_seq
            got = dev.fetch(lo, max_records=hi - lo + 1)
            seqs = {r.seq for r in got}
            for rec in got:
                self._store(rec)
            self.stats.records_backfilled += len(got)
            missing = [s for s in range(lo, hi + 1) if s not in seqs]
            if missing:
                # The ring moved on while we asked: these are gone.
                self._gap(info.boot_id, missing[0], missing[-1], "overwritten during backfill")
        self._expected = info.next_seq

    def _gap(self, boot_id: int, lo: int, hi: int, reason: str) -> None:
        if self.gap_sink:
            self.gap_sink(boot_id, lo, hi, reason)
        if self.store.record_gap(self.device_name, boot_id, lo, hi, reason):
            self.stats.gaps_recorded += 1
            self.stats.seqs_lost += hi - lo + 1
            self._status(f"lost records {lo}..{hi} of boot {boot_id:#010x} ({reason})")

    def _take(self, dev: Device, rec: TelemetryRecord) -> None:
        if rec.boot_id != self._boot:
            self._boot = rec.boot_id
            self._expected = None
            self._latched = False
        if self._expected is not None and rec.seq > self._expected:
            info = dev.info()
            self._backfill(dev, info)
        self._store(rec)
        self._expected = max(self._expected or 0, rec.seq + 1)

    def _store(self, rec: TelemetryRecord) -> None:
        if self.record_sink:
            self.record_sink(rec)
        new = self.store.insert_record(self.device_name, rec)
        if new:
            self.stats.records_new += 1
            if not rec.replayed:
                self.state.arrivals.append(time.monotonic())
        else:
            self.stats.records_duplicate += 1
        if not rec.replayed or self.state.last is None or rec.seq >= self.state.last.seq:
            self.state.last = rec
        # An alarm is new when the latched flag rises; windows that keep it up are not new alarms.
        if new and rec.alarm and not self._latched:
            self.stats.alarms += 1
            if self.alerts:
                self.alerts.fire(record_json(rec, self.state.channel_names))
        if self.state.last is rec:
            self._latched = bool(rec.alarm)
        if self.on_record:
            self.on_record(self.state, rec, new)
