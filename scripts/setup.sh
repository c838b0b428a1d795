#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: system packages, the virtual environment, the pinned requirements,
# and the assets skelwatch builds for itself (the MediaPipe pose bundle, the demo recording, the demo gallery).
# Each step checks whether it is already done, so running it again costs a second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"

need_apt=()
for pkg in libusb-1.0-0 libgl1 libegl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done  # postgresql: the server the storage tests start a throw-away cluster of (tests/storage/pg_cluster.py)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment in .venv"
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi

stamp="$VENV/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned requirements (about a minute the first time)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

"$VENV/bin/python" -m app.assets
