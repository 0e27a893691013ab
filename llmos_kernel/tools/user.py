"""The ``@tool`` decorator: a Python function in the notebook becomes a tool the model may call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import tool_from_function

_active: Any = None  # the running kernel's Syscalls, set by the %tools magics


def activate(syscalls: Any) -> None:
    global _active
    _active = syscalls


def tool(func: Callable[..., Any] | None = None, *, name: str | None = None, read_only: bool = False) -> Any:
    """Register a function as a tool: ``@tool`` or ``@tool(name="x", read_only=True)`` in a %%python cell.

    Its JSON schema comes from the signature and type hints; its docstring is the description the model reads.
    ``read_only=True`` says it has no side effects, so the taint guard does not make it ask.
    """

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        if _active is None:
            raise RuntimeError("@tool registers with a running llmos kernel; none is running in this process")
        _active.registry.add(tool_from_function(f, name, side_effects=not read_only))
        return f

    return register(func) if func is not None else register
