"""No clear-text secret anywhere in stacks/: secrets are Pulumi `secure:` values sealed by
the passphrase provider (AES-256-GCM, key from PBKDF2 over `encryptionsalt`)."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
SECURE = re.compile(r"^v1:([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")
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


def _sealed(value: str) -> bool:
    m = SECURE.match(value)
    if not m:
        return False
    nonce, box = (base64.b64decode(g) for g in m.groups())
    return len(nonce) == 12 and len(box) > 16  # 96-bit GCM nonce; ciphertext plus 16-byte tag


def test_there_are_stack_files():
    assert {p.name for p in STACK_FILES} >= {"Pulumi.lab.yaml", "Pulumi.staging.yaml",
                                              "Pulumi.prod.yaml"}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_no_clear_text_secret(path):
    doc = yaml.safe_load(path.read_text())
    for where, value in _walk(doc.get("config", {})):
        if where.endswith(".secure"):
            assert _sealed(str(value)), f"{path.name}: {where} is not a sealed Pulumi secret"
            continue
        assert not PRIVATE_MATERIAL.search(str(value)), f"{path.name}: {where} holds key material"
        leaf = where.rsplit(".", 1)[-1]
        if SECRET_KEY.search(where.split(":", 1)[-1]) and "adminKeys" not in where:
            pytest.fail(f"{path.name}: {where} = {str(value)[:4]}... is a secret in clear text; "
                        f"encrypt it with pulumi config set --secret --path '{leaf}'")
    assert not PRIVATE_MATERIAL.search(path.read_text()), f"{path.name}: private key material"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_secure_values_come_with_the_passphrase_salt(path):
    doc = yaml.safe_load(path.read_text())
    stack = load_stack(ROOT, path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    if not stack.secrets:
        return
    salt = doc.get("encryptionsalt", "")
    m = re.match(r"^v1:([A-Za-z0-9+/=]+):(v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)$", salt)
    assert m, f"{path.name}: secrets need the passphrase provider's encryptionsalt"
    assert len(base64.b64decode(m.group(1))) == 8 and _sealed(m.group(2))
    for name, value in stack.secrets.items():
        assert not isinstance(value, str), f"{path.name}: secrets.{name} in clear text"
        assert _sealed(value.secure), f"{path.name}: secrets.{name} is not sealed"
    values = [v.secure for v in stack.secrets.values()]
    assert len(set(values)) == len(values), f"{path.name}: repeated ciphertexts"


def test_staging_and_prod_have_sealed_secrets():
    for name in ("staging", "prod"):
        assert load_stack(ROOT, name).secrets, f"{name}: no secrets at all"


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
