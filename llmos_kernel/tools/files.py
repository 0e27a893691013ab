"""read_file and list_files, confined to one folder (the notebook's): no ``..``, no absolute paths, no
symlink that leads out, no binary files, bounded sizes.

A file is read only as far as it is shown: at most 4 bytes a character (UTF-8's longest) for the characters
kept, plus one byte to know whether there is more. A 600 MB log costs 64 KB of memory, not 600 MB.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from .registry import ToolError

MAX_LIST = 200  # entries per listing
SNIFF = 8192  # bytes read to tell text from binary
MARKER_ROOM = 200  # characters kept free for the truncation marker, so the whole result fits the cap
UTF8_MAX = 4  # bytes of the longest UTF-8 character


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def resolve(self, relative: str) -> Path:
        if not isinstance(relative, str) or not relative.strip():
            raise ToolError("give a path relative to the notebook's folder")
        given = Path(relative)
        if given.is_absolute() or relative.startswith("~"):
            raise ToolError(f"{relative}: absolute paths are refused; give a path inside the notebook's folder")
        if ".." in given.parts:
            raise ToolError(f"{relative}: '..' is refused; only the notebook's folder can be read")
        target = (self.root / given).resolve()  # follows symlinks: a link that leads out is caught here
        if target != self.root and self.root not in target.parents:
            raise ToolError(f"{relative}: leads outside the notebook's folder (a symlink?); refused")
        return target

    def read(self, path: str, max_chars: int) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path}: no such file")
        keep = max(max_chars - MARKER_ROOM, 1)
        limit = keep * UTF8_MAX + 1  # enough bytes for `keep` characters, and one more to know there is more
        with target.open("rb") as handle:
            raw = handle.read(limit)
            size = max(handle.seek(0, 2), len(raw))  # the end, without reading to it
        whole = size <= len(raw)
        if b"\0" in raw[:SNIFF]:
            raise ToolError(f"{path}: a binary file; only text files can be read")
        try:
            # Not final when cut: a character split by the limit is left out, not an error.
            text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=whole)
        except UnicodeDecodeError:
            raise ToolError(f"{path}: not UTF-8 text; only text files can be read") from None
        if whole and len(text) <= max_chars:
            return text
        return text[:keep] + f"\n[... truncated: the file is {size:,} bytes; its first {keep:,} characters shown]"

    def list(self, path: str = ".") -> str:
        target = self.resolve(path or ".")
        if not target.is_dir():
            raise ToolError(f"{path}: not a folder")
        entries = []
        for child in sorted(target.iterdir()):
            if child.name.startswith("."):
                continue
            try:
                inside = self.resolve(str(child.relative_to(self.root)))
            except ToolError:
                continue  # a symlink out of the folder is not even named
            entries.append(f"{child.name}/" if inside.is_dir() else f"{child.name} ({inside.stat().st_size:,} bytes)")
        shown = entries[:MAX_LIST]
        more = f"\n[... {len(entries) - MAX_LIST} more]" if len(entries) > MAX_LIST else ""
        return "\n".join(shown) + more if shown else "(empty folder)"
