"""The exemption reasons (核减 / 申诉) from data/policies/exemptions.yaml: the codes a unit may
give when it asks that a ticket not count in its monthly figures, with their labels and sources."""

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field


class ExemptionReason(BaseModel):
    """One reason a unit may give: its labels and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    source: str = Field(min_length=1)


class ExemptionPolicy(BaseModel):
    """The reasons by code, and the policy's version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    reasons: dict[str, ExemptionReason] = Field(min_length=1)

    def knows(self, code: str) -> bool:
        """Whether `code` is one of the reasons."""
        return code in self.reasons

    def listing(self) -> dict:
        """The policy as units read it (`GET /v1/exemption-reasons`)."""
        return {"version": self.version,
                "reasons": [{"code": code, **reason.model_dump()} for code, reason in self.reasons.items()]}


@cache
def default_exemption_policy() -> ExemptionPolicy:
    """The shipped reasons."""
    text = (resources.files("hotline") / "data" / "policies" / "exemptions.yaml").read_text("utf-8")
    return ExemptionPolicy.model_validate(yaml.safe_load(text))
