"""HTML report of a telemetry store: score timelines, per-channel z heatmaps, health events, summary.

``build_report(db_path, out_html)`` reads a ``TelemetryStore`` (read-only) and writes

* one self-contained HTML file (images embedded as base64 PNG, inline CSS, no scripts), and
* the same images as PNG files beside it (or in ``png_dir``): per segment (one device, one
  boot, one profile) ``<stem>-<device>-<boot>-<profile>-{timeline,channels,health}.png``, plus
  ``-outputs.png`` (model outputs) for runs with classifier inferences.

Plots use matplotlib's Agg canvas directly (no pyplot, no global backend switch), so building a
report is safe in a headless process and from threads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinydrift.core.files import write_atomic
from tinydrift.core.triggers import HEALTH_MASKS, TRIGGER_CONCEPT, TRIGGER_NAMES, mask_channels
from tinydrift.core.triggers import trigger_names as trigger_kinds
from tinydrift.telemetry import report_figures as figures
from tinydrift.telemetry.gaps import gap_is_final
from tinydrift.telemetry.report_axis import XAxis, make_axis
from tinydrift.telemetry.report_html import report_html, slug
from tinydrift.telemetry.store import StoreError, TelemetryStore, channel_labels, subtract_ranges

@dataclass
class SegmentSummary:
    """What the report says about one (device, boot, profile) run of records."""

    device: str
    board: str | None
    boot_id: int
    profile_id: int
    channel_names: list[str]
    records_received: int
    windows: int  # windows the run spans (received or not)
    first_seq: int
    last_seq: int
    first_window: int
    last_window: int
    x_label: str
    instant: float | None
    cusum_k: float | None
    cusum_h: float | None
    first_alarm_window: int | None = None
    first_alarm_seq: int | None = None
    first_alarm_uptime_s: float | None = None
    first_alarm_time: float | None = None  # host clock estimate, unix seconds
    first_alarm_triggers: list[str] = field(default_factory=list)
    channels_implicated: list[str] = field(default_factory=list)
    alarm_onsets: int = 0
    trigger_counts: dict[str, int] = field(default_factory=dict)
    health_events: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> kind -> windows
    records_lost: int = 0  # in recorded gaps (gone from the device's ring)
    records_not_received: int = 0  # seq holes inside the segment not recorded as lost
    max_score: float = 0.0
    max_score_window: int | None = None
    has_outputs: bool = False  # any record with n_inferences > 0: the "Model outputs" figure is drawn
    first_concept_window: int | None = None
    first_concept_seq: int | None = None
    concept_windows: int = 0
    x_kind: str = "index"  # "time" (device uptime) or "index": the x axis of every panel of the run
    x_range: tuple[float, float] = (0.0, 0.0)  # the shared x limits
    panel_xlims: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # drawn, per figure and axes
    raster: dict[str, list[float]] = field(default_factory=dict)  # trigger kind -> x of each mark drawn
    pngs: dict[str, Path] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.device} · boot {self.boot_id:#010x} · profile {self.profile_id:#010x}"


@dataclass
class Report:
    html: Path
    pngs: list[Path]
    segments: list[SegmentSummary]


# ------------------------------------------------------------------------------------------ helpers


def _seq_to_index(seq_lo: int, seq_hi: int, seq: np.ndarray, index: np.ndarray) -> tuple[float, float]:
    """Window-index span of a seq range, by the constant index - seq offset of the stored record just before it."""
    j = max(int(np.searchsorted(seq, seq_lo)) - 1, 0)
    off = float(index[j] - seq[j])
    return seq_lo + off - 0.5, seq_hi + off + 0.5



# ------------------------------------------------------------------------------------------ analysis


def _summarize(db: TelemetryStore, seg_row: dict[str, Any], gaps: list[dict[str, Any]]) -> tuple[
        SegmentSummary, dict[str, np.ndarray], XAxis, list[tuple[float, float]], list[tuple[float, float]]]:
    a = db.segment_arrays(seg_row["device_id"], seg_row["boot_id"], seg_row["profile_id"])
    prof = db.profile(seg_row["profile_id"]) or {}
    n_ch = int(seg_row["n_channels"] or 0)
    names = channel_labels(prof.get("channel_names"), n_ch)
    seq, win = a["seq"], a["window_index"]
    if len(win) > 1 and not np.all(np.diff(win) > 0):  # the window index restarted (profile re-activated)
        x, x_label = seq, "telemetry seq (window index restarted within this run)"
    else:
        x, x_label = win, "window index (since the profile became active)"
    window = prof.get("window")
    if window and x is win:
        x_label += f", {window} frames per window"
    seg = SegmentSummary(
        device=seg_row["device"], board=seg_row["board"], boot_id=int(seg_row["boot_id"]),
        profile_id=int(seg_row["profile_id"]), channel_names=names, records_received=len(seq),
        windows=int(np.ptp(x)) + 1 if len(x) else 0,
        first_seq=int(seq.min()), last_seq=int(seq.max()), first_window=int(win.min()), last_window=int(win.max()),
        x_label=x_label, instant=prof.get("instant"), cusum_k=prof.get("cusum_k"), cusum_h=prof.get("cusum_h"),
    )

    # alarms
    alarm = a["alarm"] != 0
    if alarm.any():
        i = int(np.argmax(alarm))  # seq order: the first record with the alarm latched
        seg.first_alarm_window = int(win[i])
        seg.first_alarm_seq = int(seq[i])
        seg.first_alarm_uptime_s = float(a["uptime_ms"][i]) / 1000.0
        started = seg_row.get("started_at")
        seg.first_alarm_time = (started + seg.first_alarm_uptime_s) if started is not None \
            else float(a["received_at"][i])
        seg.first_alarm_triggers = trigger_kinds(int(a["trigger"][i])) or ["latched"]
        top = int(a["top_channel"][i])
        implicated = [f"{names[top] if top < n_ch else f'ch{top}'} (top: z of mean "
                      f"{a['z_mean'][i, top]:+.1f}, z of std {a['z_std'][i, top]:+.1f})"] if top < n_ch else []
        for field_name, kind in HEALTH_MASKS:
            for name in mask_channels(int(a[field_name][i]), names):
                implicated.append(f"{name} ({kind})")
        seg.channels_implicated = implicated
        seg.alarm_onsets = int(np.count_nonzero(np.diff(np.concatenate(([0], alarm.astype(np.int8)))) == 1))
    seg.trigger_counts = {kind: int(np.count_nonzero(a["trigger"] & bit))
                          for bit, kind in TRIGGER_NAMES}
    seg.has_outputs = bool((a["n_inferences"] > 0).any())
    concept = (a["trigger"] & TRIGGER_CONCEPT) != 0
    seg.concept_windows = int(np.count_nonzero(concept))
    if concept.any():
        i = int(np.argmax(concept))
        seg.first_concept_window, seg.first_concept_seq = int(win[i]), int(seq[i])
    for field_name, kind in HEALTH_MASKS:
        for c, name in enumerate(names):
            count = int(np.count_nonzero(a[field_name] >> c & 1))
            if count:
                seg.health_events.setdefault(name, {})[kind] = count
    if len(a["score"]):
        peak = int(np.argmax(a["score"]))
        seg.max_score, seg.max_score_window = float(a["score"][peak]), int(win[peak])

    # gaps: recorded losses assigned to this segment, and seq holes inside it
    lost_ranges = [(g["first_missing_seq"], g["last_missing_seq"]) for g in gaps]
    seg.records_lost = sum(hi - lo + 1 for lo, hi in lost_ranges)
    d = np.diff(seq)
    interior = [(int(seq[k]) + 1, int(seq[k + 1]) - 1) for k in np.nonzero(d > 1)[0]]
    all_lost = [(g["first_missing_seq"], g["last_missing_seq"]) for g in seg_row["boot_gaps"]]
    not_received = subtract_ranges(interior, all_lost)
    seg.records_not_received = sum(hi - lo + 1 for lo, hi in not_received)
    lost_i = [_seq_to_index(lo, hi, seq, x) for lo, hi in lost_ranges]
    hole_i = [_seq_to_index(lo, hi, seq, x) for lo, hi in not_received]
    xa = make_axis(x, a["uptime_ms"], x_label, lost_i + hole_i)
    seg.x_kind, seg.x_range, seg.x_label = xa.kind, (xa.lo, xa.hi), xa.label
    lost_x = [(float(p), float(q)) for p, q in (xa.at(np.array(s)) for s in lost_i)]
    hole_x = [(float(p), float(q)) for p, q in (xa.at(np.array(s)) for s in hole_i)]
    return seg, a, xa, lost_x, hole_x


def _assign_gaps(segments: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> None:
    """Each recorded gap goes to the segment of its boot whose seq span is nearest (ties: the later one)."""
    for s in segments:
        s["gaps"], s["boot_gaps"] = [], []
    for g in gaps:
        cands = [s for s in segments if s["device"] == g["device"] and s["boot_id"] == g["boot_id"]]
        if not cands:
            continue
        for s in cands:
            s["boot_gaps"].append(g)

        def distance(s: dict[str, Any]) -> tuple[int, int]:
            lo, hi = g["first_missing_seq"], g["last_missing_seq"]
            dist = max(0, s["first_seq"] - hi, lo - s["last_seq"])
            return dist, -s["first_seq"]

        min(cands, key=distance)["gaps"].append(g)


# ------------------------------------------------------------------------------------------ entry point


def build_report(db_path: str | os.PathLike[str], out_html: str | os.PathLike[str],
                 png_dir: str | os.PathLike[str] | None = None) -> Report:
    """Write the HTML report of a telemetry database and its PNGs (beside the HTML unless png_dir).

    Raises StoreError for a missing, non-SQLite, foreign or empty database.
    """
    db_path, out_html = Path(db_path), Path(out_html)
    png_dir = out_html.parent if png_dir is None else Path(png_dir)
    with TelemetryStore(db_path, readonly=True) as store:
        if store.count_records() == 0:
            raise StoreError(f"no telemetry records in {db_path}")
        try:
            png_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {png_dir}: {exc.strerror or exc}") from None
        seg_rows = store.segments()
        boots = {(b["device"], b["boot_id"]): b for b in store.boots()}
        # 'not received' rows are holes the ring may still fill: drawn as not received, not as lost
        _assign_gaps(seg_rows, [g for g in store.gaps() if gap_is_final(g["reason"])])
        summaries: list[SegmentSummary] = []
        pngs: list[Path] = []
        stem = slug(out_html.stem)
        for row in seg_rows:
            row["started_at"] = boots.get((row["device"], row["boot_id"]), {}).get("started_at")
            seg, a, xa, lost, holes = _summarize(store, row, row["gaps"])
            base = f"{stem}-{slug(seg.device)}-{seg.boot_id:08x}-{seg.profile_id:08x}"
            try:
                seg.pngs["timeline"] = figures.timeline(seg, a, xa, lost, holes, png_dir / f"{base}-timeline.png")
                seg.pngs["channels"] = figures.channels(seg, a, xa, lost, png_dir / f"{base}-channels.png")
                seg.pngs["health"] = figures.health(seg, a, xa, lost, holes, png_dir / f"{base}-health.png")
                if seg.has_outputs:
                    seg.pngs["outputs"] = figures.outputs(seg, a, xa, lost, holes, png_dir / f"{base}-outputs.png")
            except OSError as exc:
                raise StoreError(f"cannot write {exc.filename or png_dir}: {exc.strerror or exc}") from None
            pngs.extend(seg.pngs.values())
            summaries.append(seg)
        text = report_html(db_path, summaries, store)
    try:
        write_atomic(out_html, text)
    except OSError as exc:
        raise StoreError(f"cannot write {out_html}: {exc.strerror or exc}") from None
    return Report(html=out_html, pngs=pngs, segments=summaries)


def summary_json(report: Report) -> str:
    """The summary table as JSON (for scripts and tests)."""
    rows = []
    for s in report.segments:
        d = {k: v for k, v in s.__dict__.items() if k != "pngs"}
        d["pngs"] = {k: str(v) for k, v in s.pngs.items()}
        rows.append(d)
    return json.dumps(rows, indent=1)


__all__ = ["Report", "SegmentSummary", "build_report", "summary_json"]
