"""What the memory-map panel shows, computed from a ContextWindow snapshot: plain values, no widgets, no HTML.

Both the live widget panel and the static HTML fallback draw from these values, so the two can never disagree
about a number, and the arithmetic is unit-testable without a kernel or a browser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..backends.endpoints import host_of
from ..memory.render import paging_totals, recall_line
from ..words import noun, plural

# Segment kinds in the order a request is laid out (memory.segments.Kind); the legend follows it.
KINDS = ("system", "tools", "pinned", "summary", "recalled", "history", "tool", "prompt")

# Colour-blind-friendly hues (Okabe-Ito leaning) that read on light and dark JupyterLab themes alike.
KIND_COLOURS = {
    "system": "#6b7280",
    "tools": "#a16207",
    "pinned": "#e69f00",
    "summary": "#8e6bd1",
    "recalled": "#009e73",
    "history": "#3b82f6",
    "tool": "#cc79a7",
    "prompt": "#56b4e9",
}
# The space that is not context: tokens framing each request, room left, and what is held back.
SPACE_COLOURS = {
    "overhead": "#374151",
    "free": "#e5e7eb",
    "buffer": "#cbd5e1",
    "reserved": "#94a3b8",
}
SPACE_LABELS = {
    "overhead": "framing",
    "free": "free",
    "buffer": "compaction buffer",
    "reserved": "reserved for the answer",
}
PRESSURE_COLOURS = {"normal": "#16a34a", "warning": "#d97706", "acting": "#dc2626"}

PIN, UNPIN, EVICT, RECALL, FORGET = "pin", "unpin", "evict", "recall", "forget"


@dataclass(frozen=True)
class Header:
    model: str
    used: int
    usable: int
    window: int
    percent: float  # of the usable window: the figure the pressure thresholds refer to
    exact: bool
    tokenizer: str
    pressure: str
    colour: str
    policy: str
    warn_at: float
    act_at: float
    activity: str = ""  # e.g. "cell [4] streaming": shown while an answer is being written
    tainted: bool = False  # untrusted content is resident: tools with side effects ask first


@dataclass(frozen=True)
class Block:
    """One stretch of the bar: a resident segment, or free / reserved space."""

    kind: str
    tokens: int
    colour: str
    title: str
    segment_id: str | None = None


@dataclass(frozen=True)
class LegendEntry:
    key: str
    label: str
    tokens: int
    colour: str
    percent: float  # of the whole window, like the bar


@dataclass(frozen=True)
class Row:
    """One segment in the table, with the memory actions that make sense for it."""

    segment_id: str
    cell: str
    kind: str
    tokens: int
    pinned: bool
    state: str  # resident | swapped
    preview: str
    interrupted: bool
    actions: tuple[str, ...]
    origin: str = ""  # a recalled copy: where its pages come from, e.g. "pages 2, 5 of 9 · cell [3] · s1a2b3c4"
    source: str = ""  # a recalled copy: the swapped segment's id

    @property
    def pin_action(self) -> str:
        return UNPIN if self.pinned else PIN


@dataclass(frozen=True)
class Paging:
    """Page-fault telemetry for the panel: totals, and the last recall (what came back, what went, why)."""

    faults: int
    pages_recalled: int
    pages_evicted: int
    thrashing: int
    window_cells: int
    last: str  # one line about the last recall, '' when there was none
    pages_dropped: int = 0  # stale pages let go from recalled copies: not evictions (memory/telemetry.py)
    totals: str = ""  # the totals as %memory words them (memory/render.py), so the two never differ
    recall: str = ""  # auto recall on/off and its budget, as %memory words it


def _int(snapshot: dict[str, Any], key: str) -> int:
    return int(snapshot.get(key) or 0)


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def header_of(snapshot: dict[str, Any], model_label: str, activity: str = "") -> Header:
    used, usable = _int(snapshot, "used"), _int(snapshot, "usable")
    pressure = str(snapshot.get("pressure") or "normal")
    return Header(
        model=model_label,
        used=used,
        usable=usable,
        window=_int(snapshot, "window"),
        percent=percent(used, usable),
        exact=bool(snapshot.get("exact", True)),
        tokenizer=str(snapshot.get("tokenizer") or ""),
        pressure=pressure,
        colour=PRESSURE_COLOURS.get(pressure, PRESSURE_COLOURS["normal"]),
        policy=str(snapshot.get("policy") or ""),
        warn_at=float(snapshot.get("warn_at") or 0.75),
        act_at=float(snapshot.get("act_at") or 0.90),
        activity=activity,
        tainted=bool(snapshot.get("tainted", False)),
    )


def blocks_of(snapshot: dict[str, Any]) -> list[Block]:
    """The bar, left to right: resident segments in request order, framing, free, buffer, reserved."""
    blocks = []
    in_regions = 0
    for region in snapshot.get("regions", []):
        kind, tokens = str(region["kind"]), int(region["tokens"])
        in_regions += tokens
        title = f"{region.get('label') or kind} · {kind} · {tokens:,} tokens"
        blocks.append(Block(kind, tokens, KIND_COLOURS.get(kind, "#999999"), title, region.get("segment_id")))
    spaces = (
        ("overhead", _int(snapshot, "used") - in_regions),
        ("free", _int(snapshot, "free")),
        ("buffer", _int(snapshot, "compaction_buffer")),
        ("reserved", _int(snapshot, "reserved_output")),
    )
    for key, tokens in spaces:
        if tokens > 0:
            blocks.append(Block(key, tokens, SPACE_COLOURS[key], f"{SPACE_LABELS[key]} · {tokens:,} tokens"))
    return blocks


def legend_of(snapshot: dict[str, Any]) -> list[LegendEntry]:
    """Tokens per segment kind present in the window, then the space that is not context."""
    window = _int(snapshot, "window")
    by_kind: dict[str, int] = snapshot.get("by_kind") or {}
    entries = [
        LegendEntry(kind, kind, int(by_kind[kind]), KIND_COLOURS[kind], percent(int(by_kind[kind]), window))
        for kind in KINDS
        if by_kind.get(kind)
    ]
    spaces = {block.kind: block.tokens for block in blocks_of(snapshot) if block.segment_id is None}
    for key in ("overhead", "free", "buffer", "reserved"):
        tokens = spaces.get(key, 0)
        if key == "overhead" and not tokens:
            continue  # framing is worth a legend line only when the tokenizer charges for it
        share = percent(tokens, window)
        entries.append(LegendEntry(key, SPACE_LABELS[key], tokens, SPACE_COLOURS[key], share))
    return entries


def swap_of(snapshot: dict[str, Any]) -> tuple[int, int]:
    """(segments, tokens) paged out to swap: searchable, but not in the window."""
    swapped = [row for row in snapshot.get("segments", []) if row.get("state") == "swapped"]
    return len(swapped), sum(int(row.get("tokens") or 0) for row in swapped)


def actions_for(kind: str, pinned: bool, state: str) -> tuple[str, ...]:
    if kind in ("system", "tools"):
        return ()  # the system prompt is set with %system, tool definitions with %tools: neither is paged
    if state == "swapped":
        return (RECALL, PIN, FORGET)
    return (UNPIN, FORGET) if pinned else (PIN, EVICT, FORGET)


def rows_of(snapshot: dict[str, Any]) -> list[Row]:
    rows = []
    for item in snapshot.get("segments", []):
        count = item.get("execution_count")
        kind, state = str(item["kind"]), str(item.get("state") or "resident")
        pinned = bool(item.get("pinned"))
        rows.append(
            Row(
                segment_id=str(item["id"]),
                cell=f"[{count}]" if count is not None else "-",
                kind=kind,
                tokens=int(item.get("tokens") or 0),
                pinned=pinned,
                state=state,
                preview=_preview(item, kind),
                interrupted=bool(item.get("interrupted")),
                actions=actions_for(kind, pinned, state),
                origin=origin_of(item),
                source=str(item.get("source") or ""),
            )
        )
    return rows


def origin_of(item: dict[str, Any]) -> str:
    """Where a recalled copy's pages come from: 'pages 2, 5 of 9 · cell [3] · s1a2b3c4 · matched lena, voss'."""
    source = item.get("source")
    if not source:
        return ""
    held = [int(page) for page in item.get("pages") or []]
    total = int(item.get("page_count") or len(held))
    pages = f"all {plural(total, 'page')}" if len(held) >= total else (
        f"{noun(len(held), 'page')} {', '.join(str(p + 1) for p in held)} of {total}")
    count = item.get("execution_count")
    parts = [pages, f"cell [{count}]" if count is not None else "", str(source)]
    if item.get("match"):
        parts.append("matched " + ", ".join(item["match"][:6]))
    return " · ".join(part for part in parts if part)


def paging_of(snapshot: dict[str, Any]) -> Paging | None:
    data = snapshot.get("paging")
    if not data:
        return None
    last = data.get("last_recall") or {}
    recalled, evicted = last.get("recalled") or [], last.get("evicted") or []
    dropped = sum(len(item.get("pages") or []) for item in last.get("dropped") or [])
    line = ""
    if recalled or evicted or dropped:
        # What the pages are of: the cell that said them, else (a paged document) the swapped segment, as the
        # row's origin names it; never the copy's own id, which is the row the pages are in.
        cells = ", ".join(f"[{item['cell']}]" if item.get("cell") is not None else str(item.get("source") or item["id"])
                          for item in recalled)
        pages = sum(len(item.get("pages") or []) for item in recalled)
        line = f"last recall: {plural(pages, 'page')} of {cells or '-'}"
        if evicted:
            line += f", evicting {plural(len(evicted), 'colder segment')}"
        if dropped:  # pages of earlier questions let go from the copies this recall rebuilt (still in swap)
            line += f", dropping {plural(dropped, 'page')} no longer relevant"
    unanswered = last.get("unanswered")
    if unanswered and not recalled:  # as %memory says it: pages on the topic, none with the kind of answer asked
        line = (f"last recall: nothing, {plural(unanswered['pages'], 'page')} on the topic"
                f" gave no {str(unanswered['wanted']).split(' ', 1)[-1]}")
    lookalikes = last.get("lookalikes") or []
    if lookalikes:  # as %memory says it: which cells' pages were about a look-alike of what was asked
        cells = ", ".join(dict.fromkeys(f"[{item['cell']}]" if item.get("cell") is not None else "-"
                                        for item in lookalikes))
        line = (line or "last recall: nothing") + f", leaving out {plural(len(lookalikes), 'look-alike')} ({cells})"
    totals = {"faults": 0, "pages_recalled": 0, "tokens_recalled": 0, "pages_evicted": 0, "thrashing": 0, **data}
    return Paging(int(data.get("faults", 0)), int(data.get("pages_recalled", 0)), int(data.get("pages_evicted", 0)),
                  int(data.get("thrashing", 0)), int(data.get("thrash_window_cells", 3)), line,
                  pages_dropped=int(data.get("pages_dropped", 0)), totals=paging_totals(totals),
                  recall=recall_line(snapshot))


def _preview(item: dict[str, Any], kind: str) -> str:
    # A document's or tool's label (its path, the tool's name) says more than its first words do.
    label, text = str(item.get("label") or ""), str(item.get("preview") or "")
    if label and label != kind and label not in text:
        return f"{label} · {text}" if text else label
    return text or label


def budget_of(runtime: Any) -> float | None:
    """The session budget (budget.py's guard, one of the runtime's send hooks), if one is set."""
    return next((hook.limit for hook in getattr(runtime, "hooks", []) if getattr(hook, "limit", None) is not None),
                None)


def spend_of(processes: Iterable[Any], budget: float | None = None) -> dict[str, Any]:
    """Session spend summed over the process table: what was sent and generated, not what is resident; and the
    session budget beside it."""
    calls = tokens_in = tokens_out = priced = 0
    cost = 0.0
    exact = True
    for proc in processes:
        if getattr(proc, "kind", "prompt") == "tool":
            continue  # a tool call is not a model call: it has its own row in %ps, and no tokens
        calls += 1
        tokens_in += int(getattr(proc, "tokens_in", 0) or 0)
        tokens_out += int(getattr(proc, "tokens_out", 0) or 0)
        exact = exact and bool(getattr(proc, "exact", True))
        if getattr(proc, "cost", None) is not None:
            priced += 1
            cost += float(proc.cost)
    return {
        "calls": calls,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost if priced else None,
        "cost_complete": priced == calls,  # False: some calls had no known price, so cost is a lower bound
        "exact": exact,
        "budget": budget,
    }


def model_label(spec: Any) -> str:
    """'name' or 'name @ host' for a ModelSpec: the host tells two servers of the same model apart."""
    name = str(getattr(spec, "name", spec))
    api_base = getattr(spec, "api_base", None)
    if api_base:  # the host only: never the user:password@ an --api-base URL may carry (issue 21)
        return f"{name} @ {host_of(api_base)}"
    return name


def activity_of(processes: list[Any]) -> str:
    """'cell [4] streaming on M' while the newest process is still running, else ''."""
    prompts = [p for p in processes if getattr(p, "kind", "prompt") != "tool"]  # tool rows come and go inside
    if not prompts or getattr(prompts[-1], "status", "") != "running":
        return ""
    proc = prompts[-1]
    cell = f"cell [{proc.cell}]" if getattr(proc, "cell", None) is not None else "a cell"
    return f"{cell} streaming on {proc.model}"
