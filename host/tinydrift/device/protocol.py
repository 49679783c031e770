"""The device link's wire level (docs/protocol.md): constants, message names, errors, frames.

``encode_frame`` / ``FrameReader`` wrap the C codec (``td_frame_encode``, the streaming
``td_frame_decoder_t``): COBS, header, CRC-32, resynchronisation, error counters.

    >>> wire = encode_frame(MSG_INFO_REQ, 7)
    >>> reader = FrameReader()
    >>> [f.type for f in reader.feed(b"garbage\\x00" + wire)], reader.errors
    ([1], 1)

Nothing here does I/O; tinydrift.device.client adds the serial transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tinydrift.core.errors import TinyDriftError
from tinydrift.core.native import ffi, lib, status_text

PROTOCOL_VERSION = 2  # 2: INFO carries the device uid; a version-1 device is still understood
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



def expect_size(payload: bytes, size: int, what: str, exact: bool = True) -> None:
    """ProtocolError unless the payload has size bytes (at least size when not exact)."""
    if len(payload) < size or (exact and len(payload) != size):
        want = f"{size}" if exact else f"at least {size}"
        raise ProtocolError(f"malformed {what}: payload of {len(payload)} bytes, expected {want}")


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
