"""Moved to `hotline.deadlines` (the one deadlines module); these names stay importable from here."""

from hotline.deadlines import DeadlinePolicy, Duration, Escalation, default_policy

__all__ = ["DeadlinePolicy", "Duration", "Escalation", "default_policy"]
