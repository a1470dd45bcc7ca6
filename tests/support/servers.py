"""Small hostile HTTP servers on loopback for transport tests.

Each server listens on an ephemeral port in a background thread and serves every connection in its own
thread with a handler ``handler(conn, server)``. Network errors in a handler (the client hung up, the TLS
handshake failed) are expected and swallowed; ``stop()`` closes every socket and joins every thread.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

Handler = Callable[[socket.socket, "Server"], None]

#: errors a handler expects when the client goes away or the TLS handshake fails
PEER_GONE = (OSError, ssl.SSLError)


class Server:
    """A threaded TCP (optionally TLS) server on ``host`` with an ephemeral port."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.stopping = threading.Event()
        #: raw request heads (and bodies) received, in order
        self.requests: list[bytes] = []
        #: connections accepted (TLS failures included)
        self.connections = 0
        #: bytes of response body a handler managed to write
        self.sent = 0
        #: set by handlers when the client closed the connection before the end of the body
        self.client_went_away = threading.Event()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.host, self.port = self._sock.getsockname()[:2]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> Server:
        """Start accepting connections."""
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close every connection and join every thread."""
        self.stopping.set()
        self._acceptor.join(timeout=5)
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown: SSLSocket.shutdown would drop the TLS state under a reading thread.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        for conn in conns:
            conn.close()
        self._sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def add_sent(self, count: int) -> None:
        """Count response body bytes written."""
        with self._lock:
            self.sent += count

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self._handshake(conn, self.tls)
            self.handler(conn, self)
        except PEER_GONE:
            self.client_went_away.set()

    def _handshake(self, conn: socket.socket, tls: ssl.SSLContext) -> socket.socket:
        wrapped = tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        with self._lock:
            self._conns.append(wrapped)
        try:
            wrapped.do_handshake()
        except PEER_GONE:
            # Let the client read the alert instead of a reset: stop sending, drain until it hangs up.
            with contextlib.suppress(*PEER_GONE):
                wrapped.shutdown(socket.SHUT_WR)
                wrapped.settimeout(0.05)
                while not self.stopping.is_set():
                    try:
                        if not socket.socket.recv(wrapped, 4096):
                            break
                    except TimeoutError:
                        continue
            raise
        return wrapped

    def read_request(self, conn: socket.socket) -> bytes | None:
        """Read one request (head and Content-Length body) and record it; None if the client hung up."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        with self._lock:
            self.requests.append(head + b"\r\n\r\n" + body)
        return head

    def wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is."""
        return self.stopping.wait(seconds)


def head(status: int = 200, headers: Iterable[tuple[str, str]] = (), reason: str = "OK") -> bytes:
    """An HTTP/1.1 response head."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(status: int = 200, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Handler:
    """Answer every request with a fixed response."""
    all_headers = [*headers, ("Content-Length", str(len(body))), ("Connection", "close")]

    def handler(conn: socket.socket, server: Server) -> None:
        if server.read_request(conn) is None:
            return
        conn.sendall(head(status, all_headers) + body)
        server.add_sent(len(body))
        conn.shutdown(socket.SHUT_WR)

    return handler


def silent(conn: socket.socket, server: Server) -> None:
    """Read the request and never answer."""
    server.read_request(conn)
    server.stopping.wait()


def trickle(length: int = 1000, interval: float = 0.2) -> Handler:
    """Announce ``length`` bytes, then send one every ``interval`` seconds."""

    def handler(conn: socket.socket, server: Server) -> None:
        if server.read_request(conn) is None:
            return
        conn.sendall(head(200, [("Content-Type", "text/plain"), ("Content-Length", str(length))]))
        for _ in range(length):
            if server.wait(interval):
                return
            conn.sendall(b"x")
            server.add_sent(1)

    return handler


def reset_mid_body(conn: socket.socket, server: Server) -> None:
    """Announce 100 000 bytes, send 1 000, then reset the connection (RST, not FIN)."""
    if server.read_request(conn) is None:
        return
    conn.sendall(head(200, [("Content-Type", "application/json"), ("Content-Length", "100000")]) + b"[" * 1000)
    server.add_sent(1000)
    time.sleep(0.1)  # the client reads the head and the first bytes before the reset
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def big_body(size: int | None, chunk: bytes = b"a" * 65536) -> Handler:
    """A body of ``size`` bytes (Content-Length), or endless and close-delimited when ``size`` is None.

    Records in ``server.sent`` what it managed to write and sets ``client_went_away`` when the client
    closed the connection before the end.
    """

    def handler(conn: socket.socket, server: Server) -> None:
        if server.read_request(conn) is None:
            return
        headers = [("Content-Type", "application/octet-stream")]
        headers += [("Content-Length", str(size))] if size is not None else [("Connection", "close")]
        conn.sendall(head(200, headers))
        remaining = size
        try:
            while remaining is None or remaining > 0:
                if server.stopping.is_set():
                    return
                piece = chunk if remaining is None else chunk[:remaining]
                conn.sendall(piece)
                server.add_sent(len(piece))
                if remaining is not None:
                    remaining -= len(piece)
        except OSError:
            server.client_went_away.set()
            return
        conn.shutdown(socket.SHUT_WR)
        server.read_request(conn)  # wait for the client to hang up

    return handler


def unused_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port
