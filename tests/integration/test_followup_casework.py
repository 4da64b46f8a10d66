"""Casework on the real broker and store: signing and progress notes, demands collected on a visit
that become tickets of their own, the case library, and the daily brief (over HTTP and the CLI)."""

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from typer.testing import CliRunner

from hotline.cli import app as cli
from hotline.contracts import BUSINESS_TZ, TicketReceived, ticket_id_for, topics
from hotline.devkit import free_port, raw_record
from hotline.followup.casework.domain import visit_of_source
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack
TOWN, OTHER = "110111008", "110111001"  # 良乡地区 and another Fangshan street
PLACE = "房山区良乡镇云景台小区二期"


def now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def new_ticket(namespace, address: str = PLACE, **overrides) -> str:
    record = raw_record(f"cw-{uuid.uuid4().hex}", address, **overrides)
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    return ticket_id_for(record.get("channel", "phone"), record["source_id"])


async def dispatched(followup, ticket_id: str, headers: dict, timeout_s: float = 30) -> dict:
    async def known():
        response = await followup.get(f"/v1/tickets/{ticket_id}", headers=headers)
        return response.status_code == 200 and "unit_code" in response.json() and response.json()
    return await eventually(known, timeout_s=timeout_s)


async def followup_records(namespace, until, timeout_s: float = 30) -> list:
    return await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP,
                            until=until, timeout_s=timeout_s)


def of_type(records, event_type: str, ticket_id: str) -> list[dict]:
    return [json.loads(r.value) for r in records
            if dict(r.headers or ()).get("event_type") == event_type.encode()
            and json.loads(r.value)["ticket_id"] == ticket_id]


async def test_a_unit_signs_once_and_notes_progress_whose_text_stays_in_the_store(services, namespace, caplog):
    caplog.set_level(logging.INFO)  # the services' production level
    ticket_id = await new_ticket(namespace, content="楼下烧烤油烟扰民")
    town, other, centre = (await issue_token(namespace, TOWN), await issue_token(namespace, OTHER),
                           await issue_token(namespace, "centre"))
    secret = f"已联系商户老板张先生 1390000{uuid.uuid4().int % 10000:04d}，约定周五整改"
    async with client_for(services["followup"]) as followup:
        await dispatched(followup, ticket_id, centre)
        signing = {"unit_code": TOWN, "staff_id": "LX-017", "signed_at": now_iso()}
        first = await followup.post(f"/v1/tickets/{ticket_id}/sign", json=signing, headers=town)
        retry = await followup.post(f"/v1/tickets/{ticket_id}/sign", headers=town,
                                    json={**signing, "signed_at": now_iso()})
        not_theirs = await followup.post(f"/v1/tickets/{ticket_id}/sign", headers=other,
                                         json={**signing, "unit_code": OTHER})
        in_anothers_name = await followup.post(f"/v1/tickets/{ticket_id}/sign", json=signing, headers=other)
        unknown = await followup.post("/v1/tickets/TKNOSUCHTICKET00/sign", json=signing, headers=town)
        future = await followup.post(f"/v1/tickets/{ticket_id}/sign", headers=town,
                                     json={**signing, "signed_at": now_iso(timedelta(hours=1))})
        no_token = await followup.post(f"/v1/tickets/{ticket_id}/sign", json=signing)
        assert (first.status_code, retry.status_code) == (201, 200), first.text
        assert retry.json() == first.json()  # the first signature, unchanged
        assert (not_theirs.status_code, in_anothers_name.status_code, unknown.status_code, future.status_code,
                no_token.status_code) == (403, 403, 404, 422, 401)
        assert future.json()["detail"][0]["loc"] == ["signed_at"]

        note = {"unit_code": TOWN, "staff_id": "LX-017", "text": secret, "noted_at": now_iso()}
        key = {"Idempotency-Key": f"note-{uuid.uuid4().hex}"}
        noted = await followup.post(f"/v1/tickets/{ticket_id}/notes", json=note, headers={**town, **key})
        again = await followup.post(f"/v1/tickets/{ticket_id}/notes", json=note, headers={**town, **key})
        second = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=town,
                                     json={**note, "text": "已上门查看排烟管道"})
        foreign = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=other, json={**note, "unit_code": OTHER})
        assert (noted.status_code, again.status_code, second.status_code, foreign.status_code) == (201, 200, 201, 403)
        assert noted.json()["note_id"] == again.json()["note_id"] != second.json()["note_id"]
        assert secret not in noted.text

        notes = (await followup.get(f"/v1/tickets/{ticket_id}/notes", headers=town)).json()
        assert [n["text"] for n in notes["notes"]] == [secret, "已上门查看排烟管道"]
        assert (await followup.get(f"/v1/tickets/{ticket_id}/notes", headers=other)).status_code == 403
        doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)).json()
        on_timeline = [e["type"] for e in doc.get("timeline", [])]
        assert on_timeline.count("TicketSigned") == 1 and on_timeline.count("ProgressNoted") == 2
        assert secret not in json.dumps(doc, ensure_ascii=False)

    records = await followup_records(namespace, lambda rs: len(of_type(rs, "ProgressNoted", ticket_id)) >= 2)
    signed = of_type(records, "TicketSigned", ticket_id)
    assert {e["event_id"] for e in signed} == {first.json()["event_id"]} and signed[0]["role"] == "lead"
    assert len({e["note_id"] for e in of_type(records, "ProgressNoted", ticket_id)}) == 2
    assert not any(secret.encode() in r.value for r in records)
    assert secret not in caplog.text


async def test_demands_collected_on_a_visit_become_tickets_of_the_visited_unit_linked_to_the_visit(
    services, namespace
):
    kafka, prefix = namespace.kafka, namespace.prefix
    ticket_id = await new_ticket(namespace, content="小区门口道路破损，积水严重")
    town, other, centre = (await issue_token(namespace, TOWN), await issue_token(namespace, OTHER),
                           await issue_token(namespace, "centre"))
    wish = f"居民希望在小区附近开设老年餐桌（{uuid.uuid4().hex[:6]}）"
    body = {"unit_code": TOWN, "demands": [
        {"description": wish, "category_hint": "elderly_care", "place": "云景台小区二期",
         "caller": {"phone": "13911112222", "name": "李阿姨"}},
        {"description": wish, "category_hint": "elderly_care", "place": " 云景台小区二期 "},  # said twice
    ]}
    async with client_for(services["followup"]) as followup:
        await dispatched(followup, ticket_id, centre)
        call = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=town, json={
            "unit_code": TOWN, "kind": "phone", "staff_id": "LX-017", "contacted_at": now_iso()})
        visit = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=town, json={
            "unit_code": TOWN, "kind": "face_to_face", "staff_id": "LX-017", "contacted_at": now_iso()})
        assert (call.status_code, visit.status_code) == (201, 201), visit.text
        contact_id = visit.json()["contact_id"]
        url = f"/v1/tickets/{ticket_id}/contacts/{contact_id}/demands"

        by_phone = await followup.post(f"/v1/tickets/{ticket_id}/contacts/{call.json()['contact_id']}/demands",
                                       json=body, headers=town)
        foreign = await followup.post(url, json={**body, "unit_code": OTHER}, headers=other)
        no_contact = await followup.post(f"/v1/tickets/{ticket_id}/contacts/nope/demands", json=body, headers=town)
        empty = await followup.post(url, json={"unit_code": TOWN, "demands": []}, headers=town)
        assert (by_phone.status_code, foreign.status_code, no_contact.status_code, empty.status_code) == (
            422, 403, 404, 422)

        first = await followup.post(url, json=body, headers=town)
        retry = await followup.post(url, json=body, headers=town)
        assert (first.status_code, retry.status_code) == (201, 200), first.text
        [made] = first.json()["demands"]
        assert made["new"] and not retry.json()["demands"][0]["new"]
        assert retry.json()["demands"][0]["ticket_id"] == made["ticket_id"]
        demand_id = made["ticket_id"]
        assert demand_id == ticket_id_for("collected", made["source_id"])
        assert visit_of_source(made["source_id"]) == (ticket_id, contact_id)

        # Through intake and routing: a ticket of its own, held by the visiting town.
        demand_doc = await dispatched(followup, demand_id, centre)
        assert demand_doc["unit_code"] == TOWN
        parent = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
        links = [e["data"] for e in parent.get("timeline", []) if e["type"] == "DemandCollected"]
        assert [(d["demand_ticket_id"], d["contact_id"]) for d in links] == [(demand_id, contact_id)]

        # The brief: the new ticket is new today and awaits its own visit; the visited ticket
        # no longer awaits one; tomorrow's meeting lists the demand as collected the day before.
        today = datetime.now(BUSINESS_TZ).date()

        async def briefed():
            brief = (await followup.get(f"/v1/units/{TOWN}/brief", params={"date": today.isoformat()},
                                        headers=town)).json()
            awaiting = {i["ticket_id"] for i in brief["awaiting_visit"]}
            ok = demand_id in {i["ticket_id"] for i in brief["new"]} and demand_id in awaiting
            return ok and ticket_id not in awaiting and brief
        brief = await eventually(briefed)
        assert ticket_id in {i["ticket_id"] for i in brief["new"]}
        assert next(i for i in brief["new"] if i["ticket_id"] == demand_id)["category"] == "elderly_care"
        tomorrow = (await followup.get(f"/v1/units/{TOWN}/brief", headers=town,
                                       params={"date": (today + timedelta(days=1)).isoformat()})).json()
        collected = {d["ticket_id"]: d for d in tomorrow["collected_yesterday"]["demands"]}
        assert collected[demand_id]["visit_ticket_id"] == ticket_id
        assert collected[demand_id]["contact_id"] == contact_id and collected[demand_id]["description"] == wish
        assert "13911112222" not in json.dumps(tomorrow) and "李阿姨" not in json.dumps(tomorrow, ensure_ascii=False)

    def received(records):
        return [TicketReceived.model_validate_json(r.value) for r in records
                if json.loads(r.value)["ticket_id"] == demand_id]
    tickets = received(await read_topic(kafka, prefix + topics.TICKETS_RECEIVED, until=lambda rs: False, timeout_s=2))
    assert len(tickets) == 1, "the retry made no second ticket"
    made_ticket = tickets[0]
    assert (made_ticket.channel.value, made_ticket.collected_by.unit_code, made_ticket.location.unit_code) == (
        "collected", TOWN, TOWN)
    assert made_ticket.content == wish and made_ticket.caller.phone == "13911112222"


async def test_a_resolved_ticket_becomes_a_case_found_by_its_tags_and_a_closed_ticket_refuses_casework(
    services, namespace
):
    kafka, prefix = namespace.kafka, namespace.prefix
    ticket_id = await new_ticket(namespace, content="楼下饭店油烟扰民，晚上噪音大")
    town, other, centre = (await issue_token(namespace, TOWN), await issue_token(namespace, OTHER),
                           await issue_token(namespace, "centre"))
    tag = f"见面办-{uuid.uuid4().hex[:6]}"
    mark = {"tags": [tag, "油烟"], "title": "夜间油烟", "lesson": "当天上门见面，居民（电话13800001234）当场认可方案。"}
    async with client_for(services["followup"]) as followup:
        await dispatched(followup, ticket_id, centre)
        early = await followup.post(f"/v1/tickets/{ticket_id}/case", json=mark, headers=town)
        assert early.status_code == 409  # not resolved yet
        assert (await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=town, json={
            "unit_code": TOWN, "kind": "face_to_face", "staff_id": "LX-017",
            "contacted_at": now_iso()})).status_code == 201
        resolved = await followup.post(f"/v1/tickets/{ticket_id}/resolution", headers=town, json={
            "unit_code": TOWN, "outcome": "resolved", "resolution_code": "LX-OIL-01",
            "note": "王先生已满意", "resolved_at": now_iso()})
        assert resolved.status_code == 201, resolved.text

        foreign = await followup.post(f"/v1/tickets/{ticket_id}/case", json=mark, headers=other)
        first = await followup.post(f"/v1/tickets/{ticket_id}/case", json=mark, headers=town)
        retry = await followup.post(f"/v1/tickets/{ticket_id}/case", json=mark, headers=town)
        assert (foreign.status_code, first.status_code, retry.status_code) == (403, 201, 200), first.text
        case = first.json()
        assert retry.json()["event_id"] == case["event_id"]
        assert (case["unit_code"], case["outcome"], case["marked_by"], sorted(case["tags"])) == (
            TOWN, "resolved", TOWN, sorted([tag.lower(), "油烟"]))
        assert case["summary"]["face_to_face"] == 1 and case["category"]
        shown = json.dumps(case, ensure_ascii=False)
        for personal in ("13800001234", "王先生", "LX-017"):
            assert personal not in shown
        assert "138****1234" in case["lesson"]

        listed = (await followup.get("/v1/cases", params={"tag": tag.upper()}, headers=other)).json()
        assert [c["ticket_id"] for c in listed["cases"]] == [ticket_id]  # any unit reads cases for training
        assert tag.lower() in {t["tag"] for t in (await followup.get("/v1/cases", headers=other)).json()["tags"]}

        # The centre re-describes it without the first tag: the old tag no longer lists it.
        redone = await followup.post(f"/v1/tickets/{ticket_id}/case", headers=centre,
                                     json={**mark, "tags": ["油烟", "夜间"]})
        assert redone.status_code == 200 and redone.json()["marked_by"] == "centre"
        assert (await followup.get("/v1/cases", params={"tag": tag}, headers=town)).json()["cases"] == []
        night = (await followup.get("/v1/cases", params={"tag": "夜间"}, headers=town)).json()
        assert ticket_id in {c["ticket_id"] for c in night["cases"]}
        assert (await followup.get(f"/v1/cases/{ticket_id}", headers=town)).json()["tags"] == ["夜间", "油烟"]

        # A satisfied callback closes the ticket: signing and notes are refused, a case may still be marked.
        await publish(kafka, prefix + topics.CALLBACKS, {"ticket_id": ticket_id, "resolved": True,
                                                         "satisfaction": "satisfied", "surveyed_at": now_iso()},
                      key=ticket_id.encode())

        async def closed():
            return (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()["state"] == "closed"
        await eventually(closed)
        late_sign = await followup.post(f"/v1/tickets/{ticket_id}/sign", headers=town,
                                        json={"unit_code": TOWN, "staff_id": "LX-017", "signed_at": now_iso()})
        late_note = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=town, json={
            "unit_code": TOWN, "staff_id": "LX-017", "text": "补记", "noted_at": now_iso()})
        assert (late_sign.status_code, late_note.status_code) == (409, 409)
        final = await followup.post(f"/v1/tickets/{ticket_id}/case", headers=centre, json={**mark, "tags": ["回访满意"]})
        assert final.status_code == 200 and final.json()["summary"]["satisfaction"] == "satisfied"

    records = await followup_records(namespace, lambda rs: len(of_type(rs, "CaseMarked", ticket_id)) >= 3)
    assert len({e["event_id"] for e in of_type(records, "CaseMarked", ticket_id)}) == 3


async def test_the_brief_lists_overdue_due_today_and_repeats_for_the_unit_and_the_centre_only(services, namespace):
    town, other, centre = (await issue_token(namespace, TOWN), await issue_token(namespace, OTHER),
                           await issue_token(namespace, "centre"))
    # A meeting day in the past, fixed at noon, so a run near midnight cannot cross into the next day.
    today = (datetime.now(UTC) - timedelta(days=3)).astimezone(BUSINESS_TZ).date()
    noon = datetime.combine(today, datetime.min.time(), tzinfo=BUSINESS_TZ) + timedelta(hours=12)
    # General tickets report back within 7 days: one due before that day, one due during it.
    late = await new_ticket(namespace, received_at=(noon - timedelta(days=8)).isoformat(), content="小区路灯不亮")
    due = await new_ticket(namespace, received_at=(noon - timedelta(days=7)).isoformat(), content="小区路面坑洼")
    # The same caller, place and matter twice: the second is a repeat.
    phone = f"1371234{uuid.uuid4().int % 10000:04d}"
    first = await new_ticket(namespace, content="楼下商户夜间施工噪音扰民", caller={"phone": phone},
                             received_at=(noon - timedelta(hours=2)).isoformat())
    repeat = await new_ticket(namespace, content="楼下商户夜间施工噪音扰民，又来了", caller={"phone": phone},
                              received_at=(noon - timedelta(hours=1)).isoformat())
    async with client_for(services["followup"]) as followup:
        for ticket_id in (late, due, first, repeat):
            await dispatched(followup, ticket_id, centre)

        async def briefed():
            response = await followup.get(f"/v1/units/{TOWN}/brief", headers=town,
                                          params={"date": today.isoformat()})
            brief = response.json()
            ids = {name: {i["ticket_id"] for i in brief[name]} for name in ("overdue", "due_today", "repeats", "new")}
            found = {"overdue": late in ids["overdue"], "due_today": due in ids["due_today"],
                     "repeats": repeat in ids["repeats"], "new": {first, repeat} <= ids["new"]}
            sections_found.append(found)
            return all(found.values()) and brief
        sections_found: list[dict] = []
        try:
            brief = await eventually(briefed)
        except AssertionError as missing:
            raise AssertionError(f"brief sections last seen: {sections_found[-1:]}") from missing
        assert brief["date"] == today.isoformat()
        assert next(i for i in brief["repeats"] if i["ticket_id"] == repeat)["repeat_of"] == first
        assert late not in {i["ticket_id"] for i in brief["new"]}
        # The day the old ticket came in, it was new and not yet due.
        then = (await followup.get(f"/v1/units/{TOWN}/brief", headers=centre,
                                   params={"date": (today - timedelta(days=8)).isoformat()})).json()
        assert late in {i["ticket_id"] for i in then["new"]} and late not in {i["ticket_id"] for i in then["overdue"]}
        forbidden = await followup.get(f"/v1/units/{TOWN}/brief", headers=other)
        bad_date = await followup.get(f"/v1/units/{TOWN}/brief", params={"date": "26/11/2026"}, headers=town)
        assert (forbidden.status_code, bad_date.status_code) == (403, 422)



async def test_hotline_dept_brief_prints_the_agenda_from_the_running_service(services, namespace):
    ticket_id = await new_ticket(namespace, content="小区垃圾无人清运，异味严重")
    centre = await issue_token(namespace, "centre")
    token = (await issue_token(namespace, TOWN))["Authorization"].removeprefix("Bearer ")
    async with client_for(services["followup"]) as followup:
        await dispatched(followup, ticket_id, centre)
    # The running app over real HTTP (its consumers already run in this process).
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(services["followup"], host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started))
        # The command runs its own event loop and blocking client: keep it off the test's loop.
        result = await asyncio.to_thread(CliRunner().invoke, cli, [
            "dept", "brief", TOWN, "--url", f"http://127.0.0.1:{port}"], env={"HOTLINE_TOKEN": token})
        refused = await asyncio.to_thread(CliRunner().invoke, cli, [
            "dept", "brief", OTHER, "--url", f"http://127.0.0.1:{port}", "--token", token])
    finally:
        server.should_exit = True
        await serving
    assert result.exit_code == 0, result.output
    assert "良乡地区 110111008" in result.output and ticket_id in result.output
    assert "awaiting a face-to-face visit" in result.output and token not in result.output
    assert refused.exit_code == 1 and "403" in refused.output


async def test_the_briefs_facts_cost_no_document_writes_of_their_own(services):
    """Category, repeats and the first face-to-face visit ride on the followup ticket's own writes
    (the received entry, the contact): a collection of their own was two more whole-document
    writes per ticket (issue #25). The tests above fed and read those facts through this module's
    services."""
    async with client_for(services["followup"]) as followup:
        text = (await followup.get("/metrics")).text
    written = {line.split("collection=\"")[1].split("\"")[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines()
               if line.startswith("hotline_store_documents_written_total{")}
    assert written.get("followup_tickets", 0) > 0
    assert written.get("casework_facts", 0) == 0
