"""The identity role alone: the lab's checks (tests/nodes/test_identity.py), given what they
read of a stack by a stand-in for the scenario's one-node lab stack."""

import pytest

from egov import role_test
from tests.nodes.test_identity import (  # noqa: F401 (collected here)
    test_jwks_has_a_signing_key,
    test_lab_account_signs_in_at_the_portal,
    test_oidc_discovery_names_the_public_issuer,
    test_portal_answers_on_the_node_address_only,
    test_portal_services_run,
)


@pytest.fixture
def identity():
    """The node is an identity node: the lab's checks skip no node here."""


@pytest.fixture
def stack(host, name):
    """The scenario's one-node lab stack (converge.yml's vars), as the lab's checks read it."""
    return role_test.stand_in_stack(name, host.interface("eth0").addresses[0], environment="lab")
