"""`tinydrift sim` from an installed wheel, outside any checkout: the wheel carries the firmware sources
(and the QEMU image, prebuilt when arm-none-eabi-gcc is here), the host simulator builds with gcc into
the per-user cache, and both boards compute what `tinydrift.score` computes (the checkout's build, here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.core.recording import read_recording
from tinydrift.device.records import TELEMETRY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"


def _without_outputs(directory: str, names: list[str]) -> set[str]:
    top = {".git", ".venv", "build", "dist", "out", ".pytest_cache", ".hypothesis"} if Path(directory) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith((".egg-info", ".so"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A wheel built from this checkout, installed (no dependencies) into a fresh venv whose other
    packages come from this venv's site-packages (appended after its own by a .pth file)."""
    base = tmp_path_factory.mktemp("installed")
    wheels = base / "wheels"
    # A copy without build outputs: setuptools would reuse a stale build/lib in the checkout.
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_without_outputs)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(wheels), str(src)], capture_output=True, text=True, cwd=base)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = wheels.glob("tinydrift-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / BIN / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "zz_outer_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                           str(wheel)], capture_output=True, text=True, cwd=base)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    work = base / "elsewhere"  # outside the checkout: no firmware sources around
    work.mkdir()
    yield {"wheel": wheel, "venv": env_dir, "py": py, "cli": env_dir / BIN / "tinydrift", "work": work,
           "cache": base / "cache"}


def _env(installed: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(installed["cache"])
    env["PATH"] = f"{installed['venv'] / BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_wheel_carries_the_firmware_sources(installed: dict[str, Path]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as zf:
        names = set(zf.namelist())
    assert "tinydrift/_data/basicmotions.npz" in names  # tinydrift selftest's recording
    for needed in ("firmware/firmware.mk", "firmware/td_app.c", "csrc/src/td_monitor.c",
                   "csrc/include/tinydrift/tinydrift.h", "boards/host/main.c", "boards/mps2-an386/board.mk",
                   "boards/mps2-an386/mps2-an386.ld"):
        assert f"tinydrift/_fw/{needed}" in names
    if shutil.which("arm-none-eabi-gcc"):
        assert "tinydrift/_fw/prebuilt/mps2-an386/tinydrift.elf" in names
    # The installed package is the wheel's, not this checkout's.
    where = subprocess.run([str(installed["py"]), "-c", "import tinydrift; print(tinydrift.__file__)"],
                           capture_output=True, text=True, cwd=installed["work"], env=_env(installed))
    assert where.stdout.startswith(str(installed["venv"])), where.stdout + where.stderr


def _run_cli(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(installed["cli"]), *args], capture_output=True, text=True, cwd=installed["work"],
                          env=_env(installed), timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["host", "qemu"])
def test_installed_sim_matches_the_host_score(installed: dict[str, Path], board: str) -> None:
    if board == "qemu" and not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm not installed")
    work = installed["work"]
    example = ROOT / "examples" / "pytest_plugin"  # a profile and a recording with a gain drift
    shutil.copy(example / "ref.tdp", work / f"ref-{board}.tdp")
    shutil.copy(example / "drifted.csv", work / f"rec-{board}.csv")
    profile = tinydrift.load_profile(work / f"ref-{board}.tdp")

    sim = subprocess.Popen([str(installed["cli"]), "sim", "--board", board, "--state-dir", str(work / board)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
                           env=_env(installed))
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), (url, sim.poll(), sim.stderr.read() if sim.poll() else "")
        upload = _run_cli(installed, "upload", "--port", url, f"ref-{board}.tdp", "--timeout", "2")
        assert upload.returncode == 0, upload.stderr
        replay = _run_cli(installed, "replay", "--port", url, f"rec-{board}.csv", "--json", "--timeout", "2")
        assert replay.returncode == 0, replay.stderr
    finally:
        sim.terminate()
        _, err = sim.communicate(timeout=20)
    records = [json.loads(line) for line in replay.stdout.splitlines()]
    rows = tinydrift.score(profile, read_recording(work / f"rec-{board}.csv").frames)
    assert len(records) == len(rows) == 50
    assert any(r["alarm"] for r in records)
    for rec, row in zip(records, rows):
        for name in TELEMETRY_COLUMNS:
            assert np.array_equal(np.asarray(rec[name], dtype=np.float64), np.asarray(row[name], dtype=np.float64)), \
                (rec["window"], name)
    fw = installed["cache"] / "tinydrift" / "fw"
    if board == "host":  # built on first use into the per-user cache, announced in one line
        assert f"tinydrift: building the host simulator with gcc into {fw}/{tinydrift.__version__}-" in err
        assert list(fw.glob(f"{tinydrift.__version__}-*/build/fw/host/tinydrift-sim"))
    elif shutil.which("arm-none-eabi-gcc"):  # the wheel's prebuilt image: nothing to build
        assert "building" not in err


@pytest.mark.slow
def test_installed_selftest_passes_outside_a_checkout(installed: dict[str, Path]) -> None:
    """`tinydrift selftest` from the wheel: its profile and stream come from the wheel's copy of the recording,
    and the board's 120 records equal the host's score of them (the command's own check, which fails on a
    single differing field: tests/test_selftest.py)."""
    work = installed["work"]
    sim = subprocess.Popen([str(installed["cli"]), "sim", "--board", "host", "--state-dir", str(work / "selftest")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
                           env=_env(installed))
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), (url, sim.poll())
        run = _run_cli(installed, "selftest", "--port", url, "--timeout", "2")
    finally:
        sim.terminate()
        sim.communicate(timeout=20)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("selftest: PASS — 120 windows identical to tinydrift.score"), run.stdout


def test_cache_directory_follows_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinydrift.device import firmware

    src = tmp_path / "fw"
    for tree in ("csrc", "firmware"):
        shutil.copytree(ROOT / tree, src / tree)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = firmware.cache_dir(src)
    assert first.parent == tmp_path / "cache" / "tinydrift" / "fw"
    assert first.name.startswith(f"{tinydrift.__version__}-") and len(first.name.split("-")[-1]) == 12
    (src / "prebuilt").mkdir()
    (src / "prebuilt" / "x.elf").write_bytes(b"\x7fELF")  # not a source: same directory
    assert firmware.cache_dir(src) == first
    path = src / "firmware" / "td_app.c"
    path.write_text(path.read_text() + "\n/* changed */\n")  # a changed source: a new directory
    assert firmware.cache_dir(src) != first
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert firmware.cache_root() == Path.home() / ".cache" / "tinydrift" / "fw"
