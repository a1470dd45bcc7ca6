"""Serve an ASGI app on a loopback port from a background thread (reference DUI, simulators)."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from conformance.transport.tls import TestCa


class LoopbackServer:
    """Runs ``app`` with uvicorn on 127.0.0.1 (over TLS with ``tls``'s certificate); use as a context manager."""

    def __init__(self, app: Any, port: int = 0, host: str = "127.0.0.1", tls: TestCa | None = None) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: without it, a keep-alive response written in two parts waits 40 ms for the
        # client's delayed ACK, on every request after the first.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._folder = tempfile.TemporaryDirectory(prefix="dui-conformance-tls-") if tls else None
        certfile = keyfile = None
        if tls is not None and self._folder is not None:
            certfile, keyfile = Path(self._folder.name) / "cert.pem", Path(self._folder.name) / "key.pem"
            certfile.write_bytes(tls.cert_pem)
            keyfile.write_bytes(tls.key_pem)
        self.scheme = "https" if tls else "http"
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", ssl_certfile=certfile,
                                ssl_keyfile=keyfile)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        """Start and wait until it accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"loopback server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        if self._folder is not None:
            self._folder.cleanup()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
