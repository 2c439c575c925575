"""Fixtures of the fast tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.paths import PACKAGE_ROOT


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch):
    """The tests read the English messages: a machine whose locale is Indonesian
    (LANG=id_ID.UTF-8) must not change what they see; test_i18n asks for Indonesian itself."""
    for var in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture
def project_ansible_cfg():
    """Write into a throwaway project the project's ansible.cfg, its paths made absolute
    (the throwaway's own roles first, when it has some)."""

    def write(folder: Path, roles: Path | None = None) -> Path:
        cfg = (PACKAGE_ROOT / "ansible.cfg").read_text()
        paths = f"{roles}:{PACKAGE_ROOT / 'roles'}" if roles else str(PACKAGE_ROOT / "roles")
        cfg = cfg.replace("roles_path = roles", f"roles_path = {paths}")
        for kind in ("callback", "filter"):
            cfg = cfg.replace(f"{kind}_plugins = plugins/{kind}",
                              f"{kind}_plugins = {PACKAGE_ROOT / 'plugins' / kind}")
        (folder / "ansible.cfg").write_text(cfg)
        return folder

    return write
