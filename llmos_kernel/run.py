"""Run a notebook headlessly on the llmos kernel (nbclient) and print each cell with its answer.

    python -m llmos_kernel run notebooks/quickstart.ipynb [--output OUT.ipynb] [--timeout S]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from . import KERNEL_NAME

# Terminal control sequences: CSI (ESC [ ... or the 8-bit CSI), OSC / DCS / APC / PM / SOS strings up to BEL or
# ST (a window title, a hyperlink, a clipboard write), and two-character ESC sequences.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                      r"|(?:\x1b[\]P^_X]|[\x9d\x90\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[ -~]?")
# Every other control character but newline and tab: a lone \r (which would let text overwrite the line before
# it), BEL, backspace, DEL and the C1 range, shown as a visible \xNN instead.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` that cannot drive the terminal it is printed to (issue 21): a model's answer, a notebook's cell
    source and the outputs saved in it are not ours, and an escape in them could retitle the window, clear the
    screen, hide lines or write to the clipboard. Sequences are removed (tracebacks' colours go with them);
    other control characters become visible."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def output_text(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        return "\n".join(output.get("traceback", [])) or f"{output.get('ename')}: {output.get('evalue')}"
    data = output.get("data", {})
    meta = output.get("metadata", {}).get("llmos")
    if meta is None:
        return str(data.get("text/markdown") or data.get("text/plain") or "")
    # An answer: its plain text (the Markdown is sanitized for browsers, with &lt; and the like), then a footer.
    approx = "" if meta.get("exact", True) else "~"
    footer = (f"[{meta.get('model')} · {approx}{meta.get('tokens_in')} in · {approx}{meta.get('tokens_out')} out · "
              f"{meta.get('latency_s')} s · {meta.get('status')}]")
    return f"{data.get('text/plain', '')}\n{footer}"


def _local_transport() -> Any:
    """Config for a kernel reached over Unix sockets, not TCP on loopback.

    ipykernel 7 warns that TCP "without encryption" exposes the cells, and a newcomer running `make demo` reads
    that as a problem. The kernel is a child of this process on this machine, so IPC sockets (files in Jupyter's
    runtime folder, private to the user) are the honest transport; Windows has no IPC transport and keeps TCP.
    """
    from traitlets.config import Config

    config = Config()
    if os.name == "posix":
        from jupyter_core.paths import jupyter_runtime_dir

        # The socket path must be absolute: the kernel starts in the notebook's folder, this process elsewhere.
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(runtime / f"llmos-run-{os.getpid()}")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmos_kernel run", description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--output", help="save the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(nb, timeout=args.timeout, kernel_name=KERNEL_NAME, config=_local_transport(),
                            resources={"metadata": {"path": str(Path(args.notebook).parent)}})
    failed = False
    try:
        client.execute()
    except CellExecutionError:
        failed = True
    # Bold prompts on a terminal only: piped to a file or a CI log the codes would show as "[1m".
    bold, plain = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("", "")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # The notebook's own explanations, between the cells, as a reader of the notebook sees them.
            print(f"\n{terminal_safe(cell.source).strip()}")
            continue
        if cell.cell_type != "code":
            continue
        print(f"\n{bold}In [{cell.get('execution_count') or ' '}]:{plain} {terminal_safe(cell.source)}")
        for output in cell.get("outputs", []):
            print(terminal_safe(output_text(output)).rstrip())
    ran = sum(1 for cell in nb.cells if cell.cell_type == "code" and cell.get("execution_count"))
    print(f"\n{ran} cells run on the {KERNEL_NAME} kernel" + (", stopped at an error" if failed else "")
          + (f"; the executed notebook is in {args.output}" if args.output else "") + ".")
    if args.output:
        nbformat.write(nb, args.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
