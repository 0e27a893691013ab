"""Local models are bounded: switching among GGUF models keeps at most two loaded, RSS stays flat, and --window
sets a local model's context (also through an alias)."""

from __future__ import annotations

import shutil

import pytest

from llmos_kernel.backends.llamacpp import embedded_model_path
from tests.support.kernel import KernelSession

LOADED = """%%python
rt = get_ipython().kernel.runtime
from llmos_kernel.backends.base import Unloadable
print(sum(1 for b in rt._backends.values() if isinstance(b, Unloadable) and b.loaded))
"""
RSS = "%%python\nprint([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    paths = []
    for name in ("alpha", "beta", "gamma"):  # three distinct files: nothing shared between their mappings
        path = folder / f"{name}.gguf"
        shutil.copyfile(embedded_model_path(), path)
        paths.append(path)
    return paths


def test_switching_among_three_local_models_keeps_rss_bounded(models):
    k = KernelSession()
    try:
        rss = []
        for round_ in range(10):
            for path in models:
                run = k.run(f"%model gguf:{path}")
                assert run.status == "ok", run.error_text
            loaded = int(k.run(LOADED).stdout.strip())
            assert loaded <= 2, f"round {round_}: {loaded} local models loaded"
            rss.append(int(k.run(RSS).stdout.strip()) // 1024)
        # Each copy is ~100 MB of weights plus its KV cache; holding all 30 loads would be gigabytes.
        assert max(rss[1:]) <= rss[0] + 120, rss
        k.run("%%prompt --max-tokens 4\nSay hi.")  # the backing model still answers after all that
    finally:
        k.close()


def test_window_for_a_local_model_and_through_an_alias(models):
    k = KernelSession()
    try:
        run = k.run(f"%model gguf:{models[0]} --window 2048")
        assert run.status == "ok" and "window 2,048 tokens" in run.stdout, run.all_text()
        assert k.run(f"%alias small gguf:{models[1]}").status == "ok"
        run = k.run("%model small --window 1024")
        assert run.status == "ok" and "window 1,024 tokens" in run.stdout, run.all_text()
        run = k.run("%%prompt --max-tokens 4\nSay hi.")
        assert run.status == "ok", run.error_text
        run = k.run("%model smollm2 --window 4096")
        assert run.status == "ok" and "window 4,096 tokens" in run.stdout, run.all_text()
    finally:
        k.close()
