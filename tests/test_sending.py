"""The one send path, as pure logic: nothing outside it calls a backend, an unadmitted request cannot be sent,
and the hooks (replay, budget) admit or refuse the requests of a comparison or a batch together."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmos_kernel.backends.base import CallParams, Delta, Usage
from llmos_kernel.budget import BudgetGuard, OverBudget
from llmos_kernel.replay import Recording, Recordings, ReplayBook, ReplayMissing
from llmos_kernel.sending import NotAdmitted, Request, SendPath, Sent

PACKAGE = Path(__file__).resolve().parent.parent / "llmos_kernel"


class Model:
    """A backend that counts its calls (pure logic: the kernel tests use the loopback server)."""

    def __init__(self, name: str = "openai/gpt-4o-mini") -> None:
        self.name = name
        self.calls = 0

    def stream(self, messages, params):
        self.calls += 1
        yield Delta(text="an answer")
        yield Delta(usage=Usage(10, 2), finish_reason="stop")

    def count_prompt(self, messages: list[dict]) -> int:  # what the budget counts a request with
        return sum(len(m["content"].split()) for m in messages)

    def window(self) -> int:
        return 4096

    def cost(self, usage: Usage) -> float:
        return 0.001 * (usage.prompt_tokens + usage.completion_tokens)


def request(model: Model, prompt: str) -> Request:
    return Request(model, [{"role": "user", "content": prompt}], CallParams(max_tokens=10), prompt=prompt)


@pytest.fixture
def path() -> tuple[SendPath, ReplayBook, BudgetGuard]:
    sender = SendPath()
    book = ReplayBook(Recordings(lambda: None), mode="off")
    guard = BudgetGuard(SimpleNamespace(processes=[], defaults={}, reserved_output=100))
    sender.hooks += [book, guard]
    return sender, book, guard


def test_only_the_send_path_calls_a_backend():
    """Structural: every model call goes through SendPath.stream, which refuses an unadmitted request; no
    other module of the kernel (backends aside, which implement stream) calls ``.stream(`` itself."""
    callers = []
    for source in PACKAGE.rglob("*.py"):
        if "backends" in source.parts or source.name == "sending.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "stream":
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    continue  # httpx's client.stream("GET", url): an HTTP request, not a model call
                owner = node.func.value  # self.sender.stream(...), runtime.sender.stream(...), sender.stream(...)
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name != "sender":
                    callers.append(f"{source.relative_to(PACKAGE)}:{node.lineno}")
    assert callers == []


def test_an_unadmitted_request_is_never_sent(path):
    sender, _, _ = path
    model = Model()
    with pytest.raises(NotAdmitted):
        sender.collect(request(model, "hello"))
    assert model.calls == 0
    sender.admit([r := request(model, "hello")])
    assert sender.collect(r)[0] == "an answer" and model.calls == 1


def test_only_mode_refuses_a_group_with_one_missing_recording(path):
    sender, book, _ = path
    model = Model()
    recorded, missing = request(model, "recorded"), request(model, "missing")
    book.keep([Recording(recorded.digest, model.name, "recorded", "from the recording")])
    book.set_mode("only")
    with pytest.raises(ReplayMissing, match="1 of 2 items of things have no recording"):
        sender.admit([recorded, missing], what="this batch of 2 items", items="items of things")
    assert not recorded.admitted and not missing.admitted and model.calls == 0
    (alone,) = sender.admit([request(model, "recorded")])
    assert alone.replayed and sender.collect(alone)[0] == "from the recording" and model.calls == 0


def test_the_budget_prices_a_group_as_a_whole_and_skips_replayed_requests(path):
    sender, book, guard = path
    model = Model()
    book.set_mode("on")
    first, second = request(model, "one two three"), request(model, "four five six")
    guard.limit = 1.5 * guard.estimate(first).cost_max  # one fits, the two together do not
    with pytest.raises(OverBudget, match="this comparison of 2 models may cost"):
        sender.admit([first, second], what="this comparison of 2 models")
    book.keep([Recording(second.digest, model.name, "four five six", "recorded")])
    admitted = sender.admit([request(model, "one two three"), request(model, "four five six")], what="two")
    assert [r.replayed for r in admitted] == [False, True]  # the recorded one costs nothing: the rest fits


def test_answers_are_recorded_with_their_tool_results_and_played_back_with_them(path):
    sender, book, _ = path
    model = Model()
    book.set_mode("on")
    (live,) = sender.admit([request(model, "use a tool")])
    live.tools = [{"path": "python", "text": 'python({"code": "1+1"})\n-> ok: 2', "untrusted": False}]
    sender.done([Sent(live, "two", SimpleNamespace(status="ok", tokens_in=5, tokens_out=1, exact=True,
                                                   finish_reason="stop"))])
    (again,) = sender.admit([request(model, "use a tool")])
    assert again.replayed and again.tools == live.tools
