"""One cell's tool rounds: the model answers or calls tools; each call passes the policy (and the user, when
it asks), runs, and its result goes back to the model for the next round, until it answers without calling,
the round cap is reached or the user interrupts.

The runtime hands in ``send(messages) -> Round`` (one streaming call) and owns memory and accounting; this
module owns the order of things and the record of every call.

What a record keeps and shows of a call (shown.py): the exact arguments, never cut or pattern-redacted, with only
known secret values masked, and their sha256 digest, so the approval question, the step, %ps and the output
metadata can be matched with what ran. A result is masked the same way before it is shown, stored or sent back to
the model: a key a tool printed (``os.environ["OPENAI_API_KEY"]``) reaches no one, not even the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import ToolCall, Usage
from ..memory.taint import is_untrusted
from ..redact import redact
from .approval import Request
from .registry import LOAD_TOOLS, Tool, ToolError
from .shown import digest, html_text, mask_known, readable_arguments, safe_name, secrets_note, visible

__all__ = ["CallRecord", "LoopResult", "Round", "ToolLoop", "readable_arguments", "step_view"]

PREVIEW = 300  # characters of a result shown in the cell's collapsed step


@dataclass
class Round:
    text: str
    usage: Usage | None
    status: str  # ok | interrupted
    calls: list[ToolCall] = field(default_factory=list)


@dataclass
class CallRecord:
    """One tool call: what was asked, what was decided and by whom, what came back."""

    id: str
    name: str
    path: str
    arguments: str  # exactly as the model wrote them, known secret values masked: as shown and stored
    sha256: str = ""  # of the exact arguments, unmasked: what ran
    secrets_hidden: int = 0  # known secret values masked in the arguments
    decision: str = ""  # allow | ask | deny (the policy's)
    approved: str = ""  # rule | once | cell | always | deny | headless
    status: str = "running"  # ok | error | denied | interrupted
    result: str = ""
    latency: float = 0.0  # the tool's own run time
    waited: float = 0.0  # time the user took to answer the approval question
    truncated: bool = False
    untrusted: bool = False

    def metadata(self) -> dict[str, Any]:
        return {"id": self.id, "tool": self.path, "arguments": self.arguments, "sha256": self.sha256,
                "decision": self.decision,
                "approved": self.approved, "status": self.status, "latency_s": round(self.latency, 3),
                "approval_wait_s": round(self.waited, 3),
                "truncated": self.truncated}

    def ps_detail(self) -> str:
        """The %ps column: the digest, then the start of the arguments on one line."""
        flat = visible(self.arguments).replace("\n", "⏎").replace("\t", " ")
        return f"sha256:{self.sha256[:16]} " + (flat if len(flat) <= 100 else flat[:99] + "…")

    def memory_text(self) -> str:
        return f"{self.path}({self.arguments})\n-> {self.status}: {self.result}"


@dataclass
class LoopResult:
    text: str  # the answer's text over all rounds
    usage: Usage
    status: str  # ok | interrupted
    records: list[CallRecord]
    rounds: int
    capped: bool = False


def add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    if more is None:
        return total
    if total is None:
        return Usage(more.prompt_tokens, more.completion_tokens, more.cost, more.exact)
    cost = None if total.cost is None or more.cost is None else total.cost + more.cost
    return Usage(total.prompt_tokens + more.prompt_tokens, total.completion_tokens + more.completion_tokens, cost,
                 total.exact and more.exact)


def truncate(text: str, cap: int) -> tuple[str, bool]:
    if len(text) <= cap:
        return text, False
    return text[:cap] + f"\n[... result truncated: {len(text):,} characters, first {cap:,} kept]", True


class ToolLoop:
    def __init__(self, syscalls: Any, tools: list[Tool], *, on_call: Callable[[CallRecord], None],
                 on_step: Callable[[str, str, str], None]) -> None:
        self.syscalls = syscalls
        self.tools = {t.name: t for t in tools}
        self.available = {t.name: t for t in syscalls.registry.tools.values()}
        self.on_call = on_call  # a finished call: the runtime adds its %ps row and views
        self.on_step = on_step  # (round text, step markdown, step plain) for the cell's display
        # (round text, tool paths) before a round's calls run, so the cell says so while a call or its
        # approval takes time (else it would still read "waiting for the model")
        self.on_calls: Callable[[str, list[str]], None] = lambda text, paths: None
        self.cell_grants: set[str] = set()  # "allow for this cell"
        self.paged_in: set[str] = set()  # definitions loaded with load_tools for this cell
        self.records: list[CallRecord] = []
        self.tainted_here = False  # untrusted content arrived in this cell
        self._run_started = 0.0  # when the current call's tool started running (after any approval)

    def definitions(self) -> list[dict]:
        defs, _named = self.syscalls.registry.definitions(list(self.tools.values()), self.paged_in)
        return defs

    def run(self, messages: list[dict], send: Callable[[list[dict], list[dict]], Round],
            tainted: Callable[[], bool]) -> LoopResult:
        """Rounds until an answer without calls. ``messages`` is the planned request (copied, never changed)."""
        messages = list(messages)
        texts: list[str] = []
        usage: Usage | None = None
        cap = self.syscalls.max_rounds
        rounds = 0
        while True:
            current = send(messages, self.definitions())
            rounds += 1
            usage = add_usage(usage, current.usage)
            if current.text:
                texts.append(current.text)
            if current.status != "ok" or not current.calls:
                return LoopResult("".join(texts), usage or Usage(exact=False), current.status, self.records, rounds)
            if rounds > cap:
                note = (f"\n\n[stopped: the model asked for more tools after {cap} rounds, the cap "
                        f"(%tools rounds N)]")
                texts.append(note)
                return LoopResult("".join(texts), usage or Usage(exact=False), "ok", self.records, rounds, True)
            messages.append({"role": "assistant", "content": current.text or None,
                             "tool_calls": [c.to_message() for c in current.calls]})
            self.on_calls(current.text, [self._path(c.name) for c in current.calls])
            interrupted = False
            step_md: list[str] = []
            step_plain: list[str] = []
            for call in current.calls:
                if interrupted:
                    record = self._record(call)
                    record.status, record.result = "interrupted", "not run: the cell was interrupted"
                else:
                    try:
                        record = self.call(call, tainted() or self.tainted_here)
                    except KeyboardInterrupt:
                        record = self.records[-1] if self.records and self.records[-1].id == call.id else \
                            self._record(call)
                        record.status, record.result = "interrupted", "interrupted by the user"
                        interrupted = True
                messages.append({"role": "tool", "tool_call_id": call.id, "content": record.result})
                md, plain = step_view(record)
                step_md.append(md)
                step_plain.append(plain)
                self.on_call(record)
            self.on_step(current.text, "\n\n".join(step_md), "\n".join(step_plain))
            if interrupted:
                return LoopResult("".join(texts), usage or Usage(exact=False), "interrupted", self.records, rounds)

    def _path(self, name: str) -> str:
        tool = self.available.get(name)
        return tool.path if tool else safe_name(name)  # a made-up name is shown inert, never as Markdown

    def _record(self, call: ToolCall) -> CallRecord:
        exact = call.arguments or "{}"
        masked = mask_known(exact)
        record = CallRecord(call.id, call.name, self._path(call.name), masked.text, digest(exact), masked.secrets)
        self.records.append(record)
        return record

    def call(self, call: ToolCall, tainted: bool) -> CallRecord:
        record = self._record(call)
        started = self._run_started = time.monotonic()
        try:
            record.result = self._call(call, record, tainted)
            if record.status == "running":
                record.status = "ok"
        except ToolError as exc:
            record.status, record.result = "error", f"error: {exc}"
        except KeyboardInterrupt:
            self._timed(record, started)
            raise
        except Exception as exc:  # a tool that raises: the model is told, the cell goes on
            record.status, record.result = "error", f"error: {type(exc).__name__}: {redact(str(exc))[:500]}"
        self._timed(record, started)
        # Masked before the cut, so a cap inside a key cannot leave part of it.
        record.result = mask_known(record.result).text
        record.result, record.truncated = truncate(record.result, self.syscalls.max_result_chars)
        return record

    def _timed(self, record: CallRecord, started: float) -> None:
        """The run time, apart from the wait for the user's answer (the step and %ps show the tool's own)."""
        record.waited = self._run_started - started
        record.latency = time.monotonic() - self._run_started

    def _call(self, call: ToolCall, record: CallRecord, tainted: bool) -> str:
        if call.name == LOAD_TOOLS:
            return self._load_tools(call)
        tool = self.tools.get(call.name)
        if tool is None:
            record.decision, record.approved, record.status = "deny", "rule", "denied"
            known = "it is not a tool" if call.name not in self.available else "it is not enabled for this cell"
            return f"refused: {record.path} cannot be called ({known})"  # the name made inert (shown.safe_name)
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            raise ToolError("the arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            raise ToolError("the arguments must be a JSON object")
        decision = self.syscalls.policy.decide(tool.path, side_effects=tool.side_effects, tainted=tainted)
        record.decision = decision.action
        if decision.action == "allow" or (decision.action == "ask" and not decision.tainted
                                          and tool.name in self.cell_grants):
            record.approved = "rule" if decision.action == "allow" else "cell"
        elif decision.action == "deny":
            record.approved, record.status = "rule", "denied"
            return f"refused by the access policy (rule {decision.rule}: deny); do without this tool"
        else:
            reason = ("untrusted content is in the context, so side effects need approval" if decision.tainted
                      else f"rule {decision.rule}: ask")
            answer = self.syscalls.approver.ask(Request(tool.path, call.arguments or "{}", reason))
            record.approved = answer.choice if answer.by != "headless" else "headless"
            if answer.choice == "deny":
                record.status = "denied"
                if answer.by == "headless":
                    return ("refused: this run has no way to ask the user (no stdin), so calls that need "
                            "approval are denied; do without this tool")
                return "refused by the user; do without this tool"
            if answer.choice == "cell":
                self.cell_grants.add(tool.name)
            elif answer.choice == "always":
                self.syscalls.policy.set(tool.path, "allow")
        self.syscalls.registry.used(tool.name)
        self._run_started = time.monotonic()
        result = tool.run(arguments)
        if tool.taints or is_untrusted(result):  # e.g. recall quoting an untrusted page (memory/taint.py)
            record.untrusted = True
            self.tainted_here = True
        return result

    def _load_tools(self, call: ToolCall) -> str:
        try:
            names = json.loads(call.arguments or "{}").get("names") or []
        except (ValueError, AttributeError):
            raise ToolError("give names: a list of tool names") from None
        loaded = [n for n in names if n in self.tools]
        self.paged_in.update(loaded)
        unknown = [n for n in names if n not in self.tools]
        return (f"loaded: {', '.join(loaded) or 'none'}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))


def step_view(record: CallRecord) -> tuple[str, str]:
    """A call as one collapsed HTML block for the Markdown output (built here, every value escaped onto one line
    by shown.html_text: a blank line, even one made of carriage returns, would end the HTML block and let the rest
    be read as Markdown) and as plain text. Expanded, it shows all of the arguments (strings with their own line
    breaks, so code reads as code) with their sha256, and the result's preview, labelled and indented as a quote
    so they do not run into the answer's text."""
    icon = {"ok": "🔧", "error": "⚠", "denied": "⛔", "interrupted": "⏹"}.get(record.status, "🔧")
    who = {"rule": "", "once": " · approved once", "cell": " · approved for the cell", "always": " · always allowed",
           "headless": " · no one to ask", "deny": " · denied"}.get(record.approved, "")
    summary = f"{icon} {record.path} · {record.status}{who} · {record.latency:.2f} s"
    preview = record.result if len(record.result) <= PREVIEW else record.result[:PREVIEW] + " …"
    shown = readable_arguments(record.arguments)
    note = secrets_note(record.secrets_hidden)
    md = (f'<details class="llmos-tool-step"><summary>{html_text(summary)}</summary><blockquote>'
          f"<sub>arguments · sha256 <code>{record.sha256}</code></sub>"
          + (f"<br><sub><b>{html_text(note)}</b></sub>" if note else "")
          + f"<pre>{html_text(shown)}</pre>"
          f"<sub>result</sub><pre>{html_text(preview)}</pre></blockquote></details>")
    plain = f"[{visible(summary)}] {record.path} sha256:{record.sha256}\n{visible(shown)}"
    return md, plain
