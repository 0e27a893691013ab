"""Fixtures shared by the kernel tests of tools: one loopback OpenAI-compatible server per module, playing a model
that calls tools. Each module keeps its own notebook folder (their files differ: what each module's tools read)."""

from __future__ import annotations

import pytest

from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server():
    with OpenAIServer() as srv:
        yield srv
