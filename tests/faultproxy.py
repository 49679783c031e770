"""A loopback TCP proxy that damages a link on purpose: corrupted bytes, dropped bytes, dropped connections.

    >>> with FaultProxy(upstream_port=5555, corrupt=0.001, drop=0.001, disconnect_mean_s=2.0, seed=1) as proxy:
    ...     Collector(proxy.url, store).run(duration=10)

Each byte passing in either direction is, independently, replaced by a different value with
probability ``corrupt`` or left out with probability ``drop``; each connection is closed (both
sides) after an exponentially distributed lifetime of mean ``disconnect_mean_s`` (None: never).
Every draw comes from ``numpy.random.default_rng`` seeded with (seed, connection number,
direction), so a run's faults depend only on the seed and on how the bytes are chunked.
The link tests and ``bench/link_faults.py`` use it between the host simulator and a collector.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class FaultCounts:
    """What the proxy did so far (both directions)."""

    connections: int = 0
    disconnects: int = 0  # connections the proxy closed itself
    bytes: int = 0
    corrupted: int = 0
    dropped: int = 0


class FaultProxy:
    """Listen on 127.0.0.1 (``url``), forward each client to 127.0.0.1:upstream_port with faults."""

    def __init__(self, upstream_port: int, corrupt: float = 0.0, drop: float = 0.0,
                 disconnect_mean_s: float | None = None, seed: int = 0) -> None:
        if not (0.0 <= corrupt < 1.0 and 0.0 <= drop < 1.0 and corrupt + drop < 1.0):
            raise ValueError("corrupt and drop are probabilities with corrupt + drop < 1")
        self.upstream_port = upstream_port
        self.corrupt, self.drop = corrupt, drop
        self.disconnect_mean_s = disconnect_mean_s
        self.seed = seed
        self.counts = FaultCounts()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.url = f"socket://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closed.set()
        try:
            self._server.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(2.0)

    def _accept(self) -> None:
        n = 0
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._server], [], [], 0.05)
                if not ready:
                    continue
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2.0)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.counts.connections += 1
            t = threading.Thread(target=self._pump, args=(client, upstream, n), daemon=True)
            t.start()
            self._threads.append(t)
            n += 1

    def _damage(self, data: bytes, rng: np.random.Generator) -> bytes:
        """The bytes with the faults applied: some replaced by another value, some left out."""
        if not data or (self.corrupt == 0.0 and self.drop == 0.0):
            return data
        buf = np.frombuffer(data, dtype=np.uint8).copy()
        u = rng.random(len(buf))
        corrupt = u < self.corrupt
        drop = (u >= self.corrupt) & (u < self.corrupt + self.drop)
        if corrupt.any():
            buf[corrupt] ^= rng.integers(1, 256, int(corrupt.sum()), dtype=np.uint8)  # never the same value
        with self._lock:
            self.counts.bytes += len(buf)
            self.counts.corrupted += int(corrupt.sum())
            self.counts.dropped += int(drop.sum())
        return buf[~drop].tobytes()

    def _pump(self, client: socket.socket, upstream: socket.socket, n: int) -> None:
        rngs = {client: np.random.default_rng([self.seed, n, 0]), upstream: np.random.default_rng([self.seed, n, 1])}
        other = {client: upstream, upstream: client}
        life = np.random.default_rng([self.seed, n, 2])
        end = None if self.disconnect_mean_s is None else \
            time.monotonic() + float(life.exponential(self.disconnect_mean_s))
        try:
            while not self._closed.is_set():
                wait = 0.05 if end is None else min(0.05, end - time.monotonic())
                if wait <= 0:
                    with self._lock:
                        self.counts.disconnects += 1
                    return
                ready, _, _ = select.select([client, upstream], [], [], wait)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    out = self._damage(data, rngs[s])
                    if out:
                        other[s].sendall(out)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


__all__ = ["FaultCounts", "FaultProxy"]
