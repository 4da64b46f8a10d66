"""An outbox that records publication per batch, not per document.

A consumer stores what it will publish (a ticket, a dispatch) before publishing it, so a store
that fails lets nothing out; a redelivered or resent record must then tell whether the stored
document's event went out. A flag set on each document after the publish was a second whole-document
rewrite per ticket. Instead each stored document carries its origin (the consumed record's topic,
partition and offset, `mark`), and after a batch's events are acknowledged one small document per
input partition says up to which offset every stored document's event went out (`advance`).

A batch only advances over its own records, and only once they were all published: a batch that
fails is redelivered from its first record (offsets commit after the handler), and one whose record
is dead-lettered after poison isolation leaves that offset as a gap, never counted as published.
Anything this record may miss (a lost race between two owners of a partition) only makes a stored
document count as unpublished, which publishes its event again with the same id; consumers drop it.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from hotline.runtime.mongo import duplicates_only

# The field of a stored document that names its origin record.
ORIGIN = "outbox"


def mark(record: Any) -> dict:
    """Where a document's event came from: the consumed record's topic, partition and offset."""
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def _doc_id(topic: str, partition: int) -> str:
    return f"{topic}|{partition}"


def _covers(through: int, gaps: list, offset: int) -> bool:
    return offset <= through and not any(lo <= offset <= hi for lo, hi in gaps)


def _without(gaps: list, lo: int, hi: int) -> list:
    """`gaps` less the offsets lo..hi (a batch that published them)."""
    kept = []
    for g_lo, g_hi in gaps:
        if g_hi < lo or g_lo > hi:
            kept.append([g_lo, g_hi])
            continue
        if g_lo < lo:
            kept.append([g_lo, lo - 1])
        if g_hi > hi:
            kept.append([hi + 1, g_hi])
    return kept


class PublishedOffsets:
    """Per input partition: the offset through which every stored document's event was published,
    less the gaps (offsets no successful batch covered)."""

    def __init__(self, collection: AsyncCollection) -> None:
        self._marks = collection
        # (through, gaps) as this process last wrote or read them; a write against a stale copy
        # matches nothing, and the copy is read again next time.
        self._known: dict[str, tuple[int, list]] = {}

    async def published(self, docs: Iterable[Mapping]) -> dict[Any, bool]:
        """For stored documents (`_id` and their origin, or a `published` flag written before
        origins were): whether each one's event went out."""
        docs = list(docs)
        ids = sorted({_doc_id(d[ORIGIN]["topic"], d[ORIGIN]["partition"]) for d in docs if d.get(ORIGIN)})
        marks = {}
        if ids:
            marks = {m["_id"]: (m["through"], m.get("gaps", [])) async for m in self._marks.find({"_id": {"$in": ids}})}
        found = {}
        for d in docs:
            origin = d.get(ORIGIN)
            if not origin:
                found[d["_id"]] = bool(d.get("published"))
                continue
            known = marks.get(_doc_id(origin["topic"], origin["partition"]))
            found[d["_id"]] = known is not None and _covers(*known, origin["offset"])
        return found

    async def advance(self, records: Iterable[Any]) -> None:
        """The events of every document these consumed records stored are on the broker."""
        spans: dict[str, tuple[int, int]] = {}
        for r in records:
            key = _doc_id(r.topic, r.partition)
            lo, hi = spans.get(key, (r.offset, r.offset))
            spans[key] = (min(lo, r.offset), max(hi, r.offset))
        if not spans:
            return
        if missing := [k for k in spans if k not in self._known]:
            async for m in self._marks.find({"_id": {"$in": missing}}):
                self._known[m["_id"]] = (m["through"], m.get("gaps", []))
        ops, wanted = [], {}
        for key, (lo, hi) in sorted(spans.items()):
            through, gaps = self._known.get(key, (None, []))
            start = -1 if through is None else through
            # Offsets between what was covered and this batch: no batch published them.
            new_gaps = _without(gaps, lo, hi) + ([[start + 1, lo - 1]] if lo > start + 1 else [])
            new_through = max(start, hi)
            if new_through == through and new_gaps == gaps:
                continue  # a redelivered batch already covered
            update = {"$set": {"through": new_through, "gaps": new_gaps}}
            if through is None:
                ops.append(UpdateOne({"_id": key, "through": {"$exists": False}}, update, upsert=True))
            else:
                ops.append(UpdateOne({"_id": key, "through": through}, update))
            wanted[key] = (new_through, new_gaps)
        if not ops:
            return
        try:
            result = await self._marks.bulk_write(ops, ordered=False)
            complete = result.matched_count + result.upserted_count == len(ops)
        except BulkWriteError as exc:
            duplicates_only(exc)  # another owner created the document first
            complete = False
        if complete:
            self._known.update(wanted)
        else:
            for key in wanted:  # which one missed is not told: read them all again next time
                self._known.pop(key, None)
