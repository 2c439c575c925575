"""The committed roles/<role>/README.md are what egov.role_docs writes from the argument
specs: a spec changed without its README (or a README edited by hand) fails here."""

from __future__ import annotations

import pytest

from egov import role_docs
from egov.paths import PACKAGE_ROOT


@pytest.mark.parametrize("role", role_docs.roles())
def test_role_readme_is_generated_from_its_specs(role):
    path = PACKAGE_ROOT / "roles" / role / "README.md"
    assert path.is_file() and path.read_text() == role_docs.render(role), \
        f"{path} is not what its meta/argument_specs.yml says: run python -m egov.role_docs"


def test_generator_writes_every_role(tmp_path):
    (tmp_path / "roles" / "demo" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: Demo.\n    options:\n"
        "      demo__port: {type: int, default: 22, description: 'A | B.'}\n"
        "      demo__names: {type: list, elements: str, required: true, description: Names.}\n")
    role_docs.main(tmp_path)
    text = (tmp_path / "roles" / "demo" / "README.md").read_text()
    assert "| `demo__port` | int | `22` | A \\| B. |" in text
    assert "| `demo__names` | list of str | required | Names. |" in text
