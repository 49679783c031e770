"""Building firmware from the checkout: where it is, which tools it needs, running a build step."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tinydrift.device.protocol import DeviceError


def repo_root() -> Path:
    """The tinydrift checkout this package runs from (the parent of host/tinydrift)."""
    root = Path(__file__).resolve().parents[3]
    if (root / "firmware" / "firmware.mk").is_file() and (root / "csrc").is_dir():
        return root
    raise DeviceError("firmware sources not found; run from a tinydrift checkout")


def require_tool(name: str, package: str) -> str:
    """Path of a program on PATH, or DeviceError naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise DeviceError(f"{name} not found: install the Debian package {package}")
    return path


def run_step(cmd: list[str], cwd: Path, what: str, shown: str | None = None) -> None:
    """Run a build command; on failure DeviceError "<what> failed ([shown, ]exit N): <first error line>"."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", check=False)
    except OSError as exc:
        raise DeviceError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        where = f"{shown}, " if shown else ""
        raise DeviceError(f"{what} failed ({where}exit {proc.returncode}): {(errors or lines or ['no output'])[0]}")
