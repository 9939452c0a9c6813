#!/usr/bin/env bash
# One command: install everything phiwall needs (first run only) and start the proxy on its embedded defaults.
# Arguments go to `phiwall run` (e.g. --port 9090, --policy policies/personal.yaml, --mode shadow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PHIWALL_VENV:-.venv}/bin/phiwall" run "$@"
