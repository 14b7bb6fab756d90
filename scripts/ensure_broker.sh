#!/usr/bin/env bash
# Makes sure a RabbitMQ broker listens on 127.0.0.1:5672 for the broker tests.
#
# Already listening: nothing to do. Otherwise start rabbitmq-server (installing it with apt first
# when we are root on Debian/Ubuntu and it is missing), wait for it, and retry a few times.
# Anything else: stop with a message that says how to start a broker.
set -euo pipefail

HOST=127.0.0.1
PORT=5672
ATTEMPTS=3
export PATH="$PATH:/usr/sbin:/sbin"

say() { printf 'ensure_broker: %s\n' "$*" >&2; }

how_to_start() {
  cat >&2 <<EOF
ensure_broker: no AMQP broker listens on $HOST:$PORT, and this script cannot start one here.
  Start RabbitMQ yourself, then run the tests again:
    Debian/Ubuntu:  sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached
    macOS:          brew install rabbitmq && brew services start rabbitmq
    a container:    docker run -d --name rabbitmq -p 5672:5672 rabbitmq:3
  or point the tests at a broker of yours: PIKA_CORE_TEST_URL=amqp://user:pass@host:5672/%2F
EOF
  exit 1
}

listening() {
  # bash's /dev/tcp opens a TCP connection; the subshell closes it again.
  timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

if [[ -n "${PIKA_CORE_TEST_URL:-}" ]]; then
  say "PIKA_CORE_TEST_URL is set: the tests use that broker, none is started here"
  exit 0
fi

if listening; then
  say "a broker listens on $HOST:$PORT"
  exit 0
fi

is_root() { [[ "$(id -u)" -eq 0 ]]; }

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    say "rabbitmq-server is not installed: installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q rabbitmq-server
  else
    say "rabbitmq-server is not installed and we are not root on Debian/Ubuntu"
    how_to_start
  fi
fi

if [[ -f /etc/debian_version ]] && ! is_root && [[ "$(id -un)" != "rabbitmq" ]]; then
  say "rabbitmq-server is installed, but on Debian/Ubuntu only root or rabbitmq can start it"
  how_to_start
fi

for attempt in $(seq 1 "$ATTEMPTS"); do
  if listening; then
    break
  fi
  say "starting rabbitmq-server (attempt $attempt of $ATTEMPTS)"
  # -detached returns at once; a node that is already starting makes it fail, which is fine.
  rabbitmq-server -detached || say "rabbitmq-server -detached failed; waiting for the node anyway"
  if timeout 180 rabbitmqctl await_startup >/dev/null 2>&1; then
    for _ in $(seq 1 30); do
      listening && break
      sleep 1
    done
  fi
  if listening; then
    break
  fi
  say "the broker did not come up; stopping the node before the next attempt"
  timeout 60 rabbitmqctl stop >/dev/null 2>&1 || true
  sleep 3
done

if listening; then
  say "a broker listens on $HOST:$PORT"
  exit 0
fi
say "RabbitMQ did not start after $ATTEMPTS attempts; its logs are in /var/log/rabbitmq/"
how_to_start
