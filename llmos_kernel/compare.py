"""%%compare: one prompt on several models, side by side, each with its tokens, latency and cost."""

from __future__ import annotations

import time

from .errors import PromptError, UserFacingError
from .render import CompareDisplay, Footer
from .runtime import BarePlan, Process, PromptOptions, Runtime


def run_compare(runtime: Runtime, prompt: str, models: list[str], options: PromptOptions) -> list[Process]:
    """The current memory is the context for every model; nothing is committed to it."""
    if not prompt.strip():
        raise PromptError("the cell is empty: nothing to compare", hint="Put the prompt under %%compare M1 M2.")
    backends = [runtime.backend_for(runtime.resolve(m)) for m in models]  # unknown models fail before any call
    messages = runtime._plan(prompt, options).messages
    params = runtime.params(options)
    view = CompareDisplay([b.name for b in backends])
    view.update(force=True)
    rows: list[Process] = []
    for backend, column in zip(backends, view.columns, strict=True):
        proc = Process(None, None, backend.name)
        rows.append(proc)
        runtime.processes.append(proc)
        started = time.monotonic()
        usage = None
        try:
            if hasattr(backend, "check_key"):
                backend.check_key()
            for delta in backend.stream(messages, params):
                column.text += delta.text
                usage = delta.usage or usage
                view.update()
            proc.status = "ok"
        except UserFacingError as exc:  # one model failing must not hide the others' answers
            column.error, proc.status = exc.render(), "error"
        proc.latency = time.monotonic() - started
        if proc.status == "ok":
            runtime._account(proc, backend, usage, BarePlan(messages), "ok", column.text)
        column.footer = Footer(backend.name, proc.tokens_in, proc.tokens_out, proc.latency, proc.cost,
                               proc.exact, proc.status).text()
        view.update(force=True)
    meta = [{"model": p.model, "status": p.status, "tokens_in": p.tokens_in, "tokens_out": p.tokens_out,
             "latency_s": round(p.latency, 3), "cost_usd": p.cost} for p in rows]
    view.update(force=True, metadata={"llmos": {"compare": meta}})
    return rows
