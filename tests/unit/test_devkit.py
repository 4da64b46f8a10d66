"""The dev kit's parts that need no stack: a child that dies with its parent, a service process
waited for, stopped and killed (a stand-in service: a tiny HTTP server), namespace names and the
environment a service reads, and a raw record intake accepts."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.contracts import ticket_id_for
from hotline.devkit import (
    Namespace,
    ServiceDidNotStart,
    ServiceProcess,
    StackAddress,
    encoded,
    raw_record,
    stop_all,
    wait_all_healthy,
)
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.runtime.settings import ServiceSettings

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

# A stand-in for `hotline serve`: /healthz answers 200 on FAKE_HTTP_PORT; with IGNORE_TERM it
# survives SIGTERM, as a service stuck in its shutdown would.
FAKE_SERVICE = textwrap.dedent("""
    import http.server, os, signal
    if os.environ.get("IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("fake service up", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(os.environ["FAKE_HTTP_PORT"])), Health).serve_forever()
""")

# A parent that starts a sleeping child, prints its pid and sleeps: through the dev kit
# (`devkit`) or with a bare Popen (`bare`), to be SIGKILLed by the test.
PARENT = textwrap.dedent("""
    import subprocess, sys, time
    from pathlib import Path
    from hotline.devkit import ServiceProcess
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    if sys.argv[1] == "devkit":
        child = ServiceProcess.spawn("sleeper", {}, Path(sys.argv[2]), command=sleeper).process
    else:
        child = subprocess.Popen(sleeper)
    print(child.pid, flush=True)
    time.sleep(120)
""")


def fake(tmp_path: Path, name: str = "fake", **env: str) -> ServiceProcess:
    return ServiceProcess.spawn(name, {**os.environ, **env}, tmp_path / f"{name}.log",
                                port_variable="FAKE_HTTP_PORT", command=[sys.executable, "-c", FAKE_SERVICE])


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (dead all the same)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def child_of_killed_parent(tmp_path: Path, how: str) -> int:
    """Start a parent that starts a child, SIGKILL the parent; the child's pid."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how, str(tmp_path / "child.log")],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent printed {line!r}"
        child = int(line)
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        parent.stdout.close()
    return child


def test_a_child_started_through_the_dev_kit_dies_when_its_parent_is_killed(tmp_path):
    child = child_of_killed_parent(tmp_path, "devkit")
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child)


def test_a_bare_child_outlives_its_killed_parent(tmp_path):
    """Without the parent-death signal the child lives on: what the test above rules out."""
    child = child_of_killed_parent(tmp_path, "bare")
    try:
        time.sleep(1)
        assert not gone(child)
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_service_is_waited_for_until_healthy_and_stopped_with_sigterm(tmp_path):
    service = fake(tmp_path).wait_healthy(30)
    assert service.running() and service.url("/healthz") == f"http://127.0.0.1:{service.port}/healthz"
    assert service.pid == service.process.pid
    assert service.stop() == -signal.SIGTERM
    assert not service.running()
    assert "fake service up" in service.log_tail()


def test_a_service_stuck_in_its_shutdown_is_killed(tmp_path):
    service = fake(tmp_path, IGNORE_TERM="1").wait_healthy(30)
    started = time.monotonic()
    assert service.stop(timeout_s=1) == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_kill_is_sigkill(tmp_path):
    service = fake(tmp_path).wait_healthy(30)
    assert service.kill() == -signal.SIGKILL


def test_several_services_are_waited_for_and_stopped_together(tmp_path):
    services = [fake(tmp_path, f"fake{n}") for n in range(3)]
    try:
        wait_all_healthy(services, timeout_s=30)
        assert len({s.port for s in services}) == 3
    finally:
        stop_all(services)
    assert not any(s.running() for s in services)


def test_a_service_that_exits_did_not_start_and_its_log_says_why(tmp_path):
    service = ServiceProcess.spawn("broken", dict(os.environ), tmp_path / "broken.log",
                                   command=[sys.executable, "-c", "raise SystemExit('no settings here')"])
    with pytest.raises(ServiceDidNotStart, match="no settings here"):
        service.wait_healthy(30)


def test_a_service_that_does_not_answer_in_time_is_killed(tmp_path):
    service = ServiceProcess.spawn("silent", dict(os.environ), tmp_path / "silent.log",
                                   command=[sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(ServiceDidNotStart, match="silent did not start"):
        service.wait_healthy(1)
    assert not service.running()


async def test_waiting_for_a_service_does_not_block_the_event_loop(tmp_path):
    service = fake(tmp_path)
    try:
        assert await service.wait_healthy_async(30) is service
    finally:
        assert await service.stop_async() == -signal.SIGTERM


def test_the_port_goes_to_the_services_own_variable(tmp_path):
    service = ServiceProcess.spawn("intake", dict(os.environ), tmp_path / "env.log", port=45678, command=[
        sys.executable, "-c", "import os; print(os.environ['INTAKE_HTTP_PORT'])"])
    service.process.wait(timeout=30)
    assert service.port == 45678 and service.log.read_text().strip() == "45678"


STACK = StackAddress("127.0.0.1:19092", "mongodb://127.0.0.1:37017")


def test_a_fresh_namespace_is_named_after_its_label_and_a_child_nests_in_it():
    ns = Namespace.fresh(STACK, "t")
    assert (ns.kafka, ns.mongodb_url) == (STACK.kafka, STACK.mongodb_url)
    assert ns.prefix.startswith("t") and ns.prefix.endswith("-") and ns.database.startswith("hotline_t_")
    assert Namespace.fresh(STACK, "t") != ns
    child = ns.child("dl")
    assert child.prefix.startswith(f"{ns.prefix}dl") and child.database.startswith(f"{ns.database}_dl")
    assert child.topic("hotline.raw").startswith(ns.prefix)  # the parent's clean-up takes its topics


def test_a_service_started_with_the_namespace_environment_uses_its_topics_groups_and_database(monkeypatch):
    """The namespace's names are the ones the services compute from its environment."""
    ns = Namespace.fresh(STACK, "env")
    for name, value in ns.env(LOG_LEVEL="WARNING").items():
        monkeypatch.setenv(name, value)
    settings = ServiceSettings()
    assert settings.kafka_bootstrap_servers == ns.kafka and settings.mongodb_url == ns.mongodb_url
    assert settings.mongodb_database == ns.database and settings.log_level == "WARNING"
    assert settings.topic("tickets.received") == ns.topic("tickets.received")
    assert f"{settings.group_id('routing')}.tickets.received" == ns.group("routing", "tickets.received")
    assert ServiceSettings(**ns.service_settings()).topic_prefix == ns.prefix


def test_the_raw_record_is_one_intake_takes_and_overrides_replace_fields():
    record = raw_record("devkit-1", "房山区良乡镇拱辰大街", channel="wechat", content="路灯不亮")
    ticket = normalize(encoded(record), now=datetime.now(UTC), gazetteer=beijing())
    assert ticket.ticket_id == ticket_id_for("wechat", "devkit-1")
    assert record["content"] == "路灯不亮" and list(record)[:3] == ["channel", "source_id", "received_at"]
    assert "良乡" in encoded(record).decode()  # Chinese as it is, not \\u escapes
    assert raw_record("a", "b")["caller"] is not raw_record("a", "b")["caller"]
