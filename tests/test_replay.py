"""Replay's pure parts: what the digest covers, the recordings table and its file format, the modes."""

from __future__ import annotations

import json

import pytest

from llmos_kernel.backends.base import CallParams
from llmos_kernel.replay import (
    BadRecordings,
    Recording,
    Recordings,
    ReplayBook,
    ReplayedBackend,
    ReplayMissing,
    initial_mode,
)
from llmos_kernel.sending import Admission, Request, request_digest
from llmos_kernel.store import Store

MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]


def test_the_digest_covers_model_parameters_extra_and_messages_but_not_the_timeout():
    base = request_digest("m", MESSAGES, CallParams(temperature=0, max_tokens=10))
    assert base == request_digest("m", [dict(m) for m in MESSAGES], CallParams(temperature=0, max_tokens=10))
    assert base == request_digest("m", MESSAGES, CallParams(temperature=0, max_tokens=10, timeout=5))
    changed = [
        request_digest("other", MESSAGES, CallParams(temperature=0, max_tokens=10)),
        request_digest("m", MESSAGES, CallParams(temperature=0.5, max_tokens=10)),
        request_digest("m", MESSAGES, CallParams(temperature=0, max_tokens=11)),
        request_digest("m", MESSAGES, CallParams(temperature=0, max_tokens=10, extra={"tools": [{"name": "f"}]})),
        request_digest("m", [*MESSAGES[:1], {"role": "user", "content": "Hi!"}], CallParams(0, 10)),
        request_digest("m", MESSAGES[1:], CallParams(temperature=0, max_tokens=10)),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def recording(digest: str = "d1", answer: str = "an answer") -> Recording:
    return Recording(digest, "m", "Hi", answer, tokens_in=12, tokens_out=3, finish_reason="stop", created=1.0)


def test_recordings_round_trip_through_a_file(tmp_path):
    first = Recordings(lambda: Store(tmp_path / "a.db"))
    first.put(recording("d1"))
    first.put(recording("d2", "another"))
    first.put(recording("d1", "replaced"))  # one recording per digest: the newest
    path = tmp_path / "rec.jsonl"
    assert first.export(path) == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["kind"] for line in lines} == {"llmos-recording"}
    second = Recordings(lambda: None)  # no session store: an in-memory one
    assert second.import_file(path) == 2
    assert second.get("d1") == recording("d1", "replaced") and second.get("missing") is None


def test_a_bad_file_imports_nothing(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"kind": "llmos-recording", "digest": "d", "model": "m", "answer": "a"})
    path.write_text(good + "\n" + json.dumps({"kind": "llmos-recording", "digest": 3}) + "\n")
    records = Recordings(lambda: None)
    with pytest.raises(BadRecordings, match="line 2"):
        records.import_file(path)
    assert records.all() == []
    with pytest.raises(BadRecordings, match="could not read"):
        records.import_file(tmp_path / "absent.jsonl")


def test_secrets_never_reach_a_recording(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIT_API_KEY", "sk-unit-very-secret-1234")
    records = Recordings(lambda: Store(tmp_path / "s.db"))
    records.put(recording("d", "the key is sk-unit-very-secret-1234"))
    assert "sk-unit-very-secret-1234" not in records.get("d").answer


class FakeBackend:
    name = "m"
    label = "M"

    def describe(self):
        return {"name": "m"}


def test_modes(monkeypatch):
    records = Recordings(lambda: None)
    book = ReplayBook(records, mode="off")
    request = Request(FakeBackend(), MESSAGES, CallParams())
    records.put(recording(request.digest))
    book.before(Admission([request]))
    assert request.metadata == {"digest": request.digest} and not request.replayed
    book.set_mode("on")
    book.before(Admission([request]))
    assert request.replayed and isinstance(request.backend, ReplayedBackend)
    deltas = list(request.backend.stream(MESSAGES, CallParams()))
    assert deltas[0].text == "an answer" and deltas[-1].usage.cost == 0.0 and deltas[-1].usage.prompt_tokens == 12
    book.set_mode("only")
    with pytest.raises(ReplayMissing, match="Nothing was sent"):
        book.before(Admission([Request(FakeBackend(), MESSAGES[1:], CallParams())]))
    with pytest.raises(Exception, match="unknown replay mode"):
        book.set_mode("sometimes")
    monkeypatch.setenv("LLMOS_REPLAY", "ONLY")
    assert initial_mode() == "only"
    monkeypatch.setenv("LLMOS_REPLAY", "bogus")
    assert initial_mode() == "off"
