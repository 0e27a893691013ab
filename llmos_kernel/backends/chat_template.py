"""Fit chat messages to what a GGUF's chat template accepts.

Many chat templates are strict: Gemma's and Mistral's raise "Conversation roles must alternate
user/assistant/user/assistant/..." on two user messages in a row, and several have no system role (they raise, or
drop the message silently). Memory sends exactly such requests: a system prompt, then pinned documents, recalled
pages and summaries as user messages before the prompt. So the template is probed once, at load, with tiny
messages, and every request is reshaped the way the template can render it:

- no system role: the system text is folded into the first user message;
- no two messages of one role in a row: consecutive same-role messages are merged into one.

Merged contents are joined with a blank line. The backend tokenizes what it actually sends, so reported counts
stay exact; memory's own count of the unmerged messages is then a few tokens high per merged message (the
template's wrapping of a message costs more than a blank line), which errs on the safe side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SEPARATOR = "\n\n"
# Probe contents that cannot occur in a template's own text, so "the template dropped it" is detectable.
_MARKS = ("llmos-probe-0", "llmos-probe-1")


@dataclass(frozen=True)
class TemplateFit:
    """What one chat template accepts. ``system``: it renders a system message; ``runs``: it renders two
    messages of one role in a row."""

    system: bool = True
    runs: bool = True

    def apply(self, messages: list[dict]) -> list[dict]:
        """The messages reshaped for the template (unchanged, as the same list, when it accepts them as they are)."""
        if self.system and self.runs:
            return messages
        fitted: list[dict] = []
        pending_system: list[str] = []
        for message in messages:
            role, content = message["role"], str(message.get("content") or "")
            if role == "system" and not self.system:
                pending_system.append(content)  # folded into the next user message
                continue
            if role == "user" and pending_system:
                content = SEPARATOR.join([*pending_system, content])
                pending_system = []
            if fitted and fitted[-1]["role"] == role and not self.runs:
                fitted[-1] = {"role": role, "content": fitted[-1]["content"] + SEPARATOR + content}
            else:
                fitted.append({"role": role, "content": content})
        if pending_system:  # no user message followed: the system text becomes one
            fitted.append({"role": "user", "content": SEPARATOR.join(pending_system)})
        return fitted

    def changes(self) -> list[str]:
        """How requests are reshaped for this template, as short phrases (none when they are sent as they are)."""
        parts = []
        if not self.system:
            parts.append("it has no system role, so the system prompt is folded into the first user message")
        if not self.runs:
            parts.append("it requires alternating roles, so consecutive messages of one role are merged")
        return parts

    def notes(self, label: str) -> list[str]:
        """What the user should know, once."""
        return [f"the chat template of {label}: " + "; ".join(self.changes())] if self.changes() else []


def probe(render: Callable[[list[dict]], str]) -> TemplateFit:
    """Find what the template accepts by rendering two tiny conversations with it."""
    first, second = _MARKS
    system = _renders(render, [{"role": "system", "content": first}, {"role": "user", "content": second}])
    runs = _renders(render, [{"role": "user", "content": first}, {"role": "user", "content": second}])
    return TemplateFit(system=system, runs=runs)


def _renders(render: Callable[[list[dict]], str], messages: list[dict]) -> bool:
    """True when the template renders every message's content (it neither raised nor dropped one)."""
    try:
        text = render(messages)
    except Exception:  # raise_exception() in the template (ValueError), or a Jinja error: not accepted
        return False
    return all(str(m["content"]) in text for m in messages)
