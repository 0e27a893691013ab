"""The held-out long-memory sessions of benchmarks/bench_paging.py (pure logic: no kernel).

`--restarts` restarts the kernel where a new day starts, so the day boundaries a session carries must fall
exactly between one day's cells and the next's; the sets' own checks (facts verbatim, no shared stem for
no-overlap questions, multi-session facts from two days) run when a session is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import bench_paging  # noqa: E402
import heldout_d  # noqa: E402
import heldout_paging  # noqa: E402

SOURCES = {"a": heldout_paging.CELLS, "b": heldout_paging.CELLS_B, "c": heldout_paging.CELLS_C, "d": heldout_d.CELLS}


@pytest.mark.parametrize("which", bench_paging.HELDOUT_SETS)
def test_day_boundaries_split_the_session_where_the_days_change(which):
    session = bench_paging.build_heldout(which)
    source = SOURCES[which]
    days = sorted({day for day, _ in source})
    assert len(session.day_starts) == len(days) - 1
    bounds = [0, *session.day_starts, len(session.cells)]
    for day, start, end in zip(days, bounds[:-1], bounds[1:], strict=True):
        told = [text for when, text in source if when == day]
        assert [cell for cell in session.cells[start:end] if cell in told] == told  # all of that day, in order


def test_set_c_has_every_kind_with_eight_or_more_questions():
    kinds = [kind for kind, _, _ in heldout_paging.QUESTIONS_C]
    assert set(kinds) == {"no-overlap", "paraphrase", "multi-session", "temporal", "update", "aggregation",
                          "abstention"}
    assert all(kinds.count(kind) >= 8 for kind in set(kinds))
    assert all(not needed for kind, _, needed in heldout_paging.QUESTIONS_C if kind == "abstention")


def test_the_development_session_has_no_days():
    assert bench_paging.build_session().day_starts == ()
