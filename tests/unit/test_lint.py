"""The playbooks and roles pass ansible-lint's production profile and yamllint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_yamllint_passes():
    res = _run(str(BIN / "yamllint"), "--strict", "roles", "site.yml", "provision.yml",
               "teardown.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ansible_lint_production_profile_passes():
    res = _run(str(BIN / "ansible-lint"), "--profile", "production", "site.yml",
               "provision.yml", "teardown.yml", "roles/")
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
