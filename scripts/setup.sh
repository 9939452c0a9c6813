#!/usr/bin/env bash
# Sets up everything phiwall needs on a fresh Debian machine: Debian packages (tesseract), a venv on
# Python >= 3.12 (3.13 preferred), and the package with its test extras (the PHI tagger and image backbone ship inside it).
# Idempotent: a second run only checks. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PHIWALL_VENV:-.venv}

log() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
command -v tesseract >/dev/null 2>&1 || need_apt+=(tesseract-ocr tesseract-ocr-eng)
# The gateway (phiwall gateway) and its tests: HAProxy in front, Redis for shared state, Prometheus scraping,
# docker-compose to validate docker-compose.yml (no container engine is needed for `config -q`).
for b in haproxy redis-server prometheus docker-compose; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need_apt+=("$b")
done
command -v dciodvfy >/dev/null 2>&1 || need_apt+=(dicom3tools)  # the de-identification tests validate output DICOM
# Chromium renders the replay HTML report in its test; skip it with PHIWALL_NO_CHROMIUM=1 on a proxy-only box.
if [ -z "${PHIWALL_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ] && [ -z "${PHIWALL_NO_APT:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    log "WARNING: please install ${need_apt[*]} (apt-get install ${need_apt[*]}); OCR tests will skip"
  fi
fi

find_python() {
  local c
  for c in python3.13 python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for v in 3.13 3.12; do
      for p in "$(pyenv root)"/versions/"$v"*/bin/python; do
        if [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
          echo "$p"; return 0
        fi
      done
    done
  fi
  return 1
}

stamp="$VENV/.phiwall-setup-$(cat pyproject.toml requirements-model.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || { log "no Python >= 3.12 found: install python3.13 (or pyenv install 3.13)"; exit 1; }
  log "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
log "installing phiwall and its dependencies (about a minute)"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Hash-pinned model packages first (none today: the PHI tagger ships inside the package), so pip never fetches
# them unchecked as dependencies.
if grep -qv '^\s*\(#\|$\)' requirements-model.txt; then
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r requirements-model.txt
fi
"$VENV/bin/python" -m pip install -q -e ".[test]"
"$VENV/bin/python" -m pip check >&2 || log "pip check reported conflicts (see above)"
touch "$stamp"
log "ready: $VENV"
