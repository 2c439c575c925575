"""Rules on services: run on app nodes, reachable from the gateways through a flow, one
service per port of a node."""

from __future__ import annotations

from collections.abc import Iterator

from egov.model.problems import Problem, config_problem
from egov.model.schema import Role, Stack


def check_service_nodes(s: Stack) -> Iterator[Problem]:
    nodes = {n.name: n for n in s.nodes}
    for i, svc in enumerate(s.services):
        for j, ref in enumerate(svc.nodes):
            if ref not in nodes:
                yield config_problem(f"services[{i}].nodes[{j}]", f"unknown node {ref!r}",
                                     "name a node of this stack")
            elif Role.app not in nodes[ref].roles:
                yield config_problem(f"services[{i}].nodes[{j}]",
                                     f"node {ref!r} has no 'app' role",
                                     "run services on nodes with the role 'app'")


def check_gateway_flows(s: Stack) -> Iterator[Problem]:
    """The gateways must be allowed to open each service's port in each of its nodes' zones."""
    nodes = {n.name: n for n in s.nodes}
    gateway_zones = sorted({n.zone for n in s.nodes if Role.gateway in n.roles})
    for i, svc in enumerate(s.services):
        for ref in svc.nodes:
            if ref not in nodes or Role.app not in nodes[ref].roles:
                continue
            zone = nodes[ref].zone
            for gz in gateway_zones:
                if not any(gz in f.source and zone in f.to and svc.port in f.ports
                           and f.protocol == "tcp" for f in s.flows):
                    yield config_problem(
                        f"services[{i}].port", f"the gateways in zone {gz!r} may not open port "
                        f"{svc.port} on node {ref!r} (zone {zone!r})",
                        f"add {svc.port} to the ports of the flow from {gz} to {zone}, or "
                        "use a port that flow allows")
                    break


def check_service_ports(s: Stack) -> Iterator[Problem]:
    port_users: dict[tuple[str, int], str] = {}
    for i, svc in enumerate(s.services):
        for ref in svc.nodes:
            key = (ref, svc.port)
            if key in port_users:
                yield config_problem(f"services[{i}].port", f"port {svc.port} on node {ref!r} "
                                     f"is already used by service {port_users[key]!r}",
                                     "give the service another port")
            port_users[key] = svc.name
