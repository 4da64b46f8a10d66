"""The AsyncAPI contract of every topic, message and field, generated from the shared contracts.

The services publish through `Publisher` (broker.publish), which FastStream cannot document, so a
documentation broker declares one publisher per topic and message type (payload: the pydantic
model, whose field descriptions become the schema) and one subscriber per service and topic it
reads. `CATALOGUE` says which messages travel where; a unit test checks it against the contracts
and the services' real subscriptions, and that `docs/asyncapi.json` is this document.
"""

import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Union
from urllib.parse import unquote

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
                     fu.AddProgressNoteCommand, fu.RequestExemptionCommand, fu.DecideExemptionCommand)

CATALOGUE: tuple[TopicDoc, ...] = (
    TopicDoc(topics.RAW, "Every channel's requests as the hotline platform publishes them (phone, web, app, "
             "WeChat, Weibo, enterprise line, leaders' board, collected, Open311).",
             (c.RawRecord,), "the hotline platform; intake (POST /v1/tickets, Open311); followup (demands collected "
             "on a visit); `hotline import` and `hotline demo`", ("intake",), key="none, or the ticket id"),
    TopicDoc(topics.CALLBACKS, "Callback survey results (回访): resolved, satisfaction.", (c.CallbackResult,),
             "the hotline's callback system", ("followup", "metrics")),
    TopicDoc(topics.CLOCK, "Business time in simulation and replay; followup's deadlines fire on it and "
             "metrics' months settle on it when HOTLINE_BUSINESS_CLOCK=log.", (c.BusinessTimeTick,),
             "the simulator or a replay", ("followup",), other_readers="metrics (its log reader, no group)",
             key="none"),
    TopicDoc(topics.DLQ, "Records a consumer could not process, with the original bytes, the field and the reason.",
             (c.DeadLetter,), "every service", other_readers="operators", key="the original record's key"),
    TopicDoc(topics.TICKETS_RECEIVED, "Tickets intake made from raw records.", (c.TicketReceived,), "intake",
             ("routing", "metrics")),
    TopicDoc(topics.TICKETS_DISPATCHED, "Each dispatch attempt of a ticket; the highest attempt names the holder.",
             (c.TicketDispatched,), "routing", ("followup", "metrics")),
    TopicDoc(topics.TICKETS_ROUTING, "Routing's answers to units' and the centre's commands: returns and their "
             "review, escalations, summons, the centre's re-dispatches and category corrections, refusals.",
             (ro.TicketReturned, ro.TicketEscalated, ro.DepartmentsSummoned, ro.CommandRefused, ro.ReturnRequested,
              ro.ReturnReviewed, ro.TicketRedispatched, ro.CategoryCorrected),
             "routing", ("followup", "metrics")),
    TopicDoc(topics.ROUTING_COMMANDS, "Commands to routing: a unit returns a ticket (退单) or summons departments "
             "(吹哨报到); the centre dispatches (派单, 改派), reviews a return (退单审核) or corrects a category.",
             (ro.ReturnTicket, ro.SummonDepartments, ro.DispatchTicket, ro.ReviewReturn, ro.CorrectCategory),
             "routing's HTTP API", ("routing",)),
    TopicDoc(topics.FOLLOWUP_COMMANDS, "Unit systems' followup actions sent over Kafka instead of HTTP; the "
             "command id is the idempotency key.", FOLLOWUP_COMMANDS, "units' systems", ("followup",)),
    TopicDoc(topics.TICKETS_FOLLOWUP, "What handling units did and what the deadline clocks fired, ticket by "
             "ticket.", (c.ContactRecorded, c.TicketResolved, c.TicketReopened, c.TicketClosed, c.ExtensionRequested,
                         c.ExtensionDecided, c.ReportedOnSite, c.DeadlineWarned, c.DeadlineBreached,
                         c.DeadlineEscalated, c.TicketSigned, c.ProgressNoted, c.DemandCollected, c.CaseMarked,
                         c.ExemptionRequested, c.ExemptionDecided,
                         fu.FollowupCommandRefused),
             "followup", ("intake", "metrics", "routing")),
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
        payload = doc.messages[0] if len(doc.messages) == 1 else Union[doc.messages]  # of a tuple: no `|` form
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
    """The contract as one self-contained page: every topic, its message types and their fields.
    Rendered here rather than by AsyncAPI's viewer, whose script comes from a CDN that the
    offline networks hotline platforms run on cannot reach."""
    doc = document()
    schemas = doc["components"]["schemas"]
    # Publishers' channels are `<topic>:<message type>`; subscribers' are `<service>:<topic>`.
    topics_: dict[str, list[tuple[str, dict]]] = {}
    readers: dict[str, list[str]] = {}
    for key, channel in doc["channels"].items():
        if "Message" in channel["messages"]:
            topics_.setdefault(channel["address"], []).append((key.partition(":")[2], channel))
        else:
            readers.setdefault(channel["address"], []).append(channel.get("description", key))
    body = [f"<h1>{_esc(doc['info']['title'])} AsyncAPI {_esc(doc['asyncapi'])}</h1>",
            f"<p>{_esc(doc['info']['description'])}</p>",
            '<p>The machine-readable document: <a href="/asyncapi.json">/asyncapi.json</a>.</p>',
            "<h2>Topics</h2><ul>"]
    body += [f'<li><a href="#topic-{_esc(t)}">{_esc(t)}</a>: '
             f'{", ".join(_esc(m) for m, _ in sorted(found, key=lambda f: f[0]))}</li>'
             for t, found in sorted(topics_.items())]
    body.append("</ul>")
    for topic, found in sorted(topics_.items()):
        # Each message's description ends with its topic's; the page says the topic's once.
        split = {m: channel.get("description", "").partition("\n\nTopic `") for m, channel in found}
        topic_text = next((f"Topic `{rest}" for _, sep, rest in split.values() if sep), "")
        body.append(f'<h2 id="topic-{_esc(topic)}">{_esc(topic)}</h2><p>{_esc(topic_text)}</p>')
        body += [f"<p>{_esc(reader)}</p>" for reader in sorted(readers.get(topic, []))]
        for message, channel in sorted(found, key=lambda f: f[0]):
            payload = unquote(channel["messages"]["Message"]["$ref"].rsplit("/", 1)[-1])  # $refs are URL-quoted
            schema_name = doc["components"]["messages"][payload]["payload"]["$ref"].rsplit("/", 1)[-1]
            body.append(f'<h3>{_esc(message)}</h3><p>{_esc(split[message][0])}</p>'
                        f'<p>Payload: <a href="#schema-{_esc(schema_name)}">{_esc(schema_name)}</a></p>')
    body.append("<h2>Schemas</h2>")
    for name, schema in sorted(schemas.items()):
        body.append(f'<h3 id="schema-{_esc(name)}">{_esc(name)}</h3><p>{_esc(schema.get("description", ""))}</p>')
        required = set(schema.get("required", ()))
        rows = [f"<tr><td><code>{_esc(field)}</code></td><td>{_type_of(spec)}</td>"
                f"<td>{'yes' if field in required else ''}</td><td>{_esc(spec.get('description', ''))}</td></tr>"
                for field, spec in schema.get("properties", {}).items()]
        if rows:
            body.append("<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>"
                        + "".join(rows) + "</table>")
        elif "enum" in schema:
            body.append(f"<p>One of: {', '.join(f'<code>{_esc(v)}</code>' for v in schema['enum'])}</p>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(doc['info']['title'])} AsyncAPI</title><style>{_PAGE_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>")


_PAGE_STYLE = ("body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
               "line-height:1.45}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
               "text-align:left;vertical-align:top}p{white-space:pre-line}"
               "h2{border-top:1px solid #ddd;padding-top:1rem}")


def _esc(value: object) -> str:
    return html.escape(str(value))


def _type_of(spec: dict) -> str:
    """A field's type in a few words: a link for another schema, `a | b` for alternatives."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_esc(name)}">{_esc(name)}</a>'
    if "anyOf" in spec:
        return " | ".join(_type_of(option) for option in spec["anyOf"])
    if spec.get("type") == "array":
        return f"array of {_type_of(spec.get('items', {}))}"
    if "const" in spec:
        return f"<code>{_esc(spec['const'])}</code>"
    kind = spec.get("type", "any")
    return _esc(f"{kind} ({spec['format']})" if "format" in spec else kind)


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
