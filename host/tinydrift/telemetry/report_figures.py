"""The report's figures of one run of records: score timeline with every trigger kind, z heatmaps, health, outputs.

Every figure plots against the run's ``XAxis`` (tinydrift.telemetry.report_axis) and sets its limits from it, so all
panels of a run share one x range. What each figure drew is noted on the run's summary (``seg.panel_xlims``: the
x limits of every panel; ``seg.raster``: the x of every trigger mark, by kind) so tests can check the drawing
against the records. matplotlib's Agg canvas only (no pyplot, no global backend switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from tinydrift.core.files import atomic_open
from tinydrift.core.fixed import Q8
from tinydrift.core.triggers import HEALTH_MASKS, TRIGGER_CONCEPT, TRIGGER_INSTANT, TRIGGER_NAMES
from tinydrift.telemetry.report_axis import XAxis
from tinydrift.telemetry.report_html import ROLLING_LABELLED_WINDOWS

DPI = 110
Q8_LSB = 1.0 / Q8
KIND_STYLE = {  # trigger kind -> (color, marker, label)
    "instant": ("#d62728", "^", "instant: score > threshold"),
    "cusum": ("#ff7f0e", "D", "CUSUM: S > h"),
    "health": ("#7b3294", "s", "health: stuck, saturated,\nmissing samples"),
    "concept": ("#2ca02c", "v", "concept: DDM on labels"),
    "occupancy": ("#1f77b4", "o", "occupancy: centroid mix"),
    "feature": ("#8c564b", "P", "feature: per-feature chart"),
}
HEALTH_STYLE = {  # health event -> (color, marker, vertical offset in the raster)
    "stuck": ("#1f77b4", "s", -0.22),
    "saturated": ("#d62728", "^", 0.0),
    "missing": ("#222222", "x", 0.22),
}
LOST_STYLE = dict(facecolor="#9e9e9e", alpha=0.35, hatch="//", edgecolor="#616161", linewidth=0)
HOLE_STYLE = dict(facecolor="#cfd8dc", alpha=0.6, hatch="..", edgecolor="#607d8b", linewidth=0)
ALARM_STYLE = dict(facecolor="#d62728", alpha=0.07, linewidth=0)
# Every figure of a run puts its plot area at the same horizontal place (fixed margins, legends and colorbar in the
# right margin), so equal x limits mean equal pixel positions from panel to panel.
LEFT, RIGHT, WIDTH = 0.10, 0.74, 12.0
LEGEND = dict(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8.5, framealpha=0.9, borderaxespad=0)
Spans = Sequence[tuple[float, float]]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    if not len(flags):
        return []
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def _grid(xa: XAxis) -> np.ndarray:
    """Every window index from the run's first record to its last."""
    return np.arange(int(xa.index.min()), int(xa.index.max()) + 1)


def _dense(xa: XAxis, values: np.ndarray) -> np.ndarray:
    """values (n, ...) on the window grid, NaN where no record exists."""
    grid = _grid(xa)
    out = np.full((len(grid),) + values.shape[1:], np.nan)
    out[(xa.index - grid[0]).astype(np.int64)] = values
    return out


def _figure(height: float, top_extra: float = 0.0, bottom: float = 0.65) -> Figure:
    """A report figure WIDTH x height inches with the shared horizontal margins (bottom, top_extra: inches)."""
    fig = Figure(figsize=(WIDTH, height))
    fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=bottom / height, top=1 - (0.7 + top_extra) / height,
                        hspace=0.28)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, dpi=DPI, format="png", facecolor="white")
    return path


def _finish(seg: Any, panel: str, xa: XAxis, axes: Sequence[Any], x_label: bool = True) -> None:
    """Shared x limits on every axis of a figure, the axis label on the last; note the limits drawn."""
    for ax in axes:
        ax.set_xlim(xa.lo, xa.hi)
        if xa.kind == "index" and xa.hi - xa.lo < 9:
            ax.set_xticks(range(int(np.ceil(xa.lo)), int(np.floor(xa.hi)) + 1))
        elif xa.kind == "index":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if x_label:
        axes[-1].set_xlabel(xa.label)
    seg.panel_xlims[panel] = [tuple(float(v) for v in ax.get_xlim()) for ax in axes]


def _shade(ax: Any, lost: Spans, holes: Spans, alarms: Spans = ()) -> None:
    for a, b in alarms:
        ax.axvspan(a, b, zorder=0, **ALARM_STYLE)
    for a, b in lost:
        ax.axvspan(a, b, zorder=1, **LOST_STYLE)
    for a, b in holes:
        ax.axvspan(a, b, zorder=1, **HOLE_STYLE)


def _gap_patches(lost: Spans, holes: Spans) -> list[Patch]:
    out = []
    if lost:
        out.append(Patch(label="records lost (gap)", **LOST_STYLE))
    if holes:
        out.append(Patch(label="records not received", **HOLE_STYLE))
    return out


def _first_alarm_x(seg: Any, a: dict[str, np.ndarray], xa: XAxis) -> float | None:
    if seg.first_alarm_seq is None:
        return None
    return float(xa.x[a["seq"] == seg.first_alarm_seq][0])


def placeholder(title: str, text: str, path: Path) -> Path:
    fig = Figure(figsize=(12, 2.5), layout="constrained")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555555", transform=ax.transAxes)
    return _save(fig, path)


def _raster(seg: Any, ax: Any, a: dict[str, np.ndarray], xa: XAxis) -> None:
    """One row per trigger kind (all six, also those that never fired), a mark per triggered window."""
    labels, handles = [], []
    for row, (bit, kind) in enumerate(TRIGGER_NAMES):
        hit = (a["trigger"] & bit) != 0
        color, marker, text = KIND_STYLE[kind]
        xs = xa.x[hit]
        seg.raster[kind] = [float(v) for v in xs]
        ax.scatter(xs, np.full(len(xs), row), marker="|", s=140, color=color, linewidths=1.6, zorder=3)
        labels.append(f"{kind} ({len(xs)})")
        handles.append(Line2D([], [], color=color, marker="|", linestyle="none", markersize=10,
                              markeredgewidth=2, label=text))
    ax.set_yticks(range(len(TRIGGER_NAMES)), labels, fontsize=8.5)
    for tick, (_, kind) in zip(ax.get_yticklabels(), TRIGGER_NAMES):
        tick.set_color(KIND_STYLE[kind][0])
    if not a["trigger"].any():
        ax.text(0.5, 0.5, "no trigger in any window", transform=ax.transAxes, ha="center", va="center",
                fontsize=10, color="#555555")
    ax.set_ylim(len(TRIGGER_NAMES) - 0.4, -0.6)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(handles=handles, title="trigger kind (windows)", title_fontsize=8.5, **LEGEND)


def timeline(seg: Any, a: dict[str, np.ndarray], xa: XAxis, lost: Spans, holes: Spans, path: Path) -> Path:
    grid = _grid(xa)
    gx = xa.at(grid)
    score, cusum, alarm = _dense(xa, a["score"]), _dense(xa, a["cusum"]), _dense(xa, a["alarm"].astype(float))
    alarm_spans = [xa.span(grid[s], grid[e - 1]) for s, e in _runs(alarm == 1)]

    fig = _figure(9.4, top_extra=0.35)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3.0, 2.0, 2.0]})
    ax_s, ax_c, ax_t = axes
    fig.suptitle(f"Drift score timeline — {seg.title}", fontsize=13, fontweight="bold")

    # score, log scale when it spans decades (Q8 zeros are drawn at 1/256, the resolution)
    pos = a["score"][a["score"] > 0]
    log_score = len(pos) > 0 and (pos.max() / max(np.median(pos), Q8_LSB) > 20)
    _shade(ax_s, lost, holes, alarm_spans)
    dots = dict(marker="o", markersize=2.5) if len(xa.x) <= 150 else {}  # isolated windows stay visible
    ax_s.plot(gx, np.maximum(score, Q8_LSB) if log_score else score, color="#1f77b4", linewidth=1.0,
              label="score (dist + recon)", zorder=3, **dots)
    if seg.instant is None and seg.cusum_k is None and seg.cusum_h is None:
        ax_s.plot([], [], " ", label="thresholds unknown\n(profile not in the store)")
    if seg.instant is not None:
        ax_s.axhline(seg.instant, color="#d62728", linestyle="--", linewidth=1.3,
                     label=f"instant threshold = {seg.instant:.4g}", zorder=4)
    if seg.cusum_k is not None:
        ax_s.axhline(seg.cusum_k, color="#555555", linestyle=":", linewidth=1.3,
                     label=f"CUSUM allowance k = {seg.cusum_k:.4g}", zorder=4)
    hit = (a["trigger"] & TRIGGER_INSTANT) != 0
    if hit.any():
        color, marker, _ = KIND_STYLE["instant"]
        ax_s.scatter(xa.x[hit], np.maximum(a["score"][hit], Q8_LSB) if log_score else a["score"][hit],
                     marker=marker, s=60, color=color, edgecolors="white", linewidths=0.5, zorder=5,
                     label=f"instant trigger ({int(hit.sum())} windows)")
    if log_score:
        ax_s.set_yscale("log")
    ax_s.set_ylabel("score (score units)" + ("\nlog scale" if log_score else ""))
    ax_s.grid(True, which="major", alpha=0.3)

    # CUSUM statistic: symlog once it runs far past h (a latched alarm keeps accumulating)
    _shade(ax_c, lost, holes, alarm_spans)
    ax_c.plot(gx, cusum, color="#2ca02c", linewidth=1.2, label="CUSUM statistic S", zorder=3, **dots)
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

    _shade(ax_t, lost, holes, alarm_spans)
    _raster(seg, ax_t, a, xa)

    xa_first = _first_alarm_x(seg, a, xa)
    if xa_first is not None:
        for ax in axes:
            ax.axvline(xa_first, color="#d62728", linewidth=1.0, alpha=0.8, zorder=2)
        ax_s.annotate(f"first alarm: window {seg.first_alarm_window} ({'+'.join(seg.first_alarm_triggers)})",
                      xy=(xa_first, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -4),
                      textcoords="offset points", va="top", ha="left", fontsize=9, color="#b71c1c",
                      bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))
    extra = [Patch(label="alarm latched", **ALARM_STYLE)] if alarm_spans else []
    handles, _ = ax_s.get_legend_handles_labels()
    ax_s.legend(handles=handles + extra + _gap_patches(lost, holes), **LEGEND)
    ax_c.legend(**LEGEND)
    _finish(seg, "timeline", xa, axes)

    # the other unit on top: window index over time, or device uptime over a steady window index
    up = a["uptime_ms"] / 1000.0
    if len(xa.x) > 1 and np.ptp(xa.index) > 0 and np.ptp(up) > 0:
        slope, icept = np.polyfit(xa.index.astype(float), up, 1)
        if slope > 0 and np.max(np.abs(up - (slope * xa.index + icept))) <= 0.5 * slope:
            if xa.kind == "time":
                sec = ax_s.secondary_xaxis("top", functions=(lambda v: (v - icept) / slope,
                                                             lambda v: v * slope + icept))
                sec.set_xlabel("window index (since the profile became active)")
            else:
                sec = ax_s.secondary_xaxis("top", functions=(lambda v: v * slope + icept,
                                                             lambda v: (v - icept) / slope))
                sec.set_xlabel(f"device uptime (s), ≈ {slope:.3g} s per window")
    return _save(fig, path)


def channels(seg: Any, a: dict[str, np.ndarray], xa: XAxis, lost: Spans, path: Path) -> Path:
    names = seg.channel_names
    n_ch = len(names)
    if n_ch == 0:
        return placeholder(f"Per-channel drift (z vs reference) — {seg.title}", "records carry no channels", path)
    zm, zs = _dense(xa, a["z_mean"][:, :n_ch]).T, _dense(xa, a["z_std"][:, :n_ch]).T
    finite = np.abs(np.concatenate([zm[np.isfinite(zm)], zs[np.isfinite(zs)]]))
    vmax = float(np.ceil(np.clip(np.percentile(finite, 99.0), 3.0, None))) if len(finite) else 3.0
    height = 2.7 + 2 * (0.32 * n_ch + 0.6)
    fig = _figure(height, bottom=0.95)
    axes = fig.subplots(2, 1, sharex=True)
    fig.suptitle(f"Per-channel drift (z vs reference) — {seg.title}", fontsize=13, fontweight="bold")
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    edges = xa.edges(_grid(xa))
    rows = np.arange(n_ch + 1) - 0.5
    mesh = None
    xa_first = _first_alarm_x(seg, a, xa)
    for ax, data, what in ((axes[0], zm, "z of window mean"), (axes[1], zs, "z of window std")):
        mesh = ax.pcolormesh(edges, rows, np.ma.masked_invalid(data), cmap=cmap, norm=norm, shading="flat")
        ax.set_ylim(n_ch - 0.5, -0.5)
        ax.set_yticks(range(n_ch), names)
        ax.set_ylabel("channel")
        ax.set_title(what, fontsize=11, loc="left")
        for a_, b_ in lost:
            ax.axvspan(a_, b_, fill=False, hatch="//", edgecolor="#616161", linewidth=0)
        if xa_first is not None:
            ax.axvline(xa_first, color="black", linewidth=1.0, linestyle="--")
    cax = fig.add_axes((RIGHT + 0.015, 0.95 / height, 0.012, 1 - 1.65 / height))
    cb = fig.colorbar(mesh, cax=cax, extend="both")
    cb.set_label("z (σ of reference)")
    note = f"colors saturate at ±{vmax:g} σ"
    if xa.lo < edges[0] or xa.hi > edges[-1]:
        note += " · white: before or after the records"
    if np.isnan(zm).any():
        note += " · grey: no record"
    if lost:
        note += " · hatched: records lost"
    if xa_first is not None:
        note += " · dashed: first alarm"
    fig.text(RIGHT, 0.12 / height, note, ha="right", va="bottom", fontsize=8.5, color="#444444")
    _finish(seg, "channels", xa, axes)
    return _save(fig, path)


def health(seg: Any, a: dict[str, np.ndarray], xa: XAxis, lost: Spans, holes: Spans, path: Path) -> Path:
    names = seg.channel_names
    n_ch = len(names)
    if n_ch == 0:
        return placeholder(f"Sensor health events — {seg.title}", "records carry no channels", path)
    fig = _figure(2.0 + 0.42 * n_ch)
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
            xs.append(xa.x[hit])
            ys.append(np.full(int(hit.sum()), c + dy))
        xs_all, ys_all = np.concatenate(xs), np.concatenate(ys)
        any_event = any_event or bool(len(xs_all))
        n_windows = int(np.count_nonzero(mask & ((1 << n_ch) - 1)))
        handles.append(ax.scatter(xs_all, ys_all, marker=marker, s=18, color=color, linewidths=1.0,
                                  label=f"{kind} ({n_windows} windows)", zorder=3))
    ax.set_yticks(range(n_ch), names)
    ax.set_ylim(n_ch - 0.5, -0.5)
    ax.set_ylabel("channel")
    ax.grid(True, axis="x", alpha=0.3)
    for c in range(n_ch - 1):
        ax.axhline(c + 0.5, color="#e0e0e0", linewidth=0.8, zorder=0)
    if not any_event:
        ax.text(0.5, 0.5, "no stuck, saturated or missing channel in any window", transform=ax.transAxes,
                ha="center", va="center", fontsize=11, color="#555555")
    ax.legend(handles=handles + _gap_patches(lost, holes), title="event (per window)", title_fontsize=8.5,
              **LEGEND)
    _finish(seg, "health", xa, [ax])
    return _save(fig, path)


def outputs(seg: Any, a: dict[str, np.ndarray], xa: XAxis, lost: Spans, holes: Spans, path: Path) -> Path:
    """Model outputs: estimated vs realized accuracy, prior shift, concept-drift markers."""
    x = xa.x
    fig = _figure(6.2)
    ax_a, ax_p = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    fig.suptitle(f"Model outputs — {seg.title}", fontsize=13, fontweight="bold")
    inf, lab = a["n_inferences"] > 0, a["n_labels"] > 0
    concept = (a["trigger"] & TRIGGER_CONCEPT) != 0
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
    ax_a.legend(**LEGEND)
    ax_p.plot(x[inf], a["prior_shift"][inf], color="#9467bd", marker="o", markersize=2.5, linewidth=0.9,
              label="prior shift (TV distance of\npredicted classes to the prior)")
    ax_p.plot(x[inf], a["mean_confidence"][inf], color="#8c564b", linewidth=0.8, alpha=0.7,
              label="mean top-1 confidence")
    ax_p.set_ylim(-0.02, 1.05)
    ax_p.set_ylabel("per window")
    handles, _ = ax_p.get_legend_handles_labels()
    ax_p.legend(handles=handles + _gap_patches(lost, holes), **LEGEND)
    _finish(seg, "outputs", xa, [ax_a, ax_p])
    return _save(fig, path)
