"""Errors the user sees as one clear message in the cell, never as a traceback of our internals."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message is complete advice for the user: what failed, for which model, what to do.

    IPython calls ``_render_traceback_`` instead of formatting a traceback, so the cell shows exactly the
    message (one error output, status "error"), and the kernel stays alive.
    """

    title = "Error"

    def __init__(self, message: str, *, model: str | None = None, hint: str | None = None) -> None:
        self.model = model
        self.hint = hint
        super().__init__(message)

    def render(self) -> str:
        text = f"{self.title}: {self}"
        if self.hint:
            text += f"\n{self.hint}"
        return text

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{self.render()}\x1b[0m"]


class ModelNotFound(UserFacingError):
    title = "Unknown model"


class MissingAPIKey(UserFacingError):
    title = "Missing API key"


class ProviderError(UserFacingError):
    title = "Provider error"


class BackendFailed(UserFacingError):
    """A backend raised something that is not one of our errors (a library bug, a template that rejects the
    request): the cell still ends cleanly, with the exception's type and words, and no traceback."""

    title = "Model failed"


class KeyRejected(ProviderError):
    """A key was sent and the server refused it (401): not a missing key, and the message says whose and where."""

    title = "API key rejected"


class PromptError(UserFacingError):
    title = "Prompt error"


class BadOptions(UserFacingError):
    title = "Bad options"


class CellInterrupted(UserFacingError):
    """Raised after an interrupted answer was kept (marked) so that run-all stops like it does in Python."""

    title = "Interrupted"


class ToolsUnsupported(UserFacingError):
    """Tools were asked for on a model that cannot call them."""
