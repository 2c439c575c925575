"""The mandatory policy pack: `pulumi preview --policy-pack infra/policy -s <stack>`."""

import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import PolicyPack  # noqa: E402

from egov.model import load_stack  # noqa: E402
from infra.policy.policies import Allowed, pulumi_policies  # noqa: E402


@cache
def allowed_for(stack: str) -> Allowed:
    # The stack model says what each stack allows; the URN says which stack is previewed.
    return Allowed.from_stack(load_stack(ROOT, stack))


PolicyPack(name="egov-dc-mandatory", policies=pulumi_policies(allowed_for))
