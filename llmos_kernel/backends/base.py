"""The Backend protocol: what the runtime needs from a model, whoever serves it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..memory.tokenizers import Tokenizer


@dataclass
class Usage:
    """Token usage of one call. ``exact`` is False when we counted it ourselves rather than the provider."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    exact: bool = True


@dataclass
class Delta:
    """One streamed piece: text to append, and/or the final usage (sent once, at the end)."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass
class CallParams:
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """A model the kernel can run cells on.

    ``name`` is what the user typed (``%model NAME``); ``label`` is a short human name for headers.
    """

    name: str
    label: str

    def stream(self, messages: list[dict], params: CallParams) -> Iterator[Delta]: ...

    def tokenizer(self) -> Tokenizer: ...

    def window(self) -> int: ...

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class Unloadable(Protocol):
    """Optional capability: a model held in RAM (a GGUF on llama.cpp) that can be freed and reloaded on demand."""

    def unload(self) -> None: ...

    @property
    def loaded(self) -> bool: ...


@runtime_checkable
class Resizable(Protocol):
    """Optional capability: the context window can be set (``%model M --window N``, an alias's window)."""

    def set_window(self, n: int) -> None: ...


def take_notes(backend: Any) -> list[str]:
    """A backend's one-time notices for the user, emptied as they are taken, so each is shown once.

    Optional capability: a backend may keep a ``notes`` list (the llama.cpp backend says there how it fits
    requests to a strict chat template).
    """
    notes = getattr(backend, "notes", None)
    if not notes:
        return []
    taken = list(notes)
    notes.clear()
    return taken


def answer_cap(backend: Any, configured: int | None = None) -> int | None:
    """Answer tokens a cell gets unless it says --max-tokens: the configured default, else the backend's own
    (optional ``default_max_tokens``; None when the provider decides)."""
    return configured or getattr(backend, "default_max_tokens", None)
