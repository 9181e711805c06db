#!/usr/bin/env bash
# Sets up a development environment from a fresh checkout:
#   - Debian's Chromium (for the browser tests and benchmarks), coturn (the P2P tests' TURN relay),
#     redis-server, PostgreSQL and nginx (the many-process tests) when they are missing,
#   - a virtualenv in .venv with MUG installed editable with its dev extras; installing builds the
#     browser client (npm ci + esbuild) through the package's build hook.
# Safe to run again: it only does what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: Node.js >= 20 and npm are needed to build the browser client; install them first." >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ] && [ "${MUG_SKIP_CHROMIUM:-0}" != "1" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing Chromium from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium coturn >/dev/null
  else
    echo "setup: Chromium is missing; run 'sudo apt-get install chromium' (needed by the browser tests)." >&2
  fi
fi

# Debian's packages the tests run their own instances of, on 127.0.0.1 (no system service is used):
#   coturn's turnserver  - the P2P browser tests relay WebRTC through it (tests/turn.py)
#   redis-server         - shared state and Socket.IO between server processes (docs/deploy.md)
#   postgresql           - the store of a many-process deployment (initdb/pg_ctl under /usr/lib/postgresql)
#   nginx                - the load balancer in front of several server processes
missing=()
command -v turnserver >/dev/null || missing+=(coturn)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ] && [ "${MUG_SKIP_CHROMIUM:-0}" != "1" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing from Debian's packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Installing may start system instances (and a default site on port 80); the tests never use them.
    for package in "${missing[@]}"; do
      service="${package%-light}"
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        systemctl stop "$service" || true
      elif command -v service >/dev/null; then
        service "$service" stop >/dev/null 2>&1 || true
      fi
    done
  else
    echo "setup: missing Debian packages: ${missing[*]}; run 'sudo apt-get install ${missing[*]}' (the tests run their own instances)." >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: ready ($(.venv/bin/python -c 'import mug; print("mug", mug.__version__)'))"
