"""Fuzz target (atheris, libFuzzer's engine for Python) for the host package's decoders of untrusted bytes.

A crash is any exception other than the package's documented errors (``TinyDriftError`` and its subclasses:
``ProtocolError`` for link messages, ``InputError`` for recordings, ``ProfileError`` for profiles).

Input: byte 0 (% 6) selects the decoder, the rest is its input:
  0 link stream      FrameReader fed in chunks (sizes from the data), every frame through ``decode`` (device.messages);
                     a decoded message must pack again, and after one round decode(pack(m)) == m
  1 link message     byte 1 = message type, the rest the payload: ``decode`` (and the round trip above)
  2 CSV recording    the bytes as a .csv file: ``read_recording``
  3 .npy recording   the bytes as a .npy file: ``read_recording``
  4 .npz recording   the bytes as a .npz file: ``read_recording``
  5 profile          byte 1 bit 0: write the blob's own CRC-32 first (at total_size - 4), so that mutations reach
                     the checks behind it; the rest: ``Profile.from_bytes``; an accepted profile must re-serialize
                     to a blob that parses again

Run: make fuzz (fuzz/fuzz.mk), or .venv/bin/python fuzz/fuzz_host.py [libFuzzer options] CORPUS_DIR...
Seeds: fuzz/corpus/host (fuzz/make_corpus.py).
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import atheris
import numpy as np  # imported before instrumentation: only the package is instrumented

with atheris.instrument_imports():
    from tinydrift import Profile, TinyDriftError
    from tinydrift.core.recording import read_recording
    from tinydrift.device.messages import decode
    from tinydrift.device.protocol import Frame, FrameReader

# Recordings are read from files: one per extension, rewritten per input, named by process id in one directory.
# libFuzzer ends the process without running Python's cleanup, so files left by ended runs are removed here.
_DIR = Path("/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()) / "tinydrift-fuzz-host"
_DIR.mkdir(exist_ok=True)
for _old in _DIR.glob("input-*"):
    try:
        os.kill(int(_old.name.split("-")[1].split(".")[0]), 0)
    except (ProcessLookupError, ValueError):
        _old.unlink(missing_ok=True)
    except PermissionError:
        pass
_PATHS = {ext: _DIR / f"input-{os.getpid()}{ext}" for ext in (".csv", ".npy", ".npz")}


def _round_trip(message: object) -> None:
    """pack() works on every decoded message, and decoding is stable after one round: decode(pack(m')) == m' for
    m' = decode(pack(m)) (not m itself: text is decoded leniently, so a non-ASCII LOG or board name changes once)."""
    once = decode(Frame(message.TYPE, 0, message.pack()))  # type: ignore[attr-defined]
    twice = decode(Frame(once.TYPE, 0, once.pack()))
    if twice != once:
        raise AssertionError(f"decode(pack(m)) not stable: {once!r} -> {twice!r}")


def _stream(data: bytes) -> None:
    reader = FrameReader()
    pos = 0
    k = 0
    while pos < len(data):
        n = (data[k % len(data)] & 0x3F) + 1
        k += 1
        for frame in reader.feed(data[pos : pos + n]):
            try:
                message = decode(frame)
            except TinyDriftError:
                continue
            _round_trip(message)
        pos += n


def _message(data: bytes) -> None:
    if not data:
        return
    message = decode(Frame(data[0], 0, bytes(data[1:])))
    _round_trip(message)


def _recording(ext: str, data: bytes) -> None:
    path = _PATHS[ext]
    path.write_bytes(data)
    rec = read_recording(path)
    if rec.frames.dtype != np.int16 or rec.frames.ndim != 2 or len(rec.channel_names) != rec.frames.shape[1]:
        raise AssertionError(f"read_recording returned {rec.frames.dtype} {rec.frames.shape}, {rec.channel_names}")


def _profile(data: bytes) -> None:
    if not data:
        return
    blob = bytearray(data[1:])
    if data[0] & 1 and len(blob) >= 12:
        total = struct.unpack_from("<I", blob, 8)[0]
        if 4 <= total <= len(blob):
            struct.pack_into("<I", blob, total - 4, zlib.crc32(bytes(blob[: total - 4])))
    profile = Profile.from_bytes(bytes(blob))
    Profile.from_bytes(profile.to_bytes())


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind, rest = data[0] % 6, data[1:]
    try:
        if kind == 0:
            _stream(rest)
        elif kind == 1:
            _message(rest)
        elif kind == 2:
            _recording(".csv", rest)
        elif kind == 3:
            _recording(".npy", rest)
        elif kind == 4:
            _recording(".npz", rest)
        else:
            _profile(rest)
    except TinyDriftError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

if __name__ == "__main__":
    main()
