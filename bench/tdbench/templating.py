"""The Jinja2 environment of the report's templates (templates/), with its number filters."""

from __future__ import annotations

import statistics
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _num(value: float, spec: str) -> str:
    return format(value, spec)


def environment() -> jinja2.Environment:
    """Markdown templates (no autoescape), strict about missing names; `num(spec)` formats like format()."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    env.filters["median"] = statistics.median
    return env
