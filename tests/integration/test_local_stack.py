"""The local stack scripts (deploy/local): what the rest of the suite relies on.

- The MongoDB-protocol launcher loses no acknowledged write when it is SIGKILLed.
- A launcher whose port is taken exits at once, saying which port.
- `stack.sh up` is idempotent: a second run reuses the running servers.
- Documents keep their BSON types through the launcher's BSON storage and a restart, and a store
  file of Java-serialized documents (the library's own format) is converted at its first start.

These start their own launcher JVMs on free ports and kill them when done. They need the jars
(in $HOTLINE_LIBS_DIR when set, as for stack.sh) and the compiled launcher, which `stack.sh up`
provides (it is run here if they are missing).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from bson import Decimal128, Int64, ObjectId, Regex, Timestamp
from pymongo import MongoClient, ReturnDocument, UpdateOne

from hotline.devkit import free_port

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "deploy" / "local" / "stack.sh"
LOCAL = Path(os.environ.get("HOTLINE_LOCAL_DIR", REPO / ".local")).resolve()
# Where stack.sh keeps the jars: HOTLINE_LIBS_DIR when set (a shared or cached copy), else <local>/libs.
MONGO_LIBS = Path(os.environ.get("HOTLINE_LIBS_DIR", LOCAL / "libs")).resolve() / "mongo"
BUILD = LOCAL / "build"
RUN = LOCAL / "run"

DOCS = 2_000
INCREMENTS = 300


def _stack(command: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK_SH), command], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )



def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _read_pids() -> dict[str, int]:
    return {name: int((RUN / f"{name}.pid").read_text().strip()) for name in ("kafka", "mongo")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def prepared_stack() -> Iterator[None]:
    """Jars and launcher classes exist; if this module had to start the stack, it stops it again."""
    if shutil.which("java") is None:
        pytest.fail("java is not on PATH: the local stack needs a JDK 17+")
    was_running = _stack("status", timeout=30).returncode == 0
    have_build = (BUILD / "MongoLauncher.class").is_file() and any(MONGO_LIBS.glob("*.jar"))
    started_here = False
    if not have_build or not was_running:
        up = _stack("up")
        assert up.returncode == 0, f"stack.sh up failed:\n{up.stdout}\n{up.stderr}"
        started_here = not was_running
    yield
    if started_here:
        _stack("down", timeout=60)


class Launchers:
    """Starts MongoLauncher JVMs and guarantees they are killed at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, port: int, store: Path, name: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                "java", "-Xmx256m", "-XX:+ExitOnOutOfMemoryError",
                "-cp", f"{MONGO_LIBS}/*{os.pathsep}{BUILD}",
                "MongoLauncher", "--port", str(port), "--file", str(store),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()  # the child holds its own descriptor
        self.procs.append(proc)
        return proc

    def output(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_listening(self, proc: subprocess.Popen[bytes], port: int, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not _port_open(port):
            if proc.poll() is not None:
                pytest.fail(f"launcher exited with {proc.returncode}:\n{self.output(name)}")
            if time.monotonic() > deadline:
                pytest.fail(f"launcher not listening on {port} after {timeout}s:\n{self.output(name)}")
            time.sleep(0.1)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def launchers(prepared_stack, tmp_path: Path) -> Iterator[Launchers]:
    started = Launchers(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


def _client(port: int) -> MongoClient:
    return MongoClient(
        f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=10_000, timeoutMS=20_000, w=1,
        uuidRepresentation="standard",
    )


def _doc(i: int) -> dict:
    return {"_id": i, "name": f"doc-{i:05d}", "payload": "x" * (i % 97), "nested": {"i": i, "sq": i * i}}


def test_acknowledged_writes_survive_sigkill(launchers: Launchers, tmp_path: Path) -> None:
    port, store = free_port(), tmp_path / "x.mv"
    first = launchers.start(port, store, "first")
    launchers.wait_listening(first, port, "first")

    client = _client(port)
    hello = client.admin.command("isMaster")  # this server predates the `hello` command
    assert hello["maxWireVersion"] >= 9, hello  # PyMongo 4.20 needs MongoDB 4.4 / wire 9
    coll = client.durability.docs
    # Half as single inserts (one commit each), half in bulk: both paths must be durable.
    for i in range(DOCS // 2):
        coll.insert_one(_doc(i))
    for start in range(DOCS // 2, DOCS, 250):
        coll.insert_many([_doc(i) for i in range(start, min(start + 250, DOCS))])
    counters = client.durability.counters
    for _ in range(INCREMENTS):
        counters.find_one_and_update(
            {"_id": "hits"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.BEFORE
        )
    last = counters.update_one({"_id": "hits"}, {"$inc": {"n": 1}})
    assert last.acknowledged and last.modified_count == 1
    first.send_signal(signal.SIGKILL)  # right after the last acknowledged write
    assert first.wait(timeout=30) == -signal.SIGKILL
    client.close()

    second = launchers.start(port, store, "second")
    launchers.wait_listening(second, port, "second")
    client = _client(port)
    try:
        found = {d["_id"]: d for d in client.durability.docs.find()}
        missing = sorted(set(range(DOCS)) - set(found))
        assert not missing, f"{len(missing)} acknowledged documents lost, e.g. {missing[:10]}"
        assert len(found) == DOCS
        for i in range(DOCS):
            assert found[i] == _doc(i)
        assert client.durability.counters.find_one({"_id": "hits"}) == {"_id": "hits", "n": INCREMENTS + 1}
    finally:
        client.close()


def test_port_already_taken_exits_quickly_naming_the_port(launchers: Launchers, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        proc = launchers.start(port, tmp_path / "clash.mv", "clash")
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher still running 30 s after failing to bind:\n{launchers.output('clash')}")
        elapsed = time.monotonic() - began
    output = launchers.output("clash")
    assert code != 0, output
    assert str(port) in output, output
    assert elapsed < 20, f"took {elapsed:.1f}s to give up"


def test_stack_up_twice_reuses_the_running_servers(prepared_stack) -> None:
    first = _stack("up")
    assert first.returncode == 0, f"{first.stdout}\n{first.stderr}"
    pids = _read_pids()

    second = _stack("up")
    assert second.returncode == 0, f"{second.stdout}\n{second.stderr}"
    assert "reused" in second.stdout, second.stdout
    assert _read_pids() == pids
    assert all(_alive(pid) for pid in pids.values()), pids

    status = _stack("status", timeout=30)
    assert status.returncode == 0, f"{status.stdout}\n{status.stderr}"


def test_guarded_queries_served_by_key_answer_as_the_whole_query_says(launchers: Launchers, tmp_path: Path) -> None:
    """The launcher's KeyFirstUniqueIndex finds `{_id: X, <other conditions>}` by key; every
    condition must still hold for a document to match, read or written."""
    port = free_port()
    proc = launchers.start(port, tmp_path / "guards.mv", "guards")
    launchers.wait_listening(proc, port, "guards")
    client = _client(port)
    try:
        coll = client.guards.tickets
        coll.insert_many([{"_id": f"t{i}", "state": "open" if i % 2 else "closed", "n": i,
                           "timeline": [{"event_id": f"e{i}"}]} for i in range(200)])
        assert coll.update_one({"_id": "t2", "state": {"$ne": "closed"}}, {"$set": {"x": 1}}).matched_count == 0
        assert coll.update_one({"_id": "t3", "state": {"$ne": "closed"}}, {"$set": {"x": 1}}).matched_count == 1
        assert coll.update_one({"_id": "t3", "timeline.event_id": {"$ne": "e3"}},
                               {"$push": {"timeline": {"event_id": "e3"}}}).matched_count == 0
        assert coll.count_documents({"_id": "t3", "x": 1}) == 1
        assert [d["_id"] for d in coll.find({"_id": {"$in": ["t4", "t5", "t7", "nope"]}, "state": "open"}).sort("_id")] \
            == ["t5", "t7"]
        assert [d["_id"] for d in coll.find({"_id": "t4", "$or": [{"state": "open"}, {"n": 4}]})] == ["t4"]
        assert coll.delete_one({"_id": "t9", "state": "closed"}).deleted_count == 0
        assert coll.count_documents({"_id": {"$regex": "^t1"}, "state": "open"}) == 56
        # A guarded upsert that does not match an existing document collides with it, as on MongoDB.
        with pytest.raises(Exception, match="E11000|duplicate"):
            coll.update_one({"_id": "t2", "state": "open"}, {"$set": {"y": 1}}, upsert=True)
    finally:
        client.close()


# Every BSON type a client commonly stores, as PyMongo writes and reads it.
TYPED = {
    "_id": "typed-1",
    "string": "良乡 town",
    "int32": 42,
    "int64": Int64(9_000_000_000),
    "double": 2.5,
    "decimal": Decimal128("12.34"),
    "true": True,
    "null": None,
    "date": datetime(2025, 11, 27, 0, 0, 0, 123000),
    "oid": ObjectId("5f1e9a2b3c4d5e6f7a8b9c0d"),
    "binary": b"\x01\x02\x03",
    "uuid": uuid.UUID("123e4567-e89b-12d3-a456-426614174000"),
    "nested": {"list": [1, "two", {"three": 3.0}]},
}


def test_documents_of_every_type_read_back_after_updates_and_a_sigkill(launchers: Launchers, tmp_path: Path) -> None:
    """Documents are stored as BSON (BsonDocuments.java): each type survives the store's encoding,
    an update in place and a restart, and the file's documents are BSON."""
    port, store = free_port(), tmp_path / "typed.mv"
    first = launchers.start(port, store, "typed-first")
    launchers.wait_listening(first, port, "typed-first")
    client = _client(port)
    coll = client.typed.docs
    coll.insert_one(dict(TYPED))
    coll.update_one({"_id": "typed-1"}, {"$inc": {"int64": 1}, "$push": {"nested.list": Int64(5)},
                                         "$set": {"regex": Regex("^110", "i"), "ts": Timestamp(1_764_201_600, 7)}})
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    client.close()

    expected = {**TYPED, "int64": Int64(9_000_000_001), "nested": {"list": [1, "two", {"three": 3.0}, Int64(5)]},
                "regex": Regex("^110", "i"), "ts": Timestamp(1_764_201_600, 7)}
    second = launchers.start(port, store, "typed-second")
    launchers.wait_listening(second, port, "typed-second")
    client = _client(port)
    try:
        found = client.typed.docs.find_one({"_id": "typed-1"})
        assert {k: found[k] for k in expected if k != "regex"} == {k: v for k, v in expected.items() if k != "regex"}
        assert (found["regex"].pattern, found["regex"].flags) == ("^110", expected["regex"].flags)
        assert type(found["int64"]) is Int64 and type(found["int32"]) is int
    finally:
        client.close()
        second.kill()
        second.wait(timeout=30)
    assert _stock_store(tmp_path, "read", store, "typed.docs") == "1"


def test_a_document_grown_past_16_mb_by_updates_reads_back_after_a_restart(launchers: Launchers, tmp_path: Path) -> None:
    """The server does not refuse updates that grow a document past MongoDB's 16 MB (the wire's
    limit); stored as BSON, such a document must still read back from the file."""
    port, store = free_port(), tmp_path / "big.mv"
    first = launchers.start(port, store, "big-first")
    launchers.wait_listening(first, port, "big-first")
    client = _client(port)
    coll = client.big.docs
    coll.insert_one({"_id": "big", "small": 1, "chunks": []})
    for i in range(9):  # 9 x 2 MB: 18 MB in all
        coll.update_one({"_id": "big"}, {"$push": {"chunks": f"{i}" + "x" * 2_000_000}})
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    client.close()

    second = launchers.start(port, store, "big-second")
    launchers.wait_listening(second, port, "big-second")
    client = _client(port)
    try:
        assert client.big.docs.find_one({"_id": "big"}, {"small": 1}) == {"_id": "big", "small": 1}
        assert client.big.docs.find_one({"_id": "big"}, {"chunks": {"$slice": [8, 1]}})["chunks"][0][:2] == "8x"
    finally:
        client.close()


def test_updates_from_several_clients_while_the_store_commits_keep_the_store_open(launchers: Launchers, tmp_path: Path) -> None:
    """Each write command commits; a commit writing a page while another client's update changed
    a document of it in place made the store close itself (ConcurrentModificationException). The
    launcher's collections hand out copies, so updates never touch an object a page holds."""
    port = free_port()
    proc = launchers.start(port, tmp_path / "concurrent.mv", "concurrent")
    launchers.wait_listening(proc, port, "concurrent")
    failures: list[str] = []
    bulks = [0] * 4
    until = time.monotonic() + 6

    def client_writes(n: int) -> None:
        client = _client(port)
        coll = client.concurrent[f"c{n % 2}"]
        i = 0
        try:
            while time.monotonic() < until:
                # Fields added and removed: the changes that break an iteration in progress.
                coll.bulk_write([UpdateOne({"_id": d}, {"$set": {f"k{i % 7}": i, "tl": list(range(i % 5))},
                                                        "$unset": {f"k{(i + 3) % 7}": ""}}, upsert=True)
                                 for d in range(20)], ordered=False)
                i += 1
                bulks[n] += 1
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(repr(error)[:500])
        finally:
            client.close()

    threads = [threading.Thread(target=client_writes, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]
    assert min(bulks) > 10, bulks
    assert "ConcurrentModificationException" not in launchers.output("concurrent")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    again = launchers.start(port, tmp_path / "concurrent.mv", "concurrent-again")
    launchers.wait_listening(again, port, "concurrent-again")
    client = _client(port)
    try:
        for name in ("c0", "c1"):
            assert sorted(d["_id"] for d in client.concurrent[name].find()) == list(range(20))
    finally:
        client.close()


def test_store_file_of_java_serialized_documents_is_converted_once(launchers: Launchers, tmp_path: Path) -> None:
    """A file written by mongo-java-server's own H2 backend (or this launcher before it stored BSON)
    opens with every document intact, converted to BSON at the first start only."""
    store = tmp_path / "stock.mv"
    _stock_store(tmp_path, "write", store)
    port = free_port()
    first = launchers.start(port, store, "stock-first")
    launchers.wait_listening(first, port, "stock-first")
    # The two collections and the database's own system collections.
    assert re.search(r"converted \d+ collections", launchers.output("stock-first"))
    client = _client(port)
    try:
        typed = client.legacy.typed.find_one({"_id": "typed-1"})
        assert {k: typed[k] for k in TYPED} == {**TYPED, "date": datetime(2025, 11, 27, 0, 0, 0, 123000)}
        assert client.legacy.many.count_documents({}) == 500
        assert client.legacy.many.find_one({"_id": 321}) == {"_id": 321, "unit": "11016", "n": 321}
        client.legacy.many.update_one({"_id": 321}, {"$set": {"n": -1}})
    finally:
        client.close()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert _stock_store(tmp_path, "read", store, "legacy.many") == "500"

    second = launchers.start(port, store, "stock-second")
    launchers.wait_listening(second, port, "stock-second")
    assert "converted" not in launchers.output("stock-second")
    client = _client(port)
    try:
        assert client.legacy.many.find_one({"_id": 321})["n"] == -1
    finally:
        client.close()


def _stock_store(tmp_path: Path, *args: object) -> str:
    """Runs tests/integration/stock_store/StockStore.java (compiled once per test directory)."""
    classes = tmp_path / "stock-classes"
    classpath = f"{MONGO_LIBS}/*{os.pathsep}{BUILD}{os.pathsep}{classes}"
    if not classes.exists():
        subprocess.run(["javac", "-nowarn", "-d", str(classes), "-cp", classpath,
                        str(Path(__file__).parent / "stock_store" / "StockStore.java")],
                       check=True, capture_output=True, timeout=120)
    done = subprocess.run(["java", "-cp", classpath, "StockStore", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()
