"""Plays a plan against the running system (the I/O side of the simulator).

As the hotline platform it publishes records on `hotline.raw`, callback surveys on
`hotline.callbacks` and business-time ticks on `hotline.clock`; as each handling unit it records
contacts and resolutions on followup's HTTP API with that unit's own bearer token. Acts are issued
in slices of business time; a group's acts (a ticket, and the demands collected on its visits)
run one after another, groups side by side, and a slice's tick is published once every act up to
its end is done, so followup's deadline marks never see a tick before the contacts and
resolutions that came before it in business time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from hotline.contracts import BUSINESS_TZ, BusinessTimeTick, ticket_id_for, topics
from hotline.simulator.plan import Act, ActKind

log = logging.getLogger("hotline.simulator")

TokenSource = Callable[[str], Awaitable[str]]
CENTRE = "centre"
TICK_SOURCE = "simulator"


@dataclass
class Stats:
    """What the run did so far (no personal data)."""

    done: Counter = field(default_factory=Counter)  # act kind -> acts done
    refused: Counter = field(default_factory=Counter)  # (act kind, status or reason) -> count
    retries: int = 0
    ticks: int = 0
    skipped: int = 0  # acts before the resume point
    business_now: datetime | None = None

    @property
    def tickets(self) -> int:
        """Records published: the platform's and the collected demands."""
        return self.done[ActKind.RECEIVE] + self.done[ActKind.COLLECT]


class Clock:
    """Business time: from `start`, `speed` times the wall clock (None: as fast as the system
    goes), never ahead of the wall clock, so no time the services see is in the future."""

    def __init__(self, start: datetime, speed: float | None, *, now: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.start, self.speed = start, speed
        self._now = now or (lambda: datetime.now(UTC))
        self._monotonic = monotonic
        self._origin = monotonic()

    def wall(self) -> datetime:
        """The wall clock."""
        return self._now()

    def business(self) -> datetime:
        """Business time now."""
        wall = self.wall()
        if self.speed is None:
            return wall
        return min(self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed), wall)

    def wait_s(self, moment: datetime) -> float:
        """Seconds of wall time until business time reaches `moment` (0 when it has)."""
        ahead_of_wall = (moment - self.wall()).total_seconds()
        if self.speed is None:
            return max(0.0, ahead_of_wall)
        at_speed = (moment - self.start).total_seconds() / self.speed - (self._monotonic() - self._origin)
        return max(0.0, ahead_of_wall, at_speed)


def slices(acts: Iterable[Act], clock: Clock, *, first: datetime, until: datetime | None,
           catch_up_step: timedelta = timedelta(minutes=30),
           live_step: timedelta = timedelta(minutes=1)) -> Iterator[tuple[datetime, list[Act]]]:
    """(slice end, its acts) in business time; long slices while catching up with the wall
    clock, short ones once business time runs at the wall clock's pace."""
    end = first
    pending: list[Act] = []
    iterator = iter(acts)
    nxt = next(iterator, None)
    while until is None or end < until:
        behind = clock.wall() - end
        end = end + (catch_up_step if behind > catch_up_step else live_step)
        if until is not None:
            end = min(end, until)
        while nxt is not None and nxt.at <= end:
            pending.append(nxt)
            nxt = next(iterator, None)
        yield end, pending
        pending = []
        if nxt is None and until is None:
            return


def demand_source_id(visited_id: str, contact_id: str, payload: dict) -> str:
    """`visit/<ticket>/<contact>/<digest>`, the source id followup's casework gives a collected
    demand, so the new ticket names the visit it came from."""
    spaced = [" ".join((payload.get(k) or "").split()) for k in ("description", "place", "community")]
    digest = hashlib.sha256("\x1f".join(spaced).encode()).hexdigest()[:12]
    return f"visit/{visited_id}/{contact_id}/{digest}"


class Adapter:
    """Executes acts: Kafka for the platform, followup's HTTP API for the units."""

    def __init__(self, *, producer: AIOKafkaProducer, http: httpx.AsyncClient, token_for: TokenSource,
                 topic: Callable[[str], str], concurrency: int = 64, wait_s: float = 60.0) -> None:
        self.producer, self.http, self.token_for, self.topic = producer, http, token_for, topic
        self.concurrency, self.wait_s = concurrency, wait_s
        self.stats = Stats()
        self.ids: dict[str, str] = {}  # plan ticket key -> ticket id
        self.contact_ids: dict[str, str] = {}  # plan contact key -> followup's contact id
        self.known: set[str] = set()  # ticket ids followup has answered for
        self._tokens: dict[str, str] = {}
        self._chains: dict[str, asyncio.Task] = {}  # group -> its last act issued
        self._rounds: dict[str, int] = {}  # ticket id -> rounds its negative surveys open
        self._round_seen: dict[str, int] = {}  # ticket id -> the round followup last showed
        self._gate: asyncio.Semaphore | None = None

    async def _token(self, unit: str) -> str:
        if unit not in self._tokens:
            self._tokens[unit] = await self.token_for(unit)
        return self._tokens[unit]

    def skip(self, act: Act) -> None:
        """An act before the resume point: done by an earlier run; only its ticket id is kept."""
        self.stats.skipped += 1
        if act.kind is ActKind.RECEIVE:
            self.ids[act.ticket] = ticket_id_for(act.payload["channel"], act.payload["source_id"])

    def issue(self, acts: list[Act]) -> asyncio.Future:
        """Start the acts: each after the acts of its group issued before it, groups side by
        side (at most `concurrency` at once). The future is done when all of them are."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        tasks = []
        for act in acts:
            task = asyncio.create_task(self._after(self._chains.get(act.group), act))
            self._chains[act.group] = task
            tasks.append(task)
        return asyncio.gather(*tasks)

    async def _after(self, previous: asyncio.Task | None, act: Act) -> None:
        if previous is not None:
            await previous
        assert self._gate is not None
        async with self._gate:
            await self.execute(act)
        if self._chains.get(act.group) is asyncio.current_task():
            del self._chains[act.group]

    async def tick(self, now: datetime) -> None:
        """Business time has reached `now`."""
        tick = BusinessTimeTick(now=now.astimezone(BUSINESS_TZ), source=TICK_SOURCE)
        await self.producer.send_and_wait(self.topic(topics.CLOCK), tick.model_dump_json().encode())
        self.stats.ticks += 1
        self.stats.business_now = now

    async def execute(self, act: Act) -> None:
        """One act; a refusal is counted, never raised (the city goes on)."""
        match act.kind:
            case ActKind.RECEIVE:
                record = act.payload
                self.ids[act.ticket] = ticket_id_for(record["channel"], record["source_id"])
                await self._publish(topics.RAW, record, key=None)
            case ActKind.COLLECT:
                await self._collect(act)
                return
            case ActKind.CALLBACK:
                ticket_id = self.ids.get(act.ticket)
                if ticket_id is None:
                    self._refuse(act, "unknown ticket")
                    return
                # A survey of a ticket followup has not seen yet would be dead-lettered.
                if ticket_id not in self.known and not await self._await_known(ticket_id):
                    self._refuse(act, "not dispatched")
                    return
                await self._publish(topics.CALLBACKS, {"ticket_id": ticket_id, **act.payload}, key=ticket_id)
                if not act.payload["resolved"] or act.payload["satisfaction"] == "dissatisfied":
                    self._rounds[ticket_id] = self._rounds.get(ticket_id, 0) + 1  # followup reopens it
            case ActKind.CONTACT:
                body = {k: v for k, v in act.payload.items() if k != "key"}
                answer = await self._post(act, "contacts", body, headers={"Idempotency-Key": act.payload["key"]})
                if answer is None:
                    return
                self.contact_ids[act.payload["key"]] = answer["contact_id"]
            case ActKind.RESOLVE:
                if await self._post(act, "resolution", act.payload) is None:
                    return
        self.stats.done[act.kind] += 1

    async def _collect(self, act: Act) -> None:
        visited = self.ids.get(act.payload["visit"])
        contact = self.contact_ids.get(act.payload["contact_key"])
        if visited is None or contact is None:
            self._refuse(act, "visit not recorded")
            return
        source_id = demand_source_id(visited, contact, act.payload)
        record = {**act.payload["record"], "source_id": source_id}
        self.ids[act.payload["demand"]] = ticket_id_for("collected", source_id)
        await self._publish(topics.RAW, record, key=None)
        self.stats.done[act.kind] += 1

    async def _publish(self, topic: str, value: dict, *, key: str | None) -> None:
        await self.producer.send_and_wait(self.topic(topic), json.dumps(value, ensure_ascii=False).encode(),
                                          key=key.encode() if key else None)

    def _refuse(self, act: Act, reason: str) -> None:
        self.stats.refused[(act.kind.value, reason)] += 1

    async def _post(self, act: Act, path: str, body: dict, headers: dict | None = None) -> dict | None:
        """POST for the act's unit; waits while the ticket is on its way to followup (404)."""
        ticket_id = self.ids.get(act.ticket)
        if ticket_id is None:
            self._refuse(act, "unknown ticket")
            return None
        # A survey travels on Kafka: the reopened round must be there before the unit acts in it.
        if self._rounds.get(ticket_id, 0) > self._round_seen.get(ticket_id, 0) and not await self._await_known(
                ticket_id, round_=self._rounds[ticket_id]):
            self._refuse(act, "reopen not seen")
            return None
        auth = {"Authorization": f"Bearer {await self._token(act.unit_code or CENTRE)}", **(headers or {})}
        deadline, pause = time.monotonic() + self.wait_s, 0.05
        while True:
            response = await self._send("POST", f"/v1/tickets/{ticket_id}/{path}", json=body, headers=auth)
            if response is not None and response.status_code in (200, 201):
                self.known.add(ticket_id)
                return response.json()
            if _again(response) and time.monotonic() < deadline:
                self.stats.retries += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            if response is None:
                self._refuse(act, "followup unreachable")
                return None
            reason = _reason(response)
            # The services' answers name a field and a reason, never the caller's data.
            log.debug("refused %s %s: %s %s", act.kind.value, ticket_id, response.status_code, reason)
            self._refuse(act, f"{response.status_code} {reason}")
            return None

    async def _send(self, method: str, url: str, **kwargs) -> httpx.Response | None:
        """The answer, or None when followup could not answer (down, or its store timed out)."""
        try:
            return await self.http.request(method, url, **kwargs)
        except Exception as exc:  # an in-process app raises what a server would answer with 500
            log.warning("followup did not answer %s %s: %s", method, url.split("/")[-1], type(exc).__name__)
            return None

    async def _await_known(self, ticket_id: str, *, round_: int = 0) -> bool:
        """Whether followup knows the ticket (asked as the centre), in at least this round,
        waiting a while for it."""
        auth = {"Authorization": f"Bearer {await self._token(CENTRE)}"}
        deadline, pause = time.monotonic() + self.wait_s, 0.05
        while True:
            response = await self._send("GET", f"/v1/tickets/{ticket_id}", headers=auth)
            if response is not None and response.status_code == 200:
                self.known.add(ticket_id)
                seen = response.json().get("round", 0)
                self._round_seen[ticket_id] = seen
                if seen >= round_:
                    return True
                response = None  # not yet: ask again
            if not _again(response) or time.monotonic() >= deadline:
                return False
            self.stats.retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)


def _again(response: httpx.Response | None) -> bool:
    """Worth asking again: the ticket is on its way (404), or followup is busy or down."""
    return response is None or response.status_code == 404 or response.status_code >= 500


def _reason(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
        if isinstance(detail, list) and detail:
            return str(detail[0].get("msg", ""))[:80]
    except ValueError:
        pass
    return ""
