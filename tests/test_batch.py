"""The batch engine's pure parts: what a map runs over, and how results align with the input."""

from __future__ import annotations

import pandas as pd
import pytest

from llmos_kernel.batch import BatchResult, data_kind, items_of
from llmos_kernel.errors import PromptError


def test_what_a_map_runs_over():
    assert [(i.key, i.values["item"]) for i in items_of(["a", "b"], "xs")] == [(0, "a"), (1, "b")]
    assert [(i.key, i.values["item"]) for i in items_of({"k": 1}, "d")] == [("k", 1)]
    series = pd.Series(["x", "y"], index=["p", "q"])
    assert [(i.key, i.values["item"]) for i in items_of(series, "s")] == [("p", "x"), ("q", "y")]
    df = pd.DataFrame({"name": ["Ann"], "n": [3]}, index=[7])
    (row,) = items_of(df, "df")
    assert row.key == 7 and row.values["name"] == "Ann" and row.values["n"] == 3
    assert row.values["item"] == {"name": "Ann", "n": 3}
    with pytest.raises(PromptError, match="not something to map over"):
        items_of(42, "n")


def done(items, answers):
    for item, answer in zip(items, answers, strict=True):
        item.status, item.answer = ("done", answer) if answer is not None else ("failed", None)
    return items


def test_results_align_with_the_input_and_failures_are_missing():
    items = done(items_of(["a", "b", "c"], "xs"), ["A", None, "C"])
    assert BatchResult(["a", "b", "c"], items).bound() == ["A", None, "C"]
    data = {"x": 1, "y": 2}
    assert BatchResult(data, done(items_of(data, "d"), [None, "Y"])).bound() == {"x": None, "y": "Y"}
    df = pd.DataFrame({"t": ["u", "v"]}, index=["r1", "r2"])
    bound = BatchResult(df, done(items_of(df, "df"), ["U", None])).bound()
    assert list(bound.index) == ["r1", "r2"] and bound["r1"] == "U" and bound.isna()["r2"]
    assert data_kind(df) == "dataframe" and data_kind(df["t"]) == "series" and data_kind((1,)) == "list"


def test_a_conversion_failure_is_a_missing_value_and_reported():
    def strict(text: str) -> int:
        if not text.isdigit():
            raise PromptError("not a number")
        return int(text)

    result = BatchResult([1, 2], done(items_of([1, 2], "xs"), ["12", "twelve"]), convert=strict)
    assert result.bound() == [12, None] and "not a number" in result.bad[0]
