"""Metrics' settings."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator

from hotline.metrics.settle import SettleRule
from hotline.ranking_policy import RankingPolicy, ResponseDefinition, load_ranking_policy
from hotline.runtime.settings import ServiceSettings


def _env(name: str, field: str) -> AliasChoices:
    return AliasChoices(name, field)


class MetricsSettings(ServiceSettings):
    """Metrics: live per-unit projections, rankings and hotspots."""

    http_port: int = Field(default=8004, validation_alias=_env("METRICS_HTTP_PORT", "http_port"))
    ranking_policy: Path | None = Field(
        default=None, validation_alias=_env("METRICS_RANKING_POLICY", "ranking_policy"),
        description="A ranking policy file (rates, weights, minimum sample); default the shipped "
                    "data/policies/ranking.yaml.")
    response_definition: ResponseDefinition | None = Field(
        default=None, validation_alias=_env("METRICS_RESPONSE_DEFINITION", "response_definition"),
        description="Which response rate the score uses: callback (the citizen's answer, Beijing's) or "
                    "contact (the unit's recorded contact before the deadline); default the policy file's.")
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

    _policy: RankingPolicy | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_policy(self) -> "MetricsSettings":
        # Read once, at start: a policy file that does not load stops the service, naming the file.
        self._policy = load_ranking_policy(self.ranking_policy, response_definition=self.response_definition)
        return self

    @property
    def policy(self) -> RankingPolicy:
        """The ranking policy this deployment uses, with its response definition."""
        assert self._policy is not None  # set by the validator
        return self._policy
