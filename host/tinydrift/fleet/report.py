"""The fleet page and export from PostgreSQL: every device's state, alarms and lost counts; records as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import html
from dataclasses import dataclass
from typing import IO, Any

from tinydrift.core.triggers import TRIGGER_NAMES
from tinydrift.core.wording import count
from tinydrift.fleet.pgstore import RECORD_COLUMNS


@dataclass(frozen=True)
class DeviceSummary:
    """One row of the fleet page."""

    device: str
    board: str | None
    gateway: str | None
    last_seen: dt.datetime
    boots: int
    records: int
    alarm_windows: int
    alarm_onsets: int
    alarm_now: bool
    last_score: float | None
    first_alarm: str | None  # "boot 0x... seq N (kinds)"
    lost: int
    not_received: int


_SUMMARY = """
WITH r AS (SELECT device_uid, count(*) AS n, count(DISTINCT boot_id) AS boots,
                  count(*) FILTER (WHERE alarm) AS alarm_windows FROM records GROUP BY 1),
     span AS (SELECT device_uid, sum(hi - lo + 1 - n) AS holes
              FROM (SELECT device_uid, boot_id, min(seq) AS lo, max(seq) AS hi, count(*) AS n
                    FROM records GROUP BY 1, 2) b GROUP BY 1),
     last AS (SELECT DISTINCT ON (device_uid) device_uid, alarm, score FROM records
              ORDER BY device_uid, time DESC, seq DESC),
     fa AS (SELECT DISTINCT ON (device_uid) device_uid, boot_id, seq FROM records WHERE alarm
            ORDER BY device_uid, time, seq),
     g AS (SELECT device_uid, sum(last_missing_seq - first_missing_seq + 1) AS lost FROM gaps GROUP BY 1),
     o AS (SELECT device_uid, count(*) AS onsets FROM alarm_onsets GROUP BY 1)
SELECT d.uid, d.board, d.gateway, d.last_seen, coalesce(r.boots, 0), coalesce(r.n, 0),
       coalesce(r.alarm_windows, 0), coalesce(o.onsets, 0), coalesce(last.alarm, false), last.score,
       fa.boot_id, fa.seq,
       (SELECT string_agg(kind, '+' ORDER BY array_position(ARRAY[{kinds}]::text[], kind), kind) FROM alarms a
         WHERE a.device_uid = fa.device_uid AND a.boot_id = fa.boot_id AND a.seq = fa.seq),
       coalesce(g.lost, 0), coalesce(span.holes, 0)
FROM devices d LEFT JOIN r ON r.device_uid = d.uid LEFT JOIN span ON span.device_uid = d.uid
LEFT JOIN last ON last.device_uid = d.uid LEFT JOIN fa ON fa.device_uid = d.uid
LEFT JOIN g ON g.device_uid = d.uid LEFT JOIN o ON o.device_uid = d.uid
ORDER BY coalesce(last.alarm, false) DESC, d.uid
""".replace("{kinds}", ", ".join(f"'{kind}'" for _, kind in TRIGGER_NAMES))  # trigger kinds in bit order, as elsewhere


def fleet_summary(conn: Any) -> list[DeviceSummary]:
    """Every device, alarmed ones first."""
    out = []
    for (uid, board, gw, seen, boots, n, aw, onsets, alarm_now, score, fa_boot, fa_seq, kinds, lost,
         holes) in conn.execute(_SUMMARY):
        first = None if fa_seq is None else f"boot {fa_boot:#010x} seq {fa_seq} ({kinds or 'alarm'})"
        out.append(DeviceSummary(uid, board, gw, seen, boots, n, aw, onsets, bool(alarm_now), score, first,
                                 int(lost), max(0, int(holes) - int(lost))))
    return out


def quarantine_count(conn: Any) -> int:
    """How many messages the ingest side kept in quarantine (0 on a schema from before the quarantine)."""
    if conn.execute("SELECT to_regclass('quarantine') IS NULL").fetchone()[0]:
        return 0
    return int(conn.execute("SELECT count(*) FROM quarantine").fetchone()[0])


def write_fleet_html(rows: list[DeviceSummary], fh: IO[str], title: str = "tinydrift fleet",
                     quarantined: int = 0) -> None:
    """A self-contained HTML page: one table row per device (and the quarantine's size, when not empty)."""
    e = html.escape
    alarmed = sum(r.alarm_now for r in rows)
    fh.write(f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title>"
             "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}tr.alarm{background:#fdd}</style>"
             f"<h1>{e(title)}</h1><p>{count(len(rows), 'device')}, {alarmed} in alarm now, "
             f"{count(sum(r.records for r in rows), 'record', thousands=True)}, {sum(r.lost for r in rows):,} lost "
             "in gaps.</p>"
             + (f"<p>{count(quarantined, 'undecodable message', thousands=True)} in quarantine "
                "(<code>tinydrift db quarantine</code> lists them).</p>" if quarantined else "")
             + "<table>"
             "<tr><th>device</th><th>state</th><th>board</th><th>gateway</th><th>last seen (UTC)</th><th>boots</th>"
             "<th>records</th><th>last score</th><th>alarm windows</th><th>alarm onsets</th><th>first alarm</th>"
             "<th>lost</th><th>not received</th></tr>\n")
    for r in rows:
        fh.write(f"<tr class='{'alarm' if r.alarm_now else 'ok'}'><td>{e(r.device)}</td>"
                 f"<td>{'ALARM' if r.alarm_now else 'ok'}</td><td>{e(r.board or '-')}</td><td>{e(r.gateway or '-')}</td>"
                 f"<td>{r.last_seen:%Y-%m-%d %H:%M:%S}</td><td>{r.boots}</td><td>{r.records}</td>"
                 f"<td>{'-' if r.last_score is None else f'{r.last_score:.2f}'}</td><td>{r.alarm_windows}</td>"
                 f"<td>{r.alarm_onsets}</td><td>{e(r.first_alarm or '-')}</td><td>{r.lost}</td>"
                 f"<td>{r.not_received}</td></tr>\n")
    fh.write("</table>\n")


def export_csv(conn: Any, fh: IO[str]) -> int:
    """Every record as one CSV row in (device, boot, seq) order; per-channel values as ch<i>_<field>."""
    scalars = [c for c in RECORD_COLUMNS if c not in ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")]
    per = ("z_mean", "z_std", "mean", "std", "n_missing", "n_saturated")
    n_ch = conn.execute("SELECT coalesce(max(n_channels), 0) FROM records").fetchone()[0]
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["device" if c == "device_uid" else "window" if c == "window_index" else c for c in scalars]
               + ["ingested_at"] + [f"ch{i}_{f}" for i in range(n_ch) for f in per])
    n = 0
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(scalars)}, ingested_at, {', '.join(per)} FROM records "
                    "ORDER BY device_uid, boot_id, seq")
        for row in cur:
            vals = list(row[:len(scalars) + 1])
            chans = row[len(scalars) + 1:]
            for i, v in enumerate(vals):
                if isinstance(v, dt.datetime):
                    vals[i] = repr(v.timestamp())
                elif isinstance(v, float):
                    vals[i] = repr(v)
                elif isinstance(v, bool):
                    vals[i] = int(v)
            for i in range(n_ch):
                vals += ["" if i >= len(a) else repr(a[i]) if isinstance(a[i], float) else a[i] for a in chans]
            w.writerow(vals)
            n += 1
    return n
