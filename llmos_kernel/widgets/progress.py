"""The live progress of a --map batch: an ipywidgets bar with done / failed / remaining, tokens, cost and ETA.

Updated from the kernel's main thread only (workers never touch the comm), at most every UPDATE_INTERVAL
seconds. A saved or exported notebook without widget state shows the text summary the batch prints at the end.
"""

from __future__ import annotations

import time
from typing import Any

from IPython.display import display

from ..budget import money

UPDATE_INTERVAL = 0.25


def progress_text(counts: dict[str, int], proc: Any, elapsed: float) -> str:
    finished = counts["done"] + counts["failed"]
    left = counts["left"]
    eta = ""
    if finished and left:
        eta = f" · ETA {elapsed / finished * left:.0f} s"
    approx = "" if getattr(proc, "exact", True) else "~"
    return (f"{finished}/{counts['total']} · {counts['done']} done · {counts['failed']} failed · {left} left · "
            f"{approx}{proc.tokens_in + proc.tokens_out:,} tokens · {money(proc.cost)}{eta}")


class BatchProgress:
    def __init__(self, name: str, total: int, interval: float = UPDATE_INTERVAL) -> None:
        # Imported on first use, not with the kernel: ipywidgets registers its comm targets on import, and only
        # an import inside a running kernel registers them where a frontend's control comm finds them.
        import ipywidgets as widgets

        self.bar = widgets.IntProgress(value=0, min=0, max=total, description=f"map {name}"[:20],
                                       bar_style="info")
        self.label = widgets.Label(value=f"0/{total} · starting")
        self.widget = widgets.HBox([self.bar, self.label])
        self.interval = interval
        self._last = 0.0
        self.updates = 0
        display(self.widget)

    def update(self, counts: dict[str, int], proc: Any, elapsed: float, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.interval:
            return
        self._last = now
        self.updates += 1
        self.bar.value = counts["done"] + counts["failed"]
        self.label.value = progress_text(counts, proc, elapsed)
        if final:
            status = getattr(proc, "status", "ok")
            self.bar.bar_style = "success" if status == "ok" and not counts["failed"] else (
                "danger" if status == "error" else "warning")
