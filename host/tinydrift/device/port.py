"""The serial port under ``Device``: error text, closing, and the request failures that are not NACKs."""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from tinydrift.device.protocol import DeviceError

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^\]\n]+?)(?::\s*'[^']*')?$")


class RequestDeadline(DeviceError):
    """A request was cut short by the connection's absolute deadline (``Device.until``)."""


class NoAnswer(DeviceError):
    """Every try of a request went unanswered; the connection itself is still open."""


def os_reason(exc: BaseException) -> str:
    """The short cause inside a pyserial/OS exception ('No such file or directory', 'Connection refused')."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    text = " ".join(str(exc).split())
    match = _ERRNO_TEXT.search(text)
    if match:
        return match.group(1)
    text = re.sub(r"^(?i:could not open port) \S+: ", "", text)
    return text or type(exc).__name__


def close_port(port: Any) -> None:
    """Close a pyserial port, never raising. pyserial's socket:// sleeps 0.3 s in close() (for quick
    reconnects); its socket is closed here first so that no close runs past a collector's --duration."""
    try:
        sock = getattr(port, "_socket", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            port._socket = None
            port.is_open = False
        port.close()
    except Exception:  # pragma: no cover - closing a dead port
        pass


__all__ = ["NoAnswer", "RequestDeadline", "close_port", "os_reason"]
