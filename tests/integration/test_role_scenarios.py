"""Each role with a Molecule-style scenario, alone on a throwaway node: `egov role test`
converges it twice (the second run must change nothing) and runs its testinfra checks.

Marked `lab` because it needs the Docker engine; it uses no stack, only a node labelled
`roletest`, removed afterwards.
"""

from __future__ import annotations

import pytest

from egov import role_test
from egov.paths import PACKAGE_ROOT

from .conftest import egov, labelled_objects

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("role", role_test.roles_with_scenario(PACKAGE_ROOT))
def test_the_role_converges_alone_twice_and_passes_its_checks(role):
    res = egov("role", "test", role, timeout=900)
    assert res.returncode == 0, \
        f"egov role test {role}:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
    assert "converge again: 0 changed task(s)" in res.stdout, res.stdout[-2000:]
    left = [c for c in labelled_objects()["container"] if c == role_test.container_name(role)]
    assert not left, f"the throwaway node of {role} was left behind: {left}"


def test_a_role_without_a_scenario_is_refused_with_exit_2():
    res = egov("role", "test", "base", timeout=60)
    assert res.returncode == 2 and "molecule/default/converge.yml" in res.stdout + res.stderr, \
        res.stdout + res.stderr
