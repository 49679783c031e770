"""Layer 4, the ``tinydrift`` command: one module per command group, shared pieces in common.py."""

from __future__ import annotations

from tinydrift.cli.app import main

__all__ = ["main"]
