"""Build and flash the Arduino Nano 33 BLE firmware: port discovery, upload tool, 1200-baud touch.

    >>> port = find_port()                       # the board's application port, by USB VID:PID
    >>> flash("build/fw/nano33ble/out/DriftMonitor.ino.bin", port=port, progress=print)

Upload tools, in this order (``find_upload_tool``):
  1. ``arduino-cli`` on PATH: ``arduino-cli upload -p PORT --fqbn FQBN --input-file FIRMWARE``; it
     does the 1200-baud touch itself and runs the bossac of the installed Mbed Nano core.
  2. Arduino's bossac (its BOSSA fork, "1.9.1-arduino2", with nRF52840 support): ``bossac`` on PATH
     if its version says ``arduino``, else the newest ``~/.arduino15/packages/arduino/tools/bossac/
     */bossac`` (where the core installs it). Here the 1200-baud touch is done first and bossac
     writes the bootloader's port.
Debian's bossa-cli (bossac 1.9.1, SAM devices only) cannot flash the nRF52840 and is refused.

The board description (``boards/nano33ble/board.json``) supplies the FQBN, the USB IDs of
the application and of the bootloader, and bossac's arguments; without it the Arduino
defaults apply (VID:PID 2341:805A application, 2341:005A bootloader, FQBN
arduino:mbed_nano:nano33ble). Touching the application port at 1200 baud makes the board
reset into its bootloader.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import serial
import serial.tools.list_ports

from tinydrift.device.firmware import repo_root, run_step
from tinydrift.device.protocol import DeviceError

BOARD = "nano33ble"
DEFAULT_FQBN = "arduino:mbed_nano:nano33ble"
DEFAULT_VID = 0x2341
DEFAULT_APP_PID = 0x805A
DEFAULT_BOOT_PID = 0x005A
# Arduino's bossac invocation for this board (ArduinoCore-mbed platform.txt): {port_file} (the port's file name,
# platform.txt's serial.port.file), {port} (its path) and {file} are filled in.
DEFAULT_BOSSAC_ARGS = ["-d", "--port={port_file}", "-U", "-i", "-e", "-w", "{file}", "-R"]
ARDUINO_CLI_INSTALL = ("install arduino-cli (https://arduino.github.io/arduino-cli/latest/installation/) and run "
                       "`arduino-cli core install arduino:mbed_nano`")
ARDUINO_CLI_HINT = f"arduino-cli not found: {ARDUINO_CLI_INSTALL}"
NO_UPLOAD_TOOL = (f"no upload tool for the Nano 33 BLE (arduino-cli, or Arduino's bossac): {ARDUINO_CLI_INSTALL}, "
                  "which also installs Arduino's bossac in ~/.arduino15/packages/arduino/tools/bossac/")
ARDUINO15_BOSSAC = ".arduino15/packages/arduino/tools/bossac"
DEFAULT_LIBRARY = "build/arduino/tinydrift"
DEFAULT_SKETCH = "build/arduino/tinydrift/examples/DriftMonitor"
DEFAULT_OUTPUT = "build/fw/nano33ble/out/DriftMonitor.ino.bin"
TOUCH_BAUD = 1200
BOOTLOADER_TIMEOUT = 10.0

Progress = Callable[[str], None]


@dataclass
class BoardInfo:
    """What flashing needs to know about the Nano 33 BLE."""

    fqbn: str = DEFAULT_FQBN
    vid: int = DEFAULT_VID
    app_pid: int = DEFAULT_APP_PID
    boot_pid: int = DEFAULT_BOOT_PID
    bootloader_offset: int | None = None
    bossac_args: list[str] = field(default_factory=lambda: list(DEFAULT_BOSSAC_ARGS))
    sketch_dir: Path | None = None
    library_dir: Path | None = None
    assemble: list[str] = field(default_factory=lambda: ["make", "arduino-lib"])
    output: Path = Path(DEFAULT_OUTPUT)
    source: str = "defaults"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0) if text.lower().startswith("0x") else int(text, 16)
        except ValueError:
            return None
    return None


def _find(data: Any, *names: str) -> Any:
    """The first value under any of names, searched depth-first through nested dicts."""
    if isinstance(data, dict):
        for name in names:
            if name in data:
                return data[name]
        for value in data.values():
            found = _find(value, *names)
            if found is not None:
                return found
    return None


def _vid_pid(value: Any) -> tuple[int | None, int | None]:
    """'2341:805A' or {'vid': ..., 'pid': ...}."""
    if isinstance(value, str) and ":" in value:
        vid, pid = value.split(":", 1)
        return _as_int(vid if vid.lower().startswith("0x") else "0x" + vid), \
            _as_int(pid if pid.lower().startswith("0x") else "0x" + pid)
    if isinstance(value, dict):
        return _as_int(value.get("vid")), _as_int(value.get("pid"))
    return None, None


def board_info(root: Path | None = None) -> BoardInfo:
    """Read boards/nano33ble/board.json from the checkout when present, else the Arduino defaults."""
    info = BoardInfo()
    if root is None:
        root = Path(__file__).resolve().parents[3]
    path = root / "boards" / BOARD / "board.json"
    if not path.is_file():
        return info
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeviceError(f"cannot read {path}: {exc}") from None
    info.source = str(path)
    info.sketch_dir = path.parent
    fqbn = _find(data, "fqbn", "FQBN")
    if isinstance(fqbn, str):
        info.fqbn = fqbn
    usb = _find(data, "usb")
    app = _find(usb, "application", "app", "sketch") if isinstance(usb, dict) else None
    boot = _find(usb, "bootloader", "boot") if isinstance(usb, dict) else None
    for value, attr in ((app, "app_pid"), (boot, "boot_pid")):
        vid, pid = _vid_pid(value)
        if vid is not None:
            info.vid = vid
        if pid is not None:
            setattr(info, attr, pid)
    if app is None:
        vid = _as_int(_find(data, "vid", "usb_vid"))
        pid = _as_int(_find(data, "pid", "usb_pid", "app_pid"))
        info.vid = vid if vid is not None else info.vid
        info.app_pid = pid if pid is not None else info.app_pid
    if boot is None:
        pid = _as_int(_find(data, "bootloader_pid", "boot_pid"))
        info.boot_pid = pid if pid is not None else info.boot_pid
    bossac = data.get("bossac") if isinstance(data, dict) else None
    offset = data.get("bootloader_offset") if isinstance(data, dict) else None
    if isinstance(bossac, dict) and offset is None:
        offset = bossac.get("offset")
    info.bootloader_offset = _as_int(offset)
    args = bossac.get("args") if isinstance(bossac, dict) else data.get("bossac_args")
    if isinstance(args, str):
        args = shlex.split(args)
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        info.bossac_args = list(args)
    sketch = data.get("sketch_dir") if isinstance(data, dict) else None
    if isinstance(sketch, str):
        info.sketch_dir = (path.parent / sketch).resolve()
    library = data.get("library_dir") if isinstance(data, dict) else None
    if isinstance(library, str):
        info.library_dir = (path.parent / library).resolve()
    build = data.get("build") if isinstance(data, dict) else None
    if isinstance(build, dict):
        if isinstance(build.get("assemble"), str):
            info.assemble = shlex.split(build["assemble"])
        if isinstance(build.get("output"), str):
            info.output = Path(build["output"])
    return info


# ------------------------------------------------------------------------------------------ ports


def _ports(vid: int, pid: int) -> list[str]:
    return sorted(p.device for p in serial.tools.list_ports.comports() if p.vid == vid and p.pid == pid)


def find_port(info: BoardInfo | None = None, bootloader: bool = False) -> str:
    """The serial port of a connected Nano 33 BLE (application, or bootloader when bootloader=True)."""
    info = info or board_info()
    pid = info.boot_pid if bootloader else info.app_pid
    ports = _ports(info.vid, pid)
    if not ports:
        what = "in its bootloader" if bootloader else "running"
        raise DeviceError(f"no Nano 33 BLE {what} found (USB {info.vid:04X}:{pid:04X}); plug it in, or pass --port")
    if len(ports) > 1:
        raise DeviceError(f"several Nano 33 BLE boards found ({', '.join(ports)}); choose one with --port")
    return ports[0]


def touch_1200(port: str) -> None:
    """Open port at 1200 baud with DTR low and close it: the Arduino signal to reset into the bootloader.

    DTR is set before opening, so ports without modem lines (ptys) take the touch as well."""
    s = serial.Serial()
    s.port = port
    s.baudrate = TOUCH_BAUD
    s.dtr = False
    try:
        s.open()
        s.close()
    except (serial.SerialException, OSError) as exc:
        raise DeviceError(f"cannot open {port}: {getattr(exc, 'strerror', None) or exc}") from None


def enter_bootloader(port: str | None, info: BoardInfo, timeout: float = BOOTLOADER_TIMEOUT) -> str:
    """Put the board in its bootloader; return the bootloader's port."""
    boot = _ports(info.vid, info.boot_pid)
    if boot and (port is None or port in boot):
        return port or boot[0]  # already there (double-tapped reset)
    if port is None:
        port = find_port(info)
    before = set(_ports(info.vid, info.boot_pid))
    touch_1200(port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = set(_ports(info.vid, info.boot_pid))
        new = sorted(now - before) or sorted(now)
        if new:
            time.sleep(0.5)  # let udev finish setting up the node
            return new[0]
    raise DeviceError(f"the board on {port} did not enter its bootloader within {timeout:g} s (no USB "
                      f"{info.vid:04X}:{info.boot_pid:04X} port appeared); double-tap its reset button and retry")


# ------------------------------------------------------------------------------------------ tools


@dataclass
class UploadTool:
    """The program that writes the firmware: ``arduino-cli`` or Arduino's ``bossac``."""

    kind: str  # "arduino-cli" or "bossac"
    path: str


def _bossac_version(path: str) -> str:
    """The version line bossac prints with --help ('' if it cannot run)."""
    try:
        proc = subprocess.run([path, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return next((ln.strip() for ln in proc.stdout.splitlines() if "version" in ln.lower()), "")


def _arduino15_bossacs(home: Path | None = None) -> list[Path]:
    """bossac executables the Arduino cores installed, newest version first."""
    base = (home or Path.home()) / ARDUINO15_BOSSAC
    found = [p for p in base.glob("*/bossac") if p.is_file() and os.access(p, os.X_OK)]

    def key(p: Path) -> list[object]:
        return [(0, int(x)) if x.isdigit() else (1, x) for x in re.split(r"[.\-]", p.parent.name)]

    return sorted(found, key=key, reverse=True)


def find_upload_tool(home: Path | None = None) -> UploadTool:
    """arduino-cli on PATH, else Arduino's bossac (on PATH if it is Arduino's fork, else under ~/.arduino15)."""
    cli = shutil.which("arduino-cli")
    if cli is not None:
        return UploadTool("arduino-cli", cli)
    rejected = ""
    bossac = shutil.which("bossac")
    if bossac is not None:
        version = _bossac_version(bossac)
        if "arduino" in version.lower():
            return UploadTool("bossac", bossac)
        rejected = (f"; {bossac} ({version or 'version unknown'}) is not Arduino's bossac and cannot flash the "
                    "nRF52840 (Debian's bossa-cli is for SAM devices)")
    for path in _arduino15_bossacs(home):
        return UploadTool("bossac", str(path))
    raise DeviceError(NO_UPLOAD_TOOL + rejected)


def bossac_command(firmware: Path, port: str, info: BoardInfo, bossac: str = "bossac") -> list[str]:
    """bossac's command line for this board."""
    port_file = Path(port).name if port.startswith("/dev/") else port
    args = [a.replace("{port_file}", port_file).replace("{port}", port).replace("{file}", str(firmware))
            for a in info.bossac_args]
    if "{file}" not in " ".join(info.bossac_args):
        args.append(str(firmware))
    if info.bootloader_offset and not any(a.startswith("--offset") for a in args):
        args.insert(0, f"--offset={info.bootloader_offset:#x}")
    return [bossac, *args]


def arduino_cli_upload_command(firmware: Path, port: str, info: BoardInfo, cli: str = "arduino-cli") -> list[str]:
    """arduino-cli's upload command line: it touches the port at 1200 baud and runs the core's bossac itself."""
    return [cli, "upload", "-p", port, "--fqbn", info.fqbn, "--input-file", str(firmware)]


def _tool_failed(name: str, proc: subprocess.CompletedProcess[str]) -> DeviceError:
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    return DeviceError(f"{name} failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")


def flash(firmware: str | Path, port: str | None = None, info: BoardInfo | None = None,
          progress: Progress | None = None, tool: UploadTool | None = None) -> None:
    """Write a firmware .bin to a Nano 33 BLE with arduino-cli, or with Arduino's bossac after a 1200-baud touch.

    port: the application port ("auto"/None: found by USB VID:PID).
    """
    info = info or board_info()
    firmware = Path(firmware)
    if not firmware.is_file():
        raise DeviceError(f"firmware not found: {firmware}")
    if firmware.suffix.lower() != ".bin":
        raise DeviceError(f"{firmware}: the Nano 33 BLE takes raw .bin images (arduino-cli compile produces one)")
    tool = tool or find_upload_tool()
    if port in (None, "auto"):
        port = None
    say = progress or (lambda msg: None)
    if tool.kind == "arduino-cli":
        if port is None:
            boot = _ports(info.vid, info.boot_pid)
            port = boot[0] if len(boot) == 1 else find_port(info)
        cmd = arduino_cli_upload_command(firmware, port, info, tool.path)
    else:
        say(f"resetting the board{' on ' + port if port else ''} into its bootloader")
        boot_port = enter_bootloader(port, info)
        cmd = bossac_command(firmware, boot_port, info, tool.path)
    say(f"flashing {firmware}: {' '.join(cmd)}")
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                              check=False)
    except OSError as exc:
        raise DeviceError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise _tool_failed(Path(tool.path).name, proc)
    say("done; the board restarts into the new firmware")


def build_firmware(info: BoardInfo | None = None) -> Path:
    """Generate the Arduino library (make arduino-lib) and compile its DriftMonitor example with arduino-cli;
    return the .bin."""
    root = repo_root()
    info = info or board_info(root)
    cli = shutil.which("arduino-cli")
    if cli is None:
        raise DeviceError(ARDUINO_CLI_HINT)
    if info.assemble:
        if shutil.which(info.assemble[0]) is None:
            raise DeviceError(f"{info.assemble[0]} not found: install the Debian package {info.assemble[0]}")
        run_step(info.assemble, root, " ".join(info.assemble))
    sketch = info.sketch_dir or root / DEFAULT_SKETCH
    library = info.library_dir or root / DEFAULT_LIBRARY
    if not sketch.is_dir():
        raise DeviceError(f"Nano 33 BLE sketch not found at {sketch}")
    output = info.output if info.output.is_absolute() else root / info.output
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cli, "compile", "--fqbn", info.fqbn, "--library", str(library), "--output-dir", str(output.parent),
           str(sketch)]
    run_step(cmd, root, "arduino-cli compile")
    if output.is_file():
        return output
    bins = sorted(p for p in output.parent.glob("*.bin") if not p.name.endswith(".with_bootloader.bin"))
    if not bins:
        raise DeviceError(f"arduino-cli compile produced no .bin in {output.parent}")
    return bins[0]


__all__ = ["BoardInfo", "UploadTool", "arduino_cli_upload_command", "board_info", "bossac_command", "build_firmware",
           "enter_bootloader", "find_port", "find_upload_tool", "flash", "touch_1200"]
