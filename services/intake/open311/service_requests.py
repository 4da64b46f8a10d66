"""Stored tickets as GeoReport v2 service requests: POST's answer and GET's request objects."""

from collections.abc import Mapping
from datetime import UTC, datetime

from hotline.contracts import BUSINESS_TZ
from hotline.gazetteer import Gazetteer
from hotline.intake.open311.form import MAX_DESCRIPTION
from hotline.intake.open311.services import service_name
from hotline.intake.public import public_text
from hotline.taxonomy import Taxonomy

HOTLINE_AGENCY = "12345热线"


def agency_responsible(unit_code: str | None, district_code: str | None, gazetteer: Gazetteer) -> str:
    """The street or town, else the district (兜底), else the hotline itself (triage)."""
    if unit_code and unit_code in gazetteer.units:
        return gazetteer.units[unit_code].name
    if district_code and district_code in gazetteer.districts:
        return gazetteer.districts[district_code].name
    return HOTLINE_AGENCY


def _business_time(value: datetime) -> datetime:
    if value.tzinfo is None:  # a store client without tz_aware gives naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BUSINESS_TZ)


def w3_time(value: datetime | None) -> str | None:
    """ISO 8601 (w3 profile) in business time, with its offset: 2026-11-26T17:30:00+08:00."""
    return None if value is None else _business_time(value).isoformat(timespec="seconds")


def service_notice(agency: str, due: datetime | None) -> str:
    """What happens next, in Chinese and English."""
    if due is None:
        return f"已受理，由{agency}办理。Received; {agency} will handle it."
    return (
        f"已受理，由{agency}办理，{_business_time(due):%Y-%m-%d %H:%M}前答复。"
        f"Received; {agency} will report back by {w3_time(due)}."
    )


def created_response(
    ticket_id: str, unit_code: str | None, district_code: str | None, due: datetime | None,
    *, gazetteer: Gazetteer,
) -> list[dict]:
    """POST requests' answer: the request id at once (service type realtime)."""
    agency = agency_responsible(unit_code, district_code, gazetteer)
    return [{
        "service_request_id": ticket_id,
        "service_notice": service_notice(agency, due),
        "account_id": None,
    }]


def request_object(doc: Mapping, *, taxonomy: Taxonomy, gazetteer: Gazetteer) -> dict:
    """A stored ticket as a GeoReport v2 request; built field by field, so no caller data leaks.
    Its text was scrubbed when stored; scrubbed again here for records stored before that."""
    code = doc.get("category") or "other"
    category = taxonomy.categories.get(code)
    agency = agency_responsible(doc.get("unit_code"), doc.get("district_code"), gazetteer)
    description = public_text(doc.get("content"))
    address = public_text(doc.get("address")) or ""
    community = public_text(doc.get("community"))
    if community and community not in address:
        address = f"{address} {community}".strip()
    due = doc.get("report_back_due_at")
    status = doc.get("status") or "open"
    return {
        "service_request_id": doc["_id"],
        "status": status,
        "status_notes": public_text(doc.get("status_notes")),
        "service_name": service_name(category) if category else code,
        "service_code": code,
        "description": description[:MAX_DESCRIPTION] if description else None,
        "agency_responsible": agency,
        "service_notice": service_notice(agency, due) if status == "open" else None,
        "requested_datetime": w3_time(doc.get("received_at")),
        "updated_datetime": w3_time(doc.get("updated_at") or doc.get("received_at")),
        "expected_datetime": w3_time(due),
        "address": address or None,
        "address_id": None,
        "zipcode": None,
        "lat": doc.get("lat"),
        "long": doc.get("lon"),
        "media_url": None,
    }
