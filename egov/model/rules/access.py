"""Rules on administrator access: a stack the city deploys names its administrators."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Environment, Stack


def check_admin_keys(s: Stack) -> Iterator[Problem]:
    """Only the lab generates a key on the control machine; any other stack without keys
    would come up with no account anyone can log in to."""
    if s.environment != Environment.lab and not s.access.admin_keys:
        yield config_problem(
            "access.adminKeys",
            _("a {environment} stack needs at least one administrator's public key").format(
                environment=s.environment.value),
            _("add each administrator's public key, one line each (ssh-ed25519 AAAA... "
              "name@diskominfo.bengkulukota.go.id); only a lab stack generates its own"))
