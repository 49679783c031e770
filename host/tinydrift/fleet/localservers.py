"""Throwaway mosquitto and PostgreSQL instances on loopback ports, for tests, benchmarks and the demo.

Both run from the Debian packages' binaries (``mosquitto``; PostgreSQL's ``initdb``/``pg_ctl``
under /usr/lib/postgresql/*/bin) in a temporary directory, never touch a system service and
are stopped by ``stop()``. PostgreSQL refuses to run as root: when we are root it runs as
``nobody`` (``runuser``), with its directory handed to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tinydrift.core.errors import TinyDriftError


class ServerError(TinyDriftError):
    """A local server could not be found, started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what} exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def find_mosquitto() -> str:
    """Path of the mosquitto broker binary (Debian: /usr/sbin/mosquitto)."""
    path = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)
    if not path:
        raise ServerError("mosquitto not found; install it with: sudo apt-get install -y mosquitto")
    return path


def find_pg_bin() -> Path:
    """Directory of PostgreSQL's server binaries (newest /usr/lib/postgresql/*/bin, else initdb on PATH)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, "initdb")):
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise ServerError("PostgreSQL server binaries not found; install them with: sudo apt-get install -y postgresql")


class Mosquitto:
    """A mosquitto broker on 127.0.0.1:port with persistence in ``directory`` (survives restart())."""

    def __init__(self, directory: str | Path, port: int | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = self.dir / "mosquitto.conf"
        # max_queued_messages 0: no limit on what a disconnected persistent session (an ingest worker
        # being restarted) may have queued; the default of 1000 drops the rest. Persistence keeps the
        # queues and unacknowledged messages across a broker restart (written on a clean shutdown and
        # every autosave_interval seconds).
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {self.dir}/", "autosave_interval 1", "max_queued_messages 0",
                 "max_inflight_messages 0", f"log_dest file {self.dir}/mosquitto.log",
                 "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}/tinydrift"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([find_mosquitto(), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait_port(self.port, timeout, "mosquitto", self.proc)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (the broker saves its persistence file) or SIGKILL; waits for the exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Postgres:
    """A PostgreSQL cluster in ``directory`` listening on 127.0.0.1:port, trust auth, user ``tinydrift``."""

    USER = "tinydrift"

    def __init__(self, directory: str | Path, port: int | None = None) -> None:
        self.dir = Path(directory)
        self.data = self.dir / "data"
        self.port = port or free_port()
        self.bin = find_pg_bin()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "nobody", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/tinydrift"

    def _run(self, *argv: str, timeout: float = 120.0) -> None:
        res = subprocess.run([*self._as, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                             cwd=self.dir)
        if res.returncode != 0:
            tail = res.stdout.decode(errors="replace").strip().splitlines()
            raise ServerError(f"{Path(argv[0]).name} failed: {tail[-1] if tail else res.returncode}")

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as:
            os.chown(self.dir, 65534, 65534)
            os.chmod(self.dir, 0o700)
            # nobody must reach the directory: let it traverse (not list) the temporary parents we made.
            for parent in self.dir.resolve().parents:
                st = parent.stat()
                if parent == Path("/") or st.st_mode & 0o001:
                    continue
                if st.st_uid == os.geteuid():
                    os.chmod(parent, st.st_mode | 0o001)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.USER, "-A", "trust", "-E", "UTF8",
                  "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w",
                  "-t", "60", "-o", opts, "start")
        _wait_port(self.port, 30, "postgres")

    def create_database(self, name: str = "tinydrift") -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, name)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()
