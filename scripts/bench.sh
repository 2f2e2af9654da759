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

say() { printf 'bench: %s\n' "$*" >&2; }

"$REPO/scripts/berth.sh" setup


"$REPO/scripts/berth.sh" peers docker.io podman
cd "$REPO"
exec "$VENV/bin/python" -m bench "$@"
