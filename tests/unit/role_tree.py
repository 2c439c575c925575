"""Reading the roles as files, for the tests that hold them to the Python side: their
tasks (blocks opened), their defaults and variables, the packages their apt tasks install."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jinja2
import jinja2.nativetypes
import yaml

ROOT = Path(__file__).resolve().parents[2]


def tasks(role: str, folder: str = "tasks") -> Iterator[tuple[Path, dict]]:
    """Every task of the role's task (or handler) files, the tasks inside blocks too."""

    def opened(items):
        for task in items or []:
            yield task
            for key in ("block", "rescue", "always"):
                yield from opened(task.get(key))

    for path in sorted((ROOT / "roles" / role / folder).glob("*.yml")):
        for task in opened(yaml.safe_load(path.read_text())):
            yield path, task


def apt_installs(role: str) -> Iterator[tuple[Path, dict]]:
    """The role's tasks that install packages with apt."""
    for path, task in tasks(role):
        apt = task.get("ansible.builtin.apt")
        if isinstance(apt, dict) and apt.get("state", "present") == "present" and "name" in apt:
            yield path, task


def values(role: str) -> dict:
    """The role's defaults and variables as written."""
    found = {}
    for name in ("defaults", "vars"):
        path = ROOT / "roles" / role / name / "main.yml"
        if path.is_file():
            found.update(yaml.safe_load(path.read_text()) or {})
    return found


_NATIVE = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.ChainableUndefined)


def installed_packages(role: str) -> set[str]:
    """The names the role's apt tasks install, their templates rendered with the role's own
    values (a value the inventory sets counts as false)."""
    known = values(role)

    def render(value, depth=5):
        while isinstance(value, str) and "{{" in value and depth:
            value, depth = _NATIVE.from_string(value).render(known), depth - 1
        if isinstance(value, list):
            return [v for item in value for v in render(item, depth)]
        return [value] if isinstance(value, str) else []

    return {name for _, task in apt_installs(role)
            for name in render(task["ansible.builtin.apt"]["name"])}
