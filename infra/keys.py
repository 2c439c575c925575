"""The administrators' public keys that every node accepts at first boot.

Kept apart from the program so that the lookup can be swapped for the shared one
(`egov.access.admin_keys`) without touching the components.
"""

from __future__ import annotations

from egov.model import Environment, Stack
from egov.paths import state_dir


def admin_keys(stack: Stack) -> list[str]:
    """The stack file's keys; a lab stack adds the key pair generated on this machine."""
    keys = list(stack.access.admin_keys)
    if stack.environment == Environment.lab:
        pub = state_dir(stack.name) / "ssh" / "id_ed25519.pub"
        if pub.is_file():
            keys.append(pub.read_text(encoding="utf-8").strip())
    return keys
