"""Rules on nodes: one bastion, each node in a known zone that suits its roles, its state
on volumes, its address free and inside the zone, its Docker host known."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.rules.zones import zones_by_name
from egov.model.schema import ROLE_PURPOSE, ROLE_STATE, Node, Role, Stack, Zone


def bastion_indexes(s: Stack) -> list[int]:
    return [i for i, n in enumerate(s.nodes) if Role.bastion in n.roles]


def check_one_bastion(s: Stack) -> Iterator[Problem]:
    bastions = bastion_indexes(s)
    if len(bastions) != 1:
        where = f"nodes[{bastions[1]}].roles" if len(bastions) > 1 else "nodes"
        yield config_problem(where, _("a stack needs exactly one bastion, this one has {count}")
                             .format(count=len(bastions)),
                             _("give the role 'bastion' to exactly one node"))


def check_nodes(s: Stack) -> Iterator[Problem]:
    zones = zones_by_name(s)
    hosts = {h.name for h in s.docker_hosts}
    taken: dict[str, str] = {}  # address -> the node that has it
    for i, n in enumerate(s.nodes):
        zone = zones.get(n.zone)
        if zone is None:
            yield config_problem(f"nodes[{i}].zone",
                                 _("node {node} is in unknown zone {zone}").format(
                                     node=repr(n.name), zone=repr(n.zone)),
                                 _("use one of the zones: {zones}").format(
                                     zones=", ".join(zones)))
        else:
            yield from _role_placement(i, n, zone)
            yield from _address(i, n, zone, taken)
        yield from _docker_host(s, i, n, hosts)


def _role_placement(i: int, n: Node, zone: Zone) -> Iterator[Problem]:
    kept = set(n.volumes.values())
    for role in n.roles:
        state = ROLE_STATE.get(role)
        if state is not None and state not in kept:
            yield config_problem(f"nodes[{i}].volumes", _(
                "role {role} of node {node} keeps its data in {path}, which is on no volume: "
                "a new container of the node would lose it").format(
                    role=repr(role.value), node=repr(n.name), path=state),
                _("add a volume for it, such as {example}").format(
                    example=f"volumes: {{{role.value}: {state}}}"))
        want = ROLE_PURPOSE[role]
        if zone.purpose != want:
            yield config_problem(f"nodes[{i}].roles", _(
                "role {role} of node {node} belongs in a {purpose} zone, but zone {zone} is "
                "for {zone_purpose}").format(
                    role=repr(role.value), node=repr(n.name), purpose=want.value,
                    zone=repr(zone.name), zone_purpose=zone.purpose.value),
                _("move the node to a {purpose} zone or give the role to another node").format(
                    purpose=want.value))


def _address(i: int, n: Node, zone: Zone, taken: dict[str, str]) -> Iterator[Problem]:
    if n.address == "auto":
        return
    addr = n.address
    if addr not in zone.subnet:
        yield config_problem(f"nodes[{i}].address", _(
            "{address} is outside zone {zone} ({subnet})").format(
                address=addr, zone=repr(zone.name), subnet=zone.subnet),
            _("choose an address inside {subnet}, or write auto").format(subnet=zone.subnet))
    elif addr in (zone.subnet.network_address, zone.subnet.broadcast_address,
                  zone.subnet.network_address + 1):
        yield config_problem(f"nodes[{i}].address", _(
            "{address} is reserved in {subnet} (network, broadcast or the zone's router)").format(
                address=addr, subnet=zone.subnet),
            _("choose a host address from .2 up, or auto"))
    elif str(addr) in taken:
        yield config_problem(f"nodes[{i}].address", _(
            "{address} is already the address of node {node}").format(
                address=addr, node=repr(taken[str(addr)])),
            _("give every node its own address, or write auto"))
    else:
        taken[str(addr)] = n.name


def _docker_host(s: Stack, i: int, n: Node, hosts: set[str]) -> Iterator[Problem]:
    if n.host is not None and n.host not in hosts:
        yield config_problem(f"nodes[{i}].host", _("unknown Docker host {host}").format(
            host=repr(n.host)), _("use one of the dockerHosts: {hosts}").format(
                hosts=", ".join(sorted(hosts))))
    if len(s.docker_hosts) > 1 and n.host is None:
        yield config_problem(f"nodes[{i}].host",
                             _("node {node} does not say which Docker host runs it").format(
                                 node=repr(n.name)),
                             _("set host to one of: {hosts}").format(
                                 hosts=", ".join(sorted(hosts))))
