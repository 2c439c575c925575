"""How an ssh-audit policy result is judged: only a documented strict subset is waived."""

from egov.security_scores import judge_policy, judge_testssl

POLICY_KEX = ["sntrup761x25519-sha512", "curve25519-sha256", "kex-strict-s-v00@openssh.com"]


def _error(field, actual, expected=POLICY_KEX):
    return {"mismatched_field": field, "actual": actual, "expected_required": expected,
            "expected_optional": [""]}


def test_a_passed_policy_has_no_errors():
    assert judge_policy({"passed": True, "errors": []}) == ([], [])


def test_a_strict_subset_of_the_key_exchanges_is_waived_with_its_reason():
    errors, waived = judge_policy({"passed": False, "errors": [
        _error("Key exchanges", ["sntrup761x25519-sha512", "kex-strict-s-v00@openssh.com"])]})
    assert errors == [] and waived and waived[0].startswith("Key exchanges:")


def test_an_extra_key_exchange_is_an_error():
    errors, _ = judge_policy({"passed": False, "errors": [
        _error("Key exchanges", [*POLICY_KEX, "diffie-hellman-group14-sha1"])]})
    assert errors and "diffie-hellman-group14-sha1" in errors[0]


def test_any_other_mismatch_is_an_error_even_a_subset():
    errors, waived = judge_policy({"passed": False, "errors": [
        _error("Ciphers", ["aes256-gcm@openssh.com"], ["aes256-gcm@openssh.com", "aes256-ctr"])]})
    assert waived == [] and errors and errors[0].startswith("Ciphers:")


def test_a_failed_policy_without_details_is_an_error():
    errors, _ = judge_policy({"passed": False})
    assert errors


def _finding(ident: str, severity: str, finding: str) -> dict:
    return {"id": ident, "ip": "slawe.lab/127.0.0.1", "port": "8443", "severity": severity,
            "finding": finding}


PROTOCOLS_OK = [_finding("SSLv2", "OK", "not offered"), _finding("SSLv3", "OK", "not offered"),
                _finding("TLS1", "INFO", "not offered"), _finding("TLS1_1", "INFO", "not offered"),
                _finding("TLS1_2", "OK", "offered"), _finding("TLS1_3", "OK", "offered with final")]


def test_testssl_with_only_tls_12_and_13_and_no_medium_finding_passes():
    scan = judge_testssl("slawe", "127.0.0.1:8443", 1.0,
                         [*PROTOCOLS_OK, _finding("BREACH", "LOW", "potentially VULNERABLE"),
                          _finding("cert_trust", "OK", "Ok via SAN")])
    assert scan.ok and scan.offered == ["TLS1_2", "TLS1_3"]
    assert scan.findings == [("LOW", "BREACH", "potentially VULNERABLE")]


def test_testssl_fails_on_a_medium_finding_or_an_old_protocol():
    medium = judge_testssl("s", "e", 1.0, [*PROTOCOLS_OK, _finding("x", "MEDIUM", "weak")])
    assert not medium.ok and medium.failing == [("MEDIUM", "x", "weak")]
    old = judge_testssl("s", "e", 1.0, [*PROTOCOLS_OK[:3], _finding("TLS1_1", "LOW", "offered"),
                                        *PROTOCOLS_OK[4:]])
    assert not old.ok and "TLS1_1" in old.offered


def test_testssl_without_protocol_results_is_not_a_pass():
    scan = judge_testssl("s", "e", 1.0, [_finding("scanProblem", "FATAL", "no connection")])
    assert not scan.ok


def test_internal_tls_services_are_derived_from_the_roles_of_each_stack():
    from egov.model import Role, load_stack
    from egov.paths import PACKAGE_ROOT
    from egov.security_scores import internal_tls_endpoints

    for name in ("lab", "staging", "prod"):
        stack = load_stack(PACKAGE_ROOT, name)
        endpoints = internal_tls_endpoints(stack)
        want = {n.name for role in (Role.directory, Role.logging, Role.database)
                for n in stack.nodes_with(role)}
        assert {node for node, _, _ in endpoints.values()} == want, name
        for node, port, starttls in endpoints.values():
            roles = stack.node(node).roles
            if port == 5432:
                assert Role.database in roles and starttls == "postgres"
            else:
                assert starttls is None and port in (636, 6514)


LYNIS_REPORT = """report_version_major=1
hardening_index={index}
warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|
suggestion[]=KRNL-6000|One or more sysctl values differ from the scan profile|-|-|
suggestion[]=KRNL-6000|Another value|-|-|
suggestion[]=TOOL-9999|Something new|-|-|
"""


def test_lynis_judges_the_index_and_every_unwaived_warning():
    from egov.security_scores import judge_lynis

    waivers = {"warnings": [], "points": [{"test": "KRNL-6000"}]}
    score = judge_lynis("app1", LYNIS_REPORT.format(index=88), waivers)
    assert score.index == 88 and score.warnings == ["PKGS-7392: Found one or more vulnerable "
                                                    "packages."]
    assert not score.ok, "a warning outside the waivers fails the node"
    assert score.suggestions == ["KRNL-6000", "TOOL-9999"] and score.unexplained == ["TOOL-9999"]
    waived = judge_lynis("app1", LYNIS_REPORT.format(index=88),
                         {"warnings": [{"test": "PKGS-7392"}], "points": []})
    assert waived.ok and waived.waived and not waived.warnings
    low = judge_lynis("app1", LYNIS_REPORT.format(index=84),
                      {"warnings": [{"test": "PKGS-7392"}]})
    assert not low.ok, "an index below 85 fails the node"
    assert not judge_lynis("app1", "", {}).ok, "no report is not a pass"


def test_lynis_score_lists_the_security_updates_installed_before_it():
    from egov.security_scores import judge_lynis

    report = "egov_patched[]=libfoo1\negov_patched[]=foo-bin\n" + LYNIS_REPORT.replace(
        "warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|\n", "")
    score = judge_lynis("app1", report.format(index=88), {"points": [{"test": "KRNL-6000"}]})
    assert score.patched == ["libfoo1", "foo-bin"]
    assert score.ok, "a node patched before the run scores as it is after"
    assert judge_lynis("app1", LYNIS_REPORT.format(index=88), {}).patched == []


def test_lynis_waivers_accept_warnings_only_for_container_limits(tmp_path):
    import pytest

    from egov.security_scores import LYNIS_WAIVERS, load_lynis_waivers

    doc = load_lynis_waivers(LYNIS_WAIVERS)
    assert all(p["reason"] and p["kind"] in ("container limit", "choice")
               for p in doc["points"]), "every lost point has a reason and a kind"
    bad = tmp_path / "waivers.yaml"
    bad.write_text("warnings:\n  - {test: PKGS-7392, kind: choice, reason: later}\n")
    with pytest.raises(ValueError, match="only container limits"):
        load_lynis_waivers(bad)


def test_lynis_installs_security_updates_first_only_in_the_lab_unless_asked(monkeypatch):
    import shlex
    import subprocess

    from egov import access, security_scores
    from egov.model import load_stack
    from egov.paths import PACKAGE_ROOT

    sent = []

    def fake_run(cmd, **kwargs):
        # the script, as the node's shell reads the command line ssh hands it
        sent.append(shlex.split(cmd[-1])[-1])
        return subprocess.CompletedProcess(cmd, 0, LYNIS_REPORT.format(index=88).encode(), b"")
    monkeypatch.setattr(security_scores, "lynis_tarball", lambda: b"")
    monkeypatch.setattr(access, "ssh_config", lambda stack: "ssh_config")
    monkeypatch.setattr(security_scores.subprocess, "run", fake_run)
    for name, asked, patched in (("lab", None, True), ("prod", None, False),
                                 ("staging", None, False), ("prod", True, True)):
        sent.clear()
        stack = load_stack(PACKAGE_ROOT, name)
        scores = security_scores.audit_lynis(stack, patch_first=asked)
        assert len(scores) == len(sent) == len(stack.nodes)
        assert all(script.startswith(f"patch_first={int(patched)}\n") for script in sent), \
            (name, asked)
