"""Replay: every answer is recorded by the digest of exactly what was sent, and can be played back instead.

Modes (``%replay on|only|off``, or ``$LLMOS_REPLAY`` at start-up):
- off (default): answers are recorded, never replayed;
- on: a request whose digest has a recording is answered from it, without calling the model, at no cost;
- only: the same, and a request without a recording is an error (CI: a notebook must rerun offline).

Every model call is replayed and recorded the same way, since every one passes the send path (sending.py): a
prompt cell, each %%compare column, each --map item, and the summary a compaction asks for. A cell that called
tools records its calls and results with its answer (the ``tools`` column, migration m005); its playback puts
the same tool segments in memory as the live run did, so the next cell sends the same messages (the same
digest) and replays too. A replayed tool call is not run again: replay restores what the model saw and said,
not the tools' side effects.

Recordings live in the session store (table ``recordings``, migrations m003 and m005), shared by every kernel on
it, and travel as JSON lines (``%replay export PATH`` / ``import PATH``) next to the notebook.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .backends.base import CallParams, Delta, Usage
from .errors import UserFacingError
from .files import ExistingFile, read_regular, write_new
from .redact import secret_values
from .sending import Admission, Request, Sent
from .store import Store, scrub

MODES = ("off", "on", "only")
REPLAY_ENV = "LLMOS_REPLAY"
EXPORT_KIND = "llmos-recording"
MAX_IMPORT_BYTES = 512_000_000  # a recordings file is read whole: a bound, not a limit anyone meets


class ReplayMissing(UserFacingError):
    title = "Not recorded"


class BadRecordings(UserFacingError):
    title = "Bad recordings file"


@dataclass
class Recording:
    digest: str
    model: str
    prompt: str
    answer: str
    tokens_in: int = 0
    tokens_out: int = 0
    exact: bool = True
    finish_reason: str | None = None
    created: float = 0.0
    tools: list[dict[str, Any]] = field(default_factory=list)  # the cell's tool calls as memory keeps them

    def __post_init__(self) -> None:
        if not isinstance(self.tools, list) or not all(_is_tool(t) for t in self.tools):
            raise ValueError("'tools' must be a list of {path, text, untrusted} objects")


def _is_tool(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("path"), str) and isinstance(value.get("text"), str)
            and isinstance(value.get("untrusted", False), bool))


_COLUMNS = tuple(f.name for f in fields(Recording))


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


class Recordings:
    """The store's recordings table; an in-memory store when the session store is off (replay still works
    within this kernel, and export carries the recordings out)."""

    def __init__(self, store_of: Callable[[], Store | None]) -> None:
        self._store_of = store_of
        self._fallback: Store | None = None
        self._lock = threading.Lock()

    def _store(self) -> Store:
        store = self._store_of()
        if store is not None:
            return store
        with self._lock:
            if self._fallback is None:
                self._fallback = Store(":memory:")
            return self._fallback

    def get(self, digest: str) -> Recording | None:
        store = self._store()
        # Through the store's transaction: it holds the store's lock, which map workers share with the kernel.
        with store.transaction() as db:
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM recordings WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else _recording(row)

    def put(self, recording: Recording) -> None:
        self.put_many([recording])

    def put_many(self, recordings: list[Recording]) -> None:
        """One transaction (one disk sync) for many: a batch writes its answers in groups as they arrive."""
        if not recordings:
            return
        store = self._store()
        secrets = secret_values(tuple(store.secret_names))
        rows = []
        for recording in recordings:
            values = asdict(recording)
            for name in ("prompt", "answer", "model"):
                values[name] = scrub(values[name], secrets)  # never a key, wherever it came from
            values["tools"] = scrub(json.dumps(recording.tools, ensure_ascii=False), secrets)
            values["exact"] = int(recording.exact)
            rows.append(tuple(values[name] for name in _COLUMNS))
        marks = ", ".join("?" for _ in _COLUMNS)
        with store.transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO recordings ({', '.join(_COLUMNS)}) VALUES ({marks})", rows)

    def all(self) -> list[Recording]:
        store = self._store()
        with store.transaction() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM recordings ORDER BY created, digest").fetchall()
        return [_recording(row) for row in rows]

    def export(self, path: Path, force: bool = False) -> int:
        """Write every recording as one JSON object a line; returns how many. A new file, never through a
        symbolic link; an existing one only with ``force`` (files.py)."""
        recordings = self.all()
        text = "".join(json.dumps({"kind": EXPORT_KIND, **asdict(recording)}, ensure_ascii=False) + "\n"
                       for recording in recordings)
        try:
            write_new(path, text, force=force)
        except ExistingFile as exc:
            raise BadRecordings(str(exc), hint=f"%replay export {path} --force replaces it.") from None
        except OSError as exc:
            raise BadRecordings(f"could not write {path}: {exc.strerror or exc}") from None
        return len(recordings)

    def import_file(self, path: Path) -> int:
        """Read recordings written by export, all or nothing: every line is checked before any is stored, then
        all are stored in one transaction; a bad line names itself and nothing is kept."""
        try:
            lines = read_regular(Path(path), MAX_IMPORT_BYTES).decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadRecordings(f"could not read {path}: {exc}", hint="Nothing was imported.") from None
        parsed = [_parse_line(line, number, path) for number, line in enumerate(lines, 1) if line.strip()]
        self.put_many(parsed)
        return len(parsed)


def _recording(row: tuple) -> Recording:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["exact"] = bool(values["exact"])
    values["tools"] = json.loads(values["tools"] or "[]")
    return Recording(**values)


# What each field of a recordings line must be: a wrong type would otherwise fail half-way through storing.
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "digest": ((str,), "a string"), "model": ((str,), "a string"), "answer": ((str,), "a string"),
    "prompt": ((str,), "a string"), "tokens_in": ((int,), "a whole number"), "tokens_out": ((int,), "a whole number"),
    "exact": ((bool,), "true or false"), "finish_reason": ((str, type(None)), "a string or null"),
    "created": ((int, float), "a number"), "tools": ((list,), "a list"),
}
_REQUIRED = ("digest", "model", "answer")


def _parse_line(line: str, number: int, path: Path) -> Recording:
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or data.get("kind") != EXPORT_KIND:
            raise ValueError(f"not an {EXPORT_KIND} line")
        values = {name: data[name] for name in _COLUMNS if name in data}
        for name in _REQUIRED:
            if name not in values:
                raise ValueError(f"{name!r} is missing")
        for name, value in values.items():
            kinds, wanted = _TYPES[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ValueError(f"{name!r} must be {wanted}")
        values.setdefault("prompt", "")
        values.setdefault("created", time.time())
        return Recording(**values)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadRecordings(f"{path}, line {number}: {exc}",
                            hint="Use a file written by %replay export; nothing was imported.") from None


class ReplayedBackend:
    """Plays a recording back through the runtime's ordinary streaming path: the answer shows, commits to
    memory and enters %ps like any other, at no cost, and nothing is sent."""

    def __init__(self, backend: Any, recording: Recording) -> None:
        self._backend = backend
        self.recording = recording
        self.name = backend.name
        self.label = f"{getattr(backend, 'label', backend.name)} · replayed"

    def stream(self, messages: list[dict], params: CallParams) -> Iterator[Delta]:
        rec = self.recording
        if rec.answer:
            yield Delta(text=rec.answer)
        yield Delta(usage=Usage(rec.tokens_in, rec.tokens_out, cost=0.0, exact=rec.exact),
                    finish_reason=rec.finish_reason or "stop")

    def cost(self, usage: Usage) -> float:
        return 0.0

    def tokenizer(self) -> Any:
        return self._backend.tokenizer()

    def window(self) -> int:
        return self._backend.window()

    def describe(self) -> dict[str, Any]:
        return {**self._backend.describe(), "replayed": self.recording.digest}


def initial_mode() -> str:
    mode = os.environ.get(REPLAY_ENV, "off").strip().lower() or "off"
    return mode if mode in MODES else "off"


class ReplayBook:
    """The runtime's send hook for replay: marks every request with its digest, answers it from a recording
    when the mode says so, and records every answer that came from a model."""

    def __init__(self, recordings: Recordings, mode: str | None = None) -> None:
        self.recordings = recordings
        self.mode = mode or initial_mode()
        self.replayed = 0  # answers played back in this kernel
        self.recorded = 0
        self._lock = threading.Lock()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise UserFacingError(f"unknown replay mode {mode!r}", hint="Use %replay on, only or off.")
        self.mode = mode

    def lookup(self, digest: str) -> Recording | None:
        """The recording to play for this digest in the current mode; raises in "only" mode when there is none."""
        if self.mode == "off":
            return None
        recording = self.recordings.get(digest)
        if recording is None and self.mode == "only":
            raise ReplayMissing(
                f"replay is 'only' and this request has no recording (digest {digest[:12]}): the prompt, model, "
                "parameters or the memory sent with it differ from every recorded one. Nothing was sent.",
                hint="Import the notebook's recordings (%replay import PATH), or %replay on to record as you go.")
        return recording

    # -- SendHook --------------------------------------------------------------------------------------------
    def before(self, admission: Admission) -> None:
        """Marks every request with its digest; plays back what has a recording (mode on or only). In "only"
        mode one missing recording refuses them all, before any is sent."""
        found: list[tuple[Request, Recording]] = []
        missing: list[Request] = []
        for request in admission.requests:
            request.metadata["digest"] = request.digest
            if self.mode == "off":
                continue
            recording = self.recordings.get(request.digest)
            if recording is None:
                missing.append(request)
            else:
                found.append((request, recording))
        if missing and self.mode == "only":
            raise self._missing(admission, missing)
        for request, recording in found:
            self.play(request, recording)

    def play(self, request: Request, recording: Recording) -> None:
        request.backend = ReplayedBackend(request.backend, recording)
        request.replayed = True
        request.metadata["replayed"] = True
        request.tools = [dict(tool) for tool in recording.tools]  # memory gets the live run's tool segments
        with self._lock:  # batch items replay from worker threads' admissions too
            self.replayed += 1

    def _missing(self, admission: Admission, missing: list[Request]) -> ReplayMissing:
        hint = "Import the notebook's recordings (%replay import PATH), or %replay on to record as you go."
        if len(admission.requests) == 1:
            request = missing[0]
            what = "this request" if request.kind == "prompt" else f"the request of {admission.what}"
            return ReplayMissing(
                f"replay is 'only' and {what} has no recording (digest {request.digest[:12]}): the prompt, model, "
                "parameters or the memory sent with it differ from every recorded one. Nothing was sent.",
                model=request.model, hint=hint)
        return ReplayMissing(f"replay is 'only' and {len(missing)} of {len(admission.requests)} {admission.items} "
                             "have no recording; nothing was sent", hint=hint)

    def after(self, sent: list[Sent]) -> None:
        # Partial, failed and replayed answers are not (re)recorded; a batch's answers go in one write.
        self.keep([self.recording_of(s) for s in sent
                   if not s.request.replayed and getattr(s.proc, "status", "") == "ok"
                   and (s.text or s.request.tools)])

    def keep(self, recordings: list[Recording]) -> None:
        if not recordings:
            return
        self.recordings.put_many(recordings)
        with self._lock:
            self.recorded += len(recordings)

    @staticmethod
    def recording_of(sent: Sent) -> Recording:
        request, proc = sent.request, sent.proc
        return Recording(
            digest=request.digest, model=request.model, prompt=last_user_text(request.messages), answer=sent.text,
            tokens_in=int(getattr(proc, "tokens_in", 0)), tokens_out=int(getattr(proc, "tokens_out", 0)),
            exact=bool(getattr(proc, "exact", True)), finish_reason=getattr(proc, "finish_reason", None),
            created=time.time(), tools=[dict(tool) for tool in request.tools])
