"""Install the `llmos` kernelspec (--user | --sys-prefix | --prefix P) from the one source of truth here."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from . import DISPLAY_NAME, KERNEL_NAME

LOGOS = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")


def kernel_json() -> dict:
    return {
        "argv": [sys.executable, "-m", "llmos_kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "markdown",
        "interrupt_mode": "signal",
        "env": {"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        "metadata": {"debugger": False},
    }


def install(user: bool = False, prefix: str | None = None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "kernel.json").write_text(json.dumps(kernel_json(), indent=1))
        for name in LOGOS:
            with resources.as_file(resources.files("llmos_kernel") / "resources" / name) as src:
                shutil.copy(src, folder / name)
        return KernelSpecManager().install_kernel_spec(str(folder), KERNEL_NAME, user=user, prefix=prefix)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llmos_kernel install", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="install into sys.prefix (e.g. a venv)")
    where.add_argument("--prefix", help="install under this prefix")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    if not (args.user or prefix):
        args.user = True  # like `ipython kernel install`, default to the user's folder
    path = install(user=args.user, prefix=prefix)
    print(f"Installed kernelspec {KERNEL_NAME} ({DISPLAY_NAME}) in {path}")


if __name__ == "__main__":
    main()
