"""``tinydrift score``: score a recording against a profile, as the device would (summary, CSV or JSON)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinydrift.cli.common import (EXIT_ALARM, EXIT_OK, embedding_model, q8_text, trigger_text, with_names,
                                  write_output)
from tinydrift.core.wording import count
from tinydrift.core.errors import InputError
from tinydrift.core.monitor import Monitor
from tinydrift.core.profile import Profile, load_profile
from tinydrift.core.recording import Recording, read_recording
from tinydrift.core.triggers import HEALTH_MASKS, TRIGGER_NAMES, mask_channels


_SCALAR_COLUMNS = ("window", "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel",
                   "stuck_mask", "saturated_mask", "missing_mask")


_CHANNEL_COLUMNS = ("z_mean", "z_std", "mean", "std", "n_missing", "n_saturated")



def score_csv(rows: np.ndarray, names: Sequence[str]) -> str:
    """The --csv output for Monitor rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(_SCALAR_COLUMNS) + [f"{col}_{n}" for n in names for col in _CHANNEL_COLUMNS])
    scalars = [rows[col].astype(int).tolist() if col == "alarm" else rows[col].tolist() for col in _SCALAR_COLUMNS]
    per_channel = [rows[col].tolist() for col in _CHANNEL_COLUMNS]
    n_channels = len(names)
    for i in range(len(rows)):
        line = [col[i] for col in scalars]
        for c in range(n_channels):
            line.extend(col[i][c] for col in per_channel)
        writer.writerow(line)
    return buf.getvalue()



def score_records(rows: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    """The --json output for Monitor rows (per-channel values as lists in channel order, bit fields named)."""
    columns = {col: rows[col].tolist() for col in _SCALAR_COLUMNS + _CHANNEL_COLUMNS}
    return [with_names({col: values[i] for col, values in columns.items()}, names) for i in range(len(rows))]



def score_summary(rows: np.ndarray, prof: Profile, rec: Recording, names: Sequence[str],
                  profile_path: str) -> str:
    w = prof.window
    n = len(rows)
    lines = [f"{rec.source}: {count(rec.n_frames, 'frame')} x {count(rec.n_channels, 'channel')}, scored against {profile_path} "
             f"(profile {prof.profile_id:#010x}, window {w})"]
    leftover = rec.n_frames - n * w
    lines.append(f"windows: {n}" + (f" ({count(leftover, 'trailing frame')} ignored)" if leftover else ""))
    if n == 0:
        lines.append(f"no complete window: the stream is shorter than the profile's window of {w} frames")
        return "\n".join(lines) + "\n"
    alarm = rows["alarm"].astype(bool)
    triggered = rows["trigger"] != 0
    counts = {name: int(np.count_nonzero(rows["trigger"] & bit))
              for bit, name in TRIGGER_NAMES}
    if alarm.any():
        first = int(np.argmax(alarm))
        r = rows[first]
        top = int(r["top_channel"])
        lines.append(f"DRIFT: alarm at window {int(r['window'])} (frames {first * w}-{first * w + w - 1}), "
                     f"triggered by {trigger_text(int(r['trigger']))}; alarm latched for {int(alarm.sum())} of {n} "
                     f"windows")
        lines.append(f"  top channel at the alarm: {names[top] if top < len(names) else top} "
                     f"(z of mean {float(r['z_mean'][top]):+.2f}, z of std {float(r['z_std'][top]):+.2f})")
        health = []
        for field, what in HEALTH_MASKS:
            bad = mask_channels(int(r[field]), names)
            if bad:
                health.append(f"{what}: {', '.join(bad)}")
        if health:
            lines.append(f"  sensor health at the alarm: {'; '.join(health)}")
        kinds = ", ".join(f"{name} {n_kind}" for name, n_kind in counts.items() if n_kind)
        lines.append(f"  windows with triggers: {int(triggered.sum())} ({kinds})")
        # The alarm latches at its first trigger; a later, different drift shows in its kind's own first window.
        firsts = ", ".join(f"{name} {int(rows['window'][np.argmax((rows['trigger'] & bit) != 0)])}"
                           for bit, name in TRIGGER_NAMES if counts[name])
        lines.append(f"  first window of each trigger: {firsts}")
    else:
        lines.append(f"no drift: no alarm in {count(n, 'window')}")
    peak = int(np.argmax(rows["score"]))
    top = int(rows["top_channel"][peak])
    lines.append(
        f"max score {float(rows['score'][peak]):.3f} at window {int(rows['window'][peak])} "
        f"(top channel {names[top] if top < len(names) else top}); thresholds: instant {q8_text(prof.instant_q8)}, "
        f"CUSUM k {q8_text(prof.cusum_k_q8)} h {q8_text(prof.cusum_h_q8)}; max CUSUM {float(rows['cusum'].max()):.3f}"
    )
    return "\n".join(lines) + "\n"



def cmd_score(args: argparse.Namespace) -> int:
    prof = load_profile(args.profile)
    rec = read_recording(args.stream)
    if rec.n_channels != prof.n_channels:
        raise InputError(f"{rec.source} has {rec.n_channels} channels but profile {args.profile} expects "
                         f"{prof.n_channels}")
    names = prof.channel_names if prof.channel_names and len(prof.channel_names) == prof.n_channels \
        else rec.channel_names
    model = embedding_model(args)
    if model is not None:
        from tinydrift.build.model_profile import check_model_for_profile, score_with_model

        check_model_for_profile(prof, model, f"profile {args.profile}")
        rows = score_with_model(prof, rec.frames, model)
    elif prof.external_embedding:
        raise InputError(f"profile {args.profile} is an external-embedding profile: pass --model (with --layer "
                         f"or --tensor) to compute the embeddings it expects")
    else:
        rows = Monitor(prof).push(rec.frames)
    if args.format == "csv":
        text = score_csv(rows, names)
    elif args.format == "json":
        text = json.dumps(score_records(rows, names)) + "\n"
    else:
        text = score_summary(rows, prof, rec, names, args.profile)
    write_output(args.output, text)
    if args.fail_on_alarm and len(rows) and bool(rows["alarm"].any()):
        return EXIT_ALARM
    return EXIT_OK

