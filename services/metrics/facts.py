"""Per-ticket facts in the store: entries are only ever added, and the first event to set an
entry stands. An event that comes again under its id with other content (a unit reusing a key, a
faulty producer) is a conflict: logged without personal data, counted, and it changes nothing,
so a second event cannot rewrite what was counted."""

import logging
from collections.abc import Callable
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from hotline.metrics.domain import entry_at
from hotline.runtime.mongo import duplicates_only

log = logging.getLogger(__name__)
# A fact's entries are only ever added, so a write misses at most once per other writer.
_FACT_ATTEMPTS = 10


async def add_entries(facts: AsyncCollection, updates: list[tuple[str, dict[str, Any]]], *,
                      on_conflict: Callable[[str], None]) -> set[str]:
    """Set the entries each fact does not hold yet, one write per ticket; the tickets touched
    (every one, a redelivered one too: its first delivery may have stopped before the
    projections took it). `on_conflict` is told the kind of entry (`contacts`...) of each conflict."""
    merged: dict[str, dict[str, Any]] = {}
    conflicts: list[tuple[str, str]] = []
    for ticket_id, entries in updates:
        into = merged.setdefault(ticket_id, {})
        for path, value in entries.items():
            if path not in into:
                into[path] = value
            elif into[path] != value:
                conflicts.append((ticket_id, path))
    pending = merged
    for _ in range(_FACT_ATTEMPTS):
        missed = await _set_if_absent(facts, pending)
        if not missed:
            break
        # Some entry is there already (a redelivery, a conflict, another instance): read those
        # facts and write only what they do not hold.
        current = {d["_id"]: d async for d in facts.find({"_id": {"$in": sorted(missed)}})}
        pending = {}
        for ticket_id, entries in missed.items():
            for path, value in entries.items():
                held, stored = entry_at(current.get(ticket_id, {}), path)
                if not held:
                    pending.setdefault(ticket_id, {})[path] = value
                elif stored != value:
                    conflicts.append((ticket_id, path))
    else:
        raise RuntimeError(f"ticket facts kept changing under this batch: {sorted(missed)}")
    for ticket_id, path in conflicts:
        entry = path.split(".", 1)[0]
        log.warning("an event came again under its id with other content; the first stands",
                    extra={"ticket_id": ticket_id, "event_type": entry})
        on_conflict(entry)
    return set(merged)


async def _set_if_absent(facts: AsyncCollection, entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Set each ticket's entries in one update that applies only while the fact holds none of
    them; the tickets (with their entries) whose fact held one: such an update misses, and as an
    upsert is refused as a duplicate `_id`."""
    tickets = list(entries)
    ops = [UpdateOne({"_id": t, **{path: {"$exists": False} for path in entries[t]}},
                     {"$set": entries[t], "$inc": {"fv": 1}}, upsert=True) for t in tickets]
    if not ops:
        return {}
    try:
        await facts.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        return {tickets[e["index"]]: entries[tickets[e["index"]]] for e in duplicates_only(exc)}
    return {}
