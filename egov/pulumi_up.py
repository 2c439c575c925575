"""Real runs of the Pulumi program, where the Pulumi CLI exists: the Automation API.

`pulumi_up(root, stack)` previews and applies a stack with the mandatory policy pack,
against a local file backend in the state folder (outside git) unless
PULUMI_BACKEND_URL names another. Machines without the CLI get a clear error; they
still have `egov plan`, which needs neither the CLI nor Docker.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egov.i18n import _
from egov.model import load_stack
from egov.paths import state_root

POLICY_PACK = Path("infra") / "policy"


class PulumiUpError(RuntimeError):
    """A real Pulumi run cannot start; the message says what to do."""


class PulumiCliMissing(PulumiUpError):
    pass


def pulumi_cli() -> str:
    """The path of the `pulumi` binary, or a clear error."""
    found = shutil.which("pulumi")
    if found is None:
        raise PulumiCliMissing(_(
            "the Pulumi CLI ('pulumi') is not on PATH, so no stack can be previewed or "
            "provisioned from this machine: install the Pulumi CLI and its Docker provider "
            "plugin, or run 'egov plan <stack>', which plans offline without the CLI"))
    return found


def backend_url() -> str:
    """PULUMI_BACKEND_URL if set, else a local file backend in the state folder."""
    return os.environ.get("PULUMI_BACKEND_URL") or f"file://{state_root() / 'pulumi'}"


def _passphrase_env() -> dict[str, str]:
    """No stack keeps a secret in Pulumi's config (they are in the stack's ansible-vault
    file, egov/vault.py): an empty passphrase keeps Pulumi from prompting, unless the
    operator chose one."""
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or \
            os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return {}
    return {"PULUMI_CONFIG_PASSPHRASE": ""}


def select_stack(root: Path, stack_name: str):
    """The Automation API stack for `stacks/Pulumi.<stack_name>.yaml` (created if new)."""
    from pulumi import automation as auto

    pulumi_cli()
    load_stack(root, stack_name)  # bad input stops here, before Pulumi starts
    backend = backend_url()
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    env = {"PULUMI_BACKEND_URL": backend, **_passphrase_env()}
    opts = auto.LocalWorkspaceOptions(work_dir=str(root), env_vars=env,
                                      secrets_provider="passphrase")  # pragma: allowlist secret
    return auto.create_or_select_stack(stack_name, work_dir=str(root), opts=opts)


@dataclass
class UpReport:
    stack: str
    outputs: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def pulumi_preview(root: Path, stack_name: str, on_output=print) -> dict[str, int]:
    """`pulumi preview --policy-pack infra/policy` through the Automation API."""
    s = select_stack(root, stack_name)
    result = s.preview(policy_packs=[str(root / POLICY_PACK)], on_output=on_output)
    return {str(getattr(k, "value", k)): n for k, n in result.change_summary.items()}


def pulumi_up(root: Path, stack_name: str, on_output=print) -> UpReport:
    """Provision the stack with `pulumi up`, the mandatory policies enforced."""
    started = time.perf_counter()
    s = select_stack(root, stack_name)
    result = s.up(policy_packs=[str(root / POLICY_PACK)], on_output=on_output)
    return UpReport(
        stack=stack_name,
        outputs={k: v.value for k, v in result.outputs.items()},
        changes={str(getattr(k, "value", k)): n
                 for k, n in (result.summary.resource_changes or {}).items()},
        seconds=time.perf_counter() - started,
    )
