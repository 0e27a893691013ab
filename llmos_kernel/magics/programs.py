"""Prompt-program magics: aliases, model comparison, the process table and session cost."""

from __future__ import annotations

from collections import defaultdict

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..backends.registry import ModelSpec
from ..compare import run_compare
from ..errors import UserFacingError
from ..interpolate import interpolate
from ..memory.taint import notice
from ..runtime import PromptOptions, Runtime
from .args import parse
from .core import check_ranges


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:.6f}".rstrip("0").rstrip(".")


@magics_class
class ProgramMagics(Magics):
    def __init__(self, shell, runtime: Runtime, namespace) -> None:
        super().__init__(shell)
        self.runtime = runtime
        self.namespace = namespace  # what {placeholders} see (shared with %%prompt)

    @magic_arguments()
    @argument("name", nargs="?", help="the alias")
    @argument("model", nargs="?", help="the model it stands for")
    @argument("--api-base", help="URL of an OpenAI-compatible server or LiteLLM proxy")
    @argument("--api-key-env", help="environment variable holding the key (never the key itself)")
    @argument("--window", type=int, help="context window in tokens")
    @argument("--remove", action="store_true", help="remove the alias")
    @line_magic
    def alias(self, line: str) -> None:
        """%alias [NAME MODEL [--api-base URL] [--api-key-env VAR] [--window N] | NAME --remove] - name a model (list aliases without arguments)"""
        args = parse(ProgramMagics.alias, line)
        aliases = self.runtime.aliases
        if args.name and args.remove:
            if aliases.pop(args.name, None) is None:
                raise UserFacingError(f"no alias {args.name!r}")
            print(f"removed alias {args.name}")
            return
        if not args.name:
            for name, spec in sorted(aliases.items()):
                print(f"{name:<16} {spec.describe()}")
            if not aliases:
                print("no aliases (define one: %alias fast gpt-4o-mini)")
            return
        if not args.model:
            raise UserFacingError(f"%alias {args.name} needs a model", hint="Usage: %alias NAME MODEL")
        if not args.name.replace("-", "_").replace(".", "_").isidentifier():
            raise UserFacingError(f"{args.name!r} is not a usable alias name (letters, digits, - _ .)")
        aliases[args.name] = ModelSpec(args.model, args.api_base, args.api_key_env, args.window)
        print(f"alias {args.name} -> {aliases[args.name].describe()}")

    @magic_arguments()
    @argument("models", nargs="+", help="two or more models or aliases")
    @argument("--temperature", "-t", type=float, help="sampling temperature")
    @argument("--max-tokens", "-n", type=int, help="maximum tokens to generate for each")
    @argument("--no-history", action="store_true", help="send the prompt without conversation memory")
    @cell_magic
    def compare(self, line: str, cell: str) -> None:
        """%%compare M1 M2 [...] [--temperature T] [--max-tokens N] [--no-history] - one prompt on several models, side by side"""
        args = parse(ProgramMagics.compare, line)
        check_ranges(args)  # before anything is sent to any of the models
        prompt = interpolate(cell.strip(), self.namespace())
        options = PromptOptions(temperature=args.temperature, max_tokens=args.max_tokens, no_history=args.no_history)
        run_compare(self.runtime, prompt, args.models, options)

    @line_magic
    def ps(self, line: str) -> None:
        """%ps - the process table: every cell run with its model, status, tokens, latency, speed and cost; tool calls with their arguments"""
        rows = self.runtime.processes
        if not rows:
            print("no prompt has run yet")
            return
        print(f"{'cell':>5}  {'model':<28} {'status':<11} {'in':>7} {'out':>6} {'latency':>8} {'tok/s':>6}  cost")
        for p in rows:
            approx = "" if p.exact else "~"
            model = p.model if p.kind == "prompt" else f"{p.model} ({p.kind})"
            print(f"{p.cell if p.cell is not None else '-':>5}  {model[:28]:<28} {p.status:<11} "
                  f"{approx + str(p.tokens_in):>7} {approx + str(p.tokens_out):>6} {p.latency:>7.2f}s "
                  f"{p.tokens_per_s:>6.0f}  {_cost(p.cost)}" + (f"  {p.detail}" if p.detail else ""))
        memory = self.runtime.loaded_memory
        if memory is not None and memory.tainted:  # the same line as %tools (memory/taint.py)
            print(notice(memory.taint_report()))

    @line_magic
    def cost(self, line: str) -> None:
        """%cost - session totals per model: calls, tokens in and out, cost"""
        totals: dict[str, list] = defaultdict(lambda: [0, 0, 0, 0.0, 0])
        for p in self.runtime.processes:
            if p.kind == "tool":
                continue  # tool calls cost no tokens; %ps lists them
            row = totals[p.model]
            row[0] += 1
            row[1] += p.tokens_in
            row[2] += p.tokens_out
            if p.cost is None:
                row[4] += 1  # calls without a known price
            else:
                row[3] += p.cost
        if not totals:
            print("no prompt has run yet")
            return
        print(f"{'model':<32} {'calls':>5} {'tokens in':>10} {'tokens out':>10}  cost")
        grand = 0.0
        for model, (calls, tin, tout, cost, unpriced) in sorted(totals.items()):
            grand += cost
            shown = "-" if unpriced == calls else _cost(cost) + (f" (+{unpriced} unpriced)" if unpriced else "")
            print(f"{model[:32]:<32} {calls:>5} {tin:>10,} {tout:>10,}  {shown}")
        print(f"{'total':<32} {'':>5} {'':>10} {'':>10}  {_cost(grand)}")
