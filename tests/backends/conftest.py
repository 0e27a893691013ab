"""Fixtures for backend unit tests: a real loopback OpenAI-compatible server and a sleep that only records."""

from __future__ import annotations

import pytest

from tests.support.openai_server import OpenAIServer


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def slept() -> list[float]:
    """Pass ``slept.append`` as a backend's sleep: retries are then instant and their delays inspectable."""
    return []
