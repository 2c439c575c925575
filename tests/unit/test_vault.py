"""The secrets of staging and prod in one ansible-vault file per stack: what one control
machine locks, a second one with an empty state folder unlocks to the same files; a differing
local file, a wrong key or the lab are refused and nothing is written."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from egov import vault
from egov.cli import app
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under `folder`: content (files) and mode."""
    return {p.relative_to(folder).as_posix(): (p.read_text() if p.is_file() else "",
                                               stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*"))}


def _key(path: Path) -> Path:
    path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    for name in ("lab", "prod"):
        shutil.copy(ROOT / "stacks" / f"Pulumi.{name}.yaml", root / "stacks")
    return root


@pytest.fixture
def machine(tmp_path: Path, monkeypatch):
    """Switch to control machine `name` (its own state folder) holding key `key`."""
    def use(name: str, key: Path) -> Path:
        state = tmp_path / name
        monkeypatch.setenv("EGOV_STATE_DIR", str(state))
        monkeypatch.setenv(vault.KEY_ENV, str(key))
        return state / "prod" / "secrets"
    return use


def _generated(folder: Path) -> dict[str, str]:
    """What a converge leaves: passwords with and without a final newline, nested folders."""
    made = {"ldap/admin": secrets.token_urlsafe(24),
            "postgresql/slawe": secrets.token_urlsafe(24),
            "sso/clients/slawe": secrets.token_urlsafe(24) + "\n",
            "restic/repository": secrets.token_hex(16)}
    for rel, content in made.items():
        path = folder / rel
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o600)
    for d in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        d.chmod(0o700)
    return made


def _locked(project: Path, machine, key: Path):
    """The first control machine after a converge: its secrets generated and locked."""
    stack = load_stack(project, "prod")
    first = machine("first", key)
    made = _generated(first)
    locked = vault.lock(stack, project)
    assert locked.changed and locked.entries == len(made)
    return stack, first, made, vault.vault_file(project, "prod").read_bytes()


def test_a_second_control_machine_gets_the_same_files_and_modes(project, machine, tmp_path):
    key = _key(tmp_path / "prod.key")
    stack, first, made, _sealed = _locked(project, machine, key)
    second = machine("second", key)
    assert not second.exists()
    outcome = vault.unlock(stack, project)
    assert sorted(outcome.written) == sorted(made)
    assert _tree(second) == _tree(first)
    assert all(mode == 0o600 for rel, (_, mode) in _tree(second).items() if rel in made)
    assert all(mode == 0o700 for rel, (_, mode) in _tree(second).items() if rel not in made)
    assert stat.S_IMODE(second.stat().st_mode) == 0o700
    # A second unlock finds everything in place and writes nothing.
    assert vault.unlock(stack, project).written == []


def test_unlock_refuses_a_differing_local_file_and_writes_nothing(project, machine, tmp_path):
    key = _key(tmp_path / "prod.key")
    stack, *_ = _locked(project, machine, key)
    second = machine("second", key)
    (second / "ldap").mkdir(parents=True)
    (second / "ldap" / "admin").write_text("invented-here")
    before = _tree(second)
    with pytest.raises(vault.VaultError) as caught:
        vault.unlock(stack, project)
    assert str(second / "ldap" / "admin") in str(caught.value)
    assert "egov secrets unlock prod" in str(caught.value)
    assert _tree(second) == before  # not even the files the vault has and this machine lacks


def test_a_wrong_key_is_refused_and_nothing_is_written(project, machine, tmp_path):
    stack, first, _made, sealed = _locked(project, machine, _key(tmp_path / "prod.key"))
    second = machine("second", _key(tmp_path / "other.key"))
    with pytest.raises(vault.VaultError, match="does not open"):
        vault.unlock(stack, project)
    assert not second.exists()
    _generated(first)  # new passwords on the first machine, locked with the wrong key
    machine("first", tmp_path / "other.key")
    with pytest.raises(vault.VaultError, match="does not open"):
        vault.lock(stack, project)
    assert vault.vault_file(project, "prod").read_bytes() == sealed
    result = CliRunner().invoke(app, ["secrets", "unlock", "prod"],
                                env={"EGOV_ROOT": str(project)})
    assert result.exit_code == 2, result.output
    assert "does not open" in " ".join(result.stderr.split())


def test_locking_unchanged_secrets_leaves_the_file_byte_for_byte(project, machine, tmp_path):
    stack, folder, _made, sealed = _locked(project, machine, _key(tmp_path / "prod.key"))
    again = vault.lock(stack, project)
    assert not again.changed
    assert vault.vault_file(project, "prod").read_bytes() == sealed
    (folder / "services").mkdir(mode=0o700)
    (folder / "services" / "slawe").write_text(secrets.token_urlsafe(24))
    assert vault.lock(stack, project).changed
    assert vault.vault_file(project, "prod").read_bytes() != sealed


def test_the_vault_file_holds_no_clear_text(project, machine, tmp_path):
    _stack, _first, made, _sealed = _locked(project, machine, _key(tmp_path / "prod.key"))
    text = vault.vault_file(project, "prod").read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    for rel, content in made.items():
        assert content.strip() not in text, f"{rel}: its value is in clear text"
        assert rel not in text, f"{rel}: its name is in clear text"


def test_ansible_vault_reads_it_without_egov(project, machine, tmp_path):
    key = _key(tmp_path / "prod.key")
    _stack, _first, made, _sealed = _locked(project, machine, key)
    tool = Path(sys.executable).parent / "ansible-vault"
    shown = subprocess.run([str(tool), "view", "--vault-id", f"prod@{key}",
                            str(vault.vault_file(project, "prod"))],
                           capture_output=True, text=True, check=True).stdout
    assert made["ldap/admin"] in shown


def test_lock_refuses_to_drop_what_only_the_vault_holds(project, machine, tmp_path):
    key = _key(tmp_path / "prod.key")
    stack, _first, _made, sealed = _locked(project, machine, key)
    machine("second", key)
    with pytest.raises(vault.VaultError, match="egov secrets unlock prod"):
        vault.lock(stack, project)
    assert vault.vault_file(project, "prod").read_bytes() == sealed


def test_a_key_others_can_read_is_refused(project, machine, tmp_path):
    key = _key(tmp_path / "prod.key")
    key.chmod(0o644)
    machine("first", key)
    with pytest.raises(vault.VaultError, match="chmod 600"):
        vault.unlock(load_stack(project, "prod"), project)


def test_converge_locks_what_it_generated_even_when_it_fails(project, machine, tmp_path):
    stack = load_stack(project, "prod")
    folder = machine("first", _key(tmp_path / "prod.key"))
    with pytest.raises(RuntimeError, match="converge failed"), \
            vault.around_converge(stack, project, log=lambda _m: None):
        _generated(folder)
        raise RuntimeError("converge failed")
    machine("second", tmp_path / "prod.key")
    vault.unlock(stack, project)
    assert _tree(tmp_path / "second" / "prod" / "secrets") == _tree(folder)


def test_the_lab_never_touches_a_vault(project, machine, tmp_path):
    machine("first", tmp_path / "no-such.key")
    lab = load_stack(project, "lab")
    with vault.around_converge(lab, project):
        pass
    assert not (project / "stacks" / "secrets").exists()
    assert not (tmp_path / "first").exists()
    with pytest.raises(vault.VaultError, match="lab"):
        vault.lock(lab, project)


def test_init_makes_a_private_key_for_a_new_stack_only(project, tmp_path):
    env = {"EGOV_ROOT": str(project), "EGOV_STATE_DIR": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), vault.KEY_ENV: ""}
    runner = CliRunner()
    refused = runner.invoke(app, ["secrets", "init", "lab"], env=env)
    assert refused.exit_code == 2, refused.output
    assert not (tmp_path / "config").exists()
    made = runner.invoke(app, ["secrets", "init", "prod"], env=env)
    assert made.exit_code == 0, made.output
    key = tmp_path / "config" / "egov" / "vault" / "prod.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) >= 32
    assert runner.invoke(app, ["secrets", "init", "prod"], env=env).exit_code == 2
    vault.vault_file(project, "prod").parent.mkdir()
    vault.vault_file(project, "prod").write_text("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    os.remove(key)
    refused = runner.invoke(app, ["secrets", "init", "prod"], env=env)
    assert refused.exit_code == 2 and not key.exists(), refused.output


def test_lab_converge_is_wrapped_for_prod_only(project, machine, tmp_path, monkeypatch):
    from egov import lab

    folder = machine("first", tmp_path / "prod.key")
    _key(tmp_path / "prod.key")

    def converging(*_args, **_kwargs):
        _generated(folder)
        raise RuntimeError("converge failed")

    monkeypatch.setattr(lab, "run_playbook", converging)
    with pytest.raises(RuntimeError, match="converge failed"):
        lab.converge(load_stack(project, "prod"), project, show=False)
    assert vault.vault_file(project, "prod").is_file()
    machine("second", tmp_path / "no-such.key")  # the lab needs no key
    with pytest.raises(RuntimeError, match="converge failed"):
        lab.converge(load_stack(project, "lab"), project, show=False)
    assert [p.name for p in vault.vault_file(project, "prod").parent.iterdir()] == [
        "prod.vault.yml"]
