"""A TCP proxy that forwards everything but swallows the response to the first request
whose first bytes contain a marker, then drops that connection: the client sees a request
that may have been executed, with no answer."""

from __future__ import annotations

import contextlib
import re
import socket
import threading


class DroppingProxy:
    def __init__(self, target_port: int, marker: bytes) -> None:
        self.target_port = target_port
        self.marker = marker
        self.idempotency_keys: list[str] = []
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"drop": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := client.recv(65536):
                if self.marker in data:
                    key = re.search(rb"(?i)idempotency-key: *([^\r\n]+)", data)
                    with self._lock:
                        if key:
                            self.idempotency_keys.append(key.group(1).decode())
                        if self.dropped == 0:
                            self.dropped = 1
                            state["drop"] = True
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(upstream)

    def _down(self, upstream: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := upstream.recv(65536):
                if state["drop"]:
                    break  # the server answered; the client never hears it
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
