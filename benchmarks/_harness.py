"""Shared pieces of the benchmarks: an isolated Jupyter environment, a timed kernel driver, the loopback
OpenAI-compatible server as a subprocess, resident memory, statistics and the results table.

Every figure is a ratio against a baseline measured in the same run (interleaved where possible), as a median
over repeats: the machine is shared, so absolute times drift but ratios taken side by side hold.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zmq

REPO = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = REPO / "tests" / "support" / "openai_server.py"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # a checkout that is not pip-installed still benchmarks its own code


def log(text: str) -> None:
    """Progress goes to stderr, so `--json` output and the table on stdout stay clean."""
    print(f"  {text}", file=sys.stderr, flush=True)


# -- results ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table: a figure against its baseline, the ratio, and the goal the ratio must meet.

    ``ratio`` is computed by the benchmark and says what it divides (``ratio_of``), e.g. kernel/baseline for a
    time, or baseline/kernel for a speed-up. ``goal`` is ``("<=", 1.3)``, ``(">=", 100)`` or None (reported only).
    """

    section: str
    name: str
    figure: float
    baseline: float
    unit: str
    baseline_name: str
    ratio: float
    ratio_of: str
    goal: tuple[str, float] | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.goal is None:
            return "info"
        op, value = self.goal
        ok = self.ratio <= value if op == "<=" else self.ratio >= value
        return "PASS" if ok else "MISS"

    def goal_text(self) -> str:
        if self.goal is None:
            return "-"
        op, value = self.goal
        return f"{'≤' if op == '<=' else '≥'} {value:g}x"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["goal"] = list(self.goal) if self.goal else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        data = dict(data)
        data["goal"] = tuple(data["goal"]) if data.get("goal") else None
        return cls(**data)


def ratio_result(
    section: str,
    name: str,
    figure: list[float],
    baseline: list[float],
    unit: str,
    baseline_name: str,
    goal: tuple[str, float] | None,
    *,
    invert: bool = False,
    note: str = "",
    ratio_of: str | None = None,
) -> Result:
    """Medians of both sample lists; ratio = figure/baseline (or baseline/figure with ``invert``)."""
    f, b = median(figure), median(baseline)
    ratio = (b / f if f else float("inf")) if invert else (f / b if b else float("inf"))
    return Result(
        section, name, f, b, unit, baseline_name, ratio,
        ratio_of or ("baseline/kernel" if invert else "kernel/baseline"), goal, note,
        {"figure": [round(x, 6) for x in figure], "baseline": [round(x, 6) for x in baseline]},
    )


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.2f} s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(results: list[Result], markdown: bool = False) -> str:
    head = ["benchmark", "figure", "baseline", "ratio", "goal", "result"]
    rows = [
        [
            f"{r.section}: {r.name}",
            fmt(r.figure, r.unit),
            f"{fmt(r.baseline, r.unit)} ({r.baseline_name})",
            f"{r.ratio:.3g}x ({r.ratio_of})",
            r.goal_text(),
            r.status,
        ]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        notes = [f"- **{r.section}: {r.name}**: {r.note}" for r in results if r.note]
        return "\n".join(lines + ([""] + notes if notes else []))
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    out += [f"  note ({r.section}: {r.name}): {r.note}" for r in results if r.note]
    return "\n".join(out)


def main(run: Callable[[bool], list[Result]], description: str) -> None:
    """The command line of every benchmark script: `--quick` for fewer repeats, `--json PATH` for run_all."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here (used by run_all.py)")
    args = parser.parse_args()
    results = run(args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in results], indent=1))
    print(table(results))


# -- an isolated Jupyter environment ------------------------------------------------------------------------

_ENV: dict[str, str] | None = None


def jupyter_env() -> dict[str, str]:
    """Point every Jupyter directory at a temporary folder holding both kernelspecs (llmos and python3).

    Like tests/conftest.py: the benchmark never depends on what is installed on the machine, and both kernels
    are launched the same way (kernelspec -> jupyter_client -> `python -m ...`).
    """
    global _ENV
    if _ENV is not None:
        return _ENV
    home = Path(tempfile.mkdtemp(prefix="llmos-bench-jupyter-"))
    if not os.environ.get("LLMOS_BENCH_KEEP"):  # set it to keep the kernels' logs and the session store
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    env = {
        "JUPYTER_PATH": str(home / "share" / "jupyter"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    os.environ.update(env)
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        os.environ.pop(key, None)
    from ipykernel.kernelspec import install as install_ipykernel

    from llmos_kernel.install import install as install_llmos

    install_llmos(prefix=str(home))
    install_ipykernel(prefix=str(home))
    compile_llmos()
    (home / "cwd").mkdir()
    env["HOME_DIR"] = str(home)
    _ENV = env
    return env


def compile_llmos() -> None:
    """Byte-compile llmos_kernel, as `pip install` does for ipykernel and every other installed package.

    A checkout installed in editable mode has no .pyc files until Python writes them on first import, and with
    PYTHONDONTWRITEBYTECODE set (as in some CI and sandboxed shells) it never does: every launch of the llmos
    kernel would then compile its ~70 modules from source (about 85 ms on 2 cores) while the baseline kernel loads
    bytecode, and start-up figures would measure the shell, not the kernel.
    """
    import compileall

    import llmos_kernel

    compileall.compile_dir(str(Path(llmos_kernel.__file__).parent), quiet=1)


def work_dir() -> Path:
    """An empty folder for kernels' cwd: no llmos.toml or notebook files of the machine get picked up."""
    return Path(jupyter_env()["HOME_DIR"]) / "cwd"


# -- a kernel, timed ---------------------------------------------------------------------------------------


@dataclass
class Execution:
    elapsed: float  # send -> both the execute_reply and the idle status received
    reply: dict[str, Any]
    messages: list[dict[str, Any]]

    @property
    def status(self) -> str:
        return str(self.reply["content"]["status"])

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    def text(self) -> str:
        parts = []
        for m in self.messages:
            content = m["content"]
            if m["msg_type"] == "stream":
                parts.append(content["text"])
            elif m["msg_type"] == "error":
                parts.append("\n".join(content.get("traceback") or [content.get("evalue", "")]))
            elif "data" in content:
                parts.append(str(content["data"].get("text/plain", "")))
        return "\n".join(parts)

    def llmos(self) -> dict[str, Any]:
        """The metadata of the finished answer (the last display carrying `llmos` metadata)."""
        for m in reversed(self.of_type("display_data", "update_display_data")):
            meta = m["content"].get("metadata", {}).get("llmos")
            if meta:
                return dict(meta)
        raise RuntimeError(f"no finished answer in the cell's output:\n{self.text()[:2000]}")

    def check(self) -> Execution:
        """The execution itself, after making sure the cell succeeded."""
        if self.status != "ok":
            raise RuntimeError(f"cell failed: {self.text()[:3000]}")
        return self


class Kernel:
    """A kernel launched from its kernelspec by jupyter_client, as a notebook server does, with timings."""

    def __init__(self, name: str) -> None:
        from jupyter_client.manager import KernelManager

        env = dict(os.environ)
        env.update({k: v for k, v in jupyter_env().items() if k != "HOME_DIR"})
        self.name = name
        self.km = KernelManager(kernel_name=name)
        self.launched = time.perf_counter()
        # The kernel's own stderr (ipykernel's warnings, a crash's traceback) goes to a log, not the table.
        self.log_path = Path(jupyter_env()["HOME_DIR"]) / f"kernel-{name}-{uuid.uuid4().hex[:8]}.log"
        self._log = self.log_path.open("w")
        self.km.start_kernel(env=env, cwd=str(work_dir()), stdout=self._log, stderr=self._log)
        self.kc = self.km.client()
        # The client connects before the kernel listens, and ZMQ retries a refused connection every
        # RECONNECT_IVL (100 ms by default): the first reply would then arrive on that timer's tick, adding 0-100 ms
        # of jitter to a ~300 ms start-up figure. Retrying every 5 ms measures the kernel, not the timer.
        self.kc.context.setsockopt(zmq.RECONNECT_IVL, 5)
        self.kc.start_channels()
        self.ready_after = self._first_kernel_info()
        self._wait_for_iopub()

    def _first_kernel_info(self, timeout: float = 120) -> float:
        """Seconds from launch to the first kernel_info reply (the request waits in ZMQ until the kernel binds)."""
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                return time.perf_counter() - self.launched

    def _wait_for_iopub(self, timeout: float = 30) -> None:
        wait_for_iopub(self.kc, timeout)

    @property
    def pid(self) -> int:
        return int(self.km.provisioner.pid)  # type: ignore[union-attr]

    def execute(self, code: str, cell_id: str | None = None, timeout: float = 600) -> Execution:
        """Run a cell; returns when its execute_reply and its idle status have both arrived."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content)
        msg["metadata"]["cellId"] = cell_id or uuid.uuid4().hex  # what JupyterLab sends
        msg_id = msg["header"]["msg_id"]
        shell, iopub = self.kc.shell_channel, self.kc.iopub_channel
        poller = zmq.Poller()
        poller.register(shell.socket, zmq.POLLIN)
        poller.register(iopub.socket, zmq.POLLIN)
        start = time.perf_counter()
        shell.send(msg)
        reply: dict[str, Any] | None = None
        idle = False
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            # zmq's poller wakes on whichever channel has a message, so the end time is taken when it arrives.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish within {timeout} s: {code[:80]!r}")
            ready = dict(poller.poll(remaining * 1000))
            if iopub.socket in ready:
                while iopub.msg_ready():
                    m = iopub.get_msg(timeout=0)
                    if m["parent_header"].get("msg_id") != msg_id:
                        continue
                    if m["msg_type"] == "status":
                        idle = idle or m["content"]["execution_state"] == "idle"
                    else:
                        messages.append(m)
            if shell.socket in ready:
                while shell.msg_ready():
                    m = shell.get_msg(timeout=0)
                    if m["parent_header"].get("msg_id") == msg_id:
                        reply = m
        return Execution(time.perf_counter() - start, reply, messages)

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)
            self._log.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB: psutil if installed, else /proc/PID/status (VmRSS)."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- the loopback OpenAI-compatible server -----------------------------------------------------------------


class Server:
    """tests/support/openai_server.py as a subprocess (its own process, so its work does not share our GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()  # the first line is the base URL
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"the test server did not start (said {self.url!r})")
        self.root = self.url.rsplit("/v1", 1)[0]

    def control(self, **command: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            self.root + "/_control", data=json.dumps(command).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def queue_bulk(self, n_chunks: int) -> None:
        """The next chat request streams `n_chunks` content chunks as fast as the server can write them."""
        self.control(queue_reply={"n_chunks": n_chunks})

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Worker:
    """A plain Python process (no kernel) running one of the baseline functions of a benchmark on request.

    The worker imports `module` from benchmarks/ and, for each JSON line on stdin {"fn": NAME, "kw": {...}},
    calls module.NAME(**kw) and answers with one JSON line. Kept alive, so baselines interleave with the kernel.
    """

    def __init__(self, module: str, setup: str | None = None, **setup_kw: Any) -> None:
        code = (
            "import json, sys; sys.path.insert(0, sys.argv[1]); import importlib;"
            "m = importlib.import_module(sys.argv[2]);"
            "[print(json.dumps(getattr(m, r['fn'])(**r['kw'])), flush=True)"
            " for r in map(json.loads, sys.stdin)]"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(Path(__file__).parent), module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **{k: v for k, v in jupyter_env().items() if k != "HOME_DIR"}},
        )
        if setup:
            self.call(setup, **setup_kw)

    def call(self, fn: str, **kw: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"fn": fn, "kw": kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"baseline worker died during {fn}")
        return json.loads(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_iopub(kc: Any, timeout: float = 30) -> None:
    """Make sure a client's iopub subscription is live before running cells (ZMQ's slow joiner): a fast cell's
    idle status would otherwise be lost. Each kernel_info request publishes a status on iopub."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kc.kernel_info()
        try:
            kc.get_iopub_msg(timeout=0.05)
        except Exception:  # queue.Empty: not subscribed yet
            continue
        break
    time.sleep(0.05)
    while kc.iopub_channel.msg_ready() or kc.shell_channel.msg_ready():
        (kc.iopub_channel if kc.iopub_channel.msg_ready() else kc.shell_channel).get_msg(0)
