"""Policies: which segments to move when the window fills up. Pure selection; the window applies it.

All functions take a `cost` callable (raw tokens of a segment) so they work on cached counts only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..words import plural
from .segments import Kind, Segment

POLICIES = ("lru", "compact", "strict")

# What LRU may page out on its own. Summaries go only as a last resort: they stand in for many turns.
PAGEABLE = frozenset({Kind.HISTORY, Kind.RECALLED, Kind.TOOL, Kind.PINNED})
LAST_RESORT = frozenset({Kind.SUMMARY})
# What a compaction folds into a summary (an earlier summary too, so summaries roll up instead of piling up).
COMPACTABLE = frozenset({Kind.HISTORY, Kind.RECALLED, Kind.TOOL, Kind.SUMMARY})

Cost = Callable[[Segment], int]
CLEARED = "cleared"  # the origin of a marker left where a tool result was cleared


def cleared_marker(segment: Segment, tokens: int) -> Segment:
    """The one line left in the window where a tool call's segment was paged out."""
    return Segment(Kind.TOOL, f"[result cleared to swap ({tokens:,} tokens); recall {segment.id} to see it]",
                   cell_id=segment.cell_id, execution_count=segment.execution_count, label=segment.label,
                   origin=CLEARED, created=segment.created, last_used=segment.last_used)


def lru_victims(
    log: Sequence[Segment], cost: Cost, excess: int, kinds: frozenset[Kind] = PAGEABLE
) -> list[Segment]:
    """Least recently used unpinned segments of `kinds` that together free at least `excess` tokens.

    Returns fewer (all candidates) when even that is not enough; ties in last_used go to the older position.
    """
    if excess <= 0:
        return []
    candidates = [
        (segment.last_used, position, segment)
        for position, segment in enumerate(log)
        if segment.kind in kinds and not segment.pinned
    ]
    # Tool calls and results are cleared first (they are bulky and rarely needed again), oldest first.
    candidates = [c for c in candidates if c[2].origin != CLEARED]
    candidates.sort(key=lambda item: (item[2].kind is not Kind.TOOL, item[0], item[1]))
    chosen: list[Segment] = []
    freed = 0
    for _, _, segment in candidates:
        if freed >= excess:
            break
        chosen.append(segment)
        freed += cost(segment)
    return chosen


def compaction_candidates(
    log: Sequence[Segment], cost: Cost, excess: int | None, keep_last: int = 0
) -> list[Segment]:
    """The oldest unpinned compactable segments, in log order, freeing at least `excess` (None: all).

    The newest `keep_last` history turns stay verbatim: the model needs the immediate thread word for word.
    """
    kept: set[str] = set()
    if keep_last > 0:
        turns = [segment for segment in log if segment.kind is Kind.HISTORY and not segment.pinned]
        kept = {segment.id for segment in turns[-keep_last:]}
    chosen: list[Segment] = []
    freed = 0
    for segment in log:
        if excess is not None and freed >= excess:
            break
        if segment.kind in COMPACTABLE and not segment.pinned and segment.id not in kept:
            chosen.append(segment)
            freed += cost(segment)
    return chosen


def describe_move(verb: str, segments: Sequence[Segment], tokens: int, where: str = "to swap") -> str:
    """One human sentence for a move, e.g. 'paged out cell 3 (412 tokens) to swap'."""
    names = [segment.where() for segment in segments]
    suffix = f" {where}" if where else ""
    if len(names) == 1:
        return f"{verb} {names[0]} ({plural(tokens, 'token')}){suffix}"
    shown = ", ".join(names[:6])
    if len(names) > 6:
        shown += f" and {len(names) - 6} more"
    return f"{verb} {len(names)} segments ({plural(tokens, 'token')}){suffix}: {shown}"
