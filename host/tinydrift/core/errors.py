"""Exceptions raised by tinydrift; every one derives from TinyDriftError."""

from __future__ import annotations


class TinyDriftError(Exception):
    """Base class of every error tinydrift raises on purpose (the CLI prints these as one line)."""


class InputError(TinyDriftError, ValueError):
    """Recording or argument that tinydrift cannot use (wrong shape, bad values, too short)."""


class ProfileError(TinyDriftError):
    """A profile blob the C parser rejected; ``status`` is the td_status code."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CoreError(TinyDriftError):
    """The C core returned an unexpected error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
