"""testinfra checks of deployed nodes, run by `egov verify <stack>` through the bastion.

The stack model says what each node should be; the checks observe what it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from egov.model import Node, Stack, load_stack


@pytest.fixture(scope="session")
def stack() -> Stack:
    return load_stack(Path(os.environ["EGOV_ROOT"]), os.environ["EGOV_STACK"])


@pytest.fixture
def node(host, stack) -> Node:
    return stack.node(host.backend.hostname)


@pytest.fixture
def name(host) -> str:
    return host.backend.hostname
