#!/usr/bin/env bash
# Entrypoint of the MongoDB replica-set members in docker-compose.yml: writes
# the replica set's internal-auth keyFile from MONGO_REPLICA_KEY (mongod wants
# a file it owns with mode 400, which a bind mount from the host cannot
# guarantee), then hands over to the official image's entrypoint. With
# --keyFile, mongod enforces authentication for clients too.
set -euo pipefail
umask 077

: "${MONGO_REPLICA_KEY:?MONGO_REPLICA_KEY is required}"
# mongod's rule for a keyFile: 6 to 1024 base64 characters.
if [[ ! $MONGO_REPLICA_KEY =~ ^[A-Za-z0-9+/=]{6,1024}$ ]]; then
    echo "mongo-entrypoint.sh: MONGO_REPLICA_KEY must be 6-1024 base64 characters on one line (see .env.example)" >&2
    exit 2
fi

install -d -m 700 -o mongodb -g mongodb /etc/mongo-auth
printf '%s\n' "$MONGO_REPLICA_KEY" > /etc/mongo-auth/keyfile
chown mongodb:mongodb /etc/mongo-auth/keyfile
chmod 400 /etc/mongo-auth/keyfile
unset MONGO_REPLICA_KEY

exec docker-entrypoint.sh "$@"
