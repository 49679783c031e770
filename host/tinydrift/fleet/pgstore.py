"""The fleet's PostgreSQL store: idempotent batch writes for the ingest worker, reads for report and export.

A record's identity is (device, boot_id, seq). ``record_keys`` (not partitioned) holds each
identity once; a batch inserts its keys with ``ON CONFLICT DO NOTHING`` and only the records
whose key was new go into the month-partitioned ``records`` table, in the same transaction.
The partitioned table cannot carry that uniqueness itself, because a unique key of a
partitioned table must include the partition key (``time``), and a record fetched again from a
device's ring after a gateway crash arrives with a new gateway time.

A message the ingest side cannot decode goes into ``quarantine`` in the same transaction as
the rest of its batch (topic, the first ``QUARANTINE_MAX_BYTES`` of the payload, its size, the
error), keyed by a SHA-256 of topic and payload so a redelivery does not add it twice.
"""

from __future__ import annotations

import datetime as dt
import re
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tinydrift.core.errors import TinyDriftError
from tinydrift.core.triggers import TRIGGER_NAMES
from tinydrift.fleet import pgschema
from tinydrift.fleet.payload import Message

RECORD_COLUMNS = (
    "device_uid", "boot_id", "seq", "time", "gateway", "profile_id", "window_index", "uptime_ms", "score", "dist",
    "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask", "saturated_mask", "missing_mask",
    "n_embeddings", "n_channels", "replayed", "n_inferences", "top_class", "ddm_state", "mean_confidence",
    "estimated_accuracy", "prior_shift", "n_labels", "n_correct", "accuracy", "mean", "std", "z_mean", "z_std",
    "n_missing", "n_saturated")


QUARANTINE_MAX_BYTES = 4096  # payload bytes a quarantine row keeps (payload_size has the whole size)


@dataclass(frozen=True)
class Quarantined:
    """A message the ingest side could not decode: kept for an operator to inspect."""

    topic: str
    payload: bytes
    error: str

    def row(self, worker: str) -> tuple[bytes, str, bytes, int, str, str]:
        """The quarantine table's values (digest, topic, payload prefix, size, error, worker)."""
        topic = self.topic.replace("\x00", "\\0")
        digest = hashlib.sha256(self.topic.encode("utf-8", "surrogateescape") + b"\x00" + self.payload).digest()
        return (digest, topic, self.payload[:QUARANTINE_MAX_BYTES], len(self.payload),
                self.error.replace("\x00", "\\0")[:1000], worker)


@dataclass(frozen=True)
class QuarantineRow:
    """One row of the quarantine table, as ``quarantined`` reads it."""

    received_at: dt.datetime
    topic: str
    payload: bytes
    payload_size: int
    error: str
    worker: str
    digest: bytes  # the row's key (SHA-256 of topic, NUL, whole payload)


def quarantined(conn: Any, limit: int | None = None) -> list[QuarantineRow]:
    """The quarantined messages, oldest first (the newest ``limit`` of them when given)."""
    if conn.execute("SELECT to_regclass('quarantine') IS NULL").fetchone()[0]:
        raise FleetDbError(f"this fleet database has schema version {pgschema.current_version(conn)}, from before "
                           "the quarantine: start `tinydrift ingest` on it once to migrate it")
    sql = "SELECT received_at, topic, payload, payload_size, error, worker, digest FROM quarantine"
    if limit is None:
        rows = conn.execute(sql + " ORDER BY received_at, digest").fetchall()
    else:
        rows = conn.execute(sql + " ORDER BY received_at DESC, digest DESC LIMIT %s", (limit,)).fetchall()[::-1]
    return [QuarantineRow(t, topic, bytes(p), int(n), err, w, bytes(d)) for t, topic, p, n, err, w, d in rows]


def delete_quarantined(conn: Any, rows: Sequence[QuarantineRow]) -> int:
    """Delete exactly these quarantine rows (by key) in one transaction; the number deleted."""
    digests = [r.digest for r in rows]
    if not digests:
        return 0
    with conn.transaction():
        return int(conn.execute("DELETE FROM quarantine WHERE digest = ANY(%s)", (digests,)).rowcount)


class FleetDbError(TinyDriftError):
    """The PostgreSQL database cannot be reached or used."""


class FleetDbUnreachable(FleetDbError):
    """No connection to the PostgreSQL server (down, restarting, wrong address)."""


def connect(url: str, *, migrate: bool = True) -> Any:
    """An autocommit psycopg connection to ``url``, its fleet schema brought up to date (or checked)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the environment
        raise FleetDbError("PostgreSQL needs psycopg: pip install 'tinydrift[fleet]'") from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        raise FleetDbUnreachable(f"cannot connect to {redact(url)}: {connect_reason(exc)}") from None
    try:
        if migrate:
            pgschema.migrate(conn)
        else:
            have = pgschema.current_version(conn)
            if have == 0:
                raise FleetDbError(f"{redact(url)} has no tinydrift fleet tables (run `tinydrift ingest` first)")
            if have > pgschema.SCHEMA_VERSION:
                raise FleetDbError(f"{redact(url)} has fleet schema version {have}, newer than the "
                                   f"{pgschema.SCHEMA_VERSION} this tinydrift understands")
    except BaseException:
        conn.close()
        raise
    return conn


def redact(url: str) -> str:
    """``url`` without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_PSYCOPG_PREFIX = re.compile(r'^connection failed: (connection to server (at|on socket) "[^"]*"(, port \d+)? failed: )?')


def connect_reason(exc: BaseException) -> str:
    """Why psycopg could not connect, without its prefixes: 'connection failed: connection to server at "H", port P
    failed: Connection refused' is 'Connection refused' (the URL is named by the caller)."""
    text = one_line(exc)
    return _PSYCOPG_PREFIX.sub("", text) or text


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


@dataclass
class BatchResult:
    """What one batch changed: new records, the records that were already stored, new gaps, new alarm onsets."""

    records_new: int = 0
    records_duplicate: int = 0
    gaps_new: int = 0
    quarantined_new: int = 0
    onsets_new: list[dict[str, Any]] = field(default_factory=list)


def _alarm_rows(device: str, t: dt.datetime, r: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for bit, kind in TRIGGER_NAMES:
        if r["trigger"] & bit:
            if kind == "health":
                mask = r["stuck_mask"] | r["saturated_mask"] | r["missing_mask"]
            elif kind in ("instant", "cusum", "feature"):
                mask = 1 << r["top_channel"]
            else:
                mask = 0
            rows.append((device, r["boot_id"], r["seq"], t, kind, mask))
    return rows


class FleetWriter:
    """Writes batches of decoded messages, each batch in one transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._months: set[tuple[int, int]] = set()
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS rec_in (LIKE records INCLUDING DEFAULTS)")

    def write(self, messages: Sequence[Message], quarantine: Sequence[Quarantined] = (),
              worker: str = "") -> BatchResult:
        """Store a batch idempotently, and the messages that failed to decode in ``quarantine`` (``worker``
        names who took them); raises psycopg errors (the caller retries the whole batch)."""
        res = BatchResult()
        records: dict[tuple[str, int, int], tuple[Any, ...]] = {}
        alarm_rows: list[tuple[Any, ...]] = []
        gaps, onsets, devices = [], [], {}
        for m in messages:
            t = _utc(m.time)
            dev = devices.setdefault(m.device, {"gateway": m.gateway, "last_seen": t, "info": None})
            if t >= dev["last_seen"]:
                dev["last_seen"], dev["gateway"] = t, m.gateway
            if m.kind == "record":
                r = m.body
                key = (m.device, r["boot_id"], r["seq"])
                if key in records:
                    res.records_duplicate += 1
                    continue
                records[key] = (m.device, r["boot_id"], r["seq"], t, m.gateway, r["profile_id"], r["window"],
                                r["uptime_ms"], r["score"], r["dist"], r["recon"], r["cusum"], r["trigger"],
                                r["alarm"], r["nearest"], r["top_channel"], r["stuck_mask"], r["saturated_mask"],
                                r["missing_mask"], r["n_embeddings"], len(r["mean"]), r["replayed"],
                                r["n_inferences"], r["top_class"], r["ddm_state"], r["mean_confidence"],
                                r["estimated_accuracy"], r["prior_shift"], r["n_labels"], r["n_correct"],
                                r["accuracy"], r["mean"], r["std"], r["z_mean"], r["z_std"], r["n_missing"],
                                r["n_saturated"])
                alarm_rows += _alarm_rows(m.device, t, r)
            elif m.kind == "gap":
                b = m.body
                gaps.append((m.device, b["boot_id"], b["first_missing_seq"], b["last_missing_seq"], t, b["reason"]))
            elif m.kind == "alarm":
                ev = m.body["event"]
                onsets.append((m.device, ev["boot_id"], ev["seq"], t, ev))
            elif m.kind == "info":
                dev["info"] = m.body["info"]
        for t in {row[3] for row in records.values()}:
            if (t.year, t.month) not in self._months:
                pgschema.ensure_partition(self.conn, t)
                self._months.add((t.year, t.month))
        from psycopg.types.json import Jsonb

        with self.conn.transaction():
            for uid, d in sorted(devices.items()):
                info = d["info"] or {}
                self.conn.execute(
                    "INSERT INTO devices (uid, gateway, first_seen, last_seen, board, board_id, firmware, boot_id, "
                    "next_seq, profile_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (uid) DO UPDATE SET "
                    "gateway = excluded.gateway, last_seen = greatest(devices.last_seen, excluded.last_seen), "
                    "board = coalesce(excluded.board, devices.board), "
                    "board_id = coalesce(excluded.board_id, devices.board_id), "
                    "firmware = coalesce(excluded.firmware, devices.firmware), "
                    "boot_id = coalesce(excluded.boot_id, devices.boot_id), "
                    "next_seq = coalesce(excluded.next_seq, devices.next_seq), "
                    "profile_id = coalesce(excluded.profile_id, devices.profile_id)",
                    (uid, d["gateway"], d["last_seen"], d["last_seen"], info.get("board"), info.get("board_id"),
                     info.get("firmware"), info.get("boot_id"), info.get("next_seq"), info.get("profile_id")))
            if records:
                with self.conn.cursor() as cur:
                    cur.execute("TRUNCATE rec_in")
                    with cur.copy(f"COPY rec_in ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                        for key in sorted(records):
                            copy.write_row(records[key])
                    cols = ", ".join(f"r.{c}" for c in RECORD_COLUMNS)
                    cur.execute(
                        "WITH new AS (INSERT INTO record_keys (device_uid, boot_id, seq) "
                        "SELECT device_uid, boot_id, seq FROM rec_in ORDER BY 1, 2, 3 "
                        "ON CONFLICT DO NOTHING RETURNING device_uid, boot_id, seq) "
                        f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) SELECT {cols} FROM rec_in r "
                        "JOIN new USING (device_uid, boot_id, seq)")
                    res.records_new = cur.rowcount
                    res.records_duplicate += len(records) - cur.rowcount
            if alarm_rows:
                with self.conn.cursor() as cur:
                    cur.executemany("INSERT INTO alarms (device_uid, boot_id, seq, time, kind, channel_mask) "
                                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", alarm_rows)
            if gaps:
                with self.conn.cursor() as cur:
                    for g in gaps:
                        cur.execute("INSERT INTO gaps (device_uid, boot_id, first_missing_seq, last_missing_seq, "
                                    "detected_at, reason) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", g)
                        res.gaps_new += cur.rowcount
            if quarantine:
                with self.conn.cursor() as cur:
                    for q in quarantine:
                        cur.execute("INSERT INTO quarantine (digest, topic, payload, payload_size, error, worker) "
                                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", q.row(worker))
                        res.quarantined_new += cur.rowcount
            for uid, boot, seq, t, ev in onsets:
                cur = self.conn.execute("INSERT INTO alarm_onsets (device_uid, boot_id, seq, time, event) "
                                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", (uid, boot, seq, t,
                                                                                              Jsonb(ev)))
                if cur.rowcount:
                    res.onsets_new.append({"device": uid, **ev})
        return res
