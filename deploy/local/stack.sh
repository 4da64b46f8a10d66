#!/usr/bin/env bash
# Local infrastructure as plain JVM processes (no Docker here):
#   Kafka 4.1.1, one KRaft node (broker + controller)           127.0.0.1:$KAFKA_PORT (9092)
#   MongoDB protocol: mongo-java-server 1.47.0 on an H2 file     127.0.0.1:$MONGO_PORT (27017)
#
# Usage: deploy/local/stack.sh up|down|status
#        deploy/local/stack.sh start|stop kafka|mongo   (one server; the fault tests stop and restart each)
#
# Each server runs under a supervisor (this script's `supervise` mode, run/<name>-supervisor.pid)
# that restarts it when it exits unexpectedly (OOM, crash, SIGKILL), with a backoff; `stop` and
# `down` stop the supervisor first, then the server.
#
# Settings (environment): MONGO_HEAP_MB, MONGO_CACHE_MB, KAFKA_HEAP_MB (defaults from MemTotal, see
# below); MONGO_COMPACT_EVERY_MS, MONGO_COMPACT_FILL_RATE, MONGO_COMPACT_WRITE_MB,
# MONGO_RETENTION_MS (the store's compaction, see StoreCompactor.java); HOTLINE_LIBS_DIR (the
# jars, default <local>/libs).
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

LIBS_DIR=$(realpath -m "${HOTLINE_LIBS_DIR:-$LOCAL_DIR/libs}")
BUILD_DIR=$LOCAL_DIR/build
RUN_DIR=$LOCAL_DIR/run
LOG_DIR=$LOCAL_DIR/logs
KAFKA_DATA_DIR=$LOCAL_DIR/kafka-data
KAFKA_PROPS=$LOCAL_DIR/kafka.properties
MONGO_FILE=$LOCAL_DIR/mongo/hotline.mv
PYTHON=$REPO_ROOT/.venv/bin/python

# Heaps from the machine's memory. The store holds every open document and its page cache on the
# heap: 512 MB ran out under `make up` + `make test` (live heap 270-420 MB with 38,000 tickets),
# so it gets a quarter of RAM, capped at 4 GB (24 GB here: 4 GB, a tenfold margin over that live
# heap, and the other 20 GB stay for Kafka, the services, the tests and the OS page cache that
# Kafka's log lives in). Kafka itself needs little heap (its data is in the page cache): 1 GB,
# the size Kafka's own start script uses, or a sixteenth of RAM on smaller machines. Never
# below 512 MB, the size both ran with before.
MEM_TOTAL_MB=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
heap_default() { # divisor cap_mb
    local mb=$(( ${MEM_TOTAL_MB:-0} / $1 ))
    ((mb <= $2)) || mb=$2
    ((mb >= 512)) || mb=512
    echo "$mb"
}
MONGO_HEAP_MB=${MONGO_HEAP_MB:-$(heap_default 4 4096)}
MONGO_CACHE_MB=${MONGO_CACHE_MB:-$((MONGO_HEAP_MB / 4))}   # the store's page cache, on its heap
KAFKA_HEAP_MB=${KAFKA_HEAP_MB:-$(heap_default 16 1024)}
for setting in MONGO_HEAP_MB MONGO_CACHE_MB KAFKA_HEAP_MB; do
    [[ ${!setting} =~ ^[0-9]+$ && ${!setting} -ge 16 ]] || {
        printf 'stack: ERROR: %s must be a number of megabytes (at least 16), got "%s"\n' "$setting" "${!setting}" >&2
        exit 64
    }
done
# The store's compaction under load (MongoLauncher arguments; StoreCompactor.java says why).
MONGO_COMPACT_EVERY_MS=${MONGO_COMPACT_EVERY_MS:-1000}
MONGO_COMPACT_FILL_RATE=${MONGO_COMPACT_FILL_RATE:-90}
MONGO_COMPACT_WRITE_MB=${MONGO_COMPACT_WRITE_MB:-4}
MONGO_RETENTION_MS=${MONGO_RETENTION_MS:-0}   # readers are guarded by version, not time

# A supervisor waits this long before restarting its server, doubling after each quick exit, so
# a server that cannot start does not spin; a run of RESTART_RESET s resets the backoff.
RESTART_BACKOFF_MIN=${STACK_RESTART_BACKOFF_MIN:-1}
RESTART_BACKOFF_MAX=${STACK_RESTART_BACKOFF_MAX:-60}
RESTART_RESET=60

# Text that must appear in /proc/<pid>/cmdline for a pid file to count as ours: guards
# against a stale pid file whose pid was reused by an unrelated process.
KAFKA_MARK=kafka.Kafka
MONGO_MARK=MongoLauncher
SUPERVISOR_MARK="stack.sh supervise"

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
    local documents=$SCRIPT_DIR/BsonDocuments.java compactor=$SCRIPT_DIR/StoreCompactor.java
    local stamp=$BUILD_DIR/.MongoLauncher.stamp want
    want=$(sha_of "$src" "$index" "$documents" "$compactor" "$LIBS_DIR/.stamp")
    if [[ -f $stamp && $(<"$stamp") == "$want" && -f $BUILD_DIR/MongoLauncher.class ]]; then
        return 0
    fi
    log "compiling MongoLauncher ..."
    mkdir -p "$BUILD_DIR"
    rm -rf "$BUILD_DIR"/MongoLauncher*.class "$BUILD_DIR"/StoreCompactor*.class "$BUILD_DIR/de"
    javac -nowarn -d "$BUILD_DIR" -cp "$LIBS_DIR/mongo/*" "$src" "$index" "$documents" "$compactor" ||
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
    nohup java -Xmx"$KAFKA_HEAP_MB"m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" \
        -Dhotline.log.dir="$LOG_DIR" \
        -cp "$LIBS_DIR/kafka/*" kafka.Kafka "$KAFKA_PROPS" \
        >>"$LOG_DIR/kafka.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/kafka.pid"
}

start_mongo() {
    start_marker mongo
    mkdir -p "$(dirname "$MONGO_FILE")"
    # Heap and page cache: see MONGO_HEAP_MB above.
    nohup java -Xmx"$MONGO_HEAP_MB"m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -cp "$LIBS_DIR/mongo/*:$BUILD_DIR" MongoLauncher \
        --port "$MONGO_PORT" --host "$HOST" --file "$MONGO_FILE" --cache-mb "$MONGO_CACHE_MB" \
        --compact-every-ms "$MONGO_COMPACT_EVERY_MS" --compact-fill-rate "$MONGO_COMPACT_FILL_RATE" \
        --compact-write-mb "$MONGO_COMPACT_WRITE_MB" --retention-ms "$MONGO_RETENTION_MS" \
        >>"$LOG_DIR/mongo.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/mongo.pid"
}

# ---------------------------------------------------------------- supervision

start_server() { # name
    if [[ $1 == kafka ]]; then start_kafka; else start_mongo; fi
}

# `stack.sh supervise <name>`, run with nohup by start_supervised: starts the server, waits for it,
# and starts it again when it exits, logging the exit status to the server's log. SIGTERM (from
# `stop`/`down`) only sets a flag that every wait checks, so the server's pid file is always
# written before the supervisor can exit; `stop` repeats the signal until the supervisor is gone.
supervise() { # name
    local name=$1 pid status started backoff=$RESTART_BACKOFF_MIN restarts=0 stop=
    trap 'stop=1' TERM INT
    trap '' HUP
    printf '0\n' >"$RUN_DIR/$name.restarts"
    while [[ -z $stop ]]; do
        started=$SECONDS
        start_server "$name"
        pid=$(<"$RUN_DIR/$name.pid")
        [[ -n $stop ]] && break
        # wait returns early when a signal arrives; the server keeps running (stop ends it).
        while [[ -z $stop ]] && kill -0 "$pid" 2>/dev/null; do
            status=0
            wait "$pid" || status=$?
        done
        [[ -n $stop ]] && break
        ((SECONDS - started < RESTART_RESET)) || backoff=$RESTART_BACKOFF_MIN
        restarts=$((restarts + 1))
        printf '%s\n' "$restarts" >"$RUN_DIR/$name.restarts"
        printf '==== stack.sh supervisor: %s (pid %s) exited with status %s at %s after %ss; restart %s in %ss ====\n' \
            "$name" "$pid" "$status" "$(date -Is)" "$((SECONDS - started))" "$restarts" "$backoff" >>"$LOG_DIR/$name.log"
        sleep "$backoff" &
        wait $! 2>/dev/null || true
        backoff=$((backoff * 2))
        ((backoff <= RESTART_BACKOFF_MAX)) || backoff=$RESTART_BACKOFF_MAX
    done
}

# Starts the supervisor, which starts the server; returns once the server's pid file is written.
start_supervised() { # name
    rm -f "$RUN_DIR/$1.pid"
    nohup bash "$SCRIPT_DIR/stack.sh" supervise "$1" </dev/null >>"$LOG_DIR/$1.log" 2>&1 &
    echo $! >"$RUN_DIR/$1-supervisor.pid"
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $RUN_DIR/$1.pid ]] && return 0
        kill -0 "$(<"$RUN_DIR/$1-supervisor.pid")" 2>/dev/null || break
        sleep 0.1
    done
    tail_log "$LOG_DIR/$1.log"
    die "the $1 supervisor did not start its server (log: $LOG_DIR/$1.log)"
}

# Stops the supervisor (never the server): SIGTERM, repeated, SIGKILL after 10 s.
stop_supervisor() { # name
    local pid deadline=$((SECONDS + 10))
    pid=$(our_pid "$1-supervisor" "$SUPERVISOR_MARK $1") || { rm -f "$RUN_DIR/$1-supervisor.pid"; return 0; }
    while kill -TERM "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$1: supervisor still running after 10s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$1-supervisor.pid"
}

# wait_mongo and wait_kafka: a round trip, not an open port.
source "$SCRIPT_DIR/stack_ready.sh"

# ---------------------------------------------------------------- commands

# Decides for one server: prints "reuse <pid>", or "start" after making sure its ports are free.
plan_server() { # name mark port...
    local name=$1 mark=$2 pid port i
    shift 2
    if our_pid "$name-supervisor" "$SUPERVISOR_MARK $name" >/dev/null; then
        # Supervised: its server may be between a crash and its restart; wait for it (up to the backoff).
        for ((i = 0; i < RESTART_BACKOFF_MAX * 10 + 100; i++)); do
            pid=$(our_pid "$name" "$mark") && { echo "reuse $pid"; return 0; }
            sleep 0.1
        done
        die "$name's supervisor is running but its server is not; see $LOG_DIR/$name.log, or run: $0 stop $name"
    fi
    if pid=$(our_pid "$name" "$mark"); then
        # An unsupervised server (started by an older stack.sh): kept, and not supervised.
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
        start_supervised kafka
    fi
    if [[ $mongo_plan == start ]]; then
        start_supervised mongo
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
        log "kafka  $how_kafka: $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT) pid $kafka_pid, heap ${KAFKA_HEAP_MB} MB, $(supervision kafka), log $LOG_DIR/kafka-server.log"
    [[ $mongo_plan == skip ]] ||
        log "mongo  $how_mongo: mongodb://$HOST:$MONGO_PORT pid $mongo_pid, heap ${MONGO_HEAP_MB} MB (page cache ${MONGO_CACHE_MB} MB), $(supervision mongo), store $MONGO_FILE, log $LOG_DIR/mongo.log"
}

cmd_down() { # [kafka|mongo]: both servers by default
    local name mark pid pids=() names=() which=(kafka mongo)
    [[ -z ${1:-} ]] || which=("$1")
    for name in "${which[@]}"; do
        [[ $name == kafka ]] && mark=$KAFKA_MARK || mark=$MONGO_MARK
        # The supervisor first, so that it does not restart the server being stopped.
        stop_supervisor "$name"
        rm -f "$RUN_DIR/$name.restarts"
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

# "supervisor pid N, R restarts" or "not supervised", for the up and status lines.
supervision() { # name
    local pid restarts=0
    if pid=$(our_pid "$1-supervisor" "$SUPERVISOR_MARK $1"); then
        [[ -f $RUN_DIR/$1.restarts ]] && restarts=$(<"$RUN_DIR/$1.restarts")
        printf 'supervisor pid %s, %s restarts' "$pid" "$restarts"
    else
        printf 'not supervised'
    fi
}

cmd_status() {
    local rc=0 pid
    if pid=$(our_pid kafka "$KAFKA_MARK") && port_open "$KAFKA_PORT"; then
        log "kafka  running: $HOST:$KAFKA_PORT pid $pid, $(supervision kafka)"
    else
        log "kafka  stopped ($(supervision kafka))"
        rc=3
    fi
    if pid=$(our_pid mongo "$MONGO_MARK") && port_open "$MONGO_PORT"; then
        log "mongo  running: mongodb://$HOST:$MONGO_PORT pid $pid, $(supervision mongo)"
    else
        log "mongo  stopped ($(supervision mongo))"
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
    supervise:kafka | supervise:mongo) supervise "$2" ;; # internal: started by start_supervised
    *)
        echo "usage: $0 up|down|status, or $0 start|stop kafka|mongo" >&2
        exit 64
        ;;
esac
