"""Field collection: keep every telemetry record of a device in the SQLite store, live.

``Collector.run`` connects to a device, stores what it sends and, after connecting, after
a seq jump, after the device's telemetry queue overflowed and at least every ``POLL_S``
seconds, backfills: INFO gives the ring's oldest and next seq, every missing seq from the
oldest on is FETCHed again (rounds while they store something), and what is still missing
is kept as a gap row: 'overwritten' (seq < the ring's oldest: gone for good), 'device
restarted' (the board rebooted first) or 'not received' (still in the ring, asked for again
at the next backfill). Gap rows are exact (docs/telemetry-store.md, Gaps). Alerts fire once
per alarm onset, whatever order records arrive in (``Collector`` docstring). It survives the
board resetting or disappearing: it reconnects with exponential backoff and goes on. Every
store write is one transaction, so stopping it at any moment (Ctrl-C) leaves the database
consistent.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tinydrift.core.errors import InputError
from tinydrift.core.native import lib
from tinydrift.core.triggers import mask_channels
from tinydrift.core.triggers import trigger_names as trigger_kinds
from tinydrift.device.client import Device, NoAnswer, RequestDeadline
from tinydrift.device.messages import Info
from tinydrift.device.protocol import DeviceError
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.gaps import GAP_OVERWRITTEN, GAP_REBOOT, GAP_UNRECEIVED, gap_is_final
from tinydrift.telemetry.schema import subtract_ranges
from tinydrift.telemetry.store import TelemetryStore

log = logging.getLogger("tinydrift.collect")

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 8.0
RATE_SPAN_S = 10.0
POLL_S = 1.0  # backfill at least this often while connected
RECEIVE_WAIT_S = 0.2  # longest wait for live records before looking at anything else
FETCH_BATCH = 32  # records per FETCH: short answers bound a request's time on a slow or noisy line
BACKFILL_ROUNDS = 4  # INFO + FETCH of every hole, repeated while a round stores something
RETRIES = 4


@dataclass
class CollectStats:
    """What a collection run did."""

    records_new: int = 0
    records_duplicate: int = 0
    records_backfilled: int = 0
    records_dropped: int = 0  # live records the full telemetry queue dropped (backfill fetches them again)
    gaps_recorded: int = 0  # gap rows given a final reason
    seqs_lost: int = 0  # seqs newly recorded as gone for good (overwritten, device restarted)
    seqs_unreceived: int = 0  # at the end: seqs in 'not received' gap rows of the boots collected
    alarms: int = 0  # alarm onsets (each fires the alert command once)
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
    """Runs the user's alert command (``sh -c COMMAND``) per new alarm, the record as JSON on stdin, without waiting
    for it."""

    def __init__(self, command: str, stats: CollectStats) -> None:
        self.argv = ["sh", "-c", command]  # the shell a user expects: pipes, quotes, variables
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
            log.warning("alert command %r failed to start: %s", self.argv[-1], exc.strerror or exc)
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


def fetch_spans(holes: list[tuple[int, int]], batch: int) -> list[tuple[int, int]]:
    """Holes joined into FETCH ranges of at most ``batch`` seqs (a longer hole stays whole): one request
    instead of one per hole where a noisy line leaves many small ones; records stored already come back
    as duplicates and change nothing."""
    spans: list[tuple[int, int]] = []
    for lo, hi in sorted(holes):
        if spans and hi - spans[-1][0] < batch and hi - lo < batch:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


class Collector:
    """Collect a device's telemetry into a TelemetryStore until stopped.

    on_record(state, record, new) and on_status(state) let a view follow along. record_sink(record) and
    gap_sink(boot_id, first, last, reason) see every record and final gap *before* the store writes it
    (the fleet gateway spools them there, so whatever the store holds was also handed on).
    onset_sink(record) gets each alarm onset once, when it is decided (below), with or without alert_cmd.
    on_contact() runs once, when a device first answers INFO, before the collector writes anything to the store.

    Alarm onset (what ``alert_cmd`` fires for, once): a stored record of boot b with the alarm
    latched is an onset when its window index is 0 (the profile just became active), its seq is
    0, or its predecessor in b is known and does not continue the latched alarm. The
    predecessor is record seq - 1 if stored, or, when seq - 1 lies in gap rows with a final
    reason, the nearest stored record before them (none: onset). It continues the alarm if it is
    latched, has the same profile and lies as many windows back as seqs back (the monitor was not
    restarted in between). While seq - 1 may still arrive, the onset waits: it is decided when
    the predecessor is stored or recorded as lost, whichever comes first, so arrival order
    (live, backfilled, across reconnects) never fires an alarm twice. An alarm reset and raised
    again inside a lost stretch is not seen as a new onset.
    """

    def __init__(self, url: str, store: TelemetryStore, *, device_name: str | None = None,
                 alert_cmd: str | None = None, sensor_rate: int | None = None,
                 on_record: Callable[[DeviceState, TelemetryRecord, bool], None] | None = None,
                 on_status: Callable[[DeviceState], None] | None = None,
                 timeout: float = 1.0, backoff_max: float = BACKOFF_MAX, retries: int = RETRIES,
                 fetch_batch: int = FETCH_BATCH, queue_max: int = 1024, poll_s: float = POLL_S,
                 record_sink: Callable[[TelemetryRecord], None] | None = None,
                 gap_sink: Callable[[int, int, int, str], None] | None = None,
                 onset_sink: Callable[[TelemetryRecord], None] | None = None,
                 on_contact: Callable[[], None] | None = None) -> None:
        self.url = url
        self.on_contact = on_contact  # called once, when a device first answers, before anything is stored
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
        self.onset_sink = onset_sink
        self.timeout = timeout
        self.backoff_max = backoff_max
        self.retries = retries
        self.fetch_batch = fetch_batch
        self.queue_max = queue_max
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._boot: int | None = None
        self._next: dict[int, int] = {}  # per boot: the device's next seq as far as known (INFO, live records)
        self._live_next: int | None = None  # seq the next live record should have
        self._suspect = False  # a live seq jumped or records were dropped: backfill soon
        self._last_backfill = 0.0
        self._dropped_seen = 0
        self._fired: set[tuple[int, int]] = set()
        self._last_new = time.monotonic()

    def stop(self) -> None:
        """Ask run() to return after the record in hand (thread-safe)."""
        self._stop.set()

    def _status(self, message: str) -> None:
        self.state.message = message
        log.info("%s: %s", self.url, message)
        if self.on_status:
            self.on_status(self.state)

    # -------------------------------------------------------------------------------- main loop

    def run(self, duration: float | None = None, idle_exit: float | None = None) -> CollectStats:
        """Collect until stop(), ``duration`` seconds (no request or backoff wait runs past it), or
        ``idle_exit`` seconds without a new record stored (live or backfilled)."""
        end = None if duration is None else time.monotonic() + duration

        def done() -> bool:
            return self._stop.is_set() or (end is not None and time.monotonic() >= end)

        def left(cap: float) -> float:
            return cap if end is None else max(0.0, min(cap, end - time.monotonic()))

        backoff = BACKOFF_FIRST
        self._last_new = time.monotonic()
        try:
            while not done():
                try:
                    with Device(self.url, timeout=self.timeout, retries=self.retries,
                                queue_max=self.queue_max) as dev:
                        dev.until = end
                        self.state.connected = False
                        while not done():
                            try:
                                if not self.state.connected:
                                    self._connected(dev)
                                    backoff = BACKOFF_FIRST
                                self._collect(dev, left)
                            except NoAnswer as exc:
                                # The line ate the request or its answer every time: the port is still open,
                                # so go on (what was being fetched is asked for again); a device that is gone
                                # shows as a lost connection.
                                self._status(f"{exc}; going on")
                            if self._idle(idle_exit):
                                self._stop.set()
                except RequestDeadline:
                    break
                except DeviceError as exc:
                    self.state.connected = False
                    self._dropped_seen = 0
                    self._status(f"disconnected: {exc}; retrying in {backoff:.2f} s")
                    if self._idle(idle_exit):
                        break
                    self._stop.wait(left(backoff))
                    backoff = min(backoff * 2, self.backoff_max)
        finally:
            self.state.connected = False
            for boot in self._next:  # whatever was heard of and is not stored ends in a gap row
                self._account(boot)
            self.stats.seqs_unreceived = sum(
                b - a + 1 for boot in self._next for a, b, r in self.store.gap_rows(self.device_name, boot)
                if r == GAP_UNRECEIVED)
            if self.alerts:
                self.alerts.reap(wait=2.0 if end is None else min(2.0, max(0.2, end - time.monotonic())))
        return self.stats

    def known_next(self, boot_id: int) -> int:
        """The device's next seq in boot_id as far as this collector has heard (INFO, records); 0: nothing."""
        return self._next.get(boot_id, 0)

    def _idle(self, idle_exit: float | None) -> bool:
        return idle_exit is not None and time.monotonic() - self._last_new > idle_exit

    def _collect(self, dev: Device, left: Callable[[float], float]) -> None:
        """One turn: take the live records that arrived, backfill when something may be missing or it is due."""
        self._take(dev.pending(left(RECEIVE_WAIT_S)))
        if dev.dropped != self._dropped_seen:
            self.stats.records_dropped += dev.dropped - self._dropped_seen
            self._dropped_seen = dev.dropped
            self._suspect = True
        if not self._stop.is_set() and left(1.0) > 0 and (
                self._suspect or time.monotonic() - self._last_backfill >= self.poll_s):
            self._backfill(dev)

    def _connected(self, dev: Device) -> None:
        """INFO, device and profile rows, the sensor started; the first backfill follows at once."""
        info = dev.info()
        if self.on_contact is not None:
            self.on_contact()
            self.on_contact = None
        self._note_info(info)
        self.store.add_device(self.device_name, board=info.board_name, board_id=info.board_id,
                              firmware=info.firmware)
        if info.profile_id:
            self.store.note_profile(info.profile_id, window=info.profile_window, n_channels=info.profile_channels)
            known = self.store.profile(info.profile_id)
            if known:
                self.state.channel_names = list(known.get("channel_names") or [])
                self.state.instant = known.get("instant")
                self.state.cusum_h = known.get("cusum_h")
        if self.sensor_rate:
            try:
                dev.sensor(self.sensor_rate)
            except DeviceError as exc:
                if exc.status != lib.TD_ERR_MODE:
                    raise
                # The board has no sensor: retrying cannot help, so stop with one line instead of looping.
                raise InputError(f"{self.url} has no sensor to sample at {self.sensor_rate} Hz (SENSOR rejected: "
                                 "TD_ERR_MODE); a simulator needs `tinydrift sim --sensor-file REC`") from None
        self.stats.connects += 1
        self.state.connected = True
        self._live_next = None
        self._suspect = True
        self._status(f"connected: {info.board_name} boot {info.boot_id:#010x}, profile {info.profile_id:#010x}")

    # -------------------------------------------------------------------------------- sequence bookkeeping

    def _note_boot(self, boot_id: int) -> None:
        """A record or INFO of boot_id: on a new boot, what the old one still lacks is gone with its RAM."""
        if self._boot is not None and boot_id != self._boot and boot_id not in self._next:
            old = self._boot
            for lo, hi in self.store.missing_ranges(self.device_name, old, self._next.get(old, 0)):
                self._gap(old, lo, hi, GAP_REBOOT)
            self._live_next = None
        self._boot = boot_id
        self._next.setdefault(boot_id, 0)

    def _note_info(self, info: Info) -> None:
        self._note_boot(info.boot_id)
        self._next[info.boot_id] = max(self._next[info.boot_id], info.next_seq)
        self.state.info = info
        self._account(info.boot_id, info.oldest_seq)

    def _account(self, boot: int, oldest: int | None = None) -> None:
        """Every hole below the known next seq in a gap row: below the ring's oldest (when known) as
        overwritten, the rest as 'not received' until fetched."""
        for lo, hi in self.store.missing_ranges(self.device_name, boot, self._next.get(boot, 0)):
            if oldest is not None and lo < oldest:
                self._gap(boot, lo, min(hi, oldest - 1), GAP_OVERWRITTEN)
                lo = oldest
            if lo <= hi:
                self._gap(boot, lo, hi, GAP_UNRECEIVED)

    def _take(self, records: list[TelemetryRecord]) -> None:
        """Store live records; a seq jump means something was lost on the way: backfill soon."""
        for rec in records:
            if self._stop.is_set():
                return  # the queue is dropped with the connection; the ring keeps them for the next run
            self._note_boot(rec.boot_id)
            if rec.boot_id == self._boot:
                if self._live_next is not None and rec.seq > self._live_next:
                    self._suspect = True
                self._live_next = max(self._live_next or 0, rec.seq + 1)
            self._next[rec.boot_id] = max(self._next[rec.boot_id], rec.seq + 1)
            self._store(rec)

    def _backfill(self, dev: Device, info: Info | None = None) -> None:
        """Ask the ring again for every seq of this boot it still holds and the store lacks, in rounds while
        they store something; record what is left: below the ring's oldest as overwritten, the rest as
        'not received' (asked for again next time)."""
        self._suspect = False
        for round_ in range(BACKFILL_ROUNDS):
            if info is None or round_ > 0:
                info = dev.info()
                self._note_info(info)
            boot, oldest = info.boot_id, info.oldest_seq
            # _note_info put every hole in a gap row: below the oldest as overwritten, the rest 'not received'
            # (storing a record cuts it out of its row)
            holes = self.store.missing_ranges(self.device_name, boot, self._next[boot])
            todo = subtract_ranges(holes, [(0, oldest - 1)]) if oldest else holes
            if not todo:
                break
            before = self.stats.records_new
            for lo, hi in fetch_spans(todo, self.fetch_batch):
                for rec in dev.fetch(lo, until_seq=hi + 1, batch=self.fetch_batch):
                    if rec.boot_id == boot:
                        self._store(rec)
                self._take(dev.pending())
            if self.stats.records_new == before:
                break
        if info is not None:  # live records stored meanwhile may have shown newer holes
            self._account(info.boot_id)
        self._last_backfill = time.monotonic()

    def _gap(self, boot_id: int, lo: int, hi: int, reason: str) -> None:
        if self.gap_sink and gap_is_final(reason):
            self.gap_sink(boot_id, lo, hi, reason)
        added = self.store.record_gap(self.device_name, boot_id, lo, hi, reason)
        if added and gap_is_final(reason):
            self.stats.gaps_recorded += 1
            self.stats.seqs_lost += added
            self._status(f"lost records {lo}..{hi} of boot {boot_id:#010x} ({reason})")
            self._decide(boot_id, hi + 1)

    # -------------------------------------------------------------------------------- records and alarms

    def _store(self, rec: TelemetryRecord) -> None:
        if self.record_sink:
            self.record_sink(rec)
        new = self.store.insert_record(self.device_name, rec)
        if new:
            self._last_new = time.monotonic()
            self.stats.records_new += 1
            if rec.replayed:
                self.stats.records_backfilled += 1
            else:
                self.state.arrivals.append(time.monotonic())
        else:
            self.stats.records_duplicate += 1
        if not rec.replayed or self.state.last is None or rec.seq >= self.state.last.seq:
            self.state.last = rec
        if new:
            self._decide(rec.boot_id, rec.seq, rec)
            self._decide(rec.boot_id, rec.seq + 1)
        if self.on_record:
            self.on_record(self.state, rec, new)

    def _decide(self, boot_id: int, seq: int, rec: TelemetryRecord | None = None) -> None:
        """Fire the alert if record seq is an alarm onset (class docstring) that can be decided now."""
        if (boot_id, seq) in self._fired:
            return
        name = self.device_name
        cur = self.store.alarm_state(name, boot_id, seq)
        if cur is None or cur["seq"] != seq or not cur["alarm"]:
            return
        onset = cur["window"] == 0 or seq == 0
        if not onset:
            before = seq - 1
            while True:  # walk back over gap rows of a final reason to the nearest stored record
                prev = self.store.alarm_state(name, boot_id, before)
                if prev is not None and prev["seq"] == before:
                    break
                row = next((g for g in self.store.gap_rows(name, boot_id) if g[0] <= before <= g[1]), None)
                if row is None or not gap_is_final(row[2]):
                    return  # the predecessor may still arrive: decided when it does
                if row[0] == 0:
                    prev = None
                    break
                before = row[0] - 1
            onset = prev is None or not (prev["alarm"] and prev["profile_id"] == cur["profile_id"] and
                                         cur["window"] - prev["window"] == seq - prev["seq"])
        if not onset:
            return
        self._fired.add((boot_id, seq))
        self.stats.alarms += 1
        if self.alerts or self.onset_sink:
            if rec is None:
                rec = self.store.telemetry_records(name, boot_id, seq=seq)[0]
            if self.onset_sink:
                self.onset_sink(rec)
            if self.alerts:
                self.alerts.fire(record_json(rec, self.state.channel_names))
