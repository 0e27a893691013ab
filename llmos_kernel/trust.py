"""Which project config files the user trusts: the sha256 of the exact content, per file, in the user's data folder.

The model is direnv's `allow` (and VS Code's workspace trust): a `llmos.toml` that came with a cloned repository
may not decide where prompts and API keys go until the user has read it and trusted it (`%config trust`). Trust
is for those bytes only: any edit to the file makes it untrusted again. The record lives outside every project,
in `<jupyter data dir>/llmos/trusted.json` (folder 0700, file 0600), so no repository can ship its own trust.
A record file that others could have written (not ours, or group/world-writable) is not believed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from .files import read_regular

FILE_NAME = "trusted.json"
MAX_BYTES = 10_000_000  # a record per trusted file: tens of thousands of them before this is reached


def default_trust_path() -> Path:
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "llmos" / FILE_NAME


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_key(path: Path) -> str:
    """A file's identity in the record: its resolved absolute path (a symlink is trusted as what it points to)."""
    return str(Path(path).expanduser().resolve())


class TrustStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_trust_path()
        self.problem: str | None = None  # why the record was not believed, when it was not

    def is_trusted(self, file: Path, sha256: str) -> bool:
        record = self._records().get(file_key(file))
        return isinstance(record, dict) and record.get("sha256") == sha256

    def trusted_digest(self, file: Path) -> str | None:
        record = self._records().get(file_key(file))
        return record.get("sha256") if isinstance(record, dict) else None

    def trust(self, file: Path, sha256: str) -> None:
        records = self._records()
        records[file_key(file)] = {"sha256": sha256, "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._write(records)

    def untrust(self, file: Path) -> bool:
        records = self._records()
        if records.pop(file_key(file), None) is None:
            return False
        self._write(records)
        return True

    def _records(self) -> dict[str, Any]:
        self.problem = None
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.problem = f"{self.path} could not be read ({exc})"
            return {}
        if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            self.problem = f"{self.path} is writable by others or not yours, so none of its records are believed"
            return {}
        try:
            data = json.loads(read_regular(self.path, MAX_BYTES).decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.problem = f"{self.path} is not readable JSON ({exc}); trusting a file again rewrites it"
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        return dict(files) if isinstance(files, dict) else {}

    def _write(self, records: dict[str, Any]) -> None:
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # a folder made earlier with the umask: tighten it
            os.chmod(folder, 0o700)
        # mkstemp creates the file 0600; os.replace swaps it in at once, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(prefix=".trusted-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"version": 1, "files": records}, out, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
