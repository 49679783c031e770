"""The CLI path from a recording to the store on the simulators (issue 20, items 1 and 6): a simulated sensor
that plays a recording, collection by `monitor` as from a board, a lost range recorded as a gap, the one-line
refusal of a second client, `replay --db`, `--port auto` everywhere, `--alert-cmd` through the shell, Ctrl-C
exit status, and the trigger list in --help."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from conftest import gain_field_case
from tinydrift.cli.app import main
from tinydrift.telemetry.collect import AlertRunner, CollectStats
from tinydrift.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
FIELDS = ("score", "dist", "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask",
          "saturated_mask", "missing_mask")
TINYDRIFT = [sys.executable, "-m", "tinydrift"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A profile (.tdp) and a drifted field recording (.npy, 1500 frames = 150 windows) with its host scores."""
    profile, names, field = gain_field_case(WINDOW)
    d = tmp_path_factory.mktemp("clipath")
    profile.save(d / "ref.tdp")
    np.save(d / "field.npy", field)
    return {"dir": d, "profile": profile, "field": field, "rows": tinydrift.score(profile, field)}


def test_sim_exit_status(tmp_path: Path) -> None:
    """sim: Ctrl-C is an interruption (130, as documented for every command), SIGTERM a requested stop (0)."""
    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        sim = CliSim("--board", "host", cwd=tmp_path)
        sim.proc.send_signal(sig)
        _, err = sim.proc.communicate(timeout=20)
        assert sim.proc.returncode == status and "stopping the simulator" in err and "Traceback" not in err, err


class CliSim:
    """`tinydrift sim ...` as a subprocess; ``url`` is the first line it prints."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen([*TINYDRIFT, "sim", "--listen", "0", *args], cwd=cwd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("socket://"), self.url + (self.proc.stderr.read() if self.proc.stderr else "")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20)
        return err


def skip_without(board: str) -> None:
    if board == "qemu" and not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / gcc-arm-none-eabi not installed")


def cli(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TINYDRIFT, *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_rows(records: list, rows: np.ndarray) -> None:
    assert [r.window for r in records] == rows["window"].tolist()
    for f in FIELDS:
        assert [getattr(r, f) for r in records] == rows[f].tolist(), f
    np.testing.assert_array_equal(np.array([r.z_mean for r in records]), rows["z_mean"])


@pytest.mark.parametrize("board", ["host", "qemu"])
def test_sensor_file_collected_by_monitor_as_from_a_board(board: str, work: dict, tmp_path: Path) -> None:
    """sim --sensor-file (no --rate): monitor --sensor-rate starts it; every window reaches the store."""
    skip_without(board)
    sim = CliSim("--board", board, "--sensor-file", str(work["dir"] / "field.npy"), cwd=tmp_path)
    try:
        up = cli("upload", "--port", sim.url, str(work["dir"] / "ref.tdp"), "--timeout", "2", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        mon = cli("monitor", "--port", sim.url, "--db", "t.db", "--sensor-rate", "1000", "--idle-exit", "3",
                  cwd=tmp_path)
        assert mon.returncode == 0, mon.stderr
    finally:
        sim.stop()
    with TelemetryStore(tmp_path / "t.db", readonly=True) as store:
        assert store.gaps() == []
        assert_rows(store.telemetry_records(), work["rows"])
    assert f"({len(work['rows'])} records in all)" in mon.stderr


def test_sim_rate_and_a_long_absence_is_a_gap(work: dict, tmp_path: Path) -> None:
    """sim --rate starts the sensor once a profile is active; a monitor that comes after the ring wrapped
    records the lost range as a gap row and stores what the ring still holds."""
    sim = CliSim("--board", "host", "--sensor-file", str(work["dir"] / "field.npy"), "--rate", "2000", cwd=tmp_path)
    n = len(work["rows"])
    try:
        with tinydrift.Device(sim.url) as dev:
            dev.upload_profile(work["profile"])
            end = time.monotonic() + 30
            while dev.info().next_seq < n and time.monotonic() < end:
                time.sleep(0.1)
            info = dev.info()
        assert info.next_seq == n and info.sensor_rate_hz == 2000
        mon = cli("monitor", "--port", sim.url, "--db", "t.db", "--idle-exit", "1", cwd=tmp_path)
        assert mon.returncode == 0, mon.stderr
    finally:
        sim.stop()
    capacity = info.ring_capacity
    with TelemetryStore(tmp_path / "t.db", readonly=True) as store:
        gaps = store.gaps()
        records = store.telemetry_records()
    assert [(g["first_missing_seq"], g["last_missing_seq"]) for g in gaps] == [(0, n - capacity - 1)]
    assert_rows(records, work["rows"][n - capacity:])
    assert f"{n - capacity} records lost in 1 gap" in mon.stderr


@pytest.mark.parametrize("board, command", [("host", ["info"]), ("host", ["upload", "REF"]),
                                            ("host", ["replay", "FIELD"]), ("qemu", ["info"]),
                                            ("qemu", ["upload", "REF"])])
def test_second_client_is_refused_in_one_line(board: str, command: list[str], work: dict, tmp_path: Path) -> None:
    skip_without(board)
    sim = CliSim("--board", board, cwd=tmp_path)
    try:
        with tinydrift.Device(sim.url, timeout=2.0) as holder:
            holder.info()
            argv = [a.replace("REF", str(work["dir"] / "ref.tdp")).replace("FIELD", str(work["dir"] / "field.npy"))
                    for a in command]
            done = cli(argv[0], "--port", sim.url, *argv[1:], cwd=tmp_path, timeout=30)
            assert holder.info().board_name  # the first client is still served
    finally:
        sim.stop()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tinydrift: error: {sim.url}: the simulator is serving another client (127.0.0.1:")
    assert "since" in lines[0] and "UTC)" in lines[0]


def test_replay_db_stores_every_window(work: dict, tmp_path: Path) -> None:
    sim = CliSim("--board", "host", cwd=tmp_path)
    try:
        assert cli("upload", "--port", sim.url, str(work["dir"] / "ref.tdp"), cwd=tmp_path).returncode == 0
        done = cli("replay", "--port", sim.url, str(work["dir"] / "field.npy"), "--db", "r.db", "--json",
                   cwd=tmp_path)
    finally:
        sim.stop()
    assert done.returncode == 0, done.stderr
    with TelemetryStore(tmp_path / "r.db", readonly=True) as store:
        assert [d["name"] for d in store.devices()] == [sim.url]  # the name monitor would use
        assert_rows(store.telemetry_records(), work["rows"])
    assert len(done.stdout.splitlines()) == len(work["rows"])
    assert f"{len(work['rows'])} new records stored in r.db" in done.stderr


def test_monitor_ctrl_c_exits_130(work: dict, tmp_path: Path) -> None:
    sim = CliSim("--board", "host", cwd=tmp_path)
    try:
        mon = subprocess.Popen([*TINYDRIFT, "monitor", "--port", sim.url, "--db", "m.db", "--plain"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert mon.stderr is not None
        line = mon.stderr.readline()
        assert line.startswith("# connected"), line
        mon.send_signal(signal.SIGINT)
        _, err = mon.communicate(timeout=20)
    finally:
        sim.stop()
    assert mon.returncode == 130, err
    assert "interrupted; database is consistent" in err and "Traceback" not in err
    with TelemetryStore(tmp_path / "m.db", readonly=True) as store:
        assert [d["name"] for d in store.devices()] == [sim.url]


def test_alert_cmd_runs_through_the_shell(tmp_path: Path) -> None:
    """A pipeline with redirection, as a user types it after --alert-cmd: the record JSON arrives on stdin."""
    out = tmp_path / "alert.txt"
    stats = CollectStats()
    runner = AlertRunner(f"cat | tr a-z A-Z > '{out}'", stats)
    runner.fire({"seq": 7, "trigger_kinds": ["feature"]})
    runner.reap(wait=10)
    assert json.loads(out.read_text()) == {"SEQ": 7, "TRIGGER_KINDS": ["FEATURE"]}
    assert stats.alerts_failed == 0
    if shutil.which("jq"):
        runner = AlertRunner(f"cat | jq -c .trigger_kinds > '{out}'", stats)
        runner.fire({"seq": 8, "trigger_kinds": ["instant", "cusum"]})
        runner.reap(wait=10)
        assert out.read_text() == '["instant","cusum"]\n' and stats.alerts_failed == 0


@pytest.mark.parametrize("command", [["info"], ["upload", "REF"], ["replay", "FIELD"],
                                     ["monitor", "--db", "DB", "--duration", "1", "--plain"]])
def test_port_auto_everywhere(command: list[str], work: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """--port auto resolves through the Nano 33 BLE finder in every command (here it finds the simulator)."""
    import tinydrift.device.flash as flash

    sim = CliSim("--board", "host", cwd=tmp_path)
    try:
        if command[0] == "replay":
            with tinydrift.Device(sim.url) as dev:
                dev.upload_profile(work["profile"])
        monkeypatch.setattr(flash, "find_port", lambda *a, **k: sim.url)
        argv = [a.replace("REF", str(work["dir"] / "ref.tdp")).replace("FIELD", str(work["dir"] / "field.npy"))
                .replace("DB", str(tmp_path / "a.db")) for a in command]
        rc = main([argv[0], "--port", "auto", *argv[1:]])
        out, err = capsys.readouterr()
    finally:
        sim.stop()
    assert rc == 0, err
    if command[0] == "info":
        assert "host simulator" in out


def test_port_auto_without_a_board_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["info", "--port", "auto"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinydrift: error: no Nano 33 BLE running found"), err


@pytest.mark.parametrize("command", [["score"], ["replay"], ["db", "export"]])
def test_help_lists_every_trigger(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "1 instant, 2 cusum, 4 health, 8 concept, 16 occupancy, 32 feature" in text


@pytest.mark.parametrize("argv, message", [
    (["sim", "--rate", "100"], "--rate needs --sensor-file"),
    (["sim", "--sensor-file", "missing.csv"], "missing.csv"),
])
def test_sim_bad_sensor_options_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc = main(argv)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("tinydrift: error:") and message in err[0], err



def test_monitor_sensor_rate_on_a_board_without_sensor_stops_in_one_line(work: dict, tmp_path: Path) -> None:
    """It used to reconnect forever on "SENSOR rejected: TD_ERR_MODE" and exit 0; the store stays consistent."""
    sim = CliSim("--board", "host", cwd=tmp_path)
    try:
        with tinydrift.Device(sim.url) as dev:
            dev.upload_profile(work["profile"])
            dev.inject(work["field"][:100])
        done = cli("monitor", "--port", sim.url, "--db", "s.db", "--sensor-rate", "10", "--duration", "20",
                   "--plain", cwd=tmp_path, timeout=60)
    finally:
        sim.stop()
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("tinydrift: error:")]
    assert done.returncode == 1 and len(errors) == 1 and "no sensor" in errors[0] and "--sensor-file" in errors[0]
    assert done.stderr.count("# connected") <= 1 and "Traceback" not in done.stderr
    with TelemetryStore(tmp_path / "s.db", readonly=True) as store:
        records = store.telemetry_records()  # whatever was stored before the refusal is intact
        if records:
            assert_rows(records, work["rows"][:len(records)])
