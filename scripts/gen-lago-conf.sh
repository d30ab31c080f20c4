#!/usr/bin/env bash
# Print etc/lago.conf: the built-in defaults as `lago generate-config` sees
# them in an empty environment, every value commented out (a reference file,
# as the original's packages installed at /etc/lago/lago.conf).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${LAGO_VENV:-$ROOT/.venv}/bin/python"
EMPTY="$(mktemp -d)"
trap 'rm -rf "$EMPTY"' EXIT
env -i PATH="$PATH" HOME="$EMPTY" XDG_CONFIG_HOME="$EMPTY" XDG_CONFIG_DIRS="$EMPTY" \
    LAGO__INIT__TEMPLATE_REPO_PATH=/var/lib/lago/repos/lago-local/repo.metadata \
    PYTHONPATH="$ROOT" "$PY" -m lago.cmd generate-config \
    | sed -e '1s/, generated: .*/ (reference: every value is the default)/' \
          -e 's/^\([a-z_]\+ = \)/#\1/'
