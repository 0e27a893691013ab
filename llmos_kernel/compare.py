"""%%compare: one prompt on several models at once, side by side, each with its tokens, latency and cost.

The models stream concurrently, one thread each, so the cell takes about as long as the slowest model, not the
sum (benchmarks/bench_compare.py). Only the main thread touches the display, the process table and memory: the
threads put what they receive on a queue, and the main thread renders it. An interrupt (SIGINT) reaches the
main thread while it waits on that queue; it tells the threads to stop, which close their streams at the next
chunk. Two columns on the very same backend object (``%%compare m m``) take turns: a llama.cpp model is not
safe to run twice at once.

Each column is a request on the one send path (sending.py), admitted together before any thread starts: a
recorded column replays (a missing recording in ``%replay only`` refuses the cell, nothing sent), the budget
prices the columns together and may refuse them all; the answers are recorded like a prompt cell's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .backends.base import Delta, Usage
from .errors import BackendFailed, CellInterrupted, PromptError, UserFacingError
from .redact import redact
from .render import CompareDisplay, Footer
from .runtime import Process, PromptOptions, Runtime
from .sending import Request, SendPath, Sent

TICK = 0.1  # seconds the main thread waits for news before refreshing the live columns (and seeing interrupts)


@dataclass
class _Event:
    column: int
    delta: Delta | None = None
    error: UserFacingError | None = None
    done: bool = False


def run_compare(runtime: Runtime, prompt: str, models: list[str], options: PromptOptions) -> list[Process]:
    """The current memory is the context for every model; nothing is committed to it."""
    if not prompt.strip():
        raise PromptError("the cell is empty: nothing to compare", hint="Put the prompt under %%compare M1 M2.")
    backends = [runtime.backend_for(runtime.resolve(m)) for m in models]  # unknown models fail before any call
    messages = runtime.plan(prompt, options).messages
    params = runtime.params(options)
    count = runtime.current_cell
    requests = [Request(b, messages, params, options, prompt, execution_count=count, kind="compare")
                for b in backends]
    runtime.sender.admit(requests, what=f"this comparison of {len(requests)} models", items="models' requests")
    view = CompareDisplay([b.name for b in backends])
    rows = [Process(count, None, b.name, kind="compare") for b in backends]
    runtime.processes.extend(rows)
    usages: list[Usage | None] = [None] * len(backends)
    events: queue.Queue[_Event] = queue.Queue()
    stop = threading.Event()
    locks: dict[int, threading.Lock] = {id(b): threading.Lock() for b in backends}  # the real backends
    started = time.monotonic()
    for i, request in enumerate(requests):
        view.columns[i].footer = "waiting…"
        worker = threading.Thread(target=_stream_column, name=f"llmos-compare-{i}", daemon=True,
                                  args=(i, runtime.sender, request, events, stop, locks[id(backends[i])]))
        worker.start()
    view.update(force=True)
    running = set(range(len(backends)))
    try:
        while running:
            try:
                event = events.get(timeout=TICK)
            except queue.Empty:
                _show_progress(view, rows, running, started)
                continue
            running -= _apply(event, view, rows, usages, started)
            _show_progress(view, rows, running, started)
    except KeyboardInterrupt:
        stop.set()
        for i in running:
            rows[i].status, rows[i].latency = "interrupted", time.monotonic() - started
    for i, (proc, request) in enumerate(zip(rows, requests, strict=True)):
        column = view.columns[i]
        if proc.status in ("ok", "interrupted"):
            runtime.account(proc, request.backend, usages[i], messages, column.text)
        column.footer = Footer(request.model, proc.tokens_in, proc.tokens_out, proc.latency, proc.cost,
                               proc.exact, proc.status, None, request.replayed).text()
    runtime.sender.done([Sent(r, view.columns[i].text, rows[i]) for i, r in enumerate(requests)])
    meta = [{"model": p.model, "status": p.status, "tokens_in": p.tokens_in, "tokens_out": p.tokens_out,
             "latency_s": round(p.latency, 3), "cost_usd": p.cost, **r.metadata}
            for p, r in zip(rows, requests, strict=True)]
    view.update(force=True, metadata={"llmos": {"compare": meta}})
    if stop.is_set():
        raise CellInterrupted("%%compare was stopped; the partial answers are shown (nothing is kept in memory)")
    return rows


def _apply(event: _Event, view: CompareDisplay, rows: list[Process], usages: list[Usage | None],
           started: float) -> set[int]:
    """Show one event from a column's thread; returns the columns it finished."""
    column, proc = view.columns[event.column], rows[event.column]
    if event.delta is not None:
        column.text += event.delta.text
        usages[event.column] = event.delta.usage or usages[event.column]
        proc.finish_reason = event.delta.finish_reason or proc.finish_reason
    if event.error is not None:
        column.error, proc.status = event.error.render(), "error"
    if not event.done:
        return set()
    proc.latency = time.monotonic() - started
    if proc.status == "running":
        proc.status = "ok"
    return {event.column}


def _show_progress(view: CompareDisplay, rows: list[Process], running: set[int], started: float) -> None:
    """Each running column's own status line: waiting for its first token, or streaming, with its time."""
    elapsed = time.monotonic() - started
    for i in running:
        column = view.columns[i]
        state = "streaming" if column.text else "waiting"
        column.footer = f"{rows[i].model} · {state} · {elapsed:.1f} s"
    view.update()


def _stream_column(i: int, sender: SendPath, request: Request, events: queue.Queue[_Event], stop: threading.Event,
                   lock: threading.Lock) -> None:
    """One column's thread: its model's stream onto the queue, then one closing event, whatever happened."""
    error: UserFacingError | None = None
    backend = request.backend
    with lock:
        deltas: Iterator[Delta] | None = None
        try:
            if hasattr(backend, "check_key"):  # a replayed column needs no key
                backend.check_key()
            deltas = sender.stream(request)
            for delta in deltas:
                if stop.is_set():
                    break
                events.put(_Event(i, delta=delta))
        except UserFacingError as exc:  # one model failing must not hide the others' answers
            error = exc
        except Exception as exc:
            error = _failed(exc, backend)
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # an interrupted column's connection closes now, not when the generator is collected
    events.put(_Event(i, error=error, done=True))


def _failed(exc: Exception, backend: Any) -> BackendFailed:
    detail = redact(str(exc).strip().splitlines()[0][:300]) if str(exc).strip() else ""
    return BackendFailed(f"{backend.name} raised {type(exc).__name__}" + (f": {detail}" if detail else ""),
                         model=backend.name, hint="The other columns are unaffected; run the cell again.")
