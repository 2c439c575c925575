"""The stack model: one typed description of a stack, validated once.

A stack file is Pulumi's own per-stack config (`stacks/Pulumi.<stack>.yaml`); its
`egov-dc:*` keys are read here into :class:`Stack`. Field-level checks are pydantic's;
rules across fields are checked in :func:`_check_rules`; every derived fact (addresses,
network attachments, the reachability matrix, published ports, the SSH path) is computed
once in :func:`_derive` and read by the Pulumi program, the lab provisioner, the
inventory and the tests.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

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


class StackError(Exception):
    """A stack file that cannot be used: every problem, each with its field path and fix."""

    def __init__(self, file: Path | str, problems: list[Problem]):
        self.file = str(file)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for p in self.problems:
            lines.append(f"{self.file}: {p.path}: {p.message}")
            lines.append(f"  fix: {p.fix}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fix: str


class Purpose(StrEnum):
    """What a zone is for; roles may only run in the zone their purpose allows."""

    management = "management"
    dmz = "dmz"
    application = "application"
    data = "data"
    identity = "identity"


class Role(StrEnum):
    bastion = "bastion"
    gateway = "gateway"
    app = "app"
    database = "database"
    directory = "directory"
    identity = "identity"
    monitoring = "monitoring"
    logging = "logging"
    backup = "backup"
    dns = "dns"
    pki = "pki"
    package_cache = "package_cache"


ROLE_PURPOSE: dict[Role, Purpose] = {
    Role.bastion: Purpose.management,
    Role.monitoring: Purpose.management,
    Role.logging: Purpose.management,
    Role.backup: Purpose.management,
    Role.dns: Purpose.management,
    Role.pki: Purpose.management,
    Role.package_cache: Purpose.management,
    Role.gateway: Purpose.dmz,
    Role.app: Purpose.application,
    Role.database: Purpose.data,
    Role.directory: Purpose.identity,
    Role.identity: Purpose.identity,
}


# Where a role keeps what a new node could not make again (the CA's key, the databases,
# the directory, the backup repository): a node with the role must keep it on a volume,
# or the next container loses it. The roles' own settings say the same paths (a unit test
# compares them).
ROLE_STATE: dict[Role, str] = {
    Role.pki: "/var/lib/egov-pki",
    Role.database: "/var/lib/postgresql",
    Role.directory: "/var/lib/ldap",
    Role.backup: "/srv/restic",
}


class Relation(StrEnum):
    G2C = "G2C"
    G2B = "G2B"
    G2G = "G2G"
    G2E = "G2E"


class Environment(StrEnum):
    lab = "lab"
    staging = "staging"
    prod = "prod"


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-safe name "
            "(lower-case letters, digits and '-', starting with a letter, at most 32 characters)"
        )
    return value


def _memory(value: str) -> str:
    if not MEMORY.match(str(value)):
        raise ValueError(f"{value!r} is not a memory size like 512m or 2g")
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


class SecureValue(_Model):
    """A Pulumi secret as it stands in a stack file: `{secure: v1:...}`."""

    secure: Annotated[str, Field(pattern=r"^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")]


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
    # Zones without egress are Docker `internal` networks: no route to the outside.
    egress: bool = False
    vlan: Annotated[int, Field(ge=1, le=4094)] | None = None


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
    Relation.G2C: AccessPolicy("sso", "citizens", "citizen accounts, through SSO"),
    Relation.G2B: AccessPolicy("sso", "businesses", "business accounts, through SSO"),
    Relation.G2G: AccessPolicy("mtls", "agencies", "partner agencies' systems only, by mutual "
                               "TLS with certificates from the internal CA; no browser login"),
    Relation.G2E: AccessPolicy("sso", "employees", "employees (directory group), through SSO"),
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
    secrets: dict[str, SecureValue | str] = {}

    # ---- derived facts, computed once -------------------------------------------------

    @cached_property
    def derived(self) -> Derived:
        return _derive(self)

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
            return str(self.docker_host(node).public_address), self.access.bastion_port
        return self.derived.address[node.name], 22

    def ssh_path(self, node: Node | str) -> list[str]:
        """The hops from the control machine to the node, by node name."""
        name = node if isinstance(node, str) else node.name
        return [name] if name == self.bastion.name else [self.bastion.name, name]


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


# ---- loading ----------------------------------------------------------------------------


def stack_file(root: Path, name: str) -> Path:
    return root / "stacks" / f"Pulumi.{name}.yaml"


def load_stack(root: Path, name: str) -> Stack:
    """Read and validate `stacks/Pulumi.<name>.yaml`; raise StackError naming every problem."""
    path = stack_file(root, name)
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    if not DNS_LABEL.match(name):
        raise StackError(shown, [Problem("(stack name)", f"{name!r} is not a DNS-safe stack name",
                                         "use lower-case letters, digits and '-'")])
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml")
                       for p in (root / "stacks").glob("Pulumi.*.yaml"))
        raise StackError(shown, [Problem("(file)", "no such stack file",
                                         f"use one of the stacks {', '.join(known) or '(none)'}, "
                                         f"or create {shown}")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StackError(shown, [Problem("(file)", f"cannot be read: {exc.strerror}",
                                         "make the file readable by this user")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackError(shown, [Problem(_where(raw.decode("utf-8", "replace"),
                                                len(raw[:exc.start].decode("utf-8", "replace"))),
                                         "not UTF-8 text", "save the file as UTF-8")]) from None
    try:
        document = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        document = _load_slowly(text, shown)
    return parse_stack(document, name=name, file=str(shown))


# libyaml's loader is several times faster; the pure-Python one words errors the same
# on every machine, so a file libyaml refuses is read again by it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_slowly(text: str, shown: Path | str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark:
            where = _where(text, mark.index)
        elif isinstance(exc, yaml.reader.ReaderError):
            where = _where(text, exc.position)
        else:
            where = "(document)"
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
            problem = f"character {chr(exc.character)!r} is not allowed in YAML"
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start:
            # The opening of the unfinished construct is usually where the mistake is.
            problem += f" ({context} at {_where(text, start.index)})"
        raise StackError(shown, [Problem(where, f"not valid YAML: {problem}",
                                         "correct the YAML syntax at that place")]) from None


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index)
    return f"line {line + 1}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def parse_stack(document: Any, *, name: str, file: str) -> Stack:
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackError(file, [Problem("config", "the file has no 'config:' mapping",
                                        "a stack file is Pulumi stack config: put the "
                                        f"'{PROJECT}:*' keys under 'config:'")])
    config: dict[str, Any] = {}
    problems = []
    for key, value in document["config"].items():
        project, _, short = str(key).partition(":")
        if project != PROJECT or not short:
            problems.append(Problem(f"config.{key}", "key outside the project's namespace",
                                    f"write it as '{PROJECT}:<key>'"))
            continue
        if short in ("name", "file"):
            problems.append(Problem(f"config.{key}", f"the stack's {short} comes from the "
                                    "file's name, not from a key", "remove this key"))
            continue
        config[short] = value
    if problems:
        raise StackError(file, problems)
    try:
        stack = Stack.model_validate({**config, "name": name, "file": file})
    except ValidationError as exc:
        raise StackError(file, _problems_from_pydantic(exc.errors(), name)) from None
    problems = _check_rules(stack)
    if problems:
        raise StackError(file, problems)
    stack.derived  # noqa: B018 - derive now so that a stack that loads is a stack that works
    return stack


_FIX_BY_TYPE = {
    "missing": "add this field",
    "extra_forbidden": "remove this field or correct its spelling",
    "enum": "use one of the listed values",
    "literal_error": "use one of the listed values",
    "ip_v4_address": "write an IPv4 address such as 10.0.0.10",
    "ip_v4_network": "write the subnet in CIDR form such as 10.0.3.0/24 (host bits zero)",
    "string_pattern_mismatch": "write a value of the documented form",
    "too_short": "give at least one entry",
    "int_parsing": "write a whole number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "greater_than": "use a larger number",
    "bool_parsing": "write true or false",
    "list_type": "write a list",
    "model_type": "write a mapping of fields",
    "dict_type": "write a mapping",
    "string_type": "write a text value",
    "int_type": "write a whole number",
    "int_from_float": "write a whole number",
    "int_parsing_size": "write a whole number in the allowed range",
    "finite_number": "write a finite number",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "bool_type": "write true or false",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = f"{PROJECT}:{part}"
        else:
            out += _dot(part)
    return out or PROJECT


def _dot(key: Any) -> str:
    """A mapping key as a path step; odd keys (empty, spaces, control characters) quoted."""
    return f".{key}" if isinstance(key, str) and re.fullmatch(r"[\w-]+", key, re.ASCII) \
        else f"[{key!r}]"


def _shown(value: Any) -> str:
    """A value as a stack file's author wrote it, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return repr(value)
    return "a list" if isinstance(value, list) else "a mapping"


# Fields checked by a pattern: what the value should be, and how to write it.
_PATTERN_FIELDS = {
    "domain": ("a lower-case DNS domain",
               "write a lower-case DNS domain such as lab.bengkulukota.go.id"),
    "url": ("a Docker host URL", "write unix:///var/run/docker.sock, ssh://user@host "
            "or tcp://host:2376"),
    "volumes": ("an absolute mount path", "write an absolute path without spaces or ':', "
                "such as /var/lib/data"),
    "adminKeys": ("an SSH public key", "paste the whole public key line, starting with "
                  "ssh-ed25519 or ssh-rsa"),
    "healthPath": ("a URL path", "write a path starting with '/', such as /healthz"),
}
# Union branches pydantic names in an error's location; they are not fields.
_BRANCH = re.compile(r"^[a-z_-]+\[")


def _problems_from_pydantic(errors: list[Any], stack: str) -> list[Problem]:
    """One problem per field: the errors of a union's branches become a single problem."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in errors:
        parts = [p for p in err["loc"] if p != "[key]"]
        branch = next((i for i, p in enumerate(parts) if isinstance(p, str) and (
            _BRANCH.match(p) or (i >= 2 and parts[i - 1] == "address")
            or (i == 2 and parts[0] == "secrets"))), None)
        if branch is None:
            problem = _problem_from_pydantic(err, tuple(parts))
        else:
            problem = _union_problem(err, tuple(parts[:branch]), stack)
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    return problems


def _union_problem(err: dict[str, Any], loc: tuple[Any, ...], stack: str) -> Problem:
    if len(loc) == 2 and loc[0] == "secrets":
        return Problem(_path(loc), "not a Pulumi secret",
                       f"encrypt it: pulumi config set --secret --path 'secrets{_dot(loc[1])}' "
                       f"-s {stack}")
    if loc and loc[-1] == "address":
        return Problem(_path(loc), f"{_shown(err['input'])} is neither an IPv4 address nor 'auto'",
                       "write an IPv4 address such as 10.0.0.10, or 'auto'")
    return _problem_from_pydantic(err, loc)


def _problem_from_pydantic(err: dict[str, Any], loc: tuple[Any, ...]) -> Problem:
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    # Name the offending value: "Input should be ..." alone does not say what was found.
    if message.startswith("Input "):
        message = _shown(value) + message.removeprefix("Input")
    message = re.sub(r" or instance of \w+", "", message)
    if err["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    fix = _FIX_BY_TYPE.get(err["type"], "correct this value")
    field = next((p for p in reversed(loc) if isinstance(p, str) and p in _PATTERN_FIELDS), None)
    if err["type"] == "string_pattern_mismatch" and field:
        what, fix = _PATTERN_FIELDS[field]
        message = f"{value!r} is not {what}"
    if err["type"] == "ip_v4_network" and isinstance(value, str):
        try:
            net = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            pass
        else:
            message = f"{value!r} has host bits set"
            fix = f"write the network address: {net}"
    if err["type"] == "value_error" and "DNS-safe" in message:
        fix = "rename it: lower-case letters, digits and '-', starting with a letter"
    elif err["type"] == "value_error" and "memory size" in message:
        fix = "write the limit as a number followed by k, m or g"
    return Problem(_path(loc), message, fix)


# ---- rules across fields ----------------------------------------------------------------


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}  # type: ignore[func-returns-value]


def _check_rules(s: Stack) -> list[Problem]:
    p: list[Problem] = []
    add = lambda path, msg, fix: p.append(Problem(f"{PROJECT}:{path}", msg, fix))  # noqa: E731

    for kind, items in (("dockerHosts", s.docker_hosts), ("zones", s.zones),
                        ("nodes", s.nodes), ("services", s.services)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in first:  # the later entry is the one to rename
                add(f"{kind}[{i}].name", f"name {item.name!r} is already used by "
                    f"{kind}[{first[item.name]}]", "give every entry a unique name")
            first.setdefault(item.name, i)
    clash = {n.name for n in s.nodes} & {v.name for v in s.services}
    for i, svc in enumerate(s.services):
        if svc.name in clash:
            add(f"services[{i}].name", f"{svc.name!r} is also a node name; both become host "
                f"names in {s.domain}", "rename the service or the node")

    for i, h in enumerate(s.docker_hosts):
        if h.network_driver == "macvlan" and not h.parent_interface:
            add(f"dockerHosts[{i}].parentInterface", "macvlan networks need a parent interface",
                "name the trunk interface, e.g. parentInterface: eth1")
    if any(h.network_driver == "macvlan" for h in s.docker_hosts):
        for i, z in enumerate(s.zones):
            if z.vlan is None:
                add(f"zones[{i}].vlan", f"zone {z.name!r} has no VLAN but the Docker hosts use "
                    "macvlan", "give every zone its VLAN id")

    zones: dict[str, Zone] = {}
    for z in s.zones:  # the first of two same-named zones is the one references mean
        zones.setdefault(z.name, z)
    for i, a in enumerate(s.zones):
        if a.subnet.prefixlen > 28:
            add(f"zones[{i}].subnet", f"{a.subnet} is too small for a zone", "use a /28 or larger")
        for b in s.zones[:i]:
            if a.subnet.overlaps(b.subnet):
                add(f"zones[{i}].subnet", f"{a.subnet} overlaps zone {b.name!r} ({b.subnet})",
                    "give every zone a subnet of its own")
    dup_vlan = _duplicates([str(z.vlan) for z in s.zones if z.vlan is not None])
    for i, z in enumerate(s.zones):
        if z.vlan is not None and str(z.vlan) in dup_vlan:
            add(f"zones[{i}].vlan", f"VLAN {z.vlan} is used by more than one zone",
                "give every zone a VLAN of its own")

    for i, f in enumerate(s.flows):
        for side, refs in (("from", f.source), ("to", f.to)):
            for j, ref in enumerate(refs):
                if ref not in zones:
                    add(f"flows[{i}].{side}[{j}]", f"unknown zone {ref!r}",
                        f"use one of the zones: {', '.join(zones)}")

    hosts = {h.name for h in s.docker_hosts}
    bastions = [i for i, n in enumerate(s.nodes) if Role.bastion in n.roles]
    if len(bastions) != 1:
        where = f"nodes[{bastions[1]}].roles" if len(bastions) > 1 else "nodes"
        add(where, f"a stack needs exactly one bastion, this one has {len(bastions)}",
            "give the role 'bastion' to exactly one node")
    taken: dict[str, str] = {}
    for i, n in enumerate(s.nodes):
        zone = zones.get(n.zone)
        if zone is None:
            add(f"nodes[{i}].zone", f"node {n.name!r} is in unknown zone {n.zone!r}",
                f"use one of the zones: {', '.join(zones)}")
        else:
            kept = set(n.volumes.values())
            for role in n.roles:
                state = ROLE_STATE.get(role)
                if state is not None and state not in kept:
                    add(f"nodes[{i}].volumes", f"role {role.value!r} of node {n.name!r} keeps "
                        f"its data in {state}, which is on no volume: a new container of the "
                        "node would lose it", f"add a volume for it, such as "
                        f"volumes: {{{role.value}: {state}}}")
                want = ROLE_PURPOSE[role]
                if zone.purpose != want:
                    add(f"nodes[{i}].roles", f"role {role.value!r} of node {n.name!r} belongs in a "
                        f"{want.value} zone, but zone {zone.name!r} is for {zone.purpose.value}",
                        f"move the node to a {want.value} zone or give the role to another node")
            if n.address != "auto":
                addr = n.address
                if addr not in zone.subnet:
                    add(f"nodes[{i}].address", f"{addr} is outside zone {zone.name!r} "
                        f"({zone.subnet})",
                        f"choose an address inside {zone.subnet}, or write auto")
                elif addr in (zone.subnet.network_address, zone.subnet.broadcast_address,
                              zone.subnet.network_address + 1):
                    add(f"nodes[{i}].address", f"{addr} is reserved in {zone.subnet} (network, "
                        "broadcast or the zone's router)",
                        "choose a host address from .2 up, or auto")
                elif str(addr) in taken:
                    add(f"nodes[{i}].address", f"{addr} is already the address of node "
                        f"{taken[str(addr)]!r}", "give every node its own address, or write auto")
                else:
                    taken[str(addr)] = n.name
        if n.host is not None and n.host not in hosts:
            add(f"nodes[{i}].host", f"unknown Docker host {n.host!r}",
                f"use one of the dockerHosts: {', '.join(sorted(hosts))}")
        if len(s.docker_hosts) > 1 and n.host is None:
            add(f"nodes[{i}].host", f"node {n.name!r} does not say which Docker host runs it",
                f"set host to one of: {', '.join(sorted(hosts))}")
    if len(bastions) == 1:  # a second bastion's port clash would only repeat the above
        p.extend(_check_published_ports(s))

    nodes = {n.name: n for n in s.nodes}
    for i, svc in enumerate(s.services):
        for j, ref in enumerate(svc.nodes):
            if ref not in nodes:
                add(f"services[{i}].nodes[{j}]", f"unknown node {ref!r}",
                    "name a node of this stack")
            elif Role.app not in nodes[ref].roles:
                add(f"services[{i}].nodes[{j}]", f"node {ref!r} has no 'app' role",
                    "run services on nodes with the role 'app'")
    # The gateways must be allowed to open each service's port in each of its nodes' zones.
    gateway_zones = sorted({n.zone for n in s.nodes if Role.gateway in n.roles})
    for i, svc in enumerate(s.services):
        for ref in svc.nodes:
            if ref not in nodes or Role.app not in nodes[ref].roles:
                continue
            zone = nodes[ref].zone
            for gz in gateway_zones:
                if not any(gz in f.source and zone in f.to and svc.port in f.ports
                           and f.protocol == "tcp" for f in s.flows):
                    add(f"services[{i}].port", f"the gateways in zone {gz!r} may not open port "
                        f"{svc.port} on node {ref!r} (zone {zone!r})",
                        f"add {svc.port} to the ports of the flow from {gz} to {zone}, or "
                        "use a port that flow allows")
                    break
    port_users: dict[tuple[str, int], str] = {}
    for i, svc in enumerate(s.services):
        for ref in svc.nodes:
            key = (ref, svc.port)
            if key in port_users:
                add(f"services[{i}].port", f"port {svc.port} on node {ref!r} is already used by "
                    f"service {port_users[key]!r}", "give the service another port")
            port_users[key] = svc.name

    for key, value in s.secrets.items():
        if isinstance(value, str):
            add(f"secrets{_dot(key)}", "secret written in clear text",
                f"encrypt it: pulumi config set --secret --path 'secrets{_dot(key)}' "
                f"-s {s.name}")
    return p


def _check_published_ports(s: Stack) -> list[Problem]:
    seen: dict[tuple[str, int], str] = {}
    problems = []
    for i, n in enumerate(s.nodes):
        if n.host is not None and n.host not in {h.name for h in s.docker_hosts}:
            continue
        for port in _published_ports(s, n):
            key = (port.host_ip, port.host_port)
            if key in seen:
                problems.append(Problem(
                    f"{PROJECT}:nodes[{i}]",
                    f"node {n.name!r} would publish {port.host_ip}:{port.host_port}, already "
                    f"published by node {seen[key]!r}",
                    "run the two nodes on different Docker hosts, or change the ports in "
                    "'access' / 'gateway'"))
            seen[key] = n.name
    return problems


def _published_ports(s: Stack, n: Node) -> list[Published]:
    ip = str(s.docker_host(n).public_address)
    out = []
    if Role.bastion in n.roles:
        out.append(Published(ip, s.access.bastion_port, 22))
    if Role.gateway in n.roles:
        out += [Published(ip, s.gateway.http_port, 80), Published(ip, s.gateway.https_port, 443)]
    return out


# ---- derivation -------------------------------------------------------------------------


def _derive(s: Stack) -> Derived:
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
                    f"zone {zone.name!r} ({zone.subnet}) has no free address for node {n.name!r}",
                    "give the zone a larger subnet")])
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
                        f"zone {zname!r} has no free address for the leg of node {n.name!r}",
                        "give the zone a larger subnet")])
                top[zname] = nxt
                used[zname].add(nxt)
                addr = str(nxt)
            d.attachments[n.name].append(Attachment(zname, s.network_name(zname), addr))
        d.published[n.name] = _published_ports(s, n)

    dns = [n for n in s.nodes if Role.dns in n.roles]
    for n in s.nodes:
        d.resolvers[n.name] = [] if Role.dns in n.roles else [
            next((a.address for a in d.attachments[r.name] if a.zone == n.zone),
                 d.address[r.name]) for r in dns]

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


def memory_bytes(size: str) -> int:
    number, unit = MEMORY.match(size).groups()  # type: ignore[union-attr]
    return int(number) * {"k": 1024, "m": 1024**2, "g": 1024**3}[unit]
