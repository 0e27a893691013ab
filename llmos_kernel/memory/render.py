"""Views of a context window: a JSON-safe snapshot (panel, persistence) and the text map for %memory.

The panel (widgets/view.py) draws from the same snapshot, so both show the same counts; every count word goes
through words.plural ("1 page", never "1 pages").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..words import noun, plural
from .faults import describe_budget
from .plan import Plan
from .segments import PREVIEW_CHARS, Kind, Segment

if TYPE_CHECKING:
    from .window import ContextWindow

BAR_WIDTH = 24


def _segment_row(window: ContextWindow, segment: Segment, state: str) -> dict[str, Any]:
    return {
        "id": segment.id,
        "kind": segment.kind.value,
        "label": segment.label,
        "cell_id": segment.cell_id,
        "execution_count": segment.execution_count,
        "tokens": window.tokens_of(segment),
        "pinned": segment.pinned,
        "state": state,
        "interrupted": segment.interrupted,
        "preview": segment.preview(),
        "origin": segment.origin,
        # A recalled copy: the swapped segment it holds pages of, which pages, and the words that matched.
        "source": segment.source,
        "pages": list(segment.pages),
        "page_count": segment.page_count,
        "match": list(segment.match),
        "untrusted": segment.untrusted,
    }


def snapshot(window: ContextWindow) -> dict[str, Any]:
    """Everything the panel draws: totals, pressure, regions in request order, and every segment."""
    regions = window.regions()
    by_kind: dict[str, int] = {}
    for region in regions:
        by_kind[region.kind.value] = by_kind.get(region.kind.value, 0) + region.tokens
    rows = []
    if window.system_segment is not None:
        rows.append(_segment_row(window, window.system_segment, "resident"))
    if window.tools_segment is not None:
        rows.append(_segment_row(window, window.tools_segment, "resident"))
    rows += [_segment_row(window, segment, "resident") for segment in window.segments]
    for segment in window.swap.all():
        counted = len(segment.tokens)
        row = _segment_row(window, segment, "swapped")
        if len(segment.tokens) != counted:
            window.swap.update_tokens(segment)  # counted for a new tokenizer: keep it, count once
        rows.append(row)
    used = window.used
    return {
        "tokenizer": window.tokenizer.name,
        "exact": bool(window.tokenizer.exact),
        "window": window.window,
        "usable": window.usable,
        "used": used,
        "free": max(window.usable - used, 0),
        "reserved_output": window.reserved_output,
        "compaction_buffer": window.compaction_buffer,
        "pressure": window.pressure,
        "warn_at": window.warn_at,
        "act_at": window.act_at,
        "policy": window.policy,
        "cache_prefix_tokens": window.cache_prefix_tokens,
        "by_kind": by_kind,
        "regions": [region.to_json() for region in regions],
        "segments": rows,
        "can_undo": window.can_undo,
        "auto_recall": window.auto_recall,
        "recall_budget": window.recall_budget,  # tokens a prompt's recall may bring back (faults.recall_budget)
        "recall_budget_set": window.recall_budget_set,  # the user's %recall --budget; None: grows with the window
        "recall_budget_why": describe_budget(window.usable, window.recall_budget_set),
        "tainted": window.tainted,
        "taint": window.taint_report(),  # why, and what in swap would taint it again (memory/taint.py)
        "paging": {**window.paging.to_json(), "last_recall": window.pager.last},
    }


def _bar(tokens: int, total: int) -> str:
    if total <= 0 or tokens <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * tokens / total))


def render_map(view: Plan | dict[str, Any]) -> str:
    """The %memory text map of a Plan or a snapshot: header, tokens by kind, one line per segment."""
    data = view.to_json() if isinstance(view, Plan) else view
    usable = int(data["usable"])
    used = int(data["used"])
    percent = 100 * used / usable if usable else 0.0
    exactness = "exact" if data.get("exact") else "estimate"
    lines = [
        f"tokenizer {data['tokenizer']} ({exactness}) · policy {data.get('policy', '-')}"
        f" · pressure {data['pressure']}",
        f"used {used:,} / {usable:,} usable ({percent:.0f}%) · free {int(data['free']):,}"
        f" · reserved {int(data['reserved_output']):,} for the answer + {int(data['compaction_buffer']):,}"
        f" buffer · window {int(data['window']):,}",
        f"cache prefix {plural(int(data.get('cache_prefix_tokens', 0)), 'token')} unchanged since the last request",
        *_recall_lines(data),
        "",
        "by kind:",
    ]
    by_kind: dict[str, int] = data.get("by_kind", {})
    for kind in Kind:
        if by_kind.get(kind.value):
            tokens = by_kind[kind.value]
            lines.append(f"  {kind.value:<9} {tokens:>9,}  {_bar(tokens, usable)}")
    # What the chat format costs around the messages (the per-request and per-message tokens): no segment's,
    # yet part of `used`, so the rows add up to the header.
    framing = used - sum(by_kind.values())
    if framing > 0:
        lines.append(f"  {'framing':<9} {framing:>9,}  the chat format around the messages")
    lines += ["", f"  {'id':<10} {'cell':<6} {'kind':<9} {'tokens':>9}  pin  {'state':<9} preview"]
    for row in data.get("segments") or _rows_from_regions(data["regions"]):
        cell = row.get("execution_count")
        cell_text = f"[{cell}]" if cell is not None else "-"
        pin = " * " if row.get("pinned") else "   "
        preview = row.get("preview") or row.get("label") or ""
        if row.get("source"):
            # The pages held go first; the preview gives up as many characters so the row is no wider than
            # the others (a wider one wraps mid-word in a notebook's output).
            held = f"({_pages(row)} of {row.get('source')}) "
            room = max(PREVIEW_CHARS - len(held), 12)
            preview = held + (preview if len(preview) <= room else preview[: room - 1].rstrip() + "…")
        if row.get("interrupted"):
            preview = "(interrupted) " + preview
        lines.append(
            f"  {row['id']:<10} {cell_text:<6} {row['kind']:<9} {int(row['tokens']):>9,}  {pin}  "
            f"{row.get('state', 'resident'):<9} {preview}"
        )
    lines += _paging_lines(data.get("paging"))
    for action in data.get("actions", []):
        lines.append(f"! {action}")
    return "\n".join(lines)


def recall_line(data: dict[str, Any]) -> str:
    """Auto recall on or off, and the budget a prompt's recall may use now and which rule set it (the user's
    --budget, or a share of the usable window that grows with it): one line for %memory and the panel."""
    if "recall_budget" not in data:
        return ""
    why = data.get("recall_budget_why") or f"budget {plural(int(data['recall_budget']), 'token')}"
    return f"recall: auto {'on' if data.get('auto_recall', True) else 'off'} · {why}"


def _recall_lines(data: dict[str, Any]) -> list[str]:
    line = recall_line(data)
    return [line] if line else []


def paging_totals(paging: dict[str, Any]) -> str:
    """'1 recall · 1 page recalled (62 tokens) · 0 pages evicted · 2 pages dropped · 0 thrashing': the totals
    line %memory prints and the panel shows. A dropped page (stale, let go from a recalled copy) is not an
    eviction (telemetry.py)."""
    return (f"{plural(int(paging['faults']), 'recall')} · {plural(int(paging['pages_recalled']), 'page')} recalled"
            f" ({plural(int(paging['tokens_recalled']), 'token')})"
            f" · {plural(int(paging['pages_evicted']), 'page')} evicted"
            f" · {plural(int(paging.get('pages_dropped', 0)), 'page')} dropped"
            f" · {int(paging['thrashing']):,} thrashing")


def _page_list(pages: list[int], total: int | None = None) -> str:
    """'page 3' / 'pages 2, 5', then ' of 9' when the total is given (pages are shown 1-based)."""
    held = f"{noun(len(pages), 'page')} {', '.join(str(page + 1) for page in pages)}"
    return held if total is None else f"{held} of {total}"


def _paging_lines(paging: dict[str, Any] | None) -> list[str]:
    """Page-fault telemetry: totals, then the cells that recalled, evicted or dropped pages (the latest few)."""
    if not paging:
        return []
    cells = int(paging["thrash_window_cells"])
    lines = [
        "",
        f"paging: {paging_totals(paging)} (evicted and recalled within {plural(cells, 'cell')})",
    ]
    for row in paging.get("per_cell", [])[-5:]:
        cell = f"[{row['execution_count']}]" if row.get("execution_count") is not None else f"#{row['cell']}"
        thrash = f", {row['thrashing']} thrashing" if row["thrashing"] else ""
        lines.append(f"  cell {cell:<6} recalled {plural(row['pages_recalled'], 'page')},"
                     f" evicted {plural(row['pages_evicted'], 'page')},"
                     f" dropped {plural(row.get('pages_dropped', 0), 'page')}{thrash}")
    last = paging.get("last_recall") or {}
    for item in last.get("recalled", []):
        # A paged document's pages have no cell: name the swapped segment alone, not "cell -".
        said = f"cell [{item['cell']}] " if item.get("cell") is not None else ""
        lines.append(f"  last recall: {item['id']} ← {said}[{item['source']}]"
                     f" {_page_list(item['pages'], item['page_count'])} (matched {_why(item)})")
    if last and not last.get("recalled"):
        unanswered = last.get("unanswered")
        why = (f" ({plural(unanswered['pages'], 'page')} on the topic, none giving {unanswered['wanted']})"
               if unanswered else "")
        lines.append(f"  last recall: nothing{why}")
    for item in last.get("lookalikes", [])[:3]:
        said = f"cell [{item['cell']}]" if item.get("cell") is not None else item["segment_id"]
        lines.append(f"  left out as a look-alike: {said} page {item['page'] + 1}"
                     f" ({item['said']}, asked about {item['asked']})")
    for item in last.get("evicted", []):
        lines.append(f"  evicted for it: {item['id']} ({item['kind']}, {plural(item['tokens'], 'token')},"
                     f" {item['how']})")
    for item in last.get("dropped", []):
        lines.append(f"  dropped from {item['id']}: {_page_list(item['pages'])}"
                     f" ({plural(item['tokens'], 'token')}, {item['why']})")
    return lines


def _why(item: dict[str, Any]) -> str:
    """What found a recalled copy, as %context --json names it, and the words: "thesaurus: son",
    "lexical: lena, zebra", "semantic" (meaning alone matches no word)."""
    matches = item.get("match", [])
    signals = "+".join(sorted({match.get("signal", "lexical") for match in matches})) or "-"
    words = sorted({term for match in matches for term in match.get("match", [])})
    return f"{signals}: {', '.join(words)}" if words else signals


def _pages(row: dict[str, Any]) -> str:
    """Which pages of its source a recalled copy holds: 'all 3 pages', 'page 2/9', 'pages 2, 5/9'."""
    held = row.get("pages") or []
    total = row.get("page_count") or len(held)
    if len(held) >= total:
        return f"all {plural(total, 'page')}" if total != 1 else "its 1 page"
    return _page_list(held) + f"/{total}"


def _rows_from_regions(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": r["segment_id"], "kind": r["kind"], "tokens": r["tokens"], "preview": r["label"]}
        for r in regions
    ]
