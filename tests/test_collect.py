"""Field collection against the host simulator playing a recording as its sensor.

The board is killed and restarted mid-stream, and left alone long enough for its ring
buffer to overflow: the database must hold every record exactly once, equal to
tinydrift.score on the same frames, and record as gaps exactly what the ring lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.telemetry.collect import Collector
from tinydrift.device.sim import firmware_path, free_port
from tinydrift.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
SENSOR_HZ = 2000
FIELDS = ("score", "dist", "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask",
          "saturated_mask", "missing_mask")
PER_CHANNEL = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames, case, split = data["frames"], data["case"], data["split"]
    names = [str(n) for n in data["channel_names"]]
    train = [frames[case == k] for k in np.unique(case[split == 0])]
    stream = frames[split == 1].astype(np.int32)
    stream[1500:, 4] *= 4  # gyr_y gain: alarms to alert on
    stream = np.clip(stream, -32768, 32767).astype(np.int16)
    profile = tinydrift.build_profile(train, window=WINDOW, channel_names=names)
    work = tmp_path_factory.mktemp("collect")
    sensor = work / "sensor.i16"
    sensor.write_bytes(stream.astype("<i2").tobytes())
    return {"profile": profile, "stream": stream, "rows": tinydrift.score(profile, stream), "sensor": sensor,
            "sim": firmware_path("host"), "names": names}


class Board:
    """tinydrift-sim on a fixed port, so a restarted board has the same URL (like a replugged USB port)."""

    def __init__(self, sim: Path, state: Path, sensor: Path) -> None:
        self.sim, self.state, self.sensor = sim, state, sensor
        self.port = free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        state.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.sim), "--tcp", str(self.port), "--storage", str(self.state / "storage.bin"),
             "--sensor-file", str(self.sensor)], stdout=subprocess.PIPE, text=True, cwd=self.state)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert f"127.0.0.1:{self.port}" in line, line

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def assert_equal_rows(records: list, rows: np.ndarray) -> None:
    assert len(records) == len(rows)
    for rec, row in zip(records, rows):
        assert rec.window == row["window"]
        for f in FIELDS:
            assert getattr(rec, f) == row[f], (rec.seq, f)
        for f in PER_CHANNEL:
            np.testing.assert_array_equal(np.asarray(getattr(rec, f)), row[f], err_msg=f"{rec.seq} {f}")


def wait_for(predicate, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_board_killed_and_restarted_mid_stream(setup: dict, tmp_path: Path) -> None:
    board = Board(setup["sim"], tmp_path / "board", setup["sensor"])
    board.start()
    try:
        with tinydrift.Device(board.url) as dev:
            dev.upload_profile(setup["profile"])
            first_boot = dev.info().boot_id
        alerts = tmp_path / "alerts.jsonl"
        store = TelemetryStore(tmp_path / "t.db")
        store.add_profile(setup["profile"], channel_names=setup["names"])
        collector = Collector(board.url, store, sensor_rate=SENSOR_HZ, timeout=0.5, backoff_max=0.5,
                              alert_cmd=f"{sys.executable} -c \"import sys; open({str(alerts)!r}, 'a').write(sys.stdin.read())\"")
        thread = threading.Thread(target=collector.run, kwargs={"idle_exit": 3.0}, daemon=True)
        thread.start()
        reader = TelemetryStore(tmp_path / "t.db", readonly=True)
        wait_for(lambda: reader.count_records() >= 60, 20)
        board.kill()  # mid-stream: the board loses its RAM (ring) and restarts
        time.sleep(0.3)
        board.start()
        thread.join(60)
        assert not thread.is_alive()
        boots = {b["boot_id"]: b for b in reader.boots()}
        assert set(boots) == {first_boot, first_boot + 1}
        first = reader.telemetry_records(boot_id=first_boot)
        second = reader.telemetry_records(boot_id=first_boot + 1)
        # Everything the first boot delivered is stored once, contiguous from seq 0 (nothing to backfill).
        assert [r.seq for r in first] == list(range(len(first))) and len(first) >= 60
        assert_equal_rows(first, setup["rows"][: len(first)])
        # The restarted board plays its sensor from the start: all of it arrives, once.
        assert [r.seq for r in second] == list(range(len(setup["rows"])))
        assert_equal_rows(second, setup["rows"])
        assert reader.gaps() == []
        assert collector.stats.connects >= 2
        # One alert per boot in which the alarm rose, each with the record as JSON.
        fired = [json.loads(line) for line in alerts.read_text().splitlines()]
        second_alarm = next(r for r in second if r.alarm)
        assert second_alarm.seq in [a["seq"] for a in fired if a["boot_id"] == first_boot + 1]
        assert all(a["alarm"] for a in fired)
    finally:
        board.stop()


def test_ring_overflow_is_recorded_as_a_gap(setup: dict, tmp_path: Path) -> None:
    board = Board(setup["sim"], tmp_path / "board", setup["sensor"])
    board.start()
    try:
        with tinydrift.Device(board.url) as dev:
            dev.upload_profile(setup["profile"])
            dev.sensor(SENSOR_HZ)
            capacity = dev.info().ring_capacity
            # Nobody listens while the whole recording plays: the ring keeps only the last records.
            wait_for(lambda: dev.info().next_seq == len(setup["rows"]), 20)
        store = TelemetryStore(tmp_path / "t.db")
        stats = Collector(board.url, store, timeout=0.5).run(idle_exit=1.0)
        n = len(setup["rows"])
        lost = n - capacity
        assert store.gaps()[0]["first_missing_seq"] == 0 and store.gaps()[0]["last_missing_seq"] == lost - 1
        records = store.telemetry_records()
        assert [r.seq for r in records] == list(range(lost, n))
        assert_equal_rows(records, setup["rows"][lost:])
        assert stats.seqs_lost == lost and stats.records_backfilled == capacity
        # Collecting again changes nothing: inserts are idempotent, the gap is not recorded twice.
        Collector(board.url, store, timeout=0.5).run(idle_exit=0.5)
        assert len(store.telemetry_records()) == capacity and len(store.gaps()) == 1
    finally:
        board.stop()


def test_monitor_cli_plain_lines(setup: dict, tmp_path: Path) -> None:
    board = Board(setup["sim"], tmp_path / "board", setup["sensor"])
    board.start()
    try:
        with tinydrift.Device(board.url) as dev:
            dev.upload_profile(setup["profile"])
        env = dict(os.environ)
        proc = subprocess.run(
            [sys.executable, "-m", "tinydrift", "monitor", "--port", board.url, "--db", str(tmp_path / "m.db"),
             "--sensor-rate", str(SENSOR_HZ), "--idle-exit", "2"],
            capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert len(lines) == len(setup["rows"])  # not a TTY: one plain line per record
        first_alarm = int(np.argmax(setup["rows"]["alarm"]))
        assert "alarm=1" in lines[first_alarm] and "alarm=0" in lines[first_alarm - 1]
        assert "Traceback" not in proc.stderr
    finally:
        board.stop()


def test_monitor_cli_unreachable_port_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinydrift", "monitor", "--port", "/dev/does-not-exist", "--db",
         str(tmp_path / "x.db"), "--duration", "1", "--plain"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tinydrift: error:")]
    assert errors == ["tinydrift: error: cannot open /dev/does-not-exist: no such device (is the board plugged in? "
                      "--port auto finds a Nano 33 BLE)"]
    assert not (tmp_path / "x.db").exists()


def test_monitor_plain_line_and_model_row_show_outputs() -> None:
    """Records with inferences: the plain line carries est/acc, the live view a 'model' row."""
    from types import SimpleNamespace

    from tinydrift.cli.monitor import _model, plain_line
    from tinydrift.device.records import TelemetryRecord

    rec = TelemetryRecord(1, 2, 3, 4, 5, 1.0, 1.0, 0.0, 0.0, 8, True, 0, 0, 0, 0, 0, 0, (1.0,), (2.0,), (0.5,),
                          (0.1,), (0,), (0,), n_inferences=5, estimated_accuracy=0.8125, accuracy=0.5,
                          prior_shift=0.25, n_labels=3, n_correct=1)
    state = SimpleNamespace(instant=10.0, channel_names=["a"])
    line = plain_line(state, rec)  # type: ignore[arg-type]
    assert "trigger=concept est=0.81 acc=0.50 " in line
    assert "est=" not in plain_line(state, TelemetryRecord(**{**rec.__dict__, "n_inferences": 0}))  # type: ignore
    assert _model(rec) == ("estimated accuracy 0.81 vs realized 0.50 (all labels; 1/3 right this window), "
                           "prior shift 0.25, 5 inferences")
    assert _model(TelemetryRecord(**{**rec.__dict__, "n_inferences": 0})) == ""
