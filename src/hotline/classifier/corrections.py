"""The centre's category corrections as training examples (issue #28).

Routing keeps each ticket's latest correction in the collection `routing_corrections` (one
document a ticket: `_id` = ticket id, `ticket_id`, `text`, `category`, `first_level`, `urgency`,
`corrected_at`, `command_id`). A document becomes one example: its text scrubbed of personal data
(`hotline.privacy.scrub`), labelled with the first-level class the category tree gives the
corrected category now. A category under a class the model does not predict (公共安全, 其他), an
unknown category or an empty text is skipped, with the reason.

Shared code: routing may import `COLLECTION` from here for the collection's name; this module
reads the collection by that name and imports no service.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from hotline.category_tree import first_level_of
from hotline.classifier.data import CLASSES
from hotline.privacy import scrub
from hotline.runtime.mongo import make_client
from hotline.runtime.settings import ServiceSettings

COLLECTION = "routing_corrections"
# Only what an example needs is read: the urgency, times and command ids stay in the store.
_FIELDS = {"ticket_id": 1, "text": 1, "category": 1}


@dataclass(frozen=True)
class Skipped:
    """A correction that gives no example, and why."""

    ticket_id: str
    reason: str


@dataclass(frozen=True)
class Corrections:
    """The examples the corrections give (texts scrubbed, raw: not yet cut), in ticket-id order,
    and the corrections skipped."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()

    def csv_bytes(self) -> bytes:
        """The examples as the CSV `hotline model train --extra` reads (columns text, label)."""
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("text", "label"))
        writer.writerows(zip(self.texts, self.labels))
        return buffer.getvalue().encode("utf-8")

    def sha256(self) -> str:
        """The hash of the examples: that of the file `export` writes, so an artifact trained with
        `--corrections` and one trained with `--extra` on the exported file name the same data."""
        return hashlib.sha256(self.csv_bytes()).hexdigest()

    def source(self) -> dict[str, Any]:
        """The entry of an artifact's `meta["data"]` that names these examples."""
        return {"name": COLLECTION, "sha256": self.sha256(), "rows": len(self.texts), "skipped": len(self.skipped)}

    def skipped_summary(self) -> str:
        """How many were skipped, by reason ("" when none)."""
        if not self.skipped:
            return ""
        reasons = Counter(s.reason for s in self.skipped)
        return f"{len(self.skipped)} skipped: " + "; ".join(f"{n} × {r}" for r, n in sorted(reasons.items()))


def example_of(document: Mapping[str, Any]) -> tuple[str, str] | Skipped:
    """The (scrubbed text, label) a correction document gives, or why it gives none."""
    ticket_id = str(document.get("ticket_id") or document.get("_id") or "?")
    category = document.get("category")
    if not isinstance(category, str) or not category:
        return Skipped(ticket_id, "no category")
    try:
        label = first_level_of(category)
    except KeyError:
        return Skipped(ticket_id, f"category {category!r} is not in the category tree")
    if label not in CLASSES:
        return Skipped(ticket_id, f"category {category!r} is under {label}, a class the model does not know")
    text = document.get("text")
    if not isinstance(text, str) or not text.strip():
        return Skipped(ticket_id, "no text")
    # The document holds no caller name or phone to mask by: the general rules (phones, ID and
    # card numbers, e-mail, WeChat ids, a name after 姓名:/联系人:) are what scrubbing can do here.
    return scrub(text), label


def from_documents(documents: Iterable[Mapping[str, Any]]) -> Corrections:
    """The examples of correction documents, in ticket-id order (the same store, the same hash)."""
    texts: list[str] = []
    labels: list[str] = []
    skipped: list[Skipped] = []
    for document in sorted(documents, key=lambda d: str(d.get("ticket_id") or d.get("_id") or "")):
        example = example_of(document)
        if isinstance(example, Skipped):
            skipped.append(example)
        else:
            texts.append(example[0])
            labels.append(example[1])
    return Corrections(tuple(texts), tuple(labels), tuple(skipped))


def write_csv(corrections: Corrections, path: Path) -> None:
    """Write the examples (atomically) as the CSV `hotline model train --extra` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(corrections.csv_bytes())
    tmp.replace(path)


class StoreError(RuntimeError):
    """The corrections could not be read from the store."""


async def read_documents(settings: ServiceSettings) -> list[dict[str, Any]]:
    """Every correction document in the settings' database (only the fields an example needs)."""
    client = make_client(settings)
    try:
        cursor = client[settings.mongodb_database][COLLECTION].find({}, _FIELDS).sort("_id", 1)
        return [document async for document in cursor]
    except PyMongoError as exc:
        # The URL is not printed: it may hold a password.
        raise StoreError(f"cannot read {COLLECTION} from database {settings.mongodb_database!r} "
                         f"({type(exc).__name__}); is the store up (MONGODB_URL)?") from exc
    finally:
        await client.close()


def load(settings: ServiceSettings | None = None) -> Corrections:
    """The examples of the corrections in the store (from a caller without an event loop)."""
    return from_documents(asyncio.run(read_documents(settings or ServiceSettings())))
