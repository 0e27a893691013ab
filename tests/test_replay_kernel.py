"""Replay through real kernels on the loopback server: a rerun sends nothing and shows the same answers; 'only'
fails clearly on a changed prompt; recordings travel as a file into a fresh kernel with another store."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.kernel import KernelSession, Run
from tests.support.openai_server import OpenAIServer
from tests.test_prompt_programs import server  # noqa: F401 - the loopback server, one per test module


def kernel_on(server: OpenAIServer, store: Path, **env: str) -> KernelSession:
    session = KernelSession(env={**os.environ, "LLMOS_STORE": str(store), **env})
    run = session.run(f"%alias fast openai/fast --api-base {server.url} --window 16000\n%model fast")
    assert run.status == "ok", run.error_text
    return session


def answer(run: Run) -> tuple[str, dict]:
    assert run.status == "ok", run.error_text
    final = run.final_display()
    assert final is not None
    return final["data"]["text/plain"], final["metadata"]["llmos"]


TAG = uuid.uuid4().hex[:8]  # prompts of this module only: the digest is content, and stores may be shared
CELLS = [("c1", f"Name a prime number ({TAG})."), ("c2", f"And one more, larger ({TAG}).")]


@pytest.fixture(scope="module")
def recorded(server, tmp_path_factory):
    """A first kernel records two cells (replay on: nothing recorded yet, so both are sent)."""
    store = tmp_path_factory.mktemp("replay") / "store.db"
    k = kernel_on(server, store)
    assert k.run("%replay on").status == "ok"
    before = server.attempts
    outputs = []
    for cell_id, text in CELLS:
        server.queue_reply(f"answer to {cell_id}")
        outputs.append(answer(k.run(text, cell_id=cell_id)))
    assert server.attempts == before + 2
    export = store.parent / "recordings.jsonl"
    run = k.run(f"%replay export {export}")
    assert run.status == "ok" and "exported 2 recordings" in run.stdout, run.all_text()
    k.close()
    return store, export, outputs


def test_every_answer_carries_its_digest(recorded):
    _, _, outputs = recorded
    digests = [meta["digest"] for _, meta in outputs]
    assert all(len(d) == 64 for d in digests) and len(set(digests)) == 2
    assert not any(meta.get("replayed") for _, meta in outputs)


def test_a_rerun_with_replay_on_sends_nothing_and_gives_the_same_outputs(server, recorded):
    store, _, outputs = recorded
    k = kernel_on(server, store)
    try:
        assert k.run("%replay on").status == "ok"
        before = server.attempts
        runs = [k.run(text, cell_id=cell_id) for cell_id, text in CELLS]
        assert server.attempts == before  # the loopback server saw nothing
        again = [answer(run) for run in runs]
        assert [text for text, _ in again] == [text for text, _ in outputs]
        assert [meta["digest"] for _, meta in again] == [meta["digest"] for _, meta in outputs]
        assert all(meta["replayed"] and meta["cost_usd"] == 0 for _, meta in again)
        footer = runs[0].final_display()["data"]["text/markdown"]
        assert "replayed" in footer
        ps = k.run("%ps").stdout
        assert ps.count("fast") >= 2 and "ok" in ps
    finally:
        k.close()


def test_only_fails_clearly_on_a_changed_prompt(server, recorded):
    store, _, _ = recorded
    k = kernel_on(server, store)
    try:
        assert k.run("%replay only").status == "ok"
        before = server.attempts
        answer(k.run(CELLS[0][1], cell_id=CELLS[0][0]))  # unchanged: replays
        run = k.run(CELLS[1][1] + " Please.", cell_id=CELLS[1][0])
        assert run.status == "error" and len(run.errors) == 1
        assert "Not recorded" in run.error_text and "Nothing was sent" in run.error_text
        assert "Traceback" not in run.error_text
        assert server.attempts == before
        assert "%replay import" in run.error_text  # what to do about it
    finally:
        k.close()


def test_export_import_round_trips_into_a_fresh_kernel(server, recorded, tmp_path):
    _, export, outputs = recorded
    k = kernel_on(server, tmp_path / "other-store.db", LLMOS_REPLAY="only")  # CI mode from the environment
    try:
        assert "replay: only" in k.run("%replay").stdout
        run = k.run(f"%replay import {export}")
        assert run.status == "ok" and "imported 2 recordings" in run.stdout, run.all_text()
        before = server.attempts
        again = [answer(k.run(text, cell_id=cell_id)) for cell_id, text in CELLS]
        assert server.attempts == before
        assert [text for text, _ in again] == [text for text, _ in outputs]
    finally:
        k.close()


def test_a_bad_recordings_file_is_one_clear_error(server, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "llmos-recording", "digest": "x", "model": "m", "answer": "a"}\nnot json\n')
    k = kernel_on(server, tmp_path / "store.db")
    try:
        run = k.run(f"%replay import {bad}")
        assert run.status == "error" and "line 2" in run.error_text and "Traceback" not in run.error_text
        assert k.run(f"%replay export {tmp_path / 'out.jsonl'}").stdout.startswith("exported 0 recordings")
        run = k.run("%replay sometimes")
        assert run.status == "error" and "Usage: %replay" in run.error_text
    finally:
        k.close()
