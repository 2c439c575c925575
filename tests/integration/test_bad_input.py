"""Every broken stack of the corpus is refused by `egov up` with exit code 2 and creates
no Docker object, file or folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import egov, labelled_objects

BROKEN = sorted((Path(__file__).resolve().parents[1] / "stacks" / "broken").glob("*.yaml"))

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def docker_before(lab):
    # The lab is up, so there are labelled objects that must stay exactly as they are.
    return labelled_objects()


@pytest.mark.parametrize("broken", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_stack_is_refused_and_creates_nothing(broken, docker_before, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(Path(__file__).resolve().parents[2], root,
                    ignore=shutil.ignore_patterns(".venv", ".git", "build", "reports", "*.pyc"))
    shutil.copy(broken, root / "stacks" / f"Pulumi.{broken.stem}.yaml")
    state = tmp_path / "state"
    before = sorted(p for p in root.rglob("*"))
    res = egov("up", broken.stem, root=root, env={"EGOV_ROOT": str(root),
                                                  "EGOV_STATE_DIR": str(state)}, timeout=120)
    assert res.returncode == 2, f"{broken.name}: exit {res.returncode}\n{res.stderr[-2000:]}"
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert f"Pulumi.{broken.stem}.yaml" in res.stderr and "fix:" in res.stderr, res.stderr
    assert sorted(p for p in root.rglob("*")) == before, f"{broken.name}: files were created"
    assert not state.exists(), f"{broken.name}: a state folder was created"
    assert labelled_objects() == docker_before, f"{broken.name}: Docker objects changed"
