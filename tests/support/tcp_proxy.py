"""A TCP proxy a test opens and cuts: a broker that is away, comes back, and goes away again,
without stopping the real one (other tests share it)."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class TcpProxy:
    """Forwards ``listen_port`` on 127.0.0.1 to ``target``, while open.

    Closed (the start, and after :meth:`cut`), nothing listens on the port: a connection is
    refused, as by a broker that is down. :meth:`cut` also resets every connection it carries,
    as a broker's restart does.
    """

    def __init__(self, listen_port: int, target: tuple[str, int]) -> None:
        self.port = listen_port
        self._target = target
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        with self._lock:
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def cut(self) -> None:
        """Stop listening and reset every connection carried."""
        with self._lock:
            listener, self._listener = self._listener, None
            carried, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in carried:
            with contextlib.suppress(OSError):
                # RST, not FIN: the peer sees its connection lost at once.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        for thread in self._threads:
            thread.join(10)
        self._threads = []

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
                self.connections += 1
            thread = threading.Thread(target=self._pipe, args=(client, upstream), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 0.5)
                with self._lock:
                    if client not in self._sockets:
                        return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets -= {client, upstream}
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()
