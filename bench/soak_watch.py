"""What the soak watches on the running stack: processes, the store's file, consumer lags, and
whether any record was lost on the way from the raw topic to the dispatches.

Everything here reads: /proc for the processes our pid files name, the store's file size, the
broker's end offsets and committed group offsets. Nothing is stopped or changed.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hotline.devkit import end_offsets, read_to_end

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".local" / "run"
STORE_FILE = ROOT / ".local" / "mongo" / "hotline.mv"
# The live city's consumer groups: the services' groups without a test or bench prefix.
LIVE_GROUP_PREFIX = "hotline-"


def rss_mb(pid: int) -> float | None:
    """Resident memory now, None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def our_pids() -> dict[str, int]:
    """Every process a pid file under .local/run names, and that is alive."""
    found = {}
    for file in sorted(RUN_DIR.glob("*.pid")):
        text = file.read_text().strip()
        if text.isdigit() and Path(f"/proc/{text}").exists():
            found[file.stem] = int(text)
    return found


@dataclass
class ProcessWatch:
    """Peak memory per process, and every process that died or was replaced (a supervisor's
    restart is a death too: the soak's aim is that none is needed)."""

    pids: dict[str, int]
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    deaths: list[dict] = field(default_factory=list)

    def sample(self, at_s: float) -> None:
        now = our_pids()
        for name, pid in self.pids.items():
            current = now.get(name)
            if current != pid:
                self.deaths.append({"process": name, "pid": pid, "at_s": round(at_s, 1),
                                    "replaced_by": current})
                if current is None:
                    continue
                self.pids[name] = current
            if (rss := rss_mb(self.pids[name])) is not None:
                self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), rss)
        # A process that appeared after the start (e.g. restarted by hand) is watched from now on.
        for name, pid in now.items():
            self.pids.setdefault(name, pid)


async def group_lags(bootstrap: str, prefix: str = LIVE_GROUP_PREFIX) -> dict[str, int]:
    """Each live consumer group's lag: log end minus committed offset, summed over its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix)]
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = await consumer.end_offsets(list(partitions)) if partitions else {}
        return {group: sum(max(0, ends[tp] - offset) for tp, offset in offsets.items())
                for group, offsets in committed.items()}
    finally:
        await consumer.stop()
        await admin.close()


@dataclass
class LagWatch:
    """Peak lag per group, and when each group drained after the load ended."""

    peak: dict[str, int] = field(default_factory=dict)
    peak_at_s: dict[str, float] = field(default_factory=dict)
    drained_after_s: dict[str, float] = field(default_factory=dict)
    load_ended_at: float | None = None

    def sample(self, lags: dict[str, int], at_s: float) -> None:
        for group, lag in lags.items():
            if lag > self.peak.get(group, -1):
                self.peak[group], self.peak_at_s[group] = lag, round(at_s, 1)
            if self.load_ended_at is not None and lag == 0 and group not in self.drained_after_s:
                self.drained_after_s[group] = round(time.monotonic() - self.load_ended_at, 1)

    def undrained(self, lags: dict[str, int]) -> dict[str, int]:
        return {group: lag for group, lag in lags.items() if group not in self.drained_after_s}


def store_bytes() -> int:
    return STORE_FILE.stat().st_size if STORE_FILE.exists() else 0


async def topic_records(bootstrap: str, topic: str) -> int:
    """How many records a topic holds (its end offsets)."""
    return sum((await end_offsets(bootstrap, [topic])).values())


async def losses(bootstrap: str, prefix: str = "") -> dict:
    """The live city's raw records that became neither a ticket nor a dead letter, and its
    tickets (not answered by the hotline itself) that were never dispatched."""
    raw = await read_to_end(bootstrap, [prefix + "hotline.raw"])
    received = await read_to_end(bootstrap, [prefix + "tickets.received"])
    dispatched = await read_to_end(bootstrap, [prefix + "tickets.dispatched"])
    letters = await read_to_end(bootstrap, [prefix + "hotline.dlq"])
    sources = {}
    for record in received:
        ticket = json.loads(record.value)
        sources[(ticket["channel"], ticket["source_id"])] = ticket
    refused = set()
    for record in letters:
        letter = json.loads(record.value)
        if letter.get("source_topic") == prefix + "hotline.raw":
            refused.add((letter["partition"], letter["offset"]))
    lost_raw = []
    for record in raw:
        if (record.partition, record.offset) in refused:
            continue
        try:
            body = json.loads(record.value)
            key = (body.get("channel"), body.get("source_id"))
        except (ValueError, AttributeError):
            key = None
        if key not in sources:
            lost_raw.append(f"{record.partition}/{record.offset}")
    sent = {json.loads(r.value)["ticket_id"] for r in dispatched}
    undispatched = [t["ticket_id"] for t in sources.values()
                    if not t.get("answered_directly") and t["ticket_id"] not in sent]
    return {"raw_records": len(raw), "tickets": len(sources), "dead_letters_from_raw": len(refused),
            "raw_records_lost": len(lost_raw), "lost_examples": lost_raw[:5],
            "tickets_never_dispatched": len(undispatched), "undispatched_examples": undispatched[:5]}
