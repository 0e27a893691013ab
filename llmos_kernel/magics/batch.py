"""Magics for rerunnable, affordable, batched prompt-programs: %replay, %budget, %dryrun, and the --dry-run and
--map options of %%prompt (which core.py hands over through its ``before_prompt`` seam)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..budget import BudgetGuard, money
from ..cells import running_execution_count
from ..errors import BadOptions, UserFacingError
from ..interpolate import interpolate
from ..replay import Recordings, ReplayBook
from ..runtime import PromptOptions, Runtime
from ..store import Store
from .args import parse
from .core import parse_json_answer

DEFAULT_CONCURRENCY = 4  # remote models: enough to hide latency, few enough not to trip rate limits


def amount(text: str) -> float | None:
    """A USD amount ("0.5", "$0.50") or None for "off"."""
    value = text.strip().lstrip("$")
    if value.lower() in ("off", "none"):
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadOptions(f"{text!r} is not an amount in USD", hint="For example %budget 0.50, or off.") from None
    if not math.isfinite(number) or number < 0:
        raise BadOptions(f"{text!r} is not an amount in USD (a number of 0 or more)")
    return number


@magics_class
class BatchMagics(Magics):
    def __init__(self, shell: Any, runtime: Runtime, prompt_magics: Any, store_of: Callable[[], Store | None]) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.prompt_magics = prompt_magics  # LLMOSMagics: its namespace and Out[n]
        self.book = ReplayBook(Recordings(store_of))
        self.guard = BudgetGuard(runtime)
        self.dry_mode = False
        runtime.hooks += [self.book, self.guard]  # replay first: a replayed answer costs nothing to check
        prompt_magics.before_prompt = self.before_prompt

    # -- %replay ---------------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("action", nargs="?", choices=("on", "only", "off", "export", "import"), help="mode or file action")
    @argument("path", nargs="?", help="the recordings file (JSON lines) for export and import")
    @argument("--force", action="store_true", help="export: replace the file if it exists")
    @line_magic
    def replay(self, line: str) -> None:
        """%replay [on | only | off | export PATH [--force] | import PATH] - answer recorded requests from their recording (only: a missing one is an error); move recordings as a file"""
        args = parse(BatchMagics.replay, line)
        book = self.book
        if args.action in ("export", "import"):
            if not args.path:
                raise BadOptions(f"%replay {args.action} needs a file", hint=f"Usage: %replay {args.action} PATH")
            path = Path(args.path).expanduser()
            if args.action == "export":
                print(f"exported {book.recordings.export(path, force=args.force)} recordings to {path}")
            else:
                print(f"imported {book.recordings.import_file(path)} recordings from {path}")
            return
        if args.action:
            book.set_mode(args.action)
        print(f"replay: {book.mode} ({book.replayed} answers replayed, {book.recorded} recorded in this kernel)")

    # -- %budget ---------------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("amount", nargs="?", help="the session budget in USD, or off")
    @argument("--confirm-above", help="ask before any cell estimated above this many USD (off: never ask)")
    @line_magic
    def budget(self, line: str) -> None:
        """%budget [AMOUNT | off] [--confirm-above AMOUNT | off] - a session budget: cells whose worst case would cross it are refused before sending"""
        args = parse(BatchMagics.budget, line)
        guard = self.guard
        if args.amount is not None:
            guard.limit = amount(args.amount)
        if args.confirm_above is not None:
            guard.confirm_above = amount(args.confirm_above)
        limit = "none" if guard.limit is None else money(guard.limit)
        confirm = "" if guard.confirm_above is None else f" · asks above {money(guard.confirm_above)}"
        print(f"budget: {limit} · spent {money(guard.spent())}{confirm}")
        self.runtime.notify("budget")  # the panel shows spend beside the budget

    # -- %dryrun ---------------------------------------------------------------------------------------------
    @line_magic
    def dryrun(self, line: str) -> None:
        """%dryrun [on | off | PROMPT] - show what a prompt would send and cost, sending nothing (on: every prompt cell until off)"""
        text = line.strip()
        if text in ("on", "off"):
            self.dry_mode = text == "on"
        if text in ("on", "off", ""):
            print(f"dry run: {'on: prompt cells show their cost and send nothing' if self.dry_mode else 'off'}")
            return
        self.show_dry_run(interpolate(text, self.prompt_magics.namespace()), PromptOptions())

    # -- %%prompt --dry-run / --map --------------------------------------------------------------------------
    def before_prompt(self, args: Any, text: str, options: PromptOptions) -> bool:
        """core.py's seam: True when this handled the cell (a dry run or a batch)."""
        if options.budget is not None and (not math.isfinite(options.budget) or options.budget < 0):
            raise BadOptions(f"--budget {options.budget} is not an amount in USD (a number of 0 or more)")
        if args.concurrency is not None and args.concurrency < 1:
            raise BadOptions(f"--concurrency {args.concurrency} must be 1 or more")
        if args.retries < 0:
            raise BadOptions(f"--retries {args.retries} must be 0 or more")
        if args.map_name:
            self.run_batch(args, text, options, dry=args.dry_run or self.dry_mode)
            return True
        if args.dry_run or self.dry_mode:
            self.show_dry_run(text, options)
            return True
        return False

    def show_dry_run(self, text: str, options: PromptOptions) -> None:
        if not text.strip():
            raise UserFacingError("the prompt is empty: nothing to estimate")
        request = self.runtime.prepare(text.strip(), options)
        est = self.guard.estimate(request)
        recorded = self.book.recordings.get(request.digest) is not None
        lines = ["dry run: nothing was sent", *est.lines(), self._budget_line(options.budget),
                 f"digest: {request.digest[:16]} ({'recorded' if recorded else 'not recorded'})"]
        print("\n  ".join(line for line in lines if line))

    def _budget_line(self, cell_budget: float | None) -> str:
        guard = self.guard
        parts = []
        if guard.limit is not None:
            parts.append(f"{money(guard.spent())} spent of {money(guard.limit)}")
        if cell_budget is not None:
            parts.append(f"this cell's budget {money(cell_budget)}")
        return "budget: " + ", ".join(parts) if parts else ""

    def run_batch(self, args: Any, template: str, options: PromptOptions, dry: bool) -> None:
        name = args.map_name
        namespace = self.prompt_magics.namespace()
        if name not in namespace:
            raise UserFacingError(f"--map {name}: {name!r} is not defined",
                                  hint="Define a list, dict, pandas Series or DataFrame in a %%python cell first.")
        shell = self.shell
        count = running_execution_count(shell)
        from ..batch import run_map  # only for --map: kept off the kernel's start-up
        from ..widgets.progress import BatchProgress

        result = run_map(
            self.runtime, self.book, self.guard, template.strip(), namespace[name], name=name, namespace=namespace,
            options=options, concurrency=args.concurrency or DEFAULT_CONCURRENCY, retries=args.retries,
            cell_id=self.prompt_magics.cell_id, execution_count=count, dry=dry, progress_factory=BatchProgress,
            convert=parse_json_answer if options.fmt == "json" else None)
        if result is None:
            return  # a dry run
        bound = result.bound()
        for problem in result.bad:
            print(f"  not bound {problem}")
        if options.as_name:
            shell.user_ns[options.as_name] = bound
        if count is not None:
            shell.history_manager.output_hist[count] = bound
        result.raise_if_interrupted()
