"""Mandatory rules for every stack, as plain functions over planned resources.

Each rule takes the resources of one stack (as the policy engine or `egov plan` sees
them: Pulumi type, URN and properties in their wire form, e.g. `networksAdvanced`) and
what the stack model allows, and returns violations that name the resource's URN. The
same functions back the Pulumi policy pack (`__main__.py`) and the offline plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from egov.model import LABEL_NODE, LABEL_ROLE, LABEL_STACK, LABEL_ZONE, Stack

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
# Capabilities that amount to a privileged container.
PRIVILEGED_CAPS = {"ALL", "CAP_ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"}


@dataclass(frozen=True)
class Resource:
    """A planned resource: what a policy sees of it."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.urn}: {self.message}"


@dataclass(frozen=True)
class NodeRule:
    """What the model allows one node's container."""

    node: str
    zone: str
    roles: tuple[str, ...]
    networks: Mapping[str, str]  # network name -> address on it
    published: frozenset[tuple[str, int, int, str]]  # (host ip, host port, port, protocol)
    volumes: Mapping[str, str]  # volume name -> mount path


@dataclass(frozen=True)
class Allowed:
    """What a stack allows, derived once from the stack model."""

    stack: str
    containers: Mapping[str, NodeRule] = field(default_factory=dict)  # by container name

    @classmethod
    def from_stack(cls, stack: Stack) -> Allowed:
        d = stack.derived
        rules = {}
        for n in stack.nodes:
            rules[stack.container_name(n)] = NodeRule(
                node=n.name, zone=n.zone, roles=tuple(r.value for r in n.roles),
                networks={a.network: a.address for a in d.attachments[n.name]},
                published=frozenset((p.host_ip, p.host_port, p.container_port, p.protocol)
                                    for p in d.published[n.name]),
                volumes={stack.volume_name(n, v): path for v, path in n.volumes.items()},
            )
        return cls(stack.name, rules)


def _containers(resources: Iterable[Resource]) -> Iterable[Resource]:
    return (r for r in resources if r.type == CONTAINER)


def _labels(r: Resource) -> dict[str, str]:
    return {lb.get("label"): lb.get("value") for lb in r.props.get("labels") or []}


def _rule(r: Resource, allowed: Allowed) -> NodeRule | None:
    return allowed.containers.get(r.props.get("name", ""))


# ---- the rules --------------------------------------------------------------------------


def published_ports(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """No host port is published except the gateway's HTTP/HTTPS and the bastion's SSH."""
    out = []
    for r in _containers(resources):
        rule = _rule(r, allowed)
        may = rule.published if rule else frozenset()
        if r.props.get("publishAllPorts"):
            out.append(Violation("published-ports", r.urn, "publishes all exposed ports "
                                 "(publishAllPorts); publish nothing but the allowed ports"))
        for p in r.props.get("ports") or []:
            key = (p.get("ip", "0.0.0.0"), int(p.get("external") or 0), int(p.get("internal")),
                   p.get("protocol", "tcp"))
            if key not in may:
                shown = ", ".join(f"{ip}:{hp}->{cp}/{proto}" for ip, hp, cp, proto in sorted(may))
                out.append(Violation(
                    "published-ports", r.urn,
                    f"publishes {key[0]}:{key[1]}->{key[2]}/{key[3]}; only the gateway's 80/443 "
                    f"and the bastion's 22 may be published "
                    f"(this container may publish: {shown or 'nothing'})"))
    return out


def no_privileged(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """No container runs privileged, nor with capabilities that amount to it."""
    out = []
    for r in _containers(resources):
        if r.props.get("privileged"):
            out.append(Violation("no-privileged", r.urn, "runs privileged; systemd nodes run "
                                 "unprivileged with /sys/fs/cgroup mounted read-only"))
        adds = {str(c).upper() for c in (r.props.get("capabilities") or {}).get("adds") or []}
        if adds & PRIVILEGED_CAPS:
            caps = ", ".join(sorted(adds & PRIVILEGED_CAPS))
            out.append(Violation("no-privileged", r.urn,
                                 f"adds capabilities {caps}, as good as privileged"))
    return out


def memory_limit(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """Every node container has a memory limit."""
    return [Violation("memory-limit", r.urn, "has no memory limit; set the node's memory "
                      "in the stack file")
            for r in _containers(resources) if not r.props.get("memory")]


def required_labels(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """Containers carry the stack, node, zone and roles labels; networks and volumes the
    stack label, so that every object on a Docker host says which stack owns it."""
    out = []
    for r in resources:
        if r.type not in (CONTAINER, NETWORK, VOLUME):
            continue
        labels = _labels(r)
        want = {LABEL_STACK: allowed.stack}
        if r.type == CONTAINER:
            rule = _rule(r, allowed)
            if rule:
                want |= {LABEL_NODE: rule.node, LABEL_ZONE: rule.zone,
                         LABEL_ROLE: ",".join(rule.roles)}
            else:  # not a node: the labels must be there, their values cannot be known
                want |= {LABEL_NODE: None, LABEL_ZONE: None, LABEL_ROLE: None}
        for key, value in want.items():
            if key not in labels:
                out.append(Violation("required-labels", r.urn, f"lacks the label {key}"))
            elif value is not None and labels[key] != value:
                out.append(Violation("required-labels", r.urn, f"label {key} is "
                                     f"{labels[key]!r}, the model says {value!r}"))
    return out


def zone_networks(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """Every container is only on the networks its zone allows (its own zone, and the zones
    its zone may open connections to), at the address the model gives it there."""
    out = []
    for r in _containers(resources):
        rule = _rule(r, allowed)
        if rule is None:
            out.append(Violation("zone-networks", r.urn, f"container {r.props.get('name')!r} "
                                 f"is not a node of stack {allowed.stack!r}"))
            continue
        legs = {e.get("name"): e.get("ipv4Address") for e in r.props.get("networksAdvanced") or []}
        mode = r.props.get("networkMode")
        if mode and mode not in legs:
            legs[mode] = None
        for net, address in sorted(legs.items(), key=lambda kv: str(kv[0])):
            if net not in rule.networks:
                out.append(Violation(
                    "zone-networks", r.urn,
                    f"is on network {net!r}, which zone {rule.zone!r} does not allow "
                    f"(allowed: {', '.join(sorted(rule.networks))})"))
            elif address and address != rule.networks[net]:
                out.append(Violation("zone-networks", r.urn, f"has address {address} on "
                                     f"{net!r}; the model gives {rule.networks[net]}"))
    return out


def stateful_volumes(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """Stateful nodes (nodes with volumes in the model) mount every named volume at its path,
    and the volume is planned as a resource of its own (it outlives the container)."""
    resources = list(resources)
    planned = {r.props.get("name") for r in resources if r.type == VOLUME}
    out = []
    for r in _containers(resources):
        rule = _rule(r, allowed)
        if rule is None or not rule.volumes:
            continue
        mounted = {v.get("volumeName"): v.get("containerPath")
                   for v in r.props.get("volumes") or [] if v.get("volumeName")}
        for vol, path in sorted(rule.volumes.items()):
            if mounted.get(vol) != path:
                out.append(Violation("stateful-volumes", r.urn, f"node {rule.node!r} keeps state "
                                     f"but volume {vol!r} is not mounted at {path}"))
            if vol not in planned:
                out.append(Violation("stateful-volumes", r.urn,
                                     f"volume {vol!r} of node {rule.node!r} is not planned"))
    return out


Rule = Callable[[Iterable[Resource], Allowed], list[Violation]]

RULES: dict[str, Rule] = {
    "published-ports": published_ports,
    "no-privileged": no_privileged,
    "memory-limit": memory_limit,
    "required-labels": required_labels,
    "zone-networks": zone_networks,
    "stateful-volumes": stateful_volumes,
}


def check(resources: Iterable[Resource], allowed: Allowed) -> list[Violation]:
    """Every rule over one stack's resources."""
    resources = list(resources)
    return [v for rule in RULES.values() for v in rule(resources, allowed)]


def stack_of(urn: str) -> str:
    """The stack name in a URN: urn:pulumi:<stack>::<project>::<type>::<name>."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def pulumi_policies(allowed_for: Callable[[str], Allowed]) -> list:
    """The rules as mandatory stack policies of pulumi-policy."""
    from pulumi_policy import EnforcementLevel, StackValidationPolicy

    def make(name: str, rule: Rule) -> StackValidationPolicy:
        def validate(args, report_violation) -> None:
            resources = [Resource(r.urn, r.resource_type, r.name, r.props) for r in args.resources]
            if not resources:
                return
            for v in rule(resources, allowed_for(stack_of(resources[0].urn))):
                report_violation(v.message, v.urn)

        return StackValidationPolicy(name=name, description=(rule.__doc__ or name).strip(),
                                     validate=validate,
                                     enforcement_level=EnforcementLevel.MANDATORY)

    return [make(name, rule) for name, rule in RULES.items()]

