"""Map litellm's exception types to one clear message: what failed, for which model, what to do."""

from __future__ import annotations

import re

from ..errors import MissingAPIKey, ModelNotFound, ProviderError, UserFacingError
from .litellm_loader import get_litellm

_KEY_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+)")


def redact(text: str) -> str:
    """Providers sometimes echo part of a key in their error text; never show it."""
    return _KEY_PATTERN.sub("***", text)


def _short(exc: Exception, limit: int = 300) -> str:
    text = str(getattr(exc, "message", "") or exc)
    text = text.replace("litellm.", "").split("\n")[0].strip()
    return redact(text[:limit])


class ContextTooLong(ProviderError):
    """The provider says the request exceeds its context window; the runtime shrinks the plan and retries."""

    title = "Context too long"


class StreamCut(ProviderError):
    title = "Stream cut"


def explain(exc: Exception, model: str, *, api_base: str | None = None) -> UserFacingError:
    litellm = get_litellm()
    where = f" at {api_base}" if api_base else ""
    detail = _short(exc)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextTooLong(f"{model} rejected the request as too long: {detail}", model=model,
                              hint="Evict or compact memory (%memory, %compact), or lower %window.")
    if isinstance(exc, litellm.AuthenticationError):
        return MissingAPIKey(f"{model}{where} rejected the API key (401)", model=model,
                             hint="Check the key in the provider's environment variable; it is never shown here.")
    if isinstance(exc, litellm.PermissionDeniedError):
        return ProviderError(f"{model}{where} denied access (403): {detail}", model=model,
                             hint="The key has no access to this model.")
    if isinstance(exc, litellm.NotFoundError):
        return ModelNotFound(f"{model}{where} was not found by the provider (404): {detail}", model=model,
                             hint="Check the model name (%models lists what is set up).")
    if isinstance(exc, litellm.RateLimitError):
        return ProviderError(f"{model}{where} is rate limited (429) and retries ran out: {detail}", model=model,
                             hint="Wait a moment and run the cell again, or switch model with %model.")
    if isinstance(exc, litellm.Timeout):
        return ProviderError(f"{model}{where} did not answer in time: {detail}", model=model,
                             hint="Run the cell again, or raise the timeout (%%prompt --timeout S).")
    if isinstance(exc, litellm.APIConnectionError):
        return ProviderError(f"could not talk to {model}{where}: {detail}", model=model,
                             hint="Check the network or the server address (--api-base), then run again.")
    if isinstance(exc, litellm.ServiceUnavailableError | litellm.InternalServerError | litellm.BadGatewayError):
        return ProviderError(f"{model}{where} had a server error and retries ran out: {detail}", model=model,
                             hint="The provider is having trouble; run again later or switch model.")
    if isinstance(exc, litellm.BadRequestError):
        return ProviderError(f"{model}{where} rejected the request (400): {detail}", model=model,
                             hint="Check the cell's options (temperature, max tokens) for this model.")
    if isinstance(exc, UserFacingError):
        return exc
    return ProviderError(f"{model}{where} failed: {type(exc).__name__}: {detail}", model=model)
