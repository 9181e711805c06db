#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and serves the demo experiment; open the printed URL in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mug demo "$@"
