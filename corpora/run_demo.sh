#!/usr/bin/env bash
# `make demo`: show the demo corpus, render the demo input offline, then play it live.
#
# Usage: bash corpora/run_demo.sh CORPUS_DIR MEDIA_DIR
#   MEDIA_DIR holds demo-input.wav (made by corpora/make_demo.py).
#
# Live, with a display and an input device: the window answers the default input device
# (microphone); quit with q q. Without an input device, or without a display ($DISPLAY
# unset), it says so and plays MEDIA_DIR/demo-input.wav as the input instead, in real time;
# it then stops by itself when the file ends (livecat live stops at the end of
# --input-file unless --loop is given). Without a display it runs --headless, printing one
# line per image it would show. Without an output device it runs silently.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  echo "usage: bash corpora/run_demo.sh CORPUS_DIR MEDIA_DIR" >&2
  exit 2
fi
corpus="$1"; media="$2"
bin="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"
input_file="$media/demo-input.wav"

"$bin/livecat" info "$corpus"
echo
"$bin/livecat" render "$corpus" "$input_file" -o "$media/demo-mosaic.mp4" \
  --matches "$media/demo-mosaic.csv"
echo "the mosaic of the demo input: $media/demo-mosaic.mp4 (picks in $media/demo-mosaic.csv)"
echo

# Is there a default input device? (PortAudio's view: JACK, PipeWire, PulseAudio, ALSA.)
has_input() {
  "$bin/python" - <<'EOF' 2>/dev/null
import sys
from livecat.live.devices import sounddevice
try:
    sd = sounddevice()
    device = sd.query_devices(kind="input")
except Exception:
    sys.exit(1)
sys.exit(0 if device["max_input_channels"] > 0 else 1)
EOF
}

args=(live "$corpus")
use_file=0
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "no display (\$DISPLAY is unset): running headless, printing what it would show"
  args+=(--headless)
  use_file=1
else
  args+=(--hud)
fi
if ! has_input; then
  echo "no audio input device: playing $input_file as the input"
  use_file=1
elif [[ $use_file -eq 1 ]]; then
  echo "playing $input_file as the input (a headless demo ends by itself)"
fi
if [[ $use_file -eq 1 ]]; then
  args+=(--input-file "$input_file")
  echo "it stops by itself when the file ends"
else
  echo "listening to the default input device; quit with q q (or Ctrl-C)"
fi
echo
exec "$bin/livecat" "${args[@]}"
