"""Receiving a widget's click while the cell that showed it is still running.

A busy kernel reads no shell messages, and a button's click is a comm message on the shell channel. Two
kernels, two ways:
- ipykernel 7 runs a shell-channel thread that routes each comm message to the subshell its comm replies to
  (``_reply_subshell_id``, the mechanism ipykernel added for widgets used from subshells). The approval
  widget's comms are pointed at a subshell of our own, whose thread handles the click while the main thread
  waits. Subshells are part of the kernel protocol since ipykernel 7 (JEP 91).
- ipykernel 6 has no subshells; jupyter-ui-poll (a small maintained library for exactly this) runs the
  kernel's ``do_one_iteration`` while the cell waits, and holds back execute requests until it is done.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

_subshell: str | None = None


def _kernel() -> Any:
    from ipykernel.kernelbase import Kernel

    return Kernel.instance() if Kernel.initialized() else None


def _our_subshell(kernel: Any) -> str | None:
    """A subshell thread for widget replies, created once (on the shell-channel thread, as ipykernel asks)."""
    global _subshell
    thread = getattr(kernel, "shell_channel_thread", None)
    if thread is None or not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    if _subshell is None:
        made: queue.Queue[str | BaseException] = queue.Queue()

        def create() -> None:
            try:
                made.put(thread.manager._create_subshell())
            except BaseException as exc:  # reported to the waiting thread
                made.put(exc)

        thread.io_loop.add_callback(create)
        result = made.get(timeout=10)
        if isinstance(result, BaseException):
            raise result
        _subshell = result
    return _subshell


def route_to_subshell(widgets: list[Any]) -> bool:
    """Point these widgets' comms at our subshell; False when the kernel has no subshells (ipykernel 6)."""
    kernel = _kernel()
    subshell = _our_subshell(kernel) if kernel is not None else None
    if subshell is None:
        return False
    for widget in widgets:
        comm = getattr(widget, "comm", None)
        if comm is not None:
            comm._reply_subshell_id = subshell
    return True


@contextlib.contextmanager
def waiting(routed: bool) -> Iterator[Callable[[], None]]:
    """A ``poll()`` to call in the wait loop: a short sleep when the subshell handles clicks, else
    jupyter-ui-poll's processing of pending UI events."""
    if routed:
        yield lambda: time.sleep(0.05)
        return
    from jupyter_ui_poll import ui_events

    with ui_events() as poll:
        def step() -> None:
            poll(20)
            time.sleep(0.05)

        yield step
