#!/usr/bin/env bash
# Benchmarks: berthd side by side with a stock dockerd and podman (run as root or with sudo):
#   scripts/bench.sh [--quick] [--only NAME] [--profile] ...   (all flags: scripts/bench.sh --help)
# Sets up what `scripts/berth.sh setup` does, adds the peers (Debian's docker.io and podman) and
# py-spy, then runs `python -m bench`: a table of figures, saved as JSON under artifacts/bench/.
# Idempotent: it installs only what is missing. It never starts a system-wide dockerd: the
# benchmark runs its own private dockerd and podman, off the host's network rules.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PEER_PACKAGES=(docker.io podman)

say() { printf 'bench: %s\n' "$*" >&2; }

"$REPO/scripts/berth.sh" setup

install_peers() {
  local missing=()
  for pkg in "${PEER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing the peers: ${missing[*]}"
  # Installing docker.io would start the system's dockerd, which sets the FORWARD policy to DROP:
  # policy-rc.d (Debian's switch for "do not start services on install") keeps it stopped.
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || {
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

install_profiler() {
  # py-spy samples berthd from outside (--profile); until it is in the dev extras, add it here.
  [ -x "$VENV/bin/py-spy" ] || "$VENV/bin/python" -m pip install -q py-spy
}

install_peers
install_profiler
cd "$REPO"
exec "$VENV/bin/python" -m bench "$@"
