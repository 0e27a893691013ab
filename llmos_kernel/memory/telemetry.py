"""Page-fault telemetry: recalls, pages recalled, evicted and dropped per cell, and thrashing.

An eviction makes room: a resident page the window had to give up (paged out, or a recalled copy let go under
pressure). A drop is not one: a prompt's recall lets go of the pages of a copy that are no longer relevant
(faults.py, stale pages); nothing was short of room, so drops are counted apart and never make thrashing.

A page is named by (the swapped segment it belongs to, its index). Thrashing is a page that was evicted and
then recalled again within THRASH_CELLS cells: the window is too small for what the conversation keeps needing,
or the policy evicts what the next prompt asks for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

THRASH_CELLS = 3
KEEP_CELLS = 50  # per-cell rows kept for %memory and the panel; the totals count everything

PageKey = tuple[str, int]


@dataclass
class CellPaging:
    cell: int  # the plan's sequence number; execution_count once the cell's turn is committed
    execution_count: int | None = None
    faults: int = 0  # recalls: a prompt that brought pages back
    pages_recalled: int = 0
    pages_evicted: int = 0
    pages_dropped: int = 0  # stale pages let go from a recalled copy (still in swap): not evictions
    tokens_recalled: int = 0
    thrashing: int = 0

    @property
    def active(self) -> bool:
        return bool(self.faults or self.pages_recalled or self.pages_evicted or self.pages_dropped)


class PagingStats:
    def __init__(self) -> None:
        self.clock = 0
        self.cells: deque[CellPaging] = deque(maxlen=KEEP_CELLS)
        self.totals = CellPaging(0)
        self._evicted_at: dict[PageKey, int] = {}

    def begin_cell(self) -> None:
        self.clock += 1
        self.cells.append(CellPaging(self.clock))
        # Evictions older than the thrashing horizon can never count again: keep the map small.
        horizon = self.clock - THRASH_CELLS
        self._evicted_at = {key: cell for key, cell in self._evicted_at.items() if cell >= horizon}

    @property
    def current(self) -> CellPaging:
        if not self.cells:
            self.begin_cell()
        return self.cells[-1]

    def evicted(self, pages: Iterable[PageKey], by_user: bool = False) -> None:
        """Pages that left the window. Only the memory's own evictions can make thrashing: a user who evicts
        something and asks for it again has not caught the pager going round in circles."""
        row = self.current
        keys = list(pages)
        if not by_user:
            self._evicted_at.update((key, self.clock) for key in keys)
        row.pages_evicted += len(keys)
        self.totals.pages_evicted += len(keys)

    def dropped(self, pages: Iterable[PageKey]) -> None:
        """Stale pages a prompt's recall let go from a recalled copy: no longer relevant, still in swap. Not an
        eviction (nothing needed the room), and never thrashing when a later prompt wants them again."""
        count = len(list(pages))
        self.current.pages_dropped += count
        self.totals.pages_dropped += count

    def recalled(self, pages: Iterable[PageKey], tokens: int) -> None:
        """One recall (a page fault served): its pages, and those of them that were evicted only just now."""
        keys = list(pages)
        row = self.current
        thrash = sum(1 for key in keys if self.clock - self._evicted_at.get(key, -THRASH_CELLS - 1) <= THRASH_CELLS)
        for counts in (row, self.totals):
            counts.faults += 1
            counts.pages_recalled += len(keys)
            counts.tokens_recalled += tokens
            counts.thrashing += thrash

    def label(self, execution_count: int | None) -> None:
        """Name the current cell by its execution count once its turn is committed."""
        if self.cells and execution_count is not None:
            self.cells[-1].execution_count = execution_count

    def to_state(self) -> dict[str, Any]:
        """Everything, for persistence: a restored session keeps its counters (and its thrashing horizon)."""
        return {
            "clock": self.clock,
            "totals": asdict(self.totals),
            "cells": [asdict(row) for row in self.cells],
            "evicted_at": [[key[0], key[1], cell] for key, cell in self._evicted_at.items()],
        }

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> PagingStats:
        stats = cls()
        if not data:
            return stats
        stats.clock = int(data.get("clock", 0))
        stats.totals = CellPaging(**data.get("totals", {"cell": 0}))
        stats.cells.extend(CellPaging(**row) for row in data.get("cells", []))
        stats._evicted_at = {(str(s), int(p)): int(c) for s, p, c in data.get("evicted_at", [])}
        return stats

    def to_json(self) -> dict[str, Any]:
        totals = asdict(self.totals)
        del totals["cell"], totals["execution_count"]
        return {
            "cells_planned": self.clock,
            "thrash_window_cells": THRASH_CELLS,
            **totals,
            "per_cell": [asdict(row) for row in self.cells if row.active],
        }
