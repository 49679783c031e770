"""The telemetry report's HTML page: summary table, per-run figures (inlined PNGs), gaps."""

from __future__ import annotations

import base64
import html
import re
import time
from pathlib import Path
from typing import Any

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


def _summary_rows(segs: list[Any]) -> str:
    head = ("device", "boot", "profile", "windows", "first alarm window", "first alarm time", "trigger kinds",
            "channels implicated", "alarm onsets", "triggered windows (instant / CUSUM / health)", "health events",
            "first concept drift",
            "records received", "records lost in gaps", "not received")
    out = ["<table class='summary'>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for s in segs:
        dev = _e(s.device) + (f"<br><small>{_e(s.board)}</small>" if s.board else "")
        if s.first_alarm_window is None:
            first = "<td class='ok'>no alarm</td><td>-</td><td>-</td><td>-</td>"
        else:
            first = (f"<td class='alarm num'>{s.first_alarm_window}<br><small>seq {s.first_alarm_seq}</small></td>"
                     f"<td>uptime {s.first_alarm_uptime_s:.1f} s<br><small>≈ {_e(utc_text(s.first_alarm_time))}</small>"
                     f"</td><td>{_e('+'.join(s.first_alarm_triggers))}</td>"
                     f"<td>{'<br>'.join(_e(c) for c in s.channels_implicated) or '-'}</td>")
        health = "<br>".join(_e(f"{ch}: " + ", ".join(f"{k} ×{n}" for k, n in kinds.items()))
                             for ch, kinds in s.health_events.items()) or "none"
        tc = s.trigger_counts
        if s.first_concept_window is not None:
            concept = (f"<td class='alarm num'>{s.first_concept_window}<br><small>seq {s.first_concept_seq} · "
                       f"{s.concept_windows} window(s)</small></td>")
        else:
            concept = "<td class='ok'>none</td>" if s.has_outputs else "<td>-</td>"
        out.append(
            f"<tr><td>{dev}</td><td><code>{s.boot_id:#010x}</code></td><td><code>{s.profile_id:#010x}</code></td>"
            f"<td class='num'>{s.windows}<br><small>{s.first_window}–{s.last_window}</small></td>{first}"
            f"<td class='num'>{s.alarm_onsets}</td>"
            f"<td class='num'>{tc.get('instant', 0)} / {tc.get('cusum', 0)} / {tc.get('health', 0)}</td>"
            f"<td>{health}</td>{concept}<td class='num'>{s.records_received}</td><td class='num'>{s.records_lost}</td>"
            f"<td class='num'>{s.records_not_received}</td></tr>")
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
        f"<p class='meta'>Database <code>{_e(db_path)}</code> · {n_rec} records from {len(devices)} device(s), "
        f"{len(segs)} run(s) (device × boot × profile) · generated {_e(utc_text(time.time()))} by tinydrift "
        f"{_e(__version__)}</p>",
        "<h2>Summary</h2>",
        "<p class='meta'>One row per run of records of one device, boot and profile. <b>First alarm</b>: the "
        "first record (in telemetry seq order) with the alarm latched; its time is the device uptime and the host "
        "clock's estimate. <b>Channels implicated</b>: the top channel (largest |z|) of that window plus every "
        "channel in its stuck / saturated / missing masks. <b>Records lost in gaps</b>: records the device no "
        "longer held when the host fetched them; <b>not received</b>: holes in the seq numbers not (yet) "
        "recorded as lost. <b>First concept drift</b>: the first window in which DDM flagged concept drift on "
        "the classifier's labels (- : the run has no model outputs).</p>",
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
                 "Bottom: windows whose trigger bits are set, by kind. Shaded red: alarm latched; hatched grey: "
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
