"""Rules on secrets: none written in clear text."""

from __future__ import annotations

from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem, encrypt_fix, path_step
from egov.model.schema import Stack


def check_secrets_encrypted(s: Stack) -> Iterator[Problem]:
    for key, value in s.secrets.items():
        if isinstance(value, str):
            yield config_problem(f"secrets{path_step(key)}", _("secret written in clear text"),
                                 encrypt_fix(key, s.name))
