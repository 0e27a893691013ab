"""The live panel against a fake runtime: live updates, throttling, row actions, the model switcher."""

from __future__ import annotations

from typing import Any

import pytest

from llmos_kernel.backends.registry import ModelSpec
from llmos_kernel.errors import UserFacingError
from llmos_kernel.widgets import panel as panel_module
from llmos_kernel.widgets.panel import MemoryPanel, show_panel

from .fakes import FakeProcess, FakeRuntime, make_window, words
from .html_probe import parse

SERVER = ModelSpec("openai/test", api_base="http://127.0.0.1:9/v1", window=16000)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime() -> FakeRuntime:
    memory = make_window()
    memory.commit_turn("c1", words(10), words(20), execution_count=1)
    return FakeRuntime(memory, aliases={"fast": SERVER})


@pytest.fixture
def panel(runtime: FakeRuntime):
    made = MemoryPanel(runtime)
    yield made
    made.close()


def header(panel: MemoryPanel) -> dict[str, str]:
    return parse(panel.map.value).find("data-llmos-header").attrs


def message(panel: MemoryPanel) -> tuple[str, str]:
    element = parse(panel.message.value).find("data-llmos-message")
    return element.attrs["data-llmos-message"], element.all_text()


def row_view(panel: MemoryPanel, kind: str, state: str = "resident"):
    for view in panel._rows.values():
        attrs = parse(view.info.value).find("data-segment-id").attrs
        if attrs["data-kind"] == kind and attrs["data-state"] == state:
            return view, attrs
    raise AssertionError(f"no {state} {kind} row")


def test_panel_shows_the_snapshot_and_follows_commits(runtime: FakeRuntime, panel: MemoryPanel):
    assert runtime.listeners == [panel.on_event]
    first = header(panel)
    assert int(first["data-used"]) == runtime.memory.used and first["data-model"] == "smollm2"
    assert len(panel.table.children) == 2  # system + one turn

    runtime.memory.commit_turn("c2", words(50), words(50), execution_count=2)
    runtime.processes.append(FakeProcess(2, "smollm2", tokens_in=60, tokens_out=50, cost=0.0))
    runtime.notify("commit")
    assert int(header(panel)["data-used"]) == runtime.memory.used > int(first["data-used"])
    assert len(panel.table.children) == 3
    spend = parse(panel.spend.value).find("data-llmos-spend").attrs
    assert (spend["data-calls"], spend["data-tokens-out"]) == ("1", "50")


def test_progress_renders_at_most_about_four_times_a_second(runtime: FakeRuntime):
    clock = Clock()
    panel = MemoryPanel(runtime, clock=clock)
    runtime.processes.append(FakeProcess(2, "smollm2", status="running"))
    start = panel.renders
    for _ in range(100):  # 100 pieces streamed within 0.99 s
        clock.now += 0.0099
        panel.on_event("progress")
    assert 3 <= panel.renders - start <= 4
    assert "data-llmos-header" in panel.map.value and "[2]" in parse(panel.map.value).all_text()
    before = panel.renders
    panel.on_event("commit")  # the end of a cell always renders, however recent the last render
    assert panel.renders == before + 1
    panel.close()


def test_row_actions_go_through_memory_action(runtime: FakeRuntime, panel: MemoryPanel):
    view, attrs = row_view(panel, "history")
    assert not view.buttons["evict"].disabled and view.buttons["recall"].disabled
    view.buttons["evict"].click()
    assert runtime.calls == [("evict", attrs["data-segment-id"])]
    kind, text = message(panel)
    assert kind == "info" and attrs["data-segment-id"] in text
    swapped, swapped_attrs = row_view(panel, "history", "swapped")
    assert swapped is view  # the same row widgets, updated in place
    assert view.buttons["evict"].disabled and not view.buttons["recall"].disabled

    view.buttons["pin"].click()  # pinning a swapped segment pages it back in
    _, pinned = row_view(panel, "history")
    assert pinned["data-pinned"] == "true" and view.buttons["pin"].description == "unpin"
    view.buttons["pin"].click()
    assert runtime.calls[-1] == ("unpin", attrs["data-segment-id"])

    system, _ = row_view(panel, "system")
    assert all(button.disabled for button in system.buttons.values())

    view.buttons["forget"].click()
    assert len(panel.table.children) == 1 and attrs["data-segment-id"] not in panel._rows


def test_action_errors_are_one_message_in_the_panel(runtime: FakeRuntime, panel: MemoryPanel):
    runtime.fail_with = UserFacingError("segment s123 is pinned", hint="Unpin it first.")
    view, _ = row_view(panel, "history")
    view.buttons["evict"].click()  # must not raise: a click has no cell to show a traceback in
    kind, text = message(panel)
    assert kind == "error" and "s123 is pinned" in text and "Unpin it first." in text
    assert "Traceback" not in panel.message.value


def test_model_dropdown_lists_models_and_switches(runtime: FakeRuntime, panel: MemoryPanel):
    values = [value for _label, value in panel.models.options]
    assert values[:2] == ["smollm2", "fast"] and panel.models.value == "smollm2"
    runtime.moved = ["paged out cell [1] (36 tokens)"]
    panel.models.value = "fast"
    assert runtime.calls[-1] == ("switch", SERVER)
    assert header(panel)["data-model"] == "openai/test @ 127.0.0.1:9"
    assert int(header(panel)["data-usable"]) == 16000 - 200
    kind, text = message(panel)
    assert kind == "info" and "paged out cell [1]" in text


def test_failed_switch_is_a_message_and_the_dropdown_goes_back(runtime: FakeRuntime, panel: MemoryPanel):
    runtime.fail_with = UserFacingError("openai/test needs OPENAI_API_KEY")
    panel.models.value = "fast"
    kind, text = message(panel)
    assert kind == "error" and "OPENAI_API_KEY" in text
    assert panel.models.value == "smollm2" and header(panel)["data-model"] == "smollm2"


def test_a_model_set_by_magic_stays_offered_after_switching_away(runtime: FakeRuntime, panel: MemoryPanel):
    direct = ModelSpec("openai/other", api_base="http://127.0.0.1:7/v1", window=8000)
    runtime.switch_model(direct)  # as %model openai/other --api-base ... does
    assert panel.models.value is not None
    assert dict(panel.models.options)[panel.models.label] == panel.models.value
    runtime.switch_model(ModelSpec("smollm2"))
    labels = [label for label, _ in panel.models.options]
    assert "openai/other @ 127.0.0.1:7" in labels and panel.models.value == "smollm2"
    panel.models.value = dict(panel.models.options)["openai/other @ 127.0.0.1:7"]
    assert runtime.spec == direct


def test_show_panel_displays_one_shared_panel_with_its_html_fallback(runtime: FakeRuntime, monkeypatch):
    shown: list[dict[str, Any]] = []
    monkeypatch.setattr(panel_module, "display", lambda bundle, raw: shown.append(bundle))
    first = show_panel(runtime)
    second = show_panel(runtime)
    assert first is second and runtime.listeners == [first.on_event]
    views = [b["application/vnd.jupyter.widget-view+json"]["model_id"] for b in shown]
    assert views == [first.widget.model_id] * 2  # two displays, one widget model: they stay in sync
    fallback = parse(shown[0]["text/html"]).find("data-llmos-map")
    assert int(fallback.find("data-llmos-header").attrs["data-used"]) == runtime.memory.used
    assert shown[0]["text/plain"]
    first.close()
    assert runtime.listeners == []
    assert show_panel(runtime) is not first  # a closed panel is not reused


def test_dropdown_labels_stay_unique(runtime: FakeRuntime, panel: MemoryPanel):
    runtime.switch_model(ModelSpec("smollm2", window=4000))  # not the listed smollm2: another window
    labels = [label for label, _ in panel.models.options]
    assert len(labels) == len(set(labels)) == 3
    assert "4,000" in panel.models.label


def test_the_dropdown_offers_what_the_endpoints_listed(runtime: FakeRuntime, monkeypatch):
    """After %models (or a backend's window look-up) fetched an endpoint's listing, the dropdown offers its
    models with their windows, from the cache only: drawing the panel never waits on a network."""
    from llmos_kernel import catalogue

    listing = catalogue.Listing(SERVER.api_base, "openai", None,
                                {"test": catalogue.Offer("test"), "big": catalogue.Offer("big", 32768, "the server")})
    monkeypatch.setattr(catalogue, "_CACHE", {SERVER.api_base: listing})
    monkeypatch.setattr(catalogue, "fetch", lambda r: pytest.fail("the panel asked the network"))
    made = MemoryPanel(runtime)
    try:
        labels = dict(made.models.options)
        assert labels["openai/big @ 127.0.0.1:9 · 32,768 tokens"] == "openai/big"
        assert not any(label.startswith("openai/test @") for label in labels)  # the alias "fast" already offers it
        made.models.value = "openai/big"
        assert runtime.calls[-1] == ("switch", ModelSpec("openai/big", SERVER.api_base, None, None))
    finally:
        made.close()
