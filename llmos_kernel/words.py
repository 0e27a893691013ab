"""Counts in words for what the user reads: "1 page", "2 pages", "1,024 tokens".

Every count in %memory, %context, %load, %recall and the memory panel goes through `plural`, so none can say
"1 pages" again and the thousands separator is the same everywhere. It imports nothing of ours: any layer
(memory/, widgets/, the magics) may use it.
"""

from __future__ import annotations


def noun(n: int, singular: str, plural_form: str | None = None) -> str:
    """The word alone, in the number `n` calls for: for lists such as 'page 3 of 9' / 'pages 2, 5 of 9'."""
    return singular if n == 1 else (plural_form or singular + "s")


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """`n` and its noun: plural(1, 'page') == '1 page', plural(1200, 'token') == '1,200 tokens'."""
    return f"{n:,} {noun(n, singular, plural_form)}"
