"""Output files given as a FIFO or a device: written in place, never replaced by a regular file.

`-o /dev/null` as root used to replace the system's /dev/null with a regular file (the atomic write's os.replace);
a FIFO stands in for the device here (a test must not touch /dev/null), with the same stat type check."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import tinydrift

TINYDRIFT = [sys.executable, "-m", "tinydrift"]
pytestmark = pytest.mark.filterwarnings("ignore::tinydrift.CalibrationWarning")


def read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def run() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(6)
    prof = tinydrift.build_profile(rng.normal(0, 100, (16 * 40, 2)).astype(np.int16), window=16,
                                   false_alarm_rate=1e-2)
    path = tmp_path_factory.mktemp("out") / "ref.tdp"
    prof.save(path)
    return path


@pytest.mark.parametrize("what", ["header", "profile"])
def test_fifo_output_is_written_in_place(profile: Path, tmp_path: Path, what: str) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = read_fifo(fifo, got)
    if what == "header":
        res = subprocess.run([*TINYDRIFT, "profile", "header", str(profile), "-o", str(fifo)], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        expected = tinydrift.load_profile(profile).to_c_header().encode()
    else:
        tinydrift.load_profile(profile).save(fifo)
        expected = profile.read_bytes()
    reader.join(30)
    assert got == [expected]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO, not a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fifo"]  # no .tmp left beside it


def test_missing_directory_names_the_file_given(tmp_path: Path) -> None:
    """-o DIR/x with DIR missing: the error names x (the CLI prints "FILE: No such file or directory"), not the
    temporary x.tmp the user never asked for."""
    from tinydrift.core.files import atomic_open

    target = tmp_path / "missing" / "fleet.html"
    with pytest.raises(FileNotFoundError) as exc:
        with atomic_open(target) as fh:
            fh.write("never")
    assert exc.value.filename == str(target)
    assert str(exc.value) == f"[Errno 2] No such file or directory: '{target}'"
