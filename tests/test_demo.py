"""`make demo` runs in CI: the end-to-end demo on a simulated board, its summary checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("board", ["host", "qemu"])
def test_demo_detects_both_drifts_bit_exact(board: str, tmp_path: Path) -> None:
    if board == "qemu" and not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("qemu-system-arm / gcc-arm-none-eabi not installed")
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--board", board, "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "400 windows stored, 400 computed on the host: identical, field for field" in text
    gain = re.search(r"gyr_y gain x4: began at window (\d+) .*detected at window (\d+) .*channel (\S+)", text)
    stuck = re.search(r"gyr_x stuck: began at window (\d+) .*detected at window (\d+) .*channel (\S+) \(stuck\)", text)
    assert gain and stuck, text
    assert int(gain.group(2)) >= int(gain.group(1)) and gain.group(3) == "gyr_y"
    assert int(stuck.group(2)) == int(stuck.group(1)) and stuck.group(3) == "gyr_x"
    assert "windows with a trigger before any drift: 0" in text
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert (out / "telemetry.db").stat().st_size > 0
