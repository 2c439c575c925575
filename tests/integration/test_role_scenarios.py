"""Each role with a Molecule-style scenario, alone on a throwaway node: `egov role test`
converges it twice (the second run must change nothing) and runs its testinfra checks.

Marked `lab` because it needs the Docker engine; it uses no stack, only a node and a network
labelled `roletest`, removed afterwards.
"""

from __future__ import annotations

import pytest

from egov import role_test
from egov.paths import PACKAGE_ROOT

from .conftest import egov, labelled_objects

pytestmark = pytest.mark.lab

# CI runs the scenarios of the roles whose lab checks are thinnest, well within about six
# minutes together so that a slower runner still fits: package_cache has no node in the
# lab; node-exporter has three checks there; base's time server and administrator account
# are checked only here. The others run by hand: `egov role test ROLE`.
CI_ROLES = ("package_cache", "node_exporter", "base")

SCENARIOS = role_test.roles_with_scenario(PACKAGE_ROOT)


def test_every_role_ci_runs_has_a_scenario():
    assert set(CI_ROLES) <= set(SCENARIOS), \
        f"CI_ROLES names roles without a scenario: {sorted(set(CI_ROLES) - set(SCENARIOS))}"


@pytest.mark.parametrize("role", [r for r in SCENARIOS if r in CI_ROLES])
def test_the_role_converges_alone_twice_and_passes_its_checks(role):
    res = egov("role", "test", role, timeout=900)
    assert res.returncode == 0, \
        f"egov role test {role}:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
    assert "converge again: 0 changed task(s)" in res.stdout, res.stdout[-2000:]
    name = role_test.container_name(role)
    left = {kind: [o for o in objects if o == name]
            for kind, objects in labelled_objects().items()}
    assert not any(left.values()), f"the throwaway node of {role} was left behind: {left}"


def test_a_role_without_a_scenario_is_refused_with_exit_2():
    without = sorted(p.name for p in (PACKAGE_ROOT / "roles").iterdir()
                     if (p / "tasks").is_dir() and p.name not in SCENARIOS)
    # once every role has a scenario, a name that is no role at all
    res = egov("role", "test", (without or ["no_such_role"])[0], timeout=60)
    assert res.returncode == 2 and "molecule/default/converge.yml" in res.stdout + res.stderr, \
        res.stdout + res.stderr
