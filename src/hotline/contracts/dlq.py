"""Dead letters: whatever a consumer cannot process, with the original bytes and the reason."""

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract


class DeadLetter(Contract):
    """One unprocessable record on `hotline.dlq`."""

    service: str = Field(description="Service that rejected the record.")
    source_topic: str = Field(description="Topic the record came from.")
    partition: int = Field(description="Partition of the original record.")
    offset: int = Field(description="Offset of the original record.")
    key_b64: str | None = Field(default=None, description="Original key, base64.")
    value_b64: str = Field(description="Original value bytes, base64.")
    value_truncated_from: int | None = Field(
        default=None,
        description="Size of the original value when it was too large to carry whole: `value_b64` then "
        "holds its first bytes only (the record itself stays at source_topic/partition/offset).",
    )
    field: str | None = Field(default=None, description="Offending field, when one is known.")
    reason: str = Field(description="Why the record was rejected.")
    channel: str | None = Field(default=None, description="Channel of the record, when readable.")
    rejected_at: AwareDatetime = Field(description="When it was rejected.")
