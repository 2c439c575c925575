"""The model's derived inputs (generated inventory) fit the argument specs of the roles
that read them, for every stack: a mismatch would stop a converge half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("lab", "staging", "prod")
# role, its option, the inventory variable its default reads
INPUTS = [
    ("database", "database__services", "egov_services"),
    ("backup", "backup__services", "egov_services"),
    ("service", "service__services", "egov_services"),
    ("monitoring", "monitoring__extra_targets", "egov_service_targets"),
    ("identity", "identity__oidc_clients", "egov_oidc_clients"),
    ("gateway", "gateway__sites", "egov_public_sites"),
]


def inventory_vars(stack: str) -> dict:
    found = {}
    for f in sorted((ROOT / "inventory" / stack / "group_vars" / "all").glob("*.yml")):
        found.update(yaml.safe_load(f.read_text()) or {})
    return found


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role, option, variable", INPUTS)
def test_derived_inputs_fit_the_role_argument_specs(stack, role, option, variable):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    spec = specs["argument_specs"]["main"]["options"][option]
    value = inventory_vars(stack)[variable]
    result = ArgumentSpecValidator({option: spec}).validate({option: value})
    assert not result.error_messages, \
        f"inventory/{stack} {variable} does not fit roles/{role} {option}: {result.error_messages}"
