"""All four services as separate processes, started by the project's own script, on the real stack."""

import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hotline.contracts import QueueAssignment, topics
from hotline.devkit import free_port, raw_record
from hotline.metrics.domain import period_of
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "followup", "metrics")


@pytest.fixture(scope="module")
def running(service_env, tmp_path_factory):
    """The services started with deploy/local/services.sh, stopped again afterwards."""
    ports = {svc: free_port() for svc in SERVICES}
    env = {
        **os.environ,
        **service_env,
        "HOTLINE_LOCAL_DIR": str(tmp_path_factory.mktemp("local")),
        **{f"{svc.upper()}_HTTP_PORT": str(port) for svc, port in ports.items()},
    }
    script = ROOT / "deploy/local/services.sh"
    started = subprocess.run(["bash", str(script), "up"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"ports": ports, "env": env}
    finally:
        pids = [int(p.read_text()) for p in Path(env["HOTLINE_LOCAL_DIR"], "run").glob("*.pid")]
        stopped = subprocess.run(["bash", str(script), "down"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def url(running, svc: str, path: str) -> str:
    return f"http://127.0.0.1:{running['ports'][svc]}{path}"


def test_every_service_answers_healthz(running):
    for svc in SERVICES:
        response = httpx.get(url(running, svc, "/healthz"), timeout=5)
        assert response.status_code == 200, (svc, response.text)


async def test_a_complaint_travels_through_all_four_processes(running, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"e2e-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", channel="wechat")
    await publish(kafka, prefix + topics.RAW, record)

    from hotline.contracts import ticket_id_for

    ticket_id = ticket_id_for("wechat", record["source_id"])
    queue = await read_topic(
        kafka, prefix + topics.queue_topic("110111008"),
        until=lambda rs: any(QueueAssignment.model_validate_json(r.value).ticket_id == ticket_id for r in rs),
    )
    assignment = next(
        a for a in (QueueAssignment.model_validate_json(r.value) for r in queue) if a.ticket_id == ticket_id
    )
    period = period_of(assignment.dispatched_at)

    async with httpx.AsyncClient(timeout=5) as client:
        async def figures():
            response = await client.get(url(running, "metrics", f"/v1/units/110111008/months/{period}"))
            return response.status_code == 200 and response.json()

        before = await eventually(figures)
        assert before["dispatched"] >= 1

        auth = await issue_token(namespace, "110111008")

        async def followup_knows():
            response = await client.get(url(running, "followup", f"/v1/tickets/{ticket_id}"), headers=auth)
            return response.status_code == 200

        await eventually(followup_knows)
        contact = {"unit_code": "110111008", "kind": "face_to_face", "staff_id": "LX-001",
                   "contacted_at": datetime.now(UTC).isoformat()}
        response = await client.post(url(running, "followup", f"/v1/tickets/{ticket_id}/contacts"),
                                     json=contact, headers={"Idempotency-Key": "visit-1", **auth})
        assert response.status_code == 201, response.text
        bad = await client.post(url(running, "followup", f"/v1/tickets/{ticket_id}/contacts"),
                                json={**contact, "kind": "telepathy"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "kind"

        async def face_to_face_counted():
            current = await figures()
            return current and current["face_to_face"] > before["face_to_face"] and current

        after = await eventually(face_to_face_counted)
        assert after["contacted"] == before["contacted"] + 1
