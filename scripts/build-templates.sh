#!/usr/bin/env bash
# Build (or reuse) Lago's local template repository from Debian packages.
#   scripts/build-templates.sh [--repo-dir DIR] [--only tiny|debian12 ...] [--all] [--force]
# Default repository: /var/lib/lago/repos/lago-local; default template: tiny.
# Cached: a second run with nothing changed takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$ROOT/.venv/bin/python" ]]; then
    PYTHON="$ROOT/.venv/bin/python"
else
    PYTHON=/usr/bin/python3
fi
# the builder imports nothing outside the tree: run it from this checkout
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"
exec "$PYTHON" -m lago.template_builder "$@"
