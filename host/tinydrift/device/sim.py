"""Simulated tinydrift boards as subprocesses: the host-build simulator and QEMU's Cortex-M4 (mps2-an386).

    >>> with Simulator("host", state_dir="sim-state") as sim:
    ...     with Device(sim.url) as dev:
    ...         print(dev.info().board_name)
    ...     sim.restart()                # reboot: same storage file, new boot id (and a new URL)

The profile store lives in ``state_dir/tinydrift-storage.bin`` and survives restarts, and so does the
board's 64-bit device id (INFO): random at the first start of a state directory, or ``device_id``,
which replaces the stored one (boards/host/README.md, boards/mps2-an386/README.md).
Firmware is built from this checkout with ``make -f firmware/firmware.mk fw-host|fw-qemu``, or, in an
installed wheel, from the sources it carries into the per-user cache (``build_firmware``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from tinydrift.core.errors import InputError
from tinydrift.core.files import write_atomic
from tinydrift.core.recording import read_recording
from tinydrift.device.firmware import (
    PREBUILT,
    build_in_cache,
    cache_dir,
    checkout_root,
    packaged_sources,
    repo_root,
    require_tool,
    run_step,
)
from tinydrift.device.protocol import DeviceError
from tinydrift.device.relay import LinkRelay

BOARDS = ("host", "qemu")
STORAGE_FILE = "tinydrift-storage.bin"
SENSOR_FILE = "tinydrift-sensor.bin"  # the recording the simulated sensor plays (raw int16 LE), in the state dir
MAX_SENSOR_RATE = 65535  # the SENSOR message's uint16 rate
FIRMWARE = {
    "host": ("fw-host", Path("build/fw/host/tinydrift-sim")),
    "qemu": ("fw-qemu", Path("build/fw/mps2-an386/tinydrift.elf")),
}
# Where a wheel carries the QEMU image built at wheel build time (setup.py), under tinydrift/_fw/prebuilt/.
PREBUILT_QEMU = Path("mps2-an386/tinydrift.elf")
# Tools each build/run needs, with the Debian package that provides them.
BUILD_TOOLS = {
    "host": [("make", "make"), ("gcc", "gcc")],
    "qemu": [("make", "make"), ("arm-none-eabi-gcc", "gcc-arm-none-eabi")],
}
QEMU = "qemu-system-arm"
QEMU_PACKAGE = "qemu-system-arm"
STARTUP_TIMEOUT = 20.0
_URL_LINE = re.compile(r"listening on (socket://\S+)")
_QEMU_WAITING = re.compile(r"waiting for connection", re.IGNORECASE)


def _check_board(board: str) -> None:
    if board not in BOARDS:
        raise DeviceError(f"unknown simulated board {board!r}; choose one of {', '.join(BOARDS)}")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_firmware(board: str) -> Path:
    """Build the simulator firmware for board ("host" or "qemu") if needed; return its path.

    In a checkout: ``make -f firmware/firmware.mk fw-host|fw-qemu`` there (build/fw/...). From an installed
    wheel: the QEMU image the wheel carries prebuilt, else a build of the wheel's sources with the user's
    gcc (host) or arm-none-eabi-gcc (qemu) into the per-user cache (tinydrift.device.firmware.cache_dir),
    once, announced by one line on stderr.
    """
    _check_board(board)
    target, rel = FIRMWARE[board]
    root = checkout_root()
    if root is None:
        if board == "qemu" and (PREBUILT / PREBUILT_QEMU).is_file():
            return PREBUILT / PREBUILT_QEMU
        sources = packaged_sources()
        if not (cache_dir(sources) / rel).is_file():
            for tool, package in BUILD_TOOLS[board]:
                require_tool(tool, package)
        what, tools = ("host simulator", "gcc") if board == "host" else ("QEMU firmware", "arm-none-eabi-gcc")
        return build_in_cache(sources, target, rel, what, tools, progress=_progress)
    for tool, package in BUILD_TOOLS[board]:
        require_tool(tool, package)
    cmd = ["make", "-s", "-f", "firmware/firmware.mk", target]
    shown = f"make -f firmware/firmware.mk {target}"
    run_step(cmd, root, "firmware build", shown)
    path = root / rel
    if not path.is_file():
        raise DeviceError(f"firmware build ({shown}) did not produce {rel}")
    return path


def firmware_path(board: str, build: bool = True) -> Path:
    """The simulator firmware for board ("host" or "qemu"), built first when build is true."""
    _check_board(board)
    if build:
        return build_firmware(board)
    root = checkout_root()
    if root is None:
        if board == "qemu" and (PREBUILT / PREBUILT_QEMU).is_file():
            return PREBUILT / PREBUILT_QEMU
        path = cache_dir(packaged_sources()) / FIRMWARE[board][1]
        if not path.is_file():
            raise DeviceError(f"{board} firmware not built yet ({path}); run `tinydrift firmware build --board {board}`")
        return path
    path = root / FIRMWARE[board][1]
    if not path.is_file():
        raise DeviceError(f"{FIRMWARE[board][1]} not built; run `make -f firmware/firmware.mk {FIRMWARE[board][0]}`")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulator:
    """A simulated board running as a subprocess; ``url`` is what ``Device`` opens.

    board: "host" (build/fw/host/tinydrift-sim, TCP server on a free port) or "qemu"
    (qemu-system-arm -M mps2-an386, UART0 on a TCP server that waits for the first client:
    connect promptly). state_dir holds the storage file (a temporary directory, removed on
    close, when None). build: run make first (incremental). extra_args: appended to the
    command line. sensor_file: a recording (.csv/.npy/.npz) the board's sensor plays, frames of the
    active profile's channel count, in real time at the rate a SENSOR request asks for; with
    sensor_rate (Hz) the sensor starts by itself as soon as a profile is active. port: the TCP port on
    127.0.0.1 to serve (0: a free one). refuse_second_client: QEMU only (the host build always does):
    serve its link through a relay (``relay.LinkRelay``) that answers a second client with the busy line.
    device_id: the board's 64-bit device id (1..2**64-1), stored in its state; None keeps the stored one, or
    a new random one at the first start of the state directory.
    """

    def __init__(self, board: str = "host", state_dir: str | Path | None = None, build: bool = True,
                 startup_timeout: float = STARTUP_TIMEOUT, extra_args: tuple[str, ...] = (),
                 sensor_file: str | Path | None = None, sensor_rate: int | None = None, port: int = 0,
                 refuse_second_client: bool = False, device_id: int | None = None) -> None:
        _check_board(board)
        if device_id is not None and not 0 < device_id < 1 << 64:
            raise InputError(f"device id must be 1..2**64-1 (1 to 16 hex digits, not 0), got {device_id:#x}")
        self.device_id = device_id
        if not 0 <= port <= 65535:
            raise InputError(f"TCP port must be 0..65535, got {port}")
        self.port = port
        self.refuse_second_client = refuse_second_client
        self._relay: LinkRelay | None = None
        if sensor_rate is not None and sensor_file is None:
            raise InputError("a sensor rate needs a sensor file (--sensor-file)")
        if sensor_rate is not None and not 1 <= sensor_rate <= MAX_SENSOR_RATE:
            raise InputError(f"sensor rate must be 1..{MAX_SENSOR_RATE} Hz, got {sensor_rate}")
        self.sensor_rate = sensor_rate
        self.sensor_channels: int | None = None
        self._sensor_frames: bytes | None = None
        if sensor_file is not None:
            rec = read_recording(sensor_file)
            self.sensor_channels = rec.n_channels
            self._sensor_frames = np.ascontiguousarray(rec.frames, dtype="<i2").tobytes()
        self.board = board
        self.build = build
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"tinydrift-{board}-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir)
        self.proc: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None
        self.url: str | None = None
        self.output: deque[str] = deque(maxlen=200)
        self._firmware: Path | None = None
        self._line_event = threading.Condition()

    @property
    def storage(self) -> Path:
        return self.state_dir / STORAGE_FILE

    # -------------------------------------------------------------------------------- process

    def _command(self) -> list[str]:
        if self._firmware is None:
            self._firmware = firmware_path(self.board, self.build)
        sensor: list[str] = []
        if self._sensor_frames is not None:
            # The firmware reads raw little-endian int16 frames; the file sits in the state directory (cwd).
            write_atomic(self.state_dir / SENSOR_FILE, self._sensor_frames)
            if self.board == "host":
                sensor = ["--sensor-file", SENSOR_FILE]
                if self.sensor_rate:
                    sensor += ["--sensor-rate", str(self.sensor_rate)]
            else:
                words = f"sensor={SENSOR_FILE}" + (f" sensor_rate={self.sensor_rate}" if self.sensor_rate else "")
                sensor = ["-append", words]
        uid = self.device_id
        if uid is None and self.board == "qemu" and not self.storage.exists():
            # QEMU's board has no RNG: its first boot gets an id from the host's (the firmware stores it).
            uid = secrets.randbits(64) or 1
        if self.board == "host":
            ident = ["--device-id", f"{uid:016x}"] if uid else []
            return [str(self._firmware), "--tcp", str(self.port), "--storage", str(self.storage.resolve()), *sensor,
                    *ident, *self.extra_args]
        if uid:
            sensor = ["-append", " ".join([*sensor[1:], f"device_id={uid:016x}"])]
        self._port = free_port() if self.refuse_second_client or not self.port else self.port
        # nodelay=on: QEMU sends each UART byte as it is written; with Nagle's algorithm every reply
        # would stall on the host's delayed ACK (about 40 ms per request instead of about 1 ms).
        return [require_tool(QEMU, QEMU_PACKAGE), "-M", "mps2-an386", "-nographic", "-monitor", "none",
                "-serial", f"tcp:127.0.0.1:{self._port},server=on,wait=on,nodelay=on",
                "-kernel", str(self._firmware.resolve()), "-semihosting-config", "enable=on,target=native",
                *sensor, *self.extra_args]

    def start(self) -> str:
        """Start the board; return its URL once it accepts a connection."""
        if self.proc is not None and self.proc.poll() is None:
            assert self.url is not None
            return self.url
        if self.board == "qemu":
            require_tool(QEMU, QEMU_PACKAGE)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeviceError(f"cannot create state directory {self.state_dir}: {exc.strerror or exc}") from None
        for attempt in range(3):  # a free port can be taken between free_port() and QEMU's bind
            cmd = self._command()
            try:
                self.proc = subprocess.Popen(cmd, cwd=self.state_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                                             start_new_session=True, preexec_fn=_die_with_parent)
            except OSError as exc:
                raise DeviceError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
            self.output.clear()
            self._drainer = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
            self._drainer.start()
            url = self._wait_ready()
            if url is not None and self.board == "qemu" and self.refuse_second_client:
                try:  # QEMU leaves a second client hanging: a relay in front refuses it as the host build does
                    self._relay = LinkRelay(self._port, self.port)
                    url = self._relay.url
                except OSError as exc:
                    self.kill()
                    raise DeviceError(f"cannot serve QEMU's link on 127.0.0.1:{self.port}: "
                                      f"{exc.strerror or exc}") from None
            if url is not None:
                self.url = url
                return url
            if attempt == 2 or self.board != "qemu" or self.port or "in use" not in " ".join(self.output):
                break
        last = next((ln for ln in reversed(self.output) if ln.strip()), "no output")
        status = self.proc.poll() if self.proc else None
        self.kill()
        what = f"exited with status {status}" if status is not None else \
            f"did not start within {self.startup_timeout:g} s"
        raise DeviceError(f"{self.board} simulator {what}: {last.strip()}")

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                with self._line_event:
                    self.output.append(line.rstrip("\n"))
                    self._line_event.notify_all()
        except (OSError, ValueError):  # the pipe closed under us (kill() gave up waiting for EOF)
            pass
        with self._line_event:
            self._line_event.notify_all()

    def _wait_ready(self) -> str | None:
        deadline = time.monotonic() + self.startup_timeout
        seen = 0
        with self._line_event:
            while time.monotonic() < deadline:
                lines = list(self.output)
                for line in lines[seen:]:
                    if self.board == "host":
                        m = _URL_LINE.search(line)
                        if m:
                            return m.group(1)
                    elif _QEMU_WAITING.search(line):
                        return f"socket://127.0.0.1:{self._port}"
                seen = len(lines)
                if self.proc is None or self.proc.poll() is not None:
                    self._line_event.wait(0.05)  # let the drain thread catch the last lines
                    if len(self.output) == seen:
                        return None
                    continue
                if self.board == "qemu" and _listening(self._port):
                    return f"socket://127.0.0.1:{self._port}"
                self._line_event.wait(0.05)
        return None

    def kill(self) -> None:
        """Stop the board at once (SIGKILL: like pulling the power); the state directory stays."""
        proc, self.proc = self.proc, None
        self.url = None
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.close()
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        proc.wait()
        drainer, self._drainer = self._drainer, None
        if drainer is not None:  # let it read to EOF before the pipe closes (no "I/O operation on closed file")
            drainer.join(2.0)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the board politely (SIGTERM, then SIGKILL after timeout)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def restart(self) -> str:
        """Reboot: kill and start again on the same storage; returns the (new) URL."""
        self.kill()
        return self.start()

    def wait(self) -> int:
        """Block until the simulator exits; its exit status."""
        if self.proc is None:
            return 0
        return self.proc.wait()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGKILL when the parent dies, so no simulator outlives a
    killed test run or CLI. Best effort elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux
        pass


def _listening(port: int) -> bool:
    """True if something listens on 127.0.0.1:port, read from /proc/net/tcp (no connection is made:
    QEMU's serial server serves only its first client)."""
    try:
        with open("/proc/net/tcp", encoding="ascii") as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if len(parts) > 3 and parts[3] == "0A" and parts[1].endswith(f":{port:04X}"):
                    return True
    except (OSError, StopIteration):
        return False
    return False


__all__ = ["BOARDS", "Simulator", "build_firmware", "firmware_path", "free_port", "repo_root", "require_tool"]
