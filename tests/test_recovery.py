"""The host's link recovery rules, one by one, against scripted fake devices and set-based oracles.

- a request's retry interval is fixed: streaming telemetry cannot extend it;
- the telemetry queue is bounded: the newest records are dropped and counted, never silently;
- backfill asks the ring again for every record it still holds, until stored or provably overwritten;
- gap rows are maximal runs of missing seqs, never holding a stored one (property test vs sets);
- an alarm onset fires its alert once, whatever order the records arrive in;
- ``run(duration=...)`` returns within a fraction of a second of the limit.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydrift.device import messages as link
from tinydrift.device.client import Device
from tinydrift.device.messages import Ack, Info
from tinydrift.device.port import NoAnswer, RequestDeadline
from tinydrift.device.protocol import FrameReader
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.collect import Collector
from tinydrift.telemetry.gaps import GAP_OVERWRITTEN, GAP_REBOOT, GAP_UNRECEIVED, gap_is_final
from tinydrift.telemetry.store import TelemetryStore

BOOT = 7
PROFILE = 0x1234


def record(seq: int, alarm: bool = False, window: int | None = None, replayed: bool = False,
           profile_id: int = PROFILE) -> TelemetryRecord:
    """A one-channel record whose values encode its seq (so a mix-up shows)."""
    return TelemetryRecord(seq, BOOT, profile_id, seq if window is None else window, 100 * seq, float(seq), float(seq),
                           0.0, 0.0, 2 if alarm else 0, alarm, 0, 0, 0, 0, 0, 0, (float(seq),), (1.0,), (0.5,), (0.25,),
                           (0,), (0,), replayed=replayed)


def info_frame(request_seq: int, next_seq: int, oldest_seq: int, boot_id: int = BOOT) -> bytes:
    return link.encode(Info(request_seq=request_seq, board_id=1, active_slot=0, max_payload=352, boot_id=boot_id,
                            firmware_version=0x100, profile_id=PROFILE, profile_channels=1, max_channels=16,
                            profile_window=10, next_seq=next_seq, oldest_seq=oldest_seq, ring_capacity=128,
                            sensor_rate_hz=0, frames_processed=0, link_errors=0, board_name="fake"), 1)


class FakeBoard:
    """A TCP server speaking the link protocol: ``respond(frame) -> list of wire bytes``, plus an optional
    ``stream()`` that sends live frames every ``period`` seconds for ``stream_s`` seconds of a connection. Accepts one
    client after another; ``received`` holds (time, frame) of every request."""

    def __init__(self, respond: Callable[[link.Frame], list[bytes]],
                 stream: Callable[[], bytes] | None = None, period: float = 0.02, stream_s: float = 4.0) -> None:
        self.respond, self.stream, self.period, self.stream_s = respond, stream, period, stream_s
        self.received: list[tuple[float, link.Frame]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        reader = FrameReader()
        lock = threading.Lock()
        gone = threading.Event()

        def streamer() -> None:  # for stream_s seconds: a host that waits for silence fails, never hangs
            end = time.monotonic() + self.stream_s
            while not gone.is_set() and not self.closed.is_set() and time.monotonic() < end:
                data = self.stream() if self.stream else b""
                if data:
                    with lock:
                        try:
                            conn.sendall(data)
                        except OSError:
                            return
                time.sleep(self.period)

        if self.stream:
            threading.Thread(target=streamer, daemon=True).start()
        with conn:
            conn.settimeout(0.05)
            while not self.closed.is_set():
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                for frame in reader.feed(data):
                    self.received.append((time.monotonic(), frame))
                    out = b"".join(self.respond(frame))
                    if out:
                        with lock:
                            conn.sendall(out)
        gone.set()

    def close(self) -> None:
        self.closed.set()
        self.server.close()


def live_stream() -> Callable[[], bytes]:
    counter = iter(range(10**9))
    return lambda: link.encode(record(next(counter)), 0)


# ------------------------------------------------------------------------------------------ deadlines


def test_streaming_cannot_extend_a_requests_retry_interval() -> None:
    """The device streams 50 records/s and ignores the first INFO_REQ: the retry goes out one timeout after
    the first send (not when the stream pauses), and the second answer arrives."""
    def respond(frame: link.Frame) -> list[bytes]:
        infos = [f for _, f in board.received if f.type == link.MSG_INFO_REQ]
        return [info_frame(frame.seq, 0, 0)] if frame.type == link.MSG_INFO_REQ and len(infos) >= 2 else []

    board = FakeBoard(respond, stream=live_stream())
    try:
        with Device(board.url, timeout=0.3, retries=3) as dev:
            time.sleep(0.1)  # the stream is running
            t0 = time.monotonic()
            info = dev.info()
            took = time.monotonic() - t0
            sends = [t for t, f in board.received if f.type == link.MSG_INFO_REQ]
            assert info.board_name == "fake"
            assert len(sends) == 2 and sends[1] - sends[0] == pytest.approx(0.3, abs=0.1)
            assert took < 0.6
            assert len(dev.pending()) > 5  # the stream meanwhile went to the queue
    finally:
        board.close()


def test_unanswered_request_gives_up_after_tries_times_timeout_while_streaming() -> None:
    board = FakeBoard(lambda frame: [], stream=live_stream())
    try:
        with Device(board.url, timeout=0.2, retries=3) as dev:
            t0 = time.monotonic()
            with pytest.raises(NoAnswer, match="after 3 tries"):
                dev.info()
            assert time.monotonic() - t0 == pytest.approx(0.6, abs=0.15)
            assert len({f.seq for _, f in board.received}) == 1  # every try with the same seq
            dev.until = time.monotonic() + 0.25  # an absolute deadline cuts a request short
            t0 = time.monotonic()
            with pytest.raises(RequestDeadline):
                dev.info()
            assert time.monotonic() - t0 < 0.35
    finally:
        board.close()


# ------------------------------------------------------------------------------------------ bounded queue


def test_full_telemetry_queue_drops_the_newest_and_counts_them() -> None:
    def respond(frame: link.Frame) -> list[bytes]:
        if frame.type == link.MSG_INFO_REQ:  # 50 live records, then the answer
            return [link.encode(record(s), s) for s in range(50)] + [info_frame(frame.seq, 50, 0)]
        return []

    board = FakeBoard(respond)
    try:
        with Device(board.url, timeout=1.0, queue_max=10) as dev:
            dev.info()
            assert [r.seq for r in dev.pending()] == list(range(10))  # the oldest kept, in order
            assert dev.dropped == 40
    finally:
        board.close()


# ------------------------------------------------------------------------------------------ backfill


class RingBoard:
    """A fake device with a ring of records [oldest, next) that loses replayed frames by a rule."""

    def __init__(self, next_seq: int, oldest: int, lose: Callable[[int, int], bool],
                 alarm: Callable[[int], bool] = lambda s: False) -> None:
        self.next_seq, self.oldest, self.lose, self.alarm = next_seq, oldest, lose, alarm
        self.asked: dict[int, int] = {}  # seq -> times replayed
        self.fetches: list[tuple[int, int]] = []
        self.board = FakeBoard(self.respond)
        self.url = self.board.url

    def respond(self, frame: link.Frame) -> list[bytes]:
        if frame.type == link.MSG_INFO_REQ:
            return [info_frame(frame.seq, self.next_seq, self.oldest)]
        if frame.type == link.MSG_FETCH:
            req = link.Fetch.unpack(frame.payload)
            self.fetches.append((req.from_seq, req.max_records))
            seq, out = max(req.from_seq, self.oldest), []
            while seq < self.next_seq and len(out) < req.max_records:
                n = self.asked[seq] = self.asked.get(seq, 0) + 1
                if not self.lose(seq, n):
                    out.append(link.encode(record(seq, self.alarm(seq), replayed=True), seq))
                else:
                    out.append(b"\x00")
                seq += 1
            return out + [link.encode(Ack(link.MSG_FETCH, frame.seq, seq), 0)]
        return [link.encode(Ack(frame.type, frame.seq, 0), 0)]

    def close(self) -> None:
        self.board.close()


def test_backfill_asks_again_until_every_record_the_ring_holds_is_stored(tmp_path) -> None:
    """The ring holds 40..99 (0..39 overwritten); every replayed frame is lost the first two times it is sent.
    The store ends with 40..99, one 'overwritten' gap row 0..39, and no other gap."""
    ring = RingBoard(100, 40, lose=lambda seq, n: n <= 2)
    try:
        with TelemetryStore(tmp_path / "t.db") as store:
            stats = Collector(ring.url, store, timeout=0.3, poll_s=0.1).run(idle_exit=1.0)
            assert store.stored_seqs(ring.url, BOOT) == list(range(40, 100))
            assert store.gap_rows(ring.url, BOOT) == [(0, 39, GAP_OVERWRITTEN)]
            assert stats.seqs_lost == 40 and stats.records_backfilled == 60
            assert all(ring.asked[s] == 3 for s in range(40, 100))  # asked again, never given up on
    finally:
        ring.close()


def test_records_the_ring_still_holds_are_never_final_gaps(tmp_path) -> None:
    """Seqs 10..14 never get through: they stay 'not received' (retried) while the ring holds them, and become
    'overwritten' only once INFO shows the ring's oldest past them."""
    ring = RingBoard(30, 0, lose=lambda seq, n: 10 <= seq <= 14)
    try:
        with TelemetryStore(tmp_path / "t.db") as store:
            Collector(ring.url, store, timeout=0.3, poll_s=0.1).run(idle_exit=0.8)
            assert store.gap_rows(ring.url, BOOT) == [(10, 14, GAP_UNRECEIVED)]
            assert min(ring.asked[s] for s in range(10, 15)) >= 3  # re-asked at every backfill
            ring.oldest, ring.next_seq = 13, 40  # the ring moved on: 10..12 are gone, 13..14 still there
            stats = Collector(ring.url, store, timeout=0.3).run(idle_exit=0.8)
            assert store.gap_rows(ring.url, BOOT) == [(10, 12, GAP_OVERWRITTEN), (13, 14, GAP_UNRECEIVED)]
            assert stats.seqs_lost == 3
            assert store.stored_seqs(ring.url, BOOT) == [s for s in range(40) if not 10 <= s <= 14]
    finally:
        ring.close()


# ------------------------------------------------------------------------------------------ gap arithmetic

OPS = st.lists(st.one_of(
    st.tuples(st.just("store"), st.integers(0, 40)),
    st.tuples(st.sampled_from([GAP_UNRECEIVED, GAP_OVERWRITTEN, GAP_REBOOT]), st.integers(0, 40), st.integers(0, 12)),
), min_size=1, max_size=30)


def oracle_rows(reasons: dict[int, str]) -> list[tuple[int, int, str]]:
    """Maximal runs of consecutive seqs with one reason."""
    rows: list[tuple[int, int, str]] = []
    for s in sorted(reasons):
        if rows and rows[-1][1] == s - 1 and rows[-1][2] == reasons[s]:
            rows[-1] = (rows[-1][0], s, reasons[s])
        else:
            rows.append((s, s, reasons[s]))
    return rows


@settings(max_examples=80, deadline=None)
@given(ops=OPS)
def test_gap_rows_equal_a_set_based_oracle(ops, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("gaps") / "t.db"
    stored: set[int] = set()
    reasons: dict[int, str] = {}
    with TelemetryStore(path) as store:
        for op in ops:
            if op[0] == "store":
                store.insert_record("dev", record(op[1]))
                stored.add(op[1])
                reasons.pop(op[1], None)
            else:
                reason, lo, length = op
                expect = 0
                for s in range(lo, lo + length + 1):
                    if s in stored or (s in reasons and (gap_is_final(reasons[s]) or not gap_is_final(reason))):
                        continue
                    reasons[s] = reason
                    expect += 1
                assert store.record_gap("dev", BOOT, lo, lo + length, reason) == expect
            rows = store.gap_rows("dev", BOOT)
            assert rows == oracle_rows(reasons)
            assert not any(lo <= s <= hi for lo, hi, _ in rows for s in stored)  # never a stored seq


# ------------------------------------------------------------------------------------------ alerts


def alarm_pattern() -> list[bool]:
    """Three alarms: windows 5-9, 15-24 (reset at 25), 30-39."""
    return [5 <= s <= 9 or 15 <= s <= 24 or 30 <= s <= 39 for s in range(40)]


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(list(range(40))))
def test_alert_fires_once_per_onset_whatever_the_arrival_order(order, tmp_path_factory) -> None:
    alarms = alarm_pattern()
    path = tmp_path_factory.mktemp("alerts") / "t.db"
    with TelemetryStore(path) as store:
        onsets: list[int] = []
        col = Collector("dev", store, onset_sink=lambda rec: onsets.append(rec.seq))
        for i, seq in enumerate(order):
            col._store(record(seq, alarms[seq], replayed=i % 2 == 1))
            col._store(record(order[i // 2], alarms[order[i // 2]]))  # duplicates change nothing
        assert sorted(s for _, s in col._fired) == [5, 15, 30]
        assert col.stats.alarms == 3
        assert sorted(onsets) == [5, 15, 30]  # what `monitor --mqtt` publishes as alarm events: each once


def test_the_gateway_publishes_one_alarm_event_per_onset_in_any_arrival_order(tmp_path) -> None:
    """`monitor --mqtt` under load: live records dropped and backfilled arrive out of order. The gateway
    used to call a record an onset whenever its predecessor had not arrived yet (4 extra onsets in a
    make test run); it now publishes the Collector's onsets."""
    import json
    from types import SimpleNamespace

    from tinydrift.fleet.gateway import GatewaySink

    sent: list[tuple[str, bytes]] = []
    pub = SimpleNamespace(url=SimpleNamespace(prefix="p"), put=lambda msgs, marks=None: sent.extend(msgs))
    sink = GatewaySink(pub, "gw", "dev")  # type: ignore[arg-type]
    alarms = alarm_pattern()
    order = [s for s in range(40) if s % 3 == 0] + [s for s in range(40) if s % 3 != 0][::-1]
    with TelemetryStore(tmp_path / "t.db") as store:
        col = Collector("dev", store, record_sink=sink.record, onset_sink=sink.onset)
        for seq in order:
            col._store(record(seq, alarms[seq]))
    events = [json.loads(raw)["event"]["seq"] for topic, raw in sent if topic.endswith("/alarm")]
    assert sorted(events) == [5, 15, 30]
    assert sorted(json.loads(raw)["record"]["seq"] for topic, raw in sent if topic.endswith("/record")) == list(
        range(40))


def test_alert_after_a_lost_stretch(tmp_path) -> None:
    """Onsets next to records lost for good: decided when the loss is recorded, once."""
    alarms = alarm_pattern()
    with TelemetryStore(tmp_path / "t.db") as store:
        col = Collector("dev", store)
        for seq in [s for s in range(40) if s not in (3, 4, 13, 14, 20, 21)]:  # 5's and 15's predecessors missing
            col._store(record(seq, alarms[seq]))
        assert sorted(s for _, s in col._fired) == [30]  # 5 and 15 wait: 4 and 14 may still arrive
        col._gap(BOOT, 13, 14, GAP_UNRECEIVED)
        assert col.stats.alarms == 1
        col._gap(BOOT, 13, 14, GAP_OVERWRITTEN)  # gone: 12 (unlatched) is the predecessor
        col._gap(BOOT, 20, 21, GAP_OVERWRITTEN)  # inside the alarm: 19 latched, same run, no new onset
        col._gap(BOOT, 3, 4, GAP_OVERWRITTEN)
        assert sorted(s for _, s in col._fired) == [5, 15, 30] and col.stats.alarms == 3
        # a new profile (window index 0) starts with the alarm cleared: latched there is an onset
        col._store(record(40, True, window=0, profile_id=0x999))
        assert (BOOT, 40) in col._fired


# ------------------------------------------------------------------------------------------ duration


@pytest.mark.parametrize("case", ["refused", "silent", "streaming"])
def test_duration_is_honoured(case: str, tmp_path) -> None:
    if case == "refused":
        s = socket.create_server(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{s.getsockname()[1]}"
        s.close()
        board = None
    else:
        board = FakeBoard(lambda frame: [], stream=live_stream() if case == "streaming" else None)
        url = board.url
    try:
        with TelemetryStore(tmp_path / "t.db") as store:
            t0 = time.monotonic()
            Collector(url, store, timeout=1.0, backoff_max=8.0).run(duration=1.3)
            assert 1.3 <= time.monotonic() - t0 < 1.6
    finally:
        if board:
            board.close()


def test_shuffled_replays_through_a_lossy_fetch_store_everything_once(tmp_path) -> None:
    """Random losses of replayed frames (seeded): the store ends with every record, no gap row, one alert."""
    rng = random.Random(3)
    alarms = alarm_pattern()
    ring = RingBoard(40, 0, lose=lambda seq, n: rng.random() < 0.5, alarm=lambda s: alarms[s])
    try:
        with TelemetryStore(tmp_path / "t.db") as store:
            col = Collector(ring.url, store, timeout=0.3, poll_s=0.05)
            col.run(idle_exit=1.5)
            assert store.stored_seqs(ring.url, BOOT) == list(range(40))
            assert store.gap_rows(ring.url, BOOT) == []
            assert sorted(s for _, s in col._fired) == [5, 15, 30]
    finally:
        ring.close()


def test_monitor_cli_duration_and_bad_values(tmp_path) -> None:
    """`tinydrift monitor --duration 1.5` against a device that streams but never answers: it stops on time
    (its one-line error reports the seconds spent); a negative duration is refused."""
    import re
    import subprocess
    import sys

    board = FakeBoard(lambda frame: [], stream=live_stream())
    try:
        proc = subprocess.run([sys.executable, "-m", "tinydrift", "monitor", "--port", board.url, "--db",
                               str(tmp_path / "m.db"), "--plain", "--duration", "1.5"],
                              capture_output=True, text=True, timeout=60)
        spent = float(re.search(r"never connected to \S+ in ([0-9.]+) s: ", proc.stderr).group(1))
        assert 1.5 <= spent <= 1.8, proc.stderr
        assert proc.returncode == 1 and "never connected" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        board.close()
    proc = subprocess.run([sys.executable, "-m", "tinydrift", "monitor", "--port", "x", "--db", str(tmp_path / "n.db"),
                           "--duration", "-1"], capture_output=True, text=True, timeout=60)
    # a bad value is a usage error (exit 2, argparse's usage line, then one error line), as every range check
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == ("tinydrift monitor: error: argument --duration: must be a positive "
                                            "number of seconds, got -1")
    assert not (tmp_path / "n.db").exists()
