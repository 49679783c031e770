"""A tinydrift device over its serial link: info, profile upload, injection, telemetry, backfill.

Any pyserial URL works: a board's ``/dev/ttyACM0``, ``socket://127.0.0.1:PORT`` for the
simulators, a pty path. One request is in flight at a time (docs/protocol.md); every
request is retried with the same seq every ``timeout`` seconds, ``retries`` times in all:
frames that do not answer it (streaming telemetry, logs) never extend that interval.
TELEMETRY frames that arrive while a request waits for its answer are queued (or, for
``inject`` and ``fetch``, returned by that call). The queue is bounded (``queue_max``):
when it is full the newest record is dropped and counted in ``dropped``; the device's
ring still holds it, so a FETCH gets it back (``tinydrift.telemetry.collect`` does).

    >>> with Device("socket://127.0.0.1:5555") as dev:
    ...     dev.upload_profile(load_profile("ref.tdp"))
    ...     records = dev.inject(frames)          # telemetry of the windows the frames complete
    ...     dev.inject_embeddings(emb)            # external-embedding profiles: int8 (n x n_dims)
    ...     seqs = dev.inject_outputs(probs)      # outputs profiles: int8 (n x n_classes) -> inference numbers
    ...     dev.label(seqs, true_classes)         # ground truth, whenever it arrives
    ...     for rec in dev.telemetry(timeout=5):  # live records (sensor sampling)
    ...         print(rec.seq, rec.score)
"""

from __future__ import annotations

import logging
import random
import select
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Union

import numpy as np
import serial

from tinydrift.core.errors import InputError, ProfileError
from tinydrift.device.protocol import (
    DeviceError, Frame, FrameReader, MAX_CHUNK, MAX_EMBEDDING_VALUES, MAX_INJECT_VALUES, MAX_LABEL_PAIRS, MAX_OUTPUTS_VALUES, MSG_ACK, MSG_FETCH, MSG_INFO, MSG_INFO_REQ, MSG_INJECT, MSG_INJECT_EMBEDDING, MSG_INJECT_OUTPUTS, MSG_LABEL, MSG_LOG, MSG_NACK, MSG_RESET_ALARM, MSG_SENSOR, MSG_TELEMETRY, MSG_UPLOAD_ABORT, MSG_UPLOAD_BEGIN, MSG_UPLOAD_CHUNK, MSG_UPLOAD_COMMIT, ProtocolError, encode_frame, message_name,
)
from tinydrift.device.port import NoAnswer, RequestDeadline, close_port, os_reason as _reason
from tinydrift.device.records import TelemetryRecord
from tinydrift.device.messages import Ack, Fetch, Info, Label, Log, Nack, Sensor, UploadBegin, UploadChunk
from tinydrift.core.monitor import as_frames, parse_events
from tinydrift.core.profile import Profile, load_profile, validate

log = logging.getLogger("tinydrift.device")

ProfileSource = Union[Profile, bytes, bytearray, str, Path]
Progress = Callable[[int, int], None]
RecordSink = Callable[[TelemetryRecord], bool]

DEFAULT_TIMEOUT = 1.0
DEFAULT_RETRIES = 3
DEFAULT_QUEUE_MAX = 1024
FETCH_BATCH = 128
_READ_SIZE = 65536


def _profile_blob(profile: ProfileSource) -> bytes:
    if isinstance(profile, Profile):
        return profile.to_bytes()
    if isinstance(profile, (bytes, bytearray)):
        blob = bytes(profile)
        validate(blob)
        return blob
    return load_profile(profile).to_bytes()


class Device:
    """A connection to one tinydrift device (context manager; ``close()`` when done).

    timeout: seconds after sending a request before it is sent again with the same seq. Only
    frames that belong to the request (records a FETCH replays, the windows an INJECT
    completes) restart that clock; streaming telemetry and logs never do.
    retries: attempts per request before DeviceError("no answer ...").
    frame_hook: optional ``f(frame) -> bool`` called on every received frame; returning
    False drops the frame (tests use it to simulate lost telemetry).
    queue_max: live records kept while no one reads them; past it the newest is dropped and
    counted in ``dropped`` (the device's ring keeps it for FETCH).
    until: optional ``time.monotonic()`` value; a request still waiting then raises
    RequestDeadline (the collector's ``--duration``).
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 baudrate: int = 115200, frame_hook: Callable[[Frame], bool] | None = None,
                 queue_max: int = DEFAULT_QUEUE_MAX) -> None:
        if timeout <= 0 or retries < 1 or queue_max < 1:
            raise ValueError("timeout must be > 0, retries >= 1 and queue_max >= 1")
        self.url = str(url)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.frame_hook = frame_hook
        self.reader = FrameReader()
        self.logs: deque[Log] = deque(maxlen=1000)
        self.queue_max = int(queue_max)
        self.dropped = 0
        self.until: float | None = None
        self._queue: deque[TelemetryRecord] = deque()
        self._seq = random.randrange(0x10000)
        self._channels: int | None = None
        self._embedding_dims: int | None = None  # n_dims of the external-embedding profile this session uploaded
        self._n_classes: int | None = None  # n_classes of the outputs section of the profile this session uploaded
        try:
            self._port = serial.serial_for_url(self.url, baudrate=baudrate, timeout=0,
                                               write_timeout=max(5.0, 3 * self.timeout))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open {self.url}: {_reason(exc)}") from None
        try:
            self._fd: int | None = self._port.fileno()
        except Exception:  # loop://, spy://, Windows: poll instead of select
            self._fd = None
        try:
            self._write(b"\x00")  # flush a stale partial frame in the device's decoder
        except DeviceError:
            self.close()
            raise

    # -------------------------------------------------------------------------------- lifetime

    def close(self) -> None:
        port = getattr(self, "_port", None)
        if port is not None:
            close_port(port)
            self._port = None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    # -------------------------------------------------------------------------------- transport

    def _lost(self, exc: BaseException) -> DeviceError:
        return DeviceError(f"lost connection to device at {self.url}: {_reason(exc)}")

    def _write(self, data: bytes) -> None:
        if self._port is None:
            raise DeviceError(f"device at {self.url} is closed")
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException:
            raise DeviceError(f"device at {self.url} does not accept data (write timed out)") from None
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests: garbage, truncated frames)."""
        self._write(bytes(data))

    def _read(self, wait: float) -> bytes:
        """Bytes available now, waiting up to ``wait`` seconds for the first."""
        if self._port is None:
            raise DeviceError(f"device at {self.url} is closed")
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, wait))
                if not ready:
                    return b""
                return self._port.read(_READ_SIZE)
            end = time.monotonic() + wait
            while True:
                n = self._port.in_waiting
                if n:
                    return self._port.read(n)
                if time.monotonic() >= end:
                    return b""
                time.sleep(0.001)
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None

    def _frames(self, wait: float) -> list[Frame]:
        data = self._read(wait)
        if not data:
            return []
        frames = self.reader.feed(data)
        if self.frame_hook is not None:
            frames = [f for f in frames if self.frame_hook(f)]
        return frames

    def _handle(self, frame: Frame, sink: RecordSink | None) -> bool:
        """Route an unsolicited frame: telemetry to sink (if it takes it) or the bounded queue, logs to
        ``logs``. True when the sink took it (the frame belongs to the request being answered)."""
        try:
            if frame.type == MSG_TELEMETRY:
                rec = TelemetryRecord.unpack(frame.payload)
                if sink is not None and sink(rec):
                    return True
                if len(self._queue) >= self.queue_max:
                    self.dropped += 1  # the newest goes; the ring keeps it for FETCH
                    log.debug("%s: telemetry queue full, dropped seq %d", self.url, rec.seq)
                else:
                    self._queue.append(rec)
            elif frame.type == MSG_LOG:
                entry = Log.unpack(frame.payload)
                self.logs.append(entry)
                log.log(10 * (entry.level + 1), "%s: %s", self.url, entry.text)
            else:
                log.debug("%s: ignored %r", self.url, frame)
        except ProtocolError as exc:
            log.warning("%s: %s", self.url, exc)
        return False

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    # -------------------------------------------------------------------------------- requests

    def request(self, msg_type: int, payload: bytes = b"", *, tries: int | None = None,
                timeout: float | None = None, sink: RecordSink | None = None) -> Ack | Info:
        """Send one request and return its ACK (or INFO); NACK raises DeviceError with the td_status.

        Sent again with the same seq ``timeout`` seconds after each send, ``tries`` times in all; only
        records ``sink`` takes (this request's own output) restart the clock, streaming never does.
        TELEMETRY the sink does not take goes to the bounded telemetry queue. Past ``self.until`` it
        raises RequestDeadline.
        """
        tries = self.retries if tries is None else tries
        timeout = self.timeout if timeout is None else timeout
        seq = self._next_seq()
        # A leading 0x00 ends any partial frame the device holds (noise, a write cut short): no request is
        # ever swallowed by a stale prefix. Empty frames are ignored by the decoder and not counted.
        wire = b"\x00" + encode_frame(msg_type, seq, payload)
        for _ in range(tries):
            self._check_until(msg_type)
            self._write(wire)
            attempt_end = time.monotonic() + timeout
            while True:
                now = time.monotonic()
                end = attempt_end if self.until is None else min(attempt_end, self.until)
                if now >= end:
                    break
                for frame in self._frames(end - now):
                    answer = self._answer(frame, msg_type, seq)
                    if answer is None:
                        if self._handle(frame, sink):
                            attempt_end = time.monotonic() + timeout  # the device is answering this request
                    elif isinstance(answer, Nack):
                        raise DeviceError(f"device at {self.url}: {answer.describe()}", answer.error)
                    else:
                        return answer
        self._check_until(msg_type)
        raise NoAnswer(f"no answer from device at {self.url} after {tries} tries "
                          f"({message_name(msg_type)}, {timeout:g} s each)")

    def _check_until(self, msg_type: int) -> None:
        if self.until is not None and time.monotonic() >= self.until:
            raise RequestDeadline(f"deadline reached waiting for device at {self.url} ({message_name(msg_type)})")

    def _answer(self, frame: Frame, msg_type: int, seq: int) -> Ack | Nack | Info | None:
        """The frame as the answer to (msg_type, seq), or None if it answers something else."""
        try:
            if frame.type == MSG_INFO and msg_type == MSG_INFO_REQ:
                info = Info.unpack(frame.payload)
                return info if info.request_seq == seq else None
            if frame.type in (MSG_ACK, MSG_NACK):
                ans: Ack | Nack = (Ack if frame.type == MSG_ACK else Nack).unpack(frame.payload)
                return ans if (ans.request_type, ans.request_seq) == (msg_type, seq) else None
        except ProtocolError as exc:
            log.warning("%s: %s", self.url, exc)
        return None

    def _ack(self, msg_type: int, payload: bytes = b"", **kwargs: object) -> Ack:
        answer = self.request(msg_type, payload, **kwargs)  # type: ignore[arg-type]
        if not isinstance(answer, Ack):  # pragma: no cover - _answer matches types
            raise ProtocolError(f"unexpected answer to {message_name(msg_type)}")
        return answer

    # -------------------------------------------------------------------------------- API

    def info(self) -> Info:
        """Board, firmware, active profile, telemetry ring and link counters."""
        answer = self.request(MSG_INFO_REQ)
        assert isinstance(answer, Info)
        self._channels = answer.profile_channels
        return answer

    def upload_profile(self, profile: ProfileSource, chunk: int = MAX_CHUNK, retries: int | None = None,
                       progress: Progress | None = None) -> int:
        """Write a profile into the device's inactive slot and switch to it atomically; returns its id.

        profile: a Profile, a blob, or a .tdp path (validated by the C parser first).
        chunk: bytes per UPLOAD_CHUNK (1..256). progress(bytes_acknowledged, total) after each chunk.
        A failure at any point leaves the previously active profile active.
        """
        if not 1 <= chunk <= MAX_CHUNK:
            raise ValueError(f"chunk must be 1..{MAX_CHUNK} bytes, got {chunk}")
        try:
            blob = _profile_blob(profile)
        except ProfileError as exc:
            raise DeviceError(f"not uploading: {exc}", exc.status) from None
        total = len(blob)
        expected_id = struct.unpack_from("<I", blob, 12)[0]
        n_dims, flags = blob[17], struct.unpack_from("<H", blob, 22)[0]
        self._channels = None
        self._embedding_dims = None
        self._n_classes = None
        n_classes = _outputs_classes(blob)
        self._ack(MSG_UPLOAD_BEGIN, UploadBegin(total, zlib.crc32(blob)).pack(), tries=retries)
        if progress:
            progress(0, total)
        for offset in range(0, total, chunk):
            data = blob[offset : offset + chunk]
            ack = self._ack(MSG_UPLOAD_CHUNK, UploadChunk(offset, data).pack(), tries=retries)
            if ack.value != offset + len(data):
                self._abort_quietly()
                raise DeviceError(f"device at {self.url} acknowledged {ack.value} bytes after the chunk at offset "
                                  f"{offset}, expected {offset + len(data)}")
            if progress:
                progress(offset + len(data), total)
        try:
            ack = self._ack(MSG_UPLOAD_COMMIT, tries=retries)
        except DeviceError as exc:
            # A COMMIT whose ACK was lost is NACKed TD_ERR_STATE on retry: the profile may be active already.
            if exc.status is not None and exc.status == _TD_ERR_STATE and self.info().profile_id == expected_id:
                self._embedding_dims = n_dims if flags & _FLAG_EXTERNAL_EMBEDDING else None
                self._n_classes = n_classes
                return expected_id
            raise
        if ack.value != expected_id:
            raise DeviceError(f"device at {self.url} activated profile {ack.value:#010x}, expected "
                              f"{expected_id:#010x}")
        self._embedding_dims = n_dims if flags & _FLAG_EXTERNAL_EMBEDDING else None
        self._n_classes = n_classes
        return int(ack.value)

    def abort_upload(self) -> None:
        """Abandon an upload in progress (the active profile stays)."""
        self._ack(MSG_UPLOAD_ABORT)

    def _abort_quietly(self) -> None:
        try:
            self.abort_upload()
        except DeviceError:
            pass

    def _profile_channels(self) -> int:
        if self._channels is None:
            self.info()
        assert self._channels is not None
        return self._channels

    def inject(self, frames: object, rate_hz: float | None = None,
               on_record: Callable[[TelemetryRecord], None] | None = None) -> list[TelemetryRecord]:
        """Feed frames (n x channels int16) to the device's monitor as if sampled; return the telemetry
        of the windows they complete, in order.

        Frames go out in INJECT messages of whole frames (at most 160 values each), each
        acknowledged before the next; rate_hz paces them (frames per second), else as fast as
        acknowledged. on_record(record) is called as each record arrives.
        """
        n_channels = self._profile_channels()
        if n_channels == 0:
            raise DeviceError(f"device at {self.url} has no active profile; upload one first")
        arr = as_frames(frames, n_channels)
        per_message = MAX_INJECT_VALUES // n_channels
        out: list[TelemetryRecord] = []

        def sink(rec: TelemetryRecord) -> bool:
            if rec.replayed:
                return False
            out.append(rec)
            if on_record is not None:
                on_record(rec)
            return True

        start = time.monotonic()
        for first in range(0, len(arr), per_message):
            block = arr[first : first + per_message]
            if rate_hz:
                delay = start + (first + len(block)) / rate_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            payload = np.ascontiguousarray(block, dtype="<i2").tobytes()
            ack = self._ack(MSG_INJECT, payload, sink=sink)
            if ack.value != len(block):
                raise DeviceError(f"device at {self.url} accepted {ack.value} of {len(block)} injected frames")
        return out

    def inject_embeddings(self, embeddings: object) -> int:
        """External-embedding profiles: add int8 embeddings (n x n_dims, or one embedding as a 1-D array) to
        the window being filled on the device, in order; returns how many were accepted.

        They go out in INJECT_EMBEDDING messages of whole embeddings (at most 320 values each), each
        acknowledged before the next. A window's embedding is the mean of those added before its last
        frame: interleave with ``inject`` (or use ``inject_stream``) to place them. Embeddings complete no
        window, so there is no telemetry to return. The device NACKs a PCA profile (TD_ERR_MODE) and a
        window that would hold more than 65,535 embeddings (TD_ERR_CAPACITY; earlier messages of this call
        stay accepted). When this session uploaded the profile, the embedding width is checked here first.
        """
        arr = np.asarray(embeddings)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise InputError(f"embeddings must be a 2-D array (n x n_dims), got shape {arr.shape}")
        if self._embedding_dims is not None and arr.shape[1] != self._embedding_dims:
            raise InputError(f"embeddings have {arr.shape[1]} values but the profile expects {self._embedding_dims}")
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -128 or arr.max() > 127):
            raise InputError("embeddings must be int8 values (-128..127)")
        arr = np.ascontiguousarray(arr, dtype=np.int8)
        per_message = MAX_EMBEDDING_VALUES // arr.shape[1]
        if per_message < 1:
            raise InputError(f"{arr.shape[1]}-value embeddings do not fit one message ({MAX_EMBEDDING_VALUES})")
        accepted = 0
        for first in range(0, len(arr), per_message):
            block = arr[first : first + per_message]
            ack = self._ack(MSG_INJECT_EMBEDDING, block.tobytes())
            if ack.value != len(block):
                raise DeviceError(f"device at {self.url} accepted {ack.value} of {len(block)} injected embeddings "
                                  f"(embedding width {arr.shape[1]} does not match the profile?)")
            accepted += len(block)
        return accepted

    def inject_outputs(self, probs: object) -> list[int]:
        """Outputs profiles: add inferences' int8 class probabilities (n x n_classes, or one vector as a 1-D
        array) to the window being filled on the device, in order; returns their inference numbers.

        The device numbers inferences from 0 after the profile became active (like ``Monitor.push_outputs``),
        consecutively mod 2^32. They go out in INJECT_OUTPUTS messages of whole vectors (at most 320 values
        each), each acknowledged (ACK value = the number of its first vector) before the next. No window
        completes, so there is no telemetry. The device NACKs a profile without an outputs section
        (TD_ERR_MODE) and a window that would hold more than 65,535 inferences (TD_ERR_CAPACITY; earlier
        messages of this call stay accepted). When this session uploaded the profile, the width is checked
        here first.
        """
        arr = np.asarray(probs)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise InputError(f"outputs must be a 2-D array (n x n_classes), got shape {arr.shape}")
        if self._n_classes is not None and arr.shape[1] != self._n_classes:
            raise InputError(f"outputs have {arr.shape[1]} values but the profile has {self._n_classes} classes")
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -128 or arr.max() > 127):
            raise InputError("outputs must be int8 values (-128..127)")
        arr = np.ascontiguousarray(arr, dtype=np.int8)
        per_message = MAX_OUTPUTS_VALUES // arr.shape[1]
        if per_message < 1:
            raise InputError(f"{arr.shape[1]}-class outputs do not fit one message ({MAX_OUTPUTS_VALUES})")
        seqs: list[int] = []
        for first in range(0, len(arr), per_message):
            block = arr[first : first + per_message]
            ack = self._ack(MSG_INJECT_OUTPUTS, block.tobytes())
            seqs += [(int(ack.value) + i) & 0xFFFFFFFF for i in range(len(block))]
        return seqs

    def label(self, seqs: object, labels: object) -> int:
        """Outputs profiles: the true classes of earlier inferences (numbers from ``inject_outputs``); returns
        how many were applied (all of them).

        They go out in LABEL messages of at most 64 (inference number, label) pairs, applied in order. A pair
        the device rejects (not among its last 64 inferences or not pushed yet: TD_ERR_RANGE, class out of
        range: TD_ERR_ARG, labelled already: TD_ERR_STATE) raises DeviceError with that status; the pairs
        before it stay applied.
        """
        s = np.atleast_1d(np.asarray(seqs))
        y = np.atleast_1d(np.asarray(labels))
        if s.ndim != 1 or y.ndim != 1 or len(s) != len(y):
            raise InputError(f"need as many inference numbers as labels, got shapes {s.shape} and {y.shape}")
        if len(s) and (s.dtype.kind not in "iu" or s.min() < 0 or s.max() > 0xFFFFFFFF):
            raise InputError("inference numbers must be uint32 values from inject_outputs")
        if len(y) and (y.dtype.kind not in "iub" or y.min() < 0 or y.max() > 255):
            raise InputError("labels must be class indices 0..255")
        applied = 0
        for first in range(0, len(s), MAX_LABEL_PAIRS):
            chunk_s = tuple(int(v) for v in s[first : first + MAX_LABEL_PAIRS])
            chunk_y = tuple(int(v) for v in y[first : first + MAX_LABEL_PAIRS])
            ack = self._ack(MSG_LABEL, Label(chunk_s, chunk_y).pack())
            if ack.value != len(chunk_s):
                raise DeviceError(f"device at {self.url} applied {ack.value} of {len(chunk_s)} labels")
            applied += len(chunk_s)
        return applied

    def inject_stream(self, events: Iterable[tuple[str, object]],
                      on_record: Callable[[TelemetryRecord], None] | None = None) -> list[TelemetryRecord]:
        """Feed an interleaved stream: ``("frames", frames)`` go through ``inject``, ``("embeddings", emb)``
        through ``inject_embeddings``, ``("outputs", probs)`` through ``inject_outputs`` and
        ``("labels", (seqs, labels))`` through ``label``, in order. Label seqs are the device's inference
        numbers, which count from 0 after the profile became active like ``score_events``' numbering.
        Returns the telemetry of the windows completed, which equals
        ``tinydrift.score_events(profile, events)`` field for field."""
        out: list[TelemetryRecord] = []
        handlers = {"frames": lambda d: out.extend(self.inject(d, on_record=on_record)),
                    "embeddings": self.inject_embeddings, "outputs": self.inject_outputs,
                    "labels": lambda d: self.label(*d)}
        for kind, data in parse_events(events):
            handlers[kind](data)
        return out

    def telemetry(self, timeout: float | None = None) -> Iterator[TelemetryRecord]:
        """Records as they arrive (queued ones first); stops after ``timeout`` seconds without one
        (never, when None)."""
        while True:
            while self._queue:
                yield self._queue.popleft()
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._queue:
                left = 0.5 if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return
                for frame in self._frames(min(left, 0.5)):
                    self._handle(frame, None)

    def pending(self, wait: float = 0.0) -> list[TelemetryRecord]:
        """Take the queued (live) records received so far; with none queued, wait up to ``wait`` seconds
        for the first to arrive."""
        end = time.monotonic() + max(0.0, wait)
        while True:
            for frame in self._frames(0.0 if self._queue else max(0.0, end - time.monotonic())):
                self._handle(frame, None)
            if self._queue or time.monotonic() >= end:
                break
        out = list(self._queue)
        self._queue.clear()
        return out

    def fetch(self, from_seq: int, max_records: int | None = None, batch: int = FETCH_BATCH,
              until_seq: int | None = None) -> list[TelemetryRecord]:
        """Records with seq >= from_seq (and < until_seq) still in the device's ring, oldest first (replayed
        flag set).

        FETCH requests of at most ``batch`` records, each continued from the seq its ACK names, until the
        device has no more, ``until_seq`` or ``max_records``. Records the ring no longer holds are absent,
        and so are replayed frames lost on the way (a short answer does not end the fetch): ask again for
        what is still missing.
        """
        got: dict[int, TelemetryRecord] = {}
        seq = from_seq
        while (max_records is None or len(got) < max_records) and (until_seq is None or seq < until_seq):
            want = batch if max_records is None else min(batch, max_records - len(got))
            if until_seq is not None:
                want = min(want, until_seq - seq)
            want = max(1, min(want, 0xFFFF))
            first = seq

            def sink(rec: TelemetryRecord, first: int = first) -> bool:
                if not rec.replayed or rec.seq < first:
                    return False
                got.setdefault(rec.seq, rec)
                return True

            ack = self._ack(MSG_FETCH, Fetch(seq, want).pack(), sink=sink)
            if ack.value <= seq:  # nothing at or after seq: the device's next seq
                break
            seq = int(ack.value)
        out = sorted((r for r in got.values() if until_seq is None or r.seq < until_seq), key=lambda r: r.seq)
        return out if max_records is None else out[:max_records]

    def reset_alarm(self) -> None:
        """Clear the latched alarm and the CUSUM statistic."""
        self._ack(MSG_RESET_ALARM)

    def sensor(self, rate_hz: int) -> int:
        """Sample the board's own sensors at rate_hz frames/s (0 stops); returns the ACK value."""
        if not 0 <= rate_hz <= 0xFFFF:
            raise ValueError(f"rate_hz must be 0..65535, got {rate_hz}")
        return int(self._ack(MSG_SENSOR, Sensor(rate_hz).pack()).value)


def _status(name: str) -> int:
    from tinydrift.core.native import lib

    return int(getattr(lib, name))


def _outputs_classes(blob: bytes) -> int | None:
    """n_classes of a (validated) profile blob's outputs section, None without one."""
    try:
        outputs = Profile.from_bytes(blob).outputs
    except ProfileError:  # pragma: no cover - the blob was validated
        return None
    return None if outputs is None else int(outputs.n_classes)


_TD_ERR_STATE = _status("TD_ERR_STATE")
_FLAG_EXTERNAL_EMBEDDING = _status("TD_PROFILE_FLAG_EXTERNAL_EMBEDDING")

__all__ = ["Device", "DeviceError", "NoAnswer", "ProtocolError", "RequestDeadline"]
