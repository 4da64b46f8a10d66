"""Idempotency keys name one request: the hash of that request is kept beside the key, so a key
reused for a different request is refused instead of being answered (or counted) as the first."""

import hashlib
import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

KEY_REUSED = "the idempotency key was already used for a different request"


def _canonical(value: Any) -> Any:
    # The same instant written with another offset is the same request.
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_hash(action: str, ticket_id: str, body: BaseModel | dict[str, Any]) -> str:
    """SHA-256 of the parsed request (action, ticket and the body's fields, defaults filled in),
    so key order, whitespace and omitted defaults do not make a retry a different request."""
    text = json.dumps({"action": action, "ticket_id": ticket_id, "body": _canonical(body)},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
