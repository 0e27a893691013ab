"""read_file and list_files, confined to one folder (the notebook's): no ``..``, no absolute paths, no
symlink that leads out, no binary files, bounded sizes."""

from __future__ import annotations

from pathlib import Path

from .registry import ToolError

MAX_LIST = 200  # entries per listing
SNIFF = 8192  # bytes read to tell text from binary


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
        with target.open("rb") as handle:
            head = handle.read(SNIFF)
        if b"\0" in head:
            raise ToolError(f"{path}: a binary file; only text files can be read")
        try:
            text = target.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{path}: not UTF-8 text; only text files can be read") from None
        if len(text) > max_chars:
            return text[:max_chars] + f"\n[... truncated: {len(text):,} characters, first {max_chars:,} shown]"
        return text

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
