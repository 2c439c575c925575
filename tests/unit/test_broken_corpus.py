"""The broken-stack corpus: every file gives exactly the error written at its top.

Each file under tests/stacks/broken/ is the lab stack with one defect. Its leading
`# expect: ` lines are the whole expected error, as rendered for the file when it is
stacks/Pulumi.<file name>.yaml of a project.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from egov.cli import app
from egov.model import PROJECT, StackError, load_stack

BROKEN = Path(__file__).resolve().parents[1] / "stacks" / "broken"
CORPUS = sorted(BROKEN.glob("*.yaml"))
EXPECT = "# expect: "

# Every defect the corpus must show, by file name.
REQUIRED = {
    "overlapping-subnets", "address-outside-zone", "duplicate-address", "reserved-address",
    "duplicate-node-name", "name-not-dns-safe", "no-bastion", "two-bastions", "unknown-role",
    "role-in-wrong-zone", "node-unknown-zone", "flow-unknown-zone", "unknown-docker-host",
    "bad-memory", "unknown-field", "key-outside-namespace", "yaml-syntax-error",
    "missing-subnet", "clear-text-secret", "service-on-non-app-node", "duplicate-service-port",
    "published-port-clash", "bad-domain", "subnet-host-bits", "port-out-of-range",
    "service-port-not-allowed", "no-admin-keys", "artifact-not-a-wheel",
    "reference-without-database", "package-cache-unreachable",
}


def _text(path: Path) -> str:
    # One corpus file is deliberately not UTF-8; its comment block still is.
    return path.read_bytes().decode("utf-8", "surrogateescape")


def expected(path: Path) -> list[str]:
    lines = []
    for line in _text(path).splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(EXPECT):
            lines.append(line.removeprefix(EXPECT))
    return lines


def project(tmp_path: Path, broken: Path) -> tuple[Path, str]:
    """A project tree holding only the broken file, as the stack named after it."""
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    shutil.copy(BROKEN.parents[2] / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copy(broken, root / "stacks" / f"Pulumi.{broken.stem}.yaml")
    return root, broken.stem


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in folder.rglob("*")}


def _resolves(document: dict, path: str, missing_ok: bool) -> bool:
    """Whether a problem's field path points into the file (its parent, for a missing field)."""
    if path.startswith("config."):
        return path.removeprefix("config.") in document["config"]
    head = re.match(r"[^.\[]+", path).group()
    parts: list[str | int] = [head]
    steps = re.findall(r"\.([^.\[]+)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*')\]", path[len(head):])
    assert "".join(f".{k}" if k else f"[{i or q}]" for k, i, q in steps) == path[len(head):]
    parts += [k or (int(i) if i else ast.literal_eval(q)) for k, i, q in steps]
    node = document["config"]
    for n, part in enumerate(parts):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return missing_ok and n == len(parts) - 1
    return True


def test_corpus_is_large_enough_and_covers_every_defect():
    names = {p.stem for p in CORPUS}
    assert len(CORPUS) >= 20
    assert REQUIRED <= names, sorted(REQUIRED - names)


@pytest.mark.parametrize("broken", CORPUS, ids=[p.stem for p in CORPUS])
def test_error_is_exactly_the_expected_one(broken, tmp_path):
    want = expected(broken)
    assert want, f"{broken.name} has no '{EXPECT}' lines"
    root, name = project(tmp_path, broken)
    with pytest.raises(StackError) as caught:
        load_stack(root, name)
    assert caught.value.render() == "\n".join(want)


@pytest.mark.parametrize("broken", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_problem_names_file_field_and_fix(broken, tmp_path):
    root, name = project(tmp_path, broken)
    with pytest.raises(StackError) as caught:
        load_stack(root, name)
    err = caught.value
    assert err.file == f"stacks/Pulumi.{name}.yaml"
    assert err.problems
    try:
        document = yaml.load(_text(broken), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeError):
        document = None
    for p in err.problems:
        assert p.message and p.fix
        assert p.fix != "correct this value", f"vague fix for {p.path}: {p.message}"
        assert "pattern" not in p.message, f"raw regular expression shown: {p.message}"
        if p.path == "config":
            assert not isinstance((document or {}).get("config"), dict)
        elif p.path.startswith("line "):
            line = int(p.path.split()[1].rstrip(","))
            assert 1 <= line <= len(_text(broken).splitlines())
        elif p.path.startswith((f"{PROJECT}:", "config.")):
            assert document is not None
            assert _resolves(document, p.path, missing_ok=p.message == "Field required"), (
                f"{p.path} does not point into {broken.name}")
        else:
            pytest.fail(f"not a field path: {p.path!r}")


@pytest.mark.parametrize("broken", CORPUS, ids=[p.stem for p in CORPUS])
def test_cli_refuses_with_exit_2_and_creates_nothing(broken, tmp_path):
    root, name = project(tmp_path, broken)
    state = tmp_path / "state"
    state.mkdir()
    before = tree(tmp_path)
    result = CliRunner().invoke(app, ["validate", name],
                                env={"EGOV_ROOT": str(root), "EGOV_STATE_DIR": str(state)})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # The console may wrap long lines; the words and their order must be all there.
    shown = " ".join(result.stderr.split())
    for line in expected(broken):
        assert " ".join(line.split()) in shown
    assert tree(tmp_path) == before
