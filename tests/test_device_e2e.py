"""End to end against every simulated board: the host-build simulator and QEMU's Cortex-M4 (mps2-an386).

The same scenarios run on each board (module-scoped fixture parametrized over board):
  * a profile built from data/basicmotions.npz (window 10) is uploaded; a stream of 300
    windows (drifting in its last third) is injected; every telemetry record equals the row
    tinydrift.score computes on the host, field for field;
  * the profile survives a restart (profile id unchanged, boot id changed);
  * uploads cut short (connection dropped mid-chunks, power lost mid-upload, a corrupted
    chunk, a BEGIN with a wrong CRC, a COMMIT before all bytes) leave the previous profile
    active, also across a reboot;
  * garbage bytes and truncated frames are counted and ignored; telemetry the host dropped
    is backfilled from the device's ring with FETCH, so the full sequence equals score().
QEMU needs qemu-system-arm and arm-none-eabi-gcc; without them its half is skipped.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.device import messages as link, protocol as proto, records as telemetry_records
from tinydrift.cli.app import main
from tinydrift.core.native import lib
from tinydrift.device.client import Device
from tinydrift.device.protocol import DeviceError
from tinydrift.device.sim import Simulator
from e2e_boards import TIMEOUT, activate, assert_equal_rows, connect, dev, missing_tools, nack, sim  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
DATA_NPZ = ROOT / "data" / "basicmotions.npz"
WINDOW = 10
BOARD_IDS = {"host": 1, "qemu": 2}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def data() -> dict:
    frames = np.load(DATA_NPZ)["frames"]
    train = frames[:4000]
    profile_a = tinydrift.build_profile(train, window=WINDOW, seed=0)
    profile_b = tinydrift.build_profile(train, window=WINDOW, n_centroids=4, seed=1)
    assert profile_a.profile_id != profile_b.profile_id
    stream = frames[4000:7000].copy()  # 300 windows of held-out cases
    stream[2000:, 2] = 32767  # the last 100 windows: channel 2 stuck at its rail -> health + CUSUM alarm
    rows = tinydrift.score(profile_a, stream)
    assert len(rows) == 300 and rows["alarm"].any() and not rows["alarm"][:150].all()
    return {"a": profile_a, "b": profile_b, "stream": stream, "rows": rows, "frames": frames}


# ------------------------------------------------------------------------------------------ tests


def test_fresh_board_info_and_nacks(sim: Simulator, dev: Device) -> None:
    info = dev.info()
    assert info.board_id == BOARD_IDS[sim.board]
    assert info.protocol_version == 2 and info.max_payload == 352 and info.max_channels == 16
    assert info.device_uid and info.uid_text == f"{info.device_uid:016x}"
    assert info.ring_capacity >= 64 and info.board_name
    assert info.active_slot is None and info.profile_id == 0 and info.profile_channels == 0
    with pytest.raises(DeviceError, match="no active profile"):
        dev.inject(np.zeros((10, 6), np.int16))
    cases = [(proto.MSG_INJECT, bytes(12), lib.TD_ERR_STATE),    # no active profile
             (proto.MSG_UPLOAD_CHUNK, bytes(8), lib.TD_ERR_STATE),  # no upload in progress
             (0x7F, b"", lib.TD_ERR_ARG)]                        # unknown request type
    for msg_type, payload, status in cases:
        with pytest.raises(DeviceError, match=proto.status_name(status)) as exc:
            dev.request(msg_type, payload)
        assert exc.value.status == status
    with pytest.raises(DeviceError, match="TD_ERR_SIZE"):
        dev.request(proto.MSG_UPLOAD_BEGIN, link.UploadBegin(1 << 24, 0).pack())
    with pytest.raises(DeviceError, match="TD_ERR_STATE"):
        dev.reset_alarm()  # nothing to reset without a profile
    assert dev.sensor(0) == 0  # stop sampling: always fine
    with pytest.raises(DeviceError, match="TD_ERR_STATE"):
        dev.sensor(10)  # sampling needs the profile's channel count


def test_inject_telemetry_equals_host_score(sim: Simulator, dev: Device, data: dict) -> None:
    steps = []
    activate(dev, data["a"])
    info = dev.info()
    assert (info.profile_id, info.profile_channels, info.profile_window) == (data["a"].profile_id, 6, WINDOW)
    assert info.active_slot in (0, 1)
    t0 = time.monotonic()
    records = dev.inject(data["stream"], on_record=steps.append)
    elapsed = time.monotonic() - t0
    assert_equal_rows(records, data["rows"])
    assert steps == records
    seqs = [r.seq for r in records]
    assert seqs == list(range(info.next_seq, info.next_seq + len(records)))
    assert {(r.boot_id, r.profile_id, r.replayed) for r in records} == {(info.boot_id, data["a"].profile_id, False)}
    assert all(b.uptime_ms >= a.uptime_ms for a, b in zip(records, records[1:]))
    after = dev.info()
    assert after.next_seq == info.next_seq + 300 and after.frames_processed >= info.frames_processed + 3000
    print(f"{sim.board}: injected 3000 frames, 300 records in {elapsed:.2f} s")


def test_reset_alarm_matches_host(dev: Device, data: dict) -> None:
    activate(dev, data["a"])
    mon = tinydrift.Monitor(data["a"])
    first = data["stream"][1500:2500]  # ends in drift: alarm latched
    more = data["frames"][7000:7500]
    rows = list(mon.push(first))
    mon.reset_alarm()
    rows += list(mon.push(more))
    with pytest.raises(DeviceError, match="TD_ERR_ARG"):
        dev.request(proto.MSG_INJECT, bytes(14))  # 7 values: not whole 6-channel frames
    records = dev.inject(first)
    assert records[-1].alarm
    dev.reset_alarm()
    records += dev.inject(more)
    assert_equal_rows(records, np.array(rows, dtype=rows[0].dtype))
    assert not records[-1].alarm


def test_partial_windows_span_inject_messages(dev: Device, data: dict) -> None:
    """Frames split at odd points (3, 7, 13 frames) still fill windows exactly like one long push."""
    activate(dev, data["a"])
    stream = data["stream"][:1000]
    records = []
    pos = 0
    for size in [3, 7, 13, 1, 26, 50] * 100:
        if pos >= len(stream):
            break
        records += dev.inject(stream[pos : pos + size])
        pos += size
    assert_equal_rows(records, data["rows"][:100])


def test_profile_survives_restart(sim: Simulator, data: dict) -> None:
    with connect(sim) as dev:
        activate(dev, data["a"])
        before = dev.info()
    sim.restart()
    with connect(sim) as dev:
        after = dev.info()
        assert after.profile_id == before.profile_id == data["a"].profile_id
        assert after.active_slot == before.active_slot
        assert after.boot_id != before.boot_id
        assert after.next_seq == 0 and after.frames_processed == 0
        records = dev.inject(data["stream"][:500])  # the monitor starts afresh after a boot
        assert_equal_rows(records, data["rows"][:50])
        assert {r.boot_id for r in records} == {after.boot_id}


def _begin(dev: Device, blob: bytes, crc: int | None = None) -> None:
    dev.request(proto.MSG_UPLOAD_BEGIN, link.UploadBegin(len(blob), zlib.crc32(blob) if crc is None else crc).pack())


def _chunks(dev: Device, blob: bytes, upto: int, size: int = 64, corrupt_at: int | None = None) -> None:
    for off in range(0, min(upto, len(blob)), size):
        data = bytearray(blob[off : off + size])
        if corrupt_at is not None and off <= corrupt_at < off + len(data):
            data[corrupt_at - off] ^= 0x5A
        ack = dev.request(proto.MSG_UPLOAD_CHUNK, link.UploadChunk(off, bytes(data)).pack())
        assert ack.value == off + len(data)


def _commit_fails(dev: Device, status: int) -> None:
    with pytest.raises(DeviceError, match=proto.status_name(status)) as exc:
        dev.request(proto.MSG_UPLOAD_COMMIT)
    assert exc.value.status == status


def test_cut_uploads_leave_the_previous_profile(sim: Simulator, data: dict) -> None:
    a, b = data["a"], data["b"]
    blob = b.to_bytes()
    rng = random.Random(1234)
    with connect(sim) as dev:
        activate(dev, a)
        # connection dropped after a random number of chunks
        _begin(dev, blob)
        _chunks(dev, blob, rng.randrange(1, len(blob)))
    with connect(sim) as dev:
        assert dev.info().profile_id == a.profile_id
        # a corrupted chunk: every byte arrives, the CRC check at COMMIT fails
        _begin(dev, blob)
        _chunks(dev, blob, len(blob), corrupt_at=rng.randrange(len(blob)))
        _commit_fails(dev, lib.TD_ERR_CRC)
        assert dev.info().profile_id == a.profile_id
        # BEGIN announcing a wrong CRC
        _begin(dev, blob, crc=zlib.crc32(blob) ^ 0x1)
        _chunks(dev, blob, len(blob))
        _commit_fails(dev, lib.TD_ERR_CRC)
        assert dev.info().profile_id == a.profile_id
        # COMMIT before all bytes arrived, at random cut points
        for _ in range(3):
            _begin(dev, blob)
            _chunks(dev, blob, rng.randrange(1, len(blob) - 64))
            _commit_fails(dev, lib.TD_ERR_TRUNCATED)
            assert dev.info().profile_id == a.profile_id
        # a chunk out of order is refused, a repeated one re-acknowledged
        _begin(dev, blob)
        _chunks(dev, blob, 64)
        with pytest.raises(DeviceError, match="TD_ERR_RANGE"):
            dev.request(proto.MSG_UPLOAD_CHUNK, link.UploadChunk(128, blob[128:192]).pack())
        assert dev.request(proto.MSG_UPLOAD_CHUNK, link.UploadChunk(0, blob[:64]).pack()).value == 64
        # a well-formed blob the parser rejects (valid CRC over bad content)
        bad = bytearray(blob)
        bad[0:4] = b"XXXX"
        _begin(dev, bytes(bad))
        _chunks(dev, bytes(bad), len(bad))
        _commit_fails(dev, lib.TD_ERR_MAGIC)
        assert dev.info().profile_id == a.profile_id
        # power lost mid-upload
        _begin(dev, blob)
        _chunks(dev, blob, len(blob) // 2)
    sim.kill()
    sim.start()
    with connect(sim) as dev:
        info = dev.info()
        assert info.profile_id == a.profile_id
        # and a complete upload still switches, atomically, and persists
        assert dev.upload_profile(b, chunk=100) == b.profile_id
        assert dev.info().active_slot != info.active_slot
    sim.restart()
    with connect(sim) as dev:
        assert dev.info().profile_id == b.profile_id
        activate(dev, a)


def test_upload_reports_progress_and_retries_commit(sim: Simulator, dev: Device, data: dict) -> None:
    seen = []
    dev.upload_profile(data["b"], chunk=256, progress=lambda done, total: seen.append((done, total)))
    total = len(data["b"].to_bytes())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    activate(dev, data["a"])


def test_garbage_and_truncated_frames_are_ignored(dev: Device, data: dict) -> None:
    activate(dev, data["a"])
    before = dev.info()
    rng = random.Random(99)
    good = proto.encode_frame(proto.MSG_INFO_REQ, 1)
    bad_crc = bytearray(proto.encode_frame(proto.MSG_INFO_REQ, 2, b"xyz"))
    bad_crc[3] ^= 0x01
    dev.write_raw(bytes(rng.randrange(256) for _ in range(3000)) + b"\x00")  # noise with zeros inside
    dev.write_raw(good[: len(good) // 2] + b"\x00")                            # truncated frame, then a flush
    dev.write_raw(bytes(bad_crc))                                              # CRC error
    dev.write_raw(bytes(rng.randrange(1, 256) for _ in range(800)) + b"\x00")  # longer than any frame
    dev.write_raw(proto.encode_frame(proto.MSG_INJECT, 3, bytes(12))[:-4])         # truncated, no delimiter
    dev.write_raw(b"\x00")
    # Any answers to noise are stale (seq mismatch) and get ignored by the request below.
    after = dev.info()
    assert after.link_errors >= before.link_errors + 4
    assert after.profile_id == before.profile_id and after.frames_processed == before.frames_processed
    # The monitor is untouched: a fresh injection still equals the host's score.
    records = dev.inject(data["stream"][:1000])
    first_window = records[0].window
    assert first_window == 0
    assert_equal_rows(records, data["rows"][:100])


def test_dropped_telemetry_is_backfilled_by_fetch(dev: Device, data: dict) -> None:
    activate(dev, data["a"])
    rng = random.Random(7)
    dropped = []

    def lossy(frame: proto.Frame) -> bool:
        if frame.type == proto.MSG_TELEMETRY and frame.payload[49] & proto.FLAG_REPLAYED == 0 and rng.random() < 0.2:
            dropped.append(frame)
            return False
        return True

    dev.frame_hook = lossy
    capacity = dev.info().ring_capacity
    per_batch = min(100, capacity - 8)  # stay within what the ring holds between backfills
    got: dict[int, telemetry_records.TelemetryRecord] = {}
    stream = data["stream"]
    n_windows = len(stream) // WINDOW
    for first in range(0, n_windows, per_batch):
        start = dev.info().next_seq
        live = dev.inject(stream[first * WINDOW : min(n_windows, first + per_batch) * WINDOW])
        end = dev.info().next_seq
        got.update({r.seq: r for r in live})
        missing = sorted(set(range(start, end)) - set(got))
        if missing:
            fetched = dev.fetch(missing[0])
            assert all(r.replayed for r in fetched)
            assert [r.seq for r in fetched] == list(range(missing[0], end))
            for r in fetched:
                if r.seq in got:  # a replayed copy equals what arrived live
                    assert r.pack()[:49] == got[r.seq].pack()[:49]
                got.setdefault(r.seq, r)
    dev.frame_hook = None
    assert len(dropped) > 10
    seqs = sorted(got)
    assert seqs == list(range(seqs[0], seqs[0] + n_windows))
    assert_equal_rows([got[s] for s in seqs], data["rows"])
    # max_records limits a fetch; records older than the ring are gone (the first seq returned is later)
    info = dev.info()
    assert len(dev.fetch(info.next_seq - 50, max_records=20)) == 20
    if info.oldest_seq > 0:
        assert dev.fetch(0, max_records=5)[0].seq == info.oldest_seq
    assert dev.fetch(info.next_seq) == []
    batched = dev.fetch(info.next_seq - 100, batch=16)  # several FETCH requests, continued where each stopped
    assert [r.seq for r in batched] == list(range(info.next_seq - 100, info.next_seq))
    assert_equal_rows(batched, data["rows"][-100:])


def test_lost_acks_are_retried_without_double_effects(sim: Simulator, data: dict) -> None:
    """Drop the first ACK of some requests: the host retries with the same seq, the device answers again
    without executing twice (no frame injected twice, no chunk written twice)."""
    victims = {proto.MSG_UPLOAD_CHUNK: 2, proto.MSG_UPLOAD_COMMIT: 1, proto.MSG_INJECT: 3}
    seen: dict[int, int] = {}
    dropped = []

    def lose_acks(frame: proto.Frame) -> bool:
        if frame.type == proto.MSG_ACK:
            ack = link.Ack.unpack(frame.payload)
            seen[ack.request_type] = seen.get(ack.request_type, 0) + 1
            if victims.get(ack.request_type) == seen[ack.request_type]:
                dropped.append(ack)
                return False
        return True

    with Device(sim.url, timeout=0.3, frame_hook=lose_acks) as dev:
        assert dev.upload_profile(data["a"], chunk=64) == data["a"].profile_id
        records = dev.inject(data["stream"][:1000])
    assert {a.request_type for a in dropped} == set(victims)
    assert_equal_rows(records, data["rows"][:100])


def test_cli_against_the_simulator(sim: Simulator, data: dict, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    if sim.url is None:
        sim.start()
    ref = tmp_path / "ref.tdp"
    data["a"].save(ref)
    stream = tmp_path / "stream.npy"
    np.save(stream, data["stream"][:300])
    port = sim.url
    assert main(["upload", "--port", port, str(ref)]) == 0
    out = capsys.readouterr().out
    assert f"{data['a'].profile_id:#010x}" in out
    assert main(["info", "--port", port, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["profile_id"] == data["a"].profile_id and info["board_id"] == BOARD_IDS[sim.board]
    assert main(["replay", "--port", port, str(stream), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(ln)["score"] for ln in lines] == data["rows"]["score"][:30].tolist()
    assert main(["replay", "--port", port, str(stream), "--rate", "3000"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 30 and "30 windows" in err
    assert main(["info", "--port", port]) == 0
    assert "link errors" in capsys.readouterr().out


def test_device_errors_are_one_line(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    if sim.url is None:
        sim.start()
    with connect(sim) as dev:
        dev.info()
        sim.kill()  # the board goes away mid-session
        with pytest.raises(DeviceError, match=r"^(lost connection to|no answer from) device at socket://"):
            dev.info()
    port = 1  # nothing listens there
    assert main(["info", "--port", f"socket://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tinydrift: error: cannot open socket://127.0.0.1:{port}:") and "\n" not in err
    sim.start()
