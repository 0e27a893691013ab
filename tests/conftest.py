"""Shared fixtures: an isolated Jupyter environment with the llmos kernelspec, and real kernels."""

from __future__ import annotations

import os
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
