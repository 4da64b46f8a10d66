"""The centre's desk, the use cases: who is calling, the ticket search, the requests waiting for
the centre's decision. Each reads the store (`DeskRecords`, `hotline.followup.desk.store.DeskStore`)
and decides in the pure domain (`desk/domain.py`); nothing here writes but the dropping of
entries whose requests were decided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol

from hotline.contracts import BUSINESS_TZ
from hotline.followup.desk.domain import (
    DEFAULT_LIMIT,
    TicketSearch,
    holders,
    matches,
    months_searched,
    newest_first,
    search_for,
    search_row,
    store_filter,
    waiting_exemptions,
    waiting_extensions,
    whoami,
)
from hotline.followup.tickets.domain import TicketState
from hotline.runtime.auth import Principal

Waiting = tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]


class DeskRecords(Protocol):
    """What the desk reads (`hotline.followup.desk.store.DeskStore`)."""

    async def ticket(self, *, ticket_id: str) -> dict[str, Any] | None: ...

    async def unit_listings(self, *, unit_code: str,
                            months: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]: ...

    async def tickets(self, *, ticket_ids: list[str]) -> list[dict[str, Any]]: ...

    async def find(self, *, query: dict[str, Any], limit: int) -> list[dict[str, Any]]: ...

    async def waiting_exemptions(self) -> Waiting: ...

    async def waiting_extensions(self) -> Waiting: ...

    async def drop_stale(self, *, exemptions: Sequence[dict[str, Any]] = (),
                         extensions: Sequence[dict[str, Any]] = ()) -> None: ...


@dataclass
class Desk:
    """What the workbench reads from followup."""

    store: DeskRecords
    zone: tzinfo = BUSINESS_TZ  # the city's: its days and months
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def whoami(self, caller: Principal) -> dict[str, str]:
        """The caller's unit code and role."""
        return whoami(caller)

    async def search(self, caller: Principal, *, ticket_id: str | None = None, unit_code: str | None = None,
                     category: str | None = None, state: TicketState | None = None,
                     received_from: date | None = None, received_to: date | None = None,
                     limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """Tickets by id, unit, category, state and received date, newest first."""
        search = search_for(caller, ticket_id=ticket_id, unit_code=unit_code, category=category, state=state,
                            received_from=received_from, received_to=received_to, limit=limit, zone=self.zone)
        if search.ticket_id is not None:
            docs = await self._one(search)
        elif search.unit_code is not None:
            docs = await self._by_unit(search, search.unit_code)
        else:
            docs = await self.store.find(query=store_filter(search), limit=search.limit)
        rows = newest_first((search_row(d) for d in docs), search.limit)
        return {"count": len(rows), "tickets": rows}

    async def _one(self, search: TicketSearch) -> list[dict[str, Any]]:
        doc = await self.store.ticket(ticket_id=search.ticket_id or "")
        if doc is None or not matches(doc, search):
            return []
        # A unit finds a ticket it is on or held; another's is not there for it (no 403: nothing is told).
        return [doc] if search.unit_code is None or search.unit_code in holders(doc) else []

    async def _by_unit(self, search: TicketSearch, unit_code: str) -> list[dict[str, Any]]:
        """The unit's tickets from its listings, month by month newest first, until the limit is met
        (the worklist's tickets, some listed before the months were, go with the newest)."""
        now = self.clock()
        months = months_searched(search, now=now, zone=self.zone)
        # Every month of the unit's is read to know which worklist tickets are listed at all: only
        # those listed nowhere (dispatched before the listings were kept) are read beside the months.
        known = sorted(set(months) | set(months_searched(TicketSearch(), now=now, zone=self.zone)), reverse=True)
        worklist, by_month = await self.store.unit_listings(unit_code=unit_code, months=known)
        listed = {t for ids in by_month.values() for t in ids}
        groups = [[t for t in worklist if t not in listed], *(by_month.get(m, []) for m in months)]
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        from_months = 0
        for index, group in enumerate(groups):
            ids = sorted(set(group) - seen)
            seen |= set(ids)
            matched = [d for d in await self.store.tickets(ticket_ids=ids) if matches(d, search)]
            found += matched
            from_months += len(matched) if index else 0
            if from_months >= search.limit:  # every month left is older than the ones read
                break
        return found

    async def waiting_exemptions(self, caller: Principal) -> dict[str, Any]:
        """The exemption requests waiting for a decision: the centre's all, a unit's its own."""
        entries, docs = await self.store.waiting_exemptions()
        rows, stale = waiting_exemptions(entries, docs, unit_code=None if caller.is_centre else caller.unit_code)
        await self.store.drop_stale(exemptions=stale)
        return {"count": len(rows), "requests": rows}

    async def waiting_extensions(self, caller: Principal) -> dict[str, Any]:
        """The extension requests waiting for a decision: the centre's all, a unit's its own."""
        entries, docs = await self.store.waiting_extensions()
        rows, stale = waiting_extensions(entries, docs, unit_code=None if caller.is_centre else caller.unit_code)
        await self.store.drop_stale(extensions=stale)
        return {"count": len(rows), "requests": rows}

