"""Reading and writing the files a user or a repository names, without being led somewhere else (issue 21).

A project's ``llmos.toml`` or a recordings file comes from wherever the notebook came from, so reading one must
not hang on a FIFO, read ``/dev/zero`` forever or swallow a huge file: ``read_regular`` opens without blocking,
checks on the open descriptor (no race between a check and the read) that it is a regular file, and reads at
most ``max_bytes``. A symbolic link to a regular file is read as that file.

Writing an export must not go through a link someone planted (a dangling ``notes.md -> ~/.bashrc``) or replace a
file the user did not mean to lose: ``write_new`` creates the file with ``O_CREAT | O_EXCL`` (which refuses any
existing name, a dangling link included) unless ``force`` is given, and even then refuses to follow a link
(``O_NOFOLLOW``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class RefusedFile(OSError):
    """A file that was not read or written, and why (the message is meant for the user)."""


class ExistingFile(RefusedFile):
    """The name is taken and ``force`` was not given."""


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; FileNotFoundError when there is none, RefusedFile
    (or another OSError) when it cannot or may not be read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)  # non-blocking: opening a FIFO without a writer returns at once
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(f"it is {kind_of(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise RefusedFile(f"it is larger than {max_bytes:,} bytes")
        chunks, size = [], 0
        while size <= max_bytes:  # the file may grow after fstat: stop at the cap whatever it says
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise RefusedFile(f"it is larger than {max_bytes:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_new(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path``: a new file, or with ``force`` a regular file replaced; never through a
    symbolic link. Raises RefusedFile with the reason, or another OSError."""
    if path.is_symlink():
        raise RefusedFile(f"{path} is a symbolic link (to {os.readlink(path)}); write to a real path instead")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if force else os.O_EXCL
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise ExistingFile(f"{path} exists and was left as it is") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        info = os.fstat(out.fileno())
        if not stat.S_ISREG(info.st_mode):  # --force on a FIFO or device: nothing is written into it
            raise RefusedFile(f"{path} is {kind_of(info.st_mode)}, not a regular file")
        out.write(text)
