"""``mqtt://host:port/prefix`` and ``postgresql://`` URLs as the fleet commands take them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tinydrift.core.errors import InputError

_TOPIC_SAFE = re.compile(r"[^A-Za-z0-9._:@-]")


@dataclass(frozen=True)
class MqttUrl:
    """Broker address and topic prefix of ``mqtt://[user[:password]@]host[:port][/prefix]``."""

    host: str
    port: int
    prefix: str
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttUrl:
    """Parse an mqtt:// URL (port 1883 and prefix ``tinydrift`` by default); InputError if it is not one."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise InputError(f"not an MQTT URL: {url!r} (expected mqtt://HOST[:PORT][/PREFIX])")
    try:
        port = parts.port or 1883
    except ValueError:
        raise InputError(f"bad port in MQTT URL {url!r}") from None
    prefix = parts.path.strip("/") or "tinydrift"
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise InputError(f"MQTT topic prefix {prefix!r} may not contain '+', '#' or empty levels")
    return MqttUrl(parts.hostname, port, prefix, parts.username, parts.password)


def is_postgres_url(db: str) -> bool:
    """True for a postgresql:// (or postgres://) connection URL, False for an SQLite path."""
    return db.startswith(("postgresql://", "postgres://"))


def topic_name(identity: str) -> str:
    """``identity`` usable as one topic level: characters other than letters, digits and ``._:@-`` become ``_``."""
    name = _TOPIC_SAFE.sub("_", identity)
    if not name:
        raise InputError("empty device identity")
    return name
