"""The reading of the results and the issue's targets, computed from them (so they stay true as numbers change)."""

from __future__ import annotations

import math
from typing import Any

from .config import FLOOR_PER_CHANNEL_SAMPLE, RATE
from .metrics import median_delay, per_1000, poisson_upper
from .runs import PEERS, Quality, cell, fa_total, winners
from .scenarios import DRIFTS, SCENARIOS, SHORT
from .speed import Speed
from .templating import environment


def within_band(rate_per_1000: float) -> bool:
    """Whether a false-alarm rate (per 1,000 windows) lies within 0.5-2x of the calibrated one."""
    return 0.5 * RATE * 1000 <= rate_per_1000 <= 2.0 * RATE * 1000


def reading_facts(q: Quality, dev: dict[str, float], speed: Speed | None) -> dict[str, Any]:
    """The figures templates/reading.md.j2 words, computed from the results (so the reading stays true)."""
    td = q.outcomes[("configured", "tinydrift")]
    fa, n = fa_total(td)
    rate = per_1000(fa, n)
    missed = {k: cell(td, k) for k in DRIFTS if cell(td, k).detected < cell(td, k).runs}
    wins, ties, losses = [], [], []
    for k in DRIFTS:
        w, cells = winners(q, "tuned", k)
        if w == ["tinydrift"]:
            wins.append(k)
        elif "tinydrift" in w:
            ties.append((k, [d for d in w if d != "tinydrift"]))
        else:
            losses.append((k, cells["tinydrift"].text(), ", ".join(f"{d} {cells[d].text()}" for d in w) or "nobody"))
    distinct = q.streams[0].n_windows  # the control stream holds every held-out window once
    chan_keys = [sc.key for sc in SCENARIOS if sc.channel_drift]
    named = []
    for setting, det in [("configured", "tinydrift")] + [("tuned", d) for d in PEERS]:
        cs = [cell(q.outcomes[(setting, det)], k) for k in chan_keys]
        ok, of = sum(c.named_ok for c in cs), sum(c.named_of for c in cs)
        if of:
            named.append((det, ok, of))
    caught = []
    for k in ("gain", "offset", "noise"):
        hows = [o.how for o in td if o.scenario == k and o.delay is not None]
        if hows:
            rails = sum(1 for h in hows if h & 4)
            chart = sum(1 for h in hows if not h & 4 and h & 0x20 and not h & 3)
            caught.append((SHORT[k], rails, chart, len(hows) - rails - chart, len(hows)))
    unseen = []
    for cname in sorted({o.note for o in td if o.scenario == "unseen"}):
        sel = [o for o in td if o.scenario == "unseen" and o.note == cname]
        med = median_delay([o.delay for o in sel])
        unseen.append((cname, sum(o.delay is not None for o in sel), len(sel), None if math.isinf(med) else med))
    weak = [(SHORT[k], q.diag[k]["post_median"] / max(q.diag[k]["pre_median"], 1e-9), 100 * q.diag[k]["post_above_k"])
            for k in DRIFTS if k in missed and k in q.diag and k not in ("prior",)]
    host = None
    if speed and len(speed.rows) >= 2:
        td_t = speed.rows[0][1]
        host = {"mfps": speed.frames / td_t / 1e6, "ratios": [t / td_t for _, t, _ in speed.rows[1:4]]}
    return {
        "fa": fa, "windows": n, "rate": rate, "upper": 1000.0 * poisson_upper(fa) / n, "target": RATE * 1000,
        "within": within_band(rate), "distinct": distinct,
        "by_trigger": sorted(q.by_trigger.items()),
        "swapped": None if q.swapped is None else {
            "alarms": q.swapped.alarms, "windows": q.swapped.windows,
            "rate": per_1000(q.swapped.alarms, q.swapped.windows), "by_trigger": sorted(q.swapped.by_trigger.items())},
        "upper_distinct": 1000.0 * poisson_upper(0) / distinct,
        "missed": [(SHORT[k], c.detected, c.runs) for k, c in missed.items()],
        "wins": [SHORT[k] for k in wins], "ties": [(SHORT[k], o) for k, o in ties],
        "losses": [(SHORT[k], t, b) for k, t, b in losses], "named": named, "caught": caught, "unseen": unseen,
        "weak": weak, "floor": FLOOR_PER_CHANNEL_SAMPLE, "dev": dev, "host": host,
        "prior_note": "prior" in missed or "prior" in [k for k, _, _ in losses],
        "offset_small_note": "offset_small" in missed or "offset_small" in [k for k, _, _ in losses],
        "keys": {"missed": [k for k in DRIFTS if k in missed], "wins": wins, "ties": [k for k, _ in ties],
                 "losses": [k for k, _, _ in losses]},
    }


def reading(q: Quality, dev: dict[str, float], speed: Speed | None) -> tuple[list[str], dict[str, object]]:
    """The honest reading, one markdown bullet per line, and the scenario keys it classified (missed, wins,
    ties, losses) with tinydrift's false-alarm rate and its upper bound."""
    facts = reading_facts(q, dev, speed)
    text = environment().get_template("reading.md.j2").render(facts)
    keys = dict(facts["keys"], fa_per_1000=facts["rate"], fa_upper=facts["upper"])
    return text.splitlines(), keys


def targets_table(q: Quality) -> list[str]:
    """The issue's three targets for tinydrift, each with its measured result."""
    facts = reading_facts(q, {}, None)["keys"]
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
        f"| false alarms within 0.5-2x the calibrated {RATE:g}/window | {per_1000(fa, n):.2f} per 1,000 ({fa} of {n:,} "
        f"windows; only {q.streams[0].n_windows} distinct) | "
        f"{'yes (on this data)' if within_band(per_1000(fa, n)) else 'no'} |",
        "| lowest median delay among detectors at the same false-alarm rate | fastest or tied in "
        f"{len(won)} of {len(DRIFTS)}: " + (", ".join(SHORT[k] for k in won) or "none")
        + f" | {'yes' if len(won) == len(DRIFTS) else 'no'} |",
    ]

