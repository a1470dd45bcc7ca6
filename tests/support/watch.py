"""Watching the machine during a run: whether a file is opened (inotify), whether anyone connects to a port."""

import ctypes
import os
import socket
import threading
from pathlib import Path

_IN_ACCESS, _IN_OPEN = 0x1, 0x20


class FileWatch:
    """Notices any process opening or reading ``path`` (Linux inotify); use as a context manager."""

    def __init__(self, path: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
        if self._fd < 0 or self._libc.inotify_add_watch(self._fd, str(path).encode(), _IN_ACCESS | _IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify impossible sur {path}")

    @property
    def touched(self) -> bool:
        """True once the file has been opened or read since the watch began."""
        try:
            return bool(os.read(self._fd, 4096))
        except BlockingIOError:
            return False

    def __enter__(self) -> "FileWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


class Sentinel:
    """A listener on another loopback address that records every connection made to it."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self._sock = socket.create_server((host, 0))
        self._sock.settimeout(0.2)
        self.address = f"{host}:{self._sock.getsockname()[1]}"
        self.connections: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            self.connections.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    def __enter__(self) -> "Sentinel":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
