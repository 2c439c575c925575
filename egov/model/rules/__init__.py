"""Rules across fields of a stack, one module per concern; :func:`check_rules` runs them
all, in the order their problems are reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from egov.model.problems import Problem
from egov.model.rules.access import check_admin_keys
from egov.model.rules.artifacts import check_artifacts
from egov.model.rules.docker_hosts import check_macvlan
from egov.model.rules.names import check_unique_names
from egov.model.rules.nodes import check_nodes, check_one_bastion
from egov.model.rules.package_cache import check_package_cache_flows
from egov.model.rules.published_ports import check_published_ports
from egov.model.rules.services import (
    check_gateway_flows,
    check_service_nodes,
    check_service_ports,
)
from egov.model.rules.zones import check_flows, check_subnets, check_vlans
from egov.model.schema import Stack

RULES: tuple[Callable[[Stack], Iterator[Problem]], ...] = (
    check_unique_names,
    check_macvlan,
    check_subnets,
    check_vlans,
    check_flows,
    check_one_bastion,
    check_nodes,
    check_published_ports,
    check_service_nodes,
    check_gateway_flows,
    check_service_ports,
    check_artifacts,
    check_package_cache_flows,
    check_admin_keys,
)


def check_rules(s: Stack) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(s)]
