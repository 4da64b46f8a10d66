"""The limit beside the raw-Kafka one (common.raw_limit): a no-op FastStream relay."""

import sys
from pathlib import Path

from common import SERVICE_LOG_LEVEL, CpuWindow, consume_timed, produce

from hotline.contracts import topics
from hotline.devkit import Namespace, ServiceProcess
from hotline.runtime.kafka import ensure_topics

RELAY = Path(__file__).resolve().parents[1] / "relay.py"


async def relay_rate(ns: Namespace, payloads: list[bytes], logs: Path) -> dict:
    """A backlog relayed by the no-op FastStream relay in its own process: records/s from its first
    output to its last (as for the services, the producer does not compete with it)."""
    await ensure_topics(ns.kafka, [topics.TopicSpec(ns.topic(t), topics.TICKET_PARTITIONS)
                                   for t in ("bench.relay-in", "bench.relay-out")])
    await produce(ns.kafka, ns.topic("bench.relay-in"), payloads)
    relay = ServiceProcess.spawn("relay", ns.env(LOG_LEVEL=SERVICE_LOG_LEVEL), logs / "relay.log",
                                 port_variable="UNUSED_PORT",
                                 command=[sys.executable, str(RELAY), "bench.relay-in", "bench.relay-out"])
    window = CpuWindow({"relay": relay.process.pid})
    window.start()
    try:
        first, last = await consume_timed(ns.kafka, ns.topic("bench.relay-out"), len(payloads))
        return {"records_per_s": (len(payloads) - 1) / (last - first), "process": window.stop()["relay"]}
    finally:
        relay.stop()
