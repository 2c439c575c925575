"""What the pki role puts in the CA's revocation list, rendered by Ansible from the role's
own variables: the entries of retired public names stay while their certificates may still
be in force and for one list's lifetime after, then go."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from egov.ansible_run import ansible_env

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "roles" / "pki" / "defaults" / "main.yml").read_text())
VALID_DAYS, CRL_DAYS = DEFAULTS["pki__valid_days"], DEFAULTS["pki__crl_valid_days"]


def _asn1(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y%m%d%H%M%SZ")


def _revoked_all(tmp_path: Path, crl_entries: list[dict], revoked: list[dict]) -> list[dict]:
    """__pki_revoked_all for a current list holding crl_entries and pki__revoked."""
    out = tmp_path / "revoked.json"
    play = [{
        "name": "Render the revocation list's entries",
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROOT / "roles" / "pki" / "vars" / "main.yml")],
        "vars": {"pki__revoked": revoked, "pki__valid_days": VALID_DAYS,
                 "pki__crl_valid_days": CRL_DAYS,
                 "pki__crl_info": {"revoked_certificates": crl_entries}},
        "tasks": [{"name": "Write them", "ansible.builtin.copy": {
            "dest": str(out), "content": "{{ __pki_revoked_all | to_json }}"}}],
    }]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    # The project's own Ansible settings, as every egov run has them.
    env = ansible_env(ROOT, {"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False"})
    run = subprocess.run(["ansible-playbook", "-c", "local", "-i", "localhost,",
                          str(tmp_path / "play.yml")],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


def test_a_retired_name_stays_revoked_while_its_certificate_may_be_in_force(tmp_path):
    entries = [
        {"serial_number": 11, "revocation_date": _asn1(3), "reason": "cessation_of_operation"},
        {"serial_number": 12, "revocation_date": _asn1(VALID_DAYS - 1),
         "reason": "cessation_of_operation"},
        # surely expired, but a list made since its expiry must still name it
        {"serial_number": 13, "revocation_date": _asn1(VALID_DAYS + 2),
         "reason": "cessation_of_operation"},
        # expired more than a list's lifetime ago: every list made since has named it
        {"serial_number": 14, "revocation_date": _asn1(VALID_DAYS + CRL_DAYS + 2),
         "reason": "cessation_of_operation"},
    ]
    kept = {e["serial_number"] for e in _revoked_all(tmp_path, entries, [])}
    assert kept == {11, 12, 13}


def test_the_operators_own_revocations_are_kept_whatever_their_age(tmp_path):
    # even with the reason the role gives retired names, and listed long past any expiry
    mine = [{"serial_number": 21, "revocation_date": _asn1(VALID_DAYS * 3),
             "reason": "cessation_of_operation"}]
    got = _revoked_all(tmp_path, mine, mine)
    assert [e["serial_number"] for e in got] == [21]
