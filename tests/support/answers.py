"""Checks on generated answers that hold for any model: structure, never exact text."""

from __future__ import annotations


def longest_line_run(text: str) -> int:
    """The most times one non-empty line occurs in a row (blank lines between repeats do not break a run)."""
    best, run, previous = 0, 0, None
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        run = run + 1 if line == previous else 1
        previous = line
        best = max(best, run)
    return best
