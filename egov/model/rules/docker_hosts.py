"""Rules on Docker hosts: macvlan networks need a trunk interface and a VLAN per zone."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Stack


def check_macvlan(s: Stack) -> Iterator[Problem]:
    for i, h in enumerate(s.docker_hosts):
        if h.network_driver == "macvlan" and not h.parent_interface:
            yield config_problem(f"dockerHosts[{i}].parentInterface",
                                 _("macvlan networks need a parent interface"),
                                 _("name the trunk interface, e.g. parentInterface: eth1"))
    if any(h.network_driver == "macvlan" for h in s.docker_hosts):
        for i, z in enumerate(s.zones):
            if z.vlan is None:
                yield config_problem(f"zones[{i}].vlan", _(
                    "zone {zone} has no VLAN but the Docker hosts use macvlan").format(
                        zone=repr(z.name)), _("give every zone its VLAN id"))
