"""The model refuses an artifact the service role could not install: both must mean the
same two forms, or a stack that validates would still fail its converge."""

from __future__ import annotations

from pathlib import Path

import yaml

from egov.model.rules.artifacts import REFERENCE_ARTIFACT, WHEEL

ROLE = Path(__file__).resolve().parents[2] / "roles" / "service"


def test_the_role_installs_the_reference_artifact_the_model_names():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["service__reference_artifact"] == REFERENCE_ARTIFACT


def test_the_role_accepts_exactly_the_wheels_the_model_accepts():
    task = yaml.safe_load((ROLE / "tasks" / "assert.yml").read_text())[0]
    conditions = " ".join(task["ansible.builtin.assert"]["that"])
    assert f"match('{WHEEL.pattern}')" in conditions, (
        f"roles/service/tasks/assert.yml no longer matches artifacts with {WHEEL.pattern}")
