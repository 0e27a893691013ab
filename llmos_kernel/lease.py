"""Which kernel owns a stored session: an advisory file lock per session key, held for the kernel's life.

Two kernels on the same notebook (two browser tabs, a restart while the old process lingers) would otherwise
both write the same session rows, and each one's incremental save deletes the rows it did not write itself. The
lock is the operating system's (flock), so it is released when its process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; two kernels on one notebook are not detected there
    fcntl = None  # type: ignore[assignment]


class SessionLease:
    # Leases held in this process, by lock file: a session re-opened by the same process (the same kernel)
    # takes the lease over instead of locking itself out (flock conflicts between two opens of one file).
    _held: dict[Path, SessionLease] = {}

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "locks"
        self.key: str | None = None
        self._fd: int | None = None

    def _file(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".lock")

    def take(self, key: str) -> bool:
        """Own ``key`` (releasing the key held before); False when another live kernel owns it."""
        if key == self.key:
            return True
        if fcntl is None:
            self.key = key
            return True
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._file(key)
        holder = SessionLease._held.get(path)
        if holder is not None and holder is not self:
            holder.release()
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.release()
        self._fd, self.key = fd, key
        SessionLease._held[path] = self
        return True

    def release(self) -> None:
        if self.key is not None:
            SessionLease._held.pop(self._file(self.key), None)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the lock
        self._fd, self.key = None, None
