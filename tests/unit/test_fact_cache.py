"""A converge keeps the nodes' facts between runs (per stack) and gathers only what it does
not have; `egov up`, which may have replaced nodes, drops them before it converges."""

from __future__ import annotations

from pathlib import Path

from egov import lab
from egov.ansible_run import run_playbook
from egov.model import load_stack
from egov.paths import PACKAGE_ROOT


def _project(tmp_path: Path, project_ansible_cfg) -> Path:
    (tmp_path / "play.yml").write_text(
        "- name: Read a fact\n  hosts: localhost\n  gather_subset: [min]\n  tasks:\n"
        "    - name: Use the distribution\n"
        "      ansible.builtin.debug: {msg: \"{{ ansible_facts.distribution }}\"}\n")
    return project_ansible_cfg(tmp_path)


def _run(root: Path, **kwargs):
    res = run_playbook(root, "play.yml", extra_vars=["ansible_connection=local"],
                       log_dir=root / "logs", progress_label="play", show=False,
                       limit="localhost", **kwargs)
    assert res.ok, res.failed
    return res.stats["localhost"]["ok"]


def test_kept_facts_spare_the_next_run_its_gathering(tmp_path, project_ansible_cfg):
    root = _project(tmp_path, project_ansible_cfg)
    facts = tmp_path / "state" / "facts"
    first = _run(root, fact_cache=facts)
    kept = next(facts.glob("*localhost")).read_text()
    assert "ansible_distribution" in kept, f"no facts kept in {facts}: {kept[:200]}"
    assert facts.stat().st_mode & 0o777 == 0o700
    assert _run(root, fact_cache=facts) == first - 1, "the second run gathered facts again"
    assert _run(root) == first, "without a cache, a run gathers its facts"


def test_up_forgets_the_kept_facts_before_it_converges(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    stack = load_stack(PACKAGE_ROOT, "lab")
    stale = lab.facts_dir(stack) / "app1"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    seen = []
    monkeypatch.setattr(lab, "prepare", lambda *a, **k: tmp_path / "plan.json")
    monkeypatch.setattr(lab, "provision", lambda *a, **k: None)
    monkeypatch.setattr(lab, "converge", lambda *a, **k: seen.append(stale.exists()))
    lab.up(stack, PACKAGE_ROOT, do_verify=False, show=False, log=lambda *a: None)
    assert seen == [False], "egov up converged with the facts of nodes it may have replaced"
    assert lab.facts_dir(stack) == tmp_path / "lab" / "facts"
