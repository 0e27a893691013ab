"""How much of a server's answer the kernel reads: caps on the answer's text, each tool call's arguments, one
SSE line, the whole response body, and how deep tool arguments may nest.

Why: the server decides how much it sends, and a broken or hostile one (or a proxy in between) can send without
end. Before these caps a 64 MB answer to ``--max-tokens 8`` grew the kernel by 1.3 GB and an interrupt took 21 s;
a 24 MB tool argument did the same, and a tool argument nested 200,000 deep ended in a traceback. Every path that
reads a model's answer (the httpx SSE stream and its one-JSON-completion fallback in openai_stream.py,
``litellm.completion`` in litellm_backend.py) counts what arrived with one ``Meter``. Past a cap it stops reading,
closes the response, keeps the text that fits and ends the answer as a broken stream (``BrokenStream`` of kind
"oversized"): the cell shows the partial answer marked "stream cut" and one message naming the cap.

The rule, in characters of text (a token of any common vocabulary is a few characters, about 4 on average and
rarely over 16, so 32 per token is ample):

- the answer (its text and every tool call's arguments: both are completion tokens):
  ``max(64 Ki, 32 × max_tokens)`` characters, never more than ``LLMOS_MAX_ANSWER_CHARS`` (default 4 Mi, the
  cap of a cell without --max-tokens);
- one tool call's arguments: ``LLMOS_MAX_ARGUMENT_CHARS`` (default 1 Mi), and at most ``MAX_CALLS`` calls;
- one SSE line (one chunk, or the body of a non-streamed completion): 6 bytes per character of the answer cap
  (JSON's ``\\uXXXX`` escapes), so a line with no end is never buffered for ever;
- the whole body: 32 bytes per character of the answer cap, so 1 KiB per --max-tokens token where a chunk's JSON
  around one token is ~200 bytes: a flood of chunks or comments that carry no text still ends. The litellm path
  (providers that are not OpenAI-compatible) never sees the bytes: it counts chunks instead, and a flood of comment
  lines or one endless line is read by litellm's own parser until the server stops (an interrupt still ends it);
- tool arguments nest at most ``MAX_DEPTH`` levels (real ones nest a handful): deeper ones end the answer with one
  message, before the tool loop, pydantic, an MCP server or the next request's JSON encoder recurse into them;
  a server's JSON nested past Python's recursion limit is "malformed", never a RecursionError.

Bodies read whole are capped too: an error response's (ERROR_BODY_BYTES), an MCP tool's result before it is
masked (RESULT_CHARS; the tool loop then cuts it to its own, smaller cap), the catalogue's model listings
(catalogue.py). The environment variables are read when a call starts, so a changed value applies to the next cell.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import ToolCall
from .provider_errors import BrokenStream

CHARS_PER_TOKEN = 32
MIN_ANSWER_CHARS = 64 * 1024  # a server that overshoots a tiny --max-tokens a little is not cut
DEFAULT_ANSWER_CHARS = 4 * 1024 * 1024  # ~1 M tokens: far beyond any model's output limit today
DEFAULT_ARGUMENT_CHARS = 1024 * 1024
MAX_CALLS = 128  # parallel tool calls in one answer (models make a handful)
LINE_BYTES_PER_CHAR = 6
BODY_BYTES_PER_CHAR = 32
LINE_SLACK = 64 * 1024  # a line's JSON around its text
ERROR_BODY_BYTES = 64 * 1024  # an error response's body: its message is a line or two
MAX_DEPTH = 64
RESULT_CHARS = 1024 * 1024  # an MCP tool's result, before redaction (the tool loop then cuts it to its own cap)
ANSWER_ENV = "LLMOS_MAX_ANSWER_CHARS"
ARGUMENT_ENV = "LLMOS_MAX_ARGUMENT_CHARS"


@dataclass(frozen=True)
class Limits:
    answer_chars: int
    argument_chars: int
    calls: int = MAX_CALLS
    max_tokens: int | None = None  # set when --max-tokens decided the answer's cap: the message names it

    @property
    def line_bytes(self) -> int:
        return LINE_BYTES_PER_CHAR * self.answer_chars + LINE_SLACK

    @property
    def body_bytes(self) -> int:
        return BODY_BYTES_PER_CHAR * self.answer_chars + LINE_SLACK

    @property
    def chunks(self) -> int:
        """Chunks a stream may bring (the litellm path, where bytes are not seen): one per character, and then some."""
        return self.answer_chars + 4096


def _setting(environ: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(environ.get(name, "") or default)
    except ValueError:
        return default  # a mistyped setting must not disable the cap
    return value if value > 0 else default


def limits_for(max_tokens: int | None, environ: Mapping[str, str] | None = None) -> Limits:
    """The caps of one call that asked for at most ``max_tokens`` answer tokens (None: the provider decides)."""
    env = os.environ if environ is None else environ
    ceiling = _setting(env, ANSWER_ENV, DEFAULT_ANSWER_CHARS)
    by_tokens = max(MIN_ANSWER_CHARS, CHARS_PER_TOKEN * max_tokens) if max_tokens and max_tokens > 0 else None
    answer = min(ceiling, by_tokens or ceiling)
    argument = min(answer, _setting(env, ARGUMENT_ENV, DEFAULT_ARGUMENT_CHARS))
    return Limits(answer, argument, max_tokens=max_tokens if by_tokens and by_tokens < ceiling else None)


def size(n: int) -> str:
    """Bytes in words: 786,432 -> "768 KiB", 25,231,360 -> "24.1 MiB"."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):,.1f} MiB".replace(".0 ", " ")
    return f"{n / 1024:,.0f} KiB" if n >= 1024 else f"{n} bytes"


class Meter:
    """What one answer has brought so far, against its Limits. Each check is a few additions, once per chunk or
    network read: the hot loop stays fast. Past a cap, ``over`` raises BrokenStream("oversized")."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.chars = 0  # the answer's text and the tool calls' arguments
        self.wire = 0  # bytes of the response body
        self.chunks = 0

    def text(self, text: str) -> str:
        """The part of ``text`` that fits in the answer; when some did not fit, the caller keeps that part and
        then calls ``over_answer()``."""
        self.chars += len(text)
        excess = self.chars - self.limits.answer_chars
        return text if excess <= 0 else text[: max(0, len(text) - excess)]

    @property
    def full(self) -> bool:
        return self.chars > self.limits.answer_chars

    def over_answer(self) -> BrokenStream:
        tokens = self.limits.max_tokens
        why = f"the cap for --max-tokens {tokens:,}" if tokens else f"the cap, {ANSWER_ENV}"
        return BrokenStream("oversized", f"sent an answer longer than {self.limits.answer_chars:,} characters "
                                         f"({why}); the rest was not read")

    def arguments(self, added: int, largest: int, calls: int) -> None:
        """After tool call fragments arrived: ``added`` characters, the largest call's size, the number of calls."""
        self.chars += added
        if largest > self.limits.argument_chars:
            raise BrokenStream("oversized", f"sent tool call arguments longer than {self.limits.argument_chars:,}"
                                            f" characters (the cap per call, {ARGUMENT_ENV}); the rest was not read "
                                            "and no tool ran")
        if calls > self.limits.calls:
            raise BrokenStream("oversized", f"asked for more than {self.limits.calls} tool calls in one answer; "
                                            "the rest was not read and no tool ran")
        if self.full:
            raise self.over_answer()

    def read(self, n_bytes: int) -> None:
        """A network read of the body."""
        self.wire += n_bytes
        if self.wire > self.limits.body_bytes:
            raise BrokenStream("oversized", f"sent more than {size(self.limits.body_bytes)} for an answer "
                                            f"capped at {self.limits.answer_chars:,} characters; the rest was "
                                            "not read")

    def line(self, n_bytes: int, what: str) -> None:
        """A line (one SSE event, or a whole JSON body) of ``n_bytes`` so far."""
        if n_bytes > self.limits.line_bytes:
            raise BrokenStream("oversized", f"sent {what} longer than {size(self.limits.line_bytes)}; "
                                            "the rest was not read")

    def chunk(self) -> None:
        """One chunk of a stream whose bytes are not seen (litellm's)."""
        self.chunks += 1
        if self.chunks > self.limits.chunks:
            raise BrokenStream("oversized", f"sent more than {self.limits.chunks:,} chunks for an answer capped at "
                                            f"{self.limits.answer_chars:,} characters; the rest was not read")


def head(response: Any, limit: int) -> bytes:
    """At most ``limit`` bytes of a streamed httpx response's body: reading stops there (the caller closes it)."""
    pieces: list[bytes] = []
    total = 0
    for block in response.iter_bytes():
        pieces.append(block)
        total += len(block)
        if total >= limit:
            break
    return b"".join(pieces)[:limit]


# -- JSON from a server or a model -----------------------------------------------------------------------------

class TooDeep(ValueError):
    """JSON nested deeper than Python's recursion limit lets ``json.loads`` parse."""


def loads(text: str | bytes) -> Any:
    """``json.loads`` whose failures are all ValueError (TooDeep instead of RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeep("it nests too deeply to parse") from None


# A JSON string (closed or running to the end) or one bracket: brackets inside strings are not nesting.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def nested_deeper(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in JSON ``text``, read from its brackets without
    parsing it: any depth is safe, and text that is not valid JSON gets an answer too. Linear; a text with no more
    than ``limit`` brackets costs two counts."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        char = match.group()[0]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def check_calls(calls: list[ToolCall]) -> list[ToolCall]:
    """The answer's tool calls, once their arguments are known not to nest past MAX_DEPTH.

    Checked here, where a model's answer enters the kernel, so nothing after it (the tool loop's parse, pydantic's
    validation of a user tool's arguments, an MCP server's JSON-RPC request, the display of the arguments, the
    next request's encoder) recurses into a hostile nesting. Arguments that are not JSON at all pass: the tool
    loop tells the model so, and it may try again."""
    for call in calls:
        if nested_deeper(call.arguments):
            raise BrokenStream("malformed", f"sent tool call arguments nested more than {MAX_DEPTH} levels deep "
                                            "(the cap); no tool ran")
    return calls


def cut(text: str, limit: int, what: str) -> str:
    """``text`` cut to ``limit`` characters, with a note that says so (for results read whole, like MCP's)."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {what} cut: {len(text):,} characters, first {limit:,} kept]"
