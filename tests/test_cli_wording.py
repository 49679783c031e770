"""Count phrases in what the CLI prints: "1 record", "1 connection", never "1 records" or "record(s)" (one helper,
tinydrift.core.wording). The CLI runs end to end on the host simulator with one window, so every count is 1."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.core.recording import write_csv
from tinydrift.core.wording import count, plural

TINYDRIFT = [sys.executable, "-m", "tinydrift"]
WINDOW = 16
pytestmark = pytest.mark.filterwarnings("ignore::tinydrift.CalibrationWarning")


@pytest.mark.parametrize(("n", "noun", "many", "expected"), [
    (0, "record", None, "0 records"), (1, "record", None, "1 record"), (2, "record", None, "2 records"),
    (1, "new record", None, "1 new record"), (3, "new record", None, "3 new records"),
    (1, "connection", None, "1 connection"), (1, "database retry", None, "1 database retry"),
    (2, "database retry", None, "2 database retries"), (2, "match", None, "2 matches"), (5, "box", None, "5 boxes"),
    (1, "PCA dim", None, "1 PCA dim"), (4, "child", "children", "4 children"), (1, "child", "children", "1 child"),
])
def test_count(n: int, noun: str, many: str | None, expected: str) -> None:
    assert count(n, noun, many) == expected


def test_count_thousands_and_verbs() -> None:
    assert count(1200, "record", thousands=True) == "1,200 records"
    assert count(1, "record", thousands=True) == "1 record"
    assert [plural(n, "stays", "stay") for n in (1, 2)] == ["stays", "stay"]


def cli(*argv: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TINYDRIFT, *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=120)


def no_plural_after_one(text: str) -> None:
    """No '1 <word>s' count phrase (a handful of words end in s in the singular) and no '(s)'."""
    assert "(s)" not in text, text
    bad = [m.group(0) for m in re.finditer(r"(?<![0-9.,x])\b1 (?:new |lost |listed )?([a-z]+s)\b", text)
           if m.group(1) not in ("ms", "s", "bytes")]
    assert bad == [], text


def test_one_of_everything_reads_singular(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    profile = tinydrift.build_profile(rng.normal(0, 100, (WINDOW * 40, 2)).astype(np.int16), window=WINDOW,
                                      false_alarm_rate=1e-2, channel_names=["a", "b"])
    profile.save(tmp_path / "ref.tdp")
    one = rng.normal(0, 100, (WINDOW + 1, 2)).astype(np.int16)  # one window and one trailing frame
    write_csv(tmp_path / "one.csv", one, ["a", "b"])

    scored = cli("score", "--profile", "ref.tdp", "one.csv", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert f"one.csv: {WINDOW + 1} frames x 2 channels" in scored.stdout
    assert "windows: 1 (1 trailing frame ignored)" in scored.stdout
    no_plural_after_one(scored.stdout)

    sim = subprocess.Popen([*TINYDRIFT, "sim", "--listen", "0", "--board", "host"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert url.startswith("socket://"), url
        assert cli("upload", "--port", url, "ref.tdp", cwd=tmp_path).returncode == 0
        replay = cli("replay", "--port", url, "one.csv", cwd=tmp_path)  # no --db: the monitor backfills it
        assert replay.returncode == 0, replay.stderr
        assert f"replayed {WINDOW + 1} frames from one.csv: 1 window," in replay.stderr
        info = cli("info", "--port", url, cwd=tmp_path)
        assert "2 channels" in info.stdout and "ring holds 1 record," in info.stdout, info.stdout
        mon = cli("monitor", "--port", url, "--db", "t.db", "--idle-exit", "2", "--plain", cwd=tmp_path)
        assert mon.returncode == 0, mon.stderr
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=20)
    closing = next(line for line in mon.stderr.splitlines() if line.startswith("# collected"))
    assert re.fullmatch(r"# collected 1 new record \(1 backfilled, 0 duplicates\), 0 new alarms, 0 records lost in "
                        r"0 gaps, 0 not received yet, 1 connection, [0-9.]+ s -> t\.db \(1 record in all\)",
                        closing), closing
    export = cli("db", "export", "--db", "t.db", "--csv", "-o", "r.csv", cwd=tmp_path)
    assert export.returncode == 0 and export.stderr.strip() == "tinydrift: wrote 1 record to r.csv (csv)"
    report = cli("report", "--db", "t.db", "-o", "r.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert ": 1 record, no alarm" in report.stdout, report.stdout
    assert "1 record from 1 device, 1 run (device × boot × profile)" in (tmp_path / "r.html").read_text()
    for text in (replay.stderr, info.stdout, mon.stderr, report.stdout, report.stderr):
        no_plural_after_one(text)
