"""Timestamps as people read them (one format for the CLI and the report)."""

from __future__ import annotations

import time


def utc_text(ts: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` of a Unix time, or ``-`` for None."""
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
