"""The gateway's spool: an SQLite file of messages not yet acknowledged by the broker.

Ids are AUTOINCREMENT (never reused, so "after the last id sent" stays right when the spool empties).
A message is written (and committed) here before it is handed to the MQTT client and deleted
only when the broker's PUBACK for it arrived, so a broker outage or a gateway restart loses
nothing: a new gateway process sends what the spool still holds. ``marks`` are named integers
written in the same transaction as messages (the fleet simulator keeps each device's next
seq there, as a real device keeps its ring).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from tinydrift.core.errors import TinyDriftError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SpoolError(TinyDriftError):
    """The spool file cannot be opened or written."""


class Spool:
    """Messages waiting for the broker's acknowledgement, oldest first (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode = WAL")
            # FULL: a message the gateway took must survive a power cut of the gateway itself.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc}") from None

    def add(self, messages: Iterable[tuple[str, bytes]], marks: dict[str, int] | None = None) -> list[int]:
        """Append messages (topic, payload) and set marks, in one transaction; returns the new ids."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                ids = [int(self._db.execute("INSERT INTO spool (topic, payload) VALUES (?, ?)",
                                            (t, p)).lastrowid or 0) for t, p in messages]
                for name, value in (marks or {}).items():
                    self._db.execute("INSERT OR REPLACE INTO marks (name, value) VALUES (?, ?)", (name, value))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return ids

    def after(self, last_id: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to ``limit`` messages with id > last_id, oldest first."""
        with self._lock:
            return [(int(i), str(t), bytes(p)) for i, t, p in self._db.execute(
                "SELECT id, topic, payload FROM spool WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit))]

    def remove(self, ids: Sequence[int]) -> None:
        """Delete acknowledged messages."""
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def marks(self) -> dict[str, int]:
        """Every mark set so far."""
        with self._lock:
            return {str(n): int(v) for n, v in self._db.execute("SELECT name, value FROM marks")}

    def close(self) -> None:
        with self._lock:
            self._db.close()
