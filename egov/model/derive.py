"""Facts derived from a stack once: addresses, network legs, the reachability matrix,
published ports, name servers and the gateway's sites.

Nothing here is typed in a stack file; the Pulumi program, the lab provisioner, the
inventory and the tests all read these facts through :attr:`Stack.derived`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from egov.i18n import _
from egov.model.problems import Problem, StackError
from egov.model.schema import FIRST_AUTO_HOST, PROJECT, Node, Role, Stack


@dataclass(frozen=True)
class Attachment:
    zone: str
    network: str
    address: str


@dataclass(frozen=True)
class Published:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class Allowed:
    port: int
    protocol: str
    purpose: str


@dataclass
class Derived:
    """Facts computed from the stack once; nothing here is typed in a stack file."""

    address: dict[str, str] = field(default_factory=dict)
    attachments: dict[str, list[Attachment]] = field(default_factory=dict)
    published: dict[str, list[Published]] = field(default_factory=dict)
    # matrix[from_zone][to_zone] = the ports a node of from_zone may open in to_zone
    matrix: dict[str, dict[str, list[Allowed]]] = field(default_factory=dict)
    # the public names the gateway serves, each with the backends it forwards to
    sites: list[Site] = field(default_factory=list)
    # the name servers each node asks: the dns nodes' addresses in the node's own zone
    # (empty for the dns nodes, which ask the engine's resolver)
    resolvers: dict[str, list[str]] = field(default_factory=dict)
    # the package caches each node's apt goes through: the package_cache nodes' addresses
    # in the node's own zone (empty for the caches themselves, and in a stack without one)
    package_caches: dict[str, list[str]] = field(default_factory=dict)


# apt-cacher-ng's port on the package_cache nodes (the role's package_cache__port).
PACKAGE_CACHE_PORT = 3142
# The SSO portal's public name is auth.<domain>; its backend port on the identity nodes.
SSO_SITE = "auth"
SSO_BACKEND_PORT = 80


@dataclass(frozen=True)
class Site:
    name: str  # fully qualified public host name
    kind: str  # "sso" or "service"
    backends: tuple[str, ...]  # host:port as the gateway reaches them
    service: str | None = None
    relation: str | None = None


def published_ports(s: Stack, n: Node) -> list[Published]:
    ip = str(s.docker_host(n).public_address)
    out = []
    if Role.bastion in n.roles:
        out.append(Published(ip, s.access.bastion_port, 22))
    if Role.gateway in n.roles:
        out += [Published(ip, s.gateway.http_port, 80), Published(ip, s.gateway.https_port, 443)]
    return out


def derive(s: Stack) -> Derived:
    d = Derived()
    mgmt = s.management_zone.name

    # Home addresses: explicit ones first, then 'auto' from .10 upwards in file order.
    used: dict[str, set[ipaddress.IPv4Address]] = {z.name: set() for z in s.zones}
    for n in s.nodes:
        if n.address != "auto":
            used[n.zone].add(n.address)
            d.address[n.name] = str(n.address)
    for n in s.nodes:
        if n.address == "auto":
            zone = s.zone(n.zone)
            addr = next((a for a in zone.subnet.hosts()
                         if int(a) - int(zone.subnet.network_address) >= FIRST_AUTO_HOST
                         and a not in used[n.zone]), None)
            if addr is None:
                raise StackError(s.file, [Problem(
                    _zone_subnet(s, zone.name),
                    _("zone {zone} ({subnet}) has no free address for node {node}").format(
                        zone=repr(zone.name), subnet=zone.subnet, node=repr(n.name)),
                    _("give the zone a larger subnet"))])
            used[n.zone].add(addr)
            d.address[n.name] = str(addr)

    # Reachability: the declared flows, plus SSH from the bastion's zone to every zone.
    for z in s.zones:
        d.matrix[z.name] = {t.name: [] for t in s.zones}
    for z in s.zones:
        d.matrix[mgmt][z.name].append(Allowed(22, "tcp", "administration over SSH via the bastion"))
    for f in s.flows:
        for src in f.source:
            for dst in f.to:
                for port in f.ports:
                    allowed = Allowed(port, f.protocol, f.purpose)
                    if allowed not in d.matrix[src][dst]:
                        d.matrix[src][dst].append(allowed)

    # Attachments: management nodes have a leg in every zone; other nodes join their own
    # zone and the zones they open connections to (flows into management are served by the
    # management nodes' leg in the caller's zone).  Extra legs take addresses from the top.
    top: dict[str, ipaddress.IPv4Address] = {z.name: z.subnet.broadcast_address for z in s.zones}
    for n in s.nodes:
        legs = [n.zone]
        if n.zone == mgmt:
            legs += [z.name for z in s.zones if z.name != mgmt]
        else:
            legs += [t for t, allowed in d.matrix[n.zone].items()
                     if allowed and t not in (n.zone, mgmt)]
        d.attachments[n.name] = []
        for zname in legs:
            if zname == n.zone:
                addr = d.address[n.name]
            else:
                nxt = top[zname] - 1
                while nxt in used[zname]:
                    nxt -= 1
                if int(nxt) - int(s.zone(zname).subnet.network_address) < FIRST_AUTO_HOST:
                    raise StackError(s.file, [Problem(
                        _zone_subnet(s, zname),
                        _("zone {zone} has no free address for the leg of node {node}").format(
                            zone=repr(zname), node=repr(n.name)),
                        _("give the zone a larger subnet"))])
                top[zname] = nxt
                used[zname].add(nxt)
                addr = str(nxt)
            d.attachments[n.name].append(Attachment(zname, s.network_name(zname), addr))
        d.published[n.name] = published_ports(s, n)

    for role, facts in ((Role.dns, d.resolvers), (Role.package_cache, d.package_caches)):
        servers = [n for n in s.nodes if role in n.roles]
        for n in s.nodes:
            facts[n.name] = [] if role in n.roles else [
                next((a.address for a in d.attachments[r.name] if a.zone == n.zone),
                     d.address[r.name]) for r in servers]

    identity = [n for n in s.nodes if Role.identity in n.roles]
    if identity:
        d.sites.append(Site(f"{SSO_SITE}.{s.domain}", "sso",
                            tuple(f"{d.address[n.name]}:{SSO_BACKEND_PORT}" for n in identity)))
    for svc in s.services:
        d.sites.append(Site(svc.hostname or f"{svc.name}.{s.domain}", "service",
                            tuple(f"{d.address[ref]}:{svc.port}" for ref in svc.nodes),
                            svc.name, svc.relation.value))
    return d


def _zone_subnet(s: Stack, zone: str) -> str:
    return f"{PROJECT}:zones[{[z.name for z in s.zones].index(zone)}].subnet"
