"""What a LiteLLM proxy says, worded for the user: its own error types, its rate limits, its cost header.

A team's gateway (the LiteLLM proxy) answers with error types of its own, which the generic wording in
provider_errors.py would misread, as measured with litellm 1.82.6:
- a proxy without a key database answers any key but its master key with HTTP 400 ``no_db_connection``
  ("No connected db."): the user must hear that the key was not accepted, not that the request was bad;
- a virtual key that is unknown or expired: ``token_not_found_in_db`` / ``expired_key``;
- a spent budget: HTTP 400 ``budget_exceeded`` ("Budget has been exceeded! Current cost: X, Max budget: Y");
- its rpm/tpm limits: HTTP 429 ``throttling_error`` naming the limit ("RPM limit=2, current usage=3"), with no
  standard Retry-After (sometimes ``llm_provider-retry-after``), and counted per calendar minute;
- a served model it cannot reach: a 5xx whose message says APIConnectionError.

Who retries: the kernel, within the cell's time budget (openai_stream.py); the proxy is configured with
``num_retries: 0`` (tests/proxy/litellm_config.yaml, docs/deploy.md). Retries at both tiers multiply: measured,
9 upstream attempts and 16 s for one failed cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import KeyRejected, ProviderError, UserFacingError
from .endpoints import Route
from .faults import ProviderFault

KEY_NOT_ACCEPTED = frozenset({"no_db_connection", "token_not_found_in_db", "expired_key"})
_LIMIT = re.compile(r"\b([RT]PM) limit=(\d+)", re.I)
_GROUP = re.compile(r"Model Group=([^\s,]+)")
COST_HEADER = "x-litellm-response-cost"  # set on whole (non-streamed) answers; a stream's headers precede its cost


class BudgetExhausted(ProviderError):
    title = "Budget exhausted"


class RateLimited(ProviderError):
    title = "Rate limited"


def _retries(exc: BaseException) -> str:
    n = getattr(exc, "num_retries", 0) or 0
    return f"; retried {n} time{'s' if n != 1 else ''} within the cell's time budget" if n else ""


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    return next((str(v) for k, v in headers.items() if str(k).lower() == name), None)


def explain_proxy(exc: BaseException, model: str, route: Route | None, detail: str) -> UserFacingError | None:
    """One clear message for a fault in a LiteLLM proxy's own vocabulary; None when it is not one."""
    if not isinstance(exc, ProviderFault):
        return None
    who = route.who if route else "the proxy"
    if exc.code in KEY_NOT_ACCEPTED:
        key = f"the key in {route.key_var}" if route and route.key_var else "the request without a key"
        why = (" (the proxy has no key database, so it accepts only its master key)"
               if exc.code == "no_db_connection" else f" ({exc.code})")
        return KeyRejected(f"the proxy at {who} did not accept {key} for {model}{why}", model=model,
                           hint="Check the key your team gave you (its value is never shown here); a virtual key "
                                "needs the proxy's database.")
    if exc.code == "budget_exceeded":
        return BudgetExhausted(f"the proxy at {who} refused {model}: the budget is spent ({detail})", model=model,
                               hint="Ask whoever runs the proxy to raise or reset the budget of your key or team.")
    if exc.kind == "rate_limit" and (_LIMIT.search(exc.message) or exc.code == "throttling_error"):
        return _rate_limited(exc, model, who)
    if exc.kind == "server" and "connection" in exc.message.lower() and _header(exc.headers, "x-litellm-call-id"):
        return ProviderError(f"the proxy at {who} cannot reach the model behind {model}{_retries(exc)}: {detail}",
                             model=model, hint="The served model is down or restarting; run the cell again "
                                               "later, or tell whoever runs the proxy.")
    return None


def _rate_limited(exc: ProviderFault, model: str, who: str) -> RateLimited:
    found = _LIMIT.search(exc.message)
    group = _GROUP.search(exc.message)
    unit = {"RPM": "requests", "TPM": "tokens"}
    limit = (f"{int(found.group(2)):,} {unit[found.group(1).upper()]} a minute ({found.group(1).upper()} limit)"
             if found else "its rate limit")
    name = group.group(1) if group else model
    wait = _header(exc.headers, "llm_provider-retry-after")
    suggestion = f" The proxy suggests waiting {wait} s." if wait and wait.replace(".", "", 1).isdigit() else ""
    return RateLimited(f"the proxy at {who} limits {name} to {limit}, and that limit is reached{_retries(exc)}",
                       model=model, hint="The limit counts per calendar minute: run the cell again in a minute, or "
                                         f"ask for a higher limit.{suggestion}")


def reported_cost(headers: Mapping[str, str]) -> float | None:
    """The cost a LiteLLM proxy reports for this response, when it says (never its "-original" variants)."""
    value = headers.get(COST_HEADER)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
