"""The outbox's publication record (`hotline.runtime.outbox`) on the real store: a batch covers its
own offsets once published, a record no successful batch covered stays unpublished (a gap), and a
stale or racing writer can only make a document count as unpublished, never the reverse."""

from types import SimpleNamespace

import pytest

from hotline.runtime.outbox import ORIGIN, PublishedOffsets, mark

pytestmark = pytest.mark.stack


def records(*offsets: int, partition: int = 0) -> list:
    return [SimpleNamespace(topic="raw", partition=partition, offset=o) for o in offsets]


def stored(*offsets: int, partition: int = 0) -> list[dict]:
    return [{"_id": f"T{partition}-{o}", ORIGIN: mark(r)} for o, r in zip(offsets, records(*offsets, partition=partition))]


async def test_a_batch_covers_its_offsets_and_a_dead_lettered_record_stays_unpublished(fresh_db):
    offsets = PublishedOffsets(fresh_db["outbox"])
    docs = stored(3, 4, 5, 6, 7)
    assert set((await offsets.published(docs)).values()) == {False}  # stored, nothing published yet
    await offsets.advance(records(3, 4, 5))
    # Poison isolation: 6 failed by itself and was dead-lettered; 7 went out alone.
    await offsets.advance(records(7))
    assert await offsets.published(docs) == {"T0-3": True, "T0-4": True, "T0-5": True, "T0-6": False, "T0-7": True}
    # A redelivered batch changes nothing, and one that covers the gap closes it.
    await offsets.advance(records(4, 5))
    assert (await offsets.published(docs))["T0-6"] is False
    await offsets.advance(records(6))
    assert set((await offsets.published(docs)).values()) == {True}
    # Offsets before the first batch were never covered here (tickets of an earlier consumer).
    assert (await offsets.published(stored(1)))["T0-1"] is False
    # Partitions are apart; a document without an origin keeps its own flag.
    assert (await offsets.published(stored(4, partition=1)))["T1-4"] is False
    assert await offsets.published([{"_id": "old", "published": True}, {"_id": "older"}]) == {
        "old": True, "older": False}


async def test_a_stale_writer_never_counts_an_offset_it_did_not_publish(fresh_db):
    first, second = PublishedOffsets(fresh_db["outbox"]), PublishedOffsets(fresh_db["outbox"])
    await first.advance(records(0, 1, 2))
    # The partition moves to another owner, which goes on; the first one then writes from its old copy.
    await second.advance(records(3, 4))
    await first.advance(records(10))  # refused: its copy is stale
    docs = stored(5, 9, 10)
    assert await offsets_published(second, docs) == {"T0-5": False, "T0-9": False, "T0-10": False}
    await first.advance(records(10))  # read again: now 5..9 are a gap, 10 is covered
    assert await offsets_published(second, docs) == {"T0-5": False, "T0-9": False, "T0-10": True}
    assert await offsets_published(second, stored(0, 4)) == {"T0-0": True, "T0-4": True}


async def offsets_published(offsets: PublishedOffsets, docs: list[dict]) -> dict:
    return await offsets.published(docs)
