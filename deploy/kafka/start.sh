#!/usr/bin/env bash
# Starts the Kafka broker of docker-compose.yml (official apache/kafka image,
# one KRaft node, SASL/SCRAM for clients, ACLs enforced).
#
# Why not the image's own /etc/kafka/docker/run: it formats the storage
# without SCRAM credentials, and KRaft needs the first (admin) SCRAM user in
# the bootstrap metadata (`kafka-storage format --add-scram`), since the broker
# talks to itself as that user before any client could create it.
#
# Input (environment):
#   KAFKA_*                 broker properties, the image's convention: strip
#                           KAFKA_, lower-case, `_` -> `.`, `__` -> `_`, `___` -> `-`
#   CLUSTER_ID              used only to format an empty data volume
#   BROKER_ADMIN_PASSWORD   SCRAM-SHA-512 password of the super user `admin`
#   BROKER_CONTROLLER_PASSWORD  SASL/PLAIN password of `controller` (controller listener)
# Passwords never reach the log; they are written only to files readable by
# the broker's user (umask 077) and the variables are unset before exec.
set -euo pipefail
umask 077

: "${CLUSTER_ID:?CLUSTER_ID is required}"
: "${BROKER_ADMIN_PASSWORD:?BROKER_ADMIN_PASSWORD is required}"
: "${BROKER_CONTROLLER_PASSWORD:?BROKER_CONTROLLER_PASSWORD is required}"

# The passwords go inside JAAS double quotes: refuse what would break out.
for name in BROKER_ADMIN_PASSWORD BROKER_CONTROLLER_PASSWORD; do
    if [[ ! ${!name} =~ ^[A-Za-z0-9._~+/=-]{16,}$ ]]; then
        echo "start.sh: $name must be at least 16 characters of [A-Za-z0-9._~+/=-] (e.g. openssl rand -hex 24)" >&2
        exit 2
    fi
done

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
CONF_DIR=${HOTLINE_KAFKA_CONF_DIR:-/tmp/hotline-kafka}
mkdir -p "$CONF_DIR"
SERVER_PROPS=$CONF_DIR/server.properties

# Variables kafka-run-class.sh reads itself are not broker properties.
not_a_property='^KAFKA_(OPTS|HEAP_OPTS|JVM_PERFORMANCE_OPTS|LOG4J_OPTS|JMX_OPTS|GC_LOG_OPTS|DEBUG|HOME|VERSION)$'

{
    echo "# Rendered by deploy/kafka/start.sh from the container's KAFKA_* variables."
    while IFS='=' read -r name value; do
        [[ $name =~ ^KAFKA_[A-Z0-9_]+$ ]] || continue
        [[ $name =~ $not_a_property ]] && continue
        key=${name#KAFKA_}
        key=$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
        printf '%s=%s\n' "$key" "$value"
    done < <(env | sort)
    # Listener-scoped credentials: the broker's own login on each listener and,
    # for PLAIN on the controller listener, the accepted user.
    printf '%s\n' \
        "listener.name.broker.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${BROKER_ADMIN_PASSWORD}\";" \
        "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"${BROKER_CONTROLLER_PASSWORD}\" user_controller=\"${BROKER_CONTROLLER_PASSWORD}\";"
} > "$SERVER_PROPS"

# Client settings for the healthcheck and for operators (`docker compose exec
# kafka ... --command-config /tmp/hotline-kafka/admin.properties`).
printf '%s\n' \
    "security.protocol=SASL_PLAINTEXT" \
    "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${BROKER_ADMIN_PASSWORD}\";" \
    > "$CONF_DIR/admin.properties"

# First start only: format with the admin SCRAM credential in the bootstrap
# metadata. A formatted volume is left as it is (--ignore-formatted); to rotate
# admin's password later use kafka-configs.sh, see docs/production.md.
"$KAFKA_HOME/bin/kafka-storage.sh" format \
    --cluster-id "$CLUSTER_ID" \
    --config "$SERVER_PROPS" \
    --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${BROKER_ADMIN_PASSWORD}]"

unset BROKER_ADMIN_PASSWORD BROKER_CONTROLLER_PASSWORD
exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$SERVER_PROPS"
