"""The lifecycle driver: plays the handling units and the callback centre."""

import asyncio
import json

from aiokafka import AIOKafkaConsumer
from common import producer

from hotline.contracts import topics
from hotline.devkit import Namespace
from lifecycle.timing import iso_now, now_ms


class Driver:
    """Answers dispatches, contacts and resolutions as units and citizens would, and watches closes."""

    def __init__(self, ns: Namespace, contact_delay_s: float, retry_s: float = 0.5) -> None:
        self.ns, self.contact_delay_s, self.retry_s = ns, contact_delay_s, retry_s
        # A history's records came before the driver and are the simulator's to answer.
        self.since_ms = now_ms()
        self.closed: dict[str, float] = {}  # ticket id -> epoch ms the bench saw TicketClosed
        self.refusals = 0
        self._producer = producer(ns.kafka)
        self._consumer = AIOKafkaConsumer(
            ns.topic(topics.TICKETS_DISPATCHED), ns.topic(topics.TICKETS_FOLLOWUP), bootstrap_servers=ns.kafka,
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
        self._commands: dict[str, dict] = {}
        self._tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in [self._loop_task, *self._tasks]:
            if task:
                task.cancel()
        await asyncio.gather(*[t for t in [self._loop_task, *self._tasks] if t], return_exceptions=True)
        await self._consumer.stop()
        await self._producer.stop()

    def _later(self, delay: float, coro) -> None:
        async def run():
            await asyncio.sleep(delay)
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, command: dict) -> None:
        self._commands[command["command_id"]] = command
        await self._producer.send(self.ns.topic(topics.FOLLOWUP_COMMANDS), json.dumps(command).encode(),
                                  key=command["ticket_id"].encode())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5_000)
            for records in batch.values():
                for record in records:
                    await self._react(record)

    async def _react(self, record) -> None:
        if record.timestamp < self.since_ms:
            return
        event_type = dict(record.headers or ()).get("event_type", b"").decode()
        if event_type not in ("TicketDispatched", "ContactRecorded", "TicketResolved", "TicketClosed",
                              "FollowupCommandRefused"):
            return
        event = json.loads(record.value)
        ticket, unit = event["ticket_id"], event.get("unit_code")
        if event_type == "TicketDispatched" and event.get("attempt", 1) == 1:
            self._later(self.contact_delay_s, self._command({
                "action": "record_contact", "command_id": f"contact-{ticket}", "ticket_id": ticket,
                "payload": {"unit_code": unit, "kind": "face_to_face", "contacted_at": iso_now(),
                            "staff_id": "bench"}}))
        elif event_type == "ContactRecorded":
            await self._command({
                "action": "resolve", "command_id": f"resolve-{ticket}", "ticket_id": ticket,
                "payload": {"unit_code": unit, "outcome": "resolved", "resolution_code": "fixed",
                            "resolved_at": iso_now()}})
        elif event_type == "TicketResolved":
            await self._producer.send(self.ns.topic(topics.CALLBACKS), json.dumps({
                "ticket_id": ticket, "resolved": True, "satisfaction": "satisfied", "surveyed_at": iso_now(),
            }).encode(), key=ticket.encode())
        elif event_type == "TicketClosed":
            self.closed.setdefault(ticket, now_ms())
        elif event_type == "FollowupCommandRefused":
            # Usually the command overtook the dispatch into followup's store: send it again.
            self.refusals += 1
            command = self._commands.get(event["command_id"])
            if command:
                for stamp in ("contacted_at", "resolved_at"):
                    if stamp in command["payload"]:
                        command["payload"][stamp] = iso_now()
                self._later(self.retry_s, self._command(command))
