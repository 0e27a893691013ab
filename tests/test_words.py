"""words.plural: the one helper every count in %memory, %context, %load and the panel is worded with."""

from __future__ import annotations

from llmos_kernel.words import noun, plural


def test_one_is_singular_and_every_other_count_plural():
    assert plural(1, "page") == "1 page"
    assert [plural(n, "page") for n in (0, 2)] == ["0 pages", "2 pages"]
    assert plural(1200, "token") == "1,200 tokens"  # the thousands separator every display uses
    assert plural(2, "entry", "entries") == "2 entries" and plural(1, "entry", "entries") == "1 entry"
    assert noun(1, "page") == "page" and noun(3, "page") == "pages"
