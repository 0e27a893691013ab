"""Runs one prompt-program: plan memory -> stream from the backend -> render -> commit to memory.

The runtime owns the current backend, the context window (memory) and the process table. It knows nothing of
the Jupyter protocol; the kernel and magics call it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, CallParams, Resizable, Unloadable, Usage, take_notes
from .backends.provider_errors import ContextTooLong, fitted_window
from .backends.registry import ModelSpec, create_backend
from .config import Config
from .errors import BackendFailed, CellInterrupted, PromptError, UserFacingError
from .memory.segments import Segment
from .memory.swap import Swap
from .memory.tokenizers import count_messages
from .memory.window import ContextWindow, MemoryFull
from .redact import redact
from .render import AnswerDisplay, Footer
from .sending import Request, SendPath, Sent
from .tools.syscalls import Syscalls

if TYPE_CHECKING:  # the tool loop loads with the first cell that calls tools
    from .tools.loop import CallRecord, Round, ToolLoop
from .validate import fit_reserve

log = logging.getLogger("llmos_kernel")

MAX_LOADED_LOCAL = 2  # local (llama.cpp) models kept in RAM at once
DEFAULT_SYSTEM = "You are a helpful assistant inside a Jupyter notebook. Answer concisely in Markdown."


@dataclass
class PromptOptions:
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    fmt: str = "markdown"
    no_history: bool = False
    as_name: str | None = None
    system: str | None = None
    timeout: float | None = None
    tools: list[str] | None = None  # --tools PATTERNS: these tools for this cell (None: the session's setting)
    no_tools: bool = False
    budget: float | None = None  # USD this cell may cost at most (budget.py)


@dataclass
class Process:
    """One row of the process table (%ps)."""

    cell: int | None
    cell_id: str | None
    model: str
    status: str = "running"
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    cost: float | None = None
    exact: bool = True
    started: float = field(default_factory=time.time)
    kind: str = "prompt"  # or "compacting": calls the kernel makes for itself are processes too
    finish_reason: str | None = None  # the backend's: "stop" (the model's own end), "length" (the cap), ...
    detail: str = ""  # a tool call's sha256 and arguments (known secret values masked)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_out / self.latency if self.latency > 0 else 0.0


@dataclass
class Answer:
    text: str
    process: Process
    plan: Any = None
    prompt: str = ""
    options: PromptOptions | None = None


class Runtime:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        settings = self.config.settings
        self.spec = self.config.aliases.get(settings.default_model) or ModelSpec(settings.default_model)
        self.timeout = settings.timeout
        self.defaults: dict[str, Any] = dict(settings.defaults)
        self.reserved_output = self.config.memory.reserved_output
        self.system_prompt = DEFAULT_SYSTEM
        self.aliases: dict[str, ModelSpec] = dict(self.config.aliases)
        self.processes: list[Process] = []
        self.notices: list[str] = [f"config: {p}" for p in self.config.problems]  # shown with the next cell
        self.window_overrides: dict[str, int] = {}  # %window N, per model: it survives switching away and back
        self._backends: dict[str, Backend] = {}
        self._memory: ContextWindow | None = None
        # A saved session's memory (session.py), built from the model's tokenizer on first use: restoring at
        # start-up then loads no model. Returns None to start empty.
        self.memory_loader: Callable[[Any], ContextWindow | None] | None = None
        # Where a new memory's swap lives: the session's rows in the store (session.py); None: a temporary file.
        self.swap_factory: Callable[[], Swap] | None = None
        self.last_answer: Answer | None = None  # the cell a "commit" listener is told about
        self.current_cell: int | None = None  # the running cell's number, for rows the cell did not start
        self.listeners: list[Callable[[str], None]] = []  # e.g. the memory panel: called on "progress"/"commit"
        # The one send path (sending.py): every model call passes its hooks (replay.py, budget.py) first.
        self.sender = SendPath(self.notices)
        self.hooks = self.sender.hooks  # the same list: the hooks add themselves here
        self.syscalls = Syscalls.from_settings(self.config.tools)  # tools the model may call, and the policy

    # -- model ---------------------------------------------------------------------------------------------
    def resolve(self, name: str) -> ModelSpec:
        return self.aliases.get(name) or ModelSpec(name)

    def backend_for(self, spec: ModelSpec) -> Backend:
        key = spec.describe()
        if key not in self._backends:
            self._backends[key] = create_backend(spec)
        backend = self._backends.pop(key)
        self._backends[key] = backend  # most recently used last
        if spec.window and isinstance(backend, Resizable):
            backend.set_window(spec.window)
        self._unload_idle(key)
        return backend

    def _unload_idle(self, wanted: str) -> None:
        """Local models hold their weights and KV cache in RAM: keep at most MAX_LOADED_LOCAL loaded (the one
        just asked for, which loads on use, and the most recently used), and free the others; they reload on
        return. The backing model is never unloaded for a per-cell --model."""
        local = [k for k, b in self._backends.items()
                 if isinstance(b, Unloadable) and (b.loaded or k == wanted)]
        keep = {wanted, self.spec.describe()}
        excess = len(local) - MAX_LOADED_LOCAL
        for key in local:
            if excess <= 0:
                break
            if key not in keep:
                self._backends[key].unload()
                excess -= 1

    @property
    def backend(self) -> Backend:
        return self.backend_for(self.spec)

    def switch_model(self, spec: ModelSpec) -> list[str]:
        """Make ``spec`` the backing model; re-fit memory to its tokenizer and window. Returns what moved."""
        backend = self.backend_for(spec)  # raises a clear error before anything changes
        if hasattr(backend, "check_key"):
            backend.check_key()
        self.spec = spec
        if self._memory is None:
            return []
        report = self._memory.refit(tokenizer=backend.tokenizer(), window=self.window_for(spec, backend))
        self._notify("refit")
        return list(getattr(report, "actions", []) or [])

    def window_for(self, spec: ModelSpec, backend: Backend) -> int:
        configured = self.window_overrides.get(spec.describe()) or self.config.memory.window
        return configured or backend.window()

    def set_window(self, size: int) -> list[str]:
        """%window N: the current model's window, kept for it across model switches."""
        try:
            report = self.memory.refit(window=size)
        except ValueError as exc:  # no room left after the answer's reserve: keep the old window
            raise UserFacingError(str(exc), hint="Use a larger window, or a smaller %reserve.") from None
        self.window_overrides[self.spec.describe()] = size  # only once it fitted: a bad size must not stick
        self._notify("refit")
        return list(getattr(report, "actions", []) or [])

    @property
    def memory(self) -> ContextWindow:
        if self._memory is None and self.memory_loader is not None:
            tokenizer = self.backend.tokenizer()  # first, so an unavailable model leaves the loader for a retry
            loader, self.memory_loader = self.memory_loader, None
            self._memory = loader(tokenizer)
        if self._memory is None:
            backend = self.backend
            mem = self.config.memory
            window = self.window_for(self.spec, backend)
            self.reserved_output = fit_reserve(self.reserved_output, window, self.notices)
            self._memory = ContextWindow(
                backend.tokenizer(),
                window=window,
                reserved_output=self.reserved_output,
                warn_at=mem.warn_at,
                act_at=mem.act_at,
                policy=mem.policy,
                swap=self.swap_factory() if self.swap_factory is not None else None,
            )
            self._memory.set_system(self.system_prompt)
        return self._memory

    @property
    def loaded_memory(self) -> ContextWindow | None:
        """The memory if it exists yet; never creates it (that may load a model)."""
        return self._memory

    def replace_memory(self, loader: Callable[[Any], ContextWindow | None] | None) -> None:
        """Drop the memory; the next use builds it with `loader` (a restored session) or empty."""
        self._memory = None
        self.memory_loader = loader
        self._notify("memory")

    def set_system(self, text: str) -> None:
        self.system_prompt = text.strip() or DEFAULT_SYSTEM
        if self._memory is not None:
            self._memory.set_system(self.system_prompt)
        self._notify("system")

    def _notify(self, event: str) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):  # a broken view must never break a cell
                listener(event)

    # -- one prompt cell ----------------------------------------------------------------------------------------
    def run_prompt(
        self, prompt: str, *, cell_id: str | None, execution_count: int | None, options: PromptOptions
    ) -> Answer:
        if not prompt.strip():
            raise PromptError("the cell is empty: nothing was sent to the model",
                              hint="Type a prompt, or start the cell with %%python to run Python.")
        self.current_cell = execution_count
        spec = self.resolve(options.model) if options.model else self.spec
        backend = self.backend_for(spec)
        loop = self._tool_loop(backend, options, execution_count, cell_id)
        plan = self.plan(prompt, options)
        params = self.params(options)
        sent = dataclasses.replace(params, tools=loop.definitions()) if loop is not None else params  # as sent
        request = Request(backend, plan.messages, sent, options, prompt, cell_id, execution_count)
        self.sender.admit([request], budget=options.budget)  # replay may answer it, a budget may refuse it
        if request.replayed:
            loop = None  # the recording has the answer and the tool results: no tool runs again
        backend = request.backend  # a recording replays through a backend of its own, needing no key
        if hasattr(backend, "check_key"):
            backend.check_key()
        proc = Process(execution_count, cell_id, backend.name)
        self.processes.append(proc)
        view = AnswerDisplay(getattr(backend, "label", backend.name), options.fmt)
        loop_view(loop, view)
        view.waiting()
        records: list[CallRecord] = []
        try:
            try:
                text, usage, status, records = self._rounds(request, plan.messages, params, view, proc, loop)
            except ContextTooLong as exc:  # the provider's window is smaller than ours: fit it, retry once
                plan = self._fit_to_provider(exc, spec, prompt, options)
                proc.status = "running"
                text, usage, status, records = self._rounds(request, plan.messages, params, view, proc, loop)
            proc.latency = time.monotonic() - view.started
            self._account(proc, backend, usage, plan, status, text)
            footer = Footer(backend.name, proc.tokens_in, proc.tokens_out, proc.latency, proc.cost, proc.exact,
                            status, proc.finish_reason, request.replayed)
            metadata = {**self._metadata(proc, plan, status), **request.metadata}
            if loop is not None:
                metadata["tools"] = [record.metadata() for record in records]
                request.tools = [{"path": r.path, "text": r.memory_text(), "untrusted": r.untrusted} for r in records]
            view.finish(text, footer, metadata)
            if not options.no_history and (text or request.tools):  # replayed: the recorded tool results
                self.memory.commit_turn(cell_id or f"run-{execution_count}", prompt, text,
                                        interrupted=status != "ok", execution_count=execution_count,
                                        tools=[(t["path"], t["text"], t["untrusted"]) for t in request.tools])
        except BaseException as exc:
            self._end_failed(proc, view, exc)
            raise
        finally:
            view.stop_waiting()  # the ticker must never outlive the cell, whatever happened
        self.last_answer = Answer(text, proc, plan, prompt, options)
        self.sender.done([Sent(request, text, proc)])
        self._notify("commit")
        if status == "interrupted":
            raise CellInterrupted(f"{backend.name} was stopped; the partial answer ({proc.tokens_out} tokens) "
                                  "is kept and marked as interrupted", model=backend.name)
        return self.last_answer

    def prepare(self, prompt: str, options: PromptOptions) -> Request:
        """The request a prompt would send (backend, planned messages, parameters), without sending it: for
        dry runs and batches."""
        spec = self.resolve(options.model) if options.model else self.spec
        backend = self.backend_for(spec)
        if options.no_history:
            messages = self.plan(prompt, options).messages
        else:
            try:  # a preview: the policy (eviction, compaction) is not applied, nothing in memory moves
                messages = list(self.memory.plan(prompt, apply_policy=False).messages)
            except MemoryFull as exc:
                raise UserFacingError(str(exc), hint="See %memory; %evict, %unpin or %compact free space.") from None
            if options.system:
                messages[0] = {"role": "system", "content": options.system}
        return Request(backend, messages, self.params(options), options, prompt)  # admitted by whoever sends it

    def account(self, proc: Process, backend: Backend, usage: Usage | None, messages: list[dict], text: str) -> None:
        """Tokens and cost of a call made outside run_prompt (a batch item), as the process table counts them."""
        self._account(proc, backend, usage, BarePlan(messages), proc.status, text)

    def notify(self, event: str) -> None:
        self._notify(event)

    # -- tools ----------------------------------------------------------------------------------------------
    def _tool_loop(self, backend: Backend, options: PromptOptions, execution_count: int | None,
                   cell_id: str | None) -> ToolLoop | None:
        """The cell's tool loop (tools/syscalls.py decides), each finished call a row in the process table."""

        def finished(record: CallRecord) -> None:
            detail = record.ps_detail()  # the digest of what ran, then the arguments' start
            self.processes.append(Process(execution_count, cell_id, record.path, status=record.status,
                                          latency=record.latency, kind="tool", detail=detail, cost=0.0))
            self._notify("tool")

        return self.syscalls.loop_for(backend, options.tools, options.no_tools, on_call=finished,
                                      memory=None if options.no_history else lambda: self.memory,
                                      resident=self._memory)

    def _rounds(self, request: Request, messages: list[dict], params: CallParams, view: AnswerDisplay,
                proc: Process, loop: ToolLoop | None) -> tuple[str, Usage | None, str, list[CallRecord]]:
        """One streaming call, or the tool loop's rounds of them (each a round of the one admitted request)."""
        if loop is None:
            current = self._stream(request, messages, params, view, proc)
            return current.text, current.usage, current.status, []

        def send(msgs: list[dict], definitions: list[dict]) -> Round:
            return self._stream(request, msgs, dataclasses.replace(params, tools=definitions), view, proc)

        result = loop.run(messages, send, tainted=lambda: self.tainted)
        return result.text, result.usage, result.status, result.records

    @property
    def tainted(self) -> bool:
        """Untrusted content (a file, a tool's or an MCP server's output) is resident in the window."""
        return self._memory is not None and self._memory.tainted

    def _end_failed(self, proc: Process, view: AnswerDisplay, exc: BaseException) -> None:
        """One cleanup path, whatever failed: the process row, the display and every view end consistently.

        _stream already did it for errors it reports; anything else that escaped (a bug of ours, a library
        error outside the stream) is recorded here, so nothing is left "running" or "waiting" forever.
        """
        if proc.status != "running":
            return
        proc.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
        proc.latency = time.monotonic() - view.started
        view.failed(proc.latency)
        self._notify("error")

    def params(self, options: PromptOptions) -> CallParams:
        """A cell's call parameters: its own options, else the configured defaults."""
        temperature = options.temperature if options.temperature is not None else self.defaults.get("temperature")
        return CallParams(temperature=temperature, max_tokens=options.max_tokens or self.defaults.get("max_tokens"),
                          timeout=options.timeout or self.timeout)

    def plan(self, prompt: str, options: PromptOptions) -> Any:
        """The messages a prompt sends (memory's plan, the policy applied), or a bare pair for --no-history."""
        memory = self.memory
        try:
            if options.no_history:
                messages = [{"role": "system", "content": options.system or self.system_prompt},
                            {"role": "user", "content": prompt}]
                return BarePlan(messages)
            plan = memory.plan(prompt, summarize=self.summarizer())
        except MemoryFull as exc:
            raise UserFacingError(str(exc), hint="See %memory; %evict, %unpin or %compact free space.") from None
        if options.system:
            plan.messages[0] = {"role": "system", "content": options.system}
        return plan

    def _fit_to_provider(self, exc: ContextTooLong, spec: ModelSpec, prompt: str, options: PromptOptions) -> Any:
        """Shrink the memory to the window the provider says it has (kept for this model) and re-plan.

        Only for the backing model with memory: a --no-history cell has nothing to drop, and a per-cell
        --model must not shrink the backing model's window. Then the provider's error stands as it is.
        """
        if options.no_history or spec.describe() != self.spec.describe():
            raise exc
        window = fitted_window(str(exc), self.memory.window)
        try:
            self.set_window(window)
        except UserFacingError:  # smaller than the reserve for the answer: nothing sensible left to send
            raise exc from None
        return self.plan(prompt, options)

    def _stream(
        self, request: Request, messages: list[dict], params: CallParams, view: AnswerDisplay, proc: Process
    ) -> Round:
        """One call: its text, usage, status (ok | interrupted) and tool calls; provider errors propagate."""
        backend = request.backend
        parts: list[str] = []
        usage: Usage | None = None
        calls: list = []
        count = self.memory.tokenizer.count  # the live tok/s counts tokens, not network reads
        try:
            for delta in self.sender.stream(request, messages, params):
                if delta.text:
                    parts.append(delta.text)
                    if view.progress(parts, count):  # throttled: True when the display was updated
                        self._notify("progress")
                if delta.usage is not None:
                    usage = delta.usage
                if delta.tool_calls:
                    calls = delta.tool_calls
                proc.finish_reason = delta.finish_reason or proc.finish_reason
        except KeyboardInterrupt:
            proc.status = "interrupted"
            return _round("".join(parts), usage, "interrupted")
        except Exception as exc:  # KeyboardInterrupt is handled above; everything else ends here, cleanly
            proc.status = "error"
            elapsed = time.monotonic() - view.started
            failure = exc if isinstance(exc, UserFacingError) else _unexpected(exc, backend)
            if parts:  # a cut stream: the partial answer stays visible (marked) but is not committed
                text = "".join(parts)
                tokens = count(text)
                view.finish(text, Footer(backend.name, 0, tokens, elapsed, None, False, "cut"),
                            {"model": backend.name, "status": "cut", "tokens_out": tokens, "exact": False})
            else:
                view.failed(elapsed)
            self._notify("error")  # views showing "streaming" must learn the cell is over
            if failure is exc:
                raise
            raise failure from None
        finally:
            self.notices += take_notes(backend)  # e.g. how the request was fitted to a chat template, once
        return _round("".join(parts), usage, "ok", calls)

    def _account(
        self, proc: Process, backend: Backend, usage: Usage | None, plan: Any, status: str, text: str = ""
    ) -> None:
        tokenizer = self.memory.tokenizer
        if usage is None or not usage.prompt_tokens:
            # No usage from the server, or none before an interrupt: estimate it with the memory's tokenizer (the
            # prompt as memory counted it, the answer as the text shown), labelled "~" (exact=False).
            prompt = getattr(plan, "used", 0) or count_messages(tokenizer, getattr(plan, "messages", []))
            usage = Usage(prompt, tokenizer.count(text) if text else 0, exact=False)
        proc.tokens_in = usage.prompt_tokens
        proc.tokens_out = usage.completion_tokens
        proc.exact = usage.exact
        proc.status = status if proc.status == "running" else proc.status
        cost = getattr(backend, "cost", None)
        proc.cost = usage.cost if usage.cost is not None else (cost(usage) if cost else None)
        calibrate = getattr(tokenizer, "calibrate", None)
        planned = getattr(plan, "used", 0)
        # Only the backing model's reported usage says anything about the memory's (estimating) tokenizer.
        if calibrate and usage.exact and usage.prompt_tokens and planned > 0 and backend is self.backend:
            calibrate(planned, usage.prompt_tokens)

    def _metadata(self, proc: Process, plan: Any, status: str) -> dict[str, Any]:
        return {
            "model": proc.model,
            "tokens_in": proc.tokens_in,
            "tokens_out": proc.tokens_out,
            "latency_s": round(proc.latency, 3),
            "cost_usd": proc.cost,
            "exact": proc.exact,
            "status": status,
            "finish_reason": proc.finish_reason,
            "planned_tokens": getattr(plan, "used", None),
            "cache_prefix_tokens": getattr(plan, "cache_prefix_tokens", None),
        }

    # -- memory actions shared by magics and the panel --------------------------------------------------
    def memory_action(self, action: str, ref: str) -> str:
        """pin | unpin | evict | forget | recall a segment (by id, cell id or cell number); returns what happened."""
        memory = self.memory
        try:
            if action == "recall":
                segment = memory.page_in(ref)
                message = f"recalled {segment.id} (cell {segment.execution_count or '-'}) into the window"
            elif action in ("pin", "unpin", "evict", "forget"):
                segment = getattr(memory, action)(ref)
                past = {"pin": "pinned", "unpin": "unpinned", "evict": "paged out to swap", "forget": "forgot"}
                message = f"{past[action]} {segment.id} ({segment.kind.value}, cell {segment.execution_count or '-'})"
            else:
                raise UserFacingError(f"unknown memory action '{action}'",
                                      hint="Use pin, unpin, evict, forget or recall.")
        except (LookupError, ValueError, MemoryFull) as exc:
            raise UserFacingError(str(exc).strip("'\""), hint="%memory lists segments and their ids.") from None
        self._notify("memory")
        return message

    # -- helpers for memory policies ----------------------------------------------------------------------
    def summarizer(self, model: str | None = None) -> Callable[[list[Segment], str | None], str]:
        """A summarize(segments, focus) callable for the compact policy, on the backing or a named model."""
        backend = self.backend_for(self.resolve(model)) if model else None

        def summarize(segments: list[Segment], focus: str | None = None) -> str:
            return self.summarize(segments, focus, backend)

        return summarize

    def summarize(self, segments: list[Segment], focus: str | None = None, backend: Backend | None = None) -> str:
        """Summarize turns with a model (the backing one unless given): used by the compact policy."""
        transcript = "\n\n".join(
            f"User: {s.text}\nAssistant: {s.answer}" if s.answer else s.text for s in segments
        )
        ask = "Summarize this conversation so it can replace it as context. Keep facts, names, numbers."
        if focus:
            ask += f" Focus on: {focus}."
        backend = backend or self.backend
        # Keep the transcript within the summarizer's own window (about 3 characters a token, with room to answer).
        room = max(1000, (backend.window() - 700) * 3)
        if len(transcript) > room:
            transcript = transcript[: room // 2] + "\n[...]\n" + transcript[-room // 2:]
        messages = [{"role": "system", "content": ask}, {"role": "user", "content": transcript}]
        params = CallParams(temperature=0, max_tokens=300, timeout=self.timeout)
        request = Request(backend, messages, params, prompt=transcript, execution_count=self.current_cell,
                          kind="compacting")
        # Through the send path like any call: replay answers it (or, in "only" mode, refuses it unrecorded), a
        # budget may refuse it; an auto-compaction that is refused pages out instead (memory/planner.py).
        self.sender.admit([request], what=f"this compaction of {len(segments)} segment{'s' * (len(segments) != 1)}")
        text = self._run_visible(request, f"compacting {len(segments)} turns")
        return text.strip() or transcript[:2000]

    def _run_visible(self, request: Request, task: str) -> str:
        """A model call the kernel makes for itself (compaction): a status line in the cell while it runs, and a
        row in %ps and %cost like any prompt, since it is real spend."""
        backend, messages = request.backend, request.messages
        proc = Process(self.current_cell, None, backend.name, kind=task.split()[0])
        self.processes.append(proc)
        view = AnswerDisplay(f"{getattr(backend, 'label', backend.name)} · {task}", "text")
        view.waiting()
        parts: list[str] = []
        usage: Usage | None = None
        try:
            for delta in self.sender.stream(request):
                parts.append(delta.text)
                usage = delta.usage or usage
            proc.latency = time.monotonic() - view.started
            self._account(proc, backend, usage, BarePlan(messages), "ok", "".join(parts))
            view.finish("", Footer(backend.name, proc.tokens_in, proc.tokens_out, proc.latency, proc.cost,
                                   proc.exact, "ok", None, request.replayed),
                        {"model": backend.name, "task": task, "status": "ok", **request.metadata})
        except BaseException as exc:
            self._end_failed(proc, view, exc)
            raise
        finally:
            view.stop_waiting()
        self.sender.done([Sent(request, "".join(parts), proc)])
        return "".join(parts)


def _unexpected(exc: Exception, backend: Backend) -> BackendFailed:
    """An exception that is not ours, as one clear message; the traceback goes to the kernel's log only."""
    log.warning("backend %s raised %s", backend.name, type(exc).__name__, exc_info=True)
    detail = redact(str(exc).strip().splitlines()[0][:300]) if str(exc).strip() else ""
    return BackendFailed(f"{backend.name} raised {type(exc).__name__}" + (f": {detail}" if detail else ""),
                         model=backend.name,
                         hint="Nothing was added to memory. Run the cell again, or switch model (%model).")


def _round(text: str, usage: Usage | None, status: str, calls: list | None = None) -> Round:
    from .tools.loop import Round

    return Round(text, usage, status, calls or [])


def loop_view(loop: ToolLoop | None, view: AnswerDisplay) -> None:
    """Tool steps show in the cell between the answer's text parts."""
    if loop is not None:
        loop.on_step = view.add_step
        loop.on_calls = view.calling


@dataclass
class BarePlan:
    """A plan with no memory: for --no-history cells."""

    messages: list[dict]
    used: int = 0
    cache_prefix_tokens: int = 0

