"""Tab completion and is_complete for prompt cells: magic names, options, model names, {variables}."""

from __future__ import annotations

import re
from typing import Any

from .backends.registry import available_models

_TOKEN = re.compile(r"[%\w\-\./:{]*$")
_MODEL_CONTEXT = re.compile(r"(^\s*%model\s+|--model\s+|-m\s+|^\s*%%compare\s+(\S+\s+)*)$")


def _reply(matches: list[str], start: int, end: int) -> dict[str, Any]:
    return {"matches": matches, "cursor_start": start, "cursor_end": end, "metadata": {}, "status": "ok"}


def complete(shell: Any, runtime: Any, code: str, cursor_pos: int) -> dict[str, Any]:
    """Completions at the cursor of a prompt cell (the kernel sends %%python cells to IPython's completer)."""
    line_start = code.rfind("\n", 0, cursor_pos) + 1
    before = code[line_start:cursor_pos]
    token = _TOKEN.search(before).group(0)
    start = cursor_pos - len(token)
    if token.startswith("{"):
        prefix = token[1:]
        names = sorted(n for n in shell.user_ns if n.startswith(prefix) and not n.startswith("_"))
        return _reply(["{" + n for n in names], start, cursor_pos)
    if token.startswith("%") and before.strip() == token:
        magics = shell.magics_manager.lsmagic()
        cell_prefix = token.startswith("%%")
        names = [f"%%{n}" for n in magics["cell"]] if cell_prefix else [f"%{n}" for n in magics["line"]]
        if not cell_prefix:
            names += [f"%%{n}" for n in magics["cell"]]
        return _reply(sorted(n for n in set(names) if n.startswith(token)), start, cursor_pos)
    head = before[: len(before) - len(token)]
    if _MODEL_CONTEXT.search(head):
        models = [name for name, _ in available_models(runtime.aliases)] + list(runtime.aliases)
        return _reply(sorted({m for m in models if m.startswith(token)}), start, cursor_pos)
    if token.startswith("-") and before.lstrip().startswith("%"):
        magic_name = before.lstrip().lstrip("%").split(None, 1)[0]
        return _reply(sorted(o for o in magic_options(shell, magic_name) if o.startswith(token)), start, cursor_pos)
    return _reply([], cursor_pos, cursor_pos)


def magic_options(shell: Any, name: str) -> list[str]:
    """Long options of a magic, read from its magic_arguments parser."""
    for kind in ("cell", "line"):
        func = shell.magics_manager.magics[kind].get(name)
        parser = getattr(func, "parser", None)
        if parser is not None:
            return [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]
    return []


def prompt_is_complete(code: str) -> dict[str, str]:
    """'incomplete' while a `{` placeholder is unterminated (`{{` is a literal brace)."""
    depth = 0
    text = code.replace("{{", "").replace("}}", "")
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
    if depth:
        return {"status": "incomplete", "indent": ""}
    return {"status": "complete"}
