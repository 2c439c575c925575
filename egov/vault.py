"""The secrets of a stack that is not the lab: one ansible-vault file in the repository.

`stacks/secrets/<stack>.vault.yml` holds the state folder's `secrets/` (every password the
roles generate on the control machine) as {relative path: content}, encrypted with the
stack's key under the vault id <stack>. `unlock` writes it into the state folder before a
converge, `lock` writes the folder back after it, so a second control machine uses the
passwords the first one made instead of inventing its own. The lab keeps generating its
secrets on the machine. `ansible-vault view --vault-id prod@<key file> <vault file>` reads
the same file without egov.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from egov.i18n import _
from egov.model import Environment, Stack
from egov.paths import state_dir

KEY_ENV = "EGOV_VAULT_PASSWORD_FILE"


class VaultError(RuntimeError):
    """The vault cannot be used as asked; the message says what to do. Nothing was written."""


def uses_vault(stack: Stack) -> bool:
    return stack.environment != Environment.lab


def vault_file(root: Path, stack: str) -> Path:
    """The stack's vault in the repository; a rehearsal's is its own, in its state."""
    from egov import rehearsal
    if rehearsal.is_rehearsal(stack):
        return rehearsal.vault_file(stack)
    return root / "stacks" / "secrets" / f"{stack}.vault.yml"


def key_file(stack: str) -> Path:
    """$EGOV_VAULT_PASSWORD_FILE, else ~/.config/egov/vault/<stack>.key."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "egov" / "vault" / f"{stack}.key"


def secrets_dir(stack: str) -> Path:
    return state_dir(stack) / "secrets"


def _refuse_lab(stack: Stack) -> None:
    if not uses_vault(stack):
        raise VaultError(_("stack {stack} is a lab: its secrets are generated on this machine "
                           "and never kept in the repository").format(stack=repr(stack.name)))


def _read_key(stack: str) -> bytes:
    path = key_file(stack)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VaultError(_("no key for the secrets of stack {stack} at {path}: copy the stack's "
                           "key there (mode 0600) or set {env}; a new stack gets one with "
                           "'egov secrets init {stack}'").format(
                               stack=stack, path=path, env=KEY_ENV)) from None
    if stat.S_IMODE(mode) & 0o077:
        raise VaultError(_("the key file {path} can be read by other users: run "
                           "'chmod 600 {path}'").format(path=path))
    # Stripped as ansible-vault strips a password file, so both read the same key.
    key = path.read_bytes().strip()
    if not key:
        raise VaultError(_("the key file {path} is empty").format(path=path))
    return key


def _vault(stack: str):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(stack, VaultSecret(_read_key(stack)))])


def _decrypt(root: Path, stack: str) -> dict[str, str] | None:
    """The vault's {relative path: content}, or None when the stack has no vault file yet."""
    from ansible.errors import AnsibleError

    path = vault_file(root, stack)
    if not path.is_file():
        return None
    vault = _vault(stack)
    try:
        plain = vault.decrypt(path.read_bytes())
    except AnsibleError:
        raise VaultError(_("the key in {key} does not open {file}: it is not the key of stack "
                           "{stack}; nothing was written").format(
                               key=key_file(stack), file=path, stack=stack)) from None
    doc = yaml.safe_load(plain) or {}
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise VaultError(_("{file} is not a mapping of secret files to their contents").format(
            file=path))
    for rel in doc:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise VaultError(_("{file} names {entry}, outside the secrets folder").format(
                file=path, entry=repr(rel)))
    return doc


def _local(stack: str) -> dict[str, str]:
    folder = secrets_dir(stack)
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            try:
                # Bytes as written: text mode would fold "\r\n" and change a password.
                out[path.relative_to(folder).as_posix()] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise VaultError(_("{path} is not UTF-8 text: only text secrets are kept in "
                                   "the vault").format(path=path)) from None
    return out


@dataclass
class Outcome:
    """What unlock or lock did: the secret files written (unlock) or the vault's entries,
    and whether the vault file changed (lock)."""

    file: Path
    written: list[str] = field(default_factory=list)
    entries: int = 0
    changed: bool = False


def unlock(stack: Stack, root: Path) -> Outcome:
    """Write the vault's secrets into the state folder: missing files are written, identical
    ones left alone; a local file that differs from the vault's is refused, before anything
    is written."""
    _refuse_lab(stack)
    path = vault_file(root, stack.name)
    held = _decrypt(root, stack.name)
    if held is None:
        _read_key(stack.name)  # no vault file yet (a new stack): still, the key must be there
        return Outcome(path)
    folder = secrets_dir(stack.name)
    local = _local(stack.name)
    differ = sorted(k for k, v in held.items() if k in local and local[k] != v)
    if differ:
        raise VaultError(_("{path} differs from the stack's vault {file}: if the vault is right, "
                           "remove the local file and run 'egov secrets unlock {stack}'; if the "
                           "local one is right (a changed password), run 'egov secrets lock "
                           "{stack}' and commit the vault file").format(
                               path=folder / differ[0], file=path, stack=stack.name))
    outcome = Outcome(path, entries=len(held))
    _make_dir(folder)
    for rel, content in sorted(held.items()):
        if rel in local:
            continue
        target = folder / rel
        for parent in reversed(target.relative_to(folder).parents[:-1]):
            _make_dir(folder / parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        outcome.written.append(rel)
    return outcome


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def lock(stack: Stack, root: Path) -> Outcome:
    """Encrypt the state folder's secrets into the vault file. Content the vault already holds
    leaves the file's bytes as they are (ansible-vault salts every encryption); a vault entry
    missing here is refused, so a machine that never unlocked cannot drop it."""
    _refuse_lab(stack)
    path = vault_file(root, stack.name)
    held = _decrypt(root, stack.name)
    local = _local(stack.name)
    missing = sorted(set(held or {}) - set(local))
    if missing:
        raise VaultError(_("the vault {file} holds {entry}, which is not in {folder}: run 'egov "
                           "secrets unlock {stack}' first, so that locking keeps it").format(
                               file=path, entry=missing[0], folder=secrets_dir(stack.name),
                               stack=stack.name))
    outcome = Outcome(path, entries=len(local))
    if held == local or (held is None and not local):
        return outcome
    plain = yaml.safe_dump(local, sort_keys=True, default_flow_style=False, allow_unicode=True)
    sealed = _vault(stack.name).encrypt(plain.encode("utf-8"), vault_id=stack.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(sealed)
    partial.replace(path)
    outcome.changed = True
    return outcome


def init(stack: Stack, root: Path) -> Path:
    """A new random key for a stack that has no vault file yet; returns its path."""
    _refuse_lab(stack)
    path = vault_file(root, stack.name)
    if path.exists():
        raise VaultError(_("stack {stack} already has its vault {file}: ask an administrator "
                           "of the stack for its key and put it at {key} (mode 0600)").format(
                               stack=stack.name, file=path, key=key_file(stack.name)))
    key = key_file(stack.name)
    if key.exists():
        raise VaultError(_("{key} exists already: it is this stack's key; keep it").format(
            key=key))
    key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    return key


def commit_hint(outcome: Outcome, root: Path) -> str:
    shown = outcome.file.relative_to(root) if outcome.file.is_relative_to(root) else outcome.file
    return _("wrote {file} ({count} secret(s)): commit it, it is the only copy other control "
             "machines get").format(file=shown, count=outcome.entries)


@contextmanager
def around_converge(stack: Stack, root: Path, log: Callable[[str], object] = print
                    ) -> Iterator[None]:
    """Unlock before a converge and lock after it, also after a failed one, so a password the
    converge generated is never only on this machine. The lab: nothing at all."""
    if not uses_vault(stack):
        yield
        return
    unlock(stack, root)
    try:
        yield
    except BaseException:
        # The converge's own error is the one to see; a lock that fails after it is told.
        try:
            _lock_and_say(stack, root, log)
        except VaultError as exc:
            log(str(exc))
        raise
    _lock_and_say(stack, root, log)


def _lock_and_say(stack: Stack, root: Path, log: Callable[[str], object]) -> None:
    outcome = lock(stack, root)
    if outcome.changed:
        log(commit_hint(outcome, root))
