"""The live memory-map panel and model switcher, built from core ipywidgets only.

No frontend extension of our own: the panel must work wherever ipywidgets does (JupyterLab 4, Notebook 7,
VS Code). One panel per runtime: showing it again displays the same widgets once more, and every display is a
view of the same widget models, so all of them stay in sync for free.

The panel only reads `runtime.memory.snapshot()`, the process table and the model list, and acts through
`runtime.memory_action` and `runtime.switch_model`, the same code paths the magics use; it never calls a
backend itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..backends.registry import ModelSpec, available_models
from ..errors import UserFacingError
from .markup import (
    MAX_ROWS,
    map_html,
    message_html,
    more_html,
    render_html,
    row_html,
    spend_html,
    table_header_html,
    wrap,
)
from .view import EVICT, FORGET, PIN, RECALL, Row, activity_of, budget_of, model_label, rows_of, spend_of

# "progress" arrives for every streamed piece, many times a second; about 4 renders a second keep the panel
# live without flooding the frontend with comm messages while the answer itself is streaming.
PROGRESS_INTERVAL = 0.25
BUTTONS = (PIN, EVICT, RECALL, FORGET)  # the pin button reads "unpin" on a pinned segment
TOOLTIPS = {
    PIN: "keep this segment in the window whatever the policy (pages it in if swapped)",
    "unpin": "let the memory policy page this segment out again",
    EVICT: "page this segment out to swap (searchable; recall brings it back)",
    RECALL: "page this segment back into the window",
    FORGET: "remove this segment from the window and from swap, for good",
}


class _RowView:
    """One table row: the segment's columns and its action buttons; reused while the segment exists."""

    def __init__(self, segment_id: str, act: Callable[[str, str], None]) -> None:
        self.segment_id = segment_id
        self.pin_action = PIN
        # min_width 0 + overflow hidden: a long preview is cut with an ellipsis, not pushing the buttons out.
        self.info = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0", overflow="hidden",
                                                       margin="0"))
        self.buttons: dict[str, widgets.Button] = {}
        for name in BUTTONS:
            # 62px + 2 x 2px margins: the table header's actions column (markup.ACTIONS_WIDTH) matches it.
            size = widgets.Layout(flex="0 0 62px", width="62px", height="24px", margin="1px 2px")
            button = widgets.Button(description=name, tooltip=TOOLTIPS[name], layout=size)
            button.add_class(f"llmos-{name}")
            button.on_click(self._clicked(name, act))
            self.buttons[name] = button
        line = "1px solid var(--jp-border-color2, #e5e7eb)"
        self.box = widgets.HBox([self.info, *self.buttons.values()],
                                layout=widgets.Layout(align_items="center", width="100%", border_bottom=line))
        self.box.add_class("llmos-row")

    def _clicked(self, name: str, act: Callable[[str, str], None]) -> Callable[[Any], None]:
        def on_click(_button: Any) -> None:
            act(self.pin_action if name == PIN else name, self.segment_id)

        return on_click

    def update(self, row: Row) -> None:
        self.info.value = row_html(row)
        self.pin_action = row.pin_action
        pin = self.buttons[PIN]
        pin.description, pin.tooltip = row.pin_action, TOOLTIPS[row.pin_action]
        # A row with no action at all (the system prompt: see %system) shows no buttons, not four grey ones.
        visibility = "visible" if row.actions else "hidden"
        for name, button in self.buttons.items():
            button.disabled = (self.pin_action if name == PIN else name) not in row.actions
            button.layout.visibility = visibility

    def close(self) -> None:
        for child in (self.info, *self.buttons.values(), self.box):
            child.close()


class MemoryPanel:
    """The widgets of one runtime's panel; `widget` is what gets displayed (any number of times)."""

    def __init__(self, runtime: Any, clock: Callable[[], float] = time.monotonic,
                 interval: float = PROGRESS_INTERVAL) -> None:
        self.runtime = runtime
        self._clock = clock
        self.interval = interval
        self._last_render = float("-inf")
        self.renders = 0
        self._syncing = False  # True while the panel itself sets the dropdown: that is not a user's choice
        self._choices: dict[str, ModelSpec] = {}
        self._seen: dict[str, ModelSpec] = {}  # backing models seen this session, so one can switch back
        self._rows: dict[str, _RowView] = {}

        self.map = widgets.HTML()
        self.spend = widgets.HTML()
        self.models = widgets.Dropdown(description="Model", layout=widgets.Layout(width="340px"),
                                       style={"description_width": "48px"})
        self.models.add_class("llmos-models")
        self.models.observe(self._on_model_chosen, names="value")
        self.message = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", margin="0 0 0 12px"))
        self.table_head = widgets.HTML(wrap(table_header_html(actions=True)))
        self.table = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.more = widgets.HTML()
        controls = widgets.HBox([self.models, self.message], layout=widgets.Layout(align_items="center",
                                                                                   margin="6px 0"))
        self.widget = widgets.VBox(
            [self.map, self.spend, controls, self.table_head, self.table, self.more],
            layout=widgets.Layout(width="100%", max_width="980px", padding="8px 10px",
                                  border="1px solid var(--jp-border-color2, #e5e7eb)"),
        )
        self.widget.add_class("llmos-panel")
        runtime.listeners.append(self.on_event)
        self.refresh()

    # -- live updates ----------------------------------------------------------------------------------
    def on_event(self, event: str) -> None:
        """A runtime listener: re-render on every change, at most ~4 times a second while streaming."""
        if event == "progress":
            if self._clock() - self._last_render < self.interval:
                return
            self.refresh(light=True)  # only the header's activity and the spend move while streaming
            return
        self.refresh()

    def refresh(self, light: bool = False) -> None:
        self._last_render = self._clock()
        self.renders += 1
        snapshot = self.runtime.memory.snapshot()
        activity = activity_of(self.runtime.processes)
        self.map.value = wrap(map_html(snapshot, model_label(self.runtime.spec), activity))
        self.spend.value = wrap(spend_html(spend_of(self.runtime.processes, budget_of(self.runtime))))
        if light:
            return
        self._render_rows(rows_of(snapshot))
        self._render_models()

    def _render_rows(self, rows: list[Row]) -> None:
        shown = rows[:MAX_ROWS]
        keep = {row.segment_id for row in shown}
        gone = [self._rows.pop(segment_id) for segment_id in [s for s in self._rows if s not in keep]]
        children = []
        for row in shown:
            view = self._rows.get(row.segment_id)
            if view is None:
                view = self._rows[row.segment_id] = _RowView(row.segment_id, self.act)
            view.update(row)
            children.append(view.box)
        if tuple(children) != tuple(self.table.children):
            self.table.children = children
        for view in gone:  # closed only once no longer shown, so no view refers to a closed model
            view.close()
        self.more.value = wrap(more_html(len(rows)))

    def _render_models(self) -> None:
        current = self.runtime.spec
        # Keyed by the whole spec: "smollm2" and "smollm2 with a 4,000-token window" are two choices.
        self._seen.setdefault(repr(current), current)
        options: list[tuple[str, str]] = []
        self._choices = {}
        selected = None
        for name, _why in available_models(self.runtime.aliases):
            spec = self.runtime.resolve(name)
            if name in self._choices:
                continue
            label = name if spec.name == name else f"{name} ({model_label(spec)})"
            options.append((label, name))
            self._choices[name] = spec
            selected = selected or (name if spec == current else None)
        # What the endpoints offer, as %models or a backend last fetched it: the panel never waits on a network.
        from .. import catalogue

        for listing in catalogue.listings(self.runtime.aliases, current, cached_only=True):
            for name, spec, offer in catalogue.offered_specs(listing):
                same = any((c.name, c.api_base) == (spec.name, spec.api_base) for c in self._choices.values())
                if name not in self._choices and not same:  # an alias of it is listed already
                    window = f" · {offer.window:,} tokens" if offer.window else ""
                    options.append((f"{name} @ {listing.who}{window}", name))
                    self._choices[name] = spec
                    selected = selected or (name if spec == current else None)
        for key, spec in self._seen.items():
            if spec not in self._choices.values():
                label = model_label(spec)
                if label in dict(options):  # %model gpt-4o --window N is not the listed gpt-4o
                    label = _full_label(spec)
                options.append((label, key))
                self._choices[key] = spec
                selected = selected or (key if spec == current else None)
        self._syncing = True
        try:
            if tuple(options) != tuple(self.models.options):
                self.models.options = options
            self.models.value = selected
        finally:
            self._syncing = False

    # -- user actions ----------------------------------------------------------------------------------
    def act(self, action: str, segment_id: str) -> None:
        """A row button: the same runtime call as %pin, %evict, ...; its message (or error) in the panel."""
        try:
            self.say(self.runtime.memory_action(action, segment_id))
        except UserFacingError as exc:
            self.say(_error_text(exc), error=True)
        except Exception as exc:  # a panel click must never leave a traceback in some output area
            self.say(f"{action} failed: {exc}", error=True)
        self.refresh()

    def _on_model_chosen(self, change: dict[str, Any]) -> None:
        if self._syncing or not change.get("new"):
            return
        self.switch(change["new"])

    def switch(self, key: str) -> None:
        """Make the chosen model the backing one (as %model does) and show what the re-fit paged out."""
        spec = self._choices.get(key) or self.runtime.resolve(key)
        label = model_label(spec)
        self.say(f"switching to {label}…")
        try:
            moved = self.runtime.switch_model(spec)
        except UserFacingError as exc:
            self.say(_error_text(exc), error=True)
        except Exception as exc:
            self.say(f"could not switch to {label}: {exc}", error=True)
        else:
            self.say("\n".join([f"now on {label}", *(f"  {line}" for line in moved)]))
        self.refresh()

    def say(self, text: str, error: bool = False) -> None:
        self.message.value = wrap(message_html(text, error))

    # -- display ---------------------------------------------------------------------------------------
    def mimebundle(self) -> dict[str, Any]:
        """The widget view plus its static fallback: exports and viewers without a kernel show the map."""
        snapshot = self.runtime.memory.snapshot()
        label = model_label(self.runtime.spec)
        bundle = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/html"] = render_html(snapshot, label, spend_of(self.runtime.processes, budget_of(self.runtime)))
        used, usable = snapshot.get("used", 0), snapshot.get("usable", 0)
        bundle["text/plain"] = (f"LLM OS memory map · {label} · {used:,} / {usable:,} tokens"
                                f" · pressure {snapshot.get('pressure')}")
        return bundle

    def close(self) -> None:
        if self.on_event in self.runtime.listeners:
            self.runtime.listeners.remove(self.on_event)
        for view in self._rows.values():
            view.close()
        self._rows.clear()
        for child in (self.map, self.spend, self.models, self.message, self.table_head, self.table, self.more,
                      self.widget):
            child.close()


def _full_label(spec: ModelSpec) -> str:
    parts = [model_label(spec)]
    if spec.window:
        parts.append(f"window {spec.window:,}")
    if spec.api_key_env:
        parts.append(f"key from {spec.api_key_env}")
    return " · ".join(parts)


def _error_text(exc: UserFacingError) -> str:
    return f"{exc}\n{exc.hint}" if getattr(exc, "hint", None) else str(exc)


def panel_for(runtime: Any) -> MemoryPanel:
    """The runtime's panel: the listener list is the registry, so a closed panel is not reused."""
    for listener in runtime.listeners:
        panel = getattr(listener, "__self__", None)
        if isinstance(panel, MemoryPanel):
            return panel
    return MemoryPanel(runtime)


def show_panel(runtime: Any) -> MemoryPanel:
    """Display the runtime's memory-map panel with its HTML fallback (%panel, %memory --panel)."""
    panel = panel_for(runtime)
    panel.refresh()
    display(panel.mimebundle(), raw=True)
    return panel
