"""The simulator's output reader: a pipe closed under it (kill() on a board that was still printing) ends the
reader quietly instead of raising "I/O operation on closed file" in its thread."""

from __future__ import annotations

import threading
from typing import Any

from tinydrift.device.sim import Simulator


class _ClosingPipe:
    """Yields two lines, then fails like a file object closed by another thread."""

    def __iter__(self) -> Any:
        yield "tinydrift-sim: listening\n"
        yield "line 2\n"
        raise ValueError("I/O operation on closed file.")


class _Proc:
    stdout = _ClosingPipe()


def test_drain_survives_a_pipe_closed_under_it() -> None:
    errors: list[BaseException] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment,return-value]
    try:
        sim = Simulator(board="host")
        reader = threading.Thread(target=sim._drain, args=(_Proc(),))
        reader.start()
        reader.join(5)
        sim.close()
    finally:
        threading.excepthook = hook
    assert errors == []
    assert list(sim.output) == ["tinydrift-sim: listening", "line 2"]
