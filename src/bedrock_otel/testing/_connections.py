"""Keep-alive connection tracking shared by the loopback test servers (fake Bedrock, OTLP/HTTP receiver).

Clients keep connections open, and a handler thread blocks on each one; ``stop()`` must hang them up
so those threads end instead of outliving the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Set


class OpenConnections:
    """The sockets a server's handlers hold open right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: Set[socket.socket] = set()

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._sockets.add(conn)

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(conn)

    def hang_up(self) -> None:
        """Shut every open connection down, so blocked handler threads return."""
        with self._lock:
            sockets = list(self._sockets)
        for conn in sockets:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class TrackedHandler(BaseHTTPRequestHandler):
    """Registers its connection in ``server.connections`` while it lives; no per-request log lines."""

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.connections.discard(self.connection)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests send many requests."""
