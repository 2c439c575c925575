"""Rules on what a service deploys: the form the service role installs, checked here so
that a wrong artifact stops `egov validate`, not a converge half-way."""

from __future__ import annotations

import re
from collections.abc import Iterator

from egov.i18n import _
from egov.model.problems import Problem, config_problem
from egov.model.schema import Stack

# Built on the control machine from apps/<name>; it keeps its data in the stack's database.
REFERENCE_ARTIFACT = "egov-reference-service"
# A built wheel (name-version-py3-none-any.whl), placed in the state folder's artifacts/.
WHEEL = re.compile(r"^[A-Za-z0-9_.]+-[^-]+-py3-none-any\.whl$")


def check_artifacts(s: Stack) -> Iterator[Problem]:
    for i, svc in enumerate(s.services):
        if svc.artifact != REFERENCE_ARTIFACT and not WHEEL.match(svc.artifact):
            yield config_problem(
                f"services[{i}].artifact",
                _("artifact {artifact!r} is neither {reference} nor a wheel file").format(
                    artifact=svc.artifact, reference=REFERENCE_ARTIFACT),
                _("name a pure-Python wheel such as {name}-1.0-py3-none-any.whl (build it "
                  "with `python -m build --wheel`), or {reference}").format(
                    name=svc.name, reference=REFERENCE_ARTIFACT))
        elif svc.artifact == REFERENCE_ARTIFACT and not svc.database:
            yield config_problem(
                f"services[{i}].database",
                _("service {service!r} runs {reference}, which keeps its data in a "
                  "database").format(service=svc.name, reference=REFERENCE_ARTIFACT),
                _("set database: true, or name another artifact"))
