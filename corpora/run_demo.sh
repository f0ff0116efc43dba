#!/usr/bin/env bash
# `make demo`: show the demo corpus, re-create the demo input out of it, then play it live.
# Usage: corpora/run_demo.sh CORPUS_DIR MEDIA_DIR
set -euo pipefail
corpus="$1"; media="$2"
bin="$(dirname "$0")/../.venv/bin"
"$bin/livecat" info "$corpus"
echo
"$bin/livecat" render "$corpus" "$media/demo-input.wav" -o "$media/demo-mosaic.mp4" \
  --matches "$media/demo-mosaic.csv"
echo "the mosaic of the demo input: $media/demo-mosaic.mp4 (picks in $media/demo-mosaic.csv)"
if "$bin/livecat" live --help >/dev/null 2>&1; then
  echo
  exec "$bin/livecat" live "$corpus" --demo-input "$media/demo-input.wav" --hud
fi
