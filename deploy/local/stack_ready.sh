# shellcheck shell=bash
# Readiness probes for stack.sh, which sources this file: a server counts as up once it answers a
# real round trip (pymongo `ping`, Kafka metadata), not when its port opens. Uses stack.sh's
# settings (HOST, ports, LOG_DIR, LIBS_DIR, PYTHON, READY_TIMEOUT) and helpers (port_open,
# tail_log, die, stop_supervisor).

# Waits until $HOST:port accepts connections; fails early if the process died.
wait_tcp() { # name pid port deadline logfile
    until port_open "$3"; do
        kill -0 "$2" 2>/dev/null || { stop_supervisor "$1"; tail_log "$5"; die "$1 exited during startup (log: $5)"; }
        ((SECONDS < $4)) || { stop_supervisor "$1"; tail_log "$5"; die "$1 did not open port $3 within ${READY_TIMEOUT}s (log: $5)"; }
        sleep 0.2
    done
}

# The readiness probes use the project's venv when it has the client libraries.
PY_CLIENTS=
python_clients() {
    if [[ -z $PY_CLIENTS ]]; then
        PY_CLIENTS=no
        [[ -x $PYTHON ]] && "$PYTHON" -c 'import importlib.util as u, sys
sys.exit(not all(u.find_spec(m) for m in ("aiokafka", "pymongo")))' 2>/dev/null && PY_CLIENTS=yes
    fi
    [[ $PY_CLIENTS == yes ]]
}

# A real round trip: pymongo `ping`. Without the project's venv, TCP has to do.
wait_mongo() { # pid deadline
    local log_file=$LOG_DIR/mongo.log
    wait_tcp mongo "$1" "$MONGO_PORT" "$2" "$log_file"
    python_clients || return 0
    local ms=$(( ($2 - SECONDS) * 1000 )); ((ms > 1000)) || ms=1000
    "$PYTHON" - "mongodb://$HOST:$MONGO_PORT" "$ms" <<'PY' || { tail_log "$log_file"; die "mongo does not answer ping (log: $log_file)"; }
import sys
import pymongo

uri, ms = sys.argv[1], int(sys.argv[2])
client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=ms, timeoutMS=ms)
try:
    client.admin.command("ping")
finally:
    client.close()
PY
}

# A real metadata round trip: the broker answers before it is usable (clients do not retry
# a failed first connection), so poll until ApiVersions + Metadata succeed.
wait_kafka() { # pid deadline
    local log_file=$LOG_DIR/kafka.log
    wait_tcp kafka "$1" "$KAFKA_PORT" "$2" "$log_file"
    local remaining=$(( $2 - SECONDS )); ((remaining > 1)) || remaining=1
    if python_clients; then
        "$PYTHON" - "$HOST:$KAFKA_PORT" "$remaining" "$1" <<'PY' && return 0
import asyncio
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient


async def main(bootstrap: str, seconds: float, pid: int) -> int:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("kafka process exited", file=sys.stderr)
            return 1
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return 0
        except Exception as exc:  # not ready yet: retry until the deadline
            last = exc
        finally:
            try:
                await admin.close()
            except Exception:
                pass
        await asyncio.sleep(0.3)
    print(f"last error: {last!r}", file=sys.stderr)
    return 1


sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
PY
    else
        # No Python clients: describe the broker's configs with the tool shipped in the kafka jar
        # (slower: one JVM per try).
        while kill -0 "$1" 2>/dev/null && ((SECONDS < $2)); do
            if java -cp "$LIBS_DIR/kafka/*" kafka.admin.ConfigCommand \
                --bootstrap-server "$HOST:$KAFKA_PORT" --describe --entity-type brokers --entity-name 1 \
                >/dev/null 2>&1; then
                return 0
            fi
            sleep 0.5
        done
    fi
    tail_log "$log_file"
    die "kafka does not answer metadata requests on $HOST:$KAFKA_PORT (logs: $log_file, $LOG_DIR/kafka-server.log)"
}
