"""Parity: the lab the provisioner really made on Docker is what the Pulumi program plans
for the same stack, object by object and field by field."""

from __future__ import annotations

import copy

import pytest

from egov import parity
from egov.plan import run_program

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def shapes(lab):
    return parity.from_plan(run_program(lab.root, "lab")), parity.from_docker("lab")


def test_docker_matches_the_pulumi_plan(shapes):
    planned, real = shapes
    assert planned["container"], "the plan has no containers"
    diffs = parity.differences(planned, real)
    assert diffs == [], "Docker differs from the Pulumi plan:\n" + "\n".join(diffs)


def test_a_deliberately_altered_plan_is_caught(shapes, lab):
    planned, real = copy.deepcopy(shapes[0]), shapes[1]
    app1 = lab.stack.container_name("app1")
    net = lab.stack.network_name("app")
    address, aliases = planned["container"][app1]["networks"][net]
    planned["container"][app1]["networks"][net] = ("10.210.2.99", aliases)
    planned["container"][lab.stack.container_name("database")]["memory"] *= 2
    planned["network"][lab.stack.network_name("data")]["subnet"] = "10.210.9.0/24"
    del planned["volume"][lab.stack.volume_name(lab.stack.node("backup"), "repository")]

    diffs = parity.differences(planned, real)
    assert len(diffs) == 4, diffs
    assert any(d.startswith(f"container {app1}: networks: ") and "10.210.2.99" in d
               for d in diffs), diffs
    assert any(d.startswith("container lab-database: memory: plan=2147483648") for d in diffs)
    assert "network lab-data: subnet: plan='10.210.9.0/24' docker='10.210.3.0/24'" in diffs
    assert "volume lab-backup-repository: in Docker but not planned" in diffs
