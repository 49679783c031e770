"""Files written whole or not at all: write to a temporary file beside the target, then ``os.replace``."""

from __future__ import annotations

import os
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
    tmp = target.with_name(target.name + ".tmp")
    text = "b" not in mode
    try:
        with open(tmp, mode, encoding="utf-8" if text else None, newline="" if text else None) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` through :func:`atomic_open`."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
