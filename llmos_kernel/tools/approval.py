"""Asking the user about one tool call: an ipywidgets prompt in the cell, else stdin, else a headless denial.

The cell is busy while it waits, and a busy kernel does not read widget messages: busy_comms.py says how the
click gets through anyway (an ipykernel 7 subshell, or jupyter-ui-poll on ipykernel 6).

Which one asks (``%tools approval auto|widget|stdin``): ``auto`` uses the widget when the frontend has shown
it renders widgets (it opened ipywidgets' control channel), else ``input()`` (an ``input_request`` that
JupyterLab, Notebook 7 and VS Code show as a text box), and a run without stdin (nbclient, papermill) denies,
saying so.

Every way of asking shows exactly what will run (shown.py): all of the arguments, never cut (a scrollable box in
the widget), never pattern-redacted; only known secret values are masked, and a note says so next to them. The
sha256 of the exact arguments is shown too, and recorded in the step, %ps and the output metadata.
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass
from typing import Any

from . import busy_comms
from .shown import digest, mask_known, secrets_note, shown_arguments

CHOICES = {"once": "allow once", "cell": "allow for this cell", "always": "always allow this tool",
           "deny": "deny"}
STDIN_KEYS = {"y": "once", "yes": "once", "c": "cell", "a": "always", "always": "always", "n": "deny",
              "no": "deny", "": "deny"}


@dataclass(frozen=True)
class Request:
    tool: str  # the path the user knows (python, fs.read_file, mcp.github.search)
    arguments: str  # exactly as the model wrote them and as the tool gets them
    reason: str  # why it asks: the rule, or the taint

    @property
    def sha256(self) -> str:
        return digest(self.arguments)

    def shown(self) -> tuple[str, str]:
        """All of the arguments as the prompt shows them, and the note saying known secret values are masked."""
        masked = mask_known(self.arguments)
        return shown_arguments(masked.text), secrets_note(masked.secrets)


@dataclass(frozen=True)
class Answer:
    choice: str  # once | cell | always | deny
    by: str  # widget | stdin | headless


def watch_widget_frontend() -> None:
    """Let a frontend's widget manager connect without importing ipywidgets at start-up (about 0.1 s): these
    targets import it on the first widget message and hand over (ipywidgets then registers its own)."""
    import comm

    def control(channel: Any, msg: dict) -> None:
        import ipywidgets

        ipywidgets.Widget.handle_control_comm_opened(channel, msg)

    def widget(channel: Any, msg: dict) -> None:
        import ipywidgets

        ipywidgets.Widget.handle_comm_opened(channel, msg)

    manager = comm.get_comm_manager()
    if "ipywidgets" not in __import__("sys").modules and manager is not None:
        manager.register_target("jupyter.widget.control", control)
        manager.register_target("jupyter.widget", widget)


def frontend_renders_widgets() -> bool:
    """True once a frontend opened ipywidgets' control comm (JupyterLab, Notebook 7 and VS Code do)."""
    import sys

    widgets = sys.modules.get("ipywidgets")
    return bool(widgets is not None and getattr(widgets.Widget, "_control_comm", None) is not None)


class Approver:
    def __init__(self) -> None:
        self.mode = "auto"

    def ask(self, request: Request) -> Answer:
        mode = self.mode
        if mode == "auto":
            mode = "widget" if frontend_renders_widgets() else "stdin"
        if mode == "widget":
            return Answer(ask_widget(request), "widget")
        return ask_stdin(request)


def ask_stdin(request: Request) -> Answer:
    from IPython.core.error import StdinNotImplementedError

    shown, note = request.shown()
    # The whole text, on lines of its own between rulers, so a long or multi-line argument reads as it runs.
    question = (f"Allow {request.tool}? [{request.reason}]\n"
                f"arguments (all of them; sha256 {request.sha256}):\n"
                + (f"{note}\n" if note else "")
                + f"{'-' * 40}\n{shown}\n{'-' * 40}\n"
                "y = once, c = this cell, a = always, n = deny: ")
    try:
        reply = input(question)
    except StdinNotImplementedError:
        return Answer("deny", "headless")
    return Answer(STDIN_KEYS.get(reply.strip().lower(), "deny"), "stdin")


def ask_widget(request: Request) -> str:
    """Show the approval widget in the cell and wait for a click (the frontend's comm message)."""
    import ipywidgets as widgets
    from IPython.display import display

    shown, note = request.shown()
    warning = f"<div style='color:#b00020;font-weight:bold'>{html.escape(note)}</div>" if note else ""
    # All of the arguments, in a box that scrolls: never cut, so what is approved is what runs.
    header = widgets.HTML(
        f"<b>Allow the model to call <code>{html.escape(request.tool)}</code>?</b> "
        f"<span style='color:#777'>({html.escape(request.reason)})</span>{warning}"
        f"<pre class='llmos-approval-arguments' style='white-space:pre-wrap;max-height:24em;overflow:auto;"
        f"margin:4px 0'>{html.escape(shown)}</pre>"
        f"<div style='color:#777;font-size:smaller'>sha256 of the arguments: <code>{request.sha256}</code></div>")
    chosen: dict[str, str] = {}
    buttons = []
    for key, label in CHOICES.items():
        button = widgets.Button(description=label, button_style="danger" if key == "deny" else "",
                                layout=widgets.Layout(width="auto"))
        button.on_click(lambda _b, key=key: chosen.setdefault("choice", key))
        buttons.append(button)
    box = widgets.VBox([header, widgets.HBox(buttons)])
    box.add_class("llmos-approval")
    routed = busy_comms.route_to_subshell(buttons)
    display(box)
    try:
        with busy_comms.waiting(routed) as poll:
            while "choice" not in chosen:
                poll()
    finally:
        # The question is answered (or interrupted): the widget becomes a line saying what was decided.
        outcome = CHOICES.get(chosen.get("choice", ""), "no answer (interrupted)")
        header.value = (f"<code>{html.escape(request.tool)}</code>: <b>{html.escape(outcome)}</b>")
        for button in buttons:
            button.disabled = True
        _close_quietly(buttons)
    return chosen["choice"]


def _close_quietly(items: list[Any]) -> None:
    for item in items:
        with contextlib.suppress(Exception):  # a view that is gone already: nothing to hide
            item.layout.display = "none"
