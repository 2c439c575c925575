"""Rules on the package cache: every node that installs through it must be allowed to reach
it, or its first install would fail half-way through a converge."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.derive import PACKAGE_CACHE_PORT
from egov.model.problems import Problem, config_problem
from egov.model.schema import Role, Stack


def _allowed(s: Stack, source: str, target: str) -> bool:
    return any(source in f.source and target in f.to and PACKAGE_CACHE_PORT in f.ports
               and f.protocol == "tcp" for f in s.flows)


def check_package_cache_flows(s: Stack) -> Iterator[Problem]:
    caches = s.nodes_with(Role.package_cache)
    seen: set[tuple[str, str]] = set()
    for i, node in enumerate(s.nodes):
        for cache in caches:
            key = (node.zone, cache.zone)
            if node is cache or key in seen or _allowed(s, *key):
                continue
            seen.add(key)
            yield config_problem(
                f"nodes[{i}].zone",
                _("nodes of zone {zone} install through the package cache {cache} (zone "
                  "{cache_zone}), and no flow lets them reach it").format(
                    zone=repr(node.zone), cache=repr(cache.name), cache_zone=repr(cache.zone)),
                _("add {port} to the ports of a tcp flow from {zone} to {cache_zone}").format(
                    port=PACKAGE_CACHE_PORT, zone=node.zone, cache_zone=cache.zone))
