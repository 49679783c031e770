"""Simulated tinydrift boards as subprocesses: the host-build simulator and QEMU's Cortex-M4 (mps2-an386).

    >>> with Simulator("host", state_dir="sim-state") as sim:
    ...     with Device(sim.url) as dev:
    ...         print(dev.info().board_name)
    ...     sim.restart()                # reboot: same storage file, new boot id (and a new URL)

The profile store lives in ``state_dir/tinydrift-storage.bin`` and survives restarts.
Firmware is built from this checkout with ``make -f firmware/firmware.mk fw-host|fw-qemu``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from tinydrift.device.firmware import repo_root, require_tool, run_step
from tinydrift.device.protocol import DeviceError

BOARDS = ("host", "qemu")
STORAGE_FILE = "tinydrift-storage.bin"
FIRMWARE = {
    "host": ("fw-host", Path("build/fw/host/tinydrift-sim")),
    "qemu": ("fw-qemu", Path("build/fw/mps2-an386/tinydrift.elf")),
}
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


def build_firmware(board: str) -> Path:
    """Run ``make -f firmware/firmware.mk fw-host|fw-qemu`` in the checkout; return the firmware path."""
    _check_board(board)
    root = repo_root()
    for tool, package in BUILD_TOOLS[board]:
        require_tool(tool, package)
    target, rel = FIRMWARE[board]
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
    path = repo_root() / FIRMWARE[board][1]
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
    command line.
    """

    def __init__(self, board: str = "host", state_dir: str | Path | None = None, build: bool = True,
                 startup_timeout: float = STARTUP_TIMEOUT, extra_args: tuple[str, ...] = ()) -> None:
        _check_board(board)
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
        if self.board == "host":
            return [str(self._firmware), "--tcp", "0", "--storage", str(self.storage.resolve()), *self.extra_args]
        self._port = free_port()
        # nodelay=on: QEMU sends each UART byte as it is written; with Nagle's algorithm every reply
        # would stall on the host's delayed ACK (about 40 ms per request instead of about 1 ms).
        return [require_tool(QEMU, QEMU_PACKAGE), "-M", "mps2-an386", "-nographic", "-monitor", "none",
                "-serial", f"tcp:127.0.0.1:{self._port},server=on,wait=on,nodelay=on",
                "-kernel", str(self._firmware.resolve()), "-semihosting-config", "enable=on,target=native",
                *self.extra_args]

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
            threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
            url = self._wait_ready()
            if url is not None:
                self.url = url
                return url
            if attempt == 2 or self.board != "qemu" or "in use" not in " ".join(self.output):
                break
        last = next((ln for ln in reversed(self.output) if ln.strip()), "no output")
        status = self.proc.poll() if self.proc else None
        self.kill()
        what = f"exited with status {status}" if status is not None else \
            f"did not start within {self.startup_timeout:g} s"
        raise DeviceError(f"{self.board} simulator {what}: {last.strip()}")

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._line_event:
                self.output.append(line.rstrip("\n"))
                self._line_event.notify_all()
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
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        proc.wait()
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
