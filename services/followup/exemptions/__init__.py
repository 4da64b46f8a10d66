"""Exemptions (核减 / 申诉): a unit asks that a ticket not count in its figures, the centre decides;
in the service template (domain, app, store, http; the Kafka commands are `tickets/commands.py`)."""
