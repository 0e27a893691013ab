"""One prompt mapped over data (``%%prompt --map NAME``): a batch job with progress, budget, retries and resume.

Each item is its own request with ``--no-history`` semantics (system prompt + the item's prompt): items never
see each other, and the conversation memory gets one summary line of the batch, not hundreds of turns. Before
the first item is sent, every item's request is built and the whole batch is admitted on the one send path
(sending.py): items that have a recording (replay on) replay, and are left out of the estimate since they cost
nothing; in ``%replay only`` one missing recording refuses the batch; the rest is estimated and checked against
the budgets (budget.py) as a whole. Remote models run ``concurrency`` items at once on a thread pool (the
backend's HTTP client is shared and thread-safe); a local model runs them one by one (one answer at a time).

A failed item is retried (``retries`` more attempts) unless its error can never succeed on retry (a rejected
key, an unknown model, a request too long); failures are collected, not fatal. An interrupt keeps what finished:
every answer is recorded as it arrives, so with replay on a rerun of the cell replays those and runs the rest.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import threading
import time
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .backends.base import Unloadable
from .backends.provider_errors import ContextTooLong
from .budget import Estimate, combine, money, price
from .errors import CellInterrupted, KeyRejected, MissingAPIKey, ModelNotFound, PromptError, UserFacingError
from .interpolate import interpolate
from .replay import ReplayBook, ReplayMissing
from .runtime import Process, PromptOptions, Runtime
from .sending import Request, Sent

PERMANENT = (KeyRejected, MissingAPIKey, ModelNotFound, ContextTooLong, PromptError)
WRITE_INTERVAL = 0.25  # seconds between writes of finished answers to the store


@dataclass
class Item:
    key: Any  # the list position, dict key or pandas index label the result is aligned to
    values: dict[str, Any]  # what {placeholders} see for this item
    request: Request | None = None
    status: str = "pending"  # pending | done | replayed | failed | interrupted
    answer: str | None = None
    error: str | None = None
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    exact: bool = True
    estimate: Estimate | None = None  # None: it replays, at no cost


@dataclass
class BatchResult:
    data: Any
    items: list[Item]
    interrupted: bool = False
    summary: str = ""
    convert: Callable[[str], Any] | None = None  # e.g. JSON answers to Python values
    bad: list[str] = field(default_factory=list)

    def values(self) -> list[Any]:
        out = []
        for item in self.items:
            value = item.answer if item.status in ("done", "replayed") else None
            if value is not None and self.convert is not None:
                try:
                    value = self.convert(value)
                except UserFacingError as exc:
                    self.bad.append(f"{item.key!r}: {exc}")
                    value = None
            out.append(value)
        return out

    def bound(self) -> Any:
        """The answers aligned to the input: a list, a dict, or a pandas Series on the input's index; a failed
        (or unfinished) item is a missing value."""
        values = self.values()
        kind = data_kind(self.data)
        if kind == "dict":
            return {item.key: value for item, value in zip(self.items, values, strict=True)}
        if kind in ("series", "dataframe"):
            import pandas  # the input is pandas already: it is installed

            return pandas.Series(values, index=self.data.index, dtype=object)
        return values

    def raise_if_interrupted(self) -> None:
        if self.interrupted:
            done = sum(1 for i in self.items if i.status in ("done", "replayed"))
            raise CellInterrupted(f"the batch was stopped after {done} of {len(self.items)} items; the finished "
                                  "ones are kept (and recorded: with %replay on, running the cell again resumes)")


def data_kind(data: Any) -> str:
    cls = type(data)
    if cls.__module__.startswith("pandas") and cls.__name__ in ("Series", "DataFrame"):
        return cls.__name__.lower()
    if isinstance(data, Mapping):
        return "dict"
    if isinstance(data, list | tuple | range):
        return "list"
    return "other"


def items_of(data: Any, name: str) -> list[Item]:
    kind = data_kind(data)
    if kind == "dataframe":
        columns = [str(c) for c in data.columns]
        return [Item(key, {**dict(zip(columns, row, strict=True)), "item": dict(zip(columns, row, strict=True)),
                           "index": key})
                for key, row in zip(data.index, data.itertuples(index=False, name=None), strict=True)]
    if kind == "series":
        return [Item(key, {"item": value, "index": key}) for key, value in data.items()]
    if kind == "dict":
        return [Item(key, {"item": value, "key": key}) for key, value in data.items()]
    if kind == "list":
        return [Item(i, {"item": value, "index": i}) for i, value in enumerate(data)]
    raise PromptError(f"--map {name}: a {type(data).__name__} is not something to map over",
                      hint="Use a list, a dict, a pandas Series or a DataFrame.")


class Batch:
    """The run of one --map cell; `progress` is the live display (widgets/progress.py)."""

    def __init__(self, runtime: Runtime, book: ReplayBook, items: list[Item], proc: Process, progress: Any,
                 retries: int, room: Callable[[float | None], bool]) -> None:
        self.runtime = runtime
        self.book = book
        self.items = items
        self.proc = proc
        self.progress = progress
        self.retries = retries
        self.room = room  # is there budget left for one more attempt costing at most this?
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started = time.monotonic()
        # Answers the send hooks have not seen yet: shown to them (recorded) in groups from the main thread (one
        # disk sync each, not one per item: a sync per item cost a fifth of the throughput at concurrency 8).
        self.unrecorded: list[Sent] = []
        self._written = time.monotonic()

    def run(self, concurrency: int) -> bool:
        """Runs every item; True when it was interrupted."""
        try:
            if concurrency <= 1:
                for item in self.items:
                    self.run_item(item)
                    self.update()
            else:
                self._run_pool(concurrency)
        except KeyboardInterrupt:
            self.stop.set()
            for item in self.items:
                if item.status == "pending":
                    item.status = "interrupted"
            return True
        return False

    def _run_pool(self, concurrency: int) -> None:
        pool = futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llmos-map")
        try:
            pending = {pool.submit(self.run_item, item) for item in self.items}
            while pending:
                done, pending = futures.wait(pending, timeout=0.2, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    future.result()  # a bug of ours in a worker surfaces here, not silently
                self.update()
        finally:
            # An interrupt: queued items never start; running ones stop at their next chunk.
            pool.shutdown(wait=False, cancel_futures=True)

    def run_item(self, item: Item) -> None:
        request = item.request
        assert request is not None
        recording = getattr(request.backend, "recording", None) if request.replayed else None
        if recording is not None:  # the send path's admission found it recorded
            self._finish(item, "replayed", recording.answer, recording.tokens_in, recording.tokens_out, 0.0,
                         recording.exact)
            return
        while not self.stop.is_set():
            item.attempts += 1
            proc = Process(None, None, request.model, kind="map item")
            try:
                text, usage, finish = self.runtime.sender.collect(request, self.stop)
            except UserFacingError as exc:
                item.error = exc.render()
                worst = item.estimate.cost_max if item.estimate is not None else None
                if isinstance(exc, PERMANENT) or item.attempts > self.retries or not self.room(worst):
                    self._finish(item, "failed", None, 0, 0, None, True)
                    return
                continue
            proc.status, proc.finish_reason = "ok", finish
            # Safe from a worker thread: for a plan without memory, accounting only reads the memory's tokenizer
            # (to count a missing usage) and never calibrates it or looks up a backend.
            self.runtime.account(proc, request.backend, usage, request.messages, text)
            if self.stop.is_set():
                return  # finished after the interrupt: the cell has ended, so it is not counted
            with self.lock:
                self.unrecorded.append(Sent(request, text, proc))
            self._finish(item, "done", text, proc.tokens_in, proc.tokens_out, proc.cost, proc.exact)
            return

    def _finish(self, item: Item, status: str, answer: str | None, tokens_in: int, tokens_out: int,
                cost: float | None, exact: bool) -> None:
        with self.lock:
            item.status, item.answer = status, answer
            item.tokens_in, item.tokens_out, item.cost, item.exact = tokens_in, tokens_out, cost, exact
            if status == "done":
                item.error = None
            proc = self.proc
            proc.tokens_in += tokens_in
            proc.tokens_out += tokens_out
            proc.exact = proc.exact and exact
            if cost is not None:
                proc.cost = (proc.cost or 0.0) + cost
            proc.latency = time.monotonic() - self.started

    def counts(self) -> dict[str, int]:
        statuses = [item.status for item in self.items]
        done = statuses.count("done") + statuses.count("replayed")
        return {"total": len(statuses), "done": done, "replayed": statuses.count("replayed"),
                "failed": statuses.count("failed"), "left": len(statuses) - done - statuses.count("failed")}

    def update(self, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._written >= WRITE_INTERVAL:  # a killed kernel loses at most this much
            self._written = now
            with self.lock:
                done, self.unrecorded = self.unrecorded, []
            try:
                self.runtime.sender.done(done)
            except BaseException:  # an interrupt during the write: keep them for the final one
                with self.lock:
                    self.unrecorded[:0] = done
                raise
        self.progress.update(self.counts(), self.proc, time.monotonic() - self.started, final=final)
        self.runtime.notify("progress")


def run_map(runtime: Runtime, book: ReplayBook, guard: Any, template: str, data: Any, *, name: str,
            namespace: Mapping[str, Any], options: PromptOptions, concurrency: int, retries: int,
            cell_id: str | None, execution_count: int | None, dry: bool, progress_factory: Callable[..., Any],
            convert: Callable[[str], Any] | None = None) -> BatchResult | None:
    """Run `template` once per item of `data`; None for a dry run (the estimate is printed)."""
    if not template:
        raise PromptError("the cell is empty: nothing to map", hint=f"Write the prompt under %%prompt --map {name}.")
    items = items_of(data, name)
    if not items:
        raise PromptError(f"--map {name}: {name} has no items, nothing was sent")
    item_options = dataclasses.replace(options, no_history=True, as_name=None)
    maps = list(namespace.maps) if isinstance(namespace, ChainMap) else [namespace]
    for item in items:
        try:
            prompt = interpolate(template, ChainMap(item.values, *maps))
        except PromptError as exc:
            raise PromptError(f"item {item.key!r}: {exc}", hint=exc.hint) from None
        item.request = runtime.prepare(prompt, item_options)
    requests = [item.request for item in items if item.request is not None]
    backend = requests[0].backend
    what = f"this batch of {len(items)} items"
    if dry:
        _dry_run(book, guard, items, name)
        return None
    # The whole batch on the send path, before its first item: replay, then the budgets over what is left.
    runtime.sender.admit(requests, what=what, items=f"items of {name}", budget=options.budget)
    for item in items:
        item.estimate = item.request.estimate if item.request is not None else None  # priced when budgets need it
    local = isinstance(backend, Unloadable)
    workers = 1 if local else min(concurrency, len(items))
    proc = Process(execution_count, cell_id, str(backend.name), cost=price(backend, 0, 0),  # None: no price known
                   kind=f"map {len(items)} items")
    runtime.processes.append(proc)
    progress = progress_factory(name, len(items))
    if local and concurrency > 1:
        print(f"note: {backend.name} runs here, one answer at a time: the items run one by one")

    def room(worst: float | None) -> bool:
        spent_in_batch = proc.cost or 0.0
        if options.budget is not None and worst is not None and spent_in_batch + worst > options.budget:
            return False
        return guard.limit is None or worst is None or guard.spent() + worst <= guard.limit

    batch = Batch(runtime, book, items, proc, progress, retries, room)
    try:
        interrupted = batch.run(workers)
    except BaseException:
        proc.status = "error"
        batch.update(final=True)
        raise
    result = BatchResult(data, items, interrupted, convert=convert)
    _finish(runtime, batch, result, template, name, cell_id, execution_count)
    return result


def _dry_run(book: ReplayBook, guard: Any, items: list[Item], name: str) -> None:
    """What the batch would send and cost (recorded items cost nothing); sends nothing, records nothing."""
    requests = [item.request for item in items if item.request is not None]
    try:
        recorded = {request.digest for request in requests if book.lookup(request.digest)}
    except ReplayMissing:
        missing = sum(1 for request in requests if book.recordings.get(request.digest) is None)
        raise ReplayMissing(f"replay is 'only' and {missing} of {len(items)} items of {name} have no recording; "
                            "nothing was sent",
                            hint="Import the recordings (%replay import PATH), or %replay on.") from None
    estimates = [guard.estimate(request) for request in requests if request.digest not in recorded]
    est = combine(estimates, str(requests[0].backend.name))
    lines = [f"dry run: nothing was sent ({len(items)} items of {name}, {len(recorded)} recorded)", *est.lines()]
    print("\n  ".join(lines))


def _finish(runtime: Runtime, batch: Batch, result: BatchResult, template: str, name: str, cell_id: str | None,
            execution_count: int | None) -> None:
    """The process row's final state, the summary (printed: static exports keep it), the failures, and the one
    line of memory the batch leaves."""
    interrupted = result.interrupted
    proc = batch.proc
    counts = batch.counts()
    proc.latency = time.monotonic() - batch.started
    proc.status = "interrupted" if interrupted else ("error" if counts["done"] == 0 else "ok")
    batch.update(final=True)
    failed = [item for item in batch.items if item.status == "failed"]
    summary = (f"mapped the prompt over {counts['total']} items of {name}: {counts['done']} done"
               f" ({counts['replayed']} replayed), {counts['failed']} failed"
               + (f", {counts['left']} not run (interrupted)" if interrupted else "")
               + f"; {proc.tokens_in:,} tokens in, {proc.tokens_out:,} out, {money(proc.cost)}")
    result.summary = summary
    print(summary)
    for item in failed:
        print(f"  failed {item.key!r} after {item.attempts} attempt{'s' if item.attempts != 1 else ''}: "
              f"{(item.error or '').splitlines()[0]}")
    memory = runtime.memory
    memory.commit_turn(cell_id or f"run-{execution_count}", template, summary, interrupted=interrupted,
                       execution_count=execution_count)
    runtime.notify("memory")
