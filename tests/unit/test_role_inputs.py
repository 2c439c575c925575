"""The model's derived inputs (generated inventory) fit the argument specs of the roles
that read them, for every stack: a mismatch would stop a converge half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from egov.paths import role_defaults

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


# Defaults two roles must agree on: one creates what the other uses.
SHARED_DEFAULTS = [
    (("database", "database__backup_role"), ("backup", "backup__database_role")),
]


@pytest.mark.parametrize("first, second", SHARED_DEFAULTS)
def test_roles_agree_on_the_names_they_share(first, second):
    a, b = (role_defaults(role)[name] for role, name in (first, second))
    assert a == b, (f"roles/{first[0]} {first[1]} is {a!r} but roles/{second[0]} {second[1]} "
                    f"is {b!r}: set both, in the role defaults or the stack's group_vars")
