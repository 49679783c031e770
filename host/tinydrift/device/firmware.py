"""Where firmware is built: the checkout, or the sources an installed wheel carries; tools; a build step.

In a checkout (an editable install) firmware builds in place, into build/fw/. An installed wheel
carries the same sources in ``tinydrift/_fw/`` (csrc/, firmware/, boards/host, boards/mps2-an386,
copied by setup.py) and builds them into a per-user cache, ``$XDG_CACHE_HOME/tinydrift/fw/
<version>-<hash>/`` (``~/.cache`` without XDG_CACHE_HOME), the hash covering every source file; the
QEMU image may come prebuilt in ``tinydrift/_fw/prebuilt/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tinydrift.core.version import __version__
from tinydrift.device.protocol import DeviceError

try:
    import fcntl
except ImportError:  # not POSIX: no lock, builds may race as before
    fcntl = None  # type: ignore[assignment]

PACKAGED = Path(__file__).resolve().parents[1] / "_fw"
PREBUILT = PACKAGED / "prebuilt"


def _is_source_tree(root: Path) -> bool:
    return (root / "firmware" / "firmware.mk").is_file() and (root / "csrc").is_dir()


def checkout_root() -> Path | None:
    """The tinydrift checkout this package runs from (the parent of host/tinydrift), or None when installed."""
    root = Path(__file__).resolve().parents[3]
    return root if _is_source_tree(root) else None


def repo_root() -> Path:
    """The tinydrift checkout this package runs from (the parent of host/tinydrift)."""
    root = checkout_root()
    if root is None:
        raise DeviceError("firmware sources not found; run from a tinydrift checkout")
    return root


def packaged_sources() -> Path:
    """The firmware sources an installed wheel carries (tinydrift/_fw), or DeviceError."""
    if not _is_source_tree(PACKAGED):
        raise DeviceError("firmware sources not found: neither a tinydrift checkout nor an installed wheel "
                          "with tinydrift/_fw; reinstall tinydrift")
    return PACKAGED


def source_hash(root: Path) -> str:
    """12 hex digits of SHA-256 over the relative path and bytes of every source file under root
    (prebuilt/ excluded), so a changed source gets a fresh cache directory."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("prebuilt/") or "__pycache__" in rel:
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/tinydrift/fw`` (``~/.cache/tinydrift/fw`` when XDG_CACHE_HOME is unset or relative)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    home = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return home / "tinydrift" / "fw"


def cache_dir(sources: Path) -> Path:
    """The per-user build directory of these sources: cache_root()/<version>-<hash>."""
    return cache_root() / f"{__version__}-{source_hash(sources)}"


@contextmanager
def _cache_lock(final: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<final>.lock`` beside the cache directory: one build per cache directory at
    a time, across processes (pytest-xdist workers, parallel CI jobs); others wait, then find the result."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f"{final.name}.lock", "a", encoding="utf-8") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_in_cache(sources: Path, target: str, output: Path, what: str, tools: str,
                   progress: Callable[[str], None] | None = None) -> Path:
    """Build ``make -f firmware/firmware.mk target`` from a copy of sources in the per-user cache (once;
    later calls return the cached file); return cache_dir/output. progress gets one line before a build.
    Concurrent callers (other processes) wait for one build under a file lock instead of racing it."""
    final = cache_dir(sources)
    if (final / output).is_file():
        return final / output
    try:
        with _cache_lock(final):
            if (final / output).is_file():  # built by the process that held the lock before us
                return final / output
            if progress is not None:
                progress(f"tinydrift: building the {what} with {tools} into {final} (first use)")
            _build_locked(sources, final, target, output, what)
    except OSError as exc:
        raise DeviceError(f"cannot build the {what} in {final}: {exc.strerror or exc}") from None
    return final / output


def _build_locked(sources: Path, final: Path, target: str, output: Path, what: str) -> None:
    """The build itself, under the cache lock: into a fresh copy renamed into place when it succeeded, or
    beside another board's firmware when the cache directory already exists."""
    work = final if final.is_dir() else final.with_name(f"{final.name}.tmp-{os.getpid()}")
    try:
        if work != final:
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(sources, work, ignore=shutil.ignore_patterns("prebuilt", "__pycache__"))
        run_step(["make", "-s", "-f", "firmware/firmware.mk", target], work, f"{what} build",
                 f"make -f firmware/firmware.mk {target} in {final}")
        if not (work / output).is_file():
            raise DeviceError(f"{what} build in {final} did not produce {output}")
        if work != final:
            work.rename(final)
    except (OSError, DeviceError):
        if work != final:
            shutil.rmtree(work, ignore_errors=True)
        raise


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
