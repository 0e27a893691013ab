"""The panel in a real llmos kernel, driven over the Jupyter protocol as a frontend drives it (comm messages).

No model runs here: %load changes memory, and row buttons are clicked the way a browser clicks them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kernel import KernelSession

from .html_probe import parse

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What the kernel does at start-up (until it does, this stands in for it; afterwards it changes nothing).
REGISTER = """\
from llmos_kernel.widgets.magics import PanelMagics
ip = get_ipython()
if "panel" not in ip.magics_manager.magics["line"]:
    ip.register_magics(PanelMagics(ip, ip.kernel.runtime))
if ip.kernel.memory_magics.show_panel is None:
    ip.kernel.memory_magics.show_panel = ip.magics_manager.registry["PanelMagics"].show
"""


@dataclass
class Widgets:
    """The kernel's widget models as a frontend would hold them, from comm_open and update messages."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def feed(self, messages: list[dict]) -> None:
        for msg in messages:
            content = msg["content"]
            if msg["msg_type"] == "comm_open" and content.get("target_name") == "jupyter.widget":
                self.states[content["comm_id"]] = dict(content["data"]["state"])
            elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
                self.states.setdefault(content["comm_id"], {}).update(content["data"]["state"])

    def html_with(self, *markers: str) -> list[tuple[str, str]]:
        return [(mid, s["value"]) for mid, s in self.states.items()
                if s.get("_model_name") == "HTMLModel" and all(m in s.get("value", "") for m in markers)]

    def button_beside(self, html_id: str, action: str) -> str:
        for state in self.states.values():
            children = state.get("children") or []
            if f"IPY_MODEL_{html_id}" in children:
                for child in children:
                    child_state = self.states[child.removeprefix("IPY_MODEL_")]
                    is_button = child_state.get("_model_name") == "ButtonModel"
                    if is_button and child_state["description"] == action:
                        return child.removeprefix("IPY_MODEL_")
        raise AssertionError(f"no {action} button beside {html_id}")

    def used(self) -> int:
        (_, value), = self.html_with("data-llmos-header")
        return int(parse(value).find("data-llmos-header").attrs["data-used"])

    def message(self) -> tuple[str, str]:
        (_, value), = self.html_with("data-llmos-message")
        element = parse(value).find("data-llmos-message")
        return element.attrs["data-llmos-message"], element.all_text()


def send_comm(kernel: KernelSession, comm_id: str, data: dict[str, Any], timeout: float = 60) -> list[dict]:
    """Send a comm_msg as a frontend does; return the kernel's iopub messages until it is idle again."""
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kernel.kc.shell_channel.send(msg)
    deadline, messages = time.monotonic() + timeout, []
    while True:
        reply = kernel.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
            return messages
        messages.append(reply)


def click(kernel: KernelSession, widgets: Widgets, button_id: str) -> None:
    messages = send_comm(kernel, button_id, {"method": "custom", "content": {"event": "click"}})
    assert not [m for m in messages if m["msg_type"] == "error"], messages
    widgets.feed(messages)


def segment_state(kernel: KernelSession, segment_id: str) -> list[tuple[bool, str, str]]:
    return kernel.eval("[(s['pinned'], s['state'], s['kind']) for s in get_ipython().kernel.runtime.memory"
                       f".snapshot()['segments'] if s['id'] == {segment_id!r}]")


def test_panel_over_the_protocol(kernel: KernelSession, tmp_path: Path):
    assert kernel.py(REGISTER).status == "ok"
    shown = kernel.run("%panel")
    assert shown.status == "ok", shown.error_text
    (display,) = shown.of_type("display_data")
    bundle = display["content"]["data"]
    assert {WIDGET_VIEW, "text/html", "text/plain"} <= set(bundle)
    widgets = Widgets()
    widgets.feed(shown.messages)
    assert bundle[WIDGET_VIEW]["model_id"] in widgets.states
    assert "llmos-panel" in widgets.states[bundle[WIDGET_VIEW]["model_id"]]["_dom_classes"]
    fallback = parse(bundle["text/html"]).find("data-llmos-map").find("data-llmos-header")
    assert int(fallback.attrs["data-used"]) == widgets.used() > 0

    again = kernel.run("%panel")  # a second display of the same widgets, not a second panel
    (second,) = again.of_type("display_data")
    assert second["content"]["data"][WIDGET_VIEW] == bundle[WIDGET_VIEW]
    assert not again.of_type("comm_open")

    document = tmp_path / "notes.txt"
    document.write_text(" ".join(f"fact{i}" for i in range(300)))
    before = widgets.used()
    loaded = kernel.run(f"%load {document}")
    assert loaded.status == "ok", loaded.error_text
    widgets.feed(loaded.messages)
    assert widgets.used() > before  # the panel followed the change without being shown again

    (row_id, row), = widgets.html_with("data-segment-id", 'data-kind="pinned"')
    segment = parse(row).find("data-segment-id").attrs["data-segment-id"]
    click(kernel, widgets, widgets.button_beside(row_id, "unpin"))
    assert segment_state(kernel, segment) == [(False, "resident", "pinned")]
    assert widgets.message()[0] == "info"
    loaded_used = widgets.used()
    click(kernel, widgets, widgets.button_beside(row_id, "evict"))
    assert segment_state(kernel, segment) == [(False, "swapped", "pinned")]
    assert widgets.used() <= before + 5
    click(kernel, widgets, widgets.button_beside(row_id, "recall"))  # back in, as a recalled copy of its pages
    assert segment_state(kernel, segment) == [(False, "swapped", "pinned")]  # the segment itself stays in swap
    (copy_id, copy_row), = widgets.html_with(f'data-source="{segment}"', 'data-kind="recalled"')
    copy = parse(copy_row).find("data-segment-id").attrs["data-segment-id"]
    assert segment_state(kernel, copy) == [(False, "resident", "recalled")] and " pages · " in copy_row
    assert widgets.used() >= loaded_used - 10
    click(kernel, widgets, widgets.button_beside(copy_id, "evict"))  # a clean copy: let go, nothing written
    assert segment_state(kernel, copy) == [] and segment_state(kernel, segment) == [(False, "swapped", "pinned")]

    # A stale view may still send a click the runtime refuses: one message in the panel, no traceback.
    click(kernel, widgets, widgets.button_beside(row_id, "evict"))  # the swapped segment: already in swap
    kind, text = widgets.message()
    assert kind == "error" and text and "Traceback" not in text
    assert kernel.run("%memory").status == "ok"


def test_panel_usage_line_is_in_help(kernel: KernelSession):
    assert kernel.py(REGISTER).status == "ok"
    lines = kernel.eval("__import__('llmos_kernel.magics').magics.usage_lines(get_ipython())")
    assert "%panel - show the live memory-map panel and model switcher" in lines
    bad = kernel.run("%panel now")
    assert bad.status == "error" and "Traceback" not in bad.error_text


def test_memory_panel_shows_the_same_panel(kernel: KernelSession):
    assert kernel.py(REGISTER).status == "ok"
    first = kernel.run("%panel")
    second = kernel.run("%memory --panel")
    assert second.status == "ok", second.error_text
    views = [run.of_type("display_data")[0]["content"]["data"][WIDGET_VIEW] for run in (first, second)]
    assert views[0] == views[1]
