#!/usr/bin/env bash
# npm start: sets up and builds everything, then runs televisitd (a Release build, no sanitizers)
# with embedded defaults: https://localhost:8443, data in ./data, a self-signed certificate made on
# first run. Arguments are passed to televisitd (see televisitd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
bash scripts/release.sh

# TURN: coturn on loopback with a generated secret, when it is installed and nothing else is configured.
# The secret stays in the data directory (0600) and reaches televisitd through its environment, not
# its command line (which any local user can read in ps).
DATA_DIR="${TELEVISIT_DATA_DIR:-data}"
TURN_PID=""
if [ -z "${TELEVISIT_TURN_URLS:-}" ] && command -v turnserver >/dev/null; then
  mkdir -p "$DATA_DIR" && chmod 700 "$DATA_DIR"
  if [ ! -s "$DATA_DIR/turn.secret" ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$DATA_DIR/turn.secret")
  fi
  TURN_PORT="${TELEVISIT_TURN_PORT:-3478}"
  mkdir -p "$DATA_DIR/turn" && chmod 700 "$DATA_DIR/turn"
  # The secret goes into coturn's own database through sqlite3's standard input: never on a command
  # line (ps shows those to every local user). coturn ignores static-auth-secret in a config file.
  turnadmin -l -b "$DATA_DIR/turn/turndb" >/dev/null 2>&1 || true
  printf "DELETE FROM turn_secret; INSERT INTO turn_secret (realm, value) VALUES ('televisit', '%s');\n" \
    "$(cat "$DATA_DIR/turn.secret")" | sqlite3 "$DATA_DIR/turn/turndb"
  chmod 600 "$DATA_DIR/turn/turndb"
  # TURN over TLS (turns:) as in production (deploy/coturn.conf), with a certificate of its own for
  # localhost. Browsers will not trust it, so on this loopback setup TLS goes unused; with a real
  # certificate in deploy/coturn.conf it is the way through a firewall that lets out only TLS.
  TURNS_PORT="${TELEVISIT_TURNS_PORT:-5349}"
  if [ ! -s "$DATA_DIR/turn/turn-cert.pem" ]; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -keyout "$DATA_DIR/turn/turn-key.pem" -out "$DATA_DIR/turn/turn-cert.pem" -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1)
  fi
  # Loopback peers are allowed here only: both ends of a local try-out are on this machine. The
  # production configuration refuses them, and every private range (deploy/coturn.conf).
  turnserver -n --use-auth-secret --realm=televisit --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
    --listening-port="$TURN_PORT" --tls-listening-port="$TURNS_PORT" --cert="$DATA_DIR/turn/turn-cert.pem" \
    --pkey="$DATA_DIR/turn/turn-key.pem" --no-tlsv1 --no-tlsv1_1 --min-port=49152 --max-port=49352 --fingerprint \
    --no-cli --no-dtls --allow-loopback-peers --no-multicast-peers --userdb="$DATA_DIR/turn/turndb" \
    --log-file="$DATA_DIR/turn/turn.log" --pidfile="$DATA_DIR/turn/turn.pid" >/dev/null 2>&1 &
  TURN_PID=$!
  export TELEVISIT_TURN_URLS="stun:127.0.0.1:$TURN_PORT turn:127.0.0.1:$TURN_PORT?transport=udp turn:127.0.0.1:$TURN_PORT?transport=tcp turns:localhost:$TURNS_PORT?transport=tcp"
  TELEVISIT_TURN_SECRET="$(cat "$DATA_DIR/turn.secret")"
  export TELEVISIT_TURN_SECRET
  echo "start: coturn on 127.0.0.1:$TURN_PORT, TLS on $TURNS_PORT (time-limited credentials; log in $DATA_DIR/turn/turn.log)"
fi

if [ -z "$TURN_PID" ]; then
  exec build/release/televisitd "$@"
fi
build/release/televisitd "$@" &
SERVER_PID=$!
trap 'kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID"; kill -TERM "$TURN_PID" 2>/dev/null' INT TERM
wait "$SERVER_PID" || status=$?
kill -TERM "$TURN_PID" 2>/dev/null || true
exit "${status:-0}"
