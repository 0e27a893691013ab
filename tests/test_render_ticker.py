"""The waiting ticker never overwrites what came after it (a first token, a finished or failed answer)."""

from __future__ import annotations

from typing import Any

import pytest

from llmos_kernel import render
from llmos_kernel.render import AnswerDisplay, Footer


@pytest.fixture
def shown(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(render, "display", lambda bundle, **kw: calls.append(bundle))
    return calls


def test_a_late_tick_after_the_answer_is_dropped(shown):
    view = AnswerDisplay("m")
    view.finish("the answer", Footer("m", 1, 2, 0.1, None, True, "ok"), {})
    # The ticker woke before finish() and publishes now: under the lock it must see the answer is there.
    view._publish(view._bundle("", "⏳ m · waiting 3 s…"), if_waiting=True)
    assert "the answer" in shown[-1]["text/markdown"]


def test_a_late_tick_after_a_failure_is_dropped(shown):
    view = AnswerDisplay("m")
    view.failed(1.0)
    view._publish(view._bundle("", "⏳ m · waiting 3 s…"), if_waiting=True)
    assert "failed" in shown[-1]["text/markdown"]


def test_ticks_show_while_waiting(shown):
    view = AnswerDisplay("m")
    view._publish(view._bundle("", "⏳ m · waiting 3 s…"), if_waiting=True)
    assert "waiting 3 s" in shown[-1]["text/markdown"]
