#!/usr/bin/env bash
# Sets up a development environment from a fresh checkout:
#   - Debian's Chromium (for the browser tests and benchmarks) and coturn (the P2P tests' TURN relay)
#     when they are missing,
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

# coturn's turnserver: the P2P browser tests relay WebRTC through it on 127.0.0.1 (tests/turn.py).
if ! command -v turnserver >/dev/null && [ "${MUG_SKIP_CHROMIUM:-0}" != "1" ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: installing coturn from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null
  else
    echo "setup: coturn is missing; run 'sudo apt-get install coturn' (needed by the P2P browser tests)." >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: ready ($(.venv/bin/python -c 'import mug; print("mug", mug.__version__)'))"
