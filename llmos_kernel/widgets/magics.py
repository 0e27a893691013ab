"""%panel: the live memory-map panel and model switcher as a magic (registered by the kernel)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from ..errors import UserFacingError


@magics_class
class PanelMagics(Magics):
    def __init__(self, shell: Any, runtime: Any) -> None:
        super().__init__(shell)
        self.runtime = runtime

    @line_magic
    def panel(self, line: str) -> None:
        """%panel - show the live memory-map panel and model switcher

        The panel follows the context window as cells run: the map by segment kind, free and reserved space,
        session spend, one row per segment with pin/unpin, evict, recall and forget, and a model dropdown.
        Showing it again shows the same panel once more; every copy stays in sync.
        """
        if line.strip():
            raise UserFacingError(f"%panel takes no arguments (got {line.strip()!r})", hint="Usage: %panel")
        self.show()

    def show(self) -> None:
        """Display the panel: what %panel does, and what the kernel hands to %memory --panel."""
        # Imported here so the kernel starts without loading ipywidgets until a panel is wanted.
        from .panel import show_panel

        show_panel(self.runtime)
