#!/usr/bin/env bash
# Local infrastructure as plain JVM processes (no Docker here):
#   Kafka 4.1.1, one KRaft node (broker + controller)           127.0.0.1:$KAFKA_PORT (9092)
#   MongoDB protocol: mongo-java-server 1.47.0 on an H2 file     127.0.0.1:$MONGO_PORT (27017)
#
# Usage: deploy/local/stack.sh up|down|status
#        deploy/local/stack.sh start|stop kafka|mongo   (one server; the fault tests stop and restart each)
#
# All state lives under <repo>/.local (or $HOTLINE_LOCAL_DIR): m2 (Maven cache), libs, build,
# kafka-data, mongo, run (pid files), logs. Only processes recorded in run/*.pid are ever stopped.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
LOCAL_DIR=$(realpath -m "${HOTLINE_LOCAL_DIR:-$REPO_ROOT/.local}")

HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
MONGO_PORT=${MONGO_PORT:-27017}
READY_TIMEOUT=${STACK_READY_TIMEOUT:-60}   # seconds, per server
STOP_TIMEOUT=20                            # seconds before SIGKILL

LIBS_DIR=$LOCAL_DIR/libs
BUILD_DIR=$LOCAL_DIR/build
RUN_DIR=$LOCAL_DIR/run
LOG_DIR=$LOCAL_DIR/logs
KAFKA_DATA_DIR=$LOCAL_DIR/kafka-data
KAFKA_PROPS=$LOCAL_DIR/kafka.properties
MONGO_FILE=$LOCAL_DIR/mongo/hotline.mv
PYTHON=$REPO_ROOT/.venv/bin/python

# Text that must appear in /proc/<pid>/cmdline for a pid file to count as ours: guards
# against a stale pid file whose pid was reused by an unrelated process.
KAFKA_MARK=kafka.Kafka
MONGO_MARK=MongoLauncher

log() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- process and port helpers

port_open() { # port -> 0 when something accepts TCP connections on $HOST:port
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Prints the pid from run/<name>.pid when that process is alive and is our server.
our_pid() { # name mark
    local file=$RUN_DIR/$1.pid pid cmdline
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$2"* ]] || return 1
    printf '%s\n' "$pid"
}

tail_log() { # file
    [[ -f $1 ]] || return 0
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 20 "$1" >&2
}

require_tools() {
    local tool
    for tool in java javac mvn; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "'$tool' not found on PATH (needs a JDK 17+ with javac, and Maven 3.8+)"
    done
}

sha_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------- build steps

# Copies both runtime classpaths into libs/{kafka,mongo} with a project-local Maven repository.
# Skipped when the stamp (hash of the poms) matches, so a warm `up` needs no Maven at all.
resolve_jars() {
    local stamp=$LIBS_DIR/.stamp want
    want=$(sha_of "$SCRIPT_DIR/pom.xml" "$SCRIPT_DIR/kafka/pom.xml" "$SCRIPT_DIR/mongo/pom.xml")
    if [[ -f $stamp && $(<"$stamp") == "$want" ]] &&
        compgen -G "$LIBS_DIR/kafka/*.jar" >/dev/null && compgen -G "$LIBS_DIR/mongo/*.jar" >/dev/null; then
        return 0
    fi
    log "resolving jars with Maven (cache: $LOCAL_DIR/m2) ..."
    # Start clean so a changed pom cannot leave stale jars on a classpath.
    rm -rf "$LIBS_DIR/kafka" "$LIBS_DIR/mongo" "$stamp"
    mkdir -p "$LIBS_DIR"
    # Output is kept for failures only (Maven 3.8 prints stray colour codes even with -q).
    local out
    if ! out=$(mvn -B -q --no-transfer-progress -Dstyle.color=never \
        -f "$SCRIPT_DIR/pom.xml" \
        -Dmaven.repo.local="$LOCAL_DIR/m2" \
        -Dhotline.local="$LOCAL_DIR" \
        dependency:copy-dependencies 2>&1); then
        printf '%s\n' "$out" >&2
        die "Maven could not resolve the stack's jars (output above)"
    fi
    printf '%s\n' "$want" >"$stamp"
}

# Compiles MongoLauncher.java into build/ when the source (or the libs it compiles against) changed.
compile_launcher() {
    local src=$SCRIPT_DIR/MongoLauncher.java index=$SCRIPT_DIR/KeyFirstUniqueIndex.java
    local documents=$SCRIPT_DIR/BsonDocuments.java
    local stamp=$BUILD_DIR/.MongoLauncher.stamp want
    want=$(sha_of "$src" "$index" "$documents" "$LIBS_DIR/.stamp")
    if [[ -f $stamp && $(<"$stamp") == "$want" && -f $BUILD_DIR/MongoLauncher.class ]]; then
        return 0
    fi
    log "compiling MongoLauncher ..."
    mkdir -p "$BUILD_DIR"
    rm -rf "$BUILD_DIR"/MongoLauncher*.class "$BUILD_DIR/de"
    javac -nowarn -d "$BUILD_DIR" -cp "$LIBS_DIR/mongo/*" "$src" "$index" "$documents" ||
        die "javac failed on $src"
    printf '%s\n' "$want" >"$stamp"
}

# The properties are generated on every `up` so port overrides take effect.
write_kafka_props() {
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_DATA_DIR@|$KAFKA_DATA_DIR|g" \
        "$SCRIPT_DIR/kafka.properties" >"$KAFKA_PROPS.tmp"
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}

# KRaft needs its log dir formatted with a cluster id exactly once; meta.properties marks it.
format_kafka_storage() {
    [[ -f $KAFKA_DATA_DIR/meta.properties ]] && return 0
    local cluster_id out
    cluster_id=$(java -cp "$LIBS_DIR/kafka/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [[ -n $cluster_id ]] || die "kafka StorageTool random-uuid printed no id"
    log "formatting Kafka storage in $KAFKA_DATA_DIR (cluster id $cluster_id)"
    if ! out=$(java -cp "$LIBS_DIR/kafka/*" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$KAFKA_PROPS" 2>&1); then
        printf '%s\n' "$out" >&2
        die "formatting Kafka storage failed"
    fi
}

# ---------------------------------------------------------------- start / readiness

# stdout/stderr are appended (a crash report from an earlier run stays), after a marker line.
start_marker() { printf '==== stack.sh: starting %s at %s ====\n' "$1" "$(date -Is)" >>"$LOG_DIR/$1.log"; }

start_kafka() {
    start_marker kafka
    nohup java -Xmx512m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" \
        -Dhotline.log.dir="$LOG_DIR" \
        -cp "$LIBS_DIR/kafka/*" kafka.Kafka "$KAFKA_PROPS" \
        >>"$LOG_DIR/kafka.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/kafka.pid"
}

start_mongo() {
    start_marker mongo
    mkdir -p "$(dirname "$MONGO_FILE")"
    # 512 MB: MongoLauncher gives a quarter of the heap to the store's page cache (128 MB); with
    # every document of the dev store cached the live heap was about 230 MB.
    nohup java -Xmx512m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -cp "$LIBS_DIR/mongo/*:$BUILD_DIR" MongoLauncher \
        --port "$MONGO_PORT" --host "$HOST" --file "$MONGO_FILE" \
        >>"$LOG_DIR/mongo.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/mongo.pid"
}

# Waits until $HOST:port accepts connections; fails early if the process died.
wait_tcp() { # name pid port deadline logfile
    until port_open "$3"; do
        kill -0 "$2" 2>/dev/null || { tail_log "$5"; die "$1 exited during startup (log: $5)"; }
        ((SECONDS < $4)) || { tail_log "$5"; die "$1 did not open port $3 within ${READY_TIMEOUT}s (log: $5)"; }
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

# ---------------------------------------------------------------- commands

# Decides for one server: prints "reuse <pid>", or "start" after making sure its ports are free.
plan_server() { # name mark port...
    local name=$1 mark=$2 pid port
    shift 2
    if pid=$(our_pid "$name" "$mark"); then
        echo "reuse $pid"
        return 0
    fi
    rm -f "$RUN_DIR/$name.pid" # stale: process gone or pid reused
    for port in "$@"; do
        if port_open "$port"; then
            die "port $port is already in use by a process that this script did not start; stop it, or pick other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT, MONGO_PORT)"
        fi
    done
    echo start
}

cmd_up() { # [kafka|mongo]: both servers by default
    local only=${1:-}
    require_tools
    mkdir -p "$LIBS_DIR" "$BUILD_DIR" "$RUN_DIR" "$LOG_DIR" "$KAFKA_DATA_DIR"

    local kafka_plan=skip mongo_plan=skip
    [[ $only == mongo ]] || kafka_plan=$(plan_server kafka "$KAFKA_MARK" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT")
    [[ $only == kafka ]] || mongo_plan=$(plan_server mongo "$MONGO_MARK" "$MONGO_PORT")

    if [[ $kafka_plan == start || $mongo_plan == start ]]; then
        resolve_jars
        compile_launcher
    fi
    if [[ $kafka_plan == start ]]; then
        write_kafka_props
        format_kafka_storage
        start_kafka
    fi
    if [[ $mongo_plan == start ]]; then
        start_mongo
    fi

    # Both JVMs boot in parallel; then wait for each. A reused server is checked the same way
    # (it may still be starting after an interrupted `up`).
    local deadline=$((SECONDS + READY_TIMEOUT)) kafka_pid mongo_pid
    if [[ $mongo_plan != skip ]]; then
        mongo_pid=$(<"$RUN_DIR/mongo.pid")
        wait_mongo "$mongo_pid" "$deadline"
    fi
    if [[ $kafka_plan != skip ]]; then
        kafka_pid=$(<"$RUN_DIR/kafka.pid")
        wait_kafka "$kafka_pid" "$deadline"
    fi

    local how_kafka=started how_mongo=started
    [[ $kafka_plan == start ]] || how_kafka=reused
    [[ $mongo_plan == start ]] || how_mongo=reused
    [[ $kafka_plan == skip ]] ||
        log "kafka  $how_kafka: $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT) pid $kafka_pid, log $LOG_DIR/kafka-server.log"
    [[ $mongo_plan == skip ]] ||
        log "mongo  $how_mongo: mongodb://$HOST:$MONGO_PORT pid $mongo_pid, store $MONGO_FILE, log $LOG_DIR/mongo.log"
}

cmd_down() { # [kafka|mongo]: both servers by default
    local name mark pid pids=() names=() which=(kafka mongo)
    [[ -z ${1:-} ]] || which=("$1")
    for name in "${which[@]}"; do
        [[ $name == kafka ]] && mark=$KAFKA_MARK || mark=$MONGO_MARK
        if pid=$(our_pid "$name" "$mark"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
        else
            rm -f "$RUN_DIR/$name.pid"
            log "$name: not running"
        fi
    done
    # Both stop in parallel; SIGKILL whatever is left after STOP_TIMEOUT.
    local deadline=$((SECONDS + STOP_TIMEOUT)) i alive
    while :; do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive && SECONDS < deadline)) || break
        sleep 0.2
    done
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            log "${names[$i]}: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        rm -f "$RUN_DIR/${names[$i]}.pid"
        log "${names[$i]}: stopped (pid ${pids[$i]})"
    done
}

cmd_status() {
    local rc=0 pid
    if pid=$(our_pid kafka "$KAFKA_MARK") && port_open "$KAFKA_PORT"; then
        log "kafka  running: $HOST:$KAFKA_PORT pid $pid"
    else
        log "kafka  stopped"
        rc=3
    fi
    if pid=$(our_pid mongo "$MONGO_MARK") && port_open "$MONGO_PORT"; then
        log "mongo  running: mongodb://$HOST:$MONGO_PORT pid $pid"
    else
        log "mongo  stopped"
        rc=3
    fi
    return "$rc"
}

case ${1:-}:${2:-} in
    up:) cmd_up ;;
    down:) cmd_down ;;
    status:) cmd_status ;;
    start:kafka | start:mongo) cmd_up "$2" ;;
    stop:kafka | stop:mongo) cmd_down "$2" ;;
    *)
        echo "usage: $0 up|down|status, or $0 start|stop kafka|mongo" >&2
        exit 64
        ;;
esac
