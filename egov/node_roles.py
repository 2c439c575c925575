"""The registry of node roles (roles/node_roles.yml): for each role a stack may give a node,
its zone purpose, how site.yml configures it, its state folder and what its image bakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from egov.paths import PACKAGE_ROOT

REGISTRY = Path("roles") / "node_roles.yml"


@dataclass(frozen=True)
class NodeRole:
    name: str
    purpose: str
    summary: str
    # Ansible roles of site.yml's play on hosts role_<name>
    play: tuple[str, ...] = ()
    # or: Ansible roles of the every-node plays that act on these nodes
    baseline: tuple[str, ...] = ()
    state: str | None = None
    bake: tuple[str, ...] = ()
    not_baked: dict[str, str] = field(default_factory=dict)
    after_bake: tuple[str, ...] = ()


@dataclass(frozen=True)
class Baseline:
    roles: tuple[str, ...]
    bake: tuple[str, ...]
    disabled_units: tuple[str, ...]
    not_baked: dict[str, str]


def _read(root: Path) -> dict:
    return yaml.safe_load((root / REGISTRY).read_text())


@cache
def node_roles(root: Path = PACKAGE_ROOT) -> dict[str, NodeRole]:
    """Every node role, in the registry's order."""
    return {name: NodeRole(name=name, purpose=entry["purpose"], summary=entry["summary"],
                           play=tuple(entry.get("play", ())),
                           baseline=tuple(entry.get("baseline", ())),
                           state=entry.get("state"), bake=tuple(entry.get("bake", ())),
                           not_baked=dict(entry.get("not_baked") or {}),
                           after_bake=tuple(entry.get("after_bake", ())))
            for name, entry in _read(root)["node_roles"].items()}


@cache
def baseline(root: Path = PACKAGE_ROOT) -> Baseline:
    """What site.yml applies to every node and what the node image bakes for it."""
    entry = _read(root)["baseline"]
    return Baseline(tuple(entry["roles"]), tuple(entry["bake"]), tuple(entry["disabled_units"]),
                    dict(entry.get("not_baked") or {}))
