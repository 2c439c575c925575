"""The reference service's wheel: the same bytes from the same source, a new version when
the source changes, installable by pip without any index."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from egov.artifacts import build_wheel

SOURCE = Path(__file__).resolve().parents[2] / "apps" / "egov-reference-service"


def test_the_same_source_gives_the_same_wheel(tmp_path):
    a = build_wheel(SOURCE, tmp_path / "a")
    b = build_wheel(SOURCE, tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes()
    names = zipfile.ZipFile(a).namelist()
    assert "egov_reference_service/app.py" in names
    assert "egov_reference_service/templates/slawe.html" in names
    assert not [n for n in names if "__pycache__" in n]


def test_a_changed_source_gets_a_new_version(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns("__pycache__"))
    before = build_wheel(src, tmp_path / "out")
    (src / "egov_reference_service" / "app.py").write_text(
        (src / "egov_reference_service" / "app.py").read_text() + "\n# changed\n")
    after = build_wheel(src, tmp_path / "out")
    assert before.name != after.name
    assert before.name.split("-")[1].startswith("1.0.0+g")


def test_pip_installs_it_without_an_index(tmp_path):
    wheel = build_wheel(SOURCE, tmp_path / "out")
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                          "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (target / "egov_reference_service" / "wsgi.py").is_file()
    version = wheel.name.split("-")[1]
    assert list(target.glob(f"egov_reference_service-{version}.dist-info/RECORD"))
