"""Install the `llmos` kernelspec (--user | --sys-prefix | --prefix P).

The one source of truth is ``resources/kernelspec``: the wheel ships it as data files under
``share/jupyter/kernels/llmos`` (as ipykernel does), so ``pip install`` alone puts "LLM OS" in JupyterLab's
launcher. Its argv starts with ``python``, which jupyter_client replaces with the server's own interpreter.
This command copies the same folder elsewhere and pins argv to this interpreter, so a kernelspec installed for
the user keeps launching the environment it came from.
"""

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


def kernelspec_files() -> list[str]:
    return sorted(p.name for p in resources.files("llmos_kernel").joinpath("resources", "kernelspec").iterdir()
                  if p.name != "__pycache__")


def kernel_json() -> dict:
    source = resources.files("llmos_kernel").joinpath("resources", "kernelspec", "kernel.json")
    spec = json.loads(source.read_text(encoding="utf-8"))
    spec["argv"] = [sys.executable, *spec["argv"][1:]]
    return spec


def install(user: bool = False, prefix: str | None = None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in kernelspec_files():
            with resources.as_file(resources.files("llmos_kernel") / "resources" / "kernelspec" / name) as src:
                shutil.copy(src, folder / name)
        (folder / "kernel.json").write_text(json.dumps(kernel_json(), indent=1))
        return KernelSpecManager().install_kernel_spec(str(folder), KERNEL_NAME, user=user, prefix=prefix)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llmos_kernel install", description=__doc__.splitlines()[0])
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
