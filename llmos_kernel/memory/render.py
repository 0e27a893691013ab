"""Views of a context window: a JSON-safe snapshot (panel, persistence) and the text map for %memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .plan import Plan
from .segments import Kind, Segment

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
        f"cache prefix {int(data.get('cache_prefix_tokens', 0)):,} tokens unchanged since the last request",
        "",
        "by kind:",
    ]
    by_kind: dict[str, int] = data.get("by_kind", {})
    for kind in Kind:
        if by_kind.get(kind.value):
            tokens = by_kind[kind.value]
            lines.append(f"  {kind.value:<9} {tokens:>9,}  {_bar(tokens, usable)}")
    lines += ["", f"  {'id':<10} {'cell':<6} {'kind':<9} {'tokens':>9}  pin  {'state':<9} preview"]
    for row in data.get("segments") or _rows_from_regions(data["regions"]):
        cell = row.get("execution_count")
        cell_text = f"[{cell}]" if cell is not None else "-"
        pin = " * " if row.get("pinned") else "   "
        preview = row.get("preview") or row.get("label") or ""
        if row.get("source"):
            preview = f"(pages {_pages(row)} of {row.get('source')}) {preview}"
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


def _paging_lines(paging: dict[str, Any] | None) -> list[str]:
    """Page-fault telemetry: totals, then the cells that recalled or evicted pages (the latest few)."""
    if not paging:
        return []
    lines = [
        "",
        f"paging: {paging['faults']:,} recalls · {paging['pages_recalled']:,} pages recalled"
        f" ({paging['tokens_recalled']:,} tokens) · {paging['pages_evicted']:,} pages evicted"
        f" · {paging['thrashing']:,} thrashing (evicted and recalled within {paging['thrash_window_cells']} cells)",
    ]
    for row in paging.get("per_cell", [])[-5:]:
        cell = f"[{row['execution_count']}]" if row.get("execution_count") is not None else f"#{row['cell']}"
        thrash = f", {row['thrashing']} thrashing" if row["thrashing"] else ""
        lines.append(f"  cell {cell:<6} recalled {row['pages_recalled']:>3} pages, evicted {row['pages_evicted']:>3}"
                     f"{thrash}")
    last = paging.get("last_recall") or {}
    for item in last.get("recalled", []):
        words = sorted({term for match in item.get("match", []) for term in match.get("match", [])})
        pages = ", ".join(str(page + 1) for page in item["pages"])
        lines.append(f"  last recall: {item['id']} ← cell {item.get('cell') or '-'} [{item['source']}] pages {pages}"
                     f" of {item['page_count']} (matched {', '.join(words) or '-'})")
    for item in last.get("evicted", []):
        lines.append(f"  evicted for it: {item['id']} ({item['kind']}, {item['tokens']:,} tokens, {item['how']})")
    for item in last.get("dropped", []):
        pages = ", ".join(str(page + 1) for page in item["pages"])
        lines.append(f"  dropped from {item['id']}: pages {pages} ({item['tokens']:,} tokens, {item['why']})")
    return lines


def _pages(row: dict[str, Any]) -> str:
    held = row.get("pages") or []
    total = row.get("page_count") or len(held)
    return "all" if len(held) >= total else ", ".join(str(page + 1) for page in held) + f"/{total}"


def _rows_from_regions(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": r["segment_id"], "kind": r["kind"], "tokens": r["tokens"], "preview": r["label"]}
        for r in regions
    ]
