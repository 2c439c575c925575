"""Where things are: the project tree, and the per-stack state kept outside git."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The project tree: $EGOV_ROOT, else the nearest folder upwards holding Pulumi.yaml,
    else the tree this package was installed from."""
    if os.environ.get("EGOV_ROOT"):
        return Path(os.environ["EGOV_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file() and (folder / "stacks").is_dir():
            return folder
    return PACKAGE_ROOT


def role_defaults(role: str, root: Path = PACKAGE_ROOT) -> dict:
    """A role's defaults as written (templated values stay templates)."""
    import yaml

    return yaml.safe_load((root / "roles" / role / "defaults" / "main.yml").read_text())


def role_vars(role: str, root: Path = PACKAGE_ROOT) -> dict:
    """A role's internal variables (vars/main.yml) as written."""
    import yaml

    return yaml.safe_load((root / "roles" / role / "vars" / "main.yml").read_text())


def state_root() -> Path:
    """Generated secrets and machine-local state: $EGOV_STATE_DIR, else
    ~/.local/state/egov. Never inside the project tree. A rehearsal (EGOV_REHEARSAL) keeps
    its state in a folder of its own there, apart from the stack's real state."""
    base = Path(os.environ.get("EGOV_STATE_DIR") or os.path.join(
        os.path.expanduser("~"), ".local", "state", "egov"
    ))
    return base / "rehearsal" if os.environ.get("EGOV_REHEARSAL") else base


def state_dir(stack: str) -> Path:
    return state_root() / stack
