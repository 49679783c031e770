"""The MQTT messages of the fleet: topic layout and the JSON payload (schema version 1), both ways.

Topic: ``<prefix>/v1/<device>/<kind>``, kind one of ``record``, ``gap``, ``alarm``, ``info``.
Payload: one JSON object ``{"schema": 1, "kind", "device", "gateway", "time", ...}`` with the
kind's fields (docs/fleet.md). ``decode`` checks every field a consumer relies on and raises
PayloadError with one line naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from tinydrift.core.errors import TinyDriftError
from tinydrift.device.records import TelemetryRecord

SCHEMA = 1
KINDS = ("record", "gap", "alarm", "info")


class PayloadError(TinyDriftError):
    """A message on the fleet topic that is not a valid tinydrift fleet message."""


def topic(prefix: str, device: str, kind: str) -> str:
    """The topic of one device's messages of one kind."""
    return f"{prefix}/v{SCHEMA}/{device}/{kind}"


def subscription(prefix: str) -> str:
    """The topic filter matching every device's messages of every kind."""
    return f"{prefix}/v{SCHEMA}/+/+"


_INT_FIELDS = ("seq", "boot_id", "profile_id", "window", "uptime_ms", "trigger", "nearest", "top_channel",
               "stuck_mask", "saturated_mask", "missing_mask", "n_embeddings", "version", "n_inferences",
               "top_class", "ddm_state", "n_labels", "n_correct")
_FLOAT_FIELDS = ("score", "dist", "recon", "cusum", "mean_confidence", "estimated_accuracy", "prior_shift",
                 "accuracy")
_BOOL_FIELDS = ("alarm", "replayed")
_FLOAT_LISTS = ("mean", "std", "z_mean", "z_std")
_INT_LISTS = ("n_missing", "n_saturated")
_RECORD_FIELDS = {f.name for f in dataclasses.fields(TelemetryRecord)}
assert _RECORD_FIELDS == set(_INT_FIELDS + _FLOAT_FIELDS + _BOOL_FIELDS + _FLOAT_LISTS + _INT_LISTS)


@dataclass(frozen=True)
class Message:
    """One decoded fleet message. ``body`` holds the kind's fields (for a record: TelemetryRecord's)."""

    kind: str
    device: str
    gateway: str
    time: float
    body: dict[str, Any]


def _envelope(kind: str, device: str, gateway: str, time: float) -> dict[str, Any]:
    return {"schema": SCHEMA, "kind": kind, "device": device, "gateway": gateway, "time": time}


def encode_record(device: str, gateway: str, time: float, rec: TelemetryRecord) -> bytes:
    """A record message: the envelope plus ``record`` (TelemetryRecord's fields, lists per channel)."""
    return json.dumps({**_envelope("record", device, gateway, time), "record": rec.to_dict()},
                      separators=(",", ":")).encode()


def encode_gap(device: str, gateway: str, time: float, boot_id: int, first: int, last: int, reason: str) -> bytes:
    """A gap message: seqs first..last (inclusive) of a boot that the device no longer had."""
    return json.dumps({**_envelope("gap", device, gateway, time), "boot_id": boot_id, "first_missing_seq": first,
                       "last_missing_seq": last, "reason": reason}, separators=(",", ":")).encode()


def encode_alarm(device: str, gateway: str, time: float, event: dict[str, Any]) -> bytes:
    """An alarm-onset message: ``event`` is the record as the alert command gets it (boot_id and seq in it)."""
    return json.dumps({**_envelope("alarm", device, gateway, time), "event": event},
                      separators=(",", ":")).encode()


def encode_info(device: str, gateway: str, time: float, info: dict[str, Any]) -> bytes:
    """A device-info message (board, board_id, firmware, boot_id, next_seq, profile_id, port)."""
    return json.dumps({**_envelope("info", device, gateway, time), "info": info}, separators=(",", ":")).encode()


def _int(obj: dict[str, Any], name: str, lo: int = 0, hi: int = 2**32 - 1) -> int:
    v = obj.get(name)
    if type(v) is not int or not lo <= v <= hi:
        raise PayloadError(f"field {name!r} is {v!r}, not an integer in {lo}..{hi}")
    return v


def _float(obj: dict[str, Any], name: str) -> float:
    v = obj.get(name)
    if type(v) not in (int, float) or not math.isfinite(v):
        raise PayloadError(f"field {name!r} is {v!r}, not a finite number")
    return float(v)


def _str(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name)
    if not isinstance(v, str) or not v or len(v) > 200:
        raise PayloadError(f"field {name!r} is {v!r}, not a string of 1..200 characters")
    return v


def _record(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise PayloadError("field 'record' is not an object")
    out: dict[str, Any] = {}
    for name in _INT_FIELDS:
        out[name] = _int(obj, name)
    for name in _FLOAT_FIELDS:
        out[name] = _float(obj, name)
    for name in _BOOL_FIELDS:
        if type(obj.get(name)) is not bool:
            raise PayloadError(f"field {name!r} is {obj.get(name)!r}, not true/false")
        out[name] = obj[name]
    n = None
    for name in _FLOAT_LISTS + _INT_LISTS:
        v = obj.get(name)
        if not isinstance(v, list) or len(v) > 64 or (n is not None and len(v) != n):
            raise PayloadError(f"field {name!r} is not a list of one value per channel")
        n = len(v)
        ok = (all(type(x) in (int, float) and math.isfinite(x) for x in v) if name in _FLOAT_LISTS
              else all(type(x) is int and 0 <= x < 2**31 for x in v))
        if not ok:
            raise PayloadError(f"field {name!r} holds a value of the wrong type")
        out[name] = [float(x) for x in v] if name in _FLOAT_LISTS else v
    return out


def decode(topic_str: str, payload: bytes, prefix: str) -> Message:
    """Check and decode one message received on ``<prefix>/v1/+/+``; PayloadError (one line) if invalid."""
    levels = topic_str.split("/")
    base = prefix.split("/")
    if (len(levels) != len(base) + 3 or levels[:len(base)] != base or levels[len(base)] != f"v{SCHEMA}"
            or levels[-1] not in KINDS):
        raise PayloadError(f"topic {topic_str!r} is not {prefix}/v{SCHEMA}/<device>/<{'|'.join(KINDS)}>")
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON ({len(payload)} bytes): {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(obj, dict):
        raise PayloadError("payload is not a JSON object")
    if obj.get("schema") != SCHEMA:
        raise PayloadError(f"payload schema {obj.get('schema')!r}, this tinydrift reads {SCHEMA}")
    kind = obj.get("kind")
    device = _str(obj, "device")
    if kind != levels[-1] or device != levels[-2]:
        raise PayloadError(f"payload kind/device {kind!r}/{device!r} disagree with the topic")
    gateway = _str(obj, "gateway")
    time = _float(obj, "time")
    body: dict[str, Any]
    if kind == "record":
        body = _record(obj.get("record"))
    elif kind == "gap":
        body = {"boot_id": _int(obj, "boot_id"), "first_missing_seq": _int(obj, "first_missing_seq"),
                "last_missing_seq": _int(obj, "last_missing_seq"), "reason": _str(obj, "reason")}
        if body["last_missing_seq"] < body["first_missing_seq"]:
            raise PayloadError("gap ends before it starts")
    elif kind == "alarm":
        event = obj.get("event")
        if not isinstance(event, dict):
            raise PayloadError("field 'event' is not an object")
        _int(event, "boot_id")
        _int(event, "seq")
        body = {"event": event}
    else:
        info = obj.get("info")
        if not isinstance(info, dict):
            raise PayloadError("field 'info' is not an object")
        body = {"info": info}
    return Message(kind, device, gateway, time, body)
