"""Files written whole or not at all: write to a temporary file beside the target, then ``os.replace``.

A target that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO or a shell's ``>(...)``)
is written in place: replacing it would put a regular file where the device or pipe was (as root, ``-o
/dev/null`` would replace the system's /dev/null).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``path + '.tmp'`` for writing; on a clean exit it replaces ``path``, on any error it is removed.

    A reader of ``path`` sees the old file or the complete new one, never half a file; OSError and
    everything else propagate unchanged after the temporary file is gone.
    """
    target = Path(path)
    text = "b" not in mode
    if _special(target):
        with open(target, mode, encoding="utf-8" if text else None, newline="" if text else None) as fh:
            yield fh
        return
    tmp = target.with_name(target.name + ".tmp")
    try:
        try:
            handle = open(tmp, mode, encoding="utf-8" if text else None, newline="" if text else None)
        except OSError as exc:  # name the file the user gave, not our temporary one
            raise type(exc)(exc.errno, exc.strerror, str(target)) from None
        with handle as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _special(path: Path) -> bool:
    """True for an existing path that is neither a regular file nor a directory (a device, FIFO or socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` through :func:`atomic_open`."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
