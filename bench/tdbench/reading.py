"""The reading of the results and the issue's targets, computed from them (so they stay true as numbers change)."""

from __future__ import annotations

import math

from .config import FLOOR_PER_CHANNEL_SAMPLE, RATE
from .metrics import median_delay, per_1000, poisson_upper
from .runs import PEERS, Quality, cell, fa_total, winners
from .scenarios import DRIFTS, SCENARIOS, SHORT
from .speed import Speed


def reading(q: Quality, dev: dict[str, float], speed: Speed | None) -> tuple[list[str], dict[str, object]]:
    """The honest reading, computed from the results (so it stays true when the numbers change)."""
    td = q.outcomes[("configured", "tinydrift")]
    fa, n = fa_total(td)
    rate = per_1000(fa, n)
    upper = 1000.0 * poisson_upper(fa) / n
    missed = {k: cell(td, k) for k in DRIFTS if cell(td, k).detected < cell(td, k).runs}
    wins, ties, losses = [], [], []
    for k in DRIFTS:
        w, cells = winners(q, "tuned", k)
        if w == ["tinydrift"]:
            wins.append(k)
        elif "tinydrift" in w:
            ties.append((k, [d for d in w if d != "tinydrift"]))
        else:
            losses.append((k, w, cells))
    facts = {"fa_per_1000": rate, "fa_upper": upper, "missed": [k for k in DRIFTS if k in missed], "wins": wins,
             "ties": [k for k, _ in ties], "losses": [k for k, _, _ in losses]}
    out = []
    ok_fa = rate <= 2.0 * RATE * 1000
    distinct = q.streams[0].n_windows  # the control stream holds every held-out window once
    upper_distinct = 1000.0 * poisson_upper(0) / distinct
    out.append(f"- **False alarms.** tinydrift raised {fa} alarms on {n:,} in-distribution windows "
               f"({rate:.2f} per 1,000; 95 % upper bound {upper:.2f} if the windows were independent) against its "
               f"calibrated {RATE * 1000:g} per 1,000: {'within' if ok_fa else 'NOT within'} the 2x target. "
               f"Caveat: the streams re-order the same {distinct} held-out windows (40 recordings); order matters "
               f"only to CUSUM, so for the per-window checks the evidence is {distinct} distinct windows, which "
               f"cannot show a rate below {upper_distinct:.1f} per 1,000 even with no alarm. The 2x target is met "
               "on this data but not proven to 1e-3 precision.")
    if missed:
        out.append("- **Detection.** tinydrift misses runs in: " + "; ".join(
            f"{SHORT[k]} ({c.detected}/{c.runs} detected)" for k, c in missed.items()) + ". In every other "
            "drift scenario it detects every run.")
    else:
        out.append("- **Detection.** tinydrift detects every run of every drift scenario.")
    if wins:
        out.append("- **Fastest at equal false alarms** (peers tuned to tinydrift's control count): "
                   + ", ".join(SHORT[k] for k in wins) + ".")
    if ties:
        out.append("- **Tied for fastest**: " + "; ".join(f"{SHORT[k]} (with {', '.join(o)})" for k, o in ties) + ".")
    if losses:
        parts = []
        for k, w, cells in losses:
            tdc = cells["tinydrift"]
            best = ", ".join(f"{d} {cells[d].text()}" for d in w) or "nobody"
            parts.append(f"{SHORT[k]}: tinydrift {tdc.text()} vs {best}")
        out.append("- **Not the fastest** (detected/runs, median delay in windows): " + "; ".join(parts) + ".")
    chan_keys = [sc.key for sc in SCENARIOS if sc.channel_drift]
    named = []
    for setting, det in [("configured", "tinydrift")] + [("tuned", d) for d in PEERS]:
        cs = [cell(q.outcomes[(setting, det)], k) for k in chan_keys]
        ok, of = sum(c.named_ok for c in cs), sum(c.named_of for c in cs)
        if of:
            named.append(f"{det} {ok}/{of} ({100 * ok / of:.0f} %)")
    if named:
        out.append("- **Root cause.** Drifted channel named correctly at the first alarm after the change, over the "
                   "channel scenarios (correct/detected; peers tuned): " + ", ".join(named) + ".")
    sat = []
    for k in ("gain", "offset", "noise"):
        hows = [o.how for o in td if o.scenario == k and o.delay is not None]
        if hows:
            rails = sum(1 for h in hows if h & 4)
            chart = sum(1 for h in hows if not h & 4 and h & 0x20 and not h & 3)
            score = len(hows) - rails - chart
            sat.append(f"{SHORT[k]}: rails {rails}, feature chart alone {chart}, window score {score} (of {len(hows)})")
    if sat:
        out.append("- **How gains, offsets and noise are caught.** Which check raised tinydrift's first alarm after "
                   "the change: the saturation check (the drifted signal reaching the +-32767 rails), the feature "
                   "chart alone (a two-sided CUSUM per channel mean and spread), or the window score (CUSUM or "
                   "instant threshold, possibly with the chart in the same window): " + "; ".join(sat) + ".")
    classes_unseen = sorted({o.note for o in td if o.scenario == "unseen"})
    if classes_unseen:
        per = []
        for cname in classes_unseen:
            sel = [o for o in td if o.scenario == "unseen" and o.note == cname]
            med = median_delay([o.delay for o in sel])
            per.append(f"{cname} {sum(o.delay is not None for o in sel)}/{len(sel)}"
                       + ("" if math.isinf(med) else f" (median {med:g} windows)"))
        out.append("- **Unseen class** (left-out class: tinydrift detected/runs): " + ", ".join(per) + ". A class "
                   "whose windows fall inside the span of the other classes looks in-distribution window by "
                   "window; per class for every detector in the tables below.")
    weak = [k for k in DRIFTS if k in missed and k in q.diag and k not in ("prior",)]
    if weak:
        ratios = ", ".join(f"{SHORT[k]} x{q.diag[k]['post_median'] / max(q.diag[k]['pre_median'], 1e-9):.1f}, "
                           f"{100 * q.diag[k]['post_above_k']:.0f} % above k" for k in weak)
        out.append("- **Where tinydrift still misses.** After the change its window scores rise (median after/before: "
                   f"{ratios}); the CUSUM reference value k is the 95th percentile of held-out scores, so a "
                   "rise that stays mostly below k accumulates slowly. The score sums 12 standardized dimensions, so "
                   "a small change in one of them is diluted by the other eleven's noise. "
                   "`tools/studies/feature_chart.py` (float64, not in the product) tries two more CUSUMs beside the "
                   "score, one per feature on the attribution's matched-filter fit and one on the embedding's global "
                   "Mahalanobis distance, calibrated the same way; its docstring has the figures.")
    if "prior" in missed or "prior" in facts["losses"]:
        out.append("- A class-prior shift leaves every window in-distribution; tinydrift scores windows one at a "
                   "time against the reference mixture, so it is blind to it by design. Detectors that track the "
                   "level of the stream (ADWIN, PageHinkley) can see the mean move. tinydrift's answer is on the "
                   "model side (`tinydrift.outputs`: the predicted-class histogram against the reference prior), "
                   "which needs a model's predictions and is not exercised by this benchmark.")
    if "offset_small" in missed or "offset_small" in facts["losses"]:
        out.append("- Small offsets: +0.25 sd of the whole recording is about 0.1 of the standing-to-running spread "
                   "of a channel's window mean; the per-centroid scales make it visible within a quiet activity, "
                   "less so within a busy one.")
    if dev:
        lo, hi = FLOOR_PER_CHANNEL_SAMPLE
        fast, block = dev.get("fast"), dev.get("block")
        if fast and block:
            out.append(f"- **Device cost.** {fast:.1f} instructions per channel-sample on the fast path and "
                       f"{block:.1f} on real data, against a floor of about {lo}-{hi} (load, subtract-compare-"
                       f"branch, add, multiply-accumulate, loop): {block / hi:.1f}-{block / lo:.1f}x the floor on "
                       "real data. The window close and the telemetry frame cost more than all of a window's "
                       "samples at window 64" + (f" ({dev['telemetry']:,.0f} instructions per window with its record)."
                                                if dev.get("telemetry") else ".")
                       + (f" Every window pays for the feature chart's fitted shifts (a close outside a CUSUM run "
                          f"costs {dev['close_out']:,.0f}), and a window inside a run also for the channel "
                          f"attribution: {dev['close_run']:,.0f}." if dev.get("close_run") and dev.get("close_out")
                          else ""))
    if speed and len(speed.rows) >= 2:
        td_t, np_t = speed.rows[0][1], speed.rows[1][1]
        out.append(f"- **Host speed.** The full monitor through CFFI runs at {speed.frames / td_t / 1e6:.2f} M "
                   f"frames/s, {np_t / td_t:.2f}x the speed of numpy computing only the window statistics"
                   + (f", {speed.rows[2][1] / td_t:.1f}x river's ADWIN + PageHinkley fed window means"
                      if len(speed.rows) > 2 else "")
                   + (f" and {speed.rows[3][1] / td_t:,.0f}x river fed every sample" if len(speed.rows) > 3 else "")
                   + " (one core, this machine).")
    return out, facts


def targets_table(q: Quality) -> list[str]:
    """The issue's three targets for tinydrift, each with its measured result."""
    _, facts = reading(q, {}, None)
    td = q.outcomes[("configured", "tinydrift")]
    fa, n = fa_total(td)
    missed = facts["missed"]
    won = facts["wins"] + facts["ties"]
    return [
        "| target | result | met |", "|---|---|---|",
        "| detects every drift scenario (every run) | "
        + (f"misses runs in {len(missed)} of {len(DRIFTS)}: " + ", ".join(
            f"{SHORT[k]} {cell(td, k).detected}/{cell(td, k).runs}" for k in missed) if missed else "all runs detected")
        + f" | {'no' if missed else 'yes'} |",
        f"| false alarms within 2x the calibrated {RATE:g}/window | {per_1000(fa, n):.2f} per 1,000 ({fa} of {n:,} "
        f"windows; only {q.streams[0].n_windows} distinct) | "
        f"{'yes (on this data)' if per_1000(fa, n) <= 2 * RATE * 1000 else 'no'} |",
        "| lowest median delay among detectors at the same false-alarm rate | fastest or tied in "
        f"{len(won)} of {len(DRIFTS)}: " + (", ".join(SHORT[k] for k in won) or "none")
        + f" | {'yes' if len(won) == len(DRIFTS) else 'no'} |",
    ]

