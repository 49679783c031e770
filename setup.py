"""Build hooks beyond pyproject.toml: the CFFI core, and the firmware sources a wheel carries.

A (non-editable) wheel gets tinydrift/_data/basicmotions.npz (the bundled recording `tinydrift selftest`
builds its profile and stream from) and tinydrift/_fw/: the sources `tinydrift sim` builds the simulators from
(csrc/, firmware/, boards/host, boards/mps2-an386; tinydrift.device.firmware), plus
_fw/prebuilt/mps2-an386/tinydrift.elf, the QEMU Cortex-M4 image, when arm-none-eabi-gcc and make are
on PATH at wheel build time (it runs on any host's QEMU). Set TINYDRIFT_NO_PREBUILT=1 to leave it out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FW_TREES = ("csrc", "firmware", "boards/host", "boards/mps2-an386")
QEMU_ELF = Path("build/fw/mps2-an386/tinydrift.elf")
DATA_FILES = ("data/basicmotions.npz",)


class BuildPyWithFirmware(build_py):
    """build_py that also copies the firmware sources (and the prebuilt QEMU image) into tinydrift/_fw and the
    bundled recording into tinydrift/_data."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install builds firmware in the checkout itself
        dest = Path(self.build_lib) / "tinydrift" / "_fw"
        shutil.rmtree(dest, ignore_errors=True)
        ignore = shutil.ignore_patterns("*.o", "*.so", "*.elf", "*.bin", "*.map", "__pycache__")
        for tree in FW_TREES:
            shutil.copytree(ROOT / tree, dest / tree, ignore=ignore)
        data = Path(self.build_lib) / "tinydrift" / "_data"
        data.mkdir(parents=True, exist_ok=True)
        for name in DATA_FILES:
            shutil.copy2(ROOT / name, data / Path(name).name)
        self._prebuild_qemu(dest)

    def _prebuild_qemu(self, dest: Path) -> None:
        if os.environ.get("TINYDRIFT_NO_PREBUILT") or not (shutil.which("arm-none-eabi-gcc") and shutil.which("make")):
            print("tinydrift: arm-none-eabi-gcc or make not found: the wheel's QEMU firmware builds on first use")
            return
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "fw"
            shutil.copytree(dest, work)
            proc = subprocess.run(["make", "-s", "-f", "firmware/firmware.mk", "fw-qemu"], cwd=work,
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0 or not (work / QEMU_ELF).is_file():
                print(f"tinydrift: prebuilding the QEMU firmware failed, it builds on first use: {proc.stderr[-500:]}")
                return
            out = dest / "prebuilt" / "mps2-an386"
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / QEMU_ELF, out / QEMU_ELF.name)
            print(f"tinydrift: QEMU firmware prebuilt into {out / QEMU_ELF.name}")


setup(cffi_modules=["host/tinydrift/core/_ffi_build.py:ffibuilder"], cmdclass={"build_py": BuildPyWithFirmware})
