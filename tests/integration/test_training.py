"""The training course on the running lab. For every exercise: `egov training start N`
breaks or prepares what its brief says, its check names the problem, the model solution
makes `egov training check` pass (the trainee's record gets the completion), and `egov
training reset N` puts the lab back. Then `egov verify lab` passes and the trainee's record
is written in both languages. The exercises break the lab as the drills do, so they run with
the destructive tests; those that change the stack file (an administrator's key, a new
service) change a throwaway copy of the project."""

from __future__ import annotations

import pytest

from egov import evidence
from egov.training.base import Lab
from egov.training.course import COURSE, by_number
from egov.training.progress import Progress, clear_active, folder, load_active

from .conftest import copy_project, egov

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

TRAINEE = "Peserta Uji"
COUNTED = [ex.number for ex in COURSE if ex.counted]

# What each exercise's failing check must name, from the names its brief gives.
SYMPTOMS = {
    "service-down": lambda f: [f"egov-{f['service']}", f"{f['service']}."],
    "firewall-drift": lambda f: [f"'tcp', {f['port']})", f"'tcp', {f['opened']})"],
    "certificate-expiry": lambda f: [f"{f['site']}.crt ends within", "nginx serves for"],
    "log-disk-full": lambda f: [f"{f['folder']} is 100% full",
                                f"did not reach {f['collector']}"],
    "citizen-sign-in": lambda f: [f"{f['uid']} cannot sign in",
                                  f"not in the group {f['group']}"],
    "admin-key": lambda f: ["does not list Rina's key", "still lists Budi's key",
                            "Budi's key is still accepted on"],
    "backups-stopped": lambda f: [f"{f['timer']} is not enabled",
                                  "the missed backup was not taken"],
    "restore-database": lambda f: [f"the database {f['database']} does not exist"],
    "audit-evidence": lambda f: ["no auditor's document", "no restore test"],
    "onboarding": lambda f: [f"no service {f['name']}"],
}


@pytest.fixture(scope="module")
def project(lab, tmp_path_factory):
    """A throwaway copy of the project: the exercises that change the stack file change it."""
    root = copy_project(lab.root, tmp_path_factory.mktemp("training-project"))
    # No record of an earlier run, and no exercise left in progress.
    Progress.load("lab", TRAINEE).file.unlink(missing_ok=True)
    clear_active("lab")
    for leftover in folder("lab").glob(".done-*"):
        leftover.unlink()
    yield root
    Progress.load("lab", TRAINEE).file.unlink(missing_ok=True)


def training(project, *args: str):
    return egov("training", *args, root=project,
                env={"EGOV_ROOT": str(project), "EGOV_TRAINEE": TRAINEE})


@pytest.mark.parametrize("number", COUNTED, ids=[by_number(n).id for n in COUNTED])
def test_the_exercise_breaks_is_checked_solved_and_put_back(project, number):
    ex = by_number(number)
    res = training(project, "start", str(number))
    try:
        assert res.returncode == 0, f"start:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        assert f"Exercise {number}: {ex.title}" in " ".join(res.stdout.split())
        active = load_active("lab")
        assert active["exercise"] == ex.id and active["trainee"] == TRAINEE
        lab = Lab.of(project, active["data"])
        found = ex.check(lab)
        named = "\n".join(found)
        missing = [s for s in SYMPTOMS[ex.id](ex.facts(lab.stack)) if s not in named]
        assert found and not missing, f"the check after the start does not name {missing}:\n" \
                                      f"{named}"

        ex.solve(lab)
        res = training(project, "check")
        assert res.returncode == 0, \
            f"check after the solution:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        assert f"exercise {number} completed by {TRAINEE}" in " ".join(res.stdout.split())
        assert load_active("lab") is None
        done = Progress.load("lab", TRAINEE).completed()[ex.id]
        assert done["started"] <= done["completed"]
        if ex.id == "audit-evidence":
            assert done["evidence"]["control"] == "EGOV-RESTORE", done
    finally:
        res = training(project, "reset", str(number))
        assert res.returncode == 0, f"reset:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"


def test_the_failover_exercise_needs_the_prod_rehearsal(project):
    res = training(project, "start", "11")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "needs the prod rehearsal" in " ".join(res.stderr.split())
    assert load_active("lab") is None


def test_the_lab_verifies_after_the_course(lab):
    res = egov("verify", "lab")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert evidence.latest("lab")["passed"] is True


def test_the_trainees_record_lists_every_completed_exercise_with_its_dates(project, tmp_path):
    res = training(project, "report", "--out", str(tmp_path / "id"))
    assert res.returncode == 0, res.stdout + res.stderr
    md = (tmp_path / "id" / "training-lab-peserta-uji.md").read_text()
    assert f"**{len(COUNTED)} dari {len(COUNTED)} latihan kursus telah diselesaikan.**" in md, md
    assert "EGOV-RESTORE:" in md and "Pasal 14" in md, md
    res = training(project, "report", "--lang", "en", "--out", str(tmp_path / "en"))
    assert res.returncode == 0, res.stdout + res.stderr
    md = (tmp_path / "en" / "training-lab-peserta-uji.md").read_text()
    for ex in COURSE:
        if ex.counted:
            assert f"| {ex.number} | {ex.title} |" in md, f"{ex.id} missing:\n{md}"
    html = (tmp_path / "en" / "training-lab-peserta-uji.html").read_text()
    assert html.count('class="exercise"') == len(COUNTED), html
