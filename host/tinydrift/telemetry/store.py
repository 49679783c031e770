"""Telemetry store: device telemetry records, boots, profiles, alarms and gaps in one SQLite file.

Schema and rationale: docs/telemetry-store.md. In short:

* stdlib ``sqlite3`` in WAL mode (readers never block the writer), ``busy_timeout``,
  foreign keys on;
* every public write runs in one ``BEGIN IMMEDIATE`` transaction, rolled back on *any*
  exception, KeyboardInterrupt included, so Ctrl-C never leaves half a batch behind;
* inserts are idempotent on ``UNIQUE(device_id, boot_id, seq)``: a record the device
  replays (FETCH) or the host receives twice is stored once;
* the schema version lives in ``PRAGMA user_version``; a newer file is refused with a
  one-line error, an older file is migrated in place when opened for writing (version 1 -> 2:
  model-output columns added with defaults, ``alarms.kind`` widened to ``concept``; 2 -> 3:
  ``alarms.kind`` widened to ``occupancy`` and ``feature``); opened read-only it is read as is,
  with the model-output columns 0.

Records are duck-typed: anything with the attribute (or mapping key) names of
``tinydrift.device.records.TelemetryRecord`` (the model-output fields are 0 when absent).
Gap rows (exact missing-seq accounting) follow ``tinydrift.telemetry.gaps``.

    >>> with TelemetryStore("telemetry.db") as db:
    ...     db.add_device("tcp://127.0.0.1:5555", board="host simulator")
    ...     db.insert_records("tcp://127.0.0.1:5555", records)      # number of new records
    ...     db.missing_ranges("tcp://127.0.0.1:5555", boot_id, next_seq)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinydrift.core.triggers import mask_channels  # noqa: F401  (re-exported: tinydrift.telemetry.store.mask_channels)
from tinydrift.core.triggers import trigger_names as trigger_kinds  # noqa: F401  (re-exported)
from tinydrift.telemetry.schema import (
    BUSY_TIMEOUT_MS, CHANNEL_FIELDS, MIGRATE_1_TO_2, MIGRATE_2_TO_3, OUTPUT_FIELDS, OUTPUT_REALS, RECORD_SCALARS,
    SCHEMA_SQL, SCHEMA_VERSION, TABLES, TRIGGER_KINDS, StoreError, channel_labels, record_row, subtract_ranges,
    threshold_value,
)
from tinydrift.telemetry.gaps import (  # noqa: F401  (GAP_* and gap_is_final re-exported)
    GAP_OVERWRITTEN, GAP_REBOOT, GAP_UNRECEIVED, gap_is_final, open_readonly, record_gap_rows, shrink_gap,
)

# ------------------------------------------------------------------------------------------ the store


class TelemetryStore:
    """One SQLite telemetry database (docs/telemetry-store.md).

    ``TelemetryStore(path)`` opens or creates the file; ``readonly=True`` opens an existing
    one without ever writing (export, report). Usable as a context manager; safe to share
    between threads (one connection behind a lock).
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False,
                 timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly and not self.path.exists():
            raise StoreError(f"telemetry database {self.path} does not exist")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a telemetry database")
        try:
            if readonly:
                self._db = open_readonly(self.path, timeout_ms)
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                           timeout=timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open telemetry database {self.path}: {exc}") from None
        try:
            self._setup(timeout_ms)
        except BaseException:
            self._db.close()
            raise

    # -------------------------------------------------------------------------------- setup

    def _setup(self, timeout_ms: int) -> None:
        db = self._db
        try:
            db.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "encrypted" in str(exc):
                raise StoreError(f"{self.path} is not a tinydrift telemetry database (not an SQLite file)") from None
            raise StoreError(f"cannot read telemetry database {self.path}: {exc}") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has telemetry schema version {version}, newer than the {SCHEMA_VERSION} "
                             f"this tinydrift understands; upgrade tinydrift to read it")
        if version == 0:
            if tables:
                raise StoreError(f"{self.path} is an SQLite database but not a tinydrift telemetry database "
                                 f"(tables: {', '.join(sorted(tables))})")
            if self.readonly:
                self._empty = True
                return
            with self._tx():
                # re-check under the write lock: another process may have created the schema meanwhile
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for stmt in SCHEMA_SQL.split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif set(TABLES) - tables:
            raise StoreError(f"{self.path}: telemetry database is missing tables "
                             f"{', '.join(sorted(set(TABLES) - tables))}")
        elif version < SCHEMA_VERSION and not self.readonly:
            self._migrate(version)
        self._empty = False
        if not self.readonly:
            # WAL: readers (report, export) never block the writer. Where WAL is unavailable SQLite keeps
            # its rollback journal: slower, equally safe.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt

    def _migrate(self, version: int) -> None:
        """In place, in one transaction, step by step to SCHEMA_VERSION: existing records get the model-output
        columns' defaults (0); the alarms table is rebuilt with its rows and ids for each widened kind list."""
        db = self._db
        with self._tx():
            if db.execute("PRAGMA user_version").fetchone()[0] != version:
                return  # another process migrated it meanwhile
            for start, steps in ((1, MIGRATE_1_TO_2), (2, MIGRATE_2_TO_3)):
                if version <= start:
                    for stmt in steps:
                        db.execute(stmt)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _col(self, name: str, prefix: str = "") -> str:
        """A record column for SELECT; a version-1 file opened read-only lacks the model-output columns (0)."""
        if name in OUTPUT_FIELDS and self.schema_version < 2:
            return f"0 AS {name}"
        return f"{prefix}{name}"

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TelemetryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any exception (KeyboardInterrupt too)."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"cannot write {self.path}: {exc}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if getattr(self, "_empty", False):
            return []
        with self._lock:
            cur = self._db.execute(sql, args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    # -------------------------------------------------------------------------------- devices, boots

    def _device_id(self, db: sqlite3.Connection, device: str, now: float, create: bool = True) -> int | None:
        row = db.execute("SELECT id FROM devices WHERE name = ?", (str(device),)).fetchone()
        if row:
            return int(row[0])
        if not create:
            return None
        cur = db.execute("INSERT INTO devices (name, first_seen, last_seen) VALUES (?, ?, ?)", (str(device), now, now))
        return int(cur.lastrowid)

    def _lookup_device(self, device: str) -> int | None:
        rows = self._query("SELECT id FROM devices WHERE name = ?", (str(device),))
        return int(rows[0]["id"]) if rows else None

    def add_device(self, name: str, board: str | None = None, board_id: int | None = None,
                   firmware: str | None = None, seen_at: float | None = None) -> int:
        """Create or update a device (name: its URL or serial port/number); returns its row id.

        Known fields given as None keep their stored value; ``last_seen`` moves to ``seen_at``.
        """
        now = time.time() if seen_at is None else float(seen_at)
        with self._tx() as db:
            dev = self._device_id(db, name, now)
            db.execute("UPDATE devices SET board = coalesce(?, board), board_id = coalesce(?, board_id), "
                       "firmware = coalesce(?, firmware), last_seen = max(last_seen, ?) WHERE id = ?",
                       (board, board_id, firmware, now, dev))
            return int(dev)  # type: ignore[arg-type]

    @staticmethod
    def _boot(db: sqlite3.Connection, device_id: int, boot_id: int, now: float) -> None:
        db.execute("INSERT OR IGNORE INTO boots (device_id, boot_id, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                   (device_id, boot_id, now, now))

    # -------------------------------------------------------------------------------- profiles

    def add_profile(self, profile: Any, channel_names: Sequence[str] | None = None, store_blob: bool = True,
                    added_at: float | None = None) -> int:
        """Store a ``tinydrift.Profile`` (or a blob): id, window, channels, names, thresholds, rate, blob.

        Idempotent; a stored profile's names are replaced only by non-empty ones. Returns the profile id.
        """
        from tinydrift.core.profile import Profile

        if isinstance(profile, (bytes, bytearray, memoryview)):
            profile = Profile.from_bytes(bytes(profile))
        names = list(channel_names) if channel_names else (profile.channel_names or None)
        blob = profile.to_bytes() if store_blob else None
        return self.note_profile(
            profile.profile_id, window=profile.window, n_channels=profile.n_channels, channel_names=names,
            instant=threshold_value(profile.instant_q8), cusum_k=threshold_value(profile.cusum_k_q8),
            cusum_h=threshold_value(profile.cusum_h_q8), false_alarm_rate=profile.false_alarm_rate,
            created_unix=profile.created_unix, blob=blob, added_at=added_at,
        )

    def note_profile(self, profile_id: int, *, window: int | None = None, n_channels: int | None = None,
                     channel_names: Sequence[str] | None = None, instant: float | None = None,
                     cusum_k: float | None = None, cusum_h: float | None = None,
                     false_alarm_rate: float | None = None, created_unix: int | None = None,
                     blob: bytes | None = None, added_at: float | None = None) -> int:
        """Record what is known about a profile (e.g. only id, window and channels from INFO).

        Thresholds are in score units (None: disabled or unknown). Fields given as None keep
        their stored value.
        """
        now = time.time() if added_at is None else float(added_at)
        names = json.dumps([str(n) for n in channel_names]) if channel_names else None
        with self._tx() as db:
            db.execute(
                "INSERT INTO profiles (profile_id, window, n_channels, channel_names, instant, cusum_k, cusum_h, "
                "false_alarm_rate, created_unix, blob, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (profile_id) DO UPDATE SET window = coalesce(excluded.window, window), "
                "n_channels = coalesce(excluded.n_channels, n_channels), "
                "channel_names = coalesce(excluded.channel_names, channel_names), "
                "instant = coalesce(excluded.instant, instant), cusum_k = coalesce(excluded.cusum_k, cusum_k), "
                "cusum_h = coalesce(excluded.cusum_h, cusum_h), "
                "false_alarm_rate = coalesce(excluded.false_alarm_rate, false_alarm_rate), "
                "created_unix = coalesce(excluded.created_unix, created_unix), blob = coalesce(excluded.blob, blob)",
                (int(profile_id), window, n_channels, names, instant, cusum_k, cusum_h, false_alarm_rate,
                 created_unix, None if blob is None else bytes(blob), now),
            )
        return int(profile_id)

    # -------------------------------------------------------------------------------- records

    def insert_record(self, device: str, record: Any, received_at: float | None = None) -> bool:
        """Store one telemetry record; True if it was new, False if (device, boot, seq) was already stored."""
        return self.insert_records(device, [record], received_at) == 1

    def insert_records(self, device: str, records: Iterable[Any], received_at: float | None = None) -> int:
        """Store a batch of records in one transaction; returns how many were new.

        Duplicates (same device, boot_id, seq) are ignored, so replays are harmless. Any error
        in the batch (a malformed record, an exception raised while iterating, Ctrl-C) rolls the
        whole batch back.
        """
        now = time.time() if received_at is None else float(received_at)
        new = 0
        with self._tx() as db:
            dev = self._device_id(db, device, now)
            boots_seen: dict[int, list[Any]] = {}
            for rec in records:
                row = record_row(rec)
                boot_id, seq = row["boot_id"], row["seq"]
                if boot_id not in boots_seen:
                    self._boot(db, dev, boot_id, now)  # type: ignore[arg-type]
                    boots_seen[boot_id] = [None, None, None]  # min seq, max seq, started estimate
                cur = db.execute(
                    "INSERT OR IGNORE INTO records (device_id, boot_id, seq, profile_id, window_index, uptime_ms, "
                    "score, dist, recon, cusum, trigger, alarm, nearest, top_channel, stuck_mask, saturated_mask, "
                    "missing_mask, n_embeddings, n_channels, received_at, replayed, "
                    f"{', '.join(OUTPUT_FIELDS)}) "
                    f"VALUES ({', '.join(['?'] * (21 + len(OUTPUT_FIELDS)))})",
                    (dev, boot_id, seq, row["profile_id"], row["window"], row["uptime_ms"], row["score"], row["dist"],
                     row["recon"], row["cusum"], row["trigger"], row["alarm"], row["nearest"], row["top_channel"],
                     row["stuck_mask"], row["saturated_mask"], row["missing_mask"], row["n_embeddings"],
                     row["n_channels"], now, row["replayed"], *(row[name] for name in OUTPUT_FIELDS)),
                )
                if cur.rowcount != 1:
                    continue
                new += 1
                rid = cur.lastrowid
                shrink_gap(db, dev, boot_id, seq)  # type: ignore[arg-type]
                db.executemany(
                    "INSERT INTO channel_values (record_id, channel, mean, std, z_mean, z_std, n_missing, "
                    "n_saturated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(rid, c, *vals) for c, vals in enumerate(zip(*(row[f] for f in CHANNEL_FIELDS)))],
                )
                for bit, kind in TRIGGER_KINDS:
                    if row["trigger"] & bit:
                        if kind == "health":
                            mask = row["stuck_mask"] | row["saturated_mask"] | row["missing_mask"]
                        elif kind in ("concept", "occupancy"):
                            mask = 0  # the model's labels or the mix of windows, not a channel
                        else:
                            mask = 1 << row["top_channel"] if row["top_channel"] < 16 else 0
                        db.execute("INSERT INTO alarms (record_id, kind, channel_mask) VALUES (?, ?, ?)",
                                   (rid, kind, mask))
                span = boots_seen[boot_id]
                span[0] = seq if span[0] is None else min(span[0], seq)
                span[1] = seq if span[1] is None else max(span[1], seq)
                if not row["replayed"] and span[2] is None:
                    span[2] = now - row["uptime_ms"] / 1000.0
            if new:
                db.execute("UPDATE devices SET last_seen = max(last_seen, ?) WHERE id = ?", (now, dev))
                for boot_id, (lo, hi, started) in boots_seen.items():
                    if lo is None:
                        continue
                    db.execute(
                        "UPDATE boots SET first_seq = min(coalesce(first_seq, ?), ?), "
                        "last_seq = max(coalesce(last_seq, ?), ?), started_at = coalesce(started_at, ?), "
                        "last_seen = max(last_seen, ?) WHERE device_id = ? AND boot_id = ?",
                        (lo, lo, hi, hi, started, now, dev, boot_id),
                    )
        return new


    # -------------------------------------------------------------------------------- gaps

    def missing_ranges(self, device: str, boot_id: int, next_seq: int, start: int = 0,
                       include_lost: bool = False) -> list[tuple[int, int]]:
        """Inclusive seq ranges in [start, next_seq) of this boot that are not stored.

        ``next_seq`` is the device's next telemetry seq (INFO). Ranges recorded as lost for good (gap rows
        with a final reason, ``record_gap``) are left out unless ``include_lost``; 'not received' rows are not.
        """
        if next_seq <= start:
            return []
        dev = self._lookup_device(device)
        if dev is None:
            return [(start, next_seq - 1)]
        args = (dev, int(boot_id), int(start), int(next_seq))
        holes = [(int(a), int(b)) for a, b in (
            (r["lo"], r["hi"]) for r in self._query(
                "SELECT seq + 1 AS lo, nxt - 1 AS hi FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS nxt "
                "FROM records WHERE device_id = ? AND boot_id = ? AND seq >= ? AND seq < ?) WHERE nxt > seq + 1",
                args))]
        bounds = self._query("SELECT min(seq) AS lo, max(seq) AS hi FROM records "
                             "WHERE device_id = ? AND boot_id = ? AND seq >= ? AND seq < ?", args)
        lo, hi = (bounds[0]["lo"], bounds[0]["hi"]) if bounds else (None, None)
        if lo is None:
            holes = [(start, next_seq - 1)]
        else:
            if lo > start:
                holes.append((start, lo - 1))
            if hi < next_seq - 1:
                holes.append((hi + 1, next_seq - 1))
        if not include_lost:
            lost = [(r["first_missing_seq"], r["last_missing_seq"]) for r in self._query(
                "SELECT first_missing_seq, last_missing_seq FROM gaps WHERE device_id = ? AND boot_id = ? "
                "AND reason != ?", (dev, int(boot_id), GAP_UNRECEIVED))]
            holes = subtract_ranges(holes, lost)
        return sorted(holes)

    def record_gap(self, device: str, boot_id: int, first_missing_seq: int, last_missing_seq: int,
                   reason: str = GAP_OVERWRITTEN, detected_at: float | None = None) -> int:
        """Put the unstored seqs of first..last (inclusive) of a boot into gap rows; returns how many seqs this
        newly covers (or moved from 'not received' to a final reason). Rules: ``tinydrift.telemetry.gaps``."""
        if not 0 <= first_missing_seq <= last_missing_seq < 2**32:
            raise StoreError(f"bad gap {first_missing_seq}..{last_missing_seq}: need 0 <= first <= last < 2^32")
        now = time.time() if detected_at is None else float(detected_at)
        with self._tx() as db:
            dev = self._device_id(db, device, now)
            self._boot(db, dev, int(boot_id), now)  # type: ignore[arg-type]
            return record_gap_rows(db, dev, int(boot_id), int(first_missing_seq),  # type: ignore[arg-type]
                                   int(last_missing_seq), str(reason), now)

    def gap_rows(self, device: str, boot_id: int) -> list[tuple[int, int, str]]:
        """(first, last, reason) of a boot's gap rows, in seq order."""
        return [(int(r["first_missing_seq"]), int(r["last_missing_seq"]), str(r["reason"]))
                for r in self.gaps(device, boot_id)]

    def stored_seqs(self, device: str, boot_id: int) -> list[int]:
        """Every stored seq of a boot, ascending."""
        return [int(r["seq"]) for r in self._query(
            "SELECT r.seq FROM records r JOIN devices d ON d.id = r.device_id WHERE d.name = ? AND r.boot_id = ? "
            "ORDER BY r.seq", (str(device), int(boot_id)))]

    def alarm_state(self, device: str, boot_id: int, seq: int) -> dict[str, Any] | None:
        """seq, alarm, profile_id and window of the stored record with the largest seq <= ``seq`` (None: none)."""
        dev = self._lookup_device(device)
        if dev is None:
            return None
        rows = self._query("SELECT seq, alarm, profile_id, window_index AS window FROM records WHERE device_id = ? "
                           "AND boot_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1", (dev, int(boot_id), int(seq)))
        return rows[0] if rows else None

    # -------------------------------------------------------------------------------- reading

    def count_records(self) -> int:
        rows = self._query("SELECT count(*) AS n FROM records")
        return int(rows[0]["n"]) if rows else 0

    def devices(self) -> list[dict[str, Any]]:
        return self._query("SELECT id, name, board, board_id, firmware, first_seen, last_seen FROM devices ORDER BY id")

    def boots(self, device: str | None = None) -> list[dict[str, Any]]:
        """Boots with their device name, seq span and record count."""
        where, args = ("WHERE d.name = ?", (device,)) if device is not None else ("", ())
        return self._query(
            "SELECT d.name AS device, b.boot_id, b.first_seq, b.last_seq, b.started_at, b.first_seen, b.last_seen, "
            "(SELECT count(*) FROM records r WHERE r.device_id = b.device_id AND r.boot_id = b.boot_id) AS records "
            f"FROM boots b JOIN devices d ON d.id = b.device_id {where} ORDER BY d.id, b.first_seen, b.id", args)

    def profiles(self, with_blob: bool = False) -> list[dict[str, Any]]:
        rows = self._query("SELECT profile_id, window, n_channels, channel_names, instant, cusum_k, cusum_h, "
                           "false_alarm_rate, created_unix, added_at" + (", blob" if with_blob else "") +
                           " FROM profiles ORDER BY added_at, profile_id")
        for r in rows:
            r["channel_names"] = json.loads(r["channel_names"]) if r["channel_names"] else None
        return rows

    def profile(self, profile_id: int) -> dict[str, Any] | None:
        rows = [r for r in self.profiles() if r["profile_id"] == int(profile_id)]
        return rows[0] if rows else None

    def gaps(self, device: str | None = None, boot_id: int | None = None) -> list[dict[str, Any]]:
        cond, args = [], []
        if device is not None:
            cond.append("d.name = ?")
            args.append(device)
        if boot_id is not None:
            cond.append("g.boot_id = ?")
            args.append(int(boot_id))
        where = ("WHERE " + " AND ".join(cond)) if cond else ""
        return self._query(
            "SELECT d.name AS device, g.boot_id, g.first_missing_seq, g.last_missing_seq, "
            "g.last_missing_seq - g.first_missing_seq + 1 AS n_lost, g.detected_at, g.reason "
            f"FROM gaps g JOIN devices d ON d.id = g.device_id {where} "
            "ORDER BY d.id, g.boot_id, g.first_missing_seq", args)

    def alarms(self, device: str | None = None) -> list[dict[str, Any]]:
        """Trigger events: one row per record and kind, with the record's identity and channel names."""
        where, args = ("WHERE d.name = ?", (device,)) if device is not None else ("", ())
        rows = self._query(
            "SELECT d.name AS device, r.boot_id, r.seq, r.profile_id, r.window_index AS window, r.uptime_ms, "
            "a.kind, a.channel_mask, p.channel_names, r.n_channels FROM alarms a JOIN records r ON r.id = a.record_id "
            "JOIN devices d ON d.id = r.device_id LEFT JOIN profiles p ON p.profile_id = r.profile_id "
            f"{where} ORDER BY d.id, r.boot_id, r.seq, a.kind", args)
        for r in rows:
            names = channel_labels(json.loads(r.pop("channel_names")) if r["channel_names"] else None,
                                   r.pop("n_channels"))
            r["channels"] = mask_channels(r["channel_mask"], names)
        return rows

    def iter_records(self, device: str | None = None, boot_id: int | None = None,
                     chunk: int = 2000, seq: int | None = None) -> Iterator[dict[str, Any]]:
        """Stored records in (device, boot, seq) order as dicts named like TelemetryRecord fields
        (``window``, per-channel values as lists), plus device, board, n_channels, received_at."""
        if getattr(self, "_empty", False):
            return
        cond, args = [], []
        if device is not None:
            cond.append("d.name = ?")
            args.append(device)
        if boot_id is not None:
            cond.append("r.boot_id = ?")
            args.append(int(boot_id))
        if seq is not None:
            cond.append("r.seq = ?")
            args.append(int(seq))
        where = ("WHERE " + " AND ".join(cond)) if cond else ""
        scalar_cols = ", ".join(self._col(c, "r.") for c in RECORD_SCALARS)
        sql = (f"SELECT r.id, d.name, d.board, r.boot_id, r.seq, r.profile_id, r.window_index, r.uptime_ms, "
               f"r.received_at, r.replayed, r.n_channels, {scalar_cols}, "
               f"cv.channel, cv.mean, cv.std, cv.z_mean, cv.z_std, cv.n_missing, cv.n_saturated "
               f"FROM records r JOIN devices d ON d.id = r.device_id "
               f"LEFT JOIN channel_values cv ON cv.record_id = r.id {where} "
               f"ORDER BY r.device_id, r.boot_id, r.seq, cv.channel")
        with self._lock:
            cur = self._db.execute(sql, args)
            current: dict[str, Any] | None = None
            current_id = None
            while True:
                batch = cur.fetchmany(chunk)
                if not batch:
                    break
                for row in batch:
                    rid = row[0]
                    if rid != current_id:
                        if current is not None:
                            yield current
                        current_id = rid
                        current = {
                            "device": row[1], "board": row[2], "boot_id": row[3], "seq": row[4],
                            "profile_id": row[5], "window": row[6], "uptime_ms": row[7], "received_at": row[8],
                            "replayed": bool(row[9]), "n_channels": row[10],
                        }
                        for i, name in enumerate(RECORD_SCALARS):
                            current[name] = row[11 + i]
                        current["alarm"] = bool(current["alarm"])
                        for name in CHANNEL_FIELDS:
                            current[name] = []
                    if row[11 + len(RECORD_SCALARS)] is not None:
                        for i, name in enumerate(CHANNEL_FIELDS):
                            current[name].append(row[12 + len(RECORD_SCALARS) + i])  # type: ignore[index]
            if current is not None:
                yield current

    def telemetry_records(self, device: str | None = None, boot_id: int | None = None,
                          seq: int | None = None) -> list[Any]:
        """Stored records as ``tinydrift.device.records.TelemetryRecord`` objects (seq order per boot)."""
        from tinydrift.device.records import TelemetryRecord

        out = []
        for r in self.iter_records(device, boot_id, seq=seq):
            out.append(TelemetryRecord(
                seq=r["seq"], boot_id=r["boot_id"], profile_id=r["profile_id"], window=r["window"],
                uptime_ms=r["uptime_ms"], score=r["score"], dist=r["dist"], recon=r["recon"], cusum=r["cusum"],
                trigger=r["trigger"], alarm=r["alarm"], nearest=r["nearest"], top_channel=r["top_channel"],
                stuck_mask=r["stuck_mask"], saturated_mask=r["saturated_mask"], missing_mask=r["missing_mask"],
                n_embeddings=r["n_embeddings"], **{f: tuple(r[f]) for f in CHANNEL_FIELDS}, replayed=r["replayed"],
                **{f: r[f] for f in OUTPUT_FIELDS},
            ))
        return out

    def segments(self) -> list[dict[str, Any]]:
        """Runs of records of one (device, boot, profile): what the report draws one section for."""
        return self._query(
            "SELECT d.name AS device, d.board, r.device_id, r.boot_id, r.profile_id, count(*) AS records, "
            "min(r.seq) AS first_seq, max(r.seq) AS last_seq, min(r.window_index) AS first_window, "
            "max(r.window_index) AS last_window, max(r.n_channels) AS n_channels, min(r.received_at) AS first_received "
            "FROM records r JOIN devices d ON d.id = r.device_id "
            "GROUP BY r.device_id, r.boot_id, r.profile_id ORDER BY r.device_id, first_received, r.boot_id, first_seq")

    def segment_arrays(self, device_id: int, boot_id: int, profile_id: int) -> dict[str, np.ndarray]:
        """Columns of one segment's records as numpy arrays (per-channel ones as (n, C)), seq order."""
        cols = ("id", "seq", "window_index", "uptime_ms", "received_at", "replayed") + RECORD_SCALARS + ("n_channels",)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(self._col(c) for c in cols)} FROM records WHERE device_id = ? AND boot_id = ? AND profile_id = ? "
                "ORDER BY seq", (device_id, boot_id, profile_id)).fetchall()
            out: dict[str, np.ndarray] = {}
            table = np.array(rows, dtype=np.float64).reshape(len(rows), len(cols))
            for i, c in enumerate(cols):
                out[c] = table[:, i]
            for c in cols:
                if c not in ("received_at", "score", "dist", "recon", "cusum") + OUTPUT_REALS:
                    out[c] = out[c].astype(np.int64)
            n = len(rows)
            c_max = int(out["n_channels"].max()) if n else 0
            for name in CHANNEL_FIELDS:
                out[name] = np.full((n, c_max), np.nan)
            if n and c_max:
                index = {int(rid): i for i, rid in enumerate(out["id"])}
                cv = self._db.execute(
                    "SELECT cv.record_id, cv.channel, cv.mean, cv.std, cv.z_mean, cv.z_std, cv.n_missing, "
                    "cv.n_saturated FROM channel_values cv JOIN records r ON r.id = cv.record_id "
                    "WHERE r.device_id = ? AND r.boot_id = ? AND r.profile_id = ?",
                    (device_id, boot_id, profile_id)).fetchall()
                arr = np.array(cv, dtype=np.float64).reshape(len(cv), 8)
                ri = np.array([index[int(r)] for r in arr[:, 0]], dtype=np.int64)
                ci = arr[:, 1].astype(np.int64)
                for j, name in enumerate(CHANNEL_FIELDS):
                    out[name][ri, ci] = arr[:, 2 + j]
        return out

    # -------------------------------------------------------------------------------- export

    def export_csv(self, fileobj: IO[str]) -> int:
        """Write every record as one CSV row (tinydrift.telemetry.export); returns the row count."""
        from tinydrift.telemetry.export import export_csv

        return export_csv(self, fileobj)

    def export_json(self, fileobj: IO[str]) -> int:
        """Write one JSON object of the whole store (tinydrift.telemetry.export); returns the record count."""
        from tinydrift.telemetry.export import export_json

        return export_json(self, fileobj)


__all__ = ["OUTPUT_FIELDS", "SCHEMA_VERSION", "TABLES", "StoreError", "TelemetryStore", "channel_labels", "mask_channels",
           "subtract_ranges", "trigger_kinds"]
