"""docs/benchmarks.md: the results gathered into one context and rendered through templates/benchmarks.md.j2."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import tinydrift

from .build_speed import TARGET_BUILD_SECONDS, BuildSpeed
from .config import FLOOR_PER_CHANNEL_SAMPLE, SPEED_WINDOW, WINDOW
from .device import Footprint, sh
from .link import LinkResult
from .reading import reading, targets_table
from .runs import DETECTORS, Quality, fa_total
from .scenarios import DRIFTS, SCENARIOS, SHORT
from .speed import TARGET_CHANNEL_SAMPLES, TARGET_STREAM_US, TARGET_VS_NUMPY, Speed
from .stream_rows import RowSpeed
from .tables import channel_table, class_breakdown, quality_tables
from .templating import environment

def machine() -> dict[str, str]:
    """Date, CPU, versions and commit for the report's header."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import river

        river_v = river.__version__
    except ImportError:
        river_v = "not installed"
    commit = sh(["git", "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    dirty = bool(sh(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip())
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
        "numpy": np.__version__, "river": river_v, "tinydrift": getattr(tinydrift, "__version__", "?"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def quality_context(q: Quality, dev: dict[str, float], speed: Speed | None, classes: list[str]) -> dict[str, Any]:
    """What the headline and detection sections need from the detection results."""
    scenarios = [{"key": s.key, "short": SHORT[s.key], "kind": s.kind} for s in SCENARIOS]
    fa_rows = []
    for setting in ("configured", "tuned"):
        rows = [(det, [fa_total(q.outcomes[(setting, det)], [s.key]) for s in SCENARIOS]) for det in DETECTORS]
        fa_rows.append((setting, rows))
    diag = []
    for key in DRIFTS:
        d = q.diag.get(key)
        if not d:
            continue
        hows = [o.how for o in q.outcomes[("configured", "tinydrift")] if o.scenario == key and o.delay is not None]
        by = ", ".join(f"{name} {sum(1 for h in hows if h & bit)}" for name, bit in
                       (("instant", 1), ("CUSUM", 2), ("health", 4), ("feature chart", 0x20))
                       if any(h & bit for h in hows)) or "-"
        diag.append({"short": SHORT[key], **d, "by": by})
    td_fa, td_n = q.tuned_target
    return {
        "headline": quality_tables(q, "tuned"),
        "targets": targets_table(q),
        "reading": reading(q, dev, speed)[0],
        "scenarios": scenarios,
        "settings": [(det, q.settings["configured"][det], q.settings["tuned"][det]) for det in DETECTORS],
        "tuned_alarms": td_fa, "tuned_windows": td_n,
        "tables": {
            "quality": {s: quality_tables(q, s) for s in ("configured", "tuned")},
            "channel": {s: channel_table(q, s) for s in ("configured", "tuned")},
            "unseen": class_breakdown(q, "tuned", "unseen", classes),
            "prior": class_breakdown(q, "tuned", "prior", classes),
        },
        "false_alarm_rows": fa_rows,
        "diag": diag,
        "seconds": q.seconds,
    }


def build_context(info: dict[str, str], command: str, q: Quality | None, speed: Speed | None, dev_md: str | None,
                  dev: dict[str, float], foot: Footprint | None, links: list[LinkResult], wire: dict[str, int] | None,
                  imgs: dict[str, str], classes: list[str], names: list[str], repeats: int,
                  rows_speed: RowSpeed | None = None, build_speed: BuildSpeed | None = None) -> dict[str, Any]:
    """Every value the report's templates read; q None leaves the detection sections out."""
    ctx: dict[str, Any] = {
        "info": info, "command": command, "q": q, "repeats": repeats, "names": names, "classes": classes,
        "window": WINDOW, "speed_window": SPEED_WINDOW, "floor": FLOOR_PER_CHANNEL_SAMPLE,
        "target_cs": TARGET_CHANNEL_SAMPLES, "target_numpy": TARGET_VS_NUMPY, "target_stream_us": TARGET_STREAM_US,
        "speed": speed, "dev_md": dev_md, "dev": dev, "foot": foot, "links": links, "wire": wire, "imgs": imgs,
        "channel_sd": list(zip(names, q.sd)) if q is not None else [],
        "rows_speed": rows_speed, "build_speed": build_speed, "target_build_s": TARGET_BUILD_SECONDS,
        "build_sizes": sorted({f.frames for f in build_speed.figures}) if build_speed else [],
    }
    if q is not None:
        ctx.update(quality_context(q, dev, speed, classes))
    return ctx


def render(context: dict[str, Any]) -> str:
    """The report's markdown from build_context's dictionary (ends with exactly one newline)."""
    text = environment().get_template("benchmarks.md.j2").render(context)
    return text.rstrip("\n") + "\n"


def write_doc(path: Path, context: dict[str, Any]) -> list[str]:
    """Render the report into path; returns the headline table's lines (empty without detection results)."""
    path.write_text(render(context))
    return list(context.get("headline", []))
