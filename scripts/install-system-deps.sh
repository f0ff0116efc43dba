#!/usr/bin/env bash
# Install the Debian/Ubuntu packages livecat needs, if any are missing:
#   install-system-deps.sh demo   what `make demo` needs (livecat, and the demo's music and voice)
#   install-system-deps.sh test   that and what the tests and benchmarks use (the default)
# Runs apt-get directly as root, through sudo otherwise; prints what to do when neither works.
set -euo pipefail
set_name="${1:-test}"

# command-or-file -> package
declare -A need=(
  [/usr/lib/x86_64-linux-gnu/libportaudio.so.2]=libportaudio2   # sounddevice
  [g++]=g++                       # hnswlib builds from source
  [fluidsynth]=fluidsynth         # test and demo music
  [/usr/share/sounds/sf2/FluidR3_GM.sf2]=fluid-soundfont-gm
  [espeak-ng]=espeak-ng           # test and demo speech
)
case "$set_name" in
  demo) ;;
  test)
    need+=(
      [jackd]=jackd2                  # the live tests' audio server (dummy backend)
      [/usr/lib/x86_64-linux-gnu/libjack.so.0]=libjack-jackd2-0
      [Xvfb]=xvfb                     # the live tests' display
      [import]=imagemagick            # screenshots of the live window
      [ffmpeg]=ffmpeg                 # benchmark footage (lavfi test sources)
      [sox]=sox
    ) ;;
  *) echo "usage: install-system-deps.sh [demo|test]" >&2; exit 2 ;;
esac
arch_lib="/usr/lib/$(uname -m)-linux-gnu"
missing=()
for what in "${!need[@]}"; do
  probe="${what/\/usr\/lib\/x86_64-linux-gnu/$arch_lib}"
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] && continue
  else command -v "$probe" >/dev/null 2>&1 && continue; fi
  missing+=("${need[$what]}")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
if ! python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  missing+=(python3-dev)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing system packages: ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "run as root: apt-get install ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
