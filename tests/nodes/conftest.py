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
import testinfra

from egov import node_shell
from egov.model import Node, Stack, load_stack

# `egov verify` names nodes as ssh-session://<node>: one SSH session per node for all checks.
node_shell.register()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "control(*ids): the controls of egov/controls.yaml this check gives "
        "evidence for")
    config.addinivalue_line(
        "markers", "slow: takes seconds rather than milliseconds; runs first")


def pytest_collection_modifyitems(config, items):
    # The long checks first: the workers take them before the short ones, so that no
    # worker is left with a long check when the others are done.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def stack() -> Stack:
    return load_stack(Path(os.environ["EGOV_ROOT"]), os.environ["EGOV_STACK"])


@pytest.fixture(scope="session")
def node_hosts(request) -> dict:
    """Every node's testinfra host by name: the very objects, and so the SSH sessions, this
    worker's checks use (testinfra keeps them by its plugin's arguments), for the checks
    that reach several nodes at once."""
    opt = request.config.option
    if not opt.hosts:
        pytest.fail("no nodes to check: run the checks through `egov verify <stack>`")
    hosts = testinfra.get_hosts(
        opt.hosts.split(","), connection=opt.connection, ssh_config=opt.ssh_config,
        ssh_identity_file=opt.ssh_identity_file, sudo=opt.sudo, sudo_user=opt.sudo_user,
        ansible_inventory=opt.ansible_inventory, force_ansible=opt.force_ansible)
    return {h.backend.hostname: h for h in hosts}


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
