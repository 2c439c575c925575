"""Rules on zones and flows: subnets large enough and apart, VLANs unique, flows between
zones that exist."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Stack, Zone


def zones_by_name(s: Stack) -> dict[str, Zone]:
    zones: dict[str, Zone] = {}
    for z in s.zones:  # the first of two same-named zones is the one references mean
        zones.setdefault(z.name, z)
    return zones


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}  # type: ignore[func-returns-value]


def check_subnets(s: Stack) -> Iterator[Problem]:
    for i, a in enumerate(s.zones):
        if a.subnet.prefixlen > 28:
            yield config_problem(f"zones[{i}].subnet", _(
                "{subnet} is too small for a zone").format(subnet=a.subnet),
                _("use a /28 or larger"))
        for b in s.zones[:i]:
            if a.subnet.overlaps(b.subnet):
                yield config_problem(f"zones[{i}].subnet",
                                     _("{subnet} overlaps zone {zone} ({other})").format(
                                         subnet=a.subnet, zone=repr(b.name), other=b.subnet),
                                     _("give every zone a subnet of its own"))


def check_vlans(s: Stack) -> Iterator[Problem]:
    dup_vlan = _duplicates([str(z.vlan) for z in s.zones if z.vlan is not None])
    for i, z in enumerate(s.zones):
        if z.vlan is not None and str(z.vlan) in dup_vlan:
            yield config_problem(f"zones[{i}].vlan", _(
                "VLAN {vlan} is used by more than one zone").format(vlan=z.vlan),
                _("give every zone a VLAN of its own"))


def check_flows(s: Stack) -> Iterator[Problem]:
    zones = zones_by_name(s)
    for i, f in enumerate(s.flows):
        for side, refs in (("from", f.source), ("to", f.to)):
            for j, ref in enumerate(refs):
                if ref not in zones:
                    yield config_problem(f"flows[{i}].{side}[{j}]",
                                         _("unknown zone {zone}").format(zone=repr(ref)),
                                         _("use one of the zones: {zones}").format(
                                             zones=", ".join(zones)))
