"""Device-link messages (docs/protocol.md): one dataclass per message with ``pack() -> payload bytes``
and ``unpack(payload)``; ``decode(frame)`` turns a received frame into its message object.

Frames and the protocol's constants are tinydrift.device.protocol; the TELEMETRY record is
tinydrift.device.records. Nothing here does I/O; tinydrift.device.client adds the serial transport.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Union

import numpy as np

from tinydrift.core.native import status_text
from tinydrift.device.protocol import (
    LOG_LEVELS, MAX_CHUNK, MAX_EMBEDDING_VALUES, MAX_INJECT_VALUES, MAX_LABEL_PAIRS, MAX_OUTPUTS_VALUES, MSG_ACK,
    MSG_FETCH, MSG_INFO, MSG_INFO_REQ, MSG_INJECT, MSG_INJECT_EMBEDDING, MSG_INJECT_OUTPUTS, MSG_LABEL, MSG_LOG,
    MSG_NACK, MSG_RESET_ALARM, MSG_SENSOR, MSG_UPLOAD_ABORT, MSG_UPLOAD_BEGIN, MSG_UPLOAD_CHUNK, MSG_UPLOAD_COMMIT,
    NO_SLOT, PROTOCOL_VERSION, Frame, ProtocolError, encode_frame, expect_size, message_name, status_name,
)
from tinydrift.device.records import TelemetryRecord


@dataclass(frozen=True)
class _Empty:
    """Requests without payload."""

    TYPE: ClassVar[int] = 0

    def pack(self) -> bytes:
        return b""

    @classmethod
    def unpack(cls, payload: bytes) -> Any:
        expect_size(payload, 0, message_name(cls.TYPE))
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
        expect_size(payload, cls._S.size, "UPLOAD_BEGIN")
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
        expect_size(payload, 5, "UPLOAD_CHUNK", exact=False)
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
        expect_size(payload, cls._S.size, "FETCH")
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
        expect_size(payload, 2, "SENSOR")
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
        expect_size(payload, cls._S.size, "ACK")
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
        expect_size(payload, cls._S.size, "NACK")
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
        expect_size(payload, 1, "LOG", exact=False)
        return cls(payload[0], payload[1:].decode("ascii", "replace"))


@dataclass(frozen=True)
class Info:
    """The device's answer to INFO_REQ (docs/protocol.md, INFO). ``device_uid`` is the board's 64-bit unique
    id (protocol version 2 on); None from a version-1 firmware, which does not report one."""

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
    device_uid: int | None = None
    TYPE: ClassVar[int] = MSG_INFO
    _S: ClassVar[struct.Struct] = struct.Struct("<BBHBBHIIIBBHIIHHII")
    _UID: ClassVar[struct.Struct] = struct.Struct("<Q")

    @property
    def has_profile(self) -> bool:
        return self.active_slot is not None and self.profile_id != 0

    @property
    def firmware(self) -> str:
        v = self.firmware_version
        return f"{v >> 16 & 0xFF}.{v >> 8 & 0xFF}.{v & 0xFF}"

    @property
    def uid_text(self) -> str | None:
        """The device uid as 16 lower-case hex digits; None when the firmware reports none (or 0)."""
        return f"{self.device_uid:016x}" if self.device_uid else None

    def pack(self) -> bytes:
        head = self._S.pack(
            MSG_INFO_REQ, self.protocol_version, self.request_seq, self.board_id,
            NO_SLOT if self.active_slot is None else self.active_slot, self.max_payload, self.boot_id,
            self.firmware_version, self.profile_id, self.profile_channels, self.max_channels, self.profile_window,
            self.next_seq, self.oldest_seq, self.ring_capacity, self.sensor_rate_hz, self.frames_processed,
            self.link_errors,
        )
        if self.protocol_version >= 2:
            head += self._UID.pack(self.device_uid or 0)
        return head + self.board_name.encode("ascii", "replace")

    @classmethod
    def unpack(cls, payload: bytes) -> Info:
        expect_size(payload, cls._S.size, "INFO", exact=False)
        (rtype, version, rseq, board, slot, max_payload, boot_id, fw, pid, n_ch, max_ch, window, next_seq, oldest,
         cap, rate, frames, errors) = cls._S.unpack_from(payload)
        if rtype != MSG_INFO_REQ:
            raise ProtocolError(f"malformed INFO: request type {rtype:#04x}, expected 0x01")
        start, uid = cls._S.size, None
        if version >= 2:  # version 2 added the u64 device uid before the board name
            expect_size(payload, start + cls._UID.size, "INFO", exact=False)
            uid = cls._UID.unpack_from(payload, start)[0]
            start += cls._UID.size
        name = payload[start:].decode("ascii", "replace").rstrip("\x00")
        return cls(rseq, board, None if slot == NO_SLOT else slot, max_payload, boot_id, fw, pid, n_ch, max_ch,
                   window, next_seq, oldest, cap, rate, frames, errors, name, version, uid)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["firmware"] = self.firmware
        d["device_uid"] = self.uid_text
        return d


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
    "Ack", "Fetch", "Info", "InfoRequest", "Inject", "InjectEmbedding", "InjectOutputs", "Label", "Log", "Message",
    "Nack", "ResetAlarm", "Sensor", "UploadAbort", "UploadBegin", "UploadChunk", "UploadCommit", "decode",
    "embedding_batches", "encode", "inject_batches",
]
