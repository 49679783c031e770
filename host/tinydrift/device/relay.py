"""A TCP front for a serial server that serves one client and leaves the next one hanging (QEMU's
``-serial tcp:...,server=on``): it holds the only connection to that server, forwards one client's bytes
both ways, and answers a second client with the host simulator's busy line, then closes it, so both
simulators refuse a second client the same way (boards/host/hal_host.c writes the same line)."""

from __future__ import annotations

import select
import socket
import threading
import time

BUSY_LINE = "tinydrift-sim: busy: serving another client ({client} since {since})\n"


def _refuse(conn: socket.socket, line: bytes, linger: float = 2.0) -> None:
    """Answer a refused client with the busy line once it has sent its first bytes (or after a second), then
    leave the closing to it (up to linger seconds), reading what it sends. A line sent at once can be
    discarded by the client's own opening (pyserial empties the input buffer after connecting); an end of
    stream right behind it makes pyserial drop it too; and closing with the client's bytes unread would send
    a reset."""
    try:
        conn.settimeout(1.0)
        try:
            conn.recv(4096)
        except socket.timeout:
            pass
        conn.sendall(line)
        conn.settimeout(linger)
        while conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()


class LinkRelay:
    """Listen on 127.0.0.1:port (0: a free one) and relay to 127.0.0.1:upstream_port; ``close()`` when done."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self._up = socket.create_connection(("127.0.0.1", upstream_port), timeout=5.0)
        self._up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._up.setblocking(True)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._server.bind(("127.0.0.1", port))
            self._server.listen(4)
        except OSError:
            self._server.close()
            self._up.close()
            raise
        self.port = int(self._server.getsockname()[1])
        self._client: socket.socket | None = None
        self._client_text = ""
        self._wake_r, self._wake_w = socket.socketpair()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"tinydrift-relay-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        conn, addr = self._server.accept()
        if self._client is not None:
            line = BUSY_LINE.format(client=self._client_text[0], since=self._client_text[1]).encode()
            threading.Thread(target=_refuse, args=(conn, line), daemon=True).start()
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = conn
        self._client_text = (f"{addr[0]}:{addr[1]}", time.strftime("%H:%M:%S UTC", time.gmtime()))

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        try:
            while True:
                socks = [self._server, self._up, self._wake_r] + ([self._client] if self._client else [])
                ready, _, _ = select.select(socks, [], [])
                if self._wake_r in ready:
                    return
                if self._server in ready:
                    self._accept()
                if self._up in ready:
                    data = self._up.recv(65536)
                    if not data:  # the board is gone: so is its link
                        return
                    if self._client is not None:  # no client: the bytes are lost, like a UART without a cable
                        try:
                            self._client.sendall(data)
                        except OSError:
                            self._drop_client()
                if self._client is not None and self._client in ready:
                    try:
                        data = self._client.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        self._up.sendall(data)
                    else:
                        self._drop_client()
        except OSError:
            return
        finally:
            self._drop_client()
            for s in (self._server, self._up):
                s.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5.0)
        for s in (self._wake_r, self._wake_w):
            s.close()
