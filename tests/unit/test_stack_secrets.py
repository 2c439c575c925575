"""No secret anywhere in the stack files: the secrets of staging and prod are in their
ansible-vault files, stacks/secrets/<stack>.vault.yml (egov/vault.py); the lab's are made on
the machine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from egov.model import Environment, load_stack

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
VAULT_FILES = sorted((ROOT / "stacks" / "secrets").glob("*"))
# Keys whose values would be secret; public SSH keys (adminKeys) are not.
SECRET_KEY = re.compile(r"pass(word|phrase)?|secret|token|private|credential|apikey", re.I)
PRIVATE_MATERIAL = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b")


def _walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, node


def test_there_are_stack_files():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.lab.yaml", "Pulumi.staging.yaml",
                                              "Pulumi.prod.yaml"}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_no_clear_text_secret(path):
    doc = yaml.safe_load(path.read_text())
    for where, value in _walk(doc.get("config", {})):
        assert not PRIVATE_MATERIAL.search(str(value)), f"{path.name}: {where} holds key material"
        if SECRET_KEY.search(where.split(":", 1)[-1]) and "adminKeys" not in where:
            pytest.fail(f"{path.name}: {where} = {str(value)[:4]}... is a secret in the stack "
                        f"file; secrets live in stacks/secrets/<stack>.vault.yml (egov secrets)")
    assert not PRIVATE_MATERIAL.search(path.read_text()), f"{path.name}: private key material"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_no_stack_file_keeps_secrets(path):
    # One mechanism: a second copy (Pulumi `secure:` values) would drift from the vault.
    doc = yaml.safe_load(path.read_text())
    assert "egov-dc:secrets" not in doc["config"], f"{path.name}: egov-dc:secrets"


@pytest.mark.parametrize("path", VAULT_FILES, ids=lambda p: p.name)
def test_vault_files_are_ansible_vault_of_a_stack_that_is_not_the_lab(path):
    stack = path.name.removesuffix(".vault.yml")
    assert path.name.endswith(".vault.yml"), f"stacks/secrets/{path.name}: not <stack>.vault.yml"
    assert load_stack(ROOT, stack).environment != Environment.lab, f"{path.name}: a lab"
    header = path.read_text().splitlines()[0]
    assert header == f"$ANSIBLE_VAULT;1.2;AES256;{stack}", f"{path.name}: header {header!r}"


def _repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:  # not a git checkout: every file but the virtualenv
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / line for line in listed.stdout.splitlines()]


def test_no_passphrase_is_kept_in_the_repository():
    setting = re.compile(r"PULUMI_CONFIG_PASSPHRASE\s*[:=]\s*['\"]?[^\s'\"$]")
    for p in _repository_files():
        if p.suffix in (".yaml", ".yml", ".env", ".txt", ".cfg", ".toml", ".ini", ".sh") \
                and p.is_file():
            assert not setting.search(p.read_text(errors="replace")), \
                f"{p.relative_to(ROOT)} sets a Pulumi passphrase"
