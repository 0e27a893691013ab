"""A fake runtime for the panel's unit tests: just the surface the panel may use, recording every call.

The memory is a real ContextWindow (pure, fast), so snapshots have the real shape; only the runtime's model
switching and memory actions are stand-ins, and they return or raise exactly as the runtime documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.errors import UserFacingError
from llmos_kernel.memory import ContextWindow


class WordTokenizer:
    """One token a word, 3 a message, 2 a request: numbers a test can work out by hand."""

    def __init__(self, name: str = "words", exact: bool = True) -> None:
        self.name = name
        self.exact = exact
        self.per_message = 3
        self.per_request = 2

    def count(self, text: str) -> int:
        return len(text.split())


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


@dataclass
class FakeProcess:
    cell: int | None
    model: str
    status: str = "ok"
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    exact: bool = True


@dataclass
class FakeRuntime:
    memory: ContextWindow
    spec: ModelSpec = field(default_factory=lambda: ModelSpec("smollm2"))
    aliases: dict[str, ModelSpec] = field(default_factory=dict)
    processes: list[FakeProcess] = field(default_factory=list)
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_with: UserFacingError | None = None  # the next action or switch raises this
    moved: list[str] = field(default_factory=list)

    def resolve(self, name: str) -> ModelSpec:
        return self.aliases.get(name) or ModelSpec(name)

    def notify(self, event: str) -> None:
        for listener in list(self.listeners):
            listener(event)

    def memory_action(self, action: str, ref: str) -> str:
        self.calls.append((action, ref))
        if self.fail_with is not None:
            raise self.fail_with
        getattr(self.memory, action)(ref)
        self.notify("memory")
        return f"did {action} {ref}"

    def switch_model(self, spec: ModelSpec) -> list[str]:
        self.calls.append(("switch", spec))
        if self.fail_with is not None:
            raise self.fail_with
        self.spec = spec
        self.memory.refit(window=spec.window or self.memory.window)
        self.notify("refit")
        return list(self.moved)


def make_window(window: int = 1000, exact: bool = True, **kwargs: Any) -> ContextWindow:
    memory = ContextWindow(WordTokenizer(exact=exact), window=window, reserved_output=100,
                           compaction_buffer=100, **kwargs)
    memory.set_system("be brief")  # 2 words + 3 framing = 5 tokens
    return memory
