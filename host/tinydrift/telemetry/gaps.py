"""Gap rows of the telemetry store: exact accounting of missing records (docs/telemetry-store.md, Gaps).

A gap row is a maximal run of consecutive missing seqs of one boot with one reason: gone for good
(``GAP_OVERWRITTEN``: below the ring's oldest seq in an INFO; ``GAP_REBOOT``: the device restarted
first) or ``GAP_UNRECEIVED`` (the ring may still hold them; the collector asks again). A row never
holds a stored seq: ``record_gap_rows`` splits its range around stored records and joins touching
rows of one reason; ``shrink_gap`` cuts a newly stored seq out of its row. A final reason replaces
'not received'; 'not received' never replaces a final one. Also here: ``open_readonly``, the
read-only connection of export and report.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from tinydrift.telemetry.schema import StoreError, subtract_ranges

GAP_OVERWRITTEN = "overwritten in the device's ring buffer"
GAP_REBOOT = "device restarted before the host fetched them"
GAP_UNRECEIVED = "not received"  # the device's ring may still hold them: the collector asks again


def gap_is_final(reason: str) -> bool:
    """True for a gap whose records are gone for good; False for 'not received' (retried while the ring holds them)."""
    return reason != GAP_UNRECEIVED


def missing_runs(lo: int, hi: int, stored: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of [lo, hi] (inclusive) not in ``stored`` (sorted seqs, any range)."""
    runs: list[tuple[int, int]] = []
    start = lo
    for s in stored:
        if s < start:
            continue
        if s > hi:
            break
        if s > start:
            runs.append((start, s - 1))
        start = s + 1
    if start <= hi:
        runs.append((start, hi))
    return runs


def merge_gap_rows(rows: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Disjoint (first, last, reason) rows sorted, with touching rows of the same reason joined into one."""
    out: list[tuple[int, int, str]] = []
    for lo, hi, reason in sorted(rows):
        if out and out[-1][2] == reason and out[-1][1] + 1 >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi), reason)
        else:
            out.append((lo, hi, reason))
    return out


def record_gap_rows(db: sqlite3.Connection, device_id: int, boot_id: int, lo: int, hi: int, reason: str,
                    now: float) -> int:
    """In the caller's transaction: the unstored seqs of lo..hi into gap rows (module rules); returns how many
    seqs got the reason."""
    key = (device_id, boot_id)
    stored = [r[0] for r in db.execute(
        "SELECT seq FROM records WHERE device_id = ? AND boot_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (*key, lo, hi))]
    runs = missing_runs(lo, hi, stored)
    if not runs:
        return 0
    near = db.execute(
        "SELECT id, first_missing_seq, last_missing_seq, reason, detected_at FROM gaps WHERE device_id = ? "
        "AND boot_id = ? AND first_missing_seq <= ? AND last_missing_seq >= ?", (*key, hi + 1, lo - 1)).fetchall()
    existing = [(int(a), int(b), str(r)) for _, a, b, r, _ in near]
    keep = [(a, b) for a, b, r in existing if gap_is_final(r) or not gap_is_final(reason)]
    fresh = subtract_ranges(runs, keep)  # the seqs this call gives the reason
    added = sum(b - a + 1 for a, b in fresh)
    if not added:
        return 0
    rows = [(a2, b2, r) for a, b, r in existing for a2, b2 in subtract_ranges([(a, b)], fresh)]
    rows += [(a, b, reason) for a, b in fresh]
    detected = {(int(a), int(b)): float(t) for _, a, b, _, t in near}
    db.executemany("DELETE FROM gaps WHERE id = ?", [(row[0],) for row in near])
    for a, b, r in merge_gap_rows(rows):
        first_seen = min([t for (x, y), t in detected.items() if x <= b and y >= a], default=now)
        db.execute("INSERT INTO gaps (device_id, boot_id, first_missing_seq, last_missing_seq, detected_at, reason) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (*key, a, b, first_seen, r))
    return added


def shrink_gap(db: sqlite3.Connection, device_id: int, boot_id: int, seq: int) -> None:
    """In the caller's transaction: a record was stored; cut its seq out of the gap row holding it (shrunk, split
    or deleted)."""
    row = db.execute("SELECT id, first_missing_seq, last_missing_seq, reason, detected_at FROM gaps WHERE "
                     "device_id = ? AND boot_id = ? AND first_missing_seq <= ? AND last_missing_seq >= ?",
                     (device_id, boot_id, seq, seq)).fetchone()
    if row is None:
        return
    gid, lo, hi, reason, detected = row
    db.execute("DELETE FROM gaps WHERE id = ?", (gid,))
    for a, b in ((lo, seq - 1), (seq + 1, hi)):
        if a <= b:
            db.execute("INSERT INTO gaps (device_id, boot_id, first_missing_seq, last_missing_seq, detected_at, "
                       "reason) VALUES (?, ?, ?, ?, ?, ?)", (device_id, boot_id, a, b, detected, reason))


def open_readonly(path: Path, timeout_ms: int) -> sqlite3.Connection:
    """A connection that never writes: mode=rw + query_only when the file and its directory are writable
    (the connection can then clean up the WAL's -wal/-shm files on close), else mode=ro; where even a
    read needs a write (a WAL database whose -shm cannot be created: a read-only directory or file
    system), ``immutable=1``, which reads the file without any locking, provided no -wal file holds
    changes the main file lacks."""
    uri = path.resolve().as_uri()
    writable = os.access(path, os.W_OK) and os.access(path.parent or ".", os.W_OK)

    def connect(query: str) -> sqlite3.Connection:
        con = sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False,
                              timeout=timeout_ms / 1000)
        con.execute("PRAGMA query_only = ON")
        return con

    con = connect("mode=rw" if writable else "mode=ro")
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc) and "unable to open" not in str(exc):
            return con  # TelemetryStore names the problem
        con.close()
    except sqlite3.DatabaseError:
        return con  # not SQLite: TelemetryStore names the problem
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(f"cannot read {path}: its -wal file holds changes SQLite cannot read without "
                         f"writing beside it (read-only directory); copy both files to a writable directory")
    return connect("mode=ro&immutable=1")


__all__ = ["GAP_OVERWRITTEN", "GAP_REBOOT", "GAP_UNRECEIVED", "gap_is_final", "merge_gap_rows", "missing_runs",
           "open_readonly", "record_gap_rows", "shrink_gap"]
