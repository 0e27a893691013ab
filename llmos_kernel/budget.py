"""Cost before sending: a request's exact size, its answer's maximum and the price range; budgets that refuse
a cell before it is sent, and a confirmation asked through the frontend above a threshold.

Prices are the backend's own cost function: litellm's price map (model_map.py on the fast path,
``litellm.cost_per_token`` otherwise); a local model costs nothing; a model without a known price has an
unknown cost, which a budget cannot bound (said so, not refused).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import StdinNotImplementedError

from .backends.base import Unloadable, Usage, answer_cap
from .errors import UserFacingError
from .memory.tokenizers import count_messages
from .sending import Admission, Request, Sent


class OverBudget(UserFacingError):
    title = "Over budget"


class NotConfirmed(UserFacingError):
    title = "Not sent"


def money(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    decimals = max(6, 2 - math.floor(math.log10(abs(value))))  # a tiny budget keeps its significant digits
    return f"${value:,.{decimals}f}".rstrip("0").rstrip(".")


@dataclass
class Estimate:
    """What a request (or a batch of them) will cost at most, before it is sent."""

    model: str
    prompt_tokens: int
    exact: bool
    max_answer: int
    answer_source: str
    cost_min: float | None  # the prompt alone (an empty answer)
    cost_max: float | None  # the prompt and the longest answer allowed
    messages: int = 0
    items: int = 1

    def lines(self) -> list[str]:
        approx = "" if self.exact else "~"
        label = "exact" if self.exact else "estimated: this model's tokenizer is not known exactly"
        what = f"{self.items} requests, " if self.items > 1 else ""
        return [
            f"model: {self.model}",
            f"request: {what}{approx}{self.prompt_tokens:,} tokens in {self.messages} messages ({label})",
            f"answer: up to {self.max_answer:,} tokens{' each' if self.items > 1 else ''} ({self.answer_source})",
            f"cost: {money(self.cost_min)} to {money(self.cost_max)}"
            + ("" if self.cost_max is not None else " (no price known for this model)"),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "prompt_tokens": self.prompt_tokens, "exact": self.exact,
                "max_answer": self.max_answer, "cost_min": self.cost_min, "cost_max": self.cost_max,
                "messages": self.messages, "items": self.items}


def prompt_tokens(backend: Any, messages: list[dict]) -> tuple[int, bool]:
    """(tokens, exact): the backend's own count of the formatted prompt where it has one (llama.cpp), else the
    model's tokenizer over the messages."""
    count_prompt = getattr(backend, "count_prompt", None)
    if count_prompt is not None:
        return int(count_prompt(messages)), True
    tokenizer = backend.tokenizer()
    return count_messages(tokenizer, messages), bool(getattr(tokenizer, "exact", False))


def price(backend: Any, tokens_in: int, tokens_out: int) -> float | None:
    if isinstance(backend, Unloadable):
        return 0.0  # runs here: no provider bill
    cost = getattr(backend, "cost", None)
    if cost is None:
        return None
    value = cost(Usage(tokens_in, tokens_out))
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def estimate(backend: Any, messages: list[dict], params: Any, *, default_cap: int | None, reserve: int) -> Estimate:
    tokens, exact = prompt_tokens(backend, messages)
    if params.max_tokens:
        cap, source = int(params.max_tokens), "--max-tokens"
    elif (default := answer_cap(backend, default_cap)) is not None:
        cap, source = int(default), "the default answer cap"
    else:
        cap, source = reserve, "the memory's reserve for the answer; --max-tokens N bounds it"
    return Estimate(model=str(getattr(backend, "name", "?")), prompt_tokens=tokens, exact=exact, max_answer=cap,
                    answer_source=source, cost_min=price(backend, tokens, 0), cost_max=price(backend, tokens, cap),
                    messages=len(messages))


def combine(estimates: Iterable[Estimate], model: str) -> Estimate:
    """One estimate for a batch: tokens and costs summed (unknown if any item's price is unknown)."""
    items = list(estimates)

    def total(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else float(sum(v for v in values if v is not None))

    if not items:
        return Estimate(model, 0, True, 0, "nothing to send", 0.0, 0.0, 0, 0)
    return Estimate(model=model, prompt_tokens=sum(e.prompt_tokens for e in items),
                    exact=all(e.exact for e in items), max_answer=max(e.max_answer for e in items),
                    answer_source=items[0].answer_source, cost_min=total([e.cost_min for e in items]),
                    cost_max=total([e.cost_max for e in items]), messages=sum(e.messages for e in items),
                    items=len(items))


class BudgetGuard:
    """The session budget, the confirmation threshold, and the check every request passes before it is sent
    (a send hook: a comparison's columns and a batch's items are checked together, before the first is sent)."""

    def __init__(self, runtime: Any, ask: Callable[[str], str] | None = None) -> None:
        self.runtime = runtime
        self.limit: float | None = None
        self.confirm_above: float | None = None
        self._ask = ask  # None: the builtin input(), which ipykernel routes through an input_request

    def spent(self) -> float:
        return float(sum(p.cost for p in self.runtime.processes if getattr(p, "cost", None) is not None))

    def estimate(self, request: Request) -> Estimate:
        runtime = self.runtime
        return estimate(request.backend, request.messages, request.params,
                        default_cap=runtime.defaults.get("max_tokens"), reserve=runtime.reserved_output)

    def check(self, est: Estimate, cell_budget: float | None = None, what: str = "this cell") -> None:
        """Refuse (raise) before sending when the worst case crosses a budget, or is above the confirmation
        threshold and the user does not say yes."""
        worst = est.cost_max
        size = f"{est.prompt_tokens:,} tokens in, up to {est.max_answer:,} out" + (
            f" for each of {est.items} items" if est.items > 1 else "")
        hint = ("Nothing was sent. Raise the budget (%budget AMOUNT, --budget AMOUNT), lower --max-tokens, "
                "or send less context (--no-history).")
        if worst is None:
            if cell_budget is not None or self.limit is not None:
                print(f"note: no price is known for {est.model}, so the budget cannot bound {what}")
            return
        if cell_budget is not None and worst > cell_budget:
            raise OverBudget(f"{what} may cost up to {money(worst)} ({size}), over its budget of "
                             f"{money(cell_budget)}", model=est.model, hint=hint)
        if self.limit is not None and self.spent() + worst > self.limit:
            raise OverBudget(f"{what} may cost up to {money(worst)} ({size}); with {money(self.spent())} spent, "
                             f"that would cross the session budget of {money(self.limit)}", model=est.model,
                             hint=hint)
        if self.confirm_above is not None and worst > self.confirm_above:
            self._confirm(f"{what} may cost up to {money(worst)} ({size}), above {money(self.confirm_above)}",
                          est.model)

    def _confirm(self, question: str, model: str) -> None:
        ask = self._ask or builtins.input  # looked up now: ipykernel installs its own input() for each cell
        try:
            reply = ask(f"{question}. Send? [y/N] ")
        except (StdinNotImplementedError, EOFError):
            raise NotConfirmed(f"{question}, and this run cannot ask for confirmation (no input: a headless "
                               "run); nothing was sent", model=model,
                               hint="Raise or clear the threshold: %budget --confirm-above off") from None
        if reply.strip().lower() not in ("y", "yes"):
            raise NotConfirmed(f"{question}; not confirmed, nothing was sent", model=model)

    # -- SendHook ----------------------------------------------------------------------------------------------
    def before(self, admission: Admission) -> None:
        live = [request for request in admission.requests if not request.replayed]  # a recording costs nothing
        if not live:
            return
        if admission.budget is None and self.limit is None and self.confirm_above is None:
            return  # nothing to check: no tokenizing on the hot path
        for request in live:
            request.estimate = self.estimate(request)
            request.metadata["estimate"] = request.estimate.as_dict()
        if len(admission.requests) == 1:
            est = live[0].estimate
        else:
            est = combine([request.estimate for request in live],
                          ", ".join(dict.fromkeys(request.model for request in live)))
        self.check(est, admission.budget, admission.what)

    def after(self, sent: list[Sent]) -> None:
        return None
