"""The fleet commands as a user meets them (docs/fleet.md) on throwaway mosquitto and PostgreSQL: what they print
when all is well (no Python warning, no "disconnected" at a clean exit), when the broker is not there (one line,
exit 1, the spool kept), and on Ctrl-C (exit 130, as every other command)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinydrift.core.wording import count
from tinydrift.fleet.localservers import free_port

pytest.importorskip("paho.mqtt")
pytest.importorskip("psycopg")

TINYDRIFT = [sys.executable, "-m", "tinydrift"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    from tinydrift.fleet.localservers import Mosquitto

    server = Mosquitto(tmp_path_factory.mktemp("mq"))
    server.start()
    yield server
    server.stop()


def cli(*argv: object, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TINYDRIFT, *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def default_sigint() -> None:
    """In the child: SIGINT back to its default, so Python turns it into KeyboardInterrupt even when this test run
    was started with SIGINT ignored (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted(*argv: object, cwd: Path, after_line: str) -> subprocess.CompletedProcess[str]:
    """Run, send SIGINT once stderr shows a line containing after_line, collect the rest."""
    proc = subprocess.Popen([*TINYDRIFT, *map(str, argv)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    assert proc.stderr is not None
    seen = []
    while True:
        line = proc.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
        if after_line in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


def test_simulate_prints_its_one_summary_line(broker, tmp_path: Path) -> None:
    res = cli("fleet", "simulate", "--mqtt", broker.url, "--spool", "gw.spool", "--devices", 1, "--records", 5,
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # no CalibrationWarning with a file path, no "disconnected ... retrying" at the gateway's own clean exit
    assert res.stderr.splitlines() == ["# gw: 5 records of 1 device spooled, 0 alarm onsets; 0 messages not yet "
                                       "acknowledged by the broker"]


def test_simulate_without_a_broker_keeps_the_spool(tmp_path: Path) -> None:
    from tinydrift.fleet.spool import Spool

    url = f"mqtt://127.0.0.1:{free_port()}/td"
    res = cli("fleet", "simulate", "--mqtt", url, "--spool", "gw.spool", "--devices", 1, "--records", 5,
              "--flush-timeout", 2, cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        f"tinydrift: broker {url}: cannot connect; spooling, retrying",
        f"tinydrift: error: never connected to the broker {url}; 5 messages stay in gw.spool for the next run"]
    assert len(Spool(tmp_path / "gw.spool")) == 5  # nothing lost: the next run sends them


def test_ingest_without_a_broker_is_one_error_line(pg, tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}/td"
    res = cli("ingest", "--mqtt", url, "--db", pg.url, "--idle-exit", 2, "-q", cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert lines[0] == f"tinydrift: broker {url}: cannot connect; retrying"
    assert lines[-1].startswith(f"tinydrift: error: never connected to the broker {url} in ")
    assert lines[-1].endswith(" s; nothing ingested") and len(lines) == 2

    res = interrupted("ingest", "--mqtt", url, "--db", pg.url, "-q", cwd=tmp_path, after_line="cannot connect")
    assert res.returncode == 130
    assert res.stderr.splitlines()[-1].endswith(" s; nothing ingested (interrupted)")


def test_ingest_ctrl_c_exits_130_with_its_summary(broker, pg, tmp_path: Path) -> None:
    res = interrupted("ingest", "--mqtt", broker.url, "--db", pg.url, "--client-id", "walk-1", cwd=tmp_path,
                      after_line="subscribed to")
    assert res.returncode == 130, res.stderr
    assert "disconnected" not in res.stderr and "Traceback" not in res.stderr
    last = res.stderr.splitlines()[-1]
    assert last.startswith("# ingested 0 new records (0 already stored), 0 gaps, 0 alarm onsets, 0 malformed "
                           "messages skipped (0 new in quarantine), 0 database retries, ") and \
        last.endswith(" s (interrupted)")


def stored(pg, device: int) -> int:
    """Records PostgreSQL holds for simulated device ``device``."""
    from tinydrift.fleet.pgstore import connect
    from tinydrift.fleet.simulate import device_uid

    with connect(pg.url, migrate=False) as conn:
        return int(conn.execute("SELECT count(*) FROM records WHERE device_uid = %s", (device_uid(device),))
                   .fetchone()[0])


def settled(pg, device: int, want: int, timeout: float = 20.0) -> int:
    """The count once it reaches want or stops changing for 2 s."""
    end, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < end:
        n = stored(pg, device)
        if n == want:
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 2.0:
            return n
        time.sleep(0.2)
    return stored(pg, device)


def test_retire_hands_back_a_stopped_workers_share(broker, pg, tmp_path: Path) -> None:
    """A stopped worker's persistent session keeps being dealt its share of the shared subscription (mosquitto
    2.0): those records wait in the broker until that worker returns. --retire ingests them and ends the session,
    after which the remaining worker gets everything."""
    group = ("--group", "walk-retire")  # a group of its own: other tests' stopped sessions take no share here
    first = cli("ingest", "--mqtt", broker.url, "--db", pg.url, "--client-id", "walk-a", *group, "--idle-exit", 2,
                cwd=tmp_path)
    assert first.returncode == 0 and "subscribed to" in first.stderr, first.stderr  # the session holds the share
    worker = subprocess.Popen([*TINYDRIFT, "ingest", "--mqtt", broker.url, "--db", pg.url, "--client-id", "walk-b",
                               *group],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stderr is not None
        while "subscribed to" not in (line := worker.stderr.readline()):
            assert line, "walk-b exited"
        for device in (40, 41):
            sim = cli("fleet", "simulate", "--mqtt", broker.url, "--spool", f"gw{device}.spool", "--devices", 1,
                      "--first-device", device, "--records", 8, cwd=tmp_path)
            assert sim.returncode == 0, sim.stderr
            if device == 40:
                held_back = 8 - settled(pg, 40, 8)
                assert held_back > 0  # queued for walk-a, which is not running
                retire = cli("ingest", "--mqtt", broker.url, "--db", pg.url, "--client-id", "walk-a", *group,
                             "--retire", "-q", cwd=tmp_path)
                assert retire.returncode == 0, retire.stderr
                assert retire.stderr.splitlines()[-1].startswith(f"# ingested {count(held_back, 'new record')} ")
                assert stored(pg, 40) == 8
        assert settled(pg, 41, 8) == 8  # after --retire, walk-b alone is dealt every message
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 0


def test_retire_needs_a_client_id(tmp_path: Path) -> None:
    res = cli("ingest", "--mqtt", "mqtt://127.0.0.1/td", "--db", "postgresql:///td", "--retire", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip() == ("tinydrift: error: --retire ends a worker's persistent session: give that worker's "
                                  "--client-id")


def test_fleet_report_names_trigger_kinds_in_bit_order(broker, pg, tmp_path: Path) -> None:
    """The fleet page's first alarm lists its trigger kinds in the order every other output uses (bit order:
    instant, cusum, health, ...), not alphabetically (it said "cusum+instant" where monitor said "instant+cusum")."""
    from tinydrift.core.triggers import trigger_names
    from tinydrift.fleet.simulate import build_sim_profile, device_records, device_uid

    device = 3  # every fourth simulated device drifts halfway
    first = next(r for r in device_records(build_sim_profile(), device, 60) if r.alarm)
    kinds = trigger_names(first.trigger)
    assert len(kinds) > 1 and kinds != sorted(kinds)  # the case that tells the orders apart
    group = ("--group", "walk-report")
    worker = subprocess.Popen([*TINYDRIFT, "ingest", "--mqtt", broker.url, "--db", pg.url, *group, "--idle-exit", "3"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stderr is not None
        while "subscribed to" not in (line := worker.stderr.readline()):
            assert line, "ingest exited"
        sim = cli("fleet", "simulate", "--mqtt", broker.url, "--spool", "gw.spool", "--devices", 1,
                  "--first-device", device, "--records", 60, cwd=tmp_path)
        assert sim.returncode == 0, sim.stderr
        assert settled(pg, device, 60) == 60
    finally:
        worker.communicate(timeout=60)
    rep = cli("report", "--db", pg.url, "-o", "fleet.html", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    line = next(ln for ln in rep.stdout.splitlines() if ln.startswith(device_uid(device)))
    assert f"first alarm boot {first.boot_id:#010x} seq {first.seq} ({'+'.join(kinds)})" in line, line
