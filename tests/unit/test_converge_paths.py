"""Which Ansible strategy a run uses: Mitogen's where the installed ansible-core and Mitogen
are the pair egov pins, Ansible's own linear strategy otherwise (with a message saying why
and how to choose), and whatever EGOV_ANSIBLE_STRATEGY names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egov import ansible_run
from egov.ansible_run import (
    ansible_env,
    choose_strategy,
    installed_versions,
    pinned_versions,
    untested_reason,
)

ROOT = Path(__file__).resolve().parents[2]
TESTED = {"ansible-core": "2.19.14", "mitogen": "0.3.54"}


def test_the_pinned_pair_is_read_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\ndependencies = ["ansible==12.3.0", "ansible-core==2.21.1", '
        '"mitogen==0.3.60", "rich==15.0.0"]\n')
    assert pinned_versions(tmp_path) == {"ansible-core": "2.21.1", "mitogen": "0.3.60"}


def test_this_venv_has_the_pinned_pair():
    """scripts/setup installs the pins: egov runs Mitogen's strategy here, as in CI."""
    assert untested_reason(installed_versions(), pinned_versions()) is None


@pytest.mark.parametrize("installed", [
    {"ansible-core": "2.19.14", "mitogen": "0.3.54"},
    {"ansible-core": "2.19.3", "mitogen": "0.3.54"},  # another bug-fix release of 2.19
])
def test_the_tested_pair_is_accepted(installed):
    assert untested_reason(installed, TESTED) is None


@pytest.mark.parametrize("installed", [
    {"ansible-core": "2.20.1", "mitogen": "0.3.54"},
    {"ansible-core": "2.18.9", "mitogen": "0.3.54"},
    {"ansible-core": "2.19.14", "mitogen": "0.3.55"},
    {"ansible-core": "2.19.14", "mitogen": None},
])
def test_any_other_pair_is_refused(installed):
    reason = untested_reason(installed, TESTED)
    assert reason, f"{installed}: accepted"
    if installed["mitogen"]:
        assert installed["ansible-core"] in reason and installed["mitogen"] in reason, reason
        assert "2.19.x" in reason and "0.3.54" in reason, reason


def _installed(monkeypatch, core: str, mitogen: str | None) -> None:
    monkeypatch.setattr(ansible_run, "installed_versions",
                        lambda: {"ansible-core": core, "mitogen": mitogen})


def test_an_untested_pair_runs_the_stock_strategy_and_says_why_and_how_to_choose(monkeypatch):
    monkeypatch.delenv("EGOV_ANSIBLE_STRATEGY", raising=False)
    _installed(monkeypatch, "2.20.1", "0.3.54")
    strategy, note = choose_strategy({})
    assert strategy == "linear"
    assert "2.20.1" in note and "linear" in note
    for choice in ("mitogen_linear", "linear"):
        assert f"EGOV_ANSIBLE_STRATEGY={choice}" in note, note
    env = ansible_env(ROOT)
    assert env["ANSIBLE_STRATEGY"] == "linear"
    assert "ANSIBLE_STRATEGY_PLUGINS" not in env or "mitogen" not in env[
        "ANSIBLE_STRATEGY_PLUGINS"]


def test_the_tested_pair_runs_mitogens_strategy_silently(monkeypatch):
    monkeypatch.delenv("EGOV_ANSIBLE_STRATEGY", raising=False)
    _installed(monkeypatch, "2.19.14", "0.3.54")
    assert choose_strategy({}) == ("mitogen_linear", None)
    env = ansible_env(ROOT)
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    plugins = Path(env["ANSIBLE_STRATEGY_PLUGINS"])
    assert (plugins / "mitogen_linear.py").is_file(), plugins


@pytest.mark.parametrize("chosen", ["linear", "mitogen_linear"])
def test_the_sysadmins_choice_wins_whatever_the_versions(chosen, monkeypatch):
    _installed(monkeypatch, "2.20.1", "0.3.60")
    assert choose_strategy({"EGOV_ANSIBLE_STRATEGY": chosen}) == (chosen, None)
    monkeypatch.setenv("EGOV_ANSIBLE_STRATEGY", chosen)
    assert ansible_env(ROOT)["ANSIBLE_STRATEGY"] == chosen
    # a caller's own settings choose too
    monkeypatch.delenv("EGOV_ANSIBLE_STRATEGY")
    assert ansible_env(ROOT, {"EGOV_ANSIBLE_STRATEGY": chosen})["ANSIBLE_STRATEGY"] == chosen


def test_nothing_enables_a_plugin_on_ansibles_internals():
    """Every run loads ansible.cfg's callbacks: only egov_events, which reads results
    through the callback API's public attributes."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    enabled = [c.strip() for c in cfg["defaults"]["callbacks_enabled"].split(",")]
    assert enabled == ["egov_events"]
    assert not (ROOT / "plugins" / "strategy").exists()
    source = (ROOT / "plugins" / "callback" / "egov_events.py").read_text()
    private = re.findall(r"\b(?:result|task|play|host|stats)\.(?:[a-z_]+\(\)\.)?_\w+", source)
    assert not private, f"egov_events reads private attributes: {private}"
