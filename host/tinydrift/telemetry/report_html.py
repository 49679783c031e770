"""The telemetry report's HTML page: summary table, per-run figures (inlined PNGs), gaps."""

from __future__ import annotations

import base64
import html
import re
import time
from pathlib import Path
from typing import Any

from tinydrift.core.wording import count
from tinydrift.core.timestamps import utc_text
from tinydrift.core.version import __version__
from tinydrift.telemetry.store import TelemetryStore

ROLLING_LABELLED_WINDOWS = 10  # realized accuracy: n_correct / n_labels over this many labelled windows


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "device"


def fmt_value(value: float | None) -> str:
    return "disabled/unknown" if value is None else f"{value:.4g}"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1360px;
       color: #222; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.8em 0; }
th, td { border: 1px solid #d0d0d0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.group th { background: #e3e8ee; text-align: left; font-size: 0.95em; }
th.row { font-weight: normal; white-space: nowrap; background: #fafafa; }
table.summary td { min-width: 14em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.alarm { color: #b71c1c; font-weight: 600; }
td.ok { color: #1b5e20; }
figure { margin: 1em 0 1.6em 0; }
figure img { max-width: 100%; border: 1px solid #e5e5e5; }
figcaption { color: #555; font-size: 0.88em; margin-top: 0.3em; }
code { background: #f5f5f5; padding: 0 3px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _run_cells(s: Any) -> dict[str, str]:
    """One run's summary values as HTML cells (with their class), keyed by the row they go in."""
    dev = _e(s.device) + (f"<br><small>{_e(s.board)}</small>" if s.board else "")
    cells = {
        "device": f"<td>{dev}</td>",
        "boot · profile": f"<td><code>{s.boot_id:#010x}</code> · <code>{s.profile_id:#010x}</code></td>",
        "channels": f"<td>{_e(', '.join(s.channel_names)) or '-'}</td>",
        "windows": f"<td class='num'>{s.windows} <small>(window {s.first_window}–{s.last_window})</small></td>",
        "x axis": f"<td>{'device uptime' if s.x_kind == 'time' else 'window index'}</td>",
    }
    if s.first_alarm_window is None:
        cells.update({"first alarm": "<td class='ok'>no alarm</td>", "trigger kinds": "<td>-</td>",
                      "channels implicated": "<td>-</td>"})
    else:
        cells.update({
            "first alarm": (f"<td class='alarm'>window {s.first_alarm_window} <small>(seq {s.first_alarm_seq})"
                            f"</small><br>uptime {s.first_alarm_uptime_s:.1f} s <small>≈ "
                            f"{_e(utc_text(s.first_alarm_time))}</small></td>"),
            "trigger kinds": f"<td>{_e(' + '.join(s.first_alarm_triggers))}</td>",
            "channels implicated": f"<td>{'<br>'.join(_e(c) for c in s.channels_implicated) or '-'}</td>",
        })
    cells["alarm onsets"] = f"<td class='num'>{s.alarm_onsets}</td>"
    for kind, n in s.trigger_counts.items():
        cells[f"triggered windows: {kind}"] = f"<td class='num{' alarm' if n else ''}'>{n}</td>"
    if s.first_concept_window is not None:
        cells["first concept drift"] = (f"<td class='alarm'>window {s.first_concept_window} <small>(seq "
                                        f"{s.first_concept_seq}; {count(s.concept_windows, 'window')})</small></td>")
    else:
        cells["first concept drift"] = "<td class='ok'>none</td>" if s.has_outputs else "<td>- (no model outputs)</td>"
    health = "<br>".join(_e(f"{ch}: " + ", ".join(f"{k} ×{n}" for k, n in kinds.items()))
                         for ch, kinds in s.health_events.items()) or "none"
    cells["health events"] = f"<td>{health}</td>"
    cells["received"] = f"<td class='num'>{s.records_received}</td>"
    cells["lost in gaps"] = f"<td class='num'>{s.records_lost}</td>"
    cells["not received"] = f"<td class='num'>{s.records_not_received}</td>"
    return cells


SUMMARY_GROUPS = (  # (group heading, rows); the trigger rows are added from the runs' trigger kinds
    ("Run", ("device", "boot · profile", "channels", "windows", "x axis")),
    ("Alarm", ("first alarm", "trigger kinds", "channels implicated", "alarm onsets")),
    ("Triggers", ()),
    ("Model and sensors", ("first concept drift", "health events")),
    ("Records", ("received", "lost in gaps", "not received")),
)


def _summary_rows(segs: list[Any]) -> str:
    """The summary, transposed: one column per run, one row per value, rows grouped under headings."""
    runs = [_run_cells(s) for s in segs]
    trigger_rows = [k for k in runs[0] if k.startswith("triggered windows: ")] if runs else []
    out = ["<table class='summary'>", "<tr><th></th>" + "".join(
        f"<th>run {i + 1}<br><small>{_e(s.device)}</small></th>" for i, s in enumerate(segs)) + "</tr>"]
    for group, rows in SUMMARY_GROUPS:
        rows = tuple(trigger_rows) if group == "Triggers" else rows
        out.append(f"<tr class='group'><th colspan='{len(segs) + 1}'>{_e(group)}</th></tr>")
        for row in rows:
            label = row.removeprefix("triggered windows: ")
            out.append(f"<tr><th class='row'>{_e(label)}</th>" + "".join(r[row] for r in runs) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _img(path: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{_e(alt)}\">"
            f"<figcaption>{caption} <small>({_e(path.name)})</small></figcaption></figure>")


def report_html(db_path: Path, segs: list[Any], store: TelemetryStore) -> str:
    n_rec = sum(s.records_received for s in segs)
    devices = sorted({s.device for s in segs})
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>tinydrift telemetry report — {_e(db_path.name)}</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>tinydrift telemetry report</h1>",
        f"<p class='meta'>Database <code>{_e(db_path)}</code> · {count(n_rec, 'record')} from {count(len(devices), 'device')}, "
        f"{count(len(segs), 'run')} (device × boot × profile) · generated {_e(utc_text(time.time()))} by tinydrift "
        f"{_e(__version__)}</p>",
        "<h2>Summary</h2>",
        "<p class='meta'>One column per run of records of one device, boot and profile. <b>First alarm</b>: the "
        "first record (in telemetry seq order) with the alarm latched; its time is the device uptime and the host "
        "clock's estimate. <b>Channels implicated</b>: the top channel (largest |z|) of that window plus every "
        "channel in its stuck / saturated / missing masks. <b>Records lost in gaps</b>: records the device no "
        "longer held when the host fetched them; <b>not received</b>: holes in the seq numbers not (yet) "
        "recorded as lost. <b>First concept drift</b>: the first window in which DDM flagged concept drift on "
        "the classifier's labels. <b>Triggered windows</b>: windows with each trigger bit set (every kind, also "
        "those that never fired). <b>x axis</b>: the figures' x axis, the device's uptime when the records carry a "
        "rising one, else the window index.</p>",
        _summary_rows(segs),
    ]
    for s in segs:
        thresholds = (f"instant {fmt_value(s.instant)}, CUSUM k {fmt_value(s.cusum_k)}, h {fmt_value(s.cusum_h)} (score units)"
                      if any(v is not None for v in (s.instant, s.cusum_k, s.cusum_h))
                      else "profile not in the store: thresholds unknown")
        parts += [
            f"<h2 id='{_e(slug(s.device))}-{s.boot_id:08x}-{s.profile_id:08x}'>{_e(s.title)}</h2>",
            f"<p class='meta'>Board {_e(s.board or 'unknown')} · channels {_e(', '.join(s.channel_names))} · "
            f"thresholds {_e(thresholds)} · seq {s.first_seq}–{s.last_seq} · max score {s.max_score:.4g} at "
            f"window {s.max_score_window}</p>",
            _img(s.pngs["timeline"], f"score timeline of {s.title}",
                 "Top: window score (log scale when it spans decades) with the instant threshold (triangles: "
                 "windows above it) and the CUSUM allowance k. Middle: CUSUM statistic S with its threshold h. "
                 "Bottom: one row per trigger kind (instant, CUSUM, health, concept, occupancy, feature), a mark per "
                 "window with that trigger bit set. Every figure of a run shares its x range. Shaded red: alarm latched; hatched grey: "
                 "records lost (gap) or not received."),
            _img(s.pngs["channels"], f"per-channel z heatmap of {s.title}",
                 "z of each channel's window mean (top) and window standard deviation (bottom) against the "
                 "reference profile, in reference standard deviations; red above, blue below the reference."),
            _img(s.pngs["health"], f"health events of {s.title}",
                 "Windows in which a channel was flagged stuck (no variation), saturated or missing beyond the "
                 "profile's limits."),
        ]
        if "outputs" in s.pngs:
            parts.append(_img(
                s.pngs["outputs"], f"model outputs of {s.title}",
                "Model outputs. Top: the label-free accuracy estimate of each window with inferences, against "
                f"the realized accuracy of the labels received (rolling over {ROLLING_LABELLED_WINDOWS} labelled "
                "windows) and DDM's running accuracy over all labels. Bottom: prior shift (total-variation "
                "distance of the window's predicted classes to the reference prior) and mean top-1 confidence. "
                "Dashed green: windows where DDM signalled concept drift."))
    gaps = store.gaps()
    if gaps:
        parts.append("<h2>Gaps</h2><table><tr><th>device</th><th>boot</th><th>first missing seq</th>"
                     "<th>last missing seq</th><th>records</th><th>detected</th><th>reason</th></tr>")
        for g in gaps:
            parts.append(f"<tr><td>{_e(g['device'])}</td><td><code>{g['boot_id']:#010x}</code></td>"
                         f"<td class='num'>{g['first_missing_seq']}</td><td class='num'>{g['last_missing_seq']}</td>"
                         f"<td class='num'>{g['n_lost']}</td><td>{_e(utc_text(g['detected_at']))}</td>"
                         f"<td>{_e(g['reason'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
