#!/usr/bin/env bash
# Set up (idempotent) and run skelwatch; with no arguments it opens the GUI on the bundled demo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" main.py "$@"
