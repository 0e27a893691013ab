"""HTML for the memory map: fragments shared by the live panel and the static, self-contained fallback.

Inline styles only: the fallback must look right in an nbconvert export or a notebook viewer where no
stylesheet of ours exists, and a <style> element in an output would restyle the page around it. Colours go
through JupyterLab's CSS variables with light-theme fallbacks, so text follows a dark theme where one exists.

Every figure a test or a script may want is also in a data-* attribute, so nobody parses display text.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..sanitize import NO_MATH
from ..words import plural
from .view import (
    KIND_COLOURS,
    PRESSURE_COLOURS,
    Block,
    Header,
    LegendEntry,
    Paging,
    Row,
    blocks_of,
    header_of,
    legend_of,
    paging_of,
    rows_of,
    swap_of,
)

FONT = "var(--jp-ui-font-family, system-ui, -apple-system, 'Segoe UI', sans-serif)"
TEXT = "var(--jp-ui-font-color1, #1f2937)"
MUTED = "var(--jp-ui-font-color2, #6b7280)"
BORDER = "var(--jp-border-color2, #e5e7eb)"
# Hatching tells held-back space apart from free space without relying on colour alone.
HATCH = {
    "reserved": "repeating-linear-gradient(135deg, #94a3b8 0 4px, #b6c2d1 4px 8px)",
    "buffer": "repeating-linear-gradient(135deg, #cbd5e1 0 3px, #dde4ee 3px 6px)",
}
# Table columns (name, width in px; None takes the rest), shared by the static table and the widget rows.
COLUMNS: tuple[tuple[str, int | None], ...] = (
    ("cell", 44), ("kind", 82), ("tokens", 64), ("pinned", 50), ("state", 70), ("preview", None),
)
MAX_ROWS = 50  # beyond this the table says how many more there are: %memory lists them all
ACTIONS_WIDTH = 4 * 66  # the live panel's four action buttons, 62px wide with 2px margins each side


def _attrs(**data: Any) -> str:
    return " ".join(f'data-{key.replace("_", "-")}="{escape(str(value))}"' for key, value in data.items())


def _badge(text: str, background: str, colour: str = "#ffffff", border: str = "none", **data: Any) -> str:
    return (
        f'<span {_attrs(**data)} style="display:inline-block;padding:1px 7px;border-radius:9px;'
        f'border:{border};font-size:11px;font-weight:600;background:{background};color:{colour}">'
        f"{escape(text)}</span>"
    )


def _percent(value: float) -> str:
    # "0%" for a window that holds a few turns reads as empty: small shares keep one decimal.
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def header_html(header: Header) -> str:
    """Model, used / usable tokens and %, an estimate marker when counts are not exact, and the pressure."""
    approx = "" if header.exact else "~"
    parts = [
        f'<span style="font-weight:700;font-size:14px" data-llmos-model>{escape(header.model)}</span>',
        f'<span><b class="llmos-used" style="font-size:14px">{approx}{header.used:,}</b>'
        f' / {header.usable:,} tokens</span>',
        f'<span style="font-weight:700;color:{header.colour}">{_percent(header.percent)}</span>',
        _badge(header.pressure, header.colour, llmos_pressure=header.pressure),
    ]
    if not header.exact:
        parts.append(_badge("≈ estimate", "transparent", MUTED, f"1px dashed {MUTED}", llmos_estimate=1))
    if header.tainted:
        parts.append(_badge("⚠ untrusted content: side-effect tools ask", "#fef3c7", "#92400e", "1px solid #f59e0b",
                            llmos_tainted=1))
    if header.activity:
        parts.append(f'<span style="color:{PRESSURE_COLOURS["normal"]};font-size:11px">'
                     f'● {escape(header.activity)}</span>')
    details = (
        f"context window {header.window:,} · usable {header.usable:,} · tokenizer {header.tokenizer}"
        f"{'' if header.exact else ' (estimate)'} · policy {header.policy} · warns at {header.warn_at:.0%},"
        f" acts at {header.act_at:.0%}"
    )
    data = _attrs(llmos_header=1, model=header.model, used=header.used, usable=header.usable,
                  percent=f"{header.percent:.1f}", pressure=header.pressure, exact=str(header.exact).lower())
    return (
        f'<div {data} style="display:flex;align-items:center;flex-wrap:wrap;gap:4px 12px">'
        f'{"".join(parts)}</div>'
        f'<div style="color:{MUTED};font-size:11px;margin-top:2px">{escape(details)}</div>'
    )


def _block_html(block: Block) -> str:
    background = HATCH.get(block.kind, block.colour)
    separator = "border-right:1px solid rgba(255,255,255,0.7);" if block.segment_id else ""
    return (
        f'<div {_attrs(kind=block.kind, tokens=block.tokens)} title="{escape(block.title)}" '
        f'style="flex:{block.tokens} 0 0;min-width:2px;background:{background};{separator}"></div>'
    )


def bar_html(blocks: list[Block], header: Header) -> str:
    """The window as one bar, sized by tokens, with the warning and acting thresholds marked on it."""
    ticks = ""
    if header.window > 0:
        for name, fraction in (("warning", header.warn_at), ("acting", header.act_at)):
            left = 100.0 * fraction * header.usable / header.window
            ticks += (
                f'<div title="{name} at {fraction:.0%} of the usable window" style="position:absolute;'
                f"top:-3px;bottom:-3px;left:{left:.2f}%;border-left:2px solid {PRESSURE_COLOURS[name]};"
                f'opacity:0.8"></div>'
            )
    return (
        f'<div data-llmos-bar style="position:relative;margin:8px 0 6px">'
        f'<div style="display:flex;height:22px;border-radius:5px;overflow:hidden;border:1px solid {BORDER};'
        f'background:#e5e7eb">{"".join(_block_html(b) for b in blocks)}</div>{ticks}</div>'
    )


def legend_html(entries: list[LegendEntry], swap: tuple[int, int]) -> str:
    items = []
    for entry in entries:
        swatch = HATCH.get(entry.key, entry.colour)
        items.append(
            f'<span {_attrs(legend=entry.key, tokens=entry.tokens)} style="display:inline-flex;'
            f'align-items:center;gap:5px;white-space:nowrap"><span style="width:11px;height:11px;'
            f'border-radius:2px;background:{swatch};border:1px solid {BORDER}"></span>{escape(entry.label)}'
            f' <b>{entry.tokens:,}</b><span style="color:{MUTED}">{_percent(entry.percent)}</span></span>'
        )
    count, tokens = swap
    items.append(
        f'<span {_attrs(legend="swap", tokens=tokens, segments=count)} '
        f'style="color:{MUTED};white-space:nowrap">'
        f"swap: {plural(count, 'segment')} · {plural(tokens, 'token')}, outside the window</span>"
    )
    return f'<div style="display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px">{"".join(items)}</div>'


def paging_html(paging: Paging | None) -> str:
    """Page faults: recalls, pages recalled, evicted and dropped, thrashing, what the last recall did, and the
    recall budget; the totals are worded as %memory words them (memory/render.py paging_totals)."""
    if paging is None:
        return ""
    thrash = PRESSURE_COLOURS["warning"] if paging.thrashing else MUTED
    # The totals end with "N thrashing": that part is coloured when the pager goes round in circles.
    head = paging.totals.rpartition(" · ")[0] or (
        f"{plural(paging.faults, 'recall')} · {plural(paging.pages_recalled, 'page')} recalled"
        f" · {plural(paging.pages_evicted, 'page')} evicted · {plural(paging.pages_dropped, 'page')} dropped")
    text = f"paging: {head} · "
    data = _attrs(llmos_paging=1, faults=paging.faults, pages_recalled=paging.pages_recalled,
                  pages_evicted=paging.pages_evicted, pages_dropped=paging.pages_dropped, thrashing=paging.thrashing)
    last = f'<span style="color:{MUTED}"> · {escape(paging.last)}</span>' if paging.last else ""
    recall = (f'<div {_attrs(llmos_recall=1)} style="color:{MUTED}">{escape(paging.recall)}</div>'
              if paging.recall else "")
    return (f'<div {data} style="font-size:12px;margin-top:4px">{escape(text)}<span style="color:{thrash}"'
            f' title="pages evicted and recalled again within {plural(paging.window_cells, "cell")}">'
            f"{paging.thrashing:,} thrashing</span>{last}{recall}</div>")


def spend_html(spend: dict[str, Any]) -> str:
    """Session spend, boxed apart from the map: tokens sent and generated over all calls, and their cost."""
    approx = "" if spend.get("exact", True) else "~"
    cost = spend.get("cost")
    if cost is None:
        cost_text = "cost unknown"
    else:
        cost_text = f"${cost:,.6f}".rstrip("0").rstrip(".") if cost else "$0"
        cost_text += "" if spend.get("cost_complete", True) else " + calls without a known price"
    budget = spend.get("budget")
    if budget is not None:  # %budget: spend so far beside it
        used = f"{(cost or 0.0) / budget:.0%} used" if budget else "none left"
        cost_text += f" of a ${budget:,.6f}".rstrip("0").rstrip(".") + f" budget ({used})"
    calls = int(spend.get("calls", 0))
    text = (f"{plural(calls, 'call')} · {approx}{plural(int(spend.get('tokens_in', 0)), 'token')} in"
            f" · {approx}{int(spend.get('tokens_out', 0)):,} out · {cost_text}")
    data = _attrs(llmos_spend=1, calls=calls, tokens_in=spend.get("tokens_in", 0),
                  tokens_out=spend.get("tokens_out", 0), cost="" if cost is None else cost,
                  budget="" if budget is None else budget)
    return (
        f'<div {data} style="margin-top:8px;padding:4px 8px;border-left:3px solid {MUTED};'
        f'background:var(--jp-layout-color2, #f3f4f6);font-size:12px">'
        f'<span style="font-weight:600">Session spend</span> <span style="color:{MUTED}">(all cells, not the'
        f" window)</span> · {escape(text)}</div>"
    )


def _cell(name: str, content: str, width: int | None, align: str = "left") -> str:
    # The rest-of-the-row column has width 0 and grows: its text then never widens the row (nowrap text
    # would otherwise set the row's minimum width and push the action buttons out of the panel).
    size = f"flex:0 0 {width}px" if width else "flex:1 1 0;width:0;min-width:0"
    clip = "overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
    style = f"{size};{clip}text-align:{align};padding-right:6px"
    return f'<span data-col="{name}" style="{style}">{content}</span>'


def row_html(row: Row) -> str:
    """One segment's columns (no buttons): the widget puts its action buttons beside it."""
    swatch = (f'<span style="display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:4px;'
              f'background:{KIND_COLOURS.get(row.kind, "#999")}"></span>')
    swapped = row.state == "swapped"
    preview = ("(interrupted) " if row.interrupted else "") + row.preview
    cells = {
        "cell": escape(row.cell),
        "kind": swatch + escape(row.kind),
        "tokens": f"{row.tokens:,}",
        "pinned": "✓" if row.pinned else "",
        "state": f'<span style="color:{MUTED};font-style:italic">swapped</span>' if swapped else "resident",
        "preview": f'<span title="{escape(preview)}" style="color:{MUTED}">{escape(preview)}</span>',
    }
    if row.origin:  # a recalled copy: its origin first, then what it says
        cells["preview"] = (f'<span title="{escape(row.origin)}" data-llmos-origin style="color:{TEXT}">'
                            f"↩ {escape(row.origin)}</span> " + cells["preview"])
    inner = "".join(_cell(name, cells[name], width, "right" if name == "tokens" else "left")
                    for name, width in COLUMNS)
    data = _attrs(segment_id=row.segment_id, kind=row.kind, tokens=row.tokens, state=row.state,
                  pinned=str(row.pinned).lower(), **({"source": row.source} if row.source else {}))
    opacity = "opacity:0.7;" if swapped else ""
    # NO_MATH: the live panel shows a row as it is, not inside wrap(), and ipywidgets typesets HTML values.
    return (f'<div class="{NO_MATH}" {data} style="display:flex;align-items:center;font-size:12px;{opacity}">'
            f"{inner}</div>")


def table_header_html(actions: bool = False) -> str:
    inner = "".join(
        _cell(name, name, width, "right" if name == "tokens" else "left") for name, width in COLUMNS
    )
    style = f"display:flex;font-size:11px;font-weight:600;color:{MUTED};border-bottom:1px solid {BORDER}"
    if actions:
        inner += _cell("actions", "actions", ACTIONS_WIDTH)
    return f'<div style="{style};text-transform:uppercase;letter-spacing:0.03em">{inner}</div>'


def table_html(rows: list[Row]) -> str:
    """The static segment table (the live panel draws the same rows, each with its action buttons)."""
    body = "".join(
        f'<div style="border-bottom:1px solid {BORDER};padding:2px 0">{row_html(row)}</div>'
        for row in rows[:MAX_ROWS]
    )
    more = more_html(len(rows))
    return f'<div data-llmos-table style="margin-top:8px">{table_header_html()}{body}{more}</div>'


def more_html(total: int) -> str:
    if total <= MAX_ROWS:
        return ""
    return (f'<div {_attrs(llmos_more=total - MAX_ROWS)} style="color:{MUTED};font-size:11px">'
            f"and {plural(total - MAX_ROWS, 'more segment')}: see %memory</div>")


def message_html(text: str, error: bool = False) -> str:
    if not text:
        return ""
    colour = PRESSURE_COLOURS["acting"] if error else TEXT
    lines = [escape(line) for line in text.splitlines()]
    return (f'<div class="{NO_MATH}" {_attrs(llmos_message="error" if error else "info")} '
            f'style="font-size:12px;color:{colour};white-space:pre-wrap">{"<br>".join(lines)}</div>')


def wrap(content: str, **data: Any) -> str:
    """The root element of every fragment: the theme's font, and no MathJax."""
    return (f'<div {_attrs(**data)} class="llmos-map {NO_MATH}" style="font-family:{FONT};font-size:12px;'
            f'color:{TEXT};line-height:1.45">{content}</div>')


def map_html(snapshot: dict[str, Any], model_label: str, activity: str = "") -> str:
    """Header, bar and legend: the context occupancy, nothing about spend."""
    header = header_of(snapshot, model_label, activity)
    return header_html(header) + bar_html(blocks_of(snapshot), header) + legend_html(
        legend_of(snapshot), swap_of(snapshot)
    ) + paging_html(paging_of(snapshot))


def render_html(snapshot: dict[str, Any], model_label: str, spend: dict[str, Any]) -> str:
    """The whole memory map as self-contained HTML: the panel's fallback for exports and static viewers."""
    body = map_html(snapshot, model_label) + spend_html(spend) + table_html(rows_of(snapshot))
    # data-llmos-map marks the whole map, so exports and tests can find it; live fragments do not carry it.
    return wrap(body, llmos_map=1)
