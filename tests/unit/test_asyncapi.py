"""The AsyncAPI contract: current, complete (every topic, message type and field described) and
true to the services' real subscriptions."""

import inspect
import json

import pytest
from pydantic import BaseModel

from hotline.contracts import clock, common, dlq, followup, raw, routing, tickets, topics
from hotline.runtime import asyncapi

REGENERATE = "stale docs/asyncapi.json: run `.venv/bin/hotline asyncapi` and commit the result"


def test_the_committed_document_is_current():
    assert asyncapi.DOCUMENT_PATH.exists(), REGENERATE
    committed = asyncapi.DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == asyncapi.document_text(), REGENERATE
    # The CLI's check agrees.
    assert asyncapi.write_or_check(check=True)[0]


def test_the_check_fails_on_a_stale_document(tmp_path):
    stale = tmp_path / "asyncapi.json"
    stale.write_text(asyncapi.document_text().replace("Kafka key", "key"), encoding="utf-8")
    ok, message = asyncapi.write_or_check(stale, check=True)
    assert not ok and "hotline asyncapi" in message
    assert asyncapi.write_or_check(stale)[0] and asyncapi.write_or_check(stale, check=True)[0]


def _contract_classes() -> list[type[BaseModel]]:
    found = []
    for module in (clock, dlq, followup, raw, routing, tickets):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, common.Contract) and cls.__module__ == module.__name__ and not cls.__name__.startswith("_"):
                found.append(cls)
    return found


def test_every_topic_and_every_message_type_has_its_channel():
    doc = asyncapi.document()
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert {spec.name for spec in topics.core_topics()} | {topics.queue_topic("{unit_code}")} <= addresses
    documented = {model for topic in asyncapi.CATALOGUE for model in topic.messages}
    # Every event is a message of some topic (DeadlineMarked is only their base).
    events = [c for c in _contract_classes() if issubclass(c, common.Event) and c is not followup.DeadlineMarked]
    assert [e.__name__ for e in events if e not in documented] == []
    # Every contract appears in the schemas, as a message or inside one (a command's payload, a caller),
    # except HTTP-only bodies and the marks' base: a new contract must be placed on a topic or listed here.
    http_only = {"CollectedDemand", "RecordCollectedDemands", "MarkCase", "DeadlineMarked"}
    schemas = doc["components"]["schemas"]
    assert [c.__name__ for c in _contract_classes() if c.__name__ not in {*schemas, *http_only}] == []
    channel_names = set(doc["channels"])
    for topic in asyncapi.CATALOGUE:
        for model in topic.messages:
            assert f"{topic.name}:{model.__name__}" in channel_names


def test_every_field_has_a_description():
    schemas = asyncapi.document()["components"]["schemas"]
    missing = [f"{name}.{field}" for name, schema in schemas.items()
               for field, prop in (schema.get("properties") or {}).items() if not prop.get("description")]
    assert missing == []
    # And every model says what it is.
    assert [name for name, schema in schemas.items() if "properties" in schema and not schema.get("description")] == []


def test_messages_describe_topic_producers_key_and_headers():
    channel = asyncapi.document()["channels"]["tickets.followup:DeadlineBreached"]
    assert channel["address"] == "tickets.followup"
    for words in ("Written by followup", "read by intake, metrics", "Kafka key: ticket_id", "`event_type`"):
        assert words in channel["description"]
    queue = asyncapi.document()["channels"]["queue.{unit_code}:QueueAssignment"]
    assert "unit_code" in queue["parameters"]


@pytest.fixture(scope="module")
def subscriptions() -> dict[str, set[str]]:
    """Topic -> services that subscribe to it, from the four services' real brokers (never started)."""
    from hotline.followup.main import build_app as followup_app
    from hotline.followup.settings import FollowupSettings
    from hotline.intake.main import build_app as intake_app
    from hotline.intake.settings import IntakeSettings
    from hotline.metrics.main import build_app as metrics_app
    from hotline.metrics.settings import MetricsSettings
    from hotline.routing.main import build_app as routing_app
    from hotline.routing.settings import RoutingSettings

    apps = {
        "intake": intake_app(IntakeSettings(topic_prefix="")),
        "routing": routing_app(RoutingSettings(topic_prefix="")),
        # With business time from the log, followup also reads hotline.clock.
        "followup": followup_app(FollowupSettings(topic_prefix="", business_clock="log")),
        "metrics": metrics_app(MetricsSettings(topic_prefix="")),
    }
    found: dict[str, set[str]] = {}
    for name, app in apps.items():
        for subscriber in app.state.runtime.broker.subscribers:
            for topic in subscriber.topic_names:
                found.setdefault(topic, set()).add(name)
    return found


def test_the_documented_readers_are_the_services_subscriptions(subscriptions):
    documented = {t.name: set(t.consumers) for t in asyncapi.CATALOGUE if t.consumers}
    assert documented == subscriptions


def test_the_document_is_json_the_page_renders():
    json.loads(asyncapi.document_text())
    page = asyncapi.html_page()
    assert page.startswith("<!doctype html>") and "<title>Hotline AsyncAPI</title>" in page


def test_the_page_shows_every_topic_message_and_field_and_loads_nothing_from_elsewhere():
    """Ops networks of a hotline are often offline: the page must not need a CDN."""
    import re

    page = asyncapi.html_page()
    document = asyncapi.document()
    assert not re.search(r"""(src|href|url)\s*=?\s*\(?["']?(https?:)?//""", page), "the page refers to another host"
    assert "<script" not in page
    for channel in document["channels"].values():
        assert f'id="topic-{channel["address"]}"' in page
    for name, schema in document["components"]["schemas"].items():
        assert f'id="schema-{name}"' in page
        for field in schema.get("properties", {}):
            assert f"<code>{field}</code>" in page, (name, field)
    # A field typed by another schema links to it; a nullable one shows both types.
    assert '<a href="#schema-Caller">Caller</a>' in page
    assert "string | null" in page
