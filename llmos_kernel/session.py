"""Sessions that survive restarts and crashes: the wiring between the runtime and the SQLite store.

A session is keyed by the notebook's path, which jupyter_server hands to every kernel it starts as
$JPY_SESSION_NAME (services/sessions/sessionmanager.py: get_kernel_env), so restarting the kernel or reopening
the notebook tomorrow finds the same memory; a kernel started without it gets a generated key.

What is written, and when:
- each finished prompt cell, in one transaction with the memory it left behind, from the runtime's "commit"
  event: a kill during a later cell can lose only that cell;
- any other change (a magic, the panel) after the cell or action, from post_run_cell and the runtime's events.
Writes are incremental: the resident log is diffed against what was last written, so a cell costs what it
changed, not the size of the session.

Swap needs no copying: the memory's swap *is* the session's swap tables in the store file (`Store.swap`, given
to the runtime as its `swap_factory`), so paged-out pages are on disk the moment they leave the window. A crash
between a page-out and the next save can leave a segment both resident (as last saved) and in swap; restoring
keeps the resident one.

Restoring sets the model spec, system prompt and process table at once (cheap), but the memory itself is rebuilt
only when the runtime first needs it (`runtime.memory_loader`): building it needs the model's tokenizer, and
loading a model at start-up would make every kernel start slow.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .backends.registry import ModelSpec
from .lease import SessionLease
from .memory.swap import Swap
from .memory.window import ContextWindow
from .runtime import Process, Runtime
from .store import CellRecord, Store
from .validate import check_saved_state

KEY_ENV = "JPY_SESSION_NAME"
STATE_VERSION = 1
GENERATED_PREFIX = "kernel-"
# Kernels started without a notebook path (nbclient, papermill, the console) get a generated key each time;
# only the most recent of those are kept, so headless runs do not pile up sessions.
KEEP_GENERATED = 20


def session_key() -> tuple[str, str]:
    """(key, where it came from): the notebook's path from jupyter_server, else a generated id."""
    path = os.environ.get(KEY_ENV)
    if path:
        return path, "notebook"
    return f"{GENERATED_PREFIX}{uuid.uuid4().hex[:12]}", "generated"


class Session:
    def __init__(self, runtime: Runtime, path: Path, key: str | None = None) -> None:
        self.runtime = runtime
        self.path = path
        self.key, self.source = (key, "given") if key else session_key()
        self.store: Store | None = None
        self.error: str | None = None  # why persistence is off, when it is
        self.session_id: int | None = None  # None until the first write creates the row
        self.lease = SessionLease(path.parent)  # this kernel's claim on its session key
        self._lock = threading.RLock()
        # Processes that have a cell row, by identity (a Process is an unhashable dataclass); the reference keeps
        # the id from being reused.
        self._stored: dict[int, Process] = {}
        self._attaching = False  # events raised by our own restore are not changes to save
        self._reset_baseline()

    def _reset_baseline(self) -> None:
        """Forget what was written: the next save compares against nothing stored."""
        self._state_json: str | None = None
        self._resident: dict[str, tuple[int, str]] = {}  # id -> (position, JSON) as last written
        self._saved_memory: dict[str, Any] | None = None  # memory settings of a restore not yet built
        self._saved_tokenizer: dict[str, Any] | None = None
        self._saved_spec: dict[str, Any] | None = None

    # -- opening and restoring ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the store and restore this key's session, if any; a broken store only turns persistence off."""
        try:
            self.store = Store(self.path)
            self.store.secret_names.update(self._key_variables())
            self.lease = SessionLease(self.path.parent)
            if not self.lease.take(self.key):
                self._second_kernel()
            self._attach(self.key)
            self.runtime.swap_factory = self.new_swap
            if self.source == "generated":
                self.store.prune(keep=KEEP_GENERATED, prefix=GENERATED_PREFIX, protect={self.session_id or -1})
        except (sqlite3.Error, OSError, ValueError, KeyError, TypeError) as exc:
            self._disable(f"the session store {self.path} could not be opened: {exc}")

    def _second_kernel(self) -> None:
        """Another live kernel owns this notebook's session: keep a session of our own rather than let the two
        overwrite each other's rows."""
        shared = self.key
        self.key, self.source = f"{shared} (second kernel, pid {os.getpid()})", "second kernel"
        self.lease.take(self.key)
        self.runtime.notices.append(
            f"this notebook's session is open in another kernel, so this kernel keeps its own session "
            f"({self.key!r}); nothing of the other one is changed. %sessions lists both.")

    def _attach(self, key: str, restore_processes: bool = True) -> bool:
        """Make `key` this kernel's session and restore its state; False when the store has no such session."""
        assert self.store is not None
        found = self.store.find_session(key)
        self.key = key
        self._reset_baseline()
        self.session_id = None
        if found is None:
            self._state_json = self._dump(self.capture_state()[0])  # defaults are not worth a row yet
            return False
        self.session_id, state = found
        self._attaching = True
        try:
            self._apply_state(state)
        finally:
            self._attaching = False
        if restore_processes:
            self.runtime.processes[:] = [_process(cell) for cell in self.store.cells(self.session_id)]
            self._stored.update((id(p), p) for p in self.runtime.processes)
        self._state_json = self._dump(state)
        return True

    def _apply_state(self, state: dict[str, Any]) -> None:
        runtime = self.runtime
        state, problems = check_saved_state(state, runtime.config.memory)  # the validator of every other door
        if problems:
            runtime.notices.append(f"the saved session {self.key}: {'; '.join(problems)}. Valid values are used"
                                   " instead; the session is restored and saved as usual.")
        if state.get("spec"):
            runtime.spec = ModelSpec(**state["spec"])
        if state.get("system_prompt"):
            runtime.system_prompt = state["system_prompt"]
        if isinstance(state.get("window_overrides"), dict):
            runtime.window_overrides = {str(k): int(v) for k, v in state["window_overrides"].items()}
        if isinstance(state.get("aliases"), dict):  # %alias definitions; the config's own stay unless redefined
            runtime.aliases.update({name: ModelSpec(**spec) for name, spec in state["aliases"].items()})
        if state.get("reserved_output"):
            runtime.reserved_output = int(state["reserved_output"])
        self._saved_memory = state.get("memory")
        self._saved_tokenizer = state.get("tokenizer")
        self._saved_spec = state.get("spec")
        loader = self._build_memory if self._saved_memory else None
        if runtime.loaded_memory is None:
            runtime.memory_loader = loader  # at start-up: no event, so no view builds the memory (loads a model) now
        else:
            runtime.replace_memory(loader)

    def _build_memory(self, tokenizer: Any) -> ContextWindow | None:
        """runtime.memory_loader: the saved window and swap, rebuilt on first use with the model's tokenizer."""
        with self._lock:
            if self.store is None or self.session_id is None or self._saved_memory is None:
                return None
            try:
                return self._rebuild(tokenizer)
            except Exception as exc:  # noqa: BLE001 - never write over a session we failed to read
                self._disable(f"the saved memory of {self.key} could not be restored ({exc}); it is left as it"
                              " was in the store, and this kernel starts with an empty memory")
                return None

    def _rebuild(self, tokenizer: Any) -> ContextWindow:
        assert self.store is not None and self.session_id is not None and self._saved_memory is not None
        resident = self.store.segments(self.session_id)["resident"]
        swap = self.store.swap(self.session_id)
        for data in resident:
            swap.remove(data["id"])  # paged out, then the kernel died before the log was saved: resident wins
        tok = self._saved_tokenizer or {}
        if hasattr(tokenizer, "calibrate") and tok.get("name") == getattr(tokenizer, "name", None):
            tokenizer.scale = float(tok.get("scale", tokenizer.scale))  # the estimate learnt from the provider
            tokenizer.samples = int(tok.get("samples", 0))
        runtime = self.runtime
        memory = {**self._saved_memory, "segments": resident}
        memory["window"] = memory["window"] or runtime.window_for(runtime.spec, runtime.backend)  # 0: invalid saved
        window = ContextWindow.from_dict(memory, tokenizer, swap)
        if self._saved_spec != asdict(self.runtime.spec):  # the model was switched before the memory was used
            window.refit(window=runtime.window_for(runtime.spec, runtime.backend))
        self._resident = {s.id: (i, json.dumps(s.to_dict())) for i, s in enumerate(window.segments)}
        self._saved_memory = self._saved_tokenizer = None
        return window

    def new_swap(self) -> Swap:
        """runtime.swap_factory: a new memory's swap, in this session's rows of the store (the session row is
        created for it); a temporary file when persistence is off."""
        with self._lock:
            if self.store is None:
                return Swap()
            try:
                return self.store.swap(self._ensure_row())
            except sqlite3.Error as exc:
                self._disable(f"the session store {self.path} could not be written ({exc})")
                return Swap()

    def _ensure_row(self) -> int:
        assert self.store is not None
        if self.session_id is None:
            state, _ = self.capture_state()
            self.session_id = self.store.create_session(self.key, state)
            self._state_json = self._dump(state)
        return self.session_id

    def _adopt_swap(self, memory: ContextWindow) -> None:
        """A memory built before this session had a row (or restored elsewhere) keeps its swap somewhere else:
        move it into this session's rows, once."""
        assert self.store is not None
        swap = memory.swap
        if self.session_id is not None and swap.stored_in(self.store.connection, self.session_id):
            return
        mine = self.store.swap(self._ensure_row())
        mine.replace_all(swap.all())
        memory.swap = mine
        swap.close()

    # -- capturing and saving ----------------------------------------------------------------------------------

    def capture_state(self) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """(session state, resident segment dicts or None when the memory is not built yet)."""
        runtime = self.runtime
        memory = runtime.loaded_memory
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "spec": asdict(runtime.spec),
            "system_prompt": runtime.system_prompt,
            "window_overrides": dict(runtime.window_overrides),
            "reserved_output": runtime.reserved_output,
            # Only aliases made in the session (%alias): the config's follow its file, and its trust (%config).
            "aliases": {name: asdict(spec) for name, spec in runtime.aliases.items()
                        if runtime.config.aliases.get(name) != spec},
            "memory": self._saved_memory,
            "tokenizer": self._saved_tokenizer,
        }
        if memory is None:
            return state, None
        data = memory.to_dict()
        resident = data.pop("segments")
        state["memory"] = data
        tokenizer = memory.tokenizer
        if hasattr(tokenizer, "calibrate"):
            state["tokenizer"] = {"name": tokenizer.name, "scale": getattr(tokenizer, "scale", 1.0),
                                  "samples": getattr(tokenizer, "samples", 0)}
        return state, resident

    def save(self, cell: CellRecord | None = None) -> None:
        """Write what changed since the last save (and `cell`) in one transaction."""
        with self._lock:
            if self.store is None:
                return
            self.store.secret_names.update(self._key_variables())
            state, resident = self.capture_state()
            state_json = self._dump(state)
            memory = self.runtime.loaded_memory
            if memory is not None:
                self._adopt_swap(memory)
            current = self._positions(resident) if resident is not None else None
            if cell is None and state_json == self._state_json and (current is None or current == self._resident):
                return
            self._write(cell, state, state_json, current)

    def _write(self, cell: CellRecord | None, state: dict[str, Any], state_json: str,
               current: dict[str, tuple[int, str]] | None) -> None:
        assert self.store is not None
        store = self.store
        with store.transaction():
            session_id = self.session_id or store.create_session(self.key, state)
            if cell is not None:
                store.add_cell(session_id, cell)
            if state_json != self._state_json:
                store.save_state(session_id, state)
            if current is not None:
                gone = [sid for sid in self._resident if sid not in current]
                store.delete_segments(session_id, "resident", gone)
                changed = [(sid, pos, data) for sid, (pos, data) in current.items()
                           if self._resident.get(sid) != (pos, data)]
                store.put_segments(session_id, "resident", changed)
        self.session_id, self._state_json = session_id, state_json
        if current is not None:
            self._resident = current

    def _positions(self, resident: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
        """id -> (position, JSON) of the resident log. A segment keeps its stored position while the order allows,
        so removing one from the middle rewrites one row, not every row after it."""
        positions: dict[str, tuple[int, str]] = {}
        last = -1
        for data in resident:
            old = self._resident.get(data["id"])
            last = old[0] if old is not None and old[0] > last else last + 1
            positions[data["id"]] = (last, json.dumps(data))
        return positions

    @staticmethod
    def _dump(state: dict[str, Any]) -> str:
        return json.dumps(state, sort_keys=True)

    # -- hooks: the runtime's events and IPython's post_run_cell -----------------------------------------------

    def on_event(self, event: str) -> None:
        """runtime listener: "commit" records the finished cell; memory changes are saved as they happen."""
        if event == "progress" or self.store is None or self._attaching:
            return
        cell = self._cell_record() if event == "commit" else None
        self._safely(self.save, cell)

    def after_cell(self, result: Any) -> None:
        """post_run_cell: record cells that failed (the process table keeps them) and save any other change."""
        if self.store is None:
            return
        raw = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        for proc in [p for p in self.runtime.processes if id(p) not in self._stored]:
            self._stored[id(proc)] = proc
            self._safely(self.save, _record(proc, raw, "", {}))
        self._safely(self.save, None)

    def _cell_record(self) -> CellRecord | None:
        answer = self.runtime.last_answer
        if answer is None or id(answer.process) in self._stored:
            return None
        self._stored[id(answer.process)] = answer.process
        options = asdict(answer.options) if answer.options is not None else {}
        return _record(answer.process, answer.prompt, answer.text, options)

    def _safely(self, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - the cell itself succeeded: say it was not saved, never fail it
            print(f"warning: the session store could not save this cell ({type(exc).__name__}: {exc})",
                  file=sys.stderr)

    def _disable(self, reason: str) -> None:
        self.error = reason
        if self.store is not None:
            self.store.close()
        self.store = None
        notices = getattr(self.runtime, "notices", None)
        if isinstance(notices, list):
            notices.append(reason)

    def _key_variables(self) -> set[str]:
        specs = [self.runtime.spec, *self.runtime.aliases.values()]
        return {spec.api_key_env for spec in specs if spec.api_key_env}

    # -- commands (the magics call these) ----------------------------------------------------------------------

    def require_store(self) -> Store:
        if self.store is None:
            from .errors import UserFacingError

            raise UserFacingError(self.error or "the session store is not open",
                                  hint=f"Check that {self.path} is writable (or set $LLMOS_STORE), then restart.")
        return self.store

    def flush(self) -> int:
        """Save everything now and make sure the session row exists; returns its id."""
        store = self.require_store()
        self.save()
        if self.session_id is not None:
            return self.session_id
        state, _ = self.capture_state()
        session_id = self.session_id = store.create_session(self.key, state)
        self._state_json = self._dump(state)
        return session_id

    def snapshot(self, name: str) -> bool:
        """Save the memory under `name`; True when an older snapshot of that name was replaced."""
        with self._lock:
            return self.require_store().save_snapshot(self.flush(), name)

    def restore(self, name: str) -> bool:
        """Roll the memory back to a snapshot; False when there is none of that name."""
        with self._lock:
            store = self.require_store()
            session_id = self.flush()
            if not store.restore_snapshot(session_id, name):
                return False
            self._attach(self.key, restore_processes=False)
            return True

    def start_new(self) -> str:
        """Archive this key's session under a new key and start an empty one; returns the archive's key."""
        with self._lock:
            store = self.require_store()
            session_id = self.flush()
            archive = f"{self.key} (until {time.strftime('%Y-%m-%d %H:%M:%S')}, #{session_id})"
            store.rename_session(session_id, archive)
            self._reset_baseline()
            self.session_id = None
            self.runtime.processes.clear()
            self.runtime.replace_memory(None)
            self.flush()
            return archive

    def switch(self, key: str) -> bool:
        """Make another stored session this kernel's (its memory, model, process table)."""
        with self._lock:
            self.require_store()
            self.flush()
            if self.require_store().find_session(key) is None:
                return False
            if not self.lease.take(key):
                from .errors import UserFacingError

                raise UserFacingError(f"session {key!r} is open in another kernel",
                                      hint="Close that notebook's kernel first, or %session new.")
            self._attach(key)
            return True

    def counts(self) -> dict[str, int]:
        return self.require_store().counts(self.session_id)


def _record(proc: Process, prompt: str, answer: str, options: dict[str, Any]) -> CellRecord:
    return CellRecord(
        prompt=prompt, answer=answer, model=proc.model, status=proc.status, parameters=options,
        cell_id=proc.cell_id, execution_count=proc.cell, tokens_in=proc.tokens_in, tokens_out=proc.tokens_out,
        exact=proc.exact, latency=proc.latency, cost=proc.cost, started=proc.started,
        finished=proc.started + proc.latency,
    )


def _process(cell: CellRecord) -> Process:
    return Process(cell.execution_count, cell.cell_id, cell.model, status=cell.status, tokens_in=cell.tokens_in,
                   tokens_out=cell.tokens_out, latency=cell.latency, cost=cell.cost, exact=cell.exact,
                   started=cell.started)
