"""What `tinydrift monitor --mqtt` adds to the Collector: every record, gap and device info goes into
the gateway's spool (and from there to the broker) before the local store writes it; an alarm onset
when the Collector has decided it (``Collector``: once per onset, whatever order records arrive in).

Spooling first means a record the local store holds was spooled: a gateway killed between the
two writes FETCHes the record again at restart (the local store lacks it) and spools it again,
which the ingest side ignores.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tinydrift.device.messages import Info
from tinydrift.device.records import TelemetryRecord
from tinydrift.fleet import payload
from tinydrift.fleet.publisher import Publisher
from tinydrift.fleet.urls import topic_name
from tinydrift.telemetry.collect import record_json

log = logging.getLogger("tinydrift.fleet")


def device_identity(info: Info, fallback: str) -> str:
    """The device's fleet identity: the unique id INFO reports (16 hex digits), else ``fallback`` (the
    --device-name or port; firmware of link protocol 1 reports no id)."""
    return topic_name(info.uid_text or fallback)


class GatewaySink:
    """Hooks for a Collector: ``record(rec)``, ``onset(rec)``, ``gap(boot, lo, hi, reason)``, ``connected(info)``."""

    def __init__(self, publisher: Publisher, gateway: str, fallback_name: str) -> None:
        self.publisher = publisher
        self.gateway = gateway
        self.fallback = fallback_name
        self.device = topic_name(fallback_name)
        self.channel_names: list[str] = []
        self._warned = False

    def _topic(self, kind: str) -> str:
        return payload.topic(self.publisher.url.prefix, self.device, kind)

    def connected(self, info: Info, port: str) -> None:
        """Identify the device and publish its info."""
        self.device = device_identity(info, self.fallback)
        if info.uid_text is None and not self._warned:
            self._warned = True
            log.warning("%s reports no device id (firmware %s, link protocol %d); publishing it as %r, "
                        "its --device-name or port", port, info.firmware, info.protocol_version, self.device)
        body = {"board": info.board_name, "board_id": info.board_id, "firmware": info.firmware,
                "boot_id": info.boot_id, "next_seq": info.next_seq, "profile_id": info.profile_id, "port": port,
                "uid": info.uid_text}
        self.publisher.put([(self._topic("info"), payload.encode_info(self.device, self.gateway, time.time(), body))])

    def record(self, rec: TelemetryRecord) -> None:
        """Spool a record."""
        self.publisher.put([(self._topic("record"), payload.encode_record(self.device, self.gateway, time.time(),
                                                                          rec))])

    def onset(self, rec: TelemetryRecord) -> None:
        """Spool an alarm-onset event (the Collector calls this once per onset)."""
        event: dict[str, Any] = record_json(rec, self.channel_names)
        self.publisher.put([(self._topic("alarm"), payload.encode_alarm(self.device, self.gateway, time.time(),
                                                                        event))])

    def gap(self, boot_id: int, first: int, last: int, reason: str) -> None:
        """Spool a gap: seqs the device no longer had."""
        self.publisher.put([(self._topic("gap"), payload.encode_gap(self.device, self.gateway, time.time(), boot_id,
                                                                    first, last, reason))])
