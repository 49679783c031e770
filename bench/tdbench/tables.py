"""The report's result tables, one markdown line per row, computed from the detection results."""

from __future__ import annotations

import math

from .metrics import median_delay, per_1000
from .runs import DETECTORS, Quality, cell, fa_total, winners
from .scenarios import DRIFTS, SCENARIOS, SHORT


def fmt_rate(alarms: int, windows: int) -> str:
    return f"{per_1000(alarms, windows):.2f} ({alarms}/{windows:,})"


def quality_tables(q: Quality, setting: str) -> list[str]:
    lines = ["| detector | false alarms per 1,000 in-distribution windows | "
             + " | ".join(SHORT[k] for k in DRIFTS) + " |",
             "|---|---:|" + "---:|" * len(DRIFTS)]
    for det in DETECTORS:
        outs = q.outcomes[(setting, det)]
        fa, n = fa_total(outs)
        cells = [cell(outs, k) for k in DRIFTS]
        win = [det in winners(q, setting, k)[0] for k in DRIFTS]
        lines.append(f"| {det} | {fmt_rate(fa, n)} | "
                     + " | ".join((f"**{c.text()}**" if w else c.text()) for c, w in zip(cells, win)) + " |")
    return lines


def channel_table(q: Quality, setting: str) -> list[str]:
    keys = [s.key for s in SCENARIOS if s.channel_drift]
    lines = ["| detector | " + " | ".join(SHORT[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for det in DETECTORS:
        outs = q.outcomes[(setting, det)]
        cells = [cell(outs, k) for k in keys]
        lines.append(f"| {det} | " + " | ".join(f"{c.named_ok}/{c.named_of}" for c in cells) + " |")
    return lines


def class_breakdown(q: Quality, setting: str, scenario: str, classes: list[str]) -> list[str]:
    lines = ["| detector | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
    for det in DETECTORS:
        outs = [o for o in q.outcomes[(setting, det)] if o.scenario == scenario]
        row = []
        for cname in classes:
            sel = [o for o in outs if o.note == cname]
            med = median_delay([o.delay for o in sel])
            row.append(f"{sum(o.delay is not None for o in sel)}/{len(sel)}, "
                       + ("-" if math.isinf(med) else f"{med:g}"))
        lines.append(f"| {det} | " + " | ".join(row) + " |")
    return lines

