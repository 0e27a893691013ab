"""The Backend protocol: what the runtime needs from a model, whoever serves it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

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
