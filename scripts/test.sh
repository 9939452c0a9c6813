#!/usr/bin/env bash
# One command: install everything (first run only) and run the whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_THREAD_LIMIT=1
exec "${PHIWALL_VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider --timeout=600 "$@"
