#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: system packages, the virtual environment, the pinned requirements,
# and the assets skelwatch builds for itself (the MediaPipe pose bundle, the demo recording, the demo gallery).
# Each step checks whether it is already done. A set-up that completed leaves a stamp: a digest of everything
# the steps depend on (see `inputs_digest`); while it matches, nothing is checked again and this takes ~0.1 s
# instead of the 6-13 s that importing mediapipe and torch to ask each asset builder costs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
HOME_DIR="${SKELWATCH_HOME:-$ROOT/data}"
STAMP="$HOME_DIR/.setup-stamp"
cd "$ROOT"

# What the set-up's result is made from: the requirements, the code and model that build the assets (pose
# bundle, demo recording, demo gallery and its database schema), the user config (it names the model the demo
# gallery is encoded with), the interpreter, and which outputs exist (a deleted asset is rebuilt).
inputs_digest() {
  {
    echo "$HOME_DIR"
    readlink -f "$VENV/bin/python" 2>/dev/null || echo "no venv"
    find requirements.txt app/assets.py app/demo.py app/compose.py app/config capture/pose capture/sources \
      reid/synthetic reid/checkpoint.py reid/model.py reid/heading.py storage/migrations storage/models.py models \
      "$HOME_DIR/config.yaml" -type f ! -name '*.pyc' -print0 2>/dev/null | sort -z | xargs -0 sha256sum || true
    for out in models/pose_landmarker_full.task demo/demo.db3 skelwatch.db; do
      if [ -e "$HOME_DIR/$out" ]; then echo "have $out"; fi
    done
  } | sha256sum | cut -d' ' -f1
}

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$(inputs_digest)" ]; then
  exit 0
fi

need_apt=()
for pkg in libusb-1.0-0 libgl1 libegl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
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
mkdir -p "$HOME_DIR"
inputs_digest > "$STAMP"
