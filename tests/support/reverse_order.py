"""A pytest plugin that runs the collected tests in reverse order: ``pytest -p tests.support.reverse_order ...``.

pytest-randomly is not a dependency; running a directory backwards as well as forwards is the cheap check that no
test leans on state an earlier one left behind (a policy rule, a trusted session, a queued reply) (issue 23).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.reverse()
