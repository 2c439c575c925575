"""What egov does to keep a converge's controller work short, and that it changes no result:
the inventory's machine-dependent variables handed over resolved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from egov import inventory, lab
from egov.ansible_run import RunResult, ansible_env
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("via", ["EGOV_STATE_DIR", "HOME"])
def test_the_resolved_machine_vars_are_what_the_inventory_gives(via, tmp_path, monkeypatch):
    """A run by hand resolves the inventory's lookups; egov's runs get the values resolved
    in advance. Both must be the same, whichever way the state folder is found."""
    if via == "HOME":
        monkeypatch.delenv("EGOV_STATE_DIR", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
    else:
        monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    stack = load_stack(ROOT, "lab")
    out = tmp_path / "resolved.json"
    names = ", ".join(f"'{n}': {n}" for n in inventory.machine_vars(stack))
    env = ansible_env(ROOT, {"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
                             "EGOV_ANSIBLE_STRATEGY": "linear"})
    run = subprocess.run(
        ["ansible", "bastion", "-i", str(ROOT / "inventory" / "lab"), "-c", "local",
         "-m", "ansible.builtin.copy",
         "-a", f"dest={out} content={{{{ {{{names}}} | to_json }}}}"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(out.read_text()) == inventory.machine_vars(stack)
    assert str(tmp_path) in inventory.machine_vars(stack)["egov_state_dir"]


@pytest.mark.parametrize("setting", [None, "inventory"])
def test_converge_hands_over_the_machine_vars_unless_told_not_to(setting, monkeypatch):
    if setting:
        monkeypatch.setenv("EGOV_MACHINE_VARS", setting)
    else:
        monkeypatch.delenv("EGOV_MACHINE_VARS", raising=False)
    stack = load_stack(ROOT, "lab")
    calls = []

    def fake_run(root, playbook, **kwargs):
        calls.append(kwargs)
        return RunResult(playbook, 0, Path("log"), 0.0)

    monkeypatch.setattr(lab, "run_playbook", fake_run)
    monkeypatch.setattr(lab, "record_baseline", lambda stack, res: None)
    lab.converge(stack, ROOT, show=False)
    extra = [json.loads(e) for e in calls[0]["extra_vars"]]
    assert extra == ([] if setting else [inventory.machine_vars(stack)])
