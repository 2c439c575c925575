"""How an ssh-audit policy result is judged: only a documented strict subset is waived."""

from egov.security_scores import judge_policy

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
