#!/usr/bin/env bash
# Starts and stops the four Hotline services as background processes of this machine.
# Usage: deploy/local/services.sh up|down|status
# Settings come from the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL, *_HTTP_PORT, ...).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${HOTLINE_LOCAL_DIR:-$ROOT/.local}"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
HOTLINE="$ROOT/.venv/bin/hotline"
PYTHON="$ROOT/.venv/bin/python"
SERVICES=(intake routing followup metrics)
# With HOTLINE_SIMULATE=1 (what `make up` sets) the city simulator (`hotline simulate`, docs/
# simulator.md) starts after the services, and its business-time ticks drive followup's deadlines.
SIMULATE="${HOTLINE_SIMULATE:-0}"
SIMULATE_ARGS="${HOTLINE_SIMULATE_ARGS:---scenario liangxiang}"

port_of() {
  case "$1" in
    intake) echo "${INTAKE_HTTP_PORT:-8001}" ;;
    routing) echo "${ROUTING_HTTP_PORT:-8002}" ;;
    followup) echo "${FOLLOWUP_HTTP_PORT:-8003}" ;;
    metrics) echo "${METRICS_HTTP_PORT:-8004}" ;;
  esac
}

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

healthy() {
  "$PYTHON" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

port_taken() {
  "$PYTHON" - "$1" <<'PY'
import socket, sys
s = socket.socket()
# Like uvicorn, ignore sockets in TIME_WAIT left by a service that just stopped.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

up() {
  [[ -x "$HOTLINE" ]] || { echo "services: $HOTLINE missing; run 'make up' (it installs the Python environment)" >&2; exit 1; }
  mkdir -p "$RUN" "$LOGS"
  for svc in "${SERVICES[@]}"; do
    local port; port="$(port_of "$svc")"
    if alive "$svc"; then
      echo "$svc: already running (pid $(cat "$RUN/$svc.pid"))"
      continue
    fi
    if port_taken "$port"; then
      echo "services: port $port for $svc is in use by a process we did not start" >&2
      exit 1
    fi
    local extra=()
    if [[ ( "$svc" == followup || "$svc" == metrics ) && "$SIMULATE" == 1 ]]; then
      extra=(HOTLINE_BUSINESS_CLOCK="${HOTLINE_BUSINESS_CLOCK:-log}")
    fi
    env "${extra[@]}" nohup "$HOTLINE" serve "$svc" >>"$LOGS/$svc.log" 2>&1 &
    echo $! >"$RUN/$svc.pid"
  done
  for svc in "${SERVICES[@]}"; do
    local port; port="$(port_of "$svc")"
    for _ in $(seq 1 120); do
      healthy "$port" && break
      alive "$svc" || { echo "services: $svc exited; see $LOGS/$svc.log" >&2; tail -20 "$LOGS/$svc.log" >&2; exit 1; }
      sleep 0.5
    done
    healthy "$port" || { echo "services: $svc not healthy after 60 s; see $LOGS/$svc.log" >&2; exit 1; }
    echo "$svc: http://127.0.0.1:$port/healthz ok (pid $(cat "$RUN/$svc.pid"), log $LOGS/$svc.log)"
  done
  if [[ "$SIMULATE" == 1 ]]; then
    if alive simulator; then
      echo "simulator: already running (pid $(cat "$RUN/simulator.pid"))"
    else
      # shellcheck disable=SC2086  # the arguments are words on purpose
      nohup "$HOTLINE" simulate $SIMULATE_ARGS --followup-url "http://127.0.0.1:$(port_of followup)" \
        >>"$LOGS/simulator.log" 2>&1 &
      echo $! >"$RUN/simulator.pid"
      echo "simulator: running (pid $(cat "$RUN/simulator.pid"), log $LOGS/simulator.log)"
    fi
  fi
}

down() {
  for svc in simulator "${SERVICES[@]}"; do
    alive "$svc" || { rm -f "$RUN/$svc.pid"; continue; }
    local pid; pid="$(cat "$RUN/$svc.pid")"
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    rm -f "$RUN/$svc.pid"
    echo "$svc: stopped"
  done
}

status() {
  local rc=0
  for svc in "${SERVICES[@]}"; do
    if alive "$svc"; then echo "$svc: running (pid $(cat "$RUN/$svc.pid"))"; else echo "$svc: stopped"; rc=3; fi
  done
  if alive simulator; then echo "simulator: running (pid $(cat "$RUN/simulator.pid"))"; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
