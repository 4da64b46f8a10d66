"""Settings every service shares; each service subclasses this once with its own port."""

import ipaddress
import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Where the broker and store are, and how a service names its topics and group."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers (any Kafka works)."
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, or SASL_PLAINTEXT / SASL_SSL with the SASL settings below."
    )
    kafka_sasl_mechanism: str = Field(
        default="SCRAM-SHA-512", description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (with a SASL protocol)."
    )
    kafka_sasl_username: str | None = Field(default=None, description="This service's Kafka user.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="Its password (from the environment).")
    kafka_acks: Literal["all"] = Field(
        default="all",
        description="Acknowledgements every producer waits for: `all`, the in-sync replicas (at least "
        "min.insync.replicas). Only `all` is accepted: with fewer, a broker's loss can lose a record "
        "its producer was told is stored. Stated in docker-compose.yml so its check sees it.",
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of each topic `hotline topics ensure` creates (3 in docker-compose.yml)."
    )
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1,
        description="min.insync.replicas `hotline topics ensure` sets on each topic: an acks=all write needs this "
        "many replicas (2 in docker-compose.yml).",
    )
    kafka_queue_retention_days: float = Field(
        default=60, ge=0,
        description="How long unit queue topics (queue.*) keep a record; 0: for ever. The log topics "
        "(hotline.*, tickets.*, commands) always keep every record.",
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
    city_path: Path | None = Field(
        default=None,
        validation_alias="HOTLINE_CITY",
        description="City file (places, units, catalogue; see hotline.city); Beijing when unset.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP side binds.")
    trusted_proxies: str = Field(
        default="",
        validation_alias="HOTLINE_TRUSTED_PROXIES",
        description="Comma-separated addresses or networks (CIDR) of the proxies whose X-Forwarded-For "
        "names the client; empty: the header is ignored and the client is the connection's address.",
    )
    http_max_body_bytes: int = Field(
        default=64 * 1024, gt=0,
        description="A request body over this is refused with 413 before anything reads it (intake's "
        "public endpoints have their own limits, from MAX_RECORD_BYTES).",
    )
    http_read_timeout_s: float = Field(
        default=15.0, gt=0,
        description="A request whose headers, or whose body, have not arrived within this is answered "
        "408 and its connection closed.",
    )
    batch_max_records: int = Field(default=500, description="Records per consumer batch.")
    log_level: str = Field(default="INFO", description="Log level of the service.")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (the standard variable); traces go to files when unset.",
    )
    traces_dir: Path | None = Field(
        default=None,
        validation_alias="HOTLINE_TRACES_DIR",
        description="Directory of the JSON-lines trace files (<service>.jsonl); default "
        "$HOTLINE_LOCAL_DIR/traces, else .local/traces under the repository.",
    )

    # NoDecode: the variable is read by the validator below, comma-separated or a JSON list.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://127.0.0.1:8003", "http://localhost:8003"],
        validation_alias="HOTLINE_CORS_ORIGINS",
        description="Origins whose pages may call this service's HTTP API from a browser (the workbench, "
        "served by followup); comma-separated or a JSON list; empty: none.",
    )

    token_ttl_days: float = Field(
        default=90, ge=0,
        validation_alias="HOTLINE_TOKEN_TTL_DAYS",
        description="A unit's bearer token is refused (401) this many days after it was issued; 0: never.",
    )

    @property
    def token_ttl(self) -> timedelta | None:
        """How long a unit's token lives; None when tokens do not expire."""
        return timedelta(days=self.token_ttl_days) if self.token_ttl_days > 0 else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        # uvicorn takes a mistyped entry for a literal that never matches: refuse it at start instead.
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies' addresses and networks; empty when none is trusted."""
        return [e.strip() for e in self.trusted_proxies.split(",") if e.strip()]

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> "ServiceSettings":
        # More in-sync replicas required than exist: every acks=all write would be refused.
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError(f"kafka_min_insync_replicas ({self.kafka_min_insync_replicas}) exceeds "
                             f"kafka_replication_factor ({self.kafka_replication_factor}): no write could succeed")
        return self

    def kafka_client_options(self) -> dict:
        """Keyword arguments for any aiokafka client: where the broker is and how to authenticate."""
        options: dict = {"bootstrap_servers": self.kafka_bootstrap_servers}
        if self.kafka_security_protocol.startswith("SASL"):
            password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            options |= {
                "security_protocol": self.kafka_security_protocol,
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": password,
            }
            if self.kafka_security_protocol == "SASL_SSL":
                from aiokafka.helpers import create_ssl_context

                options["ssl_context"] = create_ssl_context()
        return options

    def kafka_producer_options(self) -> dict:
        """`kafka_client_options` plus the producer's acknowledgements (`kafka_acks`)."""
        return self.kafka_client_options() | {"acks": self.kafka_acks}

    def topic(self, name: str) -> str:
        """The full name of a topic, with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def group_id(self, service: str) -> str:
        """The consumer group of a service; replicas of a service share it."""
        return f"{self.topic_prefix}hotline-{service}"
