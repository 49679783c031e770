"""Thin access to the compiled C core: the cffi ``ffi``/``lib`` pair and status checking."""

from __future__ import annotations

from tinydrift._native import ffi, lib  # type: ignore[import-not-found]

from tinydrift.core.errors import CoreError

__all__ = ["ffi", "lib", "check", "status_text"]


def status_text(status: int) -> str:
    """The C core's description of a td_status code."""
    return ffi.string(lib.td_status_str(status)).decode()


def check(status: int, what: str) -> None:
    """Raise CoreError unless status is TD_OK."""
    if status != lib.TD_OK:
        raise CoreError(f"{what}: {status_text(status)} (td_status {status})", status)
