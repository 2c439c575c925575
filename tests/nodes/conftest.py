"""testinfra checks of deployed nodes, run by `egov verify <stack>` through the bastion.

The stack model says what each node should be; the checks observe what it is. Every check
names the controls it gives evidence for (`@pytest.mark.control`, see egov/controls.yaml),
and may record what it observed with the `evidence` fixture; `egov verify` puts both in its
report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from egov.model import Node, Stack, load_stack


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "control(*ids): the controls of egov/controls.yaml this check gives "
        "evidence for")


@pytest.fixture(scope="session")
def stack() -> Stack:
    return load_stack(Path(os.environ["EGOV_ROOT"]), os.environ["EGOV_STACK"])


@pytest.fixture
def node(host, stack) -> Node:
    return stack.node(host.backend.hostname)


@pytest.fixture
def name(host) -> str:
    return host.backend.hostname


@pytest.fixture
def evidence(request):
    """evidence("what was observed"): kept with the check's result in the report."""
    def add(text: str) -> None:
        request.node.user_properties.append(("evidence", str(text)))
    return add
