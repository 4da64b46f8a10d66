"""A new catalogue version applies to new tickets and never re-dispatches those already dispatched."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from hotline.catalogue import load_catalogue, queue_codes
from hotline.contracts import TicketDispatched, TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.routing.main import build_app
from hotline.routing.settings import RoutingSettings
from hotline.runtime.kafka import ensure_topics
from tests.support import drained, publish, read_topic

pytestmark = pytest.mark.stack
SHIPPED = Path(__file__).parents[2] / "src" / "hotline" / "data" / "catalogue" / "beijing.yaml"


def sanitation_ticket(n: str) -> TicketReceived:
    record = {"channel": "web", "source_id": n, "received_at": datetime.now(UTC).isoformat(),
              "content": "小区垃圾没人清运", "address": "房山区良乡镇云景台小区二期"}
    ticket = normalize(json.dumps(record, ensure_ascii=False).encode(), now=datetime.now(UTC), gazetteer=beijing())
    assert isinstance(ticket, TicketReceived)
    return ticket


async def test_catalogue_change_applies_to_new_tickets_only(namespace, tmp_path):
    kafka, prefix = namespace.kafka, f"{namespace.prefix}cat{uuid.uuid4().hex[:4]}-"
    edited = yaml.safe_load(SHIPPED.read_text("utf-8"))
    edited["version"] = "2026.12-1"
    for rule in edited["rules"]:
        if rule["id"] == "local-sanitation":
            rule["lead"] = "m-urban-management"
    new_file = tmp_path / "catalogue.yaml"
    new_file.write_text(yaml.safe_dump(edited, allow_unicode=True), "utf-8")
    codes = queue_codes(load_catalogue(new_file), beijing())
    await ensure_topics(kafka, [*(topics.TopicSpec(prefix + s.name, s.partitions) for s in topics.core_topics()),
                                *(topics.TopicSpec(prefix + topics.queue_topic(c), 1) for c in codes if c.startswith(("1101110", "m-")))])

    def settings(**extra) -> RoutingSettings:
        return RoutingSettings(kafka_bootstrap_servers=kafka, mongodb_url=namespace.mongodb_url,
                               mongodb_database=namespace.database, topic_prefix=prefix, **extra)

    async def run(app, *tickets: TicketReceived) -> None:
        async with app.router.lifespan_context(app):
            for t in tickets:
                await publish(kafka, prefix + topics.TICKETS_RECEIVED, t.model_dump_json().encode(), key=t.ticket_id.encode())
            await drained(kafka, prefix + topics.TICKETS_RECEIVED, f"{prefix}hotline-routing.{topics.TICKETS_RECEIVED}")

    old = sanitation_ticket(f"old-{uuid.uuid4().hex}")
    await run(build_app(settings()), old)
    new = sanitation_ticket(f"new-{uuid.uuid4().hex}")
    await run(build_app(settings(catalogue_path=new_file)), old, new)  # the old one redelivered

    dispatched = [TicketDispatched.model_validate_json(r.value) for r in
                  await read_topic(kafka, prefix + topics.TICKETS_DISPATCHED, until=lambda rs: False, timeout_s=1)]
    by_ticket = {}
    for d in dispatched:
        by_ticket.setdefault(d.ticket_id, []).append(d)
    assert [(d.unit_code, d.catalogue_version, d.rule_id) for d in by_ticket[old.ticket_id]] == [
        ("110111008", "2026.11-1", "local-sanitation")]
    assert [(d.unit_code, d.catalogue_version) for d in by_ticket[new.ticket_id]] == [
        ("m-urban-management", "2026.12-1")]
