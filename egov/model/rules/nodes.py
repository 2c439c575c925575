"""Rules on nodes: one bastion, each node in a known zone that suits its roles, its state
on volumes, its address free and inside the zone, its Docker host known."""

from __future__ import annotations

from collections.abc import Iterator

from egov.model.problems import Problem, config_problem
from egov.model.rules.zones import zones_by_name
from egov.model.schema import ROLE_PURPOSE, ROLE_STATE, Node, Role, Stack, Zone


def bastion_indexes(s: Stack) -> list[int]:
    return [i for i, n in enumerate(s.nodes) if Role.bastion in n.roles]


def check_one_bastion(s: Stack) -> Iterator[Problem]:
    bastions = bastion_indexes(s)
    if len(bastions) != 1:
        where = f"nodes[{bastions[1]}].roles" if len(bastions) > 1 else "nodes"
        yield config_problem(where, f"a stack needs exactly one bastion, this one has "
                             f"{len(bastions)}", "give the role 'bastion' to exactly one node")


def check_nodes(s: Stack) -> Iterator[Problem]:
    zones = zones_by_name(s)
    hosts = {h.name for h in s.docker_hosts}
    taken: dict[str, str] = {}  # address -> the node that has it
    for i, n in enumerate(s.nodes):
        zone = zones.get(n.zone)
        if zone is None:
            yield config_problem(f"nodes[{i}].zone",
                                 f"node {n.name!r} is in unknown zone {n.zone!r}",
                                 f"use one of the zones: {', '.join(zones)}")
        else:
            yield from _role_placement(i, n, zone)
            yield from _address(i, n, zone, taken)
        yield from _docker_host(s, i, n, hosts)


def _role_placement(i: int, n: Node, zone: Zone) -> Iterator[Problem]:
    kept = set(n.volumes.values())
    for role in n.roles:
        state = ROLE_STATE.get(role)
        if state is not None and state not in kept:
            yield config_problem(f"nodes[{i}].volumes", f"role {role.value!r} of node "
                                 f"{n.name!r} keeps its data in {state}, which is on no volume: "
                                 "a new container of the node would lose it",
                                 f"add a volume for it, such as "
                                 f"volumes: {{{role.value}: {state}}}")
        want = ROLE_PURPOSE[role]
        if zone.purpose != want:
            yield config_problem(f"nodes[{i}].roles", f"role {role.value!r} of node {n.name!r} "
                                 f"belongs in a {want.value} zone, but zone {zone.name!r} is "
                                 f"for {zone.purpose.value}", f"move the node to a "
                                 f"{want.value} zone or give the role to another node")


def _address(i: int, n: Node, zone: Zone, taken: dict[str, str]) -> Iterator[Problem]:
    if n.address == "auto":
        return
    addr = n.address
    if addr not in zone.subnet:
        yield config_problem(f"nodes[{i}].address", f"{addr} is outside zone {zone.name!r} "
                             f"({zone.subnet})",
                             f"choose an address inside {zone.subnet}, or write auto")
    elif addr in (zone.subnet.network_address, zone.subnet.broadcast_address,
                  zone.subnet.network_address + 1):
        yield config_problem(f"nodes[{i}].address", f"{addr} is reserved in {zone.subnet} "
                             "(network, broadcast or the zone's router)",
                             "choose a host address from .2 up, or auto")
    elif str(addr) in taken:
        yield config_problem(f"nodes[{i}].address", f"{addr} is already the address of node "
                             f"{taken[str(addr)]!r}",
                             "give every node its own address, or write auto")
    else:
        taken[str(addr)] = n.name


def _docker_host(s: Stack, i: int, n: Node, hosts: set[str]) -> Iterator[Problem]:
    if n.host is not None and n.host not in hosts:
        yield config_problem(f"nodes[{i}].host", f"unknown Docker host {n.host!r}",
                             f"use one of the dockerHosts: {', '.join(sorted(hosts))}")
    if len(s.docker_hosts) > 1 and n.host is None:
        yield config_problem(f"nodes[{i}].host",
                             f"node {n.name!r} does not say which Docker host runs it",
                             f"set host to one of: {', '.join(sorted(hosts))}")
