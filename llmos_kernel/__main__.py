"""`python -m llmos_kernel` launches the kernel.

`python -m llmos_kernel install [--user | --sys-prefix | --prefix P]` installs its kernelspec;
`python -m llmos_kernel run NOTEBOOK` executes a notebook headlessly and prints each cell with its answer.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["install"]:
        from .install import main as install_main

        install_main(argv[1:])
        return
    if argv[:1] == ["run"]:
        from .run import main as run_main

        sys.exit(run_main(argv[1:]))
    from ipykernel.kernelapp import IPKernelApp

    from .kernel import LLMOSKernel

    IPKernelApp.launch_instance(argv=argv, kernel_class=LLMOSKernel)


if __name__ == "__main__":
    main()
