"""Every variable a role reads (in its tasks, handlers, defaults, vars and templates) is set
by the role itself (defaults, vars, set_fact, register, a task's vars or loop variable), by
the inventory the model writes, by site.yml, or by Ansible: a role reading a value the
inventory no longer writes fails here, not half-way through a converge."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml
from ansible import constants as ansible_constants
from jinja2 import meta
from role_tree import ROOT, tasks, values

from egov.inventory import machine_vars, render
from egov.model import load_stack

# Ansible's own variables and the functions its templates may call.
ANSIBLE = {
    "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
    "inventory_dir", "playbook_dir", "role_path", "role_name", "omit", "item", "play_hosts",
    "ansible_facts", "ansible_managed", "ansible_play_name", "ansible_playbook_python",
    "ansible_check_mode", "ansible_loop", "ansible_failed_result",
    "lookup", "query", "q", "now", "undef", "range", "dict", "lipsum", "cycler", "joiner",
    "namespace",
} | {name for names in ansible_constants.MAGIC_VARIABLE_MAPPING.values() for name in names}
# What egov hands to every run of site.yml besides the inventory (ansible_run.py).
EGOV_EXTRA_VARS = {"egov_pending_handlers"}
# A role reading another role's setting, with a default of its own.
CROSS_ROLE = {("monitoring", "node_exporter__port"):
              "node-exporter's port, when the inventory moves it; else 9100"}
# Expressions without braces.
CONDITIONS = {"when", "changed_when", "failed_when", "until", "that"}


class _AnyName(dict):
    """Every filter and test name is known: only the variables are looked at."""

    def __contains__(self, name):
        return True

    def get(self, name, default=None):
        return lambda *args, **kwargs: None


_ENV = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
_ENV.filters, _ENV.tests = _AnyName(), _AnyName()


def _templates(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _templates(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _templates(v, key)
    elif isinstance(node, str):
        if key in CONDITIONS:
            yield "{{ " + node + " }}"
        elif "{{" in node or "{%" in node:
            yield node


def _free(source: str) -> set[str]:
    return meta.find_undeclared_variables(_ENV.parse(source))


def reads(role: str) -> dict[str, str]:
    """Each variable the role reads, with a file that reads it."""
    folder = ROOT / "roles" / role
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*/*.yml")):
        if path.parent.name in ("tasks", "handlers", "defaults", "vars"):
            for template in _templates(yaml.safe_load(path.read_text())):
                for name in _free(template):
                    found.setdefault(name, str(path.relative_to(ROOT)))
    for path in sorted(folder.glob("templates/**/*.j2")):
        for name in _free(path.read_text()):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def _set_by_tasks(items) -> set[str]:
    names: set[str] = set()
    for task in items:
        names |= set(task.get("vars") or {})
        if task.get("register"):
            names.add(task["register"])
        facts = task.get("ansible.builtin.set_fact") or {}
        names |= set(facts) - {"cacheable"}
        loop = task.get("loop_control") or {}
        names |= {loop[k] for k in ("loop_var", "index_var") if k in loop}
    return names


def set_by_role(role: str) -> set[str]:
    return set(values(role)) | _set_by_tasks(
        task for folder in ("tasks", "handlers") for _, task in tasks(role, folder))


def set_by_site() -> set[str]:
    plays = yaml.safe_load((ROOT / "site.yml").read_text())
    names = set().union(*(set(play.get("vars") or {}) for play in plays))
    return names | _set_by_tasks(t for play in plays for t in play.get("tasks", []))


def written_by_inventory() -> set[str]:
    names: set[str] = set()
    for name in ("lab", "staging", "prod"):
        stack = load_stack(ROOT, name)
        names |= set(machine_vars(stack))
        for rel, text in render(stack).items():
            data = yaml.safe_load(text)
            if Path(rel).name == "hosts.yml":
                for host in data["all"]["hosts"].values():
                    names |= set(host or {})
            else:
                names |= set(data or {})
    return names


ROLES = sorted(p.parent.name for p in (ROOT / "roles").glob("*/tasks"))


@pytest.fixture(scope="module")
def provided() -> set[str]:
    return ANSIBLE | EGOV_EXTRA_VARS | set_by_site() | written_by_inventory()


# A regular expression in a gateway template ("\\s") is parsed as Jinja source here too.
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_only_variables_someone_sets(role, provided):
    known = provided | set_by_role(role) | {name for r, name in CROSS_ROLE if r == role}
    unknown = {name: path for name, path in reads(role).items() if name not in known}
    assert not unknown, (
        f"roles/{role} reads variables that neither the role, the inventory, site.yml nor "
        f"Ansible sets: " + ", ".join(f"{n} ({p})" for n, p in sorted(unknown.items())))


def test_the_reader_finds_variables_in_conditions_and_templates():
    assert {"egov_node_routers", "firewall__ssh_sources"} <= set(reads("firewall"))
    assert "egov_installed_packages" in reads("dns")
