"""Tokenizers: count tokens the way the backing model does, exactly where we can, labelled where we cannot.

Every tokenizer has a `name` (the key under which segments cache their counts) and says whether it is
`exact`. Chat formatting costs a few tokens per message (`per_message`) and per request (`per_request`).

An estimating tokenizer additionally exposes `cache_key`, `count_raw` and `scale`: the window caches the
uncalibrated counts and multiplies by the current calibration factor, so re-calibrating after each provider
call never forces a recount of the whole context.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

# OpenAI's chat format: each message is wrapped in about 3 tokens plus its role (1 token), and every reply is
# primed with 3 more (see openai-cookbook "How to count tokens with tiktoken").
OPENAI_PER_MESSAGE = 4
OPENAI_PER_REQUEST = 3

# tiktoken caches a downloaded encoding under sha1(blob URL); the litellm wheel ships exactly those files.
_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


class TokenizerUnavailable(RuntimeError):
    """The exact tokenizer cannot be loaded offline (package or encoding file missing)."""


@runtime_checkable
class Tokenizer(Protocol):
    name: str
    exact: bool
    per_message: int
    per_request: int

    def count(self, text: str) -> int: ...


def count_messages(tokenizer: Tokenizer, messages: Iterable[dict[str, Any]]) -> int:
    """Tokens a chat request of these messages costs: content plus per-message and per-request overhead."""
    total = tokenizer.per_request
    for message in messages:
        total += tokenizer.count(str(message.get("content") or "")) + tokenizer.per_message
    return total


def cache_key(tokenizer: Tokenizer) -> str:
    return getattr(tokenizer, "cache_key", tokenizer.name)


def raw_counter(tokenizer: Tokenizer) -> Callable[[str], int]:
    return getattr(tokenizer, "count_raw", tokenizer.count)


def scale_of(tokenizer: Tokenizer) -> float:
    return float(getattr(tokenizer, "scale", 1.0))


# -- tiktoken, offline ---------------------------------------------------------------------------------


def tiktoken_cache_dir() -> str | None:
    """The folder inside the installed litellm package that holds tiktoken's encoding files.

    Found with importlib rather than by importing litellm: that import takes seconds and pulls in the
    network stack, and this module must stay light.
    """
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "litellm_core_utils", "tokenizers")
    return folder if os.path.isdir(folder) else None


_encodings: dict[str, Any] = {}
_encodings_lock = threading.Lock()


def load_encoding(encoding_name: str) -> Any:
    """A tiktoken Encoding loaded from local files only; raises TokenizerUnavailable rather than download."""
    with _encodings_lock:
        if encoding_name in _encodings:
            return _encodings[encoding_name]
        if "TIKTOKEN_CACHE_DIR" not in os.environ:
            folder = tiktoken_cache_dir()
            if folder:
                os.environ["TIKTOKEN_CACHE_DIR"] = folder
        try:
            import tiktoken
        except ImportError as error:
            raise TokenizerUnavailable("tiktoken is not installed") from error
        url = _ENCODING_URLS.get(encoding_name)
        cache = os.environ.get("TIKTOKEN_CACHE_DIR", "")
        # Without the cached file tiktoken would try the network; the kernel must never hang on that.
        if url is None or not os.path.exists(os.path.join(cache, hashlib.sha1(url.encode()).hexdigest())):
            raise TokenizerUnavailable(f"no local tiktoken file for {encoding_name} in {cache or '(unset)'}")
        encoding = tiktoken.get_encoding(encoding_name)
        _encodings[encoding_name] = encoding
        return encoding


PIECE_CHARS = 65_536  # tiktoken encodes at most this much at once


def encoded_length(encoding: Any, text: str) -> int:
    """tiktoken's token count of ``text``, in pieces of at most PIECE_CHARS.

    tiktoken 0.7 (the lowest we admit) panics with a regex stack overflow on a long run without a break (4 MB of
    "z" from a hostile server, found by tests/test_fuzz_trust.py); newer releases do not. A piece ends just before
    a whitespace character, where tiktoken's pre-tokenizer splits anyway, so the sum is the whole text's count for
    ordinary text; a run with no whitespace for 64 K characters may count a token more per piece.
    """
    if len(text) <= PIECE_CHARS:
        return len(encoding.encode_ordinary(text))
    total, start = 0, 0
    while start < len(text):
        end = min(start + PIECE_CHARS, len(text))
        if end < len(text):
            cut = max(text.rfind(" ", start + 1, end), text.rfind("\n", start + 1, end))
            end = cut if cut > start else end
        total += len(encoding.encode_ordinary(text[start:end]))
        start = end
    return total


class TiktokenTokenizer:
    """Exact counts for OpenAI model families."""

    exact = True

    def __init__(
        self,
        encoding_name: str,
        per_message: int = OPENAI_PER_MESSAGE,
        per_request: int = OPENAI_PER_REQUEST,
    ) -> None:
        self.name = encoding_name
        self.per_message = per_message
        self.per_request = per_request
        self._encoding = load_encoding(encoding_name)

    def count(self, text: str) -> int:
        # encode_ordinary: user text that happens to contain "<|endoftext|>" is counted as text, never raises.
        return encoded_length(self._encoding, text)

    def __repr__(self) -> str:
        return f"TiktokenTokenizer({self.name!r})"


class FunctionTokenizer:
    """Wraps any counting callable, e.g. llama.cpp's own tokenizer for a local GGUF model."""

    def __init__(
        self,
        name: str,
        fn: Callable[[str], int],
        exact: bool = True,
        per_message: int = OPENAI_PER_MESSAGE,
        per_request: int = OPENAI_PER_REQUEST,
    ) -> None:
        self.name = name
        self.exact = exact
        self.per_message = per_message
        self.per_request = per_request
        self._fn = fn

    def count(self, text: str) -> int:
        return int(self._fn(text))

    def __repr__(self) -> str:
        return f"FunctionTokenizer({self.name!r}, exact={self.exact})"


class EstimateTokenizer:
    """An estimate for models whose tokenizer we do not have, calibrated against the provider's usage.

    Counts with cl100k_base (or len/4 without tiktoken) times `scale`. After each call, `calibrate` nudges the
    factor toward reported/estimated: a running mean for the first few samples, then an exponential moving
    average, so one odd response cannot swing it far.
    """

    exact = False
    MIN_SCALE = 0.25
    MAX_SCALE = 4.0
    MIN_ALPHA = 0.2

    def __init__(
        self,
        name: str,
        per_message: int = OPENAI_PER_MESSAGE,
        per_request: int = OPENAI_PER_REQUEST,
        scale: float = 1.0,
    ) -> None:
        self.name = name
        self.per_message = per_message
        self.per_request = per_request
        self.scale = scale
        self.samples = 0
        try:
            encoding = load_encoding("cl100k_base")
        except TokenizerUnavailable:
            encoding = None
        self._encoding = encoding
        self.basis = "cl100k_base" if encoding is not None else "chars/4"
        # Every estimator shares raw counts with the others of the same basis: switching between two models
        # we can only estimate needs no recount.
        self.cache_key = f"estimate:{self.basis}"

    def count_raw(self, text: str) -> int:
        if self._encoding is not None:
            return encoded_length(self._encoding, text)
        return math.ceil(len(text) / 4)

    def count(self, text: str) -> int:
        return math.ceil(self.count_raw(text) * self.scale)

    def calibrate(self, estimated: int, reported: int) -> float:
        """Update the factor from one call's estimated and provider-reported prompt tokens; returns it."""
        if estimated <= 0 or reported <= 0:
            return self.scale
        ratio = min(max(reported / estimated, 0.25), 4.0)
        target = self.scale * ratio
        self.samples += 1
        alpha = max(1.0 / self.samples, self.MIN_ALPHA)
        self.scale = min(max((1 - alpha) * self.scale + alpha * target, self.MIN_SCALE), self.MAX_SCALE)
        return self.scale

    def __repr__(self) -> str:
        return f"EstimateTokenizer({self.name!r}, basis={self.basis}, scale={self.scale:.3f})"


# -- choosing a tokenizer for a model name -------------------------------------------------------------

_O200K = re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4)(?![0-9])")
_CL100K = re.compile(r"^(gpt-4|gpt-3\.5|gpt-35)(?![0-9.])")
_PROVIDER_PREFIXES = ("openai/", "azure/")
_by_model: dict[str, Tokenizer] = {}


def encoding_for_model(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model family, or None for any other model."""
    name = model.strip().lower()
    for prefix in _PROVIDER_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if _O200K.match(name):
        return "o200k_base"
    if _CL100K.match(name):
        return "cl100k_base"
    return None


def tokenizer_for_model(model: str) -> Tokenizer:
    """The best tokenizer for a model name; cached, so an estimate keeps its calibration across calls."""
    if model in _by_model:
        return _by_model[model]
    encoding = encoding_for_model(model)
    tokenizer: Tokenizer
    if encoding is not None:
        try:
            tokenizer = _shared_tiktoken(encoding)
        except TokenizerUnavailable:
            tokenizer = EstimateTokenizer(f"estimate:{model}")
    else:
        tokenizer = EstimateTokenizer(f"estimate:{model}")
    _by_model[model] = tokenizer
    return tokenizer


_tiktokens: dict[str, TiktokenTokenizer] = {}


def _shared_tiktoken(encoding: str) -> TiktokenTokenizer:
    if encoding not in _tiktokens:
        _tiktokens[encoding] = TiktokenTokenizer(encoding)
    return _tiktokens[encoding]
