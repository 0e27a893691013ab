"""The kernel's magics, registered the IPython way (so %lsmagic, %magic? and completion work).

Each magic's docstring starts with its usage line; %help is built from those lines.
"""

from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..backends.base import answer_cap, take_notes
from ..backends.registry import available_models
from ..cells import is_line_magic, running_execution_count
from ..errors import PromptError
from ..interpolate import interpolate
from ..runtime import PromptOptions, Runtime
from ..validate import CallSettings, require
from .args import parse, usage_line

FORMATS = ("markdown", "code", "json", "html", "math", "text")
CALL_OPTIONS = {"temperature": "--temperature", "max_tokens": "--max-tokens", "timeout": "--timeout"}


def split_leading_magics(body: str) -> tuple[list[str], str]:
    """Leading `%line` magics of a prompt cell (run first) and the rest of the cell (the prompt)."""
    lines = body.split("\n")
    magics: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if is_line_magic(stripped):
            magics.append(stripped)
        elif stripped:
            break
        i += 1
    return magics, "\n".join(lines[i:])


@magics_class
class LLMOSMagics(Magics):
    def __init__(self, shell, runtime: Runtime) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.cell_id: str | None = None  # set by the kernel for each execute_request
        self.errors: dict[int, str] = {}  # Err[n]: the error a cell ended with
        # --map and --dry-run cells (magics/batch.py, set by the kernel): True when it did the cell itself.
        self.before_prompt: Callable[[Any, str, PromptOptions], bool] | None = None
        shell.user_ns.setdefault("Err", self.errors)
        shell.events.register("post_run_cell", self._record_error)

    # -- prompt cells -----------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--model", "-m", help="model for this cell only")
    @argument("--temperature", "-t", type=float, help="sampling temperature")
    @argument("--max-tokens", "-n", type=int, help="maximum tokens to generate")
    @argument("--format", "-f", default="markdown", choices=FORMATS, help="how to render the answer")
    @argument("--no-history", action="store_true", help="send this prompt without conversation memory")
    @argument("--as", dest="as_name", help="bind the answer to this Python variable")
    @argument("--system", "-s", help="system prompt for this cell only")
    @argument("--timeout", type=float, help="seconds to wait for the answer to start, retries included")
    @argument("--tools", help="tools this cell may call: patterns, comma-separated (python,fs.*)")
    @argument("--no-tools", action="store_true", help="no tools for this cell")
    @argument("--dry-run", action="store_true", help="show the request's size and cost range; send nothing")
    @argument("--budget", type=float, help="USD this cell may cost at most: refused before sending above it")
    @argument("--map", dest="map_name", help="run the cell once per item of this list, dict, Series or DataFrame")
    @argument("--concurrency", type=int, help="--map: items in flight at once (remote models; default 4)")
    @argument("--retries", type=int, default=1, help="--map: extra attempts for an item that failed (default 1)")
    @cell_magic
    def prompt(self, line: str, cell: str) -> None:
        """%%prompt [--model M] [--temperature T] [--max-tokens N] [--format F] [--no-history] [--as NAME] [--system TEXT] [--timeout S] [--tools PATTERNS] [--no-tools] [--dry-run] [--budget USD] [--map NAME [--concurrency N] [--retries N]] - run the cell as a prompt

        A plain cell is a prompt already; %%prompt adds per-cell options. Leading %line magics in the cell run
        first; the rest is the prompt, sent with the conversation memory to the backing model (%model).
        --map NAME runs it once per item of NAME, with {item} (or a DataFrame's {column}) filled per item.
        """
        args = parse(self.prompt, line)
        if args.as_name is not None and not args.as_name.isidentifier():
            raise PromptError(f"--as {args.as_name!r} is not a Python variable name")
        check_ranges(args)
        self._show_notices()
        leading, text = split_leading_magics(cell)
        for magic_line in leading:
            self.shell.run_line_magic(*(magic_line[1:].split(None, 1) + [""])[:2])
        if leading and not text.strip():
            return
        text = text if args.map_name else interpolate(text, self.namespace())  # --map fills {item} per item
        options = PromptOptions(
            model=args.model,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            fmt=args.format,
            no_history=args.no_history,
            as_name=args.as_name,
            system=args.system,
            timeout=args.timeout,
            tools=[p.strip() for p in args.tools.split(",") if p.strip()] if args.tools else None,
            no_tools=args.no_tools,
            budget=args.budget,
        )
        if self.before_prompt is not None and self.before_prompt(args, text, options):
            return  # a dry run or a --map batch (magics/batch.py) did the cell
        count = running_execution_count(self.shell)
        answer = self.runtime.run_prompt(text.strip(), cell_id=self.cell_id, execution_count=count, options=options)
        if count is not None:
            self.shell.history_manager.output_hist[count] = answer.text  # Out[n]
        if options.as_name:
            value = parse_json_answer(answer.text) if options.fmt == "json" else answer.text
            self.shell.user_ns[options.as_name] = value

    def namespace(self) -> ChainMap:
        """What `{...}` placeholders see: In (cells as typed), Out, Err, then the user's variables."""
        history = self.shell.history_manager
        return ChainMap({"In": history.input_hist_raw, "Out": history.output_hist, "Err": self.errors},
                        self.shell.user_ns)

    def _record_error(self, result: Any) -> None:
        """post_run_cell hook: keep each failed cell's error text for {Err[n]}."""
        error = result.error_in_exec or result.error_before_exec
        count = result.execution_count
        if error is not None and count is not None:
            render = getattr(error, "render", None)
            self.errors[count] = render() if render else f"{type(error).__name__}: {error}"

    def _show_notices(self) -> None:
        while self.runtime.notices:
            print(f"note: {self.runtime.notices.pop(0)}")

    # -- model ------------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", help="model name (litellm name, smollm2, gguf:PATH, or an alias)")
    @argument("--api-base", help="URL of an OpenAI-compatible server or LiteLLM proxy")
    @argument("--api-key-env", help="environment variable that holds the key (the key itself is never shown)")
    @argument("--window", type=int, help="context window in tokens, when litellm does not know it")
    @line_magic
    def model(self, line: str) -> None:
        """%model [NAME] [--api-base URL] [--api-key-env VAR] [--window N] - show or switch the backing model"""
        args = parse(self.model, line)
        if not args.name:
            spec = self.runtime.spec
            print(f"model: {spec.describe()}")
            return
        # An alias, or the name itself; options given here win, but an alias's key stays with its own endpoint.
        spec, key_note = self.runtime.resolve(args.name).with_options(args.api_base, args.api_key_env, args.window)
        moved = self.runtime.switch_model(spec)
        backend = self.runtime.backend
        details = [backend.label, f"window {backend.window():,} tokens", self._cap_text(backend)]
        print(f"model: {spec.describe()} ({', '.join(d for d in details if d)})")
        for line_ in moved:
            print(f"  {line_}")
        if key_note:
            print(f"note: {key_note}")
        for note in take_notes(backend):  # e.g. how requests are fitted to a strict chat template
            print(f"note: {note}")

    def _cap_text(self, backend: Any) -> str:
        cap = answer_cap(backend, self.runtime.defaults.get("max_tokens"))
        return f"answers up to {cap:,} tokens" if cap else ""

    @line_magic
    def models(self, line: str) -> None:
        """%models - list the embedded model, models whose provider key is set, configured aliases, and what every configured endpoint offers"""
        current = self.runtime.spec.name
        rows = available_models(self.runtime.aliases)
        for name, why in rows:
            mark = "*" if name == current else " "
            print(f"{mark} {name:<40} {why}")
        from .. import catalogue  # the first %models pays for it, not the kernel's start-up

        endpoints = catalogue.report(self.runtime.aliases, self.runtime.spec)  # GET /models of each endpoint
        for line_ in endpoints:
            print(line_)
        if len(rows) == 1 and not endpoints:
            # Only the embedded model: say how the list grows, or a newcomer reads it as all there is.
            print("  more: set a provider's key before starting the kernel (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
                  "GEMINI_API_KEY, ...), or %model openai/NAME --api-base URL for a server of your own")

    @line_cell_magic
    def system(self, line: str, cell: str | None = None) -> None:
        """%system [TEXT] - show or set the system prompt (%%system takes the cell body as the prompt)"""
        text = cell if cell is not None else line
        if not text.strip():
            print(self.runtime.system_prompt)
            return
        self.runtime.set_system(text)
        print(f"system prompt set ({len(text.strip())} characters)")

    # -- help -------------------------------------------------------------------------------------------
    @line_magic
    def help(self, line: str) -> None:
        """%help - list every llmos magic with its usage line"""
        # Printed, not paged: a pager payload is dropped by nbclient and saved notebooks, and frontends show it apart.
        print(help_text(self.shell))


def usage_lines(shell: Any) -> list[str]:
    """Usage lines of every llmos magic (those defined in this package or the widgets package)."""
    lines = []
    for kind in ("line", "cell"):
        for _name, func in sorted(shell.magics_manager.magics[kind].items()):
            if not getattr(func, "__module__", "").startswith("llmos_kernel"):
                continue
            first = usage_line(func)
            if first and first not in lines:
                lines.append(first)
    return sorted(set(lines), key=lambda s: s.lstrip("%"))


def help_text(shell: Any) -> str:
    body = "\n".join(f"  {line}" for line in usage_lines(shell))
    return (
        "LLM OS: every cell is a prompt to the backing model; %%python runs a cell as Python.\n\n"
        f"Magics:\n{body}\n\nDetails: %magic? (for example %model?). Python's own magics: %lsmagic"
    )


def check_ranges(args: Any) -> None:
    """A prompt's numbers (%%prompt, %%compare), checked by the one validator before any call: nan, inf and
    negatives pass argparse but no model takes them. A negative --max-tokens would even make llama.cpp generate
    until its context is full."""
    values = {name: getattr(args, name, None) for name in ("temperature", "max_tokens", "timeout")}
    require(CallSettings, values, names=CALL_OPTIONS, hint="Nothing was sent to the model.")


def parse_json_answer(text: str) -> Any:
    """The answer of a --format json cell as Python data; a fenced ```json block is accepted."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise PromptError(
            f"the answer is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            hint="The text is kept in Out[n]; ask again, or use --format text.",
        ) from None
