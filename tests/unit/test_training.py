"""The training course without a lab: its exercises and their texts in both languages, the
commands' refusals, progress kept per trainee, the trainee's record in Markdown and HTML,
and the pieces the exercises use on a lab (the subset of verify checks, the stack file's
administrator keys), checked here against stand-ins."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from typer.testing import CliRunner

from egov import i18n
from egov.cli import app
from egov.model import load_stack, parse_stack
from egov.training import base, course
from egov.training.access import with_key, without_key
from egov.training.progress import Progress, load_active, slug

ROOT = Path(__file__).resolve().parents[2]
COVERED = {"onboarding", "restore-database", "firewall-drift", "certificate-expiry",
           "service-down", "log-disk-full", "admin-key", "citizen-sign-in", "audit-evidence",
           "backups-stopped"}
BRACE = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}")


@pytest.fixture(autouse=True)
def _project(tmp_path, monkeypatch):
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("EGOV_TRAINEE", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    yield
    i18n.set_language(None)  # the CLI's --lang stays set in this process after a test


def egov(*args: str, **env: str):
    res = CliRunner().invoke(app, list(args), env=env or None)
    return res, " ".join(res.output.split())


@pytest.fixture
def lab_stack():
    return load_stack(ROOT, "lab")


def test_the_course_has_ten_counted_exercises_and_the_failover_declared():
    numbers = [ex.number for ex in course.COURSE]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    counted = {ex.id for ex in course.COURSE if ex.counted}
    assert counted == COVERED, counted ^ COVERED
    failover = course.by_id("database-failover")
    assert failover is not None and not failover.counted
    assert len({ex.id for ex in course.COURSE}) == len(course.COURSE)
    for ex in course.COURSE:
        assert ex.title and ex.brief and ex.hints and ex.minutes > 0, ex.id
        if ex.counted:
            assert len(ex.hints) >= 2, f"{ex.id}: one hint only"


@pytest.mark.parametrize("lang", ["en", "id"])
def test_each_brief_and_hint_reads_in_both_languages_with_facts_of_the_stack(lab_stack, lang):
    i18n.set_language(lang)
    for ex in course.COURSE:
        facts = {k: str(v) for k, v in ex.facts(lab_stack).items()}
        for source, shown in [(ex.brief, ex.shown_brief(lab_stack)),
                              *zip(ex.hints, ex.shown_hints(lab_stack), strict=True)]:
            assert set(BRACE.findall(source)) <= set(facts), f"{ex.id}: {source!r}"
            assert "{" not in shown.replace("{{", ""), f"{ex.id}: unfilled {shown!r}"
            if lang == "id":
                assert shown != source.format(**facts), f"{ex.id}: not translated: {source!r}"
        if lang == "id":
            assert ex.shown_title() != ex.title, f"{ex.id}: title not translated"


def test_list_works_without_a_lab(monkeypatch):
    from egov import engine
    monkeypatch.setattr(engine, "engine_answers", lambda: pytest.fail("asked Docker"))
    res, shown = egov("training", "list")
    assert res.exit_code == 0, res.output
    for ex in course.COURSE:
        assert ex.shown_title().split()[0] in shown
    assert "needs the prod rehearsal" in shown and "10 exercises count in the course" in shown
    res, shown = egov("training", "list", "--lang", "id")
    assert res.exit_code == 0, res.output
    assert "Layanan mati di balik gateway" in shown and "memerlukan gladi prod" in shown, shown


def test_an_unknown_exercise_is_refused_with_the_numbers_there_are():
    res, shown = egov("training", "start", "99", "--trainee", "Siti")
    assert res.exit_code == 2, res.output
    assert "there is no exercise 99: the course has exercises 1 to 11" in shown, shown
    res, shown = egov("training", "reset", "0")
    assert res.exit_code == 2 and "there is no exercise 0" in shown, shown


def test_check_hint_and_reset_need_an_exercise_in_progress():
    for command in ("check", "hint", "reset"):
        res, shown = egov("training", command)
        assert res.exit_code == 2, f"{command}: {res.output}"
        assert "no exercise is in progress on this lab" in shown, shown


def test_a_start_needs_a_trainee_with_a_name():
    res, shown = egov("training", "start", "1")
    assert res.exit_code == 2 and "give --trainee NAME or set EGOV_TRAINEE" in shown, shown
    res, shown = egov("training", "start", "1", "--trainee", "../../etc/passwd")
    assert res.exit_code == 2 and "is not a trainee's name" in shown, shown


def test_a_start_on_a_lab_that_is_not_running_says_so_and_changes_nothing(monkeypatch,
                                                                          tmp_path):
    from egov import engine
    monkeypatch.setattr(engine, "engine_answers", lambda: False)
    res, shown = egov("training", "start", "1", EGOV_TRAINEE="Siti Aminah")
    assert res.exit_code == 1, res.output
    assert "the lab is not running" in shown and "egov up lab" in shown, shown
    assert load_active("lab") is None
    assert not (tmp_path / "state" / "lab" / "training" / "siti-aminah.json").exists()


def test_the_lab_is_running_only_with_every_node_up_and_converged(monkeypatch, lab_stack,
                                                                  tmp_path):
    from egov import engine, lab
    monkeypatch.setattr(engine, "engine_answers", lambda: True)
    rows = [{"node": n.name, "state": "running"} for n in lab_stack.nodes]
    rows[3]["state"] = "exited"
    monkeypatch.setattr(lab, "status", lambda stack: rows)
    with pytest.raises(base.NotRunning, match=f"{rows[3]['node']} not up"):
        base.require_running(lab_stack)
    rows[3]["state"] = "running"
    with pytest.raises(base.NotRunning, match="never converged"):
        base.require_running(lab_stack)
    lab.baseline_file(lab_stack).parent.mkdir(parents=True)
    lab.baseline_file(lab_stack).write_text("{}")
    base.require_running(lab_stack)


def test_the_failover_exercise_needs_the_prod_rehearsal():
    res, shown = egov("training", "start", "11", "--trainee", "Siti")
    assert res.exit_code == 1, res.output
    assert "needs the prod rehearsal" in shown and "not counted" in shown, shown
    assert load_active("lab") is None


SERVICE_DOWN = course.by_id("service-down")


class Drill(base.Exercise):
    """A stand-in exercise: broken until the test repairs it."""

    id = "service-down"
    number = 1
    title, brief, hints = SERVICE_DOWN.title, SERVICE_DOWN.brief, SERVICE_DOWN.hints
    broken = True
    calls: list[str] = []

    def facts(self, stack):
        return SERVICE_DOWN.facts(stack)

    def start(self, lab):
        self.calls.append("start")
        lab.data["stopped"] = "egov-sipanse"

    def check(self, lab):
        self.calls.append(f"check {lab.data.get('stopped')}")
        return ["app1: egov-sipanse not running+enabled"] if Drill.broken else []

    def evidence(self, lab):
        return {"control": "EGOV-RESTORE", "database": "sipanse", "copy": "sipanse_restored",
                "tables": 2, "checked": "2026-12-08T03:00:00Z"}

    def tidy(self, lab):
        self.calls.append("tidy")

    def reset(self, lab):
        self.calls.append(f"reset {lab.data.get('stopped')}")


@pytest.fixture
def drill(monkeypatch):
    Drill.broken, Drill.calls = True, []
    monkeypatch.setattr(course, "COURSE", (Drill(), *course.COURSE[1:]))
    monkeypatch.setattr(base, "require_running", lambda stack: None)
    return Drill


def _progress(trainee: str) -> dict:
    return json.loads(Progress.load("lab", trainee).file.read_text())


def test_progress_is_kept_per_trainee_with_dates_hints_and_checks(drill, tmp_path):
    res, shown = egov("training", "start", "1", "--trainee", "Siti  Aminah")
    assert res.exit_code == 0, res.output
    assert "Exercise 1: A service down behind the gateway" in shown
    assert "502 Bad Gateway" in shown and "egov training check" in shown
    active = load_active("lab")
    assert active["trainee"] == "Siti Aminah" and active["data"] == {"stopped": "egov-sipanse"}
    res, shown = egov("training", "start", "2", "--trainee", "Budi")
    assert res.exit_code == 2 and "exercise 1 is in progress on this lab" in shown, shown

    res, shown = egov("training", "check")
    assert res.exit_code == 1 and "still wrong (1): - app1: egov-sipanse not running" in shown
    res, shown = egov("training", "check", "--trainee", "Budi")
    assert res.exit_code == 2 and "started by Siti Aminah" in shown, shown
    for taken in (1, 2, 3, 3):
        res, shown = egov("training", "hint")
        assert res.exit_code == 0 and f"hint {taken} of 3:" in shown, shown
    assert "(that was the last hint)" in shown

    drill.broken = False
    res, shown = egov("training", "check")
    assert res.exit_code == 0, res.output
    assert "done: exercise 1 completed by Siti Aminah with 3 hints" in shown, shown
    assert drill.calls == ["start", "check egov-sipanse", "check egov-sipanse", "tidy"]
    assert load_active("lab") is None
    saved = _progress("Siti Aminah")
    [attempt] = saved["exercises"]["service-down"]
    assert saved["trainee"] == "Siti Aminah" and set(saved) == {"trainee", "stack", "exercises"}
    assert attempt["hints"] == 3 and attempt["checks"] == 2
    assert attempt["started"] <= attempt["completed"]
    assert attempt["evidence"]["copy"] == "sipanse_restored"
    folder = tmp_path / "state" / "lab" / "training"
    assert stat.S_IMODE((folder / "siti-aminah.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    # Put back after the completion: with what the start recorded.
    res, shown = egov("training", "reset", "1")
    assert res.exit_code == 0 and "the lab is back as before exercise 1" in shown, shown
    assert drill.calls[-1] == "reset egov-sipanse"
    assert not list(folder.glob(".done-*")), "the start's record outlived the reset"

    # Again, then put back: a second attempt, never completed; the first completion stays.
    drill.broken = True
    assert egov("training", "start", "1", EGOV_TRAINEE="Siti Aminah")[0].exit_code == 0
    res, shown = egov("training", "reset")
    assert res.exit_code == 0 and "the lab is back as before exercise 1" in shown, shown
    assert drill.calls[-1] == "reset egov-sipanse" and load_active("lab") is None
    progress = Progress.load("lab", "siti aminah")
    assert len(progress.exercises["service-down"]) == 2
    assert progress.completed()["service-down"] == attempt
    res, shown = egov("training", "list", "--trainee", "Siti Aminah")
    assert "completed" in shown and "Siti Aminah completed 1" in shown, shown
    assert not Progress.load("lab", "Budi").file.exists()


def _record(trainee: str) -> Progress:
    progress = Progress(trainee, "lab")
    progress.exercises = {
        "service-down": [{"started": "2026-12-08T01:00:00Z", "completed": "2026-12-08T01:12:30Z",
                          "hints": 1, "checks": 2, "evidence": None}],
        "audit-evidence": [
            {"started": "2026-12-08T02:00:00Z", "completed": None, "hints": 0, "checks": 1,
             "evidence": None},
            {"started": "2026-12-09T02:00:00Z", "completed": "2026-12-09T02:40:00Z",
             "hints": 2, "checks": 3,
             "evidence": {"control": "EGOV-RESTORE", "database": "slawe",
                          "copy": "slawe_restored", "tables": 2,
                          "checked": "2026-12-09T02:39:00Z"}}],
        "onboarding": [{"started": "2026-12-09T03:00:00Z", "completed": None, "hints": 0,
                        "checks": 0, "evidence": None}],
    }
    progress.save()
    return progress


def test_the_record_is_indonesian_by_default_and_english_on_request(tmp_path):
    _record("Siti Aminah")
    res, shown = egov("training", "report", "--trainee", "Siti Aminah", "--out",
                      str(tmp_path / "id"))
    assert res.exit_code == 0, res.output
    assert "menulis md:" in shown, shown
    md = (tmp_path / "id" / "training-lab-siti-aminah.md").read_text()
    html = (tmp_path / "id" / "training-lab-siti-aminah.html").read_text()
    for text in ("# Catatan pelatihan Siti Aminah", "Peraturan BSSN Nomor 4 Tahun 2021, Pasal 14",
                 "## Latihan yang telah diselesaikan",
                 "| 1 | Layanan mati di balik gateway | 2026-12-08 01:00 UTC | "
                 "2026-12-08 01:12 UTC | 12 | 1 |",
                 "| 9 | Laporan auditor: kontrol tanpa bukti | 2026-12-09 02:00 UTC | "
                 "2026-12-09 02:40 UTC | 40 | 2 |",
                 "**2 dari 10 latihan kursus telah diselesaikan.**",
                 "- EGOV-RESTORE: slawe_restored dipulihkan di samping slawe",
                 "## Belum diselesaikan", "- 10. Layanan instansi baru, dari awal sampai akhir"):
        assert text in md, f"training record (id) lacks {text!r}:\n{md}"
    for english in ("Completed exercises", "A service down", "restored beside"):
        assert english not in md, f"training record (id) still says {english!r}"
    for text in ('<html lang="id">', "<h1>Catatan pelatihan Siti Aminah</h1>",
                 '<tr class="exercise" id="exercise-9"><td>9</td><td>Laporan auditor',
                 "2 dari 10 latihan kursus telah diselesaikan."):
        assert text in html, f"training record (id, HTML) lacks {text!r}"
    assert "Database failover" not in md, "an exercise not counted is listed as pending"

    res, _shown = egov("training", "report", "--trainee", "Siti Aminah", "--lang", "en",
                       "--out", str(tmp_path / "en"))
    assert res.exit_code == 0, res.output
    md = (tmp_path / "en" / "training-lab-siti-aminah.md").read_text()
    html = (tmp_path / "en" / "training-lab-siti-aminah.html").read_text()
    for text in ("# Training record of Siti Aminah", "## Completed exercises",
                 "| 1 | A service down behind the gateway |",
                 "**2 of the 10 exercises of the course completed.**",
                 "- EGOV-RESTORE: slawe_restored restored beside slawe from its latest dump; "
                 "its 2 tables equal those of the live database (checked 2026-12-09 02:39 UTC)"):
        assert text in md, f"training record (en) lacks {text!r}:\n{md}"
    assert '<html lang="en">' in html and "Catatan" not in md


def test_a_record_without_completed_exercises_says_so(tmp_path):
    res, _shown = egov("training", "report", "--trainee", "Budi", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    md = (tmp_path / "training-lab-budi.md").read_text()
    assert "Belum ada latihan yang diselesaikan." in md and "0 dari 10" in md, md


def test_the_record_templates_speak_only_through_the_catalogue():
    with i18n.catalogue_file("id").open("rb") as po:
        catalog = read_po(po, locale="id")
    options = {"**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    found = list(extract_from_dir(ROOT / "templates" / "training", [("**.j2", "jinja2")],
                                  options))
    assert len(found) > 10, "the record's templates hold too few messages"
    percent = re.compile(r"%\((\w+)\)")
    for filename, lineno, message, _comments, _context in found:
        entry = catalog.get(message)
        assert entry is not None and entry.string and not entry.fuzzy, \
            f"templates/training/{filename}:{lineno}: no Indonesian for {message!r}"
        assert set(percent.findall(entry.string)) == set(percent.findall(message)), message


@pytest.mark.parametrize("name, file", [("Siti Aminah", "siti-aminah"), ("budi", "budi"),
                                        ("Dwi  Ayu", "dwi-ayu"), ("Ni Luh Putu", "ni-luh-putu")])
def test_a_trainees_file_is_named_after_the_name(name, file):
    assert slug(name) == file


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b", "x" * 70, "-rf"])
def test_a_name_that_is_no_file_name_is_refused(name):
    with pytest.raises(ValueError, match="is not a trainee's name"):
        slug(name)


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAf0cX1cbD8rdQbqQm1a6yXrC9kkS8cFx4HbXnqmX9Ai rina@x"


def test_an_administrators_key_goes_into_the_stack_file_and_out_again_layout_kept():
    text = (ROOT / "stacks" / "Pulumi.lab.yaml").read_text()
    added = with_key(text, KEY)
    stack = parse_stack(yaml.safe_load(added), name="lab", file="stacks/Pulumi.lab.yaml")
    assert stack.access.admin_keys == [KEY]
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in added.splitlines() if line.lstrip().startswith("#")]
    other = KEY.replace("AAAAIAf0", "AAAAIBz1").replace("rina@", "budi@")
    both = with_key(added, other)
    assert parse_stack(yaml.safe_load(both), name="lab", file="x").access.admin_keys == \
        [KEY, other]
    once = without_key(both, KEY)
    assert parse_stack(yaml.safe_load(once), name="lab", file="x").access.admin_keys == [other]
    assert without_key(added, KEY) == text, "the key's removal left something behind"


def test_an_exercise_runs_the_verify_checks_it_names_on_its_nodes_only(monkeypatch, lab_stack,
                                                                      tmp_path):
    from egov import lab
    from egov.lab import VerifyRun
    from egov.node_shell import hostspec
    seen = {}

    def fake_verify(stack, root, workers, show, extra, report_dir):
        seen.update(workers=workers, extra=extra, report_dir=report_dir)
        results = [
            {"node": "gateway", "check": "test_gateway::test_x", "outcome": "passed",
             "message": ""},
            {"node": "app1", "check": "test_services::test_y", "outcome": "failed",
             "message": "app1: sipanse health answers 503\n\nmore detail"}]
        return VerifyRun(1, {"results": results, "passed": False}, {}, tmp_path / "v.log")

    monkeypatch.setattr(lab, "verify", fake_verify)
    training_lab = base.Lab(lab_stack, ROOT)
    found = training_lab.failures(["test_x", "test_y"], ["gateway", "app1", "gateway"])
    assert found == ["app1: sipanse health answers 503; more detail"]
    assert seen["workers"] == 1 and seen["report_dir"] == training_lab.folder / "checks"
    assert seen["extra"] == [f"--hosts={hostspec('gateway')},{hostspec('app1')}", "-k",
                             "test_x or test_y"]
    with pytest.raises(base.TrainingError, match="did not run"):
        training_lab.failures(["test_x", "test_z"], ["gateway"])
