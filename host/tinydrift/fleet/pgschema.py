"""The fleet's PostgreSQL schema: numbered migrations, applied in order, each in one transaction.

``migrate(conn)`` brings a database to ``SCHEMA_VERSION``: it creates ``td_schema`` (one row per
applied migration), takes an advisory lock so two ingest workers starting together apply each
step once, and refuses a database whose version is newer than this code. docs/fleet.md
describes the tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tinydrift.core.errors import TinyDriftError

# Any fixed 64-bit number: the advisory lock that serializes migrations between workers.
_LOCK = 0x74696E7964726966

_PER_CHANNEL = ("mean double precision[] NOT NULL, std double precision[] NOT NULL, "
                "z_mean double precision[] NOT NULL, z_std double precision[] NOT NULL, "
                "n_missing integer[] NOT NULL, n_saturated integer[] NOT NULL")

MIGRATIONS: list[tuple[str, list[str]]] = [
    ("devices, record keys, records partitioned by month, gaps, alarms, alarm onsets", [
        """CREATE TABLE devices (
            uid text PRIMARY KEY,
            board text, board_id integer, firmware text,
            gateway text,
            boot_id bigint, next_seq bigint, profile_id bigint,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now())""",
        # Each record identity once: the partitioned table's unique key must include `time`.
        """CREATE TABLE record_keys (
            device_uid text NOT NULL, boot_id bigint NOT NULL, seq bigint NOT NULL,
            PRIMARY KEY (device_uid, boot_id, seq))""",
        f"""CREATE TABLE records (
            device_uid text NOT NULL,
            boot_id bigint NOT NULL,
            seq bigint NOT NULL,
            time timestamptz NOT NULL,
            ingested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            gateway text NOT NULL,
            profile_id bigint NOT NULL,
            window_index integer NOT NULL,
            uptime_ms bigint NOT NULL,
            score double precision NOT NULL, dist double precision NOT NULL,
            recon double precision NOT NULL, cusum double precision NOT NULL,
            trigger integer NOT NULL, alarm boolean NOT NULL,
            nearest integer NOT NULL, top_channel integer NOT NULL,
            stuck_mask integer NOT NULL, saturated_mask integer NOT NULL, missing_mask integer NOT NULL,
            n_embeddings integer NOT NULL, n_channels integer NOT NULL, replayed boolean NOT NULL,
            n_inferences integer NOT NULL, top_class integer NOT NULL, ddm_state integer NOT NULL,
            mean_confidence double precision NOT NULL, estimated_accuracy double precision NOT NULL,
            prior_shift double precision NOT NULL, n_labels integer NOT NULL, n_correct integer NOT NULL,
            accuracy double precision NOT NULL,
            {_PER_CHANNEL},
            PRIMARY KEY (device_uid, boot_id, seq, time)
        ) PARTITION BY RANGE (time)""",
        "CREATE INDEX records_alarm ON records (device_uid, boot_id, seq) WHERE alarm",
        "CREATE INDEX records_time ON records (time)",
        """CREATE TABLE gaps (
            device_uid text NOT NULL, boot_id bigint NOT NULL,
            first_missing_seq bigint NOT NULL, last_missing_seq bigint NOT NULL,
            detected_at timestamptz NOT NULL, reason text NOT NULL,
            PRIMARY KEY (device_uid, boot_id, first_missing_seq, last_missing_seq))""",
        """CREATE TABLE alarms (
            device_uid text NOT NULL, boot_id bigint NOT NULL, seq bigint NOT NULL,
            time timestamptz NOT NULL,
            kind text NOT NULL CHECK (kind IN ('instant', 'cusum', 'health', 'concept', 'occupancy', 'feature')),
            channel_mask integer NOT NULL,
            PRIMARY KEY (device_uid, boot_id, seq, kind))""",
        "CREATE INDEX alarms_time ON alarms (time)",
        """CREATE TABLE alarm_onsets (
            device_uid text NOT NULL, boot_id bigint NOT NULL, seq bigint NOT NULL,
            time timestamptz NOT NULL, event jsonb NOT NULL,
            PRIMARY KEY (device_uid, boot_id, seq))""",
    ]),
    ("quarantine: the messages the ingest side could not decode, each (topic, payload) once", [
        # digest = SHA-256 of topic, a NUL byte and the whole payload: a redelivered message is the same row.
        """CREATE TABLE quarantine (
            digest bytea PRIMARY KEY,
            topic text NOT NULL,
            payload bytea NOT NULL,
            payload_size integer NOT NULL,
            error text NOT NULL,
            worker text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX quarantine_received ON quarantine (received_at)",
    ]),
]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(TinyDriftError):
    """The database's fleet schema is missing, newer than this code, or could not be migrated."""


def current_version(conn: Any) -> int:
    """The highest applied migration (0 on an empty database)."""
    row = conn.execute("SELECT to_regclass('td_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM td_schema").fetchone()[0])


def month_partition(when: dt.datetime) -> tuple[str, str, str]:
    """Name and bounds (ISO dates, UTC) of the month partition of ``records`` holding ``when``."""
    start = dt.date(when.year, when.month, 1)
    end = dt.date(when.year + (when.month == 12), when.month % 12 + 1, 1)
    return f"records_{start:%Y_%m}", start.isoformat(), end.isoformat()


def ensure_partition(conn: Any, when: dt.datetime) -> str:
    """Create the month partition of ``records`` for ``when`` unless it exists (own transaction)."""
    name, lo, hi = month_partition(when)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF records "
                     f"FOR VALUES FROM ('{lo} 00:00:00+00') TO ('{hi} 00:00:00+00')")
    return name


def migrate(conn: Any) -> int:
    """Apply the missing migrations (each in one transaction); returns the number applied."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS td_schema (version integer PRIMARY KEY, description text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
    have = current_version(conn)
    if have > SCHEMA_VERSION:
        raise SchemaError(f"database has fleet schema version {have}, newer than the {SCHEMA_VERSION} "
                          "this tinydrift understands")
    applied = 0
    for version, (description, statements) in enumerate(MIGRATIONS, start=1):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            if conn.execute("SELECT 1 FROM td_schema WHERE version = %s", (version,)).fetchone():
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO td_schema (version, description) VALUES (%s, %s)", (version, description))
            applied += 1
    now = dt.datetime.now(dt.timezone.utc)
    ensure_partition(conn, now)
    ensure_partition(conn, now + dt.timedelta(days=32))
    return applied
