"""Ingest side: subscribe to the fleet topic (shared subscription) and store every message in PostgreSQL.

The worker connects with a persistent MQTT 5 session (clean_start false, a session expiry) and
acknowledges a message only after the transaction holding it committed (paho manual ack). A
worker killed between commit and ack gets the message again from the broker, and the
idempotent write ignores it; a worker killed before the commit gets it again and stores it.
PostgreSQL going away keeps the batch unacknowledged and retries it with backoff. A message
that does not decode is logged as one line and kept in the ``quarantine`` table, written in the
batch's transaction (so it is acknowledged only once it is kept).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tinydrift.fleet.payload import Message, PayloadError, decode, subscription
from tinydrift.fleet.pgstore import (FleetDbError, FleetDbUnreachable, FleetWriter, Quarantined, connect, one_line,
                                    redact)
from tinydrift.fleet.publisher import mqtt_client
from tinydrift.fleet.urls import MqttUrl
from tinydrift.telemetry.collect import AlertRunner

log = logging.getLogger("tinydrift.fleet.ingest")

SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 8.0


@dataclass
class IngestStats:
    """What an ingest run did."""

    messages: int = 0
    records_new: int = 0
    records_duplicate: int = 0
    gaps_new: int = 0
    alarms_new: int = 0
    malformed: int = 0
    quarantined_new: int = 0
    batches: int = 0
    db_errors: int = 0
    alerts_failed: int = 0


class IngestWorker:
    """One ingest worker. ``client_id`` names its persistent session: restart a worker with the same id.

    ``group``: the shared-subscription group the workers split the messages in; None subscribes
    plainly (every worker gets every message). mosquitto 2.0 does not restore the shared
    subscriptions of disconnected sessions after a broker restart (docs/fleet.md): what arrives
    before a worker of the group reconnects is dropped; plain subscriptions are restored.
    """

    def __init__(self, url: MqttUrl, db_url: str, *, group: str | None = "tinydrift-ingest",
                 client_id: str | None = None,
                 alert_cmd: str | None = None, batch: int = 1000, retire: bool = False) -> None:
        self.url = url
        self.retire = retire  # end the persistent session when run() returns (the broker then forgets it)
        self.db_url = db_url
        self.group = group
        self.client_id = client_id or f"tinydrift-ingest-{uuid.uuid4().hex[:12]}"
        self.batch = batch
        self.stats = IngestStats()
        self.alerts = AlertRunner(alert_cmd, self.stats) if alert_cmd else None  # type: ignore[arg-type]
        self._queue: queue.Queue[tuple[int, int, str, bytes, int]] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._client = mqtt_client(self.client_id, clean_start=False, manual_ack=True)
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._closing = threading.Event()  # run() is disconnecting on purpose
        self._unreachable = False  # said once per outage that the broker cannot be reached
        self._conn: Any = None
        self._writer: FleetWriter | None = None

    # -- MQTT side (paho's thread) -------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self.url, reason)
            return
        self._unreachable = False
        self._generation += 1
        topic = subscription(self.url.prefix)
        if self.group:
            topic = f"$share/{self.group}/{topic}"
        client.subscribe(topic, qos=1)
        log.info("connected to %s (session %s, %s), subscribed to %s", self.url, self.client_id,
                 "resumed" if flags.session_present else "new", topic)
        self._subscribed.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        if not self._unreachable and not self._closing.is_set():
            self._unreachable = True
            log.warning("broker %s: cannot connect; retrying", self.url)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self._stop.is_set() and not self._closing.is_set():
            log.warning("broker %s: disconnected (%s); reconnecting", self.url, reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._queue.put((msg.mid, msg.qos, msg.topic, bytes(msg.payload), self._generation))

    # -- database side (run()'s thread) --------------------------------------------------------
    def _db(self) -> FleetWriter:
        if self._writer is None:
            self._conn = connect(self.db_url)
            self._writer = FleetWriter(self._conn)
            log.info("connected to %s", redact(self.db_url))
        return self._writer

    def _drop_db(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._conn = self._writer = None

    def _take(self, first_wait: float) -> list[tuple[int, int, str, bytes, int]]:
        items = []
        try:
            items.append(self._queue.get(timeout=first_wait))
        except queue.Empty:
            return items
        end = time.monotonic() + 0.05
        while len(items) < self.batch:
            try:
                items.append(self._queue.get(timeout=max(0.0, end - time.monotonic())))
            except queue.Empty:
                break
        return items

    def _store(self, messages: list[Message], bad: list[Quarantined]) -> None:
        """Write one batch, retrying through database outages until it commits or stop() is called."""
        import psycopg

        backoff = BACKOFF_FIRST
        while True:
            try:
                res = self._db().write(messages, bad, self.client_id)
                break
            except (psycopg.OperationalError, psycopg.errors.DeadlockDetected, psycopg.InterfaceError,
                    FleetDbUnreachable) as exc:
                self.stats.db_errors += 1
                log.warning("database: %s; retrying the batch of %d in %.2f s", one_line(exc), len(messages),
                            backoff)
                self._drop_db()
                if self._stop.wait(backoff):
                    raise FleetDbUnreachable(f"stopped while the database was unreachable: {one_line(exc)}; "
                                             f"{len(messages)} messages stay unacknowledged at the broker") from None
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception as exc:
                # Not an outage: keep the batch unacknowledged (the broker redelivers it) and say why once.
                if isinstance(exc, psycopg.Error):
                    self._drop_db()
                    raise FleetDbError(f"database rejected a batch: {one_line(exc)}") from None
                raise
        self.stats.batches += 1
        self.stats.records_new += res.records_new
        self.stats.records_duplicate += res.records_duplicate
        self.stats.gaps_new += res.gaps_new
        self.stats.quarantined_new += res.quarantined_new
        self.stats.alarms_new += len(res.onsets_new)
        if self.alerts:
            for event in res.onsets_new:
                self.alerts.fire(event)

    def run(self, duration: float | None = None, idle_exit: float | None = None) -> IngestStats:
        """Ingest until stop(), ``duration`` seconds, or ``idle_exit`` seconds without a message."""
        self._db()  # fail early, before subscribing, on a wrong database URL or schema
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(self.url.host, self.url.port, keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        start = last = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if duration is not None and now - start >= duration:
                    break
                if idle_exit is not None and self._queue.empty() and now - last >= idle_exit:
                    break
                items = self._take(0.2)
                if not items:
                    continue
                last = time.monotonic()
                messages, bad = [], []
                for _, _, topic, payload, _ in items:
                    self.stats.messages += 1
                    try:
                        messages.append(decode(topic, payload, self.url.prefix))
                    except PayloadError as exc:
                        self.stats.malformed += 1
                        bad.append(Quarantined(topic, payload, str(exc)))
                        log.warning("skipped a message on %s: %s (kept in quarantine)", topic, exc)
                self._store(messages, bad)
                # Acknowledge only what this connection delivered; older deliveries come again (idempotent).
                for mid, qos, _, _, gen in items:
                    if qos and gen == self._generation:
                        self._client.ack(mid, qos)
        finally:
            self._closing.set()
            if self.retire:
                # MQTT 5: a session expiry of 0 on DISCONNECT ends the session: its subscription (and its share of
                # a shared subscription's messages) goes with it.
                end = Properties(PacketTypes.DISCONNECT)
                end.SessionExpiryInterval = 0
                self._client.disconnect(properties=end)
            else:
                self._client.disconnect()
            self._client.loop_stop()
            self._drop_db()
            if self.alerts:
                self.alerts.reap(wait=2.0)
        return self.stats

    @property
    def ever_connected(self) -> bool:
        """True once the broker has accepted a connection of this worker."""
        return self._generation > 0

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the worker has subscribed (for tests and scripts)."""
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        """Ask run() to return after the batch in hand (thread-safe)."""
        self._stop.set()
