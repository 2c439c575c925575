"""Rules on names: every docker host, zone, node and service named once, and no service
named like a node (both become host names in the stack's domain)."""

from __future__ import annotations

from collections.abc import Iterator

from egov.model.problems import Problem, config_problem
from egov.model.schema import Stack


def check_unique_names(s: Stack) -> Iterator[Problem]:
    for kind, items in (("dockerHosts", s.docker_hosts), ("zones", s.zones),
                        ("nodes", s.nodes), ("services", s.services)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.name in first:  # the later entry is the one to rename
                yield config_problem(f"{kind}[{i}].name", f"name {item.name!r} is already used "
                                     f"by {kind}[{first[item.name]}]",
                                     "give every entry a unique name")
            first.setdefault(item.name, i)
    clash = {n.name for n in s.nodes} & {v.name for v in s.services}
    for i, svc in enumerate(s.services):
        if svc.name in clash:
            yield config_problem(f"services[{i}].name", f"{svc.name!r} is also a node name; both "
                                 f"become host names in {s.domain}",
                                 "rename the service or the node")
