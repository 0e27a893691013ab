"""render_html, the panel's fallback in exports: read by structure and data-* attributes."""

from __future__ import annotations

from llmos_kernel.sanitize import NO_MATH
from llmos_kernel.widgets.markup import MAX_ROWS, render_html, row_html
from llmos_kernel.widgets.view import PRESSURE_COLOURS, rows_of, spend_of

from .fakes import FakeProcess, make_window, words
from .html_probe import parse
from .test_view import filled_to, loaded_window

SPEND = spend_of([FakeProcess(1, "smollm2", tokens_in=120, tokens_out=16, cost=0.0)])


def test_html_map_has_header_bar_legend_spend_and_table():
    snapshot = loaded_window().snapshot()
    root = parse(render_html(snapshot, "smollm2", SPEND))
    top = root.find("data-llmos-map")
    assert "tex2jax_ignore" in top.attrs["class"]  # "$" in a cost or prompt must not become math
    header = top.find("data-llmos-header")
    assert header.attrs["data-model"] == "smollm2"
    assert int(header.attrs["data-used"]) == snapshot["used"]
    assert int(header.attrs["data-usable"]) == snapshot["usable"]
    assert float(header.attrs["data-percent"]) == round(100 * snapshot["used"] / snapshot["usable"], 1)
    assert f"{snapshot['used']:,}" in header.all_text() and "smollm2" in header.all_text()

    bar = top.find("data-llmos-bar").find_all("data-tokens")
    assert sum(int(b.attrs["data-tokens"]) for b in bar) == snapshot["window"]
    assert [b.attrs["data-kind"] for b in bar][:3] == [r["kind"] for r in snapshot["regions"]]
    assert all("title" in b.attrs for b in bar)  # hovering a block says what it is

    legend = {e.attrs["data-legend"]: int(e.attrs["data-tokens"]) for e in top.find_all("data-legend")}
    for kind, tokens in snapshot["by_kind"].items():
        assert legend[kind] == tokens
    assert legend["free"] == snapshot["free"] and legend["swap"] == 36
    assert legend["reserved"] == snapshot["reserved_output"]
    assert legend["buffer"] == snapshot["compaction_buffer"]

    rows = top.find("data-llmos-table").find_all("data-segment-id")
    assert [r.attrs["data-segment-id"] for r in rows] == [s["id"] for s in snapshot["segments"]]
    assert [r.attrs["data-state"] for r in rows].count("swapped") == 1


def test_occupancy_and_spend_are_separate():
    root = parse(render_html(loaded_window().snapshot(), "m", SPEND))
    spend = root.find("data-llmos-spend")
    assert (spend.attrs["data-calls"], spend.attrs["data-tokens-in"], spend.attrs["data-tokens-out"]) == (
        "1", "120", "16")
    # the map's figures live outside the spend box, and the spend's outside the header
    assert not spend.find_all("data-llmos-header") and not spend.find_all("data-legend")
    assert not root.find("data-llmos-header").find_all("data-llmos-spend")


def test_estimate_marker_only_when_counts_are_estimates():
    exact = parse(render_html(make_window(exact=True).snapshot(), "m", SPEND))
    estimate = parse(render_html(make_window(exact=False).snapshot(), "m", SPEND))
    assert not exact.find_all("data-llmos-estimate")
    assert estimate.find_all("data-llmos-estimate")
    assert exact.find("data-llmos-header").attrs["data-exact"] == "true"
    assert estimate.find("data-llmos-header").attrs["data-exact"] == "false"


def test_pressure_badge_colour():
    for used, pressure in ((100, "normal"), (600, "warning"), (721, "acting")):
        html = render_html(filled_to(used).snapshot(), "m", SPEND)
        badge = parse(html).find("data-llmos-pressure")
        assert badge.attrs["data-llmos-pressure"] == pressure
        assert PRESSURE_COLOURS[pressure] in badge.attrs["style"]


def test_text_from_cells_is_escaped():
    memory = make_window()
    memory.commit_turn("c1", "<script>alert(1)</script> costs $5 and $6", "ok", execution_count=1)
    html = render_html(memory.snapshot(), "<b>model</b>", SPEND)
    assert "<script>" not in html and "<b>model</b>" not in html
    root = parse(html)  # parses cleanly: nothing from a cell opened or closed an element
    assert root.find("data-llmos-header").attrs["data-model"] == "<b>model</b>"


def test_previews_of_model_text_stay_text_in_the_live_rows():
    # A preview is model or untrusted text: a quote must not end the title attribute, and ipywidgets
    # typesets an HTML value, so a live row opts out of MathJax ("$\\href{javascript:...}$" is no link).
    memory = make_window()
    payload = "\"><img src=x onerror=alert(1)> $\\href{javascript:alert(1)}{x}$"
    memory.commit_turn("c1", payload, payload, execution_count=1)
    (row,) = [r for r in rows_of(memory.snapshot()) if r.kind == "history"]
    root = parse(row_html(row))
    (line,) = root.children
    assert NO_MATH in line.attrs["class"]
    preview = line.find("data-col", "preview").children[0]
    assert preview.attrs["title"].startswith(payload[:30]) and preview.all_text().startswith(payload[:30])
    assert not [e for e in _elements(root) if e.tag == "img" or any(a.startswith("on") for a in e.attrs)]


def _elements(element):
    yield element
    for child in element.children:
        yield from _elements(child)


def test_long_tables_are_cut_with_a_count():
    memory = make_window(window=100_000)
    for i in range(MAX_ROWS + 5):
        memory.commit_turn(f"c{i}", words(3), words(3), execution_count=i + 1)
    root = parse(render_html(memory.snapshot(), "m", SPEND))
    assert len(root.find("data-llmos-table").find_all("data-segment-id")) == MAX_ROWS
    assert root.find("data-llmos-more").attrs["data-llmos-more"] == "6"  # 56 segments with the system prompt


def recalled_window():
    """A window with a recalled page copy of a swapped turn, brought back by a prompt's page fault."""
    memory = make_window()
    memory.auto_recall = True
    filler = "The crates waited by the north dock before dawn. " * 8
    memory.commit_turn("c1", f"{filler}\n\nLena Voss keeps three zebras.\n\n{filler}", "noted", execution_count=1)
    memory.evict(1)
    memory.plan("How many zebras does Lena Voss keep?")
    return memory


def test_recalled_pages_show_as_their_own_kind_with_their_origin():
    memory = recalled_window()
    snapshot = memory.snapshot()
    root = parse(render_html(snapshot, "smollm2", SPEND))
    (row,) = [r for r in root.find("data-llmos-table").find_all("data-segment-id")
              if r.attrs["data-kind"] == "recalled"]
    copy = next(s for s in memory.segments if s.source)
    assert row.attrs["data-source"] == copy.source and row.attrs["data-state"] == "resident"
    origin = row.find("data-llmos-origin").all_text()
    assert f"of {copy.page_count}" in origin and "cell [1]" in origin and copy.source in origin
    assert "matched" in origin and "zebras" in origin
    assert root.find_all("data-legend", "recalled")  # its own colour and line in the legend
    paging = root.find("data-llmos-paging")
    assert paging.attrs["data-faults"] == "1" and paging.attrs["data-pages-recalled"] == "1"
    assert "last recall: 1 page of [1]" in paging.all_text()


def test_taint_badge_while_untrusted_content_is_resident():
    memory = make_window()
    memory.commit_turn("c1", "q", "a", execution_count=1, tools=[("python", "ok", False)])
    assert parse(render_html(memory.snapshot(), "m", SPEND)).find_all("data-llmos-tainted") == []
    memory.commit_turn("c2", "q", "a", execution_count=2, tools=[("fs.read_file", "file text", True)])
    badge = parse(render_html(memory.snapshot(), "m", SPEND)).find("data-llmos-tainted")
    assert badge is not None and "untrusted" in badge.all_text()


def test_the_last_recall_of_a_paged_document_names_the_document_not_the_copy():
    memory = make_window()
    memory.auto_recall = True
    section = "The harbour office keeps ledgers of every ship, crate and pallet that passes the north quay. " * 3
    text = "\n\n".join([section] * 30 + ["The vault code of the customs archive is 4417 kestrel."] + [section] * 5)
    stub = memory.load_document("handbook.md", text)
    memory.plan("What is the vault code of the customs archive?")
    (copy,) = [s for s in memory.segments if s.source]
    line = parse(render_html(memory.snapshot(), "smollm2", SPEND)).find("data-llmos-paging").all_text()
    # The row of the copy says "page N of M · <source>": the paging line names the same source, not the copy.
    assert f"last recall: 1 page of {stub.paged}" in line and copy.id not in line, line
