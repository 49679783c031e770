"""The source distribution carries the C core and builds a working wheel (no network: no build isolation)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_sdist_builds_a_wheel_with_the_compiled_core(tmp_path: Path) -> None:
    pytest.importorskip("build")
    run("-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path / "sdist"), str(ROOT), cwd=tmp_path)
    (sdist,) = (tmp_path / "sdist").glob("tinydrift-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "src", filter="data")
    top = names[0].split("/")[0]
    for needed in ("csrc/src/td_monitor.c", "csrc/include/tinydrift/td_profile.h", "host/tinydrift/core/_cdef_core.h",
                   "host/tinydrift/core/_host_rows.c", "host/tinydrift/core/_host_rows.h",
                   "firmware/firmware.mk", "boards/host/main.c", "boards/mps2-an386/board.mk"):
        assert f"{top}/{needed}" in names
    run("-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"),
        str(tmp_path / "src" / top), cwd=tmp_path)
    (wheel,) = (tmp_path / "wheel").glob("tinydrift-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        members = zf.namelist()
        zf.extractall(tmp_path / "installed")
    assert any(m.startswith("tinydrift/_native") and m.endswith(".so") for m in members)
    assert "tinydrift/_fw/boards/host/main.c" in members  # `tinydrift sim` builds from these when installed
    # The wheel's compiled core parses a profile and scores like the development build.
    code = (
        "import numpy as np, tinydrift; "
        "x = np.random.default_rng(0).normal(0, 300, (64 * 40, 2)).astype(np.int16); "
        "p = tinydrift.build_profile(x, window=16); "
        "print(tinydrift.__file__); print(int(tinydrift.score(p, x)['score'].sum() * 256))"
    )
    installed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                               env={"PYTHONPATH": str(tmp_path / "installed"), "PATH": "/usr/bin:/bin"})
    assert installed.returncode == 0, installed.stderr[-2000:]
    path_line, total = installed.stdout.split()
    assert path_line.startswith(str(tmp_path / "installed"))
    here = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert here.stdout.split()[1] == total
