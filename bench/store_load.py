"""A write load on the local MongoDB-protocol store, in the project's pattern, to measure its file,
heap and throughput (docs/operations.md, "The local store").

Per ticket: one bulk upsert by `_id` and four more updates ($set of the state, $push onto a growing
timeline; ~2 KB at the end), always in bulk commands of --batch tickets, so each command is one
commit. Beside them, "part" documents (~30 KB, like metrics' ranking pages) are rewritten whole
every --part-every commands. Every command commits before its reply (the launcher's durability).

    .venv/bin/python bench/store_load.py --port 27117 --seconds 60
    .venv/bin/python bench/store_load.py --launch --file /tmp/load.mv --port 27117 --seconds 60

With --launch it starts its own launcher (MongoLauncher from --libs/--build, extra launcher
arguments after --) on --port and --file, and stops it by its pid at the end. Prints a JSON
summary: commands/s, documents written, the store file's bytes per 1,000 tickets, live BSON bytes,
and the server's RSS and heap (jstat) when its pid is known (--pid or --launch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import bson
from pymongo import MongoClient, ReplaceOne, UpdateOne

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HOTLINE_LOCAL_DIR", REPO / ".local"))
UPDATES_PER_TICKET = 5


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=27117)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--batch", type=int, default=20, help="ticket writes per bulk command (a fifth create)")
    p.add_argument("--counters", type=int, default=10, help="small $inc documents written per ticket")
    p.add_argument("--parts", type=int, default=40, help="how many ~30 KB part documents")
    p.add_argument("--part-every", type=int, default=2, help="rewrite one part every N commands")
    p.add_argument("--rate", type=float, default=0, help="tickets per second (0: as fast as it goes)")
    p.add_argument("--pid", type=int, help="the server's pid, for RSS and heap figures")
    p.add_argument("--launch", action="store_true", help="start (and stop) a launcher of our own")
    p.add_argument("--file", type=Path, default=Path("/tmp/store_load/load.mv"))
    p.add_argument("--libs", type=Path, default=SHARED / "libs" / "mongo")
    p.add_argument("--build", type=Path, default=SHARED / "build")
    p.add_argument("--heap-mb", type=int, default=512)
    p.add_argument("--sample-every", type=float, default=10, help="seconds between progress lines")
    return p.parse_args(argv), extra


def launch(args: argparse.Namespace, extra: list[str]) -> subprocess.Popen[bytes]:
    args.file.parent.mkdir(parents=True, exist_ok=True)
    log = open(args.file.with_suffix(".log"), "ab")  # noqa: SIM115 - the child keeps its own copy
    proc = subprocess.Popen(
        ["java", f"-Xmx{args.heap_mb}m", "-XX:+ExitOnOutOfMemoryError",
         "-cp", f"{args.libs}/*{os.pathsep}{args.build}", "MongoLauncher",
         "--port", str(args.port), "--file", str(args.file), *extra],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit(f"launcher did not start: {args.file.with_suffix('.log').read_text()[-2000:]}")
            time.sleep(0.2)


def server_memory(pid: int | None) -> dict:
    if pid is None:
        return {}
    out: dict = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0].lower() + "_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return out
    if shutil.which("jstat"):
        done = subprocess.run(["jstat", "-gc", str(pid)], capture_output=True, text=True, timeout=20)
        rows = done.stdout.split()
        if done.returncode == 0 and len(rows) % 2 == 0:
            gc = dict(zip(rows[: len(rows) // 2], rows[len(rows) // 2:], strict=True))
            used = sum(float(gc.get(k, 0)) for k in ("S0U", "S1U", "EU", "OU"))
            out["heap_used_mb"] = round(used / 1024, 1)
            out["old_used_mb"] = round(float(gc.get("OU", 0)) / 1024, 1)
    return out


def timeline_entry(n: int) -> dict:
    return {"at": time.time(), "act": f"act-{n}", "by": "unit-%04d" % random.randrange(2000),
            "note": "处理意见：已联系来电人，安排现场核查，" * 6}


def new_ticket(tid: str) -> dict:
    return {"_id": tid, "state": "received", "channel": "phone", "district": "房山区",
            "address": "良乡镇云景台小区二期" * 2, "category": "市容环境", "unit": "unit-0001",
            "text": "小区门口垃圾堆放多日无人清理，气味很大，希望尽快处理。" * 3,
            "deadline": {"respond": time.time() + 3600, "resolve": time.time() + 86400}}


def part_document(pid: int, version: int) -> dict:
    rows = [{"unit": "unit-%04d" % i, "received": version + i, "closed": i, "score": i * 0.5,
             "name": "某某街道办事处"} for i in range(300)]
    return {"_id": f"part-{pid}", "version": version, "rows": rows}


def run(args: argparse.Namespace) -> dict:
    client = MongoClient(f"mongodb://127.0.0.1:{args.port}", timeoutMS=60_000)
    db = client[f"store_load_{os.getpid()}"]
    tickets, parts = db.tickets, db.parts
    written = {"tickets": 0, "updates": 0, "counters": 0, "parts": 0, "commands": 0}
    live: dict[str, int] = {}       # ticket id -> BSON bytes of its last version
    open_tickets: list[tuple[str, int]] = []  # (id, updates so far), updated oldest first
    part_bytes = len(bson.encode(part_document(0, 0)))
    next_id = 0
    started = time.monotonic()
    next_sample = started + args.sample_every
    samples = []
    loops = 0
    while time.monotonic() - started < args.seconds:
        if args.rate and written["tickets"] > args.rate * (time.monotonic() - started):
            time.sleep(0.005)
            continue
        loops += 1
        ops = []
        # A fifth of each command creates tickets, the rest moves older ones on: a steady state in
        # which each ticket sees UPDATES_PER_TICKET writes spread over time.
        created = max(1, args.batch // UPDATES_PER_TICKET)
        for _ in range(created):
            tid = f"T{next_id:09d}"
            next_id += 1
            ops.append(UpdateOne({"_id": tid}, {"$setOnInsert": new_ticket(tid),
                                                "$push": {"timeline": timeline_entry(0)}}, upsert=True))
            open_tickets.append((tid, 1))
            written["tickets"] += 1
        moved = []
        updates = 0
        while open_tickets and updates < args.batch - created:
            updates += 1
            tid, count = open_tickets.pop(0)
            ops.append(UpdateOne({"_id": tid}, {"$set": {"state": f"step-{count}", "updated": time.time()},
                                                "$push": {"timeline": timeline_entry(count)}}))
            written["updates"] += 1
            if count + 1 < UPDATES_PER_TICKET:
                moved.append((tid, count + 1))
        open_tickets.extend(moved)
        tickets.bulk_write(ops, ordered=False)
        written["commands"] += 1
        if args.counters:
            # Metrics' pattern: per ticket, a few $inc on small per-unit/per-month documents.
            incs = [UpdateOne({"_id": f"c-{random.randrange(500)}"}, {"$inc": {"received": 1, "open": 1}},
                              upsert=True) for _ in range(created * args.counters)]
            db.counters.bulk_write(incs, ordered=False)
            written["counters"] += len(incs)
            written["commands"] += 1
        if args.parts and loops % args.part_every == 0:
            p = random.randrange(args.parts)
            parts.bulk_write([ReplaceOne({"_id": f"part-{p}"}, part_document(p, written["commands"]), upsert=True)])
            written["parts"] += 1
            written["commands"] += 1
        if time.monotonic() >= next_sample:
            next_sample += args.sample_every
            sample = {"t": round(time.monotonic() - started, 1), "tickets": written["tickets"],
                      "file_bytes": args.file.stat().st_size if args.file.exists() else None,
                      **server_memory(args.pid)}
            samples.append(sample)
            print(json.dumps(sample), file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    sample_ids = [f"T{random.randrange(max(1, next_id)):09d}" for _ in range(300)]
    for doc in tickets.find({"_id": {"$in": sample_ids}}):
        live[doc["_id"]] = len(bson.encode(doc))
    average_ticket = sum(live.values()) / max(1, len(live))
    client.close()
    n = max(1, written["tickets"])
    file_bytes = args.file.stat().st_size if args.file.exists() else None
    live_bytes = int(average_ticket * n + part_bytes * min(args.parts, written["parts"]))
    return {
        "seconds": round(elapsed, 1),
        "commands_per_s": round(written["commands"] / elapsed, 1),
        "documents_written_per_s": round(sum(written[k] for k in ("tickets", "updates", "counters", "parts")) / elapsed, 1),
        **written,
        "file_bytes": file_bytes,
        "file_bytes_per_1000_tickets": int(file_bytes * 1000 / n) if file_bytes else None,
        "live_bson_bytes_estimate": live_bytes,
        "file_over_live": round(file_bytes / live_bytes, 2) if file_bytes else None,
        "server": server_memory(args.pid),
        "peak_file_bytes": max([s["file_bytes"] or 0 for s in samples] + [file_bytes or 0]),
    }


def main(argv: list[str]) -> int:
    args, extra = parse_args(argv)
    proc = None
    if args.launch:
        proc = launch(args, extra)
        args.pid = proc.pid
    try:
        result = run(args)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
    if proc is not None:
        result["file_bytes_after_clean_stop"] = args.file.stat().st_size
    result["launcher_args"] = extra
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
