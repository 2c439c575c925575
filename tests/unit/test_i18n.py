"""Bahasa Indonesia: every message of the sources has a confirmed Indonesian translation with
the same placeholders, the language follows --lang or the locale, and the auditor's report
is written in the language asked for."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from typer.testing import CliRunner

from egov import evidence, i18n
from egov.cli import app
from egov.model import load_stack

ROOT = Path(__file__).resolve().parents[2]
# `{name}` / `{seconds:.2f}` in Python, `%(name)s` in the Jinja templates (newstyle gettext)
BRACE = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)(?:[.:!\[][^{}]*)?\}")
PERCENT = re.compile(r"%\(([A-Za-z_]\w*)\)")


@pytest.fixture(autouse=True)
def _language_of_the_locale():
    yield
    i18n.set_language(None)  # the CLI's --lang stays set in this process after a test


def extracted() -> dict[str | tuple[str, str], list[str]]:
    """Every message of the sources (babel.cfg), with where it is."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map,
            directory_filter=lambda d: Path(d).name not in {"build", "node_modules", "reports"}):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def catalogue() -> Catalog:
    with i18n.catalogue_file("id").open("rb") as po:
        return read_po(po, locale="id")


def placeholders(text: str) -> tuple[set[str], set[str]]:
    return set(BRACE.findall(text)), set(PERCENT.findall(text))


def problems(messages: dict, catalog: Catalog) -> list[str]:
    """What keeps the catalogue from translating every message in full."""
    out = []
    for msgid, where in messages.items():
        entry = catalog.get(msgid)
        shown = f"{msgid!r} ({where[0]})"
        if entry is None:
            out.append(f"not in the catalogue: {shown}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            out.append(f"no Indonesian translation: {shown}")
        if entry.fuzzy:
            out.append(f"fuzzy (not confirmed): {shown}")
        sources = msgid if isinstance(msgid, tuple) else (msgid,)
        for s in filter(None, strings):
            if placeholders(s) != placeholders(sources[0]):
                out.append(f"placeholders differ in {s!r} from {shown}")
    return out


def test_every_message_has_a_confirmed_translation_with_the_same_placeholders():
    messages = extracted()
    assert len(messages) > 200, "extraction found too few messages: is babel.cfg complete?"
    found = problems(messages, catalogue())
    assert not found, f"{len(found)} catalogue problem(s):\n" + "\n".join(found)


def test_the_catalogue_test_fails_on_a_missing_fuzzy_or_misplaced_translation():
    messages = extracted()
    good = catalogue()
    known = set(problems(messages, good))  # what the first test reports, if anything

    def added(catalog: Catalog) -> list[str]:
        return [p for p in problems(messages, catalog) if p not in known]

    missing, fuzzy, moved = (copy.deepcopy(good) for _ in range(3))
    audit_title = "Audit of stack %(name)s"
    missing[audit_title].string = ""
    fuzzy["Zones"].flags.add("fuzzy")
    moved["stack {stack} is up"].string = "stack {nama} telah berjalan"
    assert added(missing) == [
        f"no Indonesian translation: {audit_title!r} ({messages[audit_title][0]})"]
    assert [p.split(":")[0] for p in added(fuzzy)] == ["fuzzy (not confirmed)"]
    assert [p.split(" in ")[0] for p in added(moved)] == ["placeholders differ"]
    del missing[audit_title]
    assert [p.split(":")[0] for p in added(missing)] == ["not in the catalogue"]


def test_no_message_is_built_where_the_extraction_cannot_see_it():
    # _(f"...") would look translated in code but never reach the catalogue.
    for path in sorted((ROOT / "egov").rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"""\b_\(\s*f["']""", text), f"{path}: _() of an f-string"
        assert not re.search(r"""\{_\(""", text), f"{path}: _() inside an f-string"


@pytest.mark.parametrize("environ, lang", [
    ({"LANG": "id_ID.UTF-8"}, "id"), ({"LANG": "id"}, "id"), ({"LANG": "en_GB.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"), ({}, "en"), ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "id_ID.UTF-8"}, "id"),
    ({"LANG": "id_ID.UTF-8", "LC_ALL": "C"}, "en"),
])
def test_the_locale_chooses_the_language(environ, lang):
    assert i18n.from_locale(environ) == lang


def _evidence(tmp_path: Path) -> Path:
    stack = load_stack(ROOT, "lab")
    check = {"id": "test_x.py::test_zones[ssh://app1]", "node": "app1", "check": "test_zones",
             "doc": "", "controls": ["SPBE-33-ZONES"], "outcome": "passed",
             "evidence": ["12 probes"], "message": "", "seconds": 0.1,
             "time": "2026-11-28T04:00:00Z"}
    t = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    report = evidence.build(stack, ROOT, {"results": [check]}, started=t, finished=t,
                            workers=1, returncode=0)
    path = tmp_path / "ev.json"
    path.write_text(json.dumps(report))
    return path


def test_audit_lang_id_writes_an_indonesian_report(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    monkeypatch.setenv("LANG", "C.UTF-8")
    ev = _evidence(tmp_path)
    res = CliRunner().invoke(app, ["audit", "lab", "--lang", "id", "--out", str(tmp_path / "id"),
                                   "--evidence", str(ev)])
    assert res.exit_code == 0, res.output
    assert "bukti: mutakhir" in res.output and "menulis md:" in res.output
    md = (tmp_path / "id" / "audit-lab.md").read_text()
    html = (tmp_path / "id" / "audit-lab.html").read_text()
    for text in ("# Audit stack `lab`", "**Bukti: MUTAKHIR.**", "## Uraian stack dalam bahasa",
                 "## Bukti verifikasi per kontrol", "### Kontrol tanpa bukti",
                 "| SPBE-33-ZONES | Jaringan dipisahkan ke dalam zona |",
                 "Program Pulumi merencanakan", "| kontrol | judul | sumber | status |"):
        assert text in md, f"audit-lab.md (--lang id) lacks {text!r}"
    for text in ('<html lang="id">', "Siapa yang boleh menjangkau apa", "lulus"):
        assert text in html, f"audit-lab.html (--lang id) lacks {text!r}"
    for english in ("The stack in plain words", "Verification evidence by control",
                    "Network separated into zones", "passed"):
        assert english not in md, f"audit-lab.md (--lang id) still says {english!r}"

    # The same command without --lang, in an English locale, writes English again.
    res = CliRunner().invoke(app, ["audit", "lab", "--out", str(tmp_path / "en"),
                                   "--evidence", str(ev)])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "en" / "audit-lab.md").read_text()
    assert "## The stack in plain words" in md and "Uraian stack" not in md


def test_the_locale_speaks_when_no_lang_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    res = CliRunner().invoke(app, ["validate", "lab"], env={"LANG": "id_ID.UTF-8"})
    assert res.exit_code == 0, res.output
    assert "zona" in res.output and "layanan pada" in res.output, res.output
    res = CliRunner().invoke(app, ["validate", "lab", "--lang", "en"],
                             env={"LANG": "id_ID.UTF-8"})
    assert "zones" in res.output and "services on" in res.output, res.output


def test_an_unknown_lang_is_refused(monkeypatch):
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    res = CliRunner().invoke(app, ["validate", "lab", "--lang", "fr"])
    assert res.exit_code == 2 and "--lang" in res.output


BROKEN = ROOT / "tests" / "stacks" / "broken"


@pytest.mark.parametrize("broken, indonesian", [
    ("duplicate-node-name", ["egov-dc:nodes[5].name: nama 'app1' sudah digunakan oleh nodes[4]",
                             "perbaikan: berikan nama yang unik untuk setiap entri"]),
    ("missing-domain", ["egov-dc:domain: Kolom wajib diisi", "perbaikan: tambahkan kolom ini"]),
    ("bad-environment", ["'test' seharusnya 'lab', 'staging' atau 'prod'",
                         "perbaikan: gunakan salah satu nilai yang tercantum"]),
])
@pytest.mark.parametrize("ask", ["LANG=id_ID.UTF-8", "--lang id"])
def test_validate_prints_the_error_and_its_fix_in_indonesian(broken, indonesian, ask, tmp_path):
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack_file = root / "stacks" / f"Pulumi.{broken}.yaml"
    stack_file.write_bytes((BROKEN / f"{broken}.yaml").read_bytes())
    env = {"EGOV_ROOT": str(root), "EGOV_STATE_DIR": str(tmp_path / "state")}
    lang = ["--lang", "id"] if ask == "--lang id" else []
    if ask.startswith("LANG="):
        env["LANG"] = ask.removeprefix("LANG=")
    res = CliRunner().invoke(app, ["validate", broken, *lang], env=env)
    assert res.exit_code == 2, res.output
    shown = " ".join(res.stderr.split())
    assert f"galat: stack '{broken}' tidak sah" in shown, shown
    for line in indonesian:
        assert line in shown, f"{ask}: {line!r} not in {shown!r}"

    # --lang en wins over an Indonesian locale: the corpus's own English lines.
    res = CliRunner().invoke(app, ["validate", broken, "--lang", "en"],
                             env={**env, "LANG": "id_ID.UTF-8"})
    assert res.exit_code == 2, res.output
    shown = " ".join(res.stderr.split())
    english = [line.removeprefix("# expect: ") for line in
               (BROKEN / f"{broken}.yaml").read_text().splitlines()
               if line.startswith("# expect: ")]
    assert english and all(" ".join(line.split()) in shown for line in english), shown


def test_the_help_speaks_the_chosen_language(monkeypatch):
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    res = CliRunner().invoke(app, ["verify", "--help", "--lang", "id"])
    shown = " ".join(res.output.split())
    assert "Menjalankan setiap pemeriksaan testinfra" in shown and "nama stack" in shown, shown
    # the next command, without --lang in an English locale, is English again
    shown = " ".join(CliRunner().invoke(app, ["verify", "--help"]).output.split())
    assert "Run every testinfra check" in shown and "stack name" in shown, shown
