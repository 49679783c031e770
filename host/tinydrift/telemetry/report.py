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

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from tinydrift.core.files import atomic_open, write_atomic
from tinydrift.core.fixed import Q8
from tinydrift.core.triggers import HEALTH_MASKS, TRIGGER_NAMES, mask_channels
from tinydrift.core.triggers import trigger_names as trigger_kinds
from tinydrift.telemetry.gaps import gap_is_final
from tinydrift.telemetry.report_html import ROLLING_LABELLED_WINDOWS, report_html, slug
from tinydrift.telemetry.store import StoreError, TelemetryStore, channel_labels, subtract_ranges

DPI = 110
Q8_LSB = 1.0 / Q8
KIND_STYLE = {  # trigger kind -> (color, marker)
    "instant": ("#d62728", "^"),
    "cusum": ("#ff7f0e", "D"),
    "health": ("#7b3294", "s"),
    "concept": ("#2ca02c", "v"),
    "occupancy": ("#1f77b4", "o"),
}
CONCEPT_BIT = 0x08
HEALTH_STYLE = {  # health event -> (color, marker, vertical offset in the raster)
    "stuck": ("#1f77b4", "s", -0.22),
    "saturated": ("#d62728", "^", 0.0),
    "missing": ("#222222", "x", 0.22),
}
LOST_STYLE = dict(facecolor="#9e9e9e", alpha=0.35, hatch="//", edgecolor="#616161", linewidth=0)
HOLE_STYLE = dict(facecolor="#cfd8dc", alpha=0.6, hatch="..", edgecolor="#607d8b", linewidth=0)
ALARM_STYLE = dict(facecolor="#d62728", alpha=0.07, linewidth=0)


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


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    if not len(flags):
        return []
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def _dense(x: np.ndarray, values: np.ndarray, x0: int, x1: int) -> np.ndarray:
    """values (n, ...) on the integer grid x0..x1, NaN where no record exists."""
    out = np.full((x1 - x0 + 1,) + values.shape[1:], np.nan)
    out[(x - x0).astype(np.int64)] = values
    return out


def _seq_to_x(seq_lo: int, seq_hi: int, seq: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """x span of a seq range, by the constant x - seq offset of the stored record just before it."""
    j = max(int(np.searchsorted(seq, seq_lo)) - 1, 0)
    off = float(x[j] - seq[j])
    return seq_lo + off - 0.5, seq_hi + off + 0.5


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, dpi=DPI, format="png", facecolor="white")
    return path


def _int_ticks(ax: Any, x0: int, x1: int) -> None:
    """Integer ticks on the window axis (every window when there are only a few)."""
    if x1 - x0 < 8:
        ax.set_xticks(range(x0, x1 + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _placeholder(title: str, text: str, path: Path) -> Path:
    fig = Figure(figsize=(12, 2.5), layout="constrained")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555555", transform=ax.transAxes)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------ figures


def _shade(ax: Any, spans_lost: Sequence[tuple[float, float]], spans_holes: Sequence[tuple[float, float]],
           spans_alarm: Sequence[tuple[float, float]] = ()) -> None:
    for a, b in spans_alarm:
        ax.axvspan(a, b, zorder=0, **ALARM_STYLE)
    for a, b in spans_lost:
        ax.axvspan(a, b, zorder=1, **LOST_STYLE)
    for a, b in spans_holes:
        ax.axvspan(a, b, zorder=1, **HOLE_STYLE)


def _timeline(seg: SegmentSummary, a: dict[str, np.ndarray], x: np.ndarray, lost: list[tuple[float, float]],
              holes: list[tuple[float, float]], path: Path) -> Path:
    x0, x1 = int(x.min()), int(x.max())
    grid = np.arange(x0, x1 + 1)
    score = _dense(x, a["score"], x0, x1)
    cusum = _dense(x, a["cusum"], x0, x1)
    alarm = _dense(x, a["alarm"].astype(float), x0, x1)
    alarm_spans = [(grid[s] - 0.5, grid[e - 1] + 0.5) for s, e in _runs(alarm == 1)]

    fig = Figure(figsize=(12, 8.2), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3.2, 2.2, 1.1]})
    ax_s, ax_c, ax_t = axes
    fig.suptitle(f"Drift score timeline — {seg.title}", fontsize=13, fontweight="bold")

    # score, log scale when it spans decades (Q8 zeros are drawn at 1/256, the resolution)
    pos = a["score"][a["score"] > 0]
    log_score = len(pos) > 0 and (pos.max() / max(np.median(pos), Q8_LSB) > 20)
    shown = np.maximum(score, Q8_LSB) if log_score else score
    _shade(ax_s, lost, holes, alarm_spans)
    dots = dict(marker="o", markersize=2.5) if len(x) <= 150 else {}  # isolated windows stay visible
    ax_s.plot(grid, shown, color="#1f77b4", linewidth=1.0, label="score (dist + recon)", zorder=3, **dots)
    if seg.instant is None and seg.cusum_k is None and seg.cusum_h is None:
        ax_s.plot([], [], " ", label="thresholds unknown\n(profile not in the store)")
    if seg.instant is not None:
        ax_s.axhline(seg.instant, color="#d62728", linestyle="--", linewidth=1.3,
                     label=f"instant threshold = {seg.instant:.4g}", zorder=4)
    if seg.cusum_k is not None:
        ax_s.axhline(seg.cusum_k, color="#555555", linestyle=":", linewidth=1.3,
                     label=f"CUSUM allowance k = {seg.cusum_k:.4g}", zorder=4)
    if log_score:
        ax_s.set_yscale("log")
    ax_s.set_ylabel("score (score units)" + ("\nlog scale" if log_score else ""))
    ax_s.grid(True, which="major", alpha=0.3)

    # CUSUM statistic: symlog once it runs far past h (a latched alarm keeps accumulating)
    _shade(ax_c, lost, holes, alarm_spans)
    ax_c.plot(grid, cusum, color="#2ca02c", linewidth=1.2, label="CUSUM statistic S", zorder=3, **dots)
    if seg.cusum_h is not None:
        ax_c.axhline(seg.cusum_h, color="#1b5e20", linestyle="--", linewidth=1.3,
                     label=f"CUSUM threshold h = {seg.cusum_h:.4g}", zorder=4)
    s_max = float(np.nanmax(a["cusum"])) if len(a["cusum"]) else 0.0
    ref = seg.cusum_h if seg.cusum_h else max(s_max, 1.0)
    if s_max > 8 * ref:
        ax_c.set_yscale("symlog", linthresh=ref, linscale=1.0)
        ax_c.set_ylim(bottom=0, top=s_max * 1.5)
        ax_c.set_ylabel("CUSUM S (score units)\nlinear to h, log above")
    else:
        ax_c.set_ylabel("CUSUM S (score units)")
        ax_c.set_ylim(bottom=0)
    ax_c.grid(True, which="major", alpha=0.3)

    # trigger raster (every kind), and the instant triggers on the score curve
    _shade(ax_t, lost, holes, alarm_spans)
    labels = []
    for row, (bit, kind) in enumerate(((1, "instant"), (2, "cusum"), (4, "health"))):
        hit = (a["trigger"] & bit) != 0
        color, marker = KIND_STYLE[kind]
        ax_t.scatter(x[hit], np.full(int(hit.sum()), row), marker="|", s=120, color=color, linewidths=1.4,
                     zorder=3)
        labels.append(f"{'CUSUM' if kind == 'cusum' else kind} ({int(hit.sum())})")
        if kind == "instant" and hit.any():
            ax_s.scatter(x[hit], np.maximum(a["score"][hit], Q8_LSB) if log_score else a["score"][hit],
                         marker=marker, s=60, color=color, edgecolors="white", linewidths=0.5, zorder=5,
                         label=f"instant trigger ({int(hit.sum())} windows)")
    ax_t.set_yticks([0, 1, 2], labels)
    if not a["trigger"].any():
        ax_t.text(0.5, 0.5, "no trigger in any window", transform=ax_t.transAxes, ha="center", va="center",
                  fontsize=10, color="#555555")
    ax_t.set_ylim(-0.6, 2.6)
    ax_t.invert_yaxis()
    ax_t.set_ylabel("trigger\n(windows)")
    ax_t.set_xlabel(seg.x_label)
    ax_t.grid(True, axis="x", alpha=0.3)
    ax_t.set_xlim(x0 - 0.5, x1 + 0.5)
    _int_ticks(ax_t, x0, x1)

    if seg.first_alarm_window is not None:
        xa = float(x[a["seq"] == seg.first_alarm_seq][0])
        for ax in axes:
            ax.axvline(xa, color="#d62728", linewidth=1.0, alpha=0.8, zorder=2)
        ax_s.annotate(f"first alarm: window {seg.first_alarm_window} ({'+'.join(seg.first_alarm_triggers)})",
                      xy=(xa, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -4),
                      textcoords="offset points", va="top", ha="left", fontsize=9, color="#b71c1c",
                      bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))

    extra = []
    if alarm_spans:
        extra.append(Patch(label="alarm latched", **ALARM_STYLE))
    if lost:
        extra.append(Patch(label="records lost (gap)", **LOST_STYLE))
    if holes:
        extra.append(Patch(label="records not received", **HOLE_STYLE))
    handles, _ = ax_s.get_legend_handles_labels()
    legend = dict(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8.5, framealpha=0.9, borderaxespad=0)
    ax_s.legend(handles=handles + extra, **legend)
    ax_c.legend(**legend)

    # device uptime on top, when it is (close to) an affine function of x: a steady window period
    up = a["uptime_ms"] / 1000.0
    if len(x) > 1 and np.ptp(x) > 0 and np.ptp(up) > 0:
        slope, icept = np.polyfit(x.astype(float), up, 1)
        if slope > 0 and np.max(np.abs(up - (slope * x + icept))) <= 0.5 * slope:
            sec = ax_s.secondary_xaxis("top", functions=(lambda v: v * slope + icept, lambda v: (v - icept) / slope))
            sec.set_xlabel(f"device uptime (s), ≈ {slope:.3g} s per window")
    return _save(fig, path)


def _channels(seg: SegmentSummary, a: dict[str, np.ndarray], x: np.ndarray, lost: list[tuple[float, float]],
              path: Path) -> Path:
    names = seg.channel_names
    n_ch = len(names)
    x0, x1 = int(x.min()), int(x.max())
    if n_ch == 0:
        return _placeholder(f"Per-channel drift (z vs reference) — {seg.title}", "records carry no channels", path)
    zm = _dense(x, a["z_mean"][:, :n_ch], x0, x1).T
    zs = _dense(x, a["z_std"][:, :n_ch], x0, x1).T
    finite = np.abs(np.concatenate([zm[np.isfinite(zm)], zs[np.isfinite(zs)]]))
    vmax = float(np.clip(np.percentile(finite, 99.0), 3.0, None)) if len(finite) else 3.0
    vmax = float(np.ceil(vmax))
    height = 2.2 + 2 * (0.32 * n_ch + 0.6)
    fig = Figure(figsize=(12, height), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    fig.suptitle(f"Per-channel drift (z vs reference) — {seg.title}", fontsize=13, fontweight="bold")
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    im = None
    for ax, data, what in ((axes[0], zm, "z of window mean"), (axes[1], zs, "z of window std")):
        im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm,
                       extent=(x0 - 0.5, x1 + 0.5, n_ch - 0.5, -0.5))
        ax.set_yticks(range(n_ch), names)
        _int_ticks(ax, x0, x1)
        ax.set_ylabel("channel")
        ax.set_title(what, fontsize=11, loc="left")
        for a_, b_ in lost:
            ax.axvspan(a_, b_, fill=False, hatch="//", edgecolor="#616161", linewidth=0)
        if seg.first_alarm_window is not None:
            xa = float(x[a["seq"] == seg.first_alarm_seq][0])
            ax.axvline(xa, color="black", linewidth=1.0, linestyle="--")
    axes[1].set_xlabel(seg.x_label)
    cb = fig.colorbar(im, ax=list(axes), extend="both", shrink=0.9, pad=0.01)
    cb.set_label("z (σ of reference)")
    note = f"colors saturate at ±{vmax:g} σ"
    if np.isnan(zm).any():
        note += " · grey: no record"
    if lost:
        note += " · hatched: records lost"
    if seg.first_alarm_window is not None:
        note += " · dashed: first alarm"
    axes[0].set_title(note, loc="right", fontsize=8.5, color="#444444")
    return _save(fig, path)


def _health(seg: SegmentSummary, a: dict[str, np.ndarray], x: np.ndarray, lost: list[tuple[float, float]],
            holes: list[tuple[float, float]], path: Path) -> Path:
    names = seg.channel_names
    n_ch = len(names)
    x0, x1 = int(x.min()), int(x.max())
    if n_ch == 0:
        return _placeholder(f"Sensor health events — {seg.title}", "records carry no channels", path)
    fig = Figure(figsize=(12, 1.9 + 0.42 * n_ch), layout="constrained")
    ax = fig.subplots()
    fig.suptitle(f"Sensor health events — {seg.title}", fontsize=13, fontweight="bold")
    _shade(ax, lost, holes)
    any_event = False
    handles = []
    for field_name, kind in HEALTH_MASKS:
        color, marker, dy = HEALTH_STYLE[kind]
        mask = a[field_name]
        xs, ys = [], []
        for c in range(n_ch):
            hit = (mask >> c & 1) == 1
            xs.append(x[hit])
            ys.append(np.full(int(hit.sum()), c + dy))
        xs_all, ys_all = np.concatenate(xs), np.concatenate(ys)
        n_windows = int(np.count_nonzero(mask & ((1 << n_ch) - 1)))
        if len(xs_all):
            any_event = True
        handles.append(ax.scatter(xs_all, ys_all, marker=marker, s=18, color=color, linewidths=1.0,
                                  label=f"{kind} ({n_windows} windows)", zorder=3))
    ax.set_yticks(range(n_ch), names)
    ax.set_ylim(n_ch - 0.5, -0.5)
    ax.set_xlim(x0 - 0.5, x1 + 0.5)
    _int_ticks(ax, x0, x1)
    ax.set_ylabel("channel")
    ax.set_xlabel(seg.x_label)
    ax.grid(True, axis="x", alpha=0.3)
    for c in range(n_ch - 1):
        ax.axhline(c + 0.5, color="#e0e0e0", linewidth=0.8, zorder=0)
    if not any_event:
        ax.text(0.5, 0.5, "no stuck, saturated or missing channel in any window", transform=ax.transAxes,
                ha="center", va="center", fontsize=11, color="#555555")
    extra = []
    if lost:
        extra.append(Patch(label="records lost (gap)", **LOST_STYLE))
    if holes:
        extra.append(Patch(label="records not received", **HOLE_STYLE))
    ax.legend(handles=handles + extra, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8.5,
              title="event (per window)", title_fontsize=8.5)
    return _save(fig, path)


def _outputs(seg: SegmentSummary, a: dict[str, np.ndarray], x: np.ndarray, lost: list[tuple[float, float]],
             holes: list[tuple[float, float]], path: Path) -> Path:
    """Model outputs: estimated vs realized accuracy, prior shift, concept-drift markers."""
    x0, x1 = int(x.min()), int(x.max())
    fig = Figure(figsize=(12, 6.2), layout="constrained")
    ax_a, ax_p = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    fig.suptitle(f"Model outputs — {seg.title}", fontsize=13, fontweight="bold")
    inf = a["n_inferences"] > 0
    lab = a["n_labels"] > 0
    concept = (a["trigger"] & CONCEPT_BIT) != 0
    for ax in (ax_a, ax_p):
        _shade(ax, lost, holes)
        for k, cx in enumerate(x[concept]):
            ax.axvline(cx, color=KIND_STYLE["concept"][0], linestyle="--", linewidth=1.3, zorder=1,
                       label="concept drift (DDM)" if k == 0 else None)
        ax.grid(True, alpha=0.3)
    ax_a.plot(x[inf], a["estimated_accuracy"][inf], color="#1f77b4", marker="o", markersize=2.5, linewidth=0.9,
              label="estimated accuracy (label-free, per window)")
    if lab.any():
        k = ROLLING_LABELLED_WINDOWS
        correct = np.convolve(a["n_correct"][lab].astype(float), np.ones(k), mode="full")[: int(lab.sum())]
        total = np.convolve(a["n_labels"][lab].astype(float), np.ones(k), mode="full")[: int(lab.sum())]
        ax_a.plot(x[lab], correct / total, color="#d62728", linewidth=1.8,
                  label=f"realized accuracy (labels of the last {k} labelled windows)")
        ax_a.step(x[lab], a["accuracy"][lab], where="post", color="#444444", linewidth=1.2, linestyle=":",
                  label="DDM running accuracy (all labels so far)")
    else:
        ax_a.text(0.5, 0.08, "no labels received: realized accuracy unknown", transform=ax_a.transAxes,
                  ha="center", va="bottom", fontsize=10, color="#555555")
    ax_a.set_ylim(-0.02, 1.05)
    ax_a.set_ylabel("accuracy")
    ax_a.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8.5)
    ax_p.plot(x[inf], a["prior_shift"][inf], color="#9467bd", marker="o", markersize=2.5, linewidth=0.9,
              label="prior shift (TV distance of\npredicted classes to the prior)")
    ax_p.plot(x[inf], a["mean_confidence"][inf], color="#8c564b", linewidth=0.8, alpha=0.7,
              label="mean top-1 confidence")
    ax_p.set_ylim(-0.02, 1.05)
    ax_p.set_ylabel("per window")
    ax_p.set_xlabel(seg.x_label)
    ax_p.set_xlim(x0 - 0.5, x1 + 0.5)
    _int_ticks(ax_p, x0, x1)
    handles, labels = ax_p.get_legend_handles_labels()
    if lost:
        handles.append(Patch(label="records lost (gap)", **LOST_STYLE))
    if holes:
        handles.append(Patch(label="records not received", **HOLE_STYLE))
    ax_p.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8.5)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------ analysis


def _summarize(db: TelemetryStore, seg_row: dict[str, Any], gaps: list[dict[str, Any]]) -> tuple[
        SegmentSummary, dict[str, np.ndarray], np.ndarray, list[tuple[float, float]], list[tuple[float, float]]]:
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
    concept = (a["trigger"] & CONCEPT_BIT) != 0
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
    lost_x = [_seq_to_x(lo, hi, seq, x) for lo, hi in lost_ranges]
    hole_x = [_seq_to_x(lo, hi, seq, x) for lo, hi in not_received]
    return seg, a, x, lost_x, hole_x


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
            seg, a, x, lost, holes = _summarize(store, row, row["gaps"])
            base = f"{stem}-{slug(seg.device)}-{seg.boot_id:08x}-{seg.profile_id:08x}"
            try:
                seg.pngs["timeline"] = _timeline(seg, a, x, lost, holes, png_dir / f"{base}-timeline.png")
                seg.pngs["channels"] = _channels(seg, a, x, lost, png_dir / f"{base}-channels.png")
                seg.pngs["health"] = _health(seg, a, x, lost, holes, png_dir / f"{base}-health.png")
                if seg.has_outputs:
                    seg.pngs["outputs"] = _outputs(seg, a, x, lost, holes, png_dir / f"{base}-outputs.png")
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
