"""The missing_packages filter (plugins/filter/packages.py) and the install tasks that use
it: every apt install of a role runs when one of its packages is missing from site.yml's
dpkg listing, or when there is no listing, and is skipped when all are installed."""

from __future__ import annotations

import re
import sys

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import add_all_plugin_dirs, init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig
from role_tree import ROOT, apt_installs

sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from packages import missing_packages  # noqa: E402

sys.path.remove(str(ROOT / "plugins" / "filter"))


def test_missing_packages_keeps_the_order_of_the_packages_asked_for():
    assert missing_packages(["b", "a", "c"], ["c", "x"]) == ["b", "a"]
    assert missing_packages(["a", "b"], ["a", "b"]) == []
    assert missing_packages("nftables", []) == ["nftables"]


def test_without_a_listing_every_package_is_missing():
    assert missing_packages(["a", "b"], None) == ["a", "b"]
    assert missing_packages(["a", "b"]) == ["a", "b"]


def _installs():
    for role in sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()):
        for path, task in apt_installs(role):
            yield pytest.param(task, id=f"{path.relative_to(ROOT)}: {task['name']}")


INSTALLS = list(_installs())


def test_the_roles_have_install_tasks():
    assert len(INSTALLS) >= 18


@pytest.mark.parametrize("task", INSTALLS)
def test_an_install_task_runs_only_when_a_package_is_missing(task):
    conditions = task.get("when", [])
    conditions = [conditions] if isinstance(conditions, str) else conditions
    guard = [c for c in conditions if "missing_packages(" in c]
    assert len(guard) == 1, \
        f"{task['name']!r} installs without the missing_packages guard: {conditions}"
    if not AnsibleCollectionConfig.collection_finder:
        init_plugin_loader()
    add_all_plugin_dirs(str(ROOT))  # as ansible-playbook does for site.yml's folder
    name = task["ansible.builtin.apt"]["name"]
    variable = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", name) if isinstance(name, str) else None
    given = {variable[1]: ["pkg-one", "pkg-two"]} if variable else {}
    packages = Templar(DataLoader(), given).template(trust_as_template(name)) \
        if isinstance(name, str) else name
    packages = [packages] if isinstance(packages, str) else packages

    def runs(**installed) -> bool:
        templar = Templar(DataLoader(), {**given, **installed})
        return templar.evaluate_conditional(trust_as_template(guard[0]))

    assert not runs(egov_installed_packages=[*packages, "other"]), \
        f"{task['name']!r} runs though {packages} are installed (warm converge)"
    assert runs(egov_installed_packages=packages[:-1]), \
        f"{task['name']!r} is skipped though {packages[-1]} is missing"
    assert runs(), f"{task['name']!r} is skipped without site.yml's package listing"
