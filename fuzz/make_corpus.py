"""Write the seed corpora of the fuzz targets (fuzz/corpus/<target>/): valid profiles from the builder, valid
frames of every message type, typical request sequences, host decoder inputs.

    .venv/bin/python fuzz/make_corpus.py            # rewrite fuzz/corpus/{profile,frame,app,host}/seed-*
    .venv/bin/python fuzz/make_corpus.py --check    # exit 1 if the committed seeds differ from what it writes
    .venv/bin/python fuzz/make_corpus.py --out DIR  # write them under DIR/<target>/ instead

Seeds are deterministic (fixed random seeds, fixed created_unix), so a rerun writes the same bytes. Files not
named seed-* (regression inputs of crashes found and fixed) are left alone. Input layouts are those documented
at the top of fuzz/fuzz_profile.c, fuzz/fuzz_frame.c, fuzz/fuzz_app.c and fuzz/fuzz_host.py.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from cobs import cobs

import tinydrift
from tinydrift.outputs import OutputsConfig

ROOT = Path(__file__).resolve().parent / "corpus"

# Message types (docs/protocol.md).
INFO_REQ, UPLOAD_BEGIN, UPLOAD_CHUNK, UPLOAD_COMMIT, UPLOAD_ABORT, INJECT, FETCH, RESET_ALARM, SENSOR = range(1, 10)
INJECT_EMBEDDING, INJECT_OUTPUTS, LABEL = 0x0A, 0x0B, 0x0C
INFO, ACK, NACK, TELEMETRY, LOG = 0x81, 0x82, 0x83, 0x84, 0x85

# fuzz_app.c operations (op byte % 16; REQUEST is 0-4, INJECT 13-15).
OP_REQUEST, OP_RAW, OP_UPLOAD, OP_CUT, OP_REBOOT, OP_LINK_RESET, OP_TIME, OP_LINK_DOWN, OP_SENSOR, OP_INJECT = (
    0, 5, 6, 7, 8, 9, 10, 11, 12, 13)

# fuzz_host.py decoders (first byte).
HOST_STREAM, HOST_MESSAGE, HOST_CSV, HOST_NPY, HOST_NPZ, HOST_PROFILE = range(6)


def frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """Wire bytes of one frame, written from docs/protocol.md (COBS, CRC-32) rather than by the package."""
    body = bytes([1, msg_type]) + struct.pack("<H", seq) + payload
    body += struct.pack("<I", zlib.crc32(body))
    return cobs.encode(body) + b"\x00"


def recording(n: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    base = 300 * np.sin(t / (7.0 + np.arange(channels))) + rng.normal(0, 40, (n, channels))
    return np.clip(base + 100 * np.arange(channels), -32768, 32767).astype(np.int16)


def profiles() -> dict[str, bytes]:
    """Builder profiles covering every section: feature chart + centroid scales + log std (the default build),
    occupancy + sentinel + rails (centroids scoring), outputs, external embedding."""
    mixture = tinydrift.build_profile(recording(2400, 3, 1), window=16, n_centroids=3, seed=1)
    centroids = tinydrift.build_profile(recording(2400, 1, 2), window=8, n_centroids=2, scoring="centroids",
                                        rails=(-2000, 2000), sentinel=-32768, stuck_tolerance=1,
                                        occupancy_windows=16, feature_chart=False, seed=2)
    outputs = mixture.replace(outputs=OutputsConfig(prior=np.array([0.5, 0.25, 0.25]),
                                                    accuracy=np.array([0.4, 0.6, 0.8, 0.95])))
    external = centroids.replace(projection=None, proj_shift=0, ext_scale_q24=1 << 20, ext_zero_point=-3,
                                 centroids_q8=np.array([[256, -512, 0], [-256, 512, 1024]], np.int32),
                                 occupancy_windows=0, occupancy_cost_q8=None)
    out = {}
    for name, prof in (("mixture", mixture), ("centroids", centroids), ("outputs", outputs),
                       ("external", external)):
        out[name] = prof.replace(created_unix=1700000000).to_bytes()
        tinydrift.Profile.from_bytes(out[name])  # every seed profile is valid
    return out


def samples(n: int, seed: int) -> bytes:
    return recording(n, 1, seed).tobytes()


def profile_seeds(profs: dict[str, bytes]) -> dict[str, bytes]:
    seeds = {}
    for name, blob in profs.items():
        seeds[f"{name}"] = b"\x00" + blob                              # as built, one window, own samples
        seeds[f"{name}-fixcrc-4w"] = b"\x07" + blob + samples(64, 3)  # CRC rewritten, 4 windows, a sample tail
    return seeds


def frame_seeds() -> dict[str, bytes]:
    rec = bytes(range(52)) + bytes(16) + bytes(24)
    messages = {
        "info-req": (INFO_REQ, b""), "upload-begin": (UPLOAD_BEGIN, struct.pack("<II", 1752, 0xDEADBEEF)),
        "upload-chunk": (UPLOAD_CHUNK, struct.pack("<I", 256) + bytes(range(256))),
        "upload-commit": (UPLOAD_COMMIT, b""), "upload-abort": (UPLOAD_ABORT, b""),
        "inject": (INJECT, struct.pack("<6h", 1, -2, 300, -32768, 32767, 0)),
        "fetch": (FETCH, struct.pack("<IH", 5, 64)), "reset-alarm": (RESET_ALARM, b""),
        "sensor": (SENSOR, struct.pack("<H", 200)), "inject-embedding": (INJECT_EMBEDDING, bytes([1, 255, 0, 128])),
        "inject-outputs": (INJECT_OUTPUTS, bytes([200, 30, 26])),
        "label": (LABEL, struct.pack("<IB", 7, 1) + struct.pack("<IB", 8, 0)),
        "info": (INFO, bytes(44) + b"host"), "ack": (ACK, struct.pack("<BBHI", 4, 0, 9, 0x1234)),
        "nack": (NACK, struct.pack("<BBHi", 3, 0, 9, -8)), "telemetry": (TELEMETRY, rec),
        "log": (LOG, b"\x01hello"), "max-payload": (TELEMETRY, bytes(352)),
        "info-v2": (INFO, bytes([INFO_REQ, 2]) + bytes(42) + bytes(range(1, 9)) + b"host"),  # protocol 2: uid at 44
    }
    seeds = {name: frame(t, 100 + i, p) for i, (name, (t, p)) in enumerate(messages.items())}
    seeds["stream"] = b"\x00" + b"".join(seeds[n] for n in ("info-req", "ack", "telemetry", "log"))
    bad = bytearray(seeds["telemetry"])
    bad[10] ^= 0x40
    seeds["stream-corrupt"] = b"junk" + bytes(bad) + seeds["ack"]
    seeds["run-254"] = frame(TELEMETRY, 1, b"\x01" * 300)
    return seeds


def request(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    return bytes([OP_REQUEST, msg_type]) + struct.pack("<HH", seq, len(payload)) + payload


def upload(blob: bytes, flags: int = 0) -> bytes:
    return bytes([OP_UPLOAD, flags]) + struct.pack("<H", len(blob)) + blob


def inject(n_frames: int, values: bytes) -> bytes:
    return bytes([OP_INJECT, n_frames]) + values


def app_seeds(profs: dict[str, bytes]) -> dict[str, bytes]:
    mix = profs["mixture"]   # 3 channels, window 16
    one = profs["centroids"]  # 1 channel, window 8
    frames3 = recording(40, 3, 5).tobytes()
    seeds = {
        # Upload, INFO, data (two and a half windows), FETCH, RESET_ALARM, sensor on/off.
        "upload-inject-fetch": bytes([0]) + upload(mix) + request(INFO_REQ, 1) + inject(40, frames3)
        + request(FETCH, 2, struct.pack("<IH", 0, 8)) + request(RESET_ALARM, 3)
        + request(SENSOR, 4, struct.pack("<H", 100)) + bytes([OP_SENSOR, 40]) + request(SENSOR, 5, b"\x00\x00"),
        # Outputs profile: inferences and labels, a retried LABEL.
        "outputs-labels": bytes([0]) + upload(profs["outputs"], 0x02) + inject(8, frames3[:48])
        + request(INJECT_OUTPUTS, 7, bytes([200, 30, 26, 10, 240, 6]))
        + request(LABEL, 8, struct.pack("<IB", 0, 0) + struct.pack("<IB", 1, 1))
        + request(LABEL, 8, struct.pack("<IB", 0, 0) + struct.pack("<IB", 1, 1)) + inject(16, frames3[:96]),
        # External-embedding profile: embeddings then frames, chunks of 17 bytes, every chunk sent twice.
        "external-embeddings": bytes([0]) + upload(profs["external"], 0x24)
        + request(INJECT_EMBEDDING, 9, bytes([3, 250, 7, 1, 2, 3])) + inject(8, samples(8, 6)),
        # A cut in the middle of a commit, reboot, check the old profile is back, then a clean upload.
        "cut-commit-reboot": bytes([1, OP_CUT, 1, 40]) + upload(one) + bytes([OP_REBOOT]) + request(INFO_REQ, 1)
        + upload(one) + bytes([OP_REBOOT]) + inject(8, samples(8, 7)),
        # An interrupted erase at BEGIN.
        "cut-erase": bytes([2, OP_CUT, 0, 0]) + request(UPLOAD_BEGIN, 1, struct.pack("<II", 100, 0))
        + bytes([OP_REBOOT]) + request(INFO_REQ, 2),
        # Line noise, a partial frame cut by a link reset, retries, a link whose writes fail, time passing.
        "noise-reset-retry": bytes([1, OP_RAW, 12]) + b"\x05garbage\x00\x01\x02\x03" + bytes([OP_RAW, 5])
        + frame(INFO_REQ, 3)[:5] + bytes([OP_LINK_RESET]) + request(RESET_ALARM, 4) + request(RESET_ALARM, 4)
        + bytes([OP_LINK_DOWN]) + inject(8, frames3[:48]) + bytes([OP_LINK_DOWN, OP_TIME, 200])
        + request(FETCH, 5, struct.pack("<IH", 0, 64)),
        # Requests that must be refused: wrong lengths, unknown and device-to-host types, chunk without BEGIN;
        # an upload aborted, then an ABORT with none in progress.
        "bad-requests": bytes([0]) + request(INFO_REQ, 1, b"x") + request(0x42, 2) + request(ACK, 3, bytes(8))
        + request(UPLOAD_CHUNK, 4, struct.pack("<I", 0) + b"abcd") + request(UPLOAD_COMMIT, 5)
        + request(INJECT, 6, b"\x01\x00") + request(UPLOAD_BEGIN, 7, struct.pack("<II", 0, 0))
        + request(UPLOAD_BEGIN, 8, struct.pack("<II", 100000, 0)) + request(UPLOAD_BEGIN, 9, struct.pack("<II", 64, 0))
        + request(UPLOAD_ABORT, 10) + request(UPLOAD_ABORT, 11),
    }
    return seeds


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def npz_bytes(**arrays: object) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(2020, 1, 1, 0, 0, 0)), npy_bytes(np.asarray(arr)))
    return buf.getvalue()


def host_seeds(profs: dict[str, bytes]) -> dict[str, bytes]:
    f = frame_seeds()
    seeds = {"stream": bytes([HOST_STREAM]) + f["stream"] + f["stream-corrupt"]}
    for name in ("info", "info-v2", "ack", "nack", "telemetry", "log", "upload-chunk", "label", "inject-outputs"):
        wire = f[name]
        body = cobs.decode(wire[:-1])
        seeds[f"message-{name}"] = bytes([HOST_MESSAGE, body[1]]) + body[4:-4]
    seeds["csv"] = bytes([HOST_CSV]) + b"ax,ay,az\n1,2,3\n-4,5,-32768\n32767,0,7\n"
    seeds["csv-bad"] = bytes([HOST_CSV]) + b"a,b\n1,2\n3,x\n"
    seeds["npy"] = bytes([HOST_NPY]) + npy_bytes(recording(20, 2, 8))
    seeds["npz"] = bytes([HOST_NPZ]) + npz_bytes(frames=recording(20, 2, 9), channel_names=np.array(["x", "y"]))
    for name, blob in profs.items():
        seeds[f"profile-{name}"] = bytes([HOST_PROFILE, 0]) + blob
        seeds[f"profile-{name}-fixcrc"] = bytes([HOST_PROFILE, 1]) + blob
    return seeds


def all_seeds() -> dict[str, dict[str, bytes]]:
    profs = profiles()
    return {"profile": profile_seeds(profs), "frame": frame_seeds(), "app": app_seeds(profs),
            "host": host_seeds(profs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_corpus.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed seeds, write nothing")
    parser.add_argument("--out", type=Path, default=ROOT, help="corpus root to write (default: fuzz/corpus)")
    args = parser.parse_args(argv)
    differ = []
    for target, seeds in all_seeds().items():
        folder = args.out / target
        want = {f"seed-{name}": data for name, data in seeds.items()}
        have = {p.name: p.read_bytes() for p in folder.glob("seed-*")} if folder.is_dir() else {}
        if args.check:
            differ += [f"{target}/{n}" for n in sorted(set(want) | set(have)) if want.get(n) != have.get(n)]
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for name in set(have) - set(want):
            (folder / name).unlink()
        for name, data in want.items():
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(want)} seeds, {sum(map(len, want.values()))} bytes")
    if differ:
        print(f"make_corpus.py: error: seeds differ from the committed ones: {', '.join(differ)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
