"""Fakes for the memory tests.

The fake tokenizer counts whitespace-separated words: easy to reason about in assertions, and it records
every text it counts so tests can prove that planning does not re-count old segments.
"""

from __future__ import annotations

from llmos_kernel.memory import Segment


class WordTokenizer:
    exact = True
    per_message = 3
    per_request = 2

    def __init__(self, name: str = "words") -> None:
        self.name = name
        self.counted: list[str] = []

    def count(self, text: str) -> int:
        self.counted.append(text)
        return len(text.split())


class DoubleWordTokenizer(WordTokenizer):
    """Another 'model' whose tokens are twice as many: for refit tests."""

    def count(self, text: str) -> int:
        self.counted.append(text)
        return 2 * len(text.split())


def words(n: int, word: str = "w") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


class FakeSummarizer:
    """Records its calls and returns a short summary; `label` names the model, as the runtime's would."""

    label = "fake-model"

    def __init__(self, text: str = "summary of earlier turns") -> None:
        self.text = text
        self.calls: list[tuple[list[Segment], str | None]] = []

    def __call__(self, segments: list[Segment], focus: str | None) -> str:
        self.calls.append((list(segments), focus))
        return self.text
