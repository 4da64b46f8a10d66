"""Routing's store on the real MongoDB-protocol server: a ticket's first decision is kept, and a
redelivered batch gets it back (with whether it went out) instead of a new one."""

import pytest

from hotline.routing.store import DispatchStore
from tests.unit.test_routing_domain import route, ticket

pytestmark = pytest.mark.stack


async def test_first_decisions_are_kept_and_returned_to_a_redelivery(fresh_db):
    store = DispatchStore(fresh_db)
    local, utility = ticket("110111008", "110111"), ticket("110111008", "110111", category="water_supply")
    first, other = route(local), route(utility)
    assert first.lead.unit_code != other.lead.unit_code

    assert await store.keep_first(decisions={"TK1": (local, first)}) == {}
    await store.mark_published(ticket_ids=["TK1"])
    # Redelivered beside a new ticket, under a catalogue that would now decide otherwise: the first
    # decision comes back, published; the new ticket's is stored.
    kept = await store.keep_first(decisions={"TK1": (local, other), "TK2": (utility, other)})
    assert kept == {"TK1": (first, True)}
    assert await store.get_many(ticket_ids=["TK1", "TK2"]) == {"TK1": (first, True), "TK2": (other, False)}
    assert await store.keep_first(decisions={}) == {}
