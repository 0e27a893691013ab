"""Session magics: the notebook's persistent session, snapshots of its memory, and transcripts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Unicode

from ..errors import UserFacingError
from ..files import ExistingFile, RefusedFile, write_new
from ..runtime import Runtime
from ..session import Session
from ..store import CellRecord, scrub, store_path
from .args import parse

EXPORT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".json": "json"}


@magics_class
class SessionMagics(Magics):
    store_path = Unicode(
        "", help="The session store (SQLite). $LLMOS_STORE wins; empty: <jupyter data dir>/llmos/store.db"
    ).tag(config=True)

    def __init__(self, shell: Any, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)  # with a shell, config comes from it: c.SessionMagics.store_path
        self.runtime = runtime
        self.session = Session(runtime, store_path(self.store_path or None))
        self.session.open()
        runtime.listeners.append(self.session.on_event)
        if shell is not None:
            shell.events.register("post_run_cell", self.session.after_cell)

    @magic_arguments()
    @argument("action", nargs="?", choices=("new", "open"), help="new: start fresh; open: switch to KEY")
    @argument("key", nargs="?", help="the session to open (see %%sessions)")
    @line_magic
    def session(self, line: str) -> None:
        """%session [new | open KEY] - this notebook's session: key, store, counts; new starts fresh, open KEY switches"""
        args = parse(SessionMagics.session, line)
        session = self.session
        if args.action == "new":
            archive = session.start_new()
            print(f"started a fresh session for {session.key}; the previous one is kept as {archive!r}")
            return
        if args.action == "open":
            if not args.key:
                raise UserFacingError("which session? Usage: %session open KEY", hint="%sessions lists them.")
            if not session.switch(args.key):
                raise UserFacingError(f"no session {args.key!r} in {session.path}", hint="%sessions lists them.")
            print(f"opened session {session.key} (model {self.runtime.spec.describe()})")
        self._show()

    def _show(self) -> None:
        session = self.session
        source = {"notebook": "the notebook's path", "generated": "generated: no notebook path was given"}
        print(f"session: {session.key} ({source.get(session.source, session.source)})")
        print(f"store:   {session.path}")
        if session.store is None:
            print(f"persistence is off: {session.error}")
            return
        counts = session.counts()
        memory = self.runtime.loaded_memory
        resident = len(memory.segments) if memory is not None else counts["resident"]
        swapped = len(memory.swap) if memory is not None else counts["swap"]
        print(f"cells: {counts['cells']}, segments: {resident} resident, {swapped} in swap, "
              f"snapshots: {counts['snapshots']}")

    @magic_arguments()
    @argument("--prune", action="store_true", help="delete old sessions (never this one)")
    @argument("--older-than", type=float, metavar="DAYS", help="with --prune: sessions unused for DAYS days")
    @argument("--keep", type=int, metavar="N", help="with --prune: all but the N most recently used")
    @line_magic
    def sessions(self, line: str) -> None:
        """%sessions [--prune [--older-than DAYS] [--keep N]] - every session in the store: key, last use, cells, snapshots (* marks this one); --prune deletes old ones"""
        args = parse(SessionMagics.sessions, line)
        if args.prune:
            self._prune(args.older_than, args.keep)
            return
        if args.older_than is not None or args.keep is not None:
            raise UserFacingError("--older-than and --keep go with --prune", hint="Usage: %sessions --prune --older-than 30")
        rows = self.session.require_store().sessions()
        if not rows:
            print(f"no sessions in {self.session.path} yet")
            return
        for info in rows:
            mark = "*" if info.id == self.session.session_id else " "
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
            print(f"{mark} {used}  {info.cells:>4} cells  {info.snapshots:>2} snapshots  {info.key}")

    def _prune(self, older_than: float | None, keep: int | None) -> None:
        if older_than is None and keep is None:
            raise UserFacingError("prune which sessions?", hint="Usage: %sessions --prune --older-than DAYS or --keep N")
        if (older_than is not None and not 0 <= older_than < 1e6) or (keep is not None and keep < 0):
            raise UserFacingError("--older-than takes a number of days >= 0, --keep a whole number >= 0")
        store = self.session.require_store()
        before = store.size()
        deleted = store.prune(older_than=None if older_than is None else older_than * 86400, keep=keep,
                              protect={self.session.flush()})
        print(f"deleted {len(deleted)} session(s); the store went from {before / 1e6:.1f} to {store.size() / 1e6:.1f} MB")

    @line_magic
    def save(self, line: str) -> None:
        """%save NAME - snapshot the memory under a name (%restore NAME rolls back to it)"""
        name = line.strip()
        if not name:
            raise UserFacingError("which name? Usage: %save NAME")
        replaced = self.session.snapshot(name)
        print(f"{'replaced' if replaced else 'saved'} snapshot {name!r} of session {self.session.key}")

    @line_magic
    def restore(self, line: str) -> None:
        """%restore [NAME] - roll the memory back to a snapshot (without NAME: list the snapshots)"""
        name = line.strip()
        store = self.session.require_store()
        if not name:
            shots = store.snapshots(self.session.session_id) if self.session.session_id is not None else []
            for shot, created in shots:
                print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(created))}  {shot}")
            if not shots:
                print("no snapshots yet (take one: %save NAME)")
            return
        if not self.session.restore(name):
            raise UserFacingError(f"no snapshot {name!r} in this session", hint="%restore lists them.")
        print(f"restored snapshot {name!r} (model {self.runtime.spec.describe()})")

    @magic_arguments()
    @argument("path", nargs="?", help="where to write: a .md or .json file")
    @argument("--force", action="store_true", help="replace the file if it exists")
    @line_magic
    def export(self, line: str) -> None:
        """%export PATH [--force] - write this session's transcript with usage: Markdown (.md) or JSON (.json)"""
        args = parse(SessionMagics.export, line)
        raw = (args.path or "").strip()
        if not raw:
            raise UserFacingError("where to? Usage: %export PATH.md or %export PATH.json")
        path = Path(raw).expanduser()
        fmt = EXPORT_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise UserFacingError(f"cannot tell the format of {path.name!r}", hint="Use a .md or .json file name.")
        if os.path.lexists(path) and not path.is_symlink() and not args.force:  # before the transcript is built
            raise UserFacingError(f"{path} exists and was left as it is", hint=f"%export {raw} --force replaces it.")
        session = self.session
        store = session.require_store()
        cells = store.cells(session.flush())
        text = transcript_markdown(session.key, cells) if fmt == "markdown" else transcript_json(session.key, cells)
        try:  # never through a symbolic link, never over a file without --force (files.py)
            write_new(path, scrub(text), force=args.force)
        except RefusedFile as exc:
            hint = f"%export {raw} --force replaces it." if isinstance(exc, ExistingFile) else None
            raise UserFacingError(str(exc), hint=hint) from None
        except OSError as exc:
            raise UserFacingError(f"could not write {path}: {exc.strerror or exc}") from None
        print(f"exported {len(cells)} cells to {path} ({fmt})")


# -- transcripts -------------------------------------------------------------------------------------------------


def _totals(cells: list[CellRecord]) -> dict[str, Any]:
    priced = [c.cost for c in cells if c.cost is not None]
    return {
        "cells": len(cells),
        "tokens_in": sum(c.tokens_in for c in cells),
        "tokens_out": sum(c.tokens_out for c in cells),
        "cost_usd": sum(priced) if priced else None,
    }


def transcript_json(key: str, cells: list[CellRecord]) -> str:
    document = {
        "session": key,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "totals": _totals(cells),
        "cells": [cell.__dict__ for cell in cells],
    }
    return json.dumps(document, indent=1, ensure_ascii=False)


def transcript_markdown(key: str, cells: list[CellRecord]) -> str:
    totals = _totals(cells)
    cost = "-" if totals["cost_usd"] is None else f"${totals['cost_usd']:.6f}"
    lines = [
        f"# Session {key}",
        "",
        f"Exported {time.strftime('%Y-%m-%d %H:%M:%S')}: {totals['cells']} cells, "
        f"{totals['tokens_in']:,} tokens in, {totals['tokens_out']:,} out, cost {cost}.",
    ]
    for cell in cells:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cell.started))
        label = f"In [{cell.execution_count}]" if cell.execution_count is not None else "cell"
        approx = "" if cell.exact else "~"
        price = "-" if cell.cost is None else f"${cell.cost:.6f}"
        lines += [
            "",
            f"## {label}: {cell.model} ({cell.status})",
            "",
            f"*{when} · {approx}{cell.tokens_in} tokens in · {approx}{cell.tokens_out} out · "
            f"{cell.latency:.2f} s · {price}*",
            "",
            "**Prompt**",
            "",
            _fenced(cell.prompt),
            "",
            "**Answer**",
            "",
            cell.answer or "*(no answer)*",
        ]
    return "\n".join(lines) + "\n"


def _fenced(text: str) -> str:
    # A fence longer than any backtick run inside, so a prompt containing code cannot end it early.
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return f"{fence}\n{text}\n{fence}"


def _longest_backticks(text: str) -> int:
    best = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best
