"""`tinydrift monitor` that never reaches a device: one line, a non-zero exit, and no file left behind or changed."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.store import TelemetryStore

DEVICE = "socket://127.0.0.1:5555"
pytestmark = pytest.mark.filterwarnings("ignore::tinydrift.CalibrationWarning")


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def monitor(*argv: object, interrupt_after: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tinydrift monitor`; with interrupt_after, Ctrl-C that many seconds after its first connection status
    line (so a slow start on a loaded machine is not what the test measures), and it must then end by itself."""
    cmd = [sys.executable, "-m", "tinydrift", "monitor", *map(str, argv)]
    if interrupt_after is None:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # SIGINT at its default in the child: Python then raises KeyboardInterrupt even when this run ignores SIGINT
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    seen = []
    while not seen or not seen[-1].startswith("# "):
        line = proc.stderr.readline()
        assert line, f"monitor ended before its first status line: {''.join(seen)}"
        seen.append(line)
    time.sleep(interrupt_after)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"monitor still ran 60 s after Ctrl-C; stderr:\n{''.join(seen)}{err}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "".join(seen) + err)


def the_line(err: str) -> str:
    """The one line a failed start prints (the `# ...` lines are --plain's connection status; with --mqtt the
    publisher says once that the broker is unreachable)."""
    lines = [line for line in err.splitlines() if not line.startswith(("# ", "tinydrift: broker "))]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


@pytest.fixture(scope="module")
def profile() -> tinydrift.Profile:
    rng = np.random.default_rng(3)
    return tinydrift.build_profile(rng.normal(0, 100, (16 * 40, 2)).astype(np.int16), window=16,
                                   false_alarm_rate=1e-2, channel_names=["a", "b"])


@pytest.fixture()
def filled(tmp_path: Path, profile: tinydrift.Profile) -> Path:
    """A store that already holds 20 records of one device."""
    rows = tinydrift.score(profile, np.random.default_rng(4).normal(0, 100, (16 * 20, 2)).astype(np.int16))
    path = tmp_path / "kept.db"
    with TelemetryStore(path) as store:
        store.add_profile(profile)
        store.add_device(DEVICE, board="host", board_id=1, firmware="test")
        for seq, row in enumerate(rows):
            store.insert_record(DEVICE, TelemetryRecord.from_row(row, seq=seq, boot_id=7, profile_id=profile.profile_id,
                                                                 uptime_ms=1000 * seq))
        assert store.count_records() == 20
    return path


def test_port_that_never_connects_leaves_no_database(tmp_path: Path) -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    db = tmp_path / "new.db"
    res = monitor("--port", url, "--db", db, "--idle-exit", "1", "--plain")
    assert res.returncode == 1
    assert re.fullmatch(rf"tinydrift: error: never connected to {url} in [0-9.]+ s: Connection refused; nothing stored",
                        the_line(res.stderr))
    assert sorted(os.listdir(tmp_path)) == []


def test_ctrl_c_before_any_device_leaves_no_database_or_spool(tmp_path: Path) -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    db = tmp_path / "new.db"
    res = monitor("--port", url, "--db", db, "--plain", "--mqtt", f"mqtt://127.0.0.1:{free_port()}/td",
                  interrupt_after=2.0)
    assert res.returncode == 130
    assert re.fullmatch(rf"tinydrift: error: never connected to {url} in [0-9.]+ s: Connection refused; nothing "
                        r"stored \(interrupted\)", the_line(res.stderr))
    assert sorted(os.listdir(tmp_path)) == []


def test_device_path_that_does_not_exist_fails_at_once(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    started = time.monotonic()
    res = monitor("--port", tmp_path / "ttyACM9", "--db", db)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"tinydrift: error: cannot open {tmp_path / 'ttyACM9'}: no such device (is the "
                                  "board plugged in? --port auto finds a Nano 33 BLE)")
    assert time.monotonic() - started < 30  # no reconnect loop: nothing will appear at a path that is not there
    assert sorted(os.listdir(tmp_path)) == []


def test_existing_store_is_untouched(filled: Path, profile: tinydrift.Profile, tmp_path: Path) -> None:
    other = tinydrift.build_profile(np.random.default_rng(5).normal(0, 50, (16 * 40, 2)).astype(np.int16),
                                    window=16, false_alarm_rate=1e-2)
    other.save(tmp_path / "other.tdp")
    before = dump(filled)
    url = f"socket://127.0.0.1:{free_port()}"
    res = monitor("--port", url, "--db", filled, "--profile", tmp_path / "other.tdp", "--idle-exit", "1", "--plain")
    assert res.returncode == 1
    assert the_line(res.stderr).startswith(f"tinydrift: error: never connected to {url}")
    assert dump(filled) == before  # the 20 records are there, and --profile was not added: nothing answered
    assert filled.exists() and sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["kept.db"]
