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
class ToolCall:
    """One tool call the model asked for: ``arguments`` is the JSON text exactly as the model wrote it."""

    id: str
    name: str
    arguments: str = ""

    def to_message(self) -> dict[str, Any]:
        """The OpenAI wire form, as it goes back in the assistant message of the next round."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Delta:
    """One streamed piece: text to append, and/or the final usage and tool calls (sent once, at the end)."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] | None = None


@dataclass
class CallParams:
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)
    # Tool definitions in the OpenAI "tools" format; None sends none. A backend that cannot call tools
    # natively says so with ``tool_calling`` (below).
    tools: list[dict[str, Any]] | None = None


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


def tool_calling(backend: Any) -> str:
    """How a backend calls tools (optional ``tool_calling`` attribute): "native" (the OpenAI ``tools``
    parameter), "text" (a JSON protocol in the system prompt, for a local model whose chat template has no
    tool support) or "none"."""
    return str(getattr(backend, "tool_calling", "native"))


MAX_NAME = 1024  # characters of a tool call's id or name kept (OpenAI allows 64 for a name)


class ToolCallAssembler:
    """Builds whole tool calls from streamed ``tool_calls`` deltas (OpenAI's format, which litellm keeps):
    the first fragment of a call carries its index, id and name, the next ones pieces of its arguments;
    parallel calls have different indexes, and their fragments may interleave.

    Arguments are kept as lists of pieces, joined once at the end: ``call.arguments += piece`` would copy the
    whole string on every fragment (quadratic). ``largest``, ``count`` and what ``add`` returns let the caller
    cap them (limits.py). A fragment of the wrong shape raises TypeError or ValueError."""

    def __init__(self, max_calls: int | None = None) -> None:
        self.max_calls = max_calls  # past it, fragments of further calls are dropped (count shows max_calls + 1)
        self._calls: dict[int, ToolCall] = {}
        self._pieces: dict[int, list[str]] = {}
        self._sizes: dict[int, int] = {}
        self.largest = 0  # characters of the longest call's arguments so far

    @property
    def count(self) -> int:
        return len(self._calls)

    def add(self, fragments: Any) -> int:
        """Take a chunk's fragments; returns how many characters they added (arguments, ids and names)."""
        added = 0
        if not isinstance(fragments, list | tuple):
            raise TypeError(f"tool_calls is {type(fragments).__name__}, not a list")
        for position, fragment in enumerate(fragments):
            get = fragment.get if isinstance(fragment, dict) else lambda k, f=fragment: getattr(f, k, None)
            index = get("index")
            index = position if index is None else int(index)
            if index not in self._calls and self.max_calls is not None and len(self._calls) > self.max_calls:
                break
            function = get("function") or {}
            fget = function.get if isinstance(function, dict) else lambda k, f=function: getattr(f, k, None)
            call = self._calls.setdefault(index, ToolCall(id="", name=""))
            # An id or name longer than any real one is cut (a name so long matches no tool anyway); counted as
            # answer text all the same.
            ident, name = _text(get("id")), _text(fget("name"))
            call.id = ident[:MAX_NAME] or call.id
            call.name = name[:MAX_NAME] or call.name
            added += len(ident) + len(name)
            piece = _text(fget("arguments"))
            if piece:
                self._pieces.setdefault(index, []).append(piece)
                self._sizes[index] = self._sizes.get(index, 0) + len(piece)
                self.largest = max(self.largest, self._sizes[index])
                added += len(piece)
        return added

    def calls(self) -> list[ToolCall]:
        for index, pieces in self._pieces.items():
            self._calls[index].arguments = "".join(pieces)
        done = [self._calls[i] for i in sorted(self._calls)]
        for n, call in enumerate(done):
            call.id = call.id or f"call_{n}"  # some servers send no id: the next round still needs one
        return [call for call in done if call.name]


def _text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"a tool call field is {type(value).__name__}, not text")


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
