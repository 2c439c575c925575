"""The playbooks and roles pass ansible-lint's production profile and yamllint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ansible import constants as ansible_constants

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_yamllint_passes():
    res = _run(str(BIN / "yamllint"), "--strict", "roles", "site.yml", "provision.yml",
               "teardown.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ansible_lint_production_profile_passes():
    res = _run(str(BIN / "ansible-lint"), "--profile", "production", "site.yml",
               "provision.yml", "teardown.yml", "roles/")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]


# Variables Ansible itself sets (not facts): with inject_facts_as_vars off, any other
# ansible_* name a role reads would be undefined on every node.
SPECIAL_VARIABLES = {
    "ansible_facts", "ansible_managed", "ansible_python_interpreter", "ansible_check_mode",
    "ansible_diff_mode", "ansible_version", "ansible_loop", "ansible_loop_var",
    "ansible_index_var", "ansible_play_name", "ansible_play_hosts", "ansible_play_hosts_all",
    "ansible_play_batch", "ansible_play_role_names", "ansible_playbook_python",
    "ansible_role_names", "ansible_role_name", "ansible_parent_role_names",
    "ansible_dependent_role_names", "ansible_run_tags", "ansible_skip_tags", "ansible_limit",
    "ansible_inventory_sources", "ansible_search_path", "ansible_config_file",
    "ansible_forks", "ansible_verbosity", "ansible_failed_task", "ansible_failed_result",
    "ansible_collection_name",
}


def test_roles_read_facts_only_through_ansible_facts():
    config = (ROOT / "ansible.cfg").read_text()
    assert "inject_facts_as_vars = False" in config, "ansible.cfg no longer turns fact copies off"
    known = set(SPECIAL_VARIABLES)
    for names in ansible_constants.MAGIC_VARIABLE_MAPPING.values():
        known |= set(names)
    files = [*ROOT.glob("*.yml"), *(p for p in (ROOT / "roles").rglob("*") if p.is_file())]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for name in re.findall(r"\bansible_[a-z0-9_]+", line):
                if name not in known:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not found, "facts read as variables, which ansible.cfg no longer sets; read " \
        "ansible_facts.<name> (without the ansible_ prefix) instead:\n" + "\n".join(found)
