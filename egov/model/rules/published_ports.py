"""Rules on published ports: no two nodes publish the same address and port of a host."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.derive import published_ports
from egov.model.problems import Problem, config_problem
from egov.model.rules.nodes import bastion_indexes
from egov.model.schema import Stack


def check_published_ports(s: Stack) -> Iterator[Problem]:
    if len(bastion_indexes(s)) != 1:  # a second bastion's port clash would only repeat that
        return
    seen: dict[tuple[str, int], str] = {}
    for i, n in enumerate(s.nodes):
        if n.host is not None and n.host not in {h.name for h in s.docker_hosts}:
            continue
        for port in published_ports(s, n):
            key = (port.host_ip, port.host_port)
            if key in seen:
                yield config_problem(
                    f"nodes[{i}]",
                    _("node {node} would publish {address}, already published by node {other}")
                    .format(node=repr(n.name), address=f"{port.host_ip}:{port.host_port}",
                            other=repr(seen[key])),
                    _("run the two nodes on different Docker hosts, or change the ports in "
                      "'access' / 'gateway'"))
            seen[key] = n.name
