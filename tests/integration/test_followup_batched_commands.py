"""A batch of contacts and resolutions costs a few store round trips, not a few per command, and
keeps what each command would do alone: events once, refusals, a race lost to a rival resolution."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from hotline.contracts import RecordContact, ResolveTicket, TicketDispatched, topics
from hotline.contracts.followup import ContactKind
from hotline.followup.casework.store import CaseworkStore
from hotline.followup.settings import FollowupSettings
from hotline.followup.tickets.app import FollowupActions
from hotline.followup.tickets.domain import resolve
from hotline.followup.tickets.store import FollowupStore, resolution_change
from hotline.runtime.kafka import Publisher, build_broker
from tests.support import read_topic

pytestmark = pytest.mark.stack

UNIT = "110111008"


class CommandCount(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event) -> None: ...

    def failed(self, event) -> None: ...


class RivalFirst(FollowupStore):
    """A store where, right after the batch reads its tickets, another instance resolves one."""

    def __init__(self, db, rival) -> None:
        super().__init__(db)
        self._db = db
        self.rival = rival

    async def get_many_with_docs(self, *, ticket_ids):
        found = await super().get_many_with_docs(ticket_ids=ticket_ids)
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await self._db["followup_tickets"].update_one(*resolution_change(rival, note=""))
        return found


def dispatched(ticket_id: str, at: datetime) -> TicketDispatched:
    return TicketDispatched(event_id=f"d-{ticket_id}", ticket_id=ticket_id, occurred_at=at, unit_code=UNIT,
                            unit_name="良乡镇", reason="street_town", district_code="110111", dispatched_at=at, attempt=1, category="other",
                            report_back_due_at=at + timedelta(days=7), urgency="normal")


@pytest.fixture
async def counted(namespace):
    listener = CommandCount()
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True, event_listeners=[listener])
    settings = FollowupSettings(**namespace.service_settings())
    broker = build_broker(settings, "followup-test")
    await broker.connect()
    yield client[namespace.database], listener, Publisher(broker, settings, "followup")
    await broker.stop()
    await client.close()


async def test_a_batch_of_contacts_and_resolutions_takes_a_few_round_trips(counted, namespace):
    db, listener, publisher = counted
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    tickets = [f"batched-{uuid.uuid4().hex}" for _ in range(40)]
    rival_ticket = tickets[-1]
    store = RivalFirst(db, rival=None)
    await store.apply_dispatches(events=[dispatched(t, at) for t in tickets])
    actions = FollowupActions(store, publisher, scheduler=None, clock_skew=timedelta(minutes=2),
                              casework=CaseworkStore(db))

    def contact(t: str) -> RecordContact:
        return RecordContact(unit_code=UNIT, kind=ContactKind.FACE_TO_FACE, staff_id="LX-1",
                             contacted_at=at + timedelta(minutes=5))

    # 40 contacts, one of them from the wrong unit.
    commands = [(t, f"c-{t}", contact(t)) for t in tickets]
    commands[0] = (tickets[0], f"c-{tickets[0]}", contact(tickets[0]).model_copy(update={"unit_code": "110111009"}))
    listener.names.clear()
    outcomes = await actions.contacts_and_resolutions(commands, now=datetime.now(UTC))
    assert listener.names == ["find", "update"]  # one read, one bulk write, whatever the batch size
    assert [o and (o.status, o.field) for o in outcomes] == [(403, "unit_code")] + [None] * 39

    # Redelivered: nothing changes, the same outcomes.
    again = await actions.contacts_and_resolutions(commands, now=datetime.now(UTC))
    assert [o and o.status for o in again] == [403] + [None] * 39

    # Resolutions; a rival (another instance, an HTTP call) resolves the last ticket first.
    def resolution(code: str) -> ResolveTicket:
        return ResolveTicket(unit_code=UNIT, outcome="resolved", resolution_code=code,
                             resolved_at=at + timedelta(minutes=30))
    ours = [(t, f"r-{t}", resolution("FIXED")) for t in tickets[1:]]
    rival_ticket_state = (await store.get_many(ticket_ids=[rival_ticket]))[rival_ticket]
    store.rival = resolve(rival_ticket_state, resolution("OTHER"), ticket_id=rival_ticket, now=datetime.now(UTC))
    listener.names.clear()
    outcomes = await actions.contacts_and_resolutions(ours, now=datetime.now(UTC))
    # The guarded write missed one ticket: one more read finds which.
    assert listener.names == ["find", "update", "update", "find"]
    assert [o and (o.status, o.field) for o in outcomes] == [None] * 38 + [(409, "ticket_id")]

    docs = {d["_id"]: d async for d in db["followup_tickets"].find({"_id": {"$in": tickets}})}
    assert docs[tickets[0]]["state"] == "open" and not docs[tickets[0]].get("contacts")
    for t in tickets[1:-1]:
        assert docs[t]["state"] == "resolved"
        assert [r["resolution_code"] for r in docs[t]["resolutions"]] == ["FIXED"]
        assert [e["type"] for e in docs[t]["timeline"]] == ["TicketDispatched", "ContactRecorded", "TicketResolved"]
    assert [r["resolution_code"] for r in docs[rival_ticket]["resolutions"]] == ["OTHER"]

    def ours_only(records):
        return [r for r in records if r.key.decode() in tickets]
    published = await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP,
                                 until=lambda rs: len({(r.key, dict(r.headers)["event_type"]) for r in ours_only(rs)}) >= 77)
    kinds = {(r.key.decode(), dict(r.headers)["event_type"].decode()) for r in ours_only(published)}
    assert sum(k == "ContactRecorded" for _, k in kinds) == 39
    # The rival's resolution is not ours to publish; ours for that ticket was refused.
    assert {t for t, k in kinds if k == "TicketResolved"} == set(tickets[1:-1])
