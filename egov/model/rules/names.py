"""Rules on names: every docker host, zone, node and service named once, and no service
named like a node (both become host names in the stack's domain)."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Stack


def check_unique_names(s: Stack) -> Iterator[Problem]:
    for kind, items in (("dockerHosts", s.docker_hosts), ("zones", s.zones),
                        ("nodes", s.nodes), ("services", s.services)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in first:  # the later entry is the one to rename
                yield config_problem(f"{kind}[{i}].name", _(
                    "name {name} is already used by {entry}").format(
                        name=repr(item.name), entry=f"{kind}[{first[item.name]}]"),
                    _("give every entry a unique name"))
            first.setdefault(item.name, i)
    clash = {n.name for n in s.nodes} & {v.name for v in s.services}
    for i, svc in enumerate(s.services):
        if svc.name in clash:
            yield config_problem(f"services[{i}].name", _(
                "{name} is also a node name; both become host names in {domain}").format(
                    name=repr(svc.name), domain=s.domain), _("rename the service or the node"))
