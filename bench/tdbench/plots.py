"""The report's PNG plots: one stream through every detector, and detection delays per run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .config import WINDOW
from .detectors import Run
from .metrics import median_delay
from .runs import DETECTORS, Quality
from .scenarios import DRIFTS, SHORT, Stream


def plot_timeline(q: Quality, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = q.example
    s: Stream = ex["stream"]  # type: ignore[assignment]
    names: list[str] = ex["names"]  # type: ignore[assignment]
    prof = ex["profile"]
    td: Run = ex["td"]  # type: ignore[assignment]
    runs: dict[tuple[str, str], Run] = ex["runs"]  # type: ignore[assignment]
    x = np.arange(s.n_windows)
    fig, axes = plt.subplots(5, 1, figsize=(10.5, 9.0), sharex=True)

    def marks(ax: object, det: str) -> None:
        lo, hi = ax.get_ylim()  # type: ignore[attr-defined]
        log = ax.get_yscale() == "log"  # type: ignore[attr-defined]
        for frac, setting, mk, col in ((1.0, "configured", "v", "tab:red"), (0.9, "tuned", "^", "tab:purple")):
            yy = math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo))) if log else lo + frac * (hi - lo)
            a = runs[(setting, det)].alarm
            ax.plot(x[a], np.full(a.sum(), yy), mk, ms=4, color=col, ls="none",  # type: ignore[attr-defined]
                    label=f"alarm ({setting})", clip_on=False)

    ax = axes[0]
    ax.semilogy(x, np.maximum(td.stat, 1e-2), lw=0.8, color="tab:blue", label="score")
    ax.semilogy(x, np.maximum(td.extra["cusum"], 1e-2), lw=0.8, color="tab:green", label="CUSUM S")
    ax.axhline(prof.instant_q8 / 256, color="tab:blue", ls=":", lw=0.8, label="instant threshold")  # type: ignore
    ax.axhline(prof.cusum_h_q8 / 256, color="tab:green", ls=":", lw=0.8, label="h")  # type: ignore
    marks(ax, "tinydrift")
    ax.set_title("tinydrift: window score and CUSUM", fontsize=9, loc="left")
    ax = axes[1]
    ax.plot(x, ex["z"], lw=0.8, color="tab:blue", label="max |z| of window means")
    ax.axhline(ex["z_thr"][0], color="tab:red", ls=":", lw=0.8, label="threshold (configured)")
    ax.axhline(ex["z_thr"][1], color="tab:purple", ls=":", lw=0.8, label="threshold (tuned)")
    marks(ax, "z-test")
    ax.set_title("z-test (Bonferroni)", fontsize=9, loc="left")
    ax = axes[2]
    ax.semilogy(x, np.maximum(ex["m"], 1e-2), lw=0.8, color="tab:blue", label="d^2")
    ax.axhline(ex["m_thr"][0], color="tab:red", ls=":", lw=0.8, label="threshold (configured)")
    ax.axhline(ex["m_thr"][1], color="tab:purple", ls=":", lw=0.8, label="threshold (tuned)")
    marks(ax, "Mahalanobis")
    ax.set_title("Mahalanobis distance of (mean, std) per channel", fontsize=9, loc="left")
    for ax, det in ((axes[3], "ADWIN"), (axes[4], "PageHinkley")):
        ax.plot(x, ex["zmeans"][:, s.channel], lw=0.8, color="tab:blue",
                label=f"input: {names[s.channel]} (std. mean)")
        marks(ax, det)
        ax.set_title(f"river {det} (one per channel; input of the drifted channel shown)", fontsize=9, loc="left")
    for ax in axes:
        ax.axvline(s.change, color="k", lw=1.0, ls="--")
        ax.tick_params(labelsize=7)
        h, lab = ax.get_legend_handles_labels()
        uniq = dict(zip(lab, h))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, frameon=False)
    axes[-1].set_xlabel(f"window ({WINDOW} frames = 1 s); dashed line: change point", fontsize=8)
    fig.suptitle(f"Gain x2 on {names[s.channel]} from window {s.change} (held-out BasicMotions cases, "
                 f"stream {s.rep})", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.78, top=0.93, bottom=0.06, hspace=0.35)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    shrink_png(path)


def plot_delays(q: Quality, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DRIFTS), figsize=(11.0, 3.2), sharey=True)
    colors = dict(zip(DETECTORS, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    cap = 60
    for ax, key in zip(axes, DRIFTS):
        for j, det in enumerate(DETECTORS):
            outs = [o for o in q.outcomes[("tuned", det)] if o.scenario == key]
            d = np.array([cap if o.delay is None or o.delay > cap else o.delay for o in outs], float)
            jitter = (np.arange(len(d)) % 5 - 2) * 0.06
            ax.plot(np.full(len(d), j) + jitter, d, "o", ms=2.5, color=colors[det], alpha=0.6)
            med = median_delay([o.delay for o in outs])
            if not math.isinf(med):
                ax.plot([j - 0.3, j + 0.3], [min(med, cap)] * 2, color="k", lw=1.2)
        ax.set_title(SHORT[key], fontsize=8)
        ax.set_xticks(range(len(DETECTORS)))
        ax.set_xticklabels(["td", "z", "Mah", "ADW", "PH"], fontsize=6)
        ax.tick_params(axis="y", labelsize=7)
        ax.axhline(cap, color="grey", lw=0.5, ls=":")
    axes[0].set_ylabel(f"delay, windows (>= {cap}: late or missed)", fontsize=7)
    fig.suptitle("Detection delay per run, peers tuned to tinydrift's false-alarm count (bar: median)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    shrink_png(path)


def shrink_png(path: Path) -> None:
    """Re-save with an adaptive palette when Pillow is there (plots have few colours)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        im.convert("RGB").quantize(colors=64).save(path, optimize=True)

