"""The directory role alone: the lab's checks (tests/nodes/test_directory.py), given what
they read of a stack by a stand-in for the scenario's one-node lab stack."""

import pytest

from egov import role_test
from tests.nodes.test_directory import (  # noqa: F401 (collected here)
    test_admin_password_is_stored_hashed,
    test_generated_directory_passwords_are_private,
    test_lab_test_accounts_exist_only_in_the_lab,
    test_ldaps_presents_a_certificate_of_the_stack_ca,
    test_slapd_listens_on_ldaps_and_not_on_plain_ldap,
    test_slapd_runs_and_is_enabled,
    test_tree_has_the_city_units_and_groups,
)


@pytest.fixture
def directory():
    """The node is a directory node: the lab's checks skip no node here."""


@pytest.fixture
def stack(host, name):
    """The scenario's one-node lab stack (converge.yml's vars), as the lab's checks read it."""
    return role_test.stand_in_stack(name, host.interface("eth0").addresses[0], environment="lab")
