"""Device-link messages (docs/protocol.md) over the C frame codec: pack, unpack, stream decoding.

Layers:
  * ``encode_frame`` / ``FrameReader`` wrap the C codec (``td_frame_encode``, the streaming
    ``td_frame_decoder_t``): COBS, header, CRC-32, resynchronisation, error counters.
  * One dataclass per message with ``pack() -> payload bytes`` and ``unpack(payload)``;
    ``decode(frame)`` turns a received frame into its message object.
  * ``TelemetryRecord.to_row`` and ``compare_records`` relate device telemetry to the rows
    ``tinydrift.score`` computes on the host, field for field.

    >>> wire = encode_frame(MSG_INFO_REQ, 7)
    >>> reader = FrameReader()
    >>> [f.type for f in reader.feed(b"garbage\\x00" + wire)], reader.errors
    ([1], 1)

Nothing here does I/O; ``tinydrift.device`` adds the serial transport.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Union

import numpy as np

from tinydrift.core.native import ffi, lib, status_text
from tinydrift.core.errors import TinyDriftError

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 352
MAX_CHUNK = 256
MAX_INJECT_VALUES = 160
MAX_EMBEDDING_VALUES = 320
MAX_OUTPUTS_VALUES = 320
MAX_LABEL_PAIRS = 64
RECORD_VERSION = 2

MSG_INFO_REQ = 0x01
MSG_UPLOAD_BEGIN = 0x02
MSG_UPLOAD_CHUNK = 0x03
MSG_UPLOAD_COMMIT = 0x04
MSG_UPLOAD_ABORT = 0x05
MSG_INJECT = 0x06
MSG_FETCH = 0x07
MSG_RESET_ALARM = 0x08
MSG_SENSOR = 0x09
MSG_INJECT_EMBEDDING = 0x0A
MSG_INJECT_OUTPUTS = 0x0B
MSG_LABEL = 0x0C
MSG_INFO = 0x81
MSG_ACK = 0x82
MSG_NACK = 0x83
MSG_TELEMETRY = 0x84
MSG_LOG = 0x85

MESSAGE_NAMES = {
    MSG_INFO_REQ: "INFO_REQ", MSG_UPLOAD_BEGIN: "UPLOAD_BEGIN", MSG_UPLOAD_CHUNK: "UPLOAD_CHUNK",
    MSG_UPLOAD_COMMIT: "UPLOAD_COMMIT", MSG_UPLOAD_ABORT: "UPLOAD_ABORT", MSG_INJECT: "INJECT", MSG_FETCH: "FETCH",
    MSG_RESET_ALARM: "RESET_ALARM", MSG_SENSOR: "SENSOR", MSG_INJECT_EMBEDDING: "INJECT_EMBEDDING",
    MSG_INJECT_OUTPUTS: "INJECT_OUTPUTS", MSG_LABEL: "LABEL", MSG_INFO: "INFO",
    MSG_ACK: "ACK", MSG_NACK: "NACK", MSG_TELEMETRY: "TELEMETRY", MSG_LOG: "LOG",
}

BOARD_NAMES = {1: "host simulator", 2: "QEMU mps2-an386", 3: "Nano 33 BLE"}
NO_SLOT = 0xFF
FLAG_REPLAYED = 0x01
LOG_LEVELS = {0: "debug", 1: "info", 2: "warning", 3: "error"}

_STATUS_NAMES = ("OK", "ARG", "TRUNCATED", "MAGIC", "VERSION", "CRC", "SIZE", "LIMIT", "RANGE", "CAPACITY", "STATE",
                 "MODE")


def message_name(msg_type: int) -> str:
    """INFO_REQ, ACK, ... or 0x.. for an unknown type."""
    return MESSAGE_NAMES.get(msg_type, f"type {msg_type:#04x}")


def status_name(status: int) -> str:
    """TD_ERR_CRC etc. for a td_status code (TD_OK for 0; td_status N for an unknown code)."""
    if status == 0:
        return "TD_OK"
    if -len(_STATUS_NAMES) < status < 0:
        name = f"TD_ERR_{_STATUS_NAMES[-status]}"
        if getattr(lib, name, None) == status:
            return name
    return f"td_status {status}"


class DeviceError(TinyDriftError):
    """The device link failed: cannot open, no answer, NACK, malformed message. One-line message.

    ``status`` is the td_status code of a NACK (None otherwise).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProtocolError(DeviceError):
    """A frame arrived intact but its payload does not match docs/protocol.md."""


# ------------------------------------------------------------------------------------------ frames


@dataclass(frozen=True)
class Frame:
    """One decoded frame: message type, sender's seq, payload bytes."""

    type: int
    seq: int
    payload: bytes

    def __repr__(self) -> str:
        return f"Frame({message_name(self.type)}, seq={self.seq}, {len(self.payload)} bytes)"


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """COBS(version, type, seq, payload, CRC-32) + 0x00, by the C codec."""
    if not 0 <= msg_type <= 0xFF or not 0 <= seq <= 0xFFFF:
        raise ValueError(f"frame type {msg_type} or seq {seq} out of range")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}")
    wire = ffi.new("uint8_t[]", lib.TD_FRAME_MAX_WIRE)
    n = ffi.new("size_t *")
    status = lib.td_frame_encode(msg_type, seq, payload, len(payload), wire, lib.TD_FRAME_MAX_WIRE, n)
    if status != lib.TD_OK:  # pragma: no cover - sizes are checked above
        raise ValueError(f"td_frame_encode: {status_text(status)}")
    return bytes(ffi.buffer(wire, n[0]))


class FrameReader:
    """Streaming frame decoder (td_frame_decoder_t): feed any byte chunks, get whole valid frames.

    Bad frames (COBS, CRC, version, length) are dropped and counted; decoding
    resynchronises at the next 0x00.

    >>> reader = FrameReader()
    >>> for frame in reader.feed(chunk): ...
    """

    def __init__(self) -> None:
        self._dec = ffi.new("td_frame_decoder_t *")
        self._frame = ffi.new("td_frame_t *")
        self._consumed = ffi.new("size_t *")
        self.reset()

    def reset(self) -> None:
        """Forget any partial frame and zero the counters."""
        if lib.td_frame_decoder_init(self._dec) != lib.TD_OK:  # pragma: no cover
            raise DeviceError("td_frame_decoder_init failed")

    def feed(self, data: bytes) -> list[Frame]:
        """Decode data (appended to any buffered partial frame); return the frames it completed."""
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[Frame]:
        """Like feed, lazily."""
        buf = ffi.from_buffer(bytes(data))
        pos, end = 0, len(data)
        while pos < end:
            status = lib.td_frame_decoder_feed(self._dec, buf + pos, end - pos, self._consumed, self._frame)
            used = self._consumed[0]
            if status == lib.TD_OK:
                f = self._frame
                yield Frame(int(f.type), int(f.seq), bytes(ffi.buffer(f.payload, f.payload_len)))
            elif status != lib.TD_ERR_TRUNCATED:  # pragma: no cover - arguments are never NULL here
                raise DeviceError(f"td_frame_decoder_feed: {status_text(status)}")
            if used == 0:  # pragma: no cover - the decoder always makes progress
                break
            pos += used

    @property
    def n_frames(self) -> int:
        return int(self._dec.n_frames)

    @property
    def n_crc_errors(self) -> int:
        return int(self._dec.n_crc_errors)

    @property
    def n_format_errors(self) -> int:
        return int(self._dec.n_format_errors)

    @property
    def n_overflows(self) -> int:
        return int(self._dec.n_overflows)

    @property
    def errors(self) -> int:
        """All dropped frames: CRC + format + overflow."""
        return self.n_crc_errors + self.n_format_errors + self.n_overflows

    def counters(self) -> dict[str, int]:
        return {"frames": self.n_frames, "crc_errors": self.n_crc_errors, "format_errors": self.n_format_errors,
                "overflows": self.n_overflows}


# ------------------------------------------------------------------------------------------ messages


def _need(payload: bytes, size: int, what: str, exact: bool = True) -> None:
    if len(payload) < size or (exact and len(payload) != size):
        want = f"{size}" if exact else f"at least {size}"
        raise ProtocolError(f"malformed {what}: payload of {len(payload)} bytes, expected {want}")


@dataclass(frozen=True)
class _Empty:
    """Requests without payload."""

    TYPE: ClassVar[int] = 0

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes) -> Any:
        _need(payload, 0, message_name(cls.TYPE))
        return cls()


@dataclass(frozen=True)
class InfoRequest(_Empty):
    TYPE: ClassVar[int] = MSG_INFO_REQ


@dataclass(frozen=True)
class UploadCommit(_Empty):
    TYPE: ClassVar[int] = MSG_UPLOAD_COMMIT


@dataclass(frozen=True)
class UploadAbort(_Empty):
    TYPE: ClassVar[int] = MSG_UPLOAD_ABORT


@dataclass(frozen=True)
class ResetAlarm(_Empty):
    TYPE: ClassVar[int] = MSG_RESET_ALARM


@dataclass(frozen=True)
class UploadBegin:
    """u32 size, u32 CRC-32 of the whole profile blob."""

    size: int
    crc: int
    TYPE: ClassVar[int] = MSG_UPLOAD_BEGIN
    _S: ClassVar[struct.Struct] = struct.Struct("<II")

    def pack(self) -> bytes:
        return self._S.pack(self.size, self.crc)

    @classmethod
    def unpack(cls, payload: bytes) -> UploadBegin:
        _need(payload, cls._S.size, "UPLOAD_BEGIN")
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class UploadChunk:
    """u32 offset, then 1..256 data bytes."""

    offset: int
    data: bytes
    TYPE: ClassVar[int] = MSG_UPLOAD_CHUNK

    def pack(self) -> bytes:
        if not 1 <= len(self.data) <= MAX_CHUNK:
            raise ValueError(f"upload chunk of {len(self.data)} bytes; 1..{MAX_CHUNK} allowed")
        return struct.pack("<I", self.offset) + bytes(self.data)

    @classmethod
    def unpack(cls, payload: bytes) -> UploadChunk:
        _need(payload, 5, "UPLOAD_CHUNK", exact=False)
        if len(payload) > 4 + MAX_CHUNK:
            raise ProtocolError(f"malformed UPLOAD_CHUNK: {len(payload) - 4} data bytes, at most {MAX_CHUNK}")
        return cls(struct.unpack_from("<I", payload)[0], bytes(payload[4:]))


@dataclass(frozen=True)
class Inject:
    """Whole int16 frames (n x channels), flattened on the wire; 1..160 values."""

    values: tuple[int, ...]
    TYPE: ClassVar[int] = MSG_INJECT

    @classmethod
    def from_frames(cls, frames: object) -> Inject:
        arr = np.ascontiguousarray(frames, dtype="<i2").reshape(-1)
        return cls(tuple(int(v) for v in arr))

    def frames(self, n_channels: int) -> np.ndarray:
        if len(self.values) % n_channels:
            raise ProtocolError(f"INJECT of {len(self.values)} values is not a whole number of "
                                f"{n_channels}-channel frames")
        return np.array(self.values, dtype=np.int16).reshape(-1, n_channels)

    def pack(self) -> bytes:
        if not 1 <= len(self.values) <= MAX_INJECT_VALUES:
            raise ValueError(f"INJECT of {len(self.values)} values; 1..{MAX_INJECT_VALUES} allowed")
        return np.asarray(self.values, dtype="<i2").tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> Inject:
        if not payload or len(payload) % 2 or len(payload) > 2 * MAX_INJECT_VALUES:
            raise ProtocolError(f"malformed INJECT: payload of {len(payload)} bytes")
        return cls(tuple(int(v) for v in np.frombuffer(payload, dtype="<i2")))


@dataclass(frozen=True)
class InjectEmbedding:
    """Whole int8 embeddings (n x n_dims of the active external-embedding profile), flattened on the wire;
    1..320 values."""

    values: tuple[int, ...]
    TYPE: ClassVar[int] = MSG_INJECT_EMBEDDING

    @classmethod
    def from_embeddings(cls, embeddings: object) -> InjectEmbedding:
        arr = np.asarray(embeddings)
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -128 or arr.max() > 127):
            raise ValueError("embeddings must be int8 values (-128..127)")
        return cls(tuple(int(v) for v in arr.reshape(-1)))

    def embeddings(self, n_dims: int) -> np.ndarray:
        if len(self.values) % n_dims:
            raise ProtocolError(f"INJECT_EMBEDDING of {len(self.values)} values is not a whole number of "
                                f"{n_dims}-value embeddings")
        return np.array(self.values, dtype=np.int8).reshape(-1, n_dims)

    def pack(self) -> bytes:
        if not 1 <= len(self.values) <= MAX_EMBEDDING_VALUES:
            raise ValueError(f"INJECT_EMBEDDING of {len(self.values)} values; 1..{MAX_EMBEDDING_VALUES} allowed")
        return np.asarray(self.values, dtype=np.int8).tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> InjectEmbedding:
        if not payload or len(payload) > MAX_EMBEDDING_VALUES:
            raise ProtocolError(f"malformed INJECT_EMBEDDING: payload of {len(payload)} bytes")
        return cls(tuple(int(v) for v in np.frombuffer(payload, dtype=np.int8)))


@dataclass(frozen=True)
class InjectOutputs:
    """Whole int8 class-probability vectors (n x n_classes of the active profile's outputs section), flattened
    on the wire; 1..320 values."""

    values: tuple[int, ...]
    TYPE: ClassVar[int] = MSG_INJECT_OUTPUTS

    @classmethod
    def from_outputs(cls, probs: object) -> InjectOutputs:
        arr = np.asarray(probs)
        if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -128 or arr.max() > 127):
            raise ValueError("outputs must be int8 values (-128..127)")
        return cls(tuple(int(v) for v in arr.reshape(-1)))

    def outputs(self, n_classes: int) -> np.ndarray:
        if len(self.values) % n_classes:
            raise ProtocolError(f"INJECT_OUTPUTS of {len(self.values)} values is not a whole number of "
                                f"{n_classes}-class vectors")
        return np.array(self.values, dtype=np.int8).reshape(-1, n_classes)

    def pack(self) -> bytes:
        if not 1 <= len(self.values) <= MAX_OUTPUTS_VALUES:
            raise ValueError(f"INJECT_OUTPUTS of {len(self.values)} values; 1..{MAX_OUTPUTS_VALUES} allowed")
        return np.asarray(self.values, dtype=np.int8).tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> InjectOutputs:
        if not payload or len(payload) > MAX_OUTPUTS_VALUES:
            raise ProtocolError(f"malformed INJECT_OUTPUTS: payload of {len(payload)} bytes")
        return cls(tuple(int(v) for v in np.frombuffer(payload, dtype=np.int8)))


_LABEL_PAIR = np.dtype([("seq", "<u4"), ("label", "u1")])
assert _LABEL_PAIR.itemsize == 5


@dataclass(frozen=True)
class Label:
    """True classes of earlier inferences: 1..64 pairs of (u32 inference seq, u8 label), 5 bytes each."""

    seqs: tuple[int, ...]
    labels: tuple[int, ...]
    TYPE: ClassVar[int] = MSG_LABEL

    def pack(self) -> bytes:
        if len(self.seqs) != len(self.labels) or not 1 <= len(self.seqs) <= MAX_LABEL_PAIRS:
            raise ValueError(f"LABEL of {len(self.seqs)} inference numbers and {len(self.labels)} labels; "
                             f"1..{MAX_LABEL_PAIRS} pairs allowed")
        if any(not 0 <= s <= 0xFFFFFFFF for s in self.seqs) or any(not 0 <= v <= 0xFF for v in self.labels):
            raise ValueError("LABEL pairs need u32 inference numbers and u8 labels")
        arr = np.zeros(len(self.seqs), dtype=_LABEL_PAIR)
        arr["seq"] = self.seqs
        arr["label"] = self.labels
        return arr.tobytes()

    @classmethod
    def unpack(cls, payload: bytes) -> Label:
        if not payload or len(payload) % _LABEL_PAIR.itemsize or len(payload) > _LABEL_PAIR.itemsize * MAX_LABEL_PAIRS:
            raise ProtocolError(f"malformed LABEL: payload of {len(payload)} bytes")
        arr = np.frombuffer(payload, dtype=_LABEL_PAIR)
        return cls(tuple(arr["seq"].tolist()), tuple(arr["label"].tolist()))


@dataclass(frozen=True)
class Fetch:
    """u32 from_seq, u16 max_records."""

    from_seq: int
    max_records: int
    TYPE: ClassVar[int] = MSG_FETCH
    _S: ClassVar[struct.Struct] = struct.Struct("<IH")

    def pack(self) -> bytes:
        return self._S.pack(self.from_seq, self.max_records)

    @classmethod
    def unpack(cls, payload: bytes) -> Fetch:
        _need(payload, cls._S.size, "FETCH")
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True)
class Sensor:
    """u16 rate_hz; 0 stops sampling."""

    rate_hz: int
    TYPE: ClassVar[int] = MSG_SENSOR

    def pack(self) -> bytes:
        return struct.pack("<H", self.rate_hz)

    @classmethod
    def unpack(cls, payload: bytes) -> Sensor:
        _need(payload, 2, "SENSOR")
        return cls(struct.unpack("<H", payload)[0])


@dataclass(frozen=True)
class Ack:
    """Positive answer: echoes the request's type and seq; ``value`` depends on the request."""

    request_type: int
    request_seq: int
    value: int
    TYPE: ClassVar[int] = MSG_ACK
    _S: ClassVar[struct.Struct] = struct.Struct("<BBHI")

    def pack(self) -> bytes:
        return self._S.pack(self.request_type, 0, self.request_seq, self.value)

    @classmethod
    def unpack(cls, payload: bytes) -> Ack:
        _need(payload, cls._S.size, "ACK")
        rtype, _, rseq, value = cls._S.unpack(payload)
        return cls(rtype, rseq, value)


@dataclass(frozen=True)
class Nack:
    """Negative answer: echoes the request's type and seq; ``error`` is a td_status code."""

    request_type: int
    request_seq: int
    error: int
    TYPE: ClassVar[int] = MSG_NACK
    _S: ClassVar[struct.Struct] = struct.Struct("<BBHi")

    @property
    def status_name(self) -> str:
        return status_name(self.error)

    def describe(self) -> str:
        """e.g. 'UPLOAD_COMMIT rejected: TD_ERR_CRC (CRC mismatch)'."""
        try:
            text = f" ({status_text(self.error)})"
        except Exception:  # pragma: no cover - unknown codes
            text = ""
        return f"{message_name(self.request_type)} rejected: {self.status_name}{text}"

    def pack(self) -> bytes:
        return self._S.pack(self.request_type, 0, self.request_seq, self.error)

    @classmethod
    def unpack(cls, payload: bytes) -> Nack:
        _need(payload, cls._S.size, "NACK")
        rtype, _, rseq, error = cls._S.unpack(payload)
        return cls(rtype, rseq, error)


@dataclass(frozen=True)
class Log:
    """Device log line: level 0 debug .. 3 error, ASCII text."""

    level: int
    text: str
    TYPE: ClassVar[int] = MSG_LOG

    @property
    def level_name(self) -> str:
        return LOG_LEVELS.get(self.level, str(self.level))

    def pack(self) -> bytes:
        return bytes([self.level]) + self.text.encode("ascii", "replace")

    @classmethod
    def unpack(cls, payload: bytes) -> Log:
        _need(payload, 1, "LOG", exact=False)
        return cls(payload[0], payload[1:].decode("ascii", "replace"))


@dataclass(frozen=True)
class Info:
    """The device's answer to INFO_REQ (docs/protocol.md, INFO)."""

    request_seq: int
    board_id: int
    active_slot: int | None
    max_payload: int
    boot_id: int
    firmware_version: int
    profile_id: int
    profile_channels: int
    max_channels: int
    profile_window: int
    next_seq: int
    oldest_seq: int
    ring_capacity: int
    sensor_rate_hz: int
    frames_processed: int
    link_errors: int
    board_name: str
    protocol_version: int = PROTOCOL_VERSION
    TYPE: ClassVar[int] = MSG_INFO
    _S: ClassVar[struct.Struct] = struct.Struct("<BBHBBHIIIBBHIIHHII")

    @property
    def has_profile(self) -> bool:
        return self.active_slot is not None and self.profile_id != 0

    @property
    def firmware(self) -> str:
        v = self.firmware_version
        return f"{v >> 16 & 0xFF}.{v >> 8 & 0xFF}.{v & 0xFF}"

    def pack(self) -> bytes:
        return self._S.pack(
            MSG_INFO_REQ, self.protocol_version, self.request_seq, self.board_id,
            NO_SLOT if self.active_slot is None else self.active_slot, self.max_payload, self.boot_id,
            self.firmware_version, self.profile_id, self.profile_channels, self.max_channels, self.profile_window,
            self.next_seq, self.oldest_seq, self.ring_capacity, self.sensor_rate_hz, self.frames_processed,
            self.link_errors,
        ) + self.board_name.encode("ascii", "replace")

    @classmethod
    def unpack(cls, payload: bytes) -> Info:
        _need(payload, cls._S.size, "INFO", exact=False)
        (rtype, version, rseq, board, slot, max_payload, boot_id, fw, pid, n_ch, max_ch, window, next_seq, oldest,
         cap, rate, frames, errors) = cls._S.unpack_from(payload)
        if rtype != MSG_INFO_REQ:
            raise ProtocolError(f"malformed INFO: request type {rtype:#04x}, expected 0x01")
        name = payload[cls._S.size:].decode("ascii", "replace").rstrip("\x00")
        return cls(rseq, board, None if slot == NO_SLOT else slot, max_payload, boot_id, fw, pid, n_ch, max_ch,
                   window, next_seq, oldest, cap, rate, frames, errors, name, version)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["firmware"] = self.firmware
        return d


# ------------------------------------------------------------------------------------------ telemetry

_REC = struct.Struct("<9I4B4H4B")
_REC_CH = struct.Struct("<iihhHH")
# Record version 2: the model-outputs block after the channel blocks (zeros without an outputs section).
_REC_OUT = struct.Struct("<HBBIIIHHI")
assert _REC.size == 52 and _REC_CH.size == 16 and _REC_OUT.size == 24
_Q16 = 65536.0

# Columns of tinydrift.result_dtype rows that a telemetry record carries.
TELEMETRY_SCALARS = ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                     "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings", "n_inferences", "top_class",
                     "ddm_state", "mean_confidence", "estimated_accuracy", "prior_shift", "n_labels", "n_correct",
                     "accuracy")
# Model-output columns (record version 2); Q16 values are floats (q16 / 65536, exact).
TELEMETRY_OUTPUTS = ("n_inferences", "top_class", "ddm_state", "mean_confidence", "estimated_accuracy",
                     "prior_shift", "n_labels", "n_correct", "accuracy")
_Q16_FIELDS = ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy")
TELEMETRY_CHANNELS = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
TELEMETRY_COLUMNS = TELEMETRY_SCALARS + TELEMETRY_CHANNELS


def _q8(value: float) -> int:
    return int(round(value * 256))


def _q16(value: float) -> int:
    return int(round(value * _Q16))


@dataclass(frozen=True)
class TelemetryRecord:
    """One window's result as the device sent it. Q8 values are floats (q8 / 256, exact); ``*_q8`` give the ints.

    Names follow the rows of ``tinydrift.score`` (``result_dtype``); per-channel values are
    tuples in channel order. Model-output fields (``n_inferences`` .. ``accuracy``; Q16 values as
    floats, q16 / 65536) come from record version 2 and are 0 in a version-1 record.
    """

    seq: int
    boot_id: int
    profile_id: int
    window: int
    uptime_ms: int
    score: float
    dist: float
    recon: float
    cusum: float
    trigger: int
    alarm: bool
    nearest: int
    top_channel: int
    stuck_mask: int
    saturated_mask: int
    missing_mask: int
    n_embeddings: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    z_mean: tuple[float, ...] = ()
    z_std: tuple[float, ...] = ()
    n_missing: tuple[int, ...] = ()
    n_saturated: tuple[int, ...] = ()
    replayed: bool = False
    version: int = RECORD_VERSION
    n_inferences: int = 0
    top_class: int = 0
    ddm_state: int = 0
    mean_confidence: float = 0.0
    estimated_accuracy: float = 0.0
    prior_shift: float = 0.0
    n_labels: int = 0
    n_correct: int = 0
    accuracy: float = 0.0
    TYPE: ClassVar[int] = MSG_TELEMETRY

    @property
    def n_channels(self) -> int:
        return len(self.mean)

    @property
    def score_q8(self) -> int:
        return _q8(self.score)

    @property
    def dist_q8(self) -> int:
        return _q8(self.dist)

    @property
    def recon_q8(self) -> int:
        return _q8(self.recon)

    @property
    def cusum_q8(self) -> int:
        return _q8(self.cusum)

    def pack(self) -> bytes:
        c = self.n_channels
        per_channel = (self.std, self.z_mean, self.z_std, self.n_missing, self.n_saturated)
        if any(len(v) != c for v in per_channel):
            raise ValueError("per-channel fields of a telemetry record differ in length")
        out = bytearray(_REC.pack(
            self.seq, self.boot_id, self.profile_id, self.window, self.uptime_ms, self.score_q8, self.dist_q8,
            self.recon_q8, self.cusum_q8, self.trigger, int(self.alarm), self.nearest, self.top_channel,
            self.stuck_mask, self.saturated_mask, self.missing_mask, self.n_embeddings, c,
            FLAG_REPLAYED if self.replayed else 0, self.version, 0,
        ))
        for i in range(c):
            out += _REC_CH.pack(_q8(self.mean[i]), _q8(self.std[i]), _q8(self.z_mean[i]), _q8(self.z_std[i]),
                                self.n_missing[i], self.n_saturated[i])
        if self.version >= 2:
            out += _REC_OUT.pack(self.n_inferences, self.top_class, self.ddm_state, _q16(self.mean_confidence),
                                 _q16(self.estimated_accuracy), _q16(self.prior_shift), self.n_labels,
                                 self.n_correct, _q16(self.accuracy))
        return bytes(out)

    @classmethod
    def unpack(cls, payload: bytes) -> TelemetryRecord:
        _need(payload, _REC.size, "TELEMETRY", exact=False)
        (seq, boot, pid, window, uptime, score, dist, recon, cusum, trigger, alarm, nearest, top, stuck, sat, miss,
         n_emb, n_ch, flags, version, _) = _REC.unpack_from(payload)
        if version not in (1, RECORD_VERSION):
            raise ProtocolError(f"TELEMETRY record version {version}, this host understands 1..{RECORD_VERSION}")
        v1_size = _REC.size + _REC_CH.size * n_ch
        _need(payload, v1_size + (_REC_OUT.size if version >= 2 else 0), f"TELEMETRY v{version} of {n_ch} channels")
        outputs: dict[str, Any] = {}
        if version >= 2:
            (n_inf, top_class, ddm, conf, est, shift, n_lab, n_cor, acc) = _REC_OUT.unpack_from(payload, v1_size)
            outputs = dict(n_inferences=n_inf, top_class=top_class, ddm_state=ddm, mean_confidence=conf / _Q16,
                           estimated_accuracy=est / _Q16, prior_shift=shift / _Q16, n_labels=n_lab, n_correct=n_cor,
                           accuracy=acc / _Q16)
        ch = np.frombuffer(payload, dtype=np.dtype([("mean", "<i4"), ("std", "<i4"), ("z_mean", "<i2"),
                                                    ("z_std", "<i2"), ("n_missing", "<u2"),
                                                    ("n_saturated", "<u2")]), count=n_ch, offset=_REC.size)
        return cls(
            seq=seq, boot_id=boot, profile_id=pid, window=window, uptime_ms=uptime, score=score / 256.0,
            dist=dist / 256.0, recon=recon / 256.0, cusum=cusum / 256.0, trigger=trigger, alarm=bool(alarm),
            nearest=nearest, top_channel=top, stuck_mask=stuck, saturated_mask=sat, missing_mask=miss,
            n_embeddings=n_emb, mean=tuple((ch["mean"] / 256.0).tolist()), std=tuple((ch["std"] / 256.0).tolist()),
            z_mean=tuple((ch["z_mean"] / 256.0).tolist()), z_std=tuple((ch["z_std"] / 256.0).tolist()),
            n_missing=tuple(ch["n_missing"].tolist()), n_saturated=tuple(ch["n_saturated"].tolist()),
            replayed=bool(flags & FLAG_REPLAYED), version=version, **outputs,
        )

    @classmethod
    def from_row(cls, row: np.void, seq: int = 0, boot_id: int = 0, profile_id: int = 0, uptime_ms: int = 0,
                 replayed: bool = False) -> TelemetryRecord:
        """The record a device would send for a ``tinydrift.score`` row (for fakes and tests)."""
        return cls(
            seq=seq, boot_id=boot_id, profile_id=profile_id, window=int(row["window"]), uptime_ms=uptime_ms,
            score=float(row["score"]), dist=float(row["dist"]), recon=float(row["recon"]),
            cusum=float(row["cusum"]), trigger=int(row["trigger"]), alarm=bool(row["alarm"]),
            nearest=int(row["nearest"]), top_channel=int(row["top_channel"]), stuck_mask=int(row["stuck_mask"]),
            saturated_mask=int(row["saturated_mask"]), missing_mask=int(row["missing_mask"]),
            n_embeddings=int(row["n_embeddings"]), mean=tuple(row["mean"].tolist()), std=tuple(row["std"].tolist()),
            z_mean=tuple(row["z_mean"].tolist()), z_std=tuple(row["z_std"].tolist()),
            n_missing=tuple(row["n_missing"].tolist()), n_saturated=tuple(row["n_saturated"].tolist()),
            replayed=replayed, **{name: (float(row[name]) if name in _Q16_FIELDS else int(row[name]))
                                  for name in TELEMETRY_OUTPUTS if name in (row.dtype.names or ())},
        )

    def to_row(self, n_channels: int | None = None, n_dims: int = 0) -> np.void:
        """A row of ``tinydrift.result_dtype(n_channels, n_dims)``; fields telemetry lacks (embedding,
        min, max, sum, sumsq) are 0."""
        from tinydrift.core.monitor import result_dtype

        c = self.n_channels if n_channels is None else n_channels
        if c != self.n_channels:
            raise ValueError(f"record has {self.n_channels} channels, not {c}")
        row = np.zeros((), dtype=result_dtype(c, n_dims))
        for name in TELEMETRY_COLUMNS:
            row[name] = getattr(self, name)
        return row[()]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (per-channel values as lists)."""
        d = asdict(self)
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        return d


def records_to_rows(records: Sequence[TelemetryRecord], n_channels: int | None = None) -> np.ndarray:
    """Records as an array of ``result_dtype(n_channels, 0)`` rows."""
    from tinydrift.core.monitor import result_dtype

    if n_channels is None:
        n_channels = records[0].n_channels if records else 0
    out = np.zeros((len(records),), dtype=result_dtype(n_channels, 0))
    for i, rec in enumerate(records):
        out[i] = rec.to_row(n_channels)
    return out


def compare_records(records: Sequence[TelemetryRecord], rows: np.ndarray, limit: int = 10) -> list[str]:
    """Differences between device records and host rows (same order), field by field; [] when equal.

    Compares every telemetry column (TELEMETRY_COLUMNS) exactly; lists at most ``limit`` differences.
    """
    diffs: list[str] = []
    if len(records) != len(rows):
        diffs.append(f"{len(records)} records but {len(rows)} rows")
    for i, (rec, row) in enumerate(zip(records, rows)):
        for name in TELEMETRY_COLUMNS:
            got = np.asarray(getattr(rec, name))
            want = np.asarray(row[name])
            if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64)):
                diffs.append(f"record {i} (seq {rec.seq}, window {rec.window}) {name}: device {got.tolist()} "
                             f"!= host {want.tolist()}")
                if len(diffs) >= limit:
                    return diffs
    return diffs


def records_equal_rows(records: Sequence[TelemetryRecord], rows: np.ndarray) -> bool:
    """True if the records equal the rows of ``tinydrift.score`` in every telemetry column."""
    return not compare_records(records, rows, limit=1)


# ------------------------------------------------------------------------------------------ dispatch

Message = Union[InfoRequest, UploadBegin, UploadChunk, UploadCommit, UploadAbort, Inject, Fetch, ResetAlarm, Sensor,
                InjectEmbedding, InjectOutputs, Label, Info, Ack, Nack, TelemetryRecord, Log]

MESSAGE_CLASSES: dict[int, Any] = {cls.TYPE: cls for cls in (
    InfoRequest, UploadBegin, UploadChunk, UploadCommit, UploadAbort, Inject, Fetch, ResetAlarm, Sensor,
    InjectEmbedding, InjectOutputs, Label, Info, Ack, Nack, TelemetryRecord, Log)}


def decode(frame: Frame) -> Message:
    """The message object a frame carries; ProtocolError for unknown types or malformed payloads."""
    cls = MESSAGE_CLASSES.get(frame.type)
    if cls is None:
        raise ProtocolError(f"unknown message {frame.type:#04x}")
    return cls.unpack(frame.payload)


def encode(message: Message, seq: int) -> bytes:
    """The wire bytes of a message object."""
    return encode_frame(message.TYPE, seq, message.pack())


def inject_batches(frames: np.ndarray, max_values: int = MAX_INJECT_VALUES) -> Iterable[np.ndarray]:
    """Split an (n, C) int16 array into INJECT-sized blocks of whole frames."""
    per = max_values // frames.shape[1]
    if per < 1:
        raise ValueError(f"{frames.shape[1]} channels do not fit one INJECT message")
    for start in range(0, len(frames), per):
        yield frames[start : start + per]


def embedding_batches(embeddings: np.ndarray, max_values: int = MAX_EMBEDDING_VALUES) -> Iterable[np.ndarray]:
    """Split an (n, n_dims) int8 array into INJECT_EMBEDDING-sized blocks of whole embeddings."""
    per = max_values // embeddings.shape[1]
    if per < 1:
        raise ValueError(f"{embeddings.shape[1]}-value embeddings do not fit one INJECT_EMBEDDING message")
    for start in range(0, len(embeddings), per):
        yield embeddings[start : start + per]


__all__ = [
    "Ack", "DeviceError", "Fetch", "Frame", "FrameReader", "Info", "InfoRequest", "Inject", "InjectEmbedding",
    "InjectOutputs", "Label", "Log",
    "Nack", "ProtocolError", "ResetAlarm", "Sensor", "TelemetryRecord", "UploadAbort", "UploadBegin", "UploadChunk",
    "UploadCommit", "compare_records", "decode", "embedding_batches", "encode", "encode_frame", "inject_batches",
    "message_name", "records_equal_rows", "records_to_rows", "status_name",
] + [name for name in dir() if name.startswith("MSG_")]
