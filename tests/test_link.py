"""The device link's message layer (tinydrift.device.messages, .protocol, .records) and the C frame codec under it.

The C codec is checked against independent implementations: the ``cobs`` package and
``zlib.crc32``. Message layouts are checked against the offsets in docs/protocol.md,
written here with ``struct.pack_into`` at explicit offsets (not the module's structs).
A small fake device over TCP checks Device's error messages, retries and queueing.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydrift
from tinydrift.device import messages as link, protocol as proto, records as telemetry_records
from tinydrift.core.native import ffi, lib
from tinydrift.device.client import Device
from tinydrift.device.messages import Ack, Fetch, Info, Inject, Log, Nack, Sensor, UploadBegin, UploadChunk, decode
from tinydrift.device.protocol import DeviceError, FrameReader, ProtocolError, encode_frame
from tinydrift.device.records import TelemetryRecord, compare_records, records_equal_rows

ROOT = Path(__file__).resolve().parents[1]
DATA_NPZ = ROOT / "data" / "basicmotions.npz"

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i16 = st.integers(-0x8000, 0x7FFF)
i32 = st.integers(-0x80000000, 0x7FFFFFFF)


# ------------------------------------------------------------------------------------- C codec vs references


def c_cobs_encode(data: bytes) -> bytes:
    cap = len(data) + len(data) // 254 + 2
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    assert lib.td_cobs_encode(data, len(data), out, cap, n) == lib.TD_OK
    return bytes(ffi.buffer(out, n[0]))


def c_cobs_decode(data: bytes) -> tuple[int, bytes]:
    cap = max(1, len(data))
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    status = lib.td_cobs_decode(data, len(data), out, cap, n)
    return status, bytes(ffi.buffer(out, n[0])) if status == lib.TD_OK else b""


def body(msg_type: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("<BBH", 1, msg_type, seq) + payload
    return head + struct.pack("<I", zlib.crc32(head))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200) | st.lists(st.sampled_from([b"\x00", b"\x01", b"\xff"]), max_size=600).map(b"".join))
def test_cobs_matches_the_cobs_package(data: bytes) -> None:
    encoded = c_cobs_encode(data)
    assert encoded == cobs.encode(data)
    assert b"\x00" not in encoded
    assert c_cobs_decode(encoded) == (lib.TD_OK, data)
    assert cobs.decode(encoded) == data


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 507, 508, 509, 1000])
def test_cobs_block_boundaries(n: int) -> None:
    data = bytes((i % 255) + 1 for i in range(n))
    assert c_cobs_encode(data) == cobs.encode(data)
    assert c_cobs_encode(data + b"\x00") == cobs.encode(data + b"\x00")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_cobs_decode_rejects_what_the_package_rejects(data: bytes) -> None:
    status, out = c_cobs_decode(data)
    try:
        expected = cobs.decode(data)
    except cobs.DecodeError:
        assert status != lib.TD_OK
    else:
        assert (status, out) == (lib.TD_OK, expected)


@settings(max_examples=300, deadline=None)
@given(u8, u16, st.binary(max_size=320))
def test_frame_is_cobs_of_header_payload_crc32(msg_type: int, seq: int, payload: bytes) -> None:
    wire = encode_frame(msg_type, seq, payload)
    assert wire == cobs.encode(body(msg_type, seq, payload)) + b"\x00"
    assert len(wire) <= lib.TD_FRAME_MAX_WIRE
    frames = FrameReader().feed(wire)
    assert [(f.type, f.seq, f.payload) for f in frames] == [(msg_type, seq, payload)]


def test_frame_limits() -> None:
    assert lib.TD_FRAME_MAX_PAYLOAD == proto.MAX_PAYLOAD == 352
    assert lib.TD_FRAME_MAX_WIRE == 363
    assert len(encode_frame(1, 0, bytes([0xFF]) * 352)) <= lib.TD_FRAME_MAX_WIRE
    with pytest.raises(ValueError):
        encode_frame(1, 0, bytes(353))
    with pytest.raises(ValueError):
        encode_frame(1, 0x10000)


# ------------------------------------------------------------------------------------- FrameReader


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(u8, u16, st.binary(max_size=320)), min_size=1, max_size=8),
       st.lists(st.binary(min_size=1, max_size=400).map(lambda b: b.replace(b"\x00", b"\x55")), max_size=8),
       st.integers(1, 64))
def test_reader_skips_garbage_between_frames(frames: list, garbage: list, chunk: int) -> None:
    """Each garbage run is ended by a 0x00 (a flush) before the next frame: every frame survives."""
    stream = bytearray()
    for i, (t, s, p) in enumerate(frames):
        if i < len(garbage):
            stream += garbage[i] + b"\x00"
        stream += encode_frame(t, s, p)
    reader = FrameReader()
    got = []
    for pos in range(0, len(stream), chunk):  # arbitrary split points
        got += reader.feed(bytes(stream[pos : pos + chunk]))
    assert [(f.type, f.seq, f.payload) for f in got] == frames
    assert reader.n_frames == len(frames)
    assert reader.errors == min(len(garbage), len(frames))  # every garbage run is one dropped frame


def test_reader_counts_each_kind_of_bad_frame() -> None:
    good = encode_frame(0x82, 5, Ack(1, 5, 0).pack())
    reader = FrameReader()
    bad_crc = bytearray(body(0x82, 5, b"abc"))
    bad_crc[-1] ^= 0x01
    bad_version = bytearray(body(0x82, 5, b"abc"))
    bad_version[0] = 2
    head = bytes(bad_version[:-4])
    bad_version = head + struct.pack("<I", zlib.crc32(head))
    stream = (cobs.encode(bytes(bad_crc)) + b"\x00" + good
              + cobs.encode(bad_version) + b"\x00" + good
              + b"\x01" * 3 + b"\x00" + good          # too short a body
              + b"\x07" * 500 + b"\x00" + good        # longer than the largest body
              + b"\x05\x01\x00" + good                # COBS block runs past the delimiter
              + b"\x00\x00\x00" + good)               # empty frames: ignored, uncounted
    frames = reader.feed(stream)
    assert len(frames) == 6 and all(f.payload == Ack(1, 5, 0).pack() for f in frames)
    assert reader.n_crc_errors == 1
    assert reader.n_overflows == 1
    assert reader.n_format_errors == 3
    assert reader.errors == 5
    assert reader.counters()["frames"] == 6


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.data())
def test_truncated_frame_is_dropped_at_the_next_delimiter(payload: bytes, data: st.DataObject) -> None:
    wire = encode_frame(0x84, 9, payload)
    cut = data.draw(st.integers(1, len(wire) - 2))  # lose the tail, including the delimiter
    after = encode_frame(0x82, 10, b"x" * 8)
    reader = FrameReader()
    # Without a flush the truncated frame swallows the next one: both are lost, one error.
    assert reader.feed(wire[:cut] + after) == []
    assert reader.errors == 1
    # With a lone 0x00 (what a sender does first) only the truncated frame is lost.
    frames = reader.feed(wire[:cut] + b"\x00" + after)
    assert [(f.type, f.seq) for f in frames] == [(0x82, 10)]
    assert reader.errors == 2


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000))
def test_reader_survives_random_bytes(noise: bytes) -> None:
    reader = FrameReader()
    reader.feed(noise)
    frames = reader.feed(b"\x00" + encode_frame(1, 2))
    assert frames[-1].type == 1 and frames[-1].seq == 2


# ------------------------------------------------------------------------------------- layouts vs docs


def put(buf: bytearray, fmt: str, offset: int, value: int) -> None:
    struct.pack_into("<" + fmt, buf, offset, value)


@settings(max_examples=100, deadline=None)
@given(u16, u8, st.sampled_from([0, 1, None]), u32, u32, u32, u8, u8, u16, u32, u32, u16, u16, u32, u32,
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz -0123456789", max_size=40), st.sampled_from([1, 2]),
       st.integers(0, 2**64 - 1))
def test_info_layout(seq, board, slot, boot, fw, pid, n_ch, max_ch, window, nxt, oldest, cap, rate, frames, errs,
                     name, version, uid) -> None:
    # Version 1: the board name at 44. Version 2: the u64 device uid at 44, the name at 52.
    info = Info(seq, board, slot, 320, boot, fw, pid, n_ch, max_ch, window, nxt, oldest, cap, rate, frames, errs,
                name, version, uid if version >= 2 else None)
    doc = bytearray(44 if version == 1 else 52)
    for fmt, off, val in [("B", 0, 0x01), ("B", 1, version), ("H", 2, seq), ("B", 4, board),
                          ("B", 5, 0xFF if slot is None else slot), ("H", 6, 320), ("I", 8, boot), ("I", 12, fw),
                          ("I", 16, pid), ("B", 20, n_ch), ("B", 21, max_ch), ("H", 22, window), ("I", 24, nxt),
                          ("I", 28, oldest), ("H", 32, cap), ("H", 34, rate), ("I", 36, frames), ("I", 40, errs)]:
        put(doc, fmt, off, val)
    if version == 2:
        put(doc, "I", 44, uid & 0xFFFFFFFF)
        put(doc, "I", 48, uid >> 32)
    doc += name.encode()
    assert info.pack() == bytes(doc)
    assert Info.unpack(bytes(doc)) == info
    assert info.has_profile == (slot is not None and pid != 0)
    assert info.uid_text == (f"{uid:016x}" if version == 2 and uid else None)


def test_info_firmware_string_and_rejects() -> None:
    info = Info(1, 2, 0, 320, 7, 0x010203, 5, 6, 16, 10, 0, 0, 128, 0, 0, 0, "qemu")
    assert info.firmware == "1.2.3"
    assert info.to_dict()["firmware"] == "1.2.3"
    with pytest.raises(ProtocolError, match="INFO"):
        Info.unpack(bytes(43))
    with pytest.raises(ProtocolError, match="request type"):
        Info.unpack(b"\x02" + bytes(43))
    with pytest.raises(ProtocolError, match="INFO"):  # version 2 needs its 8 uid bytes
        Info.unpack(b"\x01\x02" + bytes(48))


@settings(max_examples=100, deadline=None)
@given(u8, u16, u32, i32)
def test_ack_nack_layout(rtype: int, rseq: int, value: int, error: int) -> None:
    assert Ack(rtype, rseq, value).pack() == bytes([rtype, 0]) + struct.pack("<HI", rseq, value)
    assert Nack(rtype, rseq, error).pack() == bytes([rtype, 0]) + struct.pack("<Hi", rseq, error)
    assert Ack.unpack(Ack(rtype, rseq, value).pack()) == Ack(rtype, rseq, value)
    assert Nack.unpack(Nack(rtype, rseq, error).pack()) == Nack(rtype, rseq, error)


def test_nack_names_the_status() -> None:
    nack = Nack(proto.MSG_UPLOAD_COMMIT, 3, lib.TD_ERR_CRC)
    assert nack.status_name == "TD_ERR_CRC"
    assert nack.describe().startswith("UPLOAD_COMMIT rejected: TD_ERR_CRC")
    assert proto.status_name(-10) == "TD_ERR_STATE" and proto.status_name(-99) == "td_status -99"


@settings(max_examples=100, deadline=None)
@given(u32, u32, u32, st.binary(min_size=1, max_size=256), u32, u16, u16,
       st.lists(i16, min_size=1, max_size=160), u8, st.text(alphabet="abc xyz", max_size=50))
def test_request_layouts(size, crc, offset, data, from_seq, max_records, rate, values, level, text) -> None:
    cases = [
        (UploadBegin(size, crc), struct.pack("<II", size, crc)),
        (UploadChunk(offset, data), struct.pack("<I", offset) + data),
        (Fetch(from_seq, max_records), struct.pack("<IH", from_seq, max_records)),
        (Sensor(rate), struct.pack("<H", rate)),
        (Inject(tuple(values)), struct.pack(f"<{len(values)}h", *values)),
        (Log(level, text), bytes([level]) + text.encode()),
    ]
    for msg, expected in cases:
        assert msg.pack() == expected
        frame = FrameReader().feed(link.encode(msg, 42))[0]
        assert (frame.type, frame.seq) == (msg.TYPE, 42)
        assert decode(frame) == msg
    for empty in (link.InfoRequest(), link.UploadCommit(), link.UploadAbort(), link.ResetAlarm()):
        assert empty.pack() == b""
        assert decode(FrameReader().feed(link.encode(empty, 1))[0]) == empty


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 16).flatmap(lambda d: st.lists(st.lists(st.integers(-128, 127), min_size=d, max_size=d),
                                                      min_size=1, max_size=320 // d)))
def test_inject_embedding_layout(rows: list) -> None:
    """INJECT_EMBEDDING (0x0A): the embeddings' int8 values back to back, row by row."""
    msg = link.InjectEmbedding.from_embeddings(np.array(rows, dtype=np.int8))
    values = [v for row in rows for v in row]
    assert msg.pack() == struct.pack(f"<{len(values)}b", *values)
    frame = FrameReader().feed(link.encode(msg, 9))[0]
    assert (frame.type, frame.seq) == (proto.MSG_INJECT_EMBEDDING, 9) and proto.MSG_INJECT_EMBEDDING == 0x0A
    assert decode(frame) == msg
    assert msg.embeddings(len(rows[0])).tolist() == rows
    assert proto.message_name(0x0A) == "INJECT_EMBEDDING"


def test_inject_embedding_limits() -> None:
    with pytest.raises(ValueError):
        link.InjectEmbedding(()).pack()
    with pytest.raises(ValueError):
        link.InjectEmbedding(tuple([0] * 321)).pack()
    with pytest.raises(ValueError):
        link.InjectEmbedding.from_embeddings(np.array([[128]]))
    with pytest.raises(ProtocolError):
        link.InjectEmbedding.unpack(b"")
    with pytest.raises(ProtocolError):
        link.InjectEmbedding((1, 2, 3)).embeddings(2)
    batches = list(link.embedding_batches(np.zeros((100, 8), np.int8)))
    assert [len(b) for b in batches] == [40, 40, 20]
    batches = list(link.embedding_batches(np.zeros((7, 100), np.int8)))
    assert [len(b) for b in batches] == [3, 3, 1]


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 16).flatmap(lambda k: st.lists(st.lists(st.integers(-128, 127), min_size=k, max_size=k),
                                                      min_size=1, max_size=320 // k)))
def test_inject_outputs_layout(rows: list) -> None:
    """INJECT_OUTPUTS (0x0B): the probability vectors' int8 values back to back, row by row."""
    msg = link.InjectOutputs.from_outputs(np.array(rows, dtype=np.int8))
    values = [v for row in rows for v in row]
    assert msg.pack() == struct.pack(f"<{len(values)}b", *values)
    frame = FrameReader().feed(link.encode(msg, 11))[0]
    assert (frame.type, frame.seq) == (proto.MSG_INJECT_OUTPUTS, 11) and proto.MSG_INJECT_OUTPUTS == 0x0B
    assert decode(frame) == msg
    assert msg.outputs(len(rows[0])).tolist() == rows
    assert proto.message_name(0x0B) == "INJECT_OUTPUTS"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(u32, u8), min_size=1, max_size=64))
def test_label_layout(pairs: list) -> None:
    """LABEL (0x0C): (u32 inference seq, u8 label) pairs, 5 bytes each."""
    msg = link.Label(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
    assert msg.pack() == b"".join(struct.pack("<IB", seq, label) for seq, label in pairs)
    frame = FrameReader().feed(link.encode(msg, 12))[0]
    assert (frame.type, frame.seq) == (proto.MSG_LABEL, 12) and proto.MSG_LABEL == 0x0C
    assert decode(frame) == msg
    assert proto.message_name(0x0C) == "LABEL"


def test_outputs_and_label_limits() -> None:
    with pytest.raises(ValueError):
        link.InjectOutputs(()).pack()
    with pytest.raises(ValueError):
        link.InjectOutputs(tuple([0] * 321)).pack()
    with pytest.raises(ValueError):
        link.InjectOutputs.from_outputs(np.array([[-129, 0]]))
    with pytest.raises(ProtocolError):
        link.InjectOutputs.unpack(b"")
    with pytest.raises(ProtocolError):
        link.InjectOutputs((1, 2, 3)).outputs(2)
    with pytest.raises(ValueError):
        link.Label((), ()).pack()
    with pytest.raises(ValueError):
        link.Label(tuple(range(65)), (0,) * 65).pack()
    with pytest.raises(ValueError):
        link.Label((1, 2), (0,)).pack()
    with pytest.raises(ValueError):
        link.Label((1,), (256,)).pack()
    for bad in (b"", bytes(4), bytes(6), bytes(5 * 65)):
        with pytest.raises(ProtocolError):
            link.Label.unpack(bad)


def test_request_limits() -> None:
    with pytest.raises(ValueError):
        UploadChunk(0, b"").pack()
    with pytest.raises(ValueError):
        UploadChunk(0, bytes(257)).pack()
    with pytest.raises(ValueError):
        Inject(tuple(range(161))).pack()
    with pytest.raises(ProtocolError):
        Inject.unpack(b"\x01\x02\x03")
    with pytest.raises(ProtocolError):
        Fetch.unpack(bytes(5))
    with pytest.raises(ProtocolError, match="unknown message"):
        decode(proto.Frame(0x7F, 0, b""))
    frames = Inject.from_frames(np.arange(12, dtype=np.int16).reshape(4, 3)).frames(3)
    assert frames.tolist() == np.arange(12).reshape(4, 3).tolist()
    batches = list(link.inject_batches(np.zeros((100, 6), np.int16)))
    assert [len(b) for b in batches] == [26, 26, 26, 22]


record_strategy = st.integers(1, 16).flatmap(lambda c: st.builds(
    TelemetryRecord,
    seq=u32, boot_id=u32, profile_id=u32, window=u32, uptime_ms=u32,
    score=u32.map(lambda v: v / 256), dist=u32.map(lambda v: v / 256), recon=u32.map(lambda v: v / 256),
    cusum=u32.map(lambda v: v / 256), trigger=st.integers(0, 7), alarm=st.booleans(), nearest=st.integers(0, 15),
    top_channel=st.integers(0, c - 1), stuck_mask=u16, saturated_mask=u16, missing_mask=u16, n_embeddings=u16,
    mean=st.tuples(*[i32.map(lambda v: v / 256)] * c), std=st.tuples(*[i32.map(lambda v: v / 256)] * c),
    z_mean=st.tuples(*[i16.map(lambda v: v / 256)] * c), z_std=st.tuples(*[i16.map(lambda v: v / 256)] * c),
    n_missing=st.tuples(*[u16] * c), n_saturated=st.tuples(*[u16] * c), replayed=st.booleans(),
    n_inferences=u16, top_class=st.integers(0, 15), ddm_state=st.integers(0, 2),
    mean_confidence=u32.map(lambda v: v / 65536), estimated_accuracy=u32.map(lambda v: v / 65536),
    prior_shift=u32.map(lambda v: v / 65536), n_labels=u16, n_correct=u16, accuracy=u32.map(lambda v: v / 65536),
))


@settings(max_examples=200, deadline=None)
@given(record_strategy)
def test_telemetry_layout(rec: TelemetryRecord) -> None:
    """Record version 2: the version-1 layout, then a 24-byte model-outputs block at 52 + 16 C."""
    c = rec.n_channels
    doc = bytearray(52 + 16 * c + 24)
    for fmt, off, val in [("I", 0, rec.seq), ("I", 4, rec.boot_id), ("I", 8, rec.profile_id), ("I", 12, rec.window),
                          ("I", 16, rec.uptime_ms), ("I", 20, int(rec.score * 256)), ("I", 24, int(rec.dist * 256)),
                          ("I", 28, int(rec.recon * 256)), ("I", 32, int(rec.cusum * 256)), ("B", 36, rec.trigger),
                          ("B", 37, int(rec.alarm)), ("B", 38, rec.nearest), ("B", 39, rec.top_channel),
                          ("H", 40, rec.stuck_mask), ("H", 42, rec.saturated_mask), ("H", 44, rec.missing_mask),
                          ("H", 46, rec.n_embeddings), ("B", 48, c), ("B", 49, int(rec.replayed)), ("B", 50, 2),
                          ("B", 51, 0)]:
        put(doc, fmt, off, val)
    for i in range(c):
        put(doc, "i", 52 + 16 * i, int(rec.mean[i] * 256))
        put(doc, "i", 56 + 16 * i, int(rec.std[i] * 256))
        put(doc, "h", 60 + 16 * i, int(rec.z_mean[i] * 256))
        put(doc, "h", 62 + 16 * i, int(rec.z_std[i] * 256))
        put(doc, "H", 64 + 16 * i, rec.n_missing[i])
        put(doc, "H", 66 + 16 * i, rec.n_saturated[i])
    o = 52 + 16 * c
    for fmt, off, val in [("H", 0, rec.n_inferences), ("B", 2, rec.top_class), ("B", 3, rec.ddm_state),
                          ("I", 4, int(rec.mean_confidence * 65536)), ("I", 8, int(rec.estimated_accuracy * 65536)),
                          ("I", 12, int(rec.prior_shift * 65536)), ("H", 16, rec.n_labels),
                          ("H", 18, rec.n_correct), ("I", 20, int(rec.accuracy * 65536))]:
        put(doc, fmt, o + off, val)
    assert rec.pack() == bytes(doc)
    assert TelemetryRecord.unpack(bytes(doc)) == rec
    assert rec.score_q8 == struct.unpack_from("<I", doc, 20)[0]
    assert len(doc) <= proto.MAX_PAYLOAD
    # A version-1 record (firmware before the outputs block) is the same bytes without the block.
    v1 = bytearray(doc[:o])
    v1[50] = 1
    old = TelemetryRecord.unpack(bytes(v1))
    assert old.version == 1 and old.n_inferences == 0 and old.accuracy == 0.0 and old.n_labels == 0
    assert (old.seq, old.window, old.mean, old.n_saturated) == (rec.seq, rec.window, rec.mean, rec.n_saturated)
    assert old.pack() == bytes(v1)


def test_telemetry_rejects_bad_lengths_and_versions() -> None:
    rec = TelemetryRecord(1, 2, 3, 4, 5, 1.0, 1.0, 0.0, 0.0, 0, False, 0, 0, 0, 0, 0, 0, (1.0,), (2.0,), (0.0,),
                          (0.0,), (0,), (0,))
    raw = rec.pack()
    assert len(raw) == 68 + 24 and proto.RECORD_VERSION == 2
    with pytest.raises(ProtocolError):
        TelemetryRecord.unpack(raw[:-1])
    with pytest.raises(ProtocolError):
        TelemetryRecord.unpack(raw + b"\x00")
    with pytest.raises(ProtocolError):  # a v2 record without its outputs block
        TelemetryRecord.unpack(raw[:68])
    with pytest.raises(ProtocolError):  # a v1 record with trailing bytes
        TelemetryRecord.unpack(raw[:50] + b"\x01" + raw[51:])
    with pytest.raises(ProtocolError, match="version"):
        TelemetryRecord.unpack(raw[:50] + b"\x03" + raw[51:])
    # the 16-channel record fills 332 of the 352 payload bytes (docs/protocol.md)
    big = TelemetryRecord(**{**rec.__dict__, **{k: v * 16 for k, v in rec.__dict__.items() if isinstance(v, tuple)}})
    assert len(big.pack()) == 332


def test_records_compare_with_score_rows() -> None:
    frames = np.load(DATA_NPZ)["frames"]
    prof = tinydrift.build_profile(frames[:4000], window=10, seed=0)
    stream = frames[4000:6000].copy()
    stream[1000:, 2] = 32767  # a channel stuck at its rail: health and CUSUM triggers, alarms, saturation masks
    rows = tinydrift.score(prof, stream)
    assert rows["alarm"].any() and rows["saturated_mask"].any()
    records = [TelemetryRecord.unpack(TelemetryRecord.from_row(r, seq=i, profile_id=prof.profile_id).pack())
               for i, r in enumerate(rows)]
    assert compare_records(records, rows) == []
    assert records_equal_rows(records, rows)
    assert telemetry_records.records_to_rows(records)["score"].tolist() == rows["score"].tolist()
    row = records[3].to_row(6)
    assert row["window"] == rows[3]["window"] and row["z_mean"].tolist() == rows[3]["z_mean"].tolist()
    changed = list(records)
    changed[7] = TelemetryRecord.from_row(rows[7], seq=7).__class__(**{**records[7].__dict__, "cusum": 1e6})
    diffs = compare_records(changed, rows)
    assert len(diffs) == 1 and "record 7" in diffs[0] and "cusum" in diffs[0]
    assert not records_equal_rows(records[:-1], rows)


# ------------------------------------------------------------------------------------- Device vs a fake


class FakeDevice:
    """TCP server speaking the link protocol from a script: handler(frame) -> list of wire bytes."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.received: list[proto.Frame] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        reader = FrameReader()
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for frame in reader.feed(data):
                    self.received.append(frame)
                    for out in self.handler(frame):
                        conn.sendall(out)

    def close(self) -> None:
        self.server.close()


def info_for(frame: proto.Frame, **changes: object) -> bytes:
    fields = dict(request_seq=frame.seq, board_id=1, active_slot=0, max_payload=352, boot_id=7,
                  firmware_version=0x100, profile_id=0x1234, profile_channels=1, max_channels=16, profile_window=10,
                  next_seq=0, oldest_seq=0, ring_capacity=128, sensor_rate_hz=0, frames_processed=0, link_errors=0,
                  board_name="fake")
    fields.update(changes)
    return link.encode(Info(**fields), 1)  # type: ignore[arg-type]


def test_device_cannot_open_is_one_line() -> None:
    with pytest.raises(DeviceError, match=r"^cannot open /dev/ttyNOPE0: No such file or directory$"):
        Device("/dev/ttyNOPE0")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()
    with pytest.raises(DeviceError, match=rf"^cannot open socket://127.0.0.1:{port}: .*refused"):
        Device(f"socket://127.0.0.1:{port}")


def test_device_retries_with_the_same_seq_then_gives_up() -> None:
    fake = FakeDevice(lambda frame: [])
    try:
        with Device(fake.url, timeout=0.1, retries=3) as dev:
            with pytest.raises(DeviceError, match=rf"^no answer from device at {fake.url} after 3 tries"):
                dev.info()
        assert len(fake.received) == 3 and len({f.seq for f in fake.received}) == 1
    finally:
        fake.close()


def test_device_answers_after_a_lost_reply_and_queues_telemetry() -> None:
    rec = TelemetryRecord(0, 7, 0x1234, 0, 5, 1.0, 1.0, 0.0, 0.0, 0, False, 0, 0, 0, 0, 0, 0, (1.0,), (2.0,), (0.0,),
                          (0.0,), (0,), (0,))
    calls = []

    def handler(frame: proto.Frame) -> list[bytes]:
        calls.append(frame)
        if frame.type == proto.MSG_INFO_REQ and len(calls) == 1:
            return [link.encode(rec, 1)]  # telemetry, then no answer: the host retries
        if frame.type == proto.MSG_INFO_REQ:
            return [b"junk\x00", info_for(frame, request_seq=(frame.seq + 1) & 0xFFFF), info_for(frame)]
        if frame.type == proto.MSG_UPLOAD_ABORT:
            return [link.encode(Nack(frame.type, frame.seq, lib.TD_ERR_STATE), 2)]
        return []

    fake = FakeDevice(handler)
    try:
        with Device(fake.url, timeout=0.2, retries=3) as dev:
            info = dev.info()
            assert info.board_name == "fake" and info.profile_id == 0x1234
            assert [c.seq for c in calls] == [calls[0].seq] * 2
            assert list(dev.telemetry(timeout=0.05)) == [rec]
            assert dev.reader.errors == 1
            with pytest.raises(DeviceError, match="UPLOAD_ABORT rejected: TD_ERR_STATE") as exc:
                dev.abort_upload()
            assert exc.value.status == lib.TD_ERR_STATE
    finally:
        fake.close()


# ------------------------------------------------------------------------------------- CLI and flashing (no hardware)


@pytest.mark.parametrize("argv", [["sim"], ["info"], ["upload"], ["replay"], ["firmware"], ["firmware", "build"],
                                  ["flash"]])
def test_device_commands_have_help_with_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from tinydrift.cli.app import main

    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and f"tinydrift {argv[0]}" in out


def test_device_command_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tinydrift.cli.app import main

    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\x00" * 16)
    monkeypatch.setenv("PATH", str(tmp_path))  # no bossac, no arduino-cli
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.arduino15 bossac
    cases = [
        (["info", "--port", "/dev/ttyNOPE0"], "cannot open /dev/ttyNOPE0: No such file or directory"),
        (["flash", "--board", "nano33ble", str(fw)], "no upload tool for the Nano 33 BLE (arduino-cli, or Arduino's "
                                                      "bossac): install arduino-cli"),
        (["firmware", "build", "--board", "nano33ble"], "arduino-cli not found"),
    ]
    for argv, expected in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tinydrift: error: ") and expected in err, err


def test_flash_board_description(tmp_path: Path) -> None:
    from tinydrift.device import flash

    default = flash.board_info(tmp_path)  # no boards/nano33ble/board.json there
    assert (default.vid, default.app_pid, default.boot_pid) == (0x2341, 0x805A, 0x005A)
    assert default.fqbn == "arduino:mbed_nano:nano33ble"
    cmd = flash.bossac_command(Path("fw.bin"), "/dev/ttyACM1", default)
    assert cmd == ["bossac", "-d", "--port=ttyACM1", "-U", "-i", "-e", "-w", "fw.bin", "-R"]  # platform.txt's form
    real = flash.board_info()  # the checkout's board.json (or the defaults while it does not exist)
    assert real.vid == 0x2341 and real.fqbn.startswith("arduino:mbed_nano:")
    with pytest.raises(DeviceError, match="no Nano 33 BLE running found"):
        flash.find_port(flash.BoardInfo(vid=0xFFFF))
