"""Intake's settings."""

from pathlib import Path

from pydantic import AliasChoices, Field

from hotline.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake: raw records in, tickets out."""

    http_port: int = Field(
        default=8001, validation_alias=AliasChoices("INTAKE_HTTP_PORT", "http_port")
    )
    max_record_bytes: int = Field(default=64 * 1024, description="Larger records are rejected.")
    future_tolerance_s: int = Field(
        default=600, description="A received time further ahead than this is rejected."
    )
    repeat_window_days: int = Field(
        default=30, description="A caller's earlier ticket on the same place and matter within "
        "this many days makes a new one a repeat."
    )
    rate_limit_per_s: float = Field(
        default=10.0, validation_alias=AliasChoices("INTAKE_RATE_LIMIT_PER_S", "rate_limit_per_s"),
        description="Public HTTP endpoints: sustained requests per second per client address "
        "(token bucket, per replica); 0 turns the limit off.",
    )
    rate_limit_burst: int = Field(
        default=60, validation_alias=AliasChoices("INTAKE_RATE_LIMIT_BURST", "rate_limit_burst"),
        description="Requests a client address may send at once before the rate applies.",
    )
    rate_limit_clients: int = Field(
        default=100_000, description="Client addresses tracked at most (least recently seen dropped)."
    )
    repeat_salt: str = Field(
        default="hotline-local",
        validation_alias="INTAKE_REPEAT_SALT",
        description="Secret mixed into the hashed repeat keys; set it in production.",
    )
    classifier_model: Path | None = Field(
        default=None, validation_alias=AliasChoices("INTAKE_CLASSIFIER_MODEL", "classifier_model"),
        description="Category classifier artifact (`hotline model train --out`); the one shipped in "
        "the package when unset. Loaded once at start; one that cannot be used stops intake there.",
    )
    classifier_min_confidence: float = Field(
        default=0.5, ge=0, le=1,
        validation_alias=AliasChoices("INTAKE_CLASSIFIER_MIN_CONFIDENCE", "classifier_min_confidence"),
        description="Below this probability of its best class the classifier is unsure and the ticket "
        "goes to the centre's triage desk (queue.triage); 0 never sends one there.",
    )
