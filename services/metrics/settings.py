"""Metrics' settings."""

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from hotline.metrics.ranking import Weights
from hotline.metrics.settle import SettleRule
from hotline.runtime.settings import ServiceSettings


def _env(name: str, field: str) -> AliasChoices:
    return AliasChoices(name, field)


class MetricsSettings(ServiceSettings):
    """Metrics: live per-unit projections, rankings and hotspots."""

    http_port: int = Field(default=8004, validation_alias=_env("METRICS_HTTP_PORT", "http_port"))
    weight_response: float = Field(
        default=10, ge=0, validation_alias=_env("METRICS_WEIGHT_RESPONSE", "weight_response"),
        description="Weight of the response rate in the composite score.")
    weight_resolution: float = Field(
        default=45, ge=0, validation_alias=_env("METRICS_WEIGHT_RESOLUTION", "weight_resolution"),
        description="Weight of the resolution rate in the composite score.")
    weight_satisfaction: float = Field(
        default=45, ge=0, validation_alias=_env("METRICS_WEIGHT_SATISFACTION", "weight_satisfaction"),
        description="Weight of the satisfaction rate in the composite score.")
    satisfied_weight: float = Field(
        default=1.0, ge=0, le=1, validation_alias=_env("METRICS_SATISFIED_WEIGHT", "satisfied_weight"),
        description="What a 'satisfied' answer counts for in the satisfaction rate.")
    basically_satisfied_weight: float = Field(
        default=0.8, ge=0, le=1,
        validation_alias=_env("METRICS_BASICALLY_SATISFIED_WEIGHT", "basically_satisfied_weight"),
        description="What a 'basically satisfied' answer counts for in the satisfaction rate.")
    bottom_n: int = Field(default=10, ge=1, validation_alias=_env("METRICS_BOTTOM_N", "bottom_n"),
                          description="How many units the bottom list of a ranking names.")
    hotspot_top: int = Field(default=10, ge=1, validation_alias=_env("METRICS_HOTSPOT_TOP", "hotspot_top"),
                             description="Leading categories listed per district and city-wide.")
    cluster_min: int = Field(default=2, ge=2, validation_alias=_env("METRICS_CLUSTER_MIN", "cluster_min"),
                             description="Tickets of one community and category that make a cluster.")
    flush_interval_s: float = Field(
        default=1.0, ge=0, validation_alias=_env("METRICS_FLUSH_INTERVAL_S", "flush_interval_s"),
        description="Writes of the figures, rankings and hotspots that changed start at least this far apart; "
                    "the batches that arrive meanwhile share the next (a unit-month moved by many events is "
                    "written once). The ranking freshness is about this plus the write.")
    batch_max_records: int = Field(
        default=5000, validation_alias=_env("BATCH_MAX_RECORDS", "batch_max_records"),
        description="Records per consumer batch: each batch waits for the next write, so a topic takes at "
                    "most this many records per METRICS_FLUSH_INTERVAL_S.")
    stream_poll_s: float = Field(default=0.5, gt=0, validation_alias=_env("METRICS_STREAM_POLL_S", "stream_poll_s"),
                                 description="How often the ranking stream looks for changes.")
    stream_max_per_client: int = Field(
        default=4, ge=1, validation_alias=_env("METRICS_STREAM_MAX_PER_CLIENT", "stream_max_per_client"),
        description="Ranking streams one client address may have open at once (per replica); past it, 429.")
    stream_max_total: int = Field(
        default=200, ge=1, validation_alias=_env("METRICS_STREAM_MAX_TOTAL", "stream_max_total"),
        description="Ranking streams open at once in all (per replica); past it, 503.")

    business_clock: Literal["wall", "log"] = Field(
        default="wall", validation_alias=_env("HOTLINE_BUSINESS_CLOCK", "business_clock"),
        description="Business time, which settles months, is the wall clock (production) or the latest time "
                    "the log carries: `hotline.clock` ticks and record times (simulation and replay).")
    settle_rule: SettleRule | None = Field(
        default=None, validation_alias=_env("METRICS_SETTLE_RULE", "settle_rule"),
        description="Which rule settles a month (day_of_next_month or all_callbacks); the policy file's "
                    "(data/policies/settle.yaml) when unset.")
    settle_check_s: float = Field(
        default=5.0, gt=0, validation_alias=_env("METRICS_SETTLE_CHECK_S", "settle_check_s"),
        description="How often metrics looks whether business time has settled a month when no record comes.")

    @model_validator(mode="after")
    def _some_weight(self) -> "MetricsSettings":
        if self.weight_response + self.weight_resolution + self.weight_satisfaction <= 0:
            raise ValueError("at least one of the three rate weights must be positive")
        return self

    @property
    def weights(self) -> Weights:
        """The composite and satisfaction weights."""
        return Weights(
            response=self.weight_response, resolution=self.weight_resolution,
            satisfaction=self.weight_satisfaction, satisfied=self.satisfied_weight,
            basically_satisfied=self.basically_satisfied_weight,
        )
