"""Exporting the telemetry store: every record as CSV rows, or the whole store as one JSON object."""

from __future__ import annotations

import base64
import csv
import json
import time
from typing import IO, Any

from tinydrift.telemetry.schema import CSV_CHANNEL_FIELDS, CSV_SCALARS, SCHEMA_VERSION


def _channel_labels(store: Any) -> list[str]:
    """Per-channel CSV labels: the profiles' names if every stored profile agrees, else ch0..chN."""
    rows = store._query("SELECT max(n_channels) AS c FROM records")
    c_max = int(rows[0]["c"] or 0) if rows else 0
    used = store._query("SELECT DISTINCT r.profile_id, p.channel_names FROM records r "
                       "LEFT JOIN profiles p ON p.profile_id = r.profile_id")
    names = {r["channel_names"] for r in used}
    if len(names) == 1:
        only = names.pop()
        if only:
            labels = json.loads(only)
            if len(labels) == c_max:
                return [str(n) for n in labels]
    return [f"ch{c}" for c in range(c_max)]


def export_csv(store: Any, fileobj: IO[str]) -> int:
    """Write every record as one CSV row (see docs/telemetry-store.md); returns the row count.

    Columns: device, board, boot_id, seq, profile_id, window, uptime_ms, received_at, replayed,
    score ... n_channels, then for each channel z_mean_<name>, z_std_<name>, mean_<name>,
    std_<name>, n_missing_<name>, n_saturated_<name> (empty where a record has fewer channels).
    """
    labels = _channel_labels(store)
    writer = csv.writer(fileobj, lineterminator="\n")
    writer.writerow(list(CSV_SCALARS) + [f"{f}_{n}" for n in labels for f in CSV_CHANNEL_FIELDS])
    n = 0
    for r in store.iter_records():
        line = [int(r[c]) if c in ("alarm", "replayed") else r[c] for c in CSV_SCALARS]
        line = ["" if v is None else (repr(v) if isinstance(v, float) else v) for v in line]
        for c in range(len(labels)):
            if c < r["n_channels"]:
                line.extend(repr(r[f][c]) if isinstance(r[f][c], float) else r[f][c] for f in CSV_CHANNEL_FIELDS)
            else:
                line.extend([""] * len(CSV_CHANNEL_FIELDS))
        writer.writerow(line)
        n += 1
    return n


def export_json(store: Any, fileobj: IO[str]) -> int:
    """Write one JSON object: devices, boots, profiles, records (per-channel lists), alarms, gaps.

    Streams the records; returns their count.
    """
    def part(key: str, value: Any, last: bool = False) -> None:
        fileobj.write(f" {json.dumps(key)}: {json.dumps(value)}" + ("\n" if last else ",\n"))

    fileobj.write("{\n")
    part("format", "tinydrift-telemetry")
    part("schema_version", SCHEMA_VERSION)
    part("exported_at", time.time())
    part("devices", [{k: v for k, v in d.items() if k != "id"} for d in store.devices()])
    part("boots", store.boots())
    part("profiles", [dict(p, blob=None if p["blob"] is None else base64.b64encode(p["blob"]).decode("ascii"))
                      for p in store.profiles(with_blob=True)])
    fileobj.write(' "records": [')
    n = 0
    for r in store.iter_records():
        fileobj.write(("," if n else "") + "\n  " + json.dumps(r))
        n += 1
    fileobj.write("\n ],\n")
    part("alarms", store.alarms())
    part("gaps", store.gaps(), last=True)
    fileobj.write("}\n")
    return n
