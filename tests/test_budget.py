"""Budget logic without a kernel: estimates from litellm's prices, the checks, and the confirmation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from IPython.core.error import StdinNotImplementedError

from llmos_kernel.backends.base import CallParams
from llmos_kernel.backends.litellm_backend import LiteLLMBackend
from llmos_kernel.backends.model_map import cost
from llmos_kernel.budget import BudgetGuard, NotConfirmed, OverBudget, combine, estimate, money
from llmos_kernel.memory.tokenizers import count_messages

MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Name three rivers."}]


def mini() -> LiteLLMBackend:
    return LiteLLMBackend("gpt-4o-mini")  # OpenAI's model: exact tokenizer, litellm's prices


def test_an_estimate_is_the_exact_size_and_the_price_range():
    backend = mini()
    est = estimate(backend, MESSAGES, CallParams(max_tokens=100), default_cap=None, reserve=512)
    tokens = count_messages(backend.tokenizer(), MESSAGES)
    assert est.exact and est.prompt_tokens == tokens and est.max_answer == 100
    assert est.cost_min == cost("openai", "gpt-4o-mini", tokens, 0)
    assert est.cost_max == cost("openai", "gpt-4o-mini", tokens, 100) > est.cost_min
    uncapped = estimate(backend, MESSAGES, CallParams(), default_cap=None, reserve=512)
    assert uncapped.max_answer == 512 and "reserve" in uncapped.answer_source
    both = combine([est, est], "gpt-4o-mini")
    assert both.items == 2 and both.prompt_tokens == 2 * tokens and both.cost_max == pytest.approx(2 * est.cost_max)


def test_an_unpriced_model_has_an_unknown_cost():
    custom = LiteLLMBackend("openai/mine", api_base="http://127.0.0.1:9/v1")
    est = estimate(custom, MESSAGES, CallParams(max_tokens=5), default_cap=None, reserve=512)
    assert est.cost_max is None and not est.exact and "unknown" in "\n".join(est.lines())


def runtime(*costs: float | None) -> SimpleNamespace:
    return SimpleNamespace(processes=[SimpleNamespace(cost=c) for c in costs], defaults={}, reserved_output=512)


def an_estimate(worst: float):
    est = estimate(mini(), MESSAGES, CallParams(max_tokens=10), default_cap=None, reserve=512)
    est.cost_max = worst
    return est


def test_budgets_refuse_the_worst_case():
    guard = BudgetGuard(runtime(0.4, None))
    guard.check(an_estimate(0.7))  # no budget set
    guard.limit = 1.0
    guard.check(an_estimate(0.6))
    with pytest.raises(OverBudget, match="with \\$0.4 spent"):
        guard.check(an_estimate(0.61))
    with pytest.raises(OverBudget, match="over its budget of \\$0.1"):
        guard.check(an_estimate(0.2), cell_budget=0.1)


def test_confirmation_asks_and_a_headless_run_refuses():
    asked: list[str] = []
    guard = BudgetGuard(runtime(), ask=lambda q: asked.append(q) or "yes")
    guard.confirm_above = 0.01
    guard.check(an_estimate(0.005))
    assert asked == []
    guard.check(an_estimate(0.02))
    assert "Send? [y/N]" in asked[0] and "$0.02" in asked[0]
    guard._ask = lambda q: ""
    with pytest.raises(NotConfirmed, match="not confirmed"):
        guard.check(an_estimate(0.02))

    def headless(question: str) -> str:
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")

    guard._ask = headless
    with pytest.raises(NotConfirmed, match="cannot ask"):
        guard.check(an_estimate(0.02))


def test_money_keeps_small_amounts_readable():
    assert money(None) == "unknown" and money(0) == "$0" and money(0.5) == "$0.5"
    assert money(0.0000001) == "$0.0000001" and money(1234.5) == "$1,234.5"
