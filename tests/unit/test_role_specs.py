"""Each role's argument specs describe its defaults as they are: every variable of
defaults/main.yml is an option of meta/argument_specs.yml, with the same default (templates
written as the same template), and no option claims a default the role does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta").is_dir())


def _load(role: str, path: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / path).read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_defaults_agree(role):
    defaults = _load(role, "defaults/main.yml")
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    problems = []
    for name, value in defaults.items():
        if name not in options:
            problems.append(f"{name}: in defaults/main.yml, not described in the specs")
        elif options[name].get("default") != value:
            problems.append(f"{name}: specs say {options[name].get('default')!r}, "
                            f"defaults/main.yml has {value!r}")
    for name, spec in options.items():
        if "default" in spec and name not in defaults:
            problems.append(f"{name}: the specs give a default the role does not have")
    assert not problems, f"roles/{role}: " + "; ".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_fit_their_specs(role):
    """Ansible validates the role's variables against the specs before its first task: a
    default that does not fit its type or choices stops every converge of the role, and
    Ansible refuses an option both required and defaulted."""
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    problems = []
    for name, spec in options.items():
        if spec.get("required") and "default" in spec:
            problems.append(f"{name}: required and defaulted (Ansible refuses both)")
        elif "default" in spec and "{{" not in yaml.safe_dump(spec["default"]):
            result = ArgumentSpecValidator({name: spec}).validate({name: spec["default"]})
            problems += [f"{name}: {message}" for message in result.error_messages]
    assert not problems, f"roles/{role}/meta/argument_specs.yml: " + "; ".join(problems)
