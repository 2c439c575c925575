"""The egov command's behaviour that needs no Docker."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_up_of_a_remote_stack_without_the_pulumi_cli_fails_clearly(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from egov.cli import app
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no pulumi here
    res = CliRunner().invoke(app, ["up", "prod"])
    assert res.exit_code == 1, res.output
    assert "Pulumi CLI" in res.output and "egov plan" in res.output
    assert not (tmp_path / "state").exists(), "state written before the CLI check"


def test_verify_runs_with_the_default_number_of_workers(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from egov import lab
    from egov.cli import app
    seen = {}

    def fake_verify(stack, root, workers, report_dir):
        seen["workers"] = workers
        raise SystemExit(0)

    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(lab, "verify", fake_verify)
    CliRunner().invoke(app, ["verify", "lab"])
    assert seen == {"workers": lab.VERIFY_WORKERS}
    CliRunner().invoke(app, ["verify", "lab", "--workers", "1"])
    assert seen == {"workers": 1}
    shown = " ".join(CliRunner().invoke(app, ["verify", "--help"]).output.split())
    assert f"default {lab.VERIFY_WORKERS}," in shown, "the help names another default"


def test_converge_refuses_an_extra_variable_that_is_not_key_value(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from egov import lab
    from egov.cli import app
    monkeypatch.setenv("EGOV_ROOT", str(ROOT))
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(lab, "converge", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("converged with a bad -e")))
    res = CliRunner().invoke(app, ["converge", "lab", "-e", "set-aside"])
    assert res.exit_code == 2, res.output
    assert "expected KEY=VALUE" in res.output
