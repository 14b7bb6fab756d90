#!/usr/bin/env bash
# The main job, from a fresh Debian/Ubuntu machine with Python 3: install pika-core into a local
# virtual environment (.venv), make sure RabbitMQ answers on 127.0.0.1:5672 (as the test command
# does), then publish 10,000 confirmed messages and consume them back with `pika-core demo`.
# Arguments go to the demo, e.g. `./scripts/demo.sh --count 50000 --body-size 1024`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${PIKA_CORE_DEMO_VENV:-$ROOT/.venv}"

say() { printf 'demo.sh: %s\n' "$*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q python3 python3-venv python3-pip
  else
    say "Python 3 with venv is missing: sudo apt-get install -y python3-venv, then run this again"
    exit 1
  fi
fi

if ! "$VENV/bin/python" -c 'import pika_core' >/dev/null 2>&1; then
  say "installing pika-core into $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# Always (re)install from this checkout, so the demo runs the code you are looking at.
"$VENV/bin/python" -m pip install --quiet -e "$ROOT"

"$ROOT/scripts/ensure_broker.sh"

exec "$VENV/bin/pika-core" demo "$@"
