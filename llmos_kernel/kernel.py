"""The Jupyter protocol only: route each cell (prompt | %%python | magics), complete, inspect, is_complete.

Subclassing IPythonKernel keeps comms/widgets, the user namespace, In/Out history and interrupts working as in
any Python kernel. A prompt cell is handed to IPython as the cell magic ``%%prompt``, so it runs through
IPython's own machinery: execution counts, history (which keeps the cell as typed), error display and
KeyboardInterrupt all behave normally. The routing is an IPython input transformer that rewrites only the cell
the frontend sent: IPython also transforms code it runs for itself (``%time``, ``%timeit``, ``%%capture``,
``%run x.ipy``, ``run_cell`` from Python), and that code is Python, never a prompt.
"""

from __future__ import annotations

import sys
from typing import Any

from ipykernel.ipkernel import IPythonKernel

from . import DISPLAY_NAME, __version__
from .cells import CELL_MAGIC, MAGIC_LINE
from .completion import complete, prompt_is_complete
from .config import load_config
from .magics import LLMOSMagics, MemoryMagics, ProgramMagics, SessionMagics
from .magics.batch import BatchMagics
from .magics.config import ConfigTrustMagics
from .magics.secrets import SecretSafeEnvMagics
from .magics.tools import ToolMagics
from .runtime import Runtime
from .widgets.magics import PanelMagics

PYTHON_MARKER = "%%python"


def load_ipykernel_debugger_without_debugpy() -> None:
    """Let ipykernel find no debugpy while it sets up its debugger, so the kernel starts without loading it.

    ipykernel 7 imports ``ipykernel.debugger`` when it builds a kernel, and that module imports debugpy and
    pydevd: about 80-100 ms of a ~400 ms start on 2 cores, more than all of llmos_kernel's own modules. This
    kernel offers no debugger (its kernelspec says ``"debugger": false``, which JupyterLab reads to hide it:
    a prompt cell is not Python to step through), so ipykernel is set up as it is where debugpy is missing:
    ``_is_debugpy_available`` is False, kernel_info lists no "debugger" feature and debug_request does nothing.
    debugpy is hidden only during that one import: ``import debugpy`` in a ``%%python`` cell still works.
    On ipykernel 6, which imports its debugger with ``ipykernel.ipkernel``, this does nothing.
    """
    if "ipykernel.debugger" in sys.modules or "debugpy" in sys.modules:
        return
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # `import debugpy` raises ImportError
    try:
        import ipykernel.debugger  # noqa: F401
    finally:
        del sys.modules["debugpy"]


def route(code: str) -> str:
    """What IPython should run for this cell."""
    stripped = code.lstrip()
    if stripped.startswith(PYTHON_MARKER) and (len(stripped) == len(PYTHON_MARKER)
                                              or stripped[len(PYTHON_MARKER)] in " \t\r\n"):
        first_break = stripped.find("\n")
        return "" if first_break < 0 else stripped[first_break + 1:]
    if CELL_MAGIC.match(code):
        return code  # %%prompt, %%system, or any IPython cell magic
    # splitlines, not split("\n"): IPython breaks lines at \x1c, \x85, \u2028 ... too, and would run the text
    # after such a break as Python.
    rest = [ln for ln in code.splitlines() if ln.strip() and not MAGIC_LINE.match(ln)]
    if code.strip() and not rest:
        return code  # only %line magics (%model x, %lsmagic, %model?): IPython runs them as usual
    return "%%prompt\n" + code


class LLMOSKernel(IPythonKernel):
    implementation = "llmos"
    implementation_version = __version__
    language_info = {
        "name": "markdown",
        "mimetype": "text/markdown",
        "file_extension": ".md",
        "pygments_lexer": "markdown",
        "codemirror_mode": "markdown",
        "version": __version__,
    }
    help_links = [
        {"text": "litellm: model names and providers", "url": "https://docs.litellm.ai/docs/providers"},
        {"text": "IPython magics", "url": "https://ipython.readthedocs.io/en/stable/interactive/magics.html"},
        {"text": "Jupyter", "url": "https://docs.jupyter.org/en/latest/"},
    ]

    def __new__(cls, *args: Any, **kwargs: Any) -> LLMOSKernel:
        # traitlets resolves ``debugger_class`` (a string naming ipykernel.debugger) while it builds the instance,
        # before __init__: the debugger module must be loaded, without debugpy, first.
        load_ipykernel_debugger_without_debugpy()
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime = Runtime(load_config())
        self._python_only = False  # set while asking IPython about plain Python (is_complete of %%python)
        self._typed_cell: str | None = None  # the cell being executed: the only code the router rewrites
        self.llmos_magics = LLMOSMagics(self.shell, self.runtime)
        self.memory_magics = MemoryMagics(self.shell, self.runtime)
        self.program_magics = ProgramMagics(self.shell, self.runtime, self.llmos_magics.namespace)
        self.panel_magics = PanelMagics(self.shell, self.runtime)
        self.memory_magics.show_panel = self.panel_magics.show  # %memory --panel
        self.shell.register_magics(self.llmos_magics, self.memory_magics, self.program_magics, self.panel_magics)
        # Restores this notebook's saved session (model, system prompt, process table; memory on first use).
        self.session_magics = SessionMagics(self.shell, self.runtime)
        self.shell.register_magics(self.session_magics)
        # %replay, %budget, %dryrun and %%prompt's --dry-run/--map; recordings live in the session's store.
        self.batch_magics = BatchMagics(self.shell, self.runtime, self.llmos_magics,
                                        lambda: self.session_magics.session.store)
        self.shell.register_magics(self.batch_magics)
        self.shell.register_magics(SecretSafeEnvMagics(self.shell))  # %env never shows a key's value
        self.shell.register_magics(ConfigTrustMagics(self.shell, self.runtime))  # %config: files in use, trust
        self.shell.register_magics(ToolMagics(self.shell, self.runtime))  # %tools, %tool, %mcp: syscalls
        self.shell.input_transformers_cleanup.insert(0, self._route_lines)
        self.shell.events.register("pre_run_cell", self._before_cell)

    @property
    def banner(self) -> str:
        return (f"{DISPLAY_NAME} {__version__}: every cell is a prompt to the backing model "
                f"({self.runtime.spec.name}); %%python runs Python; %help lists the magics.")

    def _route_lines(self, lines: list[str]) -> list[str]:
        """IPython input transformer: history keeps the cell as typed, IPython runs the routed code.

        Only the cell the frontend sent is routed. IPython calls its transformers for code it runs itself too
        (``%time y = f()`` transforms ``y = f()``), and that must stay Python.
        """
        typed = self._typed_cell
        # IPython appends a newline to a cell before transforming it.
        if self._python_only or typed is None or "".join(lines).rstrip("\n") != typed.rstrip("\n"):
            return lines
        return route("".join(lines)).splitlines(keepends=True)

    def do_shutdown(self, restart: bool) -> Any:
        # The keep-alive connections to model servers and proxies end with the kernel. The pool is looked up, not
        # imported: a kernel that never used a remote model has none, and need not import httpx to say so.
        pool = sys.modules.get("llmos_kernel.backends.pool")
        if pool is not None:
            pool.POOL.close_all()
        self.runtime.syscalls.close()  # MCP servers are child processes: they end with the kernel
        return super().do_shutdown(restart)

    def _before_cell(self, info: Any) -> None:
        self.llmos_magics.cell_id = getattr(info, "cell_id", None)

    async def do_execute(self, code: str, silent: bool, *args: Any, **kwargs: Any) -> dict:
        if not code.strip() and not silent:
            # IPython runs nothing for an empty cell; say so rather than leave the user guessing.
            print("Empty cell: nothing was sent to the model.")
        outer, self._typed_cell = self._typed_cell, code
        try:
            return await super().do_execute(code, silent, *args, **kwargs)
        finally:
            self._typed_cell = outer

    def do_complete(self, code: str, cursor_pos: int | None) -> Any:
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        if code.lstrip().startswith(PYTHON_MARKER):
            return self._complete_python(code, cursor_pos)
        return complete(self.shell, self.runtime, code, cursor_pos)

    def _complete_python(self, code: str, cursor_pos: int) -> Any:
        """Complete the Python body of a %%python cell, with offsets mapped back to the whole cell."""
        offset = code.find("\n") + 1
        if offset == 0 or cursor_pos < offset:
            return complete(self.shell, self.runtime, code, cursor_pos)
        reply = super().do_complete(code[offset:], cursor_pos - offset)
        reply["cursor_start"] += offset
        reply["cursor_end"] += offset
        return reply

    def do_is_complete(self, code: str) -> dict:
        if not code.lstrip().startswith(PYTHON_MARKER):
            return prompt_is_complete(code)
        self._python_only = True
        try:
            return super().do_is_complete(route(code))
        finally:
            self._python_only = False

    def do_history(self, hist_access_type: str, output: bool, raw: bool, *args: Any, **kwargs: Any) -> Any:
        reply = super().do_history(hist_access_type, output, raw, *args, **kwargs)
        # IPython numbers the current session 0 in range replies; clients (and jupyter_kernel_test) expect
        # the real session number that a tail reply gave them.
        current = self.shell.history_manager.session_number
        reply["history"] = [(current if entry[0] == 0 else entry[0], *entry[1:]) for entry in reply["history"]]
        return reply
