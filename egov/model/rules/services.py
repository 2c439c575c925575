"""Rules on services: run on app nodes, reachable from the gateways through a flow, one
service per port of a node."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Role, Stack


def check_service_nodes(s: Stack) -> Iterator[Problem]:
    nodes = {n.name: n for n in s.nodes}
    for i, svc in enumerate(s.services):
        for j, ref in enumerate(svc.nodes):
            if ref not in nodes:
                yield config_problem(f"services[{i}].nodes[{j}]",
                                     _("unknown node {node}").format(node=repr(ref)),
                                     _("name a node of this stack"))
            elif Role.app not in nodes[ref].roles:
                yield config_problem(f"services[{i}].nodes[{j}]",
                                     _("node {node} has no 'app' role").format(node=repr(ref)),
                                     _("run services on nodes with the role 'app'"))


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
                        f"services[{i}].port", _(
                            "the gateways in zone {gateway_zone} may not open port {port} on "
                            "node {node} (zone {zone})").format(
                                gateway_zone=repr(gz), port=svc.port, node=repr(ref),
                                zone=repr(zone)),
                        _("add {port} to the ports of the flow from {source} to {to}, or use a "
                          "port that flow allows").format(port=svc.port, source=gz, to=zone))
                    break


def check_service_ports(s: Stack) -> Iterator[Problem]:
    port_users: dict[tuple[str, int], str] = {}
    for i, svc in enumerate(s.services):
        for ref in svc.nodes:
            key = (ref, svc.port)
            if key in port_users:
                yield config_problem(f"services[{i}].port", _(
                    "port {port} on node {node} is already used by service {service}").format(
                        port=svc.port, node=repr(ref), service=repr(port_users[key])),
                    _("give the service another port"))
            port_users[key] = svc.name
