"""The raw complaint record a channel platform publishes on `hotline.raw` (a call taken, a WeChat
message), as tests, the fault suite and the bench make them."""

import json
from datetime import UTC, datetime
from typing import Any

CONTENT = "小区门口道路破损，雨天积水严重，请尽快维修。"
CALLER = {"phone": "13800001234", "name": "王先生"}


def raw_record(source_id: str, address: str, **overrides: Any) -> dict[str, Any]:
    """A valid raw record from the phone channel, received just now; `overrides` replace or add
    fields (`channel`, `received_at`, `content`, `caller`, a platform's `category_hint`, ...)."""
    record: dict[str, Any] = {
        "channel": "phone",
        "source_id": source_id,
        "received_at": datetime.now(UTC).isoformat(),
        "content": CONTENT,
        "address": address,
        "caller": dict(CALLER),
    }
    record.update(overrides)
    return record


def encoded(record: dict[str, Any]) -> bytes:
    """A record as the platform sends it: JSON in UTF-8, Chinese as it is (not \\u escapes)."""
    return json.dumps(record, ensure_ascii=False).encode()
