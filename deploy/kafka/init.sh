#!/usr/bin/env bash
# One-shot job of docker-compose.yml (`kafka-init`, apache/kafka image): creates
# or updates the SCRAM-SHA-512 users of the Hotline services and of the units,
# then adds the ACLs of deploy/kafka/acls.tsv. Safe to run again: a user's
# password is set to the current one (rotation = change .env, rerun the job);
# adding an ACL that exists is a no-op. It does not remove ACLs that were
# dropped from acls.tsv: do that by hand with kafka-acls.sh --remove.
#
# Input (environment):
#   KAFKA_BOOTSTRAP           the broker, e.g. kafka:9092
#   KAFKA_ADMIN_PASSWORD      the super user `admin` (bootstrapped by start.sh)
#   KAFKA_<SERVICE>_PASSWORD  for intake, routing, followup, metrics, simulator
#   KAFKA_UNIT_USERS          optional, "code:password,code:password": principal
#                             unit-<code> may read queue.<code> with group console-<code>
#   HOTLINE_TOPIC_PREFIX      optional prefix of every topic and group (empty in production)
#   ACL_FILE                  default /opt/hotline/kafka/acls.tsv
set -euo pipefail
umask 077

: "${KAFKA_BOOTSTRAP:?}"
: "${KAFKA_ADMIN_PASSWORD:?}"
PREFIX=${HOTLINE_TOPIC_PREFIX:-}
ACL_FILE=${ACL_FILE:-/opt/hotline/kafka/acls.tsv}
BIN=${KAFKA_BIN:-/opt/kafka/bin}
SERVICES=(intake routing followup metrics simulator)

valid_password() {
    [[ $1 =~ ^[A-Za-z0-9._~+/=-]{16,}$ ]]
}

CLIENT=$(mktemp)
trap 'rm -f "$CLIENT"' EXIT
printf '%s\n' \
    "security.protocol=SASL_PLAINTEXT" \
    "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${KAFKA_ADMIN_PASSWORD}\";" \
    > "$CLIENT"

set_user() {  # set_user NAME PASSWORD
    # The password is passed on the command line of this short-lived container
    # only; it is never echoed.
    "$BIN/kafka-configs.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$CLIENT" \
        --alter --entity-type users --entity-name "$1" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]" > /dev/null
    echo "kafka-init: SCRAM user $1 set"
}

allow() {  # allow PRINCIPAL OPERATION PATTERN --topic|--group NAME [--topic|--group NAME ...]
    # One kafka-acls.sh (one JVM start) per principal, operation and pattern
    # type, for all its resources.
    local principal=$1 operation=$2 pattern=$3
    shift 3
    "$BIN/kafka-acls.sh" --bootstrap-server "$KAFKA_BOOTSTRAP" --command-config "$CLIENT" \
        --add --allow-principal "User:$principal" --operation "$operation" \
        "$@" --resource-pattern-type "$pattern" > /dev/null
    echo "kafka-init: allow User:$principal $operation ($pattern) $*"
}

for svc in "${SERVICES[@]}"; do
    var="KAFKA_${svc^^}_PASSWORD"
    password=${!var:-}
    if [[ -z $password ]]; then
        echo "kafka-init: $var is not set" >&2
        exit 2
    fi
    valid_password "$password" || { echo "kafka-init: $var must be 16+ characters of [A-Za-z0-9._~+/=-]" >&2; exit 2; }
    set_user "$svc" "$password"
done

# Group the rules of acls.tsv by (principal, operation, pattern), in file order.
declare -A resources=()
order=()
while IFS=$'\t' read -r principal operation resource pattern name; do
    [[ -z $principal || $principal == \#* ]] && continue
    case $resource in
        topic | group) ;;
        *) echo "kafka-init: unknown resource type '$resource' in $ACL_FILE" >&2; exit 2 ;;
    esac
    key="$principal $operation $pattern"
    [[ -v "resources[$key]" ]] || order+=("$key")
    resources[$key]+=" --$resource $PREFIX$name"
done < "$ACL_FILE"
for key in "${order[@]}"; do
    read -r principal operation pattern <<< "$key"
    # Names are [A-Za-z0-9._-] (checked by tests/unit/test_compose_file.py): word splitting is safe.
    # shellcheck disable=SC2086
    allow "$principal" "$operation" "$pattern" ${resources[$key]}
done

if [[ -n ${KAFKA_UNIT_USERS:-} ]]; then
    IFS=',' read -r -a entries <<< "$KAFKA_UNIT_USERS"
    for entry in "${entries[@]}"; do
        code=${entry%%:*}
        password=${entry#*:}
        if [[ ! $code =~ ^[a-z0-9-]+$ ]] || [[ $entry != *:* ]] || ! valid_password "$password"; then
            echo "kafka-init: KAFKA_UNIT_USERS entry for '${code}' must be code:password (16+ characters)" >&2
            exit 2
        fi
        set_user "unit-$code" "$password"
        # A unit reads its own queue, as its console group, and nothing else.
        allow "unit-$code" Read literal --topic "${PREFIX}queue.$code" --group "${PREFIX}console-$code"
    done
fi

echo "kafka-init: done"
