"""No secret in clear text in the repository or the generated inventories (detect-secrets,
its default plugins). The one expected finding is the broken-stack corpus file that proves
the model refuses a clear-text secret; a false positive is waived on its own line with
detect-secrets' `pragma: allowlist secret` comment."""

from __future__ import annotations

import subprocess
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {("tests/stacks/broken/clear-text-secret.yaml", "Secret Keyword")}


def _tracked() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    if out.returncode == 0 and out.stdout:
        return [p for p in out.stdout.splitlines() if (ROOT / p).is_file()]
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]


def test_repository_and_inventories_hold_no_clear_text_secret(monkeypatch):
    monkeypatch.chdir(ROOT)
    files = _tracked()
    assert any(f.startswith("inventory/lab/") for f in files), "inventories not scanned"
    found = SecretsCollection()
    with default_settings():
        found.scan_files(*files)
    hits = {(f, s.type) for f, s in found}
    where = sorted(f"{f}:{s.line_number} {s.type}" for f, s in found)
    assert hits == EXPECTED, "clear-text secrets (or a missed expected one):\n" + "\n".join(where)
