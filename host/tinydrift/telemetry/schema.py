"""The telemetry store's schema: SQL tables, version, column sets, and the checks a record passes.

docs/telemetry-store.md describes the tables; tinydrift.telemetry.store runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tinydrift.core.errors import TinyDriftError
from tinydrift.core.fixed import Q8, THRESHOLD_DISABLED
from tinydrift.core.triggers import TRIGGER_NAMES

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 5000
TRIGGER_KINDS = TRIGGER_NAMES

# Model-output columns (schema version 2; record version 2 telemetry), 0 without an outputs section.
OUTPUT_FIELDS = ("n_inferences", "top_class", "ddm_state", "mean_confidence", "estimated_accuracy", "prior_shift",
                 "n_labels", "n_correct", "accuracy")
OUTPUT_REALS = ("mean_confidence", "estimated_accuracy", "prior_shift", "accuracy")
RECORD_SCALARS = ("score", "dist", "recon", "cusum", "trigger", "alarm", "nearest", "top_channel", "stuck_mask",
                  "saturated_mask", "missing_mask", "n_embeddings") + OUTPUT_FIELDS
CHANNEL_FIELDS = ("mean", "std", "z_mean", "z_std", "n_missing", "n_saturated")
# CSV per-channel column order: the same as `tinydrift score --csv`.
CSV_CHANNEL_FIELDS = ("z_mean", "z_std", "mean", "std", "n_missing", "n_saturated")
CSV_SCALARS = ("device", "board", "boot_id", "seq", "profile_id", "window", "uptime_ms", "received_at", "replayed",
               "score", "dist", "recon", "cusum", "alarm", "trigger", "nearest", "top_channel", "stuck_mask",
               "saturated_mask", "missing_mask", "n_embeddings", "n_channels") + OUTPUT_FIELDS

SCHEMA_SQL = """
CREATE TABLE devices (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    board       TEXT,
    board_id    INTEGER,
    firmware    TEXT,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL
);
CREATE TABLE boots (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    boot_id     INTEGER NOT NULL,
    first_seq   INTEGER,
    last_seq    INTEGER,
    started_at  REAL,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    UNIQUE (device_id, boot_id)
);
CREATE TABLE profiles (
    profile_id       INTEGER PRIMARY KEY,
    window           INTEGER,
    n_channels       INTEGER,
    channel_names    TEXT,
    instant          REAL,
    cusum_k          REAL,
    cusum_h          REAL,
    false_alarm_rate REAL,
    created_unix     INTEGER,
    blob             BLOB,
    added_at         REAL NOT NULL
);
CREATE TABLE records (
    id             INTEGER PRIMARY KEY,
    device_id      INTEGER NOT NULL,
    boot_id        INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    profile_id     INTEGER NOT NULL,
    window_index   INTEGER NOT NULL,
    uptime_ms      INTEGER NOT NULL,
    score          REAL NOT NULL,
    dist           REAL NOT NULL,
    recon          REAL NOT NULL,
    cusum          REAL NOT NULL,
    trigger        INTEGER NOT NULL,
    alarm          INTEGER NOT NULL,
    nearest        INTEGER NOT NULL,
    top_channel    INTEGER NOT NULL,
    stuck_mask     INTEGER NOT NULL,
    saturated_mask INTEGER NOT NULL,
    missing_mask   INTEGER NOT NULL,
    n_embeddings   INTEGER NOT NULL,
    n_channels     INTEGER NOT NULL,
    received_at    REAL NOT NULL,
    replayed       INTEGER NOT NULL,
    n_inferences   INTEGER NOT NULL DEFAULT 0,
    top_class      INTEGER NOT NULL DEFAULT 0,
    ddm_state      INTEGER NOT NULL DEFAULT 0,
    mean_confidence REAL NOT NULL DEFAULT 0,
    estimated_accuracy REAL NOT NULL DEFAULT 0,
    prior_shift    REAL NOT NULL DEFAULT 0,
    n_labels       INTEGER NOT NULL DEFAULT 0,
    n_correct      INTEGER NOT NULL DEFAULT 0,
    accuracy       REAL NOT NULL DEFAULT 0,
    UNIQUE (device_id, boot_id, seq),
    FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id) ON DELETE CASCADE
);
CREATE INDEX records_alarm ON records(device_id, boot_id, seq) WHERE alarm != 0;
CREATE TABLE channel_values (
    record_id   INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    channel     INTEGER NOT NULL,
    mean        REAL NOT NULL,
    std         REAL NOT NULL,
    z_mean      REAL NOT NULL,
    z_std       REAL NOT NULL,
    n_missing   INTEGER NOT NULL,
    n_saturated INTEGER NOT NULL,
    PRIMARY KEY (record_id, channel)
) WITHOUT ROWID;
CREATE TABLE alarms (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('instant', 'cusum', 'health', 'concept', 'occupancy', 'feature')),
    channel_mask INTEGER NOT NULL,
    UNIQUE (record_id, kind)
);
CREATE TABLE gaps (
    id                INTEGER PRIMARY KEY,
    device_id         INTEGER NOT NULL,
    boot_id           INTEGER NOT NULL,
    first_missing_seq INTEGER NOT NULL,
    last_missing_seq  INTEGER NOT NULL,
    detected_at       REAL NOT NULL,
    reason            TEXT NOT NULL,
    CHECK (first_missing_seq <= last_missing_seq),
    UNIQUE (device_id, boot_id, first_missing_seq, last_missing_seq),
    FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id) ON DELETE CASCADE
);
"""

TABLES = ("devices", "boots", "profiles", "records", "channel_values", "alarms", "gaps")

# Version 1 -> 2: the model-output columns (added with their defaults) and the 'concept' alarm kind (the CHECK
# constraint of alarms cannot be altered in SQLite: the table is rebuilt, rows and ids kept).
MIGRATE_1_TO_2 = [
    f"ALTER TABLE records ADD COLUMN {name} {'REAL' if name in OUTPUT_REALS else 'INTEGER'} NOT NULL DEFAULT 0"
    for name in OUTPUT_FIELDS
] + [
    """CREATE TABLE alarms_v2 (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('instant', 'cusum', 'health', 'concept')),
    channel_mask INTEGER NOT NULL,
    UNIQUE (record_id, kind)
)""",
    "INSERT INTO alarms_v2 (id, record_id, kind, channel_mask) SELECT id, record_id, kind, channel_mask FROM alarms",
    "DROP TABLE alarms",
    "ALTER TABLE alarms_v2 RENAME TO alarms",
]

# Version 2 -> 3: the 'occupancy' and 'feature' alarm kinds (a version-2 store could not hold an occupancy alarm).
MIGRATE_2_TO_3 = [
    """CREATE TABLE alarms_v3 (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('instant', 'cusum', 'health', 'concept', 'occupancy', 'feature')),
    channel_mask INTEGER NOT NULL,
    UNIQUE (record_id, kind)
)""",
    "INSERT INTO alarms_v3 (id, record_id, kind, channel_mask) SELECT id, record_id, kind, channel_mask FROM alarms",
    "DROP TABLE alarms",
    "ALTER TABLE alarms_v3 RENAME TO alarms",
]


class StoreError(TinyDriftError):
    """The telemetry database cannot be used: missing, not SQLite, newer schema, bad record. One line."""


# ------------------------------------------------------------------------------------------ helpers


def field_value(rec: Any, name: str, default: Any = KeyError) -> Any:
    """rec.name, rec[name] (mappings, numpy rows) or default; KeyError if absent and no default."""
    if isinstance(rec, Mapping):
        if name in rec:
            return rec[name]
    elif isinstance(rec, np.void) and rec.dtype.names is not None:
        if name in rec.dtype.names:
            return rec[name]
    elif hasattr(rec, name):
        return getattr(rec, name)
    if default is KeyError:
        raise KeyError(name)
    return default


def threshold_value(q8: int | None) -> float | None:
    """Q8 threshold in score units; None when disabled (0xffffffff) or unknown."""
    if q8 is None or int(q8) == THRESHOLD_DISABLED:
        return None
    return int(q8) / Q8


def channel_labels(names: Sequence[str] | None, n_channels: int) -> list[str]:
    """Channel names when they match the count, else ch0, ch1, ..."""
    if names and len(names) == n_channels:
        return [str(n) for n in names]
    return [f"ch{c}" for c in range(n_channels)]


def subtract_ranges(ranges: Iterable[tuple[int, int]], remove: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive integer ranges minus other inclusive ranges, sorted."""
    out = sorted(ranges)
    for lo_r, hi_r in sorted(remove):
        nxt: list[tuple[int, int]] = []
        for lo, hi in out:
            if hi < lo_r or lo > hi_r:
                nxt.append((lo, hi))
                continue
            if lo < lo_r:
                nxt.append((lo, lo_r - 1))
            if hi > hi_r:
                nxt.append((hi_r + 1, hi))
        out = nxt
    return out


def record_row(rec: Any) -> dict[str, Any]:
    """Validated plain values of one record (StoreError naming the problem)."""
    try:
        row: dict[str, Any] = {
            "seq": int(field_value(rec, "seq")), "boot_id": int(field_value(rec, "boot_id")),
            "profile_id": int(field_value(rec, "profile_id")),
            "window": int(field_value(rec, "window", None) if field_value(rec, "window", None) is not None
                          else field_value(rec, "window_index")),
            "uptime_ms": int(field_value(rec, "uptime_ms", 0)), "replayed": int(bool(field_value(rec, "replayed", False))),
        }
        for name in ("score", "dist", "recon", "cusum"):
            row[name] = float(field_value(rec, name))
        for name in ("trigger", "alarm", "nearest", "top_channel", "stuck_mask", "saturated_mask",
                     "missing_mask", "n_embeddings"):
            row[name] = int(field_value(rec, name))
        for name in OUTPUT_FIELDS:
            value = field_value(rec, name, 0)
            row[name] = float(value) if name in OUTPUT_REALS else int(value)
        for name in CHANNEL_FIELDS:
            values = np.asarray(field_value(rec, name, ())).reshape(-1)
            row[name] = [int(v) for v in values] if name.startswith("n_") else [float(v) for v in values]
    except KeyError as exc:
        raise StoreError(f"telemetry record lacks field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise StoreError(f"malformed telemetry record: {exc}") from None
    lengths = {len(row[name]) for name in CHANNEL_FIELDS}
    if len(lengths) != 1:
        raise StoreError(f"telemetry record seq {row['seq']}: per-channel fields differ in length "
                         f"({', '.join(f'{n} {len(row[n])}' for n in CHANNEL_FIELDS)})")
    row["n_channels"] = lengths.pop()
    if not (0 <= row["seq"] < 2**32 and 0 <= row["boot_id"] < 2**32 and 0 <= row["profile_id"] < 2**32):
        raise StoreError(f"telemetry record seq {row['seq']}: seq, boot_id and profile_id must be u32")
    return row
