#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: the client's Node tests, ruff, then pytest
# (unit and end-to-end tests against a real server and headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd mug/client && npx tsc --noEmit -p tsconfig.json && npm test)
.venv/bin/ruff check mug tests benchmarks examples
.venv/bin/python -m pytest "$@"
