"""The AsyncAPI contract of every topic, message and field, generated from the shared contracts.

The services publish through `Publisher` (broker.publish), which FastStream cannot document, so a
documentation broker declares one publisher per topic and message type (payload: the pydantic
model, whose field descriptions become the schema) and one subscriber per service and topic it
reads. `CATALOGUE` says which messages travel where; a unit test checks it against the contracts
and the services' real subscriptions, and that `docs/asyncapi.json` is this document.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Union

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from hotline import contracts as c
from hotline.contracts import followup as fu
from hotline.contracts import routing as ro
from hotline.contracts import topics

# The committed copy, in the repository the package is installed from (editable install).
DOCUMENT_PATH = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"
TITLE = "Hotline"
VERSION = "1"
SERVICES = ("intake", "routing", "followup", "metrics")


@dataclass(frozen=True)
class TopicDoc:
    """One topic: what it carries, who writes it, who reads it."""

    name: str
    description: str
    messages: tuple[type[BaseModel], ...]
    producers: str
    consumers: tuple[str, ...] = ()  # services among SERVICES that subscribe to it
    other_readers: str = ""
    key: str = "ticket_id"


FOLLOWUP_COMMANDS = (fu.RecordContactCommand, fu.ResolveTicketCommand, fu.RequestExtensionCommand,
                     fu.DecideExtensionCommand, fu.ReportOnSiteCommand, fu.SignTicketCommand,
                     fu.AddProgressNoteCommand)

CATALOGUE: tuple[TopicDoc, ...] = (
    TopicDoc(topics.RAW, "Every channel's requests as the hotline platform publishes them (phone, web, app, "
             "WeChat, Weibo, enterprise line, leaders' board, collected, Open311).",
             (c.RawRecord,), "the hotline platform; intake (POST /v1/tickets, Open311); followup (demands collected "
             "on a visit); `hotline import` and `hotline demo`", ("intake",), key="none, or the ticket id"),
    TopicDoc(topics.CALLBACKS, "Callback survey results (回访): resolved, satisfaction.", (c.CallbackResult,),
             "the hotline's callback system", ("followup", "metrics")),
    TopicDoc(topics.CLOCK, "Business time in simulation and replay; followup's deadlines fire on it when "
             "HOTLINE_BUSINESS_CLOCK=log.", (c.BusinessTimeTick,), "the simulator or a replay", ("followup",),
             key="none"),
    TopicDoc(topics.DLQ, "Records a consumer could not process, with the original bytes, the field and the reason.",
             (c.DeadLetter,), "every service", other_readers="operators", key="the original record's key"),
    TopicDoc(topics.TICKETS_RECEIVED, "Tickets intake made from raw records.", (c.TicketReceived,), "intake",
             ("routing", "followup", "metrics")),
    TopicDoc(topics.TICKETS_DISPATCHED, "Each dispatch attempt of a ticket; the highest attempt names the holder.",
             (c.TicketDispatched,), "routing", ("followup", "metrics")),
    TopicDoc(topics.TICKETS_ROUTING, "Routing's answers to units' commands: returns, escalations, summons, "
             "refusals.", (ro.TicketReturned, ro.TicketEscalated, ro.DepartmentsSummoned, ro.CommandRefused),
             "routing", ("followup", "metrics")),
    TopicDoc(topics.ROUTING_COMMANDS, "Units' commands to routing: return a ticket (退单), summon departments "
             "(吹哨报到).", (ro.ReturnTicket, ro.SummonDepartments), "routing's HTTP API", ("routing",)),
    TopicDoc(topics.FOLLOWUP_COMMANDS, "Unit systems' followup actions sent over Kafka instead of HTTP; the "
             "command id is the idempotency key.", FOLLOWUP_COMMANDS, "units' systems", ("followup",)),
    TopicDoc(topics.TICKETS_FOLLOWUP, "What handling units did and what the deadline clocks fired, ticket by "
             "ticket.", (c.ContactRecorded, c.TicketResolved, c.TicketReopened, c.TicketClosed, c.ExtensionRequested,
                         c.ExtensionDecided, c.ReportedOnSite, c.DeadlineWarned, c.DeadlineBreached,
                         c.DeadlineEscalated, c.TicketSigned, c.ProgressNoted, c.DemandCollected, c.CaseMarked,
                         fu.FollowupCommandRefused),
             "followup", ("followup", "intake", "metrics")),
    TopicDoc(topics.queue_topic("{unit_code}"), "A handling unit's own queue (one topic per street, town, district "
             "coordination centre, department, enterprise, and `queue.triage`); single partition, so assignments "
             "stay in order.", (c.QueueAssignment, c.SupervisionNotice), "routing (assignments), followup "
             "(supervision notices)", other_readers="the unit (`hotline dept watch <unit_code>`)"),
)


def _describe(doc: TopicDoc, model: type[BaseModel]) -> str:
    header = " Header `event_type` = `%s`, plus `event_id` and `schema_version`." % model.__name__ \
        if issubclass(model, c.common.Event) else ""
    readers = ", ".join([*doc.consumers, *([doc.other_readers] if doc.other_readers else [])]) or "none"
    return (f"{(model.__doc__ or '').strip()}\n\nTopic `{doc.name}`: {doc.description} Written by {doc.producers}; "
            f"read by {readers}. Kafka key: {doc.key}.{header}")


def _reader(model: Any):
    async def read(message) -> None:  # documentation only: never subscribed to a real broker
        return None

    read.__annotations__ = {"message": model, "return": None}
    return read


def documentation_broker() -> KafkaBroker:
    """A broker that is never started, declaring every topic's publishers and the services'
    subscriptions."""
    broker = KafkaBroker("127.0.0.1:9092", description="The local stack's Kafka; topics take the deployment's "
                         "prefix (HOTLINE_TOPIC_PREFIX). Values are compact JSON (UTF-8).")
    for doc in CATALOGUE:
        for model in doc.messages:
            broker.publisher(doc.name, title=f"{doc.name}:{model.__name__}", schema=model,
                             description=_describe(doc, model))
        payload = doc.messages[0] if len(doc.messages) == 1 else Union[doc.messages]  # noqa: UP007
        for service in doc.consumers:
            broker.subscriber(doc.name, group_id=f"hotline-{service}.{doc.name}", title=f"{service}:{doc.name}",
                              description=f"{service} reads `{doc.name}` (consumer group `hotline-{service}."
                              f"{doc.name}`, at least once: offsets are committed after each batch's work).")(
                _reader(payload))
    return broker


@cache
def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as JSON-ready data."""
    spec = AsyncAPI(documentation_broker(), title=TITLE, version=VERSION, schema_version="3.0.0",
                    description="Every topic of the Hotline platform (Beijing 12345-style), each message type and "
                    "field, generated from `src/hotline/contracts` by `hotline asyncapi`.")
    data = spec.to_specification().to_jsonable()
    # FastStream collects channels through sets: sort the maps so the document is reproducible.
    for path in (("channels",), ("operations",), ("components", "messages"), ("components", "schemas")):
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = dict(sorted(parent[path[-1]].items()))
    for channel in data["channels"].values():
        if "{unit_code}" in channel["address"]:
            channel["parameters"] = {"unit_code": {
                "description": "A unit's code: 9 digits (street or town), 6 digits (district coordination centre), "
                "`m-...` (department), `e-...` (enterprise) or `triage`."}}
    return data


def document_text() -> str:
    """The document as committed: indented JSON, Chinese kept readable."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


@cache
def html_page() -> str:
    """A human page rendering the document with AsyncAPI's React component (loaded from a CDN)."""
    from faststream.specification import get_asyncapi_html

    return get_asyncapi_html(_Rendered(), try_it_out_path=None)  # type: ignore[arg-type]


class _Rendered:
    """The committed document in the shape FastStream's page renderer reads (title, JSON)."""

    title = TITLE

    def to_json(self) -> str:
        return json.dumps(document(), ensure_ascii=False)


def write_or_check(path: Path = DOCUMENT_PATH, *, check: bool = False) -> tuple[bool, str]:
    """Regenerate the committed document, or only tell whether it is current; (ok, message)."""
    text = document_text()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current == text:
            return True, f"{path} is current"
        return False, f"{path} is stale: regenerate it with `hotline asyncapi` and commit it"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True, f"{path} {'unchanged' if current == text else 'written'}"
