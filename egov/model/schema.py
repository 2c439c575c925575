"""The stack model's types: what a stack file may say, field by field.

A stack file is Pulumi's own per-stack config (`stacks/Pulumi.<stack>.yaml`); its
`egov-dc:*` keys become a :class:`Stack`. Field-level checks are pydantic's and live
here with the enums, names and labels the rest of the project shares; rules across
fields are in :mod:`egov.model.rules`, derived facts in :mod:`egov.model.derive`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from egov.i18n import N_, _
from egov.node_roles import node_roles

if TYPE_CHECKING:
    from egov.model.derive import Derived, Site

PROJECT = "egov-dc"
LABEL_PREFIX = "id.go.bengkulukota.egov"
LABEL_STACK = f"{LABEL_PREFIX}.stack"
LABEL_NODE = f"{LABEL_PREFIX}.node"
LABEL_ZONE = f"{LABEL_PREFIX}.zone"
LABEL_ROLE = f"{LABEL_PREFIX}.roles"

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MEMORY = re.compile(r"^(\d+)([kmg])$")
# Home addresses are handed out from here upwards; .1 is the zone's router.
FIRST_AUTO_HOST = 10


class Purpose(StrEnum):
    """What a zone is for; roles may only run in the zone their purpose allows."""

    management = "management"
    dmz = "dmz"
    application = "application"
    data = "data"
    identity = "identity"


# The node roles, each role's zone purpose and state folder come from the registry of node
# roles (roles/node_roles.yml), which the image builder and a test of site.yml read too.
Role = StrEnum("Role", [(name, name) for name in node_roles()], module=__name__)

ROLE_PURPOSE: dict[Role, Purpose] = {
    Role(name): Purpose(role.purpose) for name, role in node_roles().items()}

# Where a role keeps what a new node could not make again (the CA's key, the databases,
# the directory, the backup repository): a node with the role must keep it on a volume,
# or the next container loses it. The roles' own settings say the same paths (a unit test
# compares them).
ROLE_STATE: dict[Role, str] = {
    Role(name): role.state for name, role in node_roles().items() if role.state}


class Relation(StrEnum):
    G2C = "G2C"
    G2B = "G2B"
    G2G = "G2G"
    G2E = "G2E"


class Environment(StrEnum):
    lab = "lab"
    staging = "staging"
    prod = "prod"


class FieldValueError(ValueError):
    """A value the schema's own check refuses, its message and fix catalogue messages: the
    problem is shown in the reader's language (egov.i18n)."""

    def __init__(self, message: str, fix: str, **values: str):
        self.template, self.fix, self.values = message, fix, values
        super().__init__(message.format(**values))

    def message(self) -> str:
        return _(self.template).format(**self.values)


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise FieldValueError(
            N_("{value} is not a DNS-safe name (lower-case letters, digits and '-', starting "
               "with a letter, at most 32 characters)"),
            N_("rename it: lower-case letters, digits and '-', starting with a letter"),
            value=repr(value))
    return value


def _memory(value: str) -> str:
    if not MEMORY.match(str(value)):
        raise FieldValueError(N_("{value} is not a memory size like 512m or 2g"),
                              N_("write the limit as a number followed by k, m or g"),
                              value=repr(value))
    return str(value)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _written_as_text(kind: str):
    def check(value: Any) -> Any:
        # A YAML number or yes/no would otherwise become an address such as 0.0.0.1.
        if isinstance(value, int | float):
            raise PydanticCustomError(kind, f"Input is not a valid IPv4 {kind[6:]}")
        return value
    return BeforeValidator(check)


IPv4Address = Annotated[ipaddress.IPv4Address, _written_as_text("ip_v4_address")]
IPv4Network = Annotated[ipaddress.IPv4Network, _written_as_text("ip_v4_network")]
Name = Annotated[str, AfterValidator(_dns_label)]
MemorySize = Annotated[str, AfterValidator(_memory)]
Port = Annotated[int, Field(ge=1, le=65535)]
ZoneRefs = Annotated[list[Name], BeforeValidator(_as_list), Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class DockerHost(_Model):
    name: Name
    url: Annotated[str, Field(pattern=r"^(unix:///\S+|ssh://\S+|tcp://\S+)$")]
    # Where published ports (bastion SSH, gateway HTTP/S) are bound on this host.
    public_address: IPv4Address
    network_driver: Literal["bridge", "macvlan"] = "bridge"
    # For macvlan: the trunk interface; a zone's network is its VLAN on it.
    parent_interface: str | None = None


class Zone(_Model):
    name: Name
    subnet: IPv4Network
    purpose: Purpose
    description: str
    # A zone without egress reaches nothing outside the stack's subnets but its flows: every
    # node's firewall drops the rest, and on bridge hosts its network is Docker `internal`.
    egress: bool = False
    vlan: Annotated[int, Field(ge=1, le=4094)] | None = None

    @property
    def router(self) -> ipaddress.IPv4Address:
        """The zone's router: its first host, the gateway of its Docker network."""
        return self.subnet.network_address + 1


class Flow(_Model):
    source: ZoneRefs = Field(alias="from")
    to: ZoneRefs
    ports: Annotated[list[Port], Field(min_length=1)]
    protocol: Literal["tcp", "udp"] = "tcp"
    purpose: str


class Node(_Model):
    name: Name
    zone: Name
    address: Literal["auto"] | IPv4Address = "auto"
    roles: Annotated[list[Role], Field(min_length=1)]
    host: Name | None = None
    memory: MemorySize = "512m"
    cpus: Annotated[float, Field(gt=0, le=64)] = 1.0
    # Named volumes for the node's stateful data: volume name -> mount path.
    volumes: dict[Name, Annotated[str, Field(pattern=r"^/[^\s:]*$")]] = {}


class Access(_Model):
    admin_user: Name = "sysadmin"
    # Host port of the bastion's SSH on its Docker host's public address.
    bastion_port: Port = 2222
    # Public keys of real administrators; lab stacks generate a key on the machine.
    admin_keys: list[Annotated[str, Field(pattern=r"^ssh-(ed25519|rsa) \S+( .*)?$")]] = []


class Gateway(_Model):
    http_port: Port = 80
    https_port: Port = 443


@dataclass(frozen=True)
class AccessPolicy:
    """Who may use a service, derived from its delivery relation."""

    login: Literal["sso", "mtls"]  # browser login at the SSO portal, or client certificates
    group: str  # the directory group (sso) or the kind of client certificate (mtls)
    audience: str  # in words, for the auditor's report


ACCESS_POLICIES: dict[Relation, AccessPolicy] = {
    # The audiences are catalogue messages: the reports show them in the reader's language.
    Relation.G2C: AccessPolicy("sso", "citizens", N_("citizen accounts, through SSO")),
    Relation.G2B: AccessPolicy("sso", "businesses", N_("business accounts, through SSO")),
    Relation.G2G: AccessPolicy("mtls", "agencies", N_(
        "partner agencies' systems only, by mutual TLS with certificates from the internal CA; "
        "no browser login")),
    Relation.G2E: AccessPolicy("sso", "employees", N_("employees (directory group), through SSO")),
}


class Service(_Model):
    name: Name
    title: str
    agency: str
    relation: Relation
    nodes: Annotated[list[Name], Field(min_length=1)]
    hostname: str | None = None
    port: Annotated[int, Field(ge=1024, le=65535)]
    health_path: Annotated[str, Field(pattern=r"^/\S*$")] = "/healthz"
    database: bool = True
    backup_schedule: str = "daily"
    artifact: str

    @property
    def access(self) -> AccessPolicy:
        return ACCESS_POLICIES[self.relation]


class Stack(_Model):
    """One environment of the data centre, as its stack file describes it."""

    name: Name
    file: str
    environment: Environment
    domain: Annotated[str, Field(pattern=DOMAIN.pattern)]
    docker_hosts: Annotated[list[DockerHost], Field(min_length=1)]
    zones: Annotated[list[Zone], Field(min_length=1)]
    flows: list[Flow] = []
    nodes: Annotated[list[Node], Field(min_length=1)]
    access: Access = Access()
    gateway: Gateway = Gateway()
    services: list[Service] = []

    # ---- derived facts, computed once -------------------------------------------------

    @cached_property
    def derived(self) -> Derived:
        # Imported here: the derivation reads this module's types.
        from egov.model.derive import derive

        return derive(self)

    def zone(self, name: str) -> Zone:
        return next(z for z in self.zones if z.name == name)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def docker_host(self, node: Node) -> DockerHost:
        name = node.host or self.docker_hosts[0].name
        return next(h for h in self.docker_hosts if h.name == name)

    @property
    def bastion(self) -> Node:
        return next(n for n in self.nodes if Role.bastion in n.roles)

    @property
    def management_zone(self) -> Zone:
        return self.zone(self.bastion.zone)

    @property
    def directory_suffix(self) -> str:
        """Base DN of the directory (the directory role derives the same from the domain)."""
        return ",".join(f"dc={part}" for part in self.domain.split("."))

    def nodes_with(self, role: Role) -> list[Node]:
        return [n for n in self.nodes if role in n.roles]

    def container_name(self, node: Node | str) -> str:
        return f"{self.name}-{node if isinstance(node, str) else node.name}"

    def network_name(self, zone: Zone | str) -> str:
        return f"{self.name}-{zone if isinstance(zone, str) else zone.name}"

    def volume_name(self, node: Node, volume: str) -> str:
        return f"{self.name}-{node.name}-{volume}"

    def fqdn(self, node: Node | str) -> str:
        return f"{node if isinstance(node, str) else node.name}.{self.domain}"

    def public_url(self, name: str) -> str:
        """https://<public name>[:port] as a browser reaches it through the gateways."""
        port = self.gateway.https_port
        return f"https://{name}" + ("" if port == 443 else f":{port}")

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def site_of(self, service: Service) -> Site:
        return next(s for s in self.derived.sites if s.service == service.name)

    def labels(self, **extra: str) -> dict[str, str]:
        return {LABEL_STACK: self.name, **{f"{LABEL_PREFIX}.{k}": v for k, v in extra.items()}}

    def ssh_endpoint(self, node: Node | str) -> tuple[str, int]:
        """Where SSH to the node is opened: the bastion's published port, or the node's
        home address as the bastion reaches it (every other node is reached through it)."""
        node = self.node(node) if isinstance(node, str) else node
        if Role.bastion in node.roles:
            host = self.docker_host(node)
            if host.network_driver == "macvlan":
                # Docker publishes no port on macvlan: the bastion's own address, routed.
                return self.derived.address[node.name], self.access.bastion_port
            return str(host.public_address), self.access.bastion_port
        return self.derived.address[node.name], 22

    def ssh_path(self, node: Node | str) -> list[str]:
        """The hops from the control machine to the node, by node name."""
        name = node if isinstance(node, str) else node.name
        return [name] if name == self.bastion.name else [self.bastion.name, name]



def memory_bytes(size: str) -> int:
    number, unit = MEMORY.match(size).groups()  # type: ignore[union-attr]
    return int(number) * {"k": 1024, "m": 1024**2, "g": 1024**3}[unit]
