#!/usr/bin/env bash
# Berth's two entry points on a Debian/Ubuntu machine (run as root or with sudo):
#   scripts/berth.sh run    set everything up, start berthd if needed, open Berth Desktop
#   scripts/berth.sh test   set everything up, run the whole test suite
# Both are idempotent: they install only what is missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
SOCKET="${BERTH_SOCKET:-/run/berth/berth.sock}"
SYSTEM_PACKAGES=(
  conmon crun runc tini busybox-static iptables nftables iproute2 file
  # registry tests: a real registry on loopback, and peers that cross-check our images
  docker-registry skopeo umoci apache2-utils
  # compose tests: Debian's docker-compose (1.29.2) is a second compose client against berthd
  docker-compose
  python3 python3-venv python3-dev
  # what PySide6's offscreen and xcb platforms load
  libgl1 libegl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3
  # machines: QEMU, the guest image's build, and sshd standing in for a guest in tests
  qemu-system-x86 qemu-utils debootstrap openssh-server openssh-client
  # the aarch64 guest (Apple silicon): its emulator, and its build through qemu-user-static and mmdebstrap
  qemu-system-arm qemu-user-static mmdebstrap arch-test
)

say() { printf 'berth: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    say "run this as root (or with sudo): berthd creates namespaces, cgroups and mounts"
    exit 1
  fi
}

install_system_packages() {
  local missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_peers() {
  # Stock engines that tests and benchmarks compare Berth with (run privately, never as services).
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing the peers Berth is compared with: ${missing[*]}"
  # Installing docker.io would start the system's dockerd, which sets the FORWARD policy to DROP:
  # policy-rc.d (Debian's switch for "do not start services on install") keeps it stopped.
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  local ok=0
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } || ok=1
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  # ... and not at the next boot either.
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable docker.service docker.socket podman.socket >/dev/null 2>&1 || true
  fi
  return "$ok"
}

pick_python() {
  # Python 3.11 to 3.13; the one on PATH if it fits, else Debian's.
  for py in python3 python3.13 python3.12 python3.11 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys, venv; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  say "no Python 3.11-3.13 found"; exit 1
}

install_project() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv in $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.berth-installed" want
  want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing Berth and its dependencies into the virtualenv"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$REPO[desktop,dev,packaging]"
    echo "$want" > "$stamp"
  fi
}

setup() {
  need_root
  install_system_packages
  install_project
}

engine_answers() {
  "$VENV/bin/python" - "$SOCKET" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
sys.exit(0 if b" 200 " in s.recv(64) else 1)
PY
}

cmd_run() {
  setup
  if engine_answers; then
    say "berthd is already serving on unix://$SOCKET"
  else
    mkdir -p /var/log/berth
    say "starting berthd on unix://$SOCKET (log: /var/log/berth/berthd.log)"
    setsid "$VENV/bin/berthd" --host "unix://$SOCKET" >>/var/log/berth/berthd.log 2>&1 < /dev/null &
    for _ in $(seq 100); do engine_answers && break; sleep 0.1; done
    engine_answers || { say "berthd did not start; see /var/log/berth/berthd.log"; exit 1; }
  fi
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "no display here, so Berth Desktop is not opened; berthd keeps serving on unix://$SOCKET"
    say "try: DOCKER_HOST=unix://$SOCKET docker ps   or   $VENV/bin/berth ps"
    return 0
  fi
  export BERTH_HOST="unix://$SOCKET"
  exec "$VENV/bin/berth-desktop"
}

cmd_test() {
  setup
  install_peers docker.io  # a private stock dockerd checks builds and the desktop against the real thing
  cd "$REPO"
  say "ruff"
  "$VENV/bin/ruff" check .
  say "mypy (strict on engine/, vmhost/ and app/)"
  "$VENV/bin/mypy"
  say "import contracts"
  "$VENV/bin/lint-imports"
  say "pytest: unit, integration, gui and e2e tests"
  export QT_QPA_PLATFORM=offscreen
  "$VENV/bin/python" -m pytest --strict-skips "$@"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  setup) shift; setup ;;  # install only (what scripts/bench.sh builds on)
  peers) shift; need_root; install_peers "$@" ;;  # stock engines for comparisons (scripts/bench.sh)
  *) echo "usage: $0 run | test [pytest args] | setup | peers PACKAGE..." >&2; exit 2 ;;
esac
