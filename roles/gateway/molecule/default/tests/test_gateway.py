"""The gateway role alone: the lab's checks of nginx (tests/nodes/test_gateway.py) for the
scenario's public names, then a request through to the stand-in backend."""

from types import SimpleNamespace

import pytest

from tests.nodes.test_gateway import (  # noqa: F401 (collected here)
    probe,
    test_http_redirects_to_https,
    test_https_answers_carry_hsts_and_security_headers,
    test_nginx_runs_with_a_valid_configuration,
    test_only_tls_1_2_and_1_3_are_offered,
    test_tls_1_2_uses_ecdhe_and_aead_only_without_tickets,
    test_unknown_names_are_refused,
)

NAMES = ("auth.roletest.invalid", "portal.roletest.invalid")


@pytest.fixture
def sites(host):
    """The scenario's public names (converge.yml), each routed to the stand-in backend."""
    backend = f"{host.interface('eth0').addresses[0]}:8000"
    return [SimpleNamespace(name=n, backends=[backend]) for n in NAMES]


def test_a_request_reaches_the_backend_through_tls(host, name, sites):
    for site in sites:
        answer = probe(host, site.name, path="/")
        assert isinstance(answer, list) and answer[0][0] == 200, \
            f"{name}: https://{site.name}/ through the gateway answered {answer}"
