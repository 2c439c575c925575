"""Real Pulumi runs through the Automation API: they need the Pulumi CLI. Without it the
error says so; the tests that need it are skipped with a message that says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from egov import pulumi_up

ROOT = Path(__file__).resolve().parents[2]
NO_CLI = ("the Pulumi CLI is not on PATH (it and its Docker plugin cannot be installed on "
          "this machine); `egov plan` covers the program offline")


def test_missing_cli_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pulumi_up.PulumiCliMissing) as exc:
        pulumi_up.pulumi_up(ROOT, "prod")
    assert "Pulumi CLI" in str(exc.value) and "egov plan" in str(exc.value)


def test_no_stack_needs_a_pulumi_passphrase(monkeypatch, tmp_path):
    # Secrets are in the stacks' ansible-vault files: Pulumi's config holds none, so a
    # machine with the CLI runs `pulumi up` without a passphrase, unless one is chosen.
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    assert pulumi_up._passphrase_env() == {"PULUMI_CONFIG_PASSPHRASE": ""}
    chosen = tmp_path / "passphrase"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(chosen))
    assert pulumi_up._passphrase_env() == {}


def test_default_backend_is_a_local_file_backend(monkeypatch, tmp_path):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    assert pulumi_up.backend_url() == f"file://{tmp_path / 'pulumi'}"


@pytest.mark.skipif(shutil.which("pulumi") is None, reason=NO_CLI)
@pytest.mark.skipif(shutil.which("docker") is None, reason="needs a Docker engine for lab")
def test_preview_lab_with_the_policy_pack(monkeypatch, tmp_path):
    # Only the lab stack: staging and prod hosts are never contacted by tests.
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    changes = pulumi_up.pulumi_preview(ROOT, "lab", on_output=lambda line: None)
    assert changes.get("create", 0) + changes.get("same", 0) > 0
