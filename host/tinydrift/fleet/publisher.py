"""Gateway side: publish a device's records and events to the broker, QoS 1, through the spool.

``Publisher.put`` commits messages to the spool and returns; a pump thread hands spooled
messages to paho (at most ``window`` unacknowledged at a time, oldest first) and deletes each
one when its PUBACK arrives. paho resends unacknowledged messages after a reconnect; a new
process resends everything the spool holds. A message may so reach the broker twice, never
zero times; the ingest side stores each record once (docs/fleet.md).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

from tinydrift.fleet.spool import Spool
from tinydrift.fleet.urls import MqttUrl

log = logging.getLogger("tinydrift.fleet.publisher")


def mqtt_client(client_id: str, *, clean_start: bool, manual_ack: bool = False) -> Any:
    """A paho MQTT 5 client (paho imported here, so only the fleet commands need it)."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:  # pragma: no cover - depends on the environment
        from tinydrift.core.errors import TinyDriftError
        raise TinyDriftError("the fleet commands need paho-mqtt: pip install 'tinydrift[fleet]'") from None
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         manual_ack=manual_ack)
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    return client


class Publisher:
    """One gateway's MQTT connection and spool. Use as a context manager or call start()/close()."""

    def __init__(self, url: MqttUrl, spool: Spool, *, client_id: str | None = None, window: int = 1000) -> None:
        self.url = url
        self.spool = spool
        self.window = window
        self.client_id = client_id or f"tinydrift-gw-{uuid.uuid4().hex[:12]}"
        self.acked = 0
        self._client = mqtt_client(self.client_id, clean_start=True)
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        # paho keeps at most `window` of our messages; more stay in the spool until acks make room.
        self._client.max_inflight_messages_set(min(window, 65535))
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._unreachable = False  # said once per outage that the broker cannot be reached
        self.ever_connected = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: dict[int, int] = {}  # paho mid -> spool id; only the pump thread touches it
        # PUBACKed mids. paho calls on_publish holding its own lock, which publish() needs too: the callback
        # only appends here (deque appends are atomic) and the pump maps mids to spool ids.
        self._acked_mids: deque[int] = deque()
        self._last_fed = 0
        self._connected = threading.Event()
        self._pump = threading.Thread(target=self._run, name="tinydrift-publisher", daemon=True)

    def __enter__(self) -> Publisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start sending the spool."""
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()
        self._pump.start()

    def put(self, messages: Iterable[tuple[str, bytes]], marks: dict[str, int] | None = None) -> None:
        """Spool messages (committed when this returns) and wake the pump."""
        self.spool.add(messages, marks)
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            self._connected.set()
            self._unreachable = False
            self.ever_connected = True
            log.info("connected to %s", self.url)
            self._wake.set()
        else:
            log.warning("broker %s refused the connection: %s; spooling, retrying", self.url, reason)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        if not self._unreachable and not self._stop.is_set():
            self._unreachable = True
            log.warning("broker %s: cannot connect; spooling, retrying", self.url)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if self._stop.is_set():  # our own close
            log.info("disconnected from %s", self.url)
        else:
            log.warning("broker %s: disconnected (%s); spooling, retrying", self.url, reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self._acked_mids.append(mid)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            done = []
            while self._acked_mids:
                sid = self._pending.pop(self._acked_mids.popleft(), None)
                if sid is not None:
                    done.append(sid)
            if done:
                self.spool.remove(done)
                self.acked += len(done)
            if self._stop.is_set():
                return
            room = self.window - len(self._pending)
            if room <= 0:
                continue
            batch = self.spool.after(self._last_fed, room)
            for sid, topic, payload in batch:
                info = self._client.publish(topic, payload, qos=1)
                self._pending[info.mid] = sid
                self._last_fed = sid
            if len(batch) == room:
                self._wake.set()

    def unacked(self) -> int:
        """Messages the broker has not acknowledged yet (spooled)."""
        return len(self.spool)

    def flush(self, timeout: float) -> bool:
        """Wait until the spool is empty (every message acknowledged); False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.unacked() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.unacked() == 0

    def close(self) -> None:
        """Stop; what is not acknowledged stays in the spool for the next start."""
        self._stop.set()
        self._wake.set()
        if self._pump.is_alive():
            self._pump.join(5)
        self._client.disconnect()
        self._client.loop_stop()
