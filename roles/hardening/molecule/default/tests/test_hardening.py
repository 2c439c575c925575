"""The hardening role alone: the lab's checks of what the role itself sets (tests/nodes).

Left to the lab: the network kernel settings (the base role), the temporary folders (the
container's mounts) and the administrator's password ageing (the stack's administrator).
"""

from tests.nodes.test_hardening import (  # noqa: F401 (collected here)
    test_legal_notice_before_login,
    test_login_defaults_of_new_accounts,
    test_login_shells_time_out_and_keep_files_private,
    test_no_core_dumps,
    test_only_root_reads_cron,
    test_pam_checks_password_quality_and_keeps_temporary_files_per_user,
    test_rarely_used_modules_never_load,
    test_usb_devices_are_blocked,
)
