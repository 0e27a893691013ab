"""Shared fixtures: an isolated Jupyter environment with the llmos kernelspec, and real kernels."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

# Isolate every Jupyter directory before jupyter_client is used, so tests never depend on the machine's state.
_JUPYTER_HOME = Path(tempfile.mkdtemp(prefix="llmos-test-jupyter-"))
os.environ["JUPYTER_PATH"] = str(_JUPYTER_HOME / "share" / "jupyter")
os.environ["JUPYTER_DATA_DIR"] = str(_JUPYTER_HOME / "data")
os.environ["JUPYTER_CONFIG_DIR"] = str(_JUPYTER_HOME / "config")
os.environ["JUPYTER_RUNTIME_DIR"] = str(_JUPYTER_HOME / "runtime")
os.environ["IPYTHONDIR"] = str(_JUPYTER_HOME / "ipython")
os.environ["XDG_CONFIG_HOME"] = str(_JUPYTER_HOME / "xdg-config")  # a developer's own llmos config stays out
os.environ["XDG_DATA_HOME"] = str(_JUPYTER_HOME / "xdg-data")
os.environ.pop("LLMOS_CONFIG", None)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
    os.environ.pop(_key, None)  # tests decide which keys exist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmos_kernel.install import install  # noqa: E402

install(prefix=str(_JUPYTER_HOME))

from tests.support.kernel import KernelSession  # noqa: E402


@pytest.fixture
def kernel():
    session = KernelSession()
    yield session
    session.close()


@pytest.fixture(scope="module")
def shared_kernel():
    session = KernelSession()
    yield session
    session.close()


# Tiers (issue 23): every test is in exactly one, so `pytest -m unit` is the seconds-long loop of pure logic and
# the slow tiers can be run (and timed) apart. The tier comes from where a test lives and what its module starts;
# a test filed as `unit` that launches a kernel fails (see _unit_tests_start_no_kernel), so the split stays true.
TIERS = {
    "unit": "pure logic and in-process servers: no kernel process, no model weights, no browser",
    "kernel": "a real kernel process through jupyter_client or nbclient",
    "embedded": "runs the embedded SmolLM2 GGUF on llama.cpp",
    "browser": "a real JupyterLab and headless Chromium",
}
_STARTS_KERNEL = re.compile(r"KernelSession|shared_kernel|KernelManager|NotebookClient|jupyter_kernel_test"
                            r"|def test_\w*\([^)]*\bkernel\b|run_notebook|\bKernel\(|from tests\.[\w.]*_kernel import")
_EMBEDDED = re.compile(r"embedded|llamacpp|local_models|strict_template")
_module_tiers: dict[Path, str] = {}


def tier_of(path: Path) -> str:
    if path not in _module_tiers:
        if "proxy" in path.parts:
            tier = "proxy"
        elif "browser" in path.parts:
            tier = "browser"
        elif _EMBEDDED.search(path.stem):
            tier = "embedded"
        elif "kernel" in path.stem or _STARTS_KERNEL.search(path.read_text(encoding="utf-8")):
            tier = "kernel"
        else:
            tier = "unit"
        _module_tiers[path] = tier
    return _module_tiers[path]


def pytest_configure(config: pytest.Config) -> None:
    for name, text in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    # pytest-xdist registers it too; declared here so a run without xdist does not warn of an unknown mark.
    config.addinivalue_line("markers", "xdist_group(name): run in one xdist worker under --dist loadgroup")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        tier = tier_of(path)
        item.add_marker(getattr(pytest.mark, tier))
        if tier != "unit":
            # Under `pytest -n N --dist loadgroup` (make test) a module that starts kernels stays in one worker, so
            # a module-scoped kernel starts once; unit tests spread one by one (test_store.py alone is ~40% of them).
            item.add_marker(pytest.mark.xdist_group(path.stem))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that launches a kernel is in the wrong tier: say so instead of slowing the fast loop."""
    if request.node.get_closest_marker("unit") is None:
        return
    import jupyter_client.launcher
    import jupyter_client.provisioning.local_provisioner as local

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} launches a kernel: its module belongs in the kernel tier "
                             "(name it *_kernel.py)")

    monkeypatch.setattr(jupyter_client.launcher, "launch_kernel", refuse)
    monkeypatch.setattr(local, "launch_kernel", refuse)
