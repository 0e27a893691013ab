"""Memory magics: the context window as the user sees and steers it (map, pin, evict, recall, compact, undo)."""

from __future__ import annotations

import json
from pathlib import Path

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import UserFacingError
from ..memory.documents import describe as paged_document
from ..memory.documents import estimate_note, size
from ..memory.faults import describe_budget
from ..memory.render import render_map
from ..memory.window import MemoryFull
from ..runtime import Runtime
from ..validate import MemorySettings, require
from ..words import noun
from .args import parse

MAX_DOCUMENT_BYTES = 2_000_000
# How the memory magics spell each setting in a refusal ("--warn 1 must be below --act 0.5").
SETTING_NAMES = {"policy": "%policy", "warn_at": "--warn", "act_at": "--act", "window": "%window",
                 "reserved_output": "%reserve"}


@magics_class
class MemoryMagics(Magics):
    def __init__(self, shell, runtime: Runtime) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.show_panel = None  # set by the kernel: a callable that displays the widget panel

    @magic_arguments()
    @argument("--json", action="store_true", help="the memory map as JSON")
    @argument("--panel", action="store_true", help="the live widget panel")
    @line_magic
    def memory(self, line: str) -> None:
        """%memory [--json] [--panel] - the memory map: tokens by kind, % used, free, reserved, one line a segment, paging counts"""
        args = parse(MemoryMagics.memory, line)
        if args.panel:
            if self.show_panel is None:
                raise UserFacingError("the memory panel is not available in this kernel")
            self.show_panel()
            return
        snap = self.runtime.memory.snapshot()
        if args.json:
            print(json.dumps(snap, indent=1, ensure_ascii=False))
            return
        print(f"model: {self.runtime.spec.describe()}")
        print(render_map(snap))

    def _act(self, action: str, line: str) -> None:
        ref = line.strip()
        if not ref:
            raise UserFacingError(f"which segment? Usage: %{action} REF (a cell number, cell id or segment id)")
        print(self.runtime.memory_action(action, ref))

    @line_magic
    def pin(self, line: str) -> None:
        """%pin REF - keep a segment (cell number, cell id or segment id) in the window; policies never evict it"""
        self._act("pin", line)

    @line_magic
    def unpin(self, line: str) -> None:
        """%unpin REF - let the memory policy page a segment out again"""
        self._act("unpin", line)

    @line_magic
    def evict(self, line: str) -> None:
        """%evict REF - page a segment out to swap (searchable; %recall brings it back)"""
        self._act("evict", line)

    @line_magic
    def forget(self, line: str) -> None:
        """%forget REF - remove a segment from the window and from swap, entirely"""
        self._act("forget", line)

    @line_magic
    def load(self, line: str) -> None:
        """%load PATH - load a text file into memory as a pinned document"""
        path = Path(line.strip().strip("'\"")).expanduser()
        if not line.strip():
            raise UserFacingError("which file? Usage: %load PATH")
        if not path.is_file():
            raise UserFacingError(f"no file at {path}")
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise UserFacingError(f"{path} is larger than {MAX_DOCUMENT_BYTES:,} bytes",
                                  hint="Load a smaller excerpt; the window could not hold it anyway.")
        text = path.read_text(encoding="utf-8", errors="replace")
        memory = self.runtime.memory
        segment = memory.load_document(str(path), text)
        self.runtime._notify("memory")
        if segment.paged:  # larger than the window: in swap as pages, a pinned stub stands for it
            print(paged_document(memory, segment))
        else:
            # Counted as %memory counts it, marked when an estimate: the two agree (memory/documents.py).
            print(f"pinned {path.name} as {segment.id} ({size(memory, memory.tokens_of(segment))})"
                  + estimate_note(memory))
        # A file's text is untrusted content: it may carry instructions for the model (memory/taint.py).
        print("untrusted content: tools with side effects now ask even when allowed (%tools trust clears it)")

    @magic_arguments()
    @argument("focus", nargs="*", help="what the summary should keep")
    @argument("--dry-run", action="store_true", help="show what would be compacted, change nothing")
    @argument("--summarizer", help="model that writes the summary (default: the backing model)")
    @line_magic
    def compact(self, line: str) -> None:
        """%compact [FOCUS] [--dry-run] [--summarizer MODEL] - summarize the oldest turns; originals go to swap"""
        args = parse(self.compact, line)
        focus = " ".join(args.focus) or None
        summarize = self.runtime.summarizer(args.summarizer)
        try:
            report = self.runtime.memory.compact(summarize, focus=focus, dry_run=args.dry_run)
        except MemoryFull as exc:
            raise UserFacingError(str(exc)) from None
        self.runtime._notify("memory")
        for action in report.actions or ["nothing to compact: no unpinned turns old enough"]:
            print(action)
        if not report.dry_run and report.summary_id:
            print(f"saved {report.saved:,} tokens; %undo restores the originals")

    @line_magic
    def undo(self, line: str) -> None:
        """%undo - restore the memory as it was before the last evict or compact"""
        try:
            message = self.runtime.memory.undo()
        except LookupError as exc:
            raise UserFacingError(str(exc).strip("'\"") or "nothing to undo") from None
        self.runtime._notify("memory")
        print(message)

    @magic_arguments()
    @argument("query", nargs="*", help="words to search the swap for")
    @argument("--auto", choices=("on", "off"), help="page in what each new prompt needs (evicting colder content)")
    @argument("--budget", type=int, help="token budget of a recall (with --auto: per prompt)")
    @argument("--limit", type=int, default=3, help="how many swapped segments to recall pages of, at most")
    @line_magic
    def recall(self, line: str) -> None:
        """%recall QUERY [--limit N] [--budget N] | --auto on|off [--budget N] - page the best-matching swapped pages back in"""
        args = parse(self.recall, line)
        memory = self.runtime.memory
        if args.budget is not None and args.budget <= 0:
            raise UserFacingError("--budget must be a positive number of tokens")
        if args.auto:
            memory.auto_recall = args.auto == "on"
            if args.budget:
                memory.auto_recall_budget = args.budget
            self.runtime._notify("memory")
            print(f"auto recall {args.auto} ({describe_budget(memory.usable, memory.recall_budget_set)})")
            return
        query = " ".join(args.query)
        if not query.strip():
            raise UserFacingError("what to recall? Usage: %recall QUERY")
        found = memory.recall(query, budget_tokens=args.budget, limit=args.limit)
        self.runtime._notify("memory")
        if not found:
            print(f"nothing in swap matches {query!r}")
        for segment in found:
            held = segment.pages
            pages = ("all pages" if not segment.is_excerpt
                     else f"{noun(len(held), 'page')} " + ", ".join(str(p + 1) for p in held))
            print(f"recalled {segment.id}: {pages} of {segment.page_count} from cell {segment.execution_count or '-'}"
                  f" [{segment.source}] ({size(memory, memory.tokens_of(segment))};"
                  f" matched {', '.join(segment.match)})")

    @magic_arguments()
    @argument("name", nargs="?", choices=("lru", "compact", "strict"), help="the policy")
    @argument("--warn", type=float, help="warning threshold, a fraction of the usable window")
    @argument("--act", type=float, help="threshold at which the policy acts")
    @line_magic
    def policy(self, line: str) -> None:
        """%policy [lru|compact|strict] [--warn F] [--act F] - what memory does when the window fills up"""
        args = parse(self.policy, line)
        memory = self.runtime.memory
        checked = require(MemorySettings, {"policy": args.name, "warn_at": args.warn, "act_at": args.act},
                          base=memory, names=SETTING_NAMES)  # all or nothing: one message names every problem
        memory.policy, memory.warn_at, memory.act_at = checked.policy, checked.warn_at, checked.act_at
        print(f"policy: {memory.policy} (warn at {memory.warn_at:.0%}, act at {memory.act_at:.0%})")

    @line_magic
    def window(self, line: str) -> None:
        """%window [N] - show or set the context window size in tokens (0: the model's own)"""
        memory = self.runtime.memory
        if line.strip():
            size = _tokens(line, "%window N")
            require(MemorySettings, {"window": size}, base=memory, names=SETTING_NAMES,
                    hint="Use a larger window, or a smaller %reserve first.")
            for action in self.runtime.set_window(size or self.runtime.backend.window()):
                print(f"  {action}")
        print(f"window: {memory.window:,} tokens (usable {memory.usable:,}, reserved {memory.reserved_output:,})")

    @line_magic
    def reserve(self, line: str) -> None:
        """%reserve [N] - show or set the tokens reserved for the model's answer"""
        memory = self.runtime.memory
        if line.strip():
            size = _tokens(line, "%reserve N")
            require(MemorySettings, {"reserved_output": size}, base=memory, names=SETTING_NAMES,
                    hint="Use a smaller reserve, or a larger %window first.")
            memory.reserved_output = size
            self.runtime.reserved_output = size
            self.runtime._notify("memory")
        print(f"reserved for output: {memory.reserved_output:,} tokens (usable {memory.usable:,})")

    @magic_arguments()
    @argument("--json", action="store_true", help="the exact messages as JSON, and the last recall decision")
    @line_magic
    def context(self, line: str) -> None:
        """%context [--json] - show exactly the messages the next prompt would send (and what the last recall did)"""
        args = parse(self.context, line)
        plan = self.runtime.memory.plan("", apply_policy=False)
        messages = plan.messages[:-1] if plan.messages and plan.messages[-1]["content"] == "" else plan.messages
        if args.json:
            # The page fault of the last prompt: what came back (and the words that matched), what went for it.
            paging = self.runtime.memory.pager.last
            payload = {"model": self.runtime.spec.name, "tokens": plan.used, "window": plan.window,
                       "usable": plan.usable, "exact": plan.exact, "messages": messages, "paging": paging,
                       "taint": self.runtime.memory.taint_report()}
            tools = self.runtime.memory.tools_segment
            if tools is not None:  # the last tool cell's definitions, as they were sent (and counted)
                payload["tools"] = tools.text
            print(json.dumps(payload, indent=1, ensure_ascii=False))
            return
        for m in messages:
            print(f"--- {m['role']} ---\n{m['content']}")


def _tokens(text: str, usage: str) -> int:
    try:
        return int(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise UserFacingError(f"'{text.strip()}' is not a number of tokens", hint=f"Usage: {usage}") from None
