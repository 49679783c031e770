"""What tripped a first-time user of the CLI: the trigger counts of `score`, hints on a CSV cell that is not an
integer, the scripting example of `sim --help`, a second `replay` that silently went on from the first, a TCP
`--port` without socket://, `monitor --profile` with a profile the device does not run, and channel names lost when
the first training file was an unnamed .npy."""

from __future__ import annotations

import os
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
from tinydrift.core.recording import HINT_FLOAT, HINT_MISSING, write_csv

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
TINYDRIFT = [sys.executable, "-m", "tinydrift"]
# trigger bits as docs/protocol.md lists them, written out here as the oracle for the summary's counts
KINDS = ((1, "instant"), (2, "cusum"), (4, "health"), (8, "concept"), (16, "occupancy"), (32, "feature"))


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A profile from the bundled training split and a field recording with a gyr_y gain from window 60."""
    profile, names, field = gain_field_case(WINDOW)
    d = tmp_path_factory.mktemp("firstuse")
    profile.save(d / "ref.tdp")
    write_csv(d / "field.csv", field, names)
    return {"dir": d, "field": field, "rows": tinydrift.score(profile, field)}


def test_score_summary_counts_every_trigger_kind(capsys: pytest.CaptureFixture[str], work: dict) -> None:
    """The summary listed instant, cusum and health only, so a feature-chart alarm was not counted at all."""
    trigger = work["rows"]["trigger"].astype(np.int64)
    counts = {name: int(np.count_nonzero(trigger & bit)) for bit, name in KINDS}
    assert counts["feature"] > 0  # the case that was missing
    rc, out, err = run(capsys, "score", "--profile", work["dir"] / "ref.tdp", work["dir"] / "field.csv")
    assert (rc, err) == (0, "")
    line = next(s for s in out.splitlines() if "windows with triggers" in s)
    listed = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    assert line == f"  windows with triggers: {int(np.count_nonzero(trigger))} ({listed})"


def test_score_summary_shows_a_later_drift_behind_a_latched_glitch(capsys: pytest.CaptureFixture[str], work: dict,
                                                                    tmp_path: Path) -> None:
    """One missing sample in window 2 latches the alarm there; the gain from window 60 must still show: the summary
    names each trigger's first window (oracle: the trigger bits of tinydrift.score's rows)."""
    field = work["field"].copy()
    field[25, 1] = -32768  # the default missing-value sentinel, in window 2
    np.save(tmp_path / "glitch.npy", field)
    rows = tinydrift.score(tinydrift.load_profile(work["dir"] / "ref.tdp"), field)
    trigger = rows["trigger"].astype(np.int64)
    firsts = {name: int(rows["window"][np.flatnonzero(trigger & bit)[0]])
              for bit, name in KINDS if (trigger & bit).any()}
    assert firsts["health"] == 2 and 60 <= firsts["feature"] < 100  # the glitch, then the drift it would hide
    rc, out, _ = run(capsys, "score", "--profile", work["dir"] / "ref.tdp", tmp_path / "glitch.npy")
    assert rc == 0 and "DRIFT: alarm at window 2 " in out
    line = next(s for s in out.splitlines() if "first window of each trigger" in s)
    assert line == "  first window of each trigger: " + ", ".join(f"{k} {v}" for k, v in firsts.items())


@pytest.mark.parametrize(
    ("cell", "shown", "hint"),
    [("-112.16", "'-112.16'", HINT_FLOAT), ("1e3", "'1e3'", HINT_FLOAT), ("", "'' (empty)", HINT_MISSING),
     ("NaN", "'NaN'", HINT_MISSING), ("abc", "'abc'", "CSV cells must be integers in int16 range")],
    ids=["float", "exponent", "empty", "nan", "text"],
)
def test_non_integer_cell_says_what_to_do(capsys: pytest.CaptureFixture[str], tmp_path: Path, cell: str,
                                          shown: str, hint: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(f"ax,temp\n1,2\n3,{cell}\n")
    rc, out, err = run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp")
    assert (rc, out) == (1, "")
    assert err == f"tinydrift: error: {path}:3:3: non-integer value {shown} in column 'temp'; {hint}\n"
    assert not (tmp_path / "p.tdp").exists()


def test_float_npy_says_what_to_do(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "r.npy"
    np.save(path, np.array([[1.0, 2.0], [3.0, 4.25]]))
    rc, out, err = run(capsys, "profile", "build", path, "-o", tmp_path / "p.tdp")
    assert (rc, out) == (1, "")
    assert err == f"tinydrift: error: {path}: frame 1, channel 1: non-integer value 4.25; {HINT_FLOAT}\n"


def test_sim_help_script_example_runs_as_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`URL=$(tinydrift sim ... | head -n1) &` set URL in a subshell only, and left the simulator running."""
    rc, help_text, _ = run(capsys, "sim", "--help")
    assert rc == 0
    lines = help_text.splitlines()
    examples = lines.index("Examples:")
    start = next(i for i, s in enumerate(lines) if i > examples and "URL" in s)
    script = "\n".join(s.strip() for s in lines[start:] if s.strip())
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        leftover = _group_alive(proc.pid, wait=20)
        if leftover:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "board        host simulator" in out
    assert not leftover, "the example left the simulator running"


def _group_alive(pgid: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True


def test_second_replay_says_the_monitor_went_on(capsys: pytest.CaptureFixture[str], work: dict) -> None:
    d = work["dir"]
    sim = subprocess.Popen([*TINYDRIFT, "sim", "--board", "host", "--listen", "0"], cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert url.startswith("socket://"), url
        assert run(capsys, "upload", "--port", url, d / "ref.tdp")[0] == 0
        n = len(work["rows"])
        alarms = int(work["rows"]["alarm"].sum())
        rc, out, err = run(capsys, "replay", "--port", url, d / "field.csv")
        assert rc == 0
        assert err == (f"tinydrift: replayed {len(work['field'])} frames from {d / 'field.csv'}: {n} windows, "
                       f"{alarms} with the alarm latched\n")
        rc, out, err = run(capsys, "replay", "--port", url, d / "field.csv")
        assert rc == 0
        assert out.splitlines()[0].split()[3] == str(n)  # seq, n, window, n: the device went on
        assert err.splitlines()[1] == (f"tinydrift: note: the device's monitor went on from window {n} (its CUSUM "
                                       f"and a latched alarm carried over); upload the profile again to start "
                                       f"from window 0")
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=20)


@pytest.mark.parametrize("port", ["127.0.0.1:5601", "tcp://127.0.0.1:5601", "localhost:5601"])
@pytest.mark.parametrize("command", ["info", "upload", "replay", "monitor", "selftest"])
def test_host_port_without_socket_scheme_says_how_to_write_it(capsys: pytest.CaptureFixture[str], work: dict,
                                                              tmp_path: Path, command: str, port: str) -> None:
    """`--port 127.0.0.1:5601` said "No such file or directory"; `tcp://` said "protocol 'tcp' not known"."""
    extra = {"upload": [work["dir"] / "ref.tdp"], "replay": [work["dir"] / "field.csv"],
             "monitor": ["--db", tmp_path / "t.db", "--idle-exit", "1"]}.get(command, [])
    rc, out, err = run(capsys, command, "--port", port, *extra)
    host = port.removeprefix("tcp://").split(":")[0]
    assert (rc, out) == (1, "")
    assert err == f"tinydrift: error: cannot open {port}: a TCP port is written socket://{host}:5601\n"
    assert not (tmp_path / "t.db").exists()  # refused before anything was created


def test_monitor_notes_a_profile_the_device_does_not_run(capsys: pytest.CaptureFixture[str], work: dict,
                                                         tmp_path: Path) -> None:
    """`monitor --profile other.tdp` silently labelled nothing when the device ran another profile."""
    d = work["dir"]
    data = np.load(ROOT / "data" / "basicmotions.npz")
    other = tinydrift.build_profile(data["frames"][data["split"] == 0], window=20)
    other.save(tmp_path / "other.tdp")
    running = tinydrift.load_profile(d / "ref.tdp").profile_id
    assert other.profile_id != running
    sim = subprocess.Popen([*TINYDRIFT, "sim", "--board", "host", "--listen", "0"], cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert run(capsys, "upload", "--port", url, d / "ref.tdp")[0] == 0
        note = (f"tinydrift: note: --profile {tmp_path / 'other.tdp'} is profile {other.profile_id:#010x} but the "
                f"device runs {running:#010x}: its channel names do not label these records")
        rc, _, err = run(capsys, "monitor", "--port", url, "--db", tmp_path / "t.db", "--profile",
                         tmp_path / "other.tdp", "--idle-exit", "1", "--plain")
        assert rc == 0 and err.splitlines().count(note) == 1, err
        rc, _, err = run(capsys, "monitor", "--port", url, "--db", tmp_path / "t.db", "--profile", d / "ref.tdp",
                         "--idle-exit", "1", "--plain")
        assert rc == 0 and "note:" not in err, err
        # nothing left unreceived: no advice to run again
        closing = next(s for s in err.splitlines() if s.startswith("# collected"))
        assert ", 0 not received yet, " in closing and "run again" not in closing, closing
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=20)


def test_build_takes_names_from_the_first_named_recording(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    """`profile build a.npy b.csv` warned "b.csv names its channels ..., a.npy ch0,...; using the first" and stored
    no names, though only one of the files named any."""
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames = data["frames"][data["split"] == 0]
    names = [str(n) for n in data["channel_names"]]
    half = len(frames) // 2
    np.save(tmp_path / "a.npy", frames[:half])
    write_csv(tmp_path / "b.csv", frames[half:], names)
    write_csv(tmp_path / "c.csv", frames[half:], [f"x{n}" for n in names])
    rc, _, err = run(capsys, "profile", "build", tmp_path / "a.npy", tmp_path / "b.csv", "-o", tmp_path / "p.tdp",
                     "--window", WINDOW)
    assert rc == 0 and "names its channels" not in err, err
    assert tinydrift.load_profile(tmp_path / "p.tdp").channel_names == names
    rc, _, err = run(capsys, "profile", "build", tmp_path / "a.npy", tmp_path / "b.csv", tmp_path / "c.csv", "-o",
                     tmp_path / "p2.tdp", "--window", WINDOW)
    assert rc == 0
    assert (f"tinydrift: warning: {tmp_path / 'c.csv'} names its channels {','.join('x' + n for n in names)}, "
            f"{tmp_path / 'b.csv'} {','.join(names)}; using {tmp_path / 'b.csv'}'s") in err.splitlines()
    assert tinydrift.load_profile(tmp_path / "p2.tdp").channel_names == names
