"""The course: its exercises in their order, found by number or id."""

from __future__ import annotations

from egov.training.access import AdminKey, CitizenSignIn
from egov.training.base import STACK, Exercise, Lab, NotAvailable, TrainingError
from egov.training.data import AuditEvidence, BackupsStopped, RestoreDatabase
from egov.training.incidents import CertificateExpiry, FirewallDrift, LogDiskFull, ServiceDown
from egov.training.services import DatabaseFailover, Onboarding

COURSE: tuple[Exercise, ...] = (
    ServiceDown(), FirewallDrift(), CertificateExpiry(), LogDiskFull(), CitizenSignIn(),
    AdminKey(), BackupsStopped(), RestoreDatabase(), AuditEvidence(), Onboarding(),
    DatabaseFailover(),
)


def by_number(number: int) -> Exercise | None:
    return next((e for e in COURSE if e.number == number), None)


def by_id(exercise_id: str) -> Exercise | None:
    return next((e for e in COURSE if e.id == exercise_id), None)


__all__ = ["COURSE", "STACK", "Exercise", "Lab", "NotAvailable", "TrainingError", "by_id",
           "by_number"]
