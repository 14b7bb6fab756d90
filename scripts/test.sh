#!/usr/bin/env bash
# The whole pika-core test suite, from a fresh Debian/Ubuntu machine with Python 3.
#
# Sets up what is missing (python3-venv through apt when root, a tools venv .venv-tools with
# nox, a RabbitMQ broker on 127.0.0.1:5672), then runs nox's default sessions: lint, typecheck,
# tests_core, tests_plugin (one environment per plugin), packaging and docs. Arguments go to nox,
# e.g. `./scripts/test.sh -s lint`. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
TOOLS_VENV="$ROOT/.venv-tools"
# nox reads the dependency groups of pyproject.toml (2025.2.9 and later); uv makes its venvs fast.
TOOLS_REQUIREMENTS=("nox>=2025.2.9" "uv>=0.5")

say() { printf 'test.sh: %s\n' "$*" >&2; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

apt_install() {
  if is_root && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "$@"
  else
    say "missing: $*; install it (sudo apt-get install -y $*) and run this again"
    exit 1
  fi
}

# 1. Python 3 with venv and pip (Debian splits them out of python3).
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  apt_install python3 python3-venv python3-pip
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv python3-pip
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # python3-venv names the default Python's venv package; another python3 needs its own.
  apt_install "python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
fi

# 2. The tools venv with nox and uv; nox then makes one venv per session from this same Python.
if ! "$TOOLS_VENV/bin/python" -c 'import nox.project; nox.project.dependency_groups' \
  >/dev/null 2>&1 || ! "$TOOLS_VENV/bin/uv" --version >/dev/null 2>&1; then
  say "creating $TOOLS_VENV with ${TOOLS_REQUIREMENTS[*]}"
  rm -rf "$TOOLS_VENV"
  "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$TOOLS_VENV/bin/python" -m pip install --quiet "${TOOLS_REQUIREMENTS[@]}"
fi

# 3. The broker; the broker tests fail rather than skip from here on.
"$ROOT/scripts/ensure_broker.sh"
export PIKA_CORE_REQUIRE_BROKER=1

# 4. The sessions. Old reports go first, so that .ci/run never reads a previous run's results.
rm -rf "$ROOT/.nox/reports"
say "running nox $*"
exec "$TOOLS_VENV/bin/nox" --noxfile "$ROOT/noxfile.py" "$@"
