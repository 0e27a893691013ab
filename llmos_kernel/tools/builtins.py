"""The built-in tools: python (the kernel's own interpreter), read_file and list_files (the notebook's
folder), and three on the kernel's memory: recall, remember, memory_map."""

from __future__ import annotations

import ast
import contextlib
import io
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..memory.taint import Untrusted, any_untrusted
from .files import Sandbox
from .registry import Tool, ToolError

PYTHON_OUTPUT = 20_000  # characters of stdout kept from one python call (the result cap applies after)


def _schema(**props: tuple[str, str]) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": t, "description": d} for k, (t, d) in props.items()},
            "required": [k for k in props if not k.startswith("_")]}


def run_python(namespace: dict[str, Any], code: str) -> str:
    """Run code in the user's namespace like a cell: stdout, then the last expression's repr, or the error."""
    if not isinstance(code, str) or not code.strip():
        raise ToolError("no code given")
    try:
        tree = ast.parse(code, "<tool:python>", "exec")
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    value: Any = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(tree, "<tool:python>", "exec"), namespace)  # noqa: S102 - running code is this tool's job
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<tool:python>", "eval"), namespace)  # noqa: S307
    except Exception as exc:  # the model hears about its error and can fix the code; KeyboardInterrupt passes
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<tool:python>"]
        where = f" (line {frames[-1].lineno})" if frames else ""
        printed = out.getvalue()[-PYTHON_OUTPUT:]
        return (printed + "\n" if printed else "") + f"{type(exc).__name__}{where}: {exc}"
    printed = out.getvalue()
    if len(printed) > PYTHON_OUTPUT:
        printed = printed[:PYTHON_OUTPUT] + f"\n[... output truncated at {PYTHON_OUTPUT:,} characters]"
    parts = [printed.rstrip("\n")] if printed else []
    if value is not None:
        parts.append(repr(value))
    return "\n".join(parts) if parts else "(no output)"


def builtin_tools(namespace: Callable[[], dict[str, Any]], root: Callable[[], Path], memory: Callable[[], Any],
                  max_chars: Callable[[], int], cell_tainted: Callable[[], bool] = lambda: False) -> list[Tool]:
    """The built-ins, bound to the user's namespace, the notebook's folder and the kernel's memory (callables:
    each is read at call time, so a changed folder or a new memory is what the tool sees). ``cell_tainted``:
    untrusted content arrived in the running cell (not in memory yet: a cell's calls are committed at its end).
    """

    def python(args: dict[str, Any]) -> str:
        return run_python(namespace(), args.get("code", ""))

    def read_file(args: dict[str, Any]) -> str:
        return Sandbox(root()).read(args.get("path", ""), max_chars())

    def list_files(args: dict[str, Any]) -> str:
        return Sandbox(root()).list(args.get("path") or ".")

    def recall(args: dict[str, Any]) -> str:
        query = str(args.get("query", "")).strip()
        if not query:
            raise ToolError("give a query: words to look for in swap")
        found = memory().recall(query, limit=int(args.get("limit") or 3))
        if not found:
            return f"nothing in swap matches {query!r}"
        text = "\n\n".join(f"[{s.id}, {s.where()}]\n{s.body()}" for s in found)
        return Untrusted(text) if any_untrusted(found) else text  # quoting a tainted page taints the result

    def remember(args: dict[str, Any]) -> str:
        from ..memory.segments import Kind, Segment

        note = str(args.get("note", "")).strip()
        if not note:
            raise ToolError("give the note to remember")
        if len(note) > 2000:
            raise ToolError("a note is at most 2,000 characters; keep the gist")
        mem = memory()
        # Written by a model that read untrusted content: an injection would live on in the note (taint.py).
        segment = mem.add(Segment(Kind.PINNED, note, label="note (model)", pinned=True,
                                  untrusted=mem.tainted or cell_tainted()))
        return f"pinned as {segment.id}"

    def memory_map(args: dict[str, Any]) -> str:
        mem = memory()
        lines = [f"window {mem.window:,} tokens; used {mem.used:,} of {mem.usable:,} usable; free {mem.free:,}"]
        lines += [f"{r.kind.value:<9} {r.label[:40]:<40} {r.tokens:>6,} tokens" for r in mem.regions()]
        return "\n".join(lines)

    return [
        Tool("python", "python", "Run Python code in the notebook's kernel, in the user's namespace (their "
             "variables are there). Returns printed output and the value of the last expression.",
             _schema(code=("string", "Python code")), python, side_effects=True, taints=False),
        Tool("read_file", "fs.read_file", "Read a text file from the notebook's folder.",
             _schema(path=("string", "path relative to the notebook's folder")), read_file, side_effects=False),
        Tool("list_files", "fs.list_files", "List a folder inside the notebook's folder.",
             {"type": "object", "properties": {"path": {"type": "string", "description": "folder, default ."}}},
             list_files, side_effects=False),  # file names are whatever someone named them: untrusted
        Tool("recall", "memory.recall", "Search the conversation's swap (earlier turns paged out of context) "
             "and bring the best matches back.",
             _schema(query=("string", "words to look for")), recall, side_effects=False, taints=False),
        Tool("remember", "memory.remember", "Pin a short note in memory, so it stays in context.",
             _schema(note=("string", "the note, at most 2,000 characters")), remember, side_effects=False,
             taints=False),
        Tool("memory_map", "memory.map", "What is resident in the context window, and how much room is left.",
             {"type": "object", "properties": {}}, memory_map, side_effects=False, taints=False),
    ]
