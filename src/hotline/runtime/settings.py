"""Settings every service shares; each service subclasses this once with its own port."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Where the broker and store are, and how a service names its topics and group."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers (any Kafka works)."
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017", description="MongoDB URL (real MongoDB in production)."
    )
    mongodb_database: str = Field(default="hotline", description="Database name.")
    mongodb_timeout_ms: int = Field(default=10_000, description="Client-side operation timeout.")
    topic_prefix: str = Field(
        default="",
        validation_alias="HOTLINE_TOPIC_PREFIX",
        description="Prefix for every topic and group; lets test runs share a broker.",
    )
    catalogue_path: Path | None = Field(
        default=None,
        validation_alias="HOTLINE_CATALOGUE",
        description="Dispatch catalogue file; the shipped Beijing catalogue when unset.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP side binds.")
    batch_max_records: int = Field(default=500, description="Records per consumer batch.")
    log_level: str = Field(default="INFO", description="Log level of the service.")

    def topic(self, name: str) -> str:
        """The full name of a topic, with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def group_id(self, service: str) -> str:
        """The consumer group of a service; replicas of a service share it."""
        return f"{self.topic_prefix}hotline-{service}"
