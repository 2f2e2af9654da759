#!/bin/sh
# Install this Berth bundle on a Linux host (run as root from the unpacked bundle):
#   ./install.sh                 copy to /opt/berth, link the commands, add the menu entry, the
#                                `berth` group and berthd's systemd units, start berthd
#   ./install.sh --no-start      the same, without enabling berthd
#   ./install.sh --uninstall     remove all of that; containers' data in /var/lib/berth stays
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX=/opt/berth
BIN=/usr/local/bin
SHARE=/usr/local/share
UNITS=/etc/systemd/system
START=yes

say() { printf 'berth install: %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "run as root (it writes $PREFIX, $BIN and $UNITS)"; exit 1; }

have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

uninstall() {
  # The docker CLI's `berth` context in the invoking user's ~/.docker, if Berth made it.
  if [ -x "$PREFIX/berth" ]; then
    runuser -u "${SUDO_USER:-root}" -- "$PREFIX/berth" machine forget-context >/dev/null 2>&1 || true
  fi
  if have_systemd; then
    systemctl disable --now berthd.socket berthd.service 2>/dev/null || true
  fi
  rm -f "$UNITS/berthd.service" "$UNITS/berthd.socket" /etc/sysusers.d/berth.conf
  rm -f "$BIN/berth" "$BIN/berthd" "$BIN/berth-desktop"
  rm -f "$SHARE/applications/berth-desktop.desktop" "$SHARE/icons/hicolor/scalable/apps/berth.svg"
  rm -rf "$PREFIX"
  have_systemd && systemctl daemon-reload
  say "removed; /var/lib/berth (images, containers, volumes) and the berth group are kept"
}

install_bundle() {
  if [ "$HERE" != "$PREFIX" ]; then
    rm -rf "$PREFIX.new"
    cp -a "$HERE" "$PREFIX.new"
    rm -rf "$PREFIX"
    mv "$PREFIX.new" "$PREFIX"
  fi
  mkdir -p "$BIN" "$SHARE/applications" "$SHARE/icons/hicolor/scalable/apps"
  for exe in berth berthd berth-desktop; do ln -sf "$PREFIX/$exe" "$BIN/$exe"; done
  install -m 0644 "$PREFIX/share/applications/berth-desktop.desktop" "$SHARE/applications/"
  install -m 0644 "$PREFIX/share/icons/hicolor/scalable/apps/berth.svg" "$SHARE/icons/hicolor/scalable/apps/"
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$SHARE/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true

  install -D -m 0644 "$PREFIX/lib/sysusers.d/berth.conf" /etc/sysusers.d/berth.conf
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /etc/sysusers.d/berth.conf
  elif ! getent group berth >/dev/null; then
    groupadd --system berth
  fi

  # berthd runs containers with the host's OCI runtime and monitor: the bundle does not carry them.
  missing=""
  command -v conmon >/dev/null 2>&1 || missing="$missing conmon"
  command -v crun >/dev/null 2>&1 || command -v runc >/dev/null 2>&1 || missing="$missing crun"
  command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
  [ -z "$missing" ] || say "berthd needs:$missing (Debian/Ubuntu: apt install$missing; Fedora: dnf install$missing)"

  if have_systemd; then
    install -m 0644 "$PREFIX/lib/systemd/system/berthd.service" "$PREFIX/lib/systemd/system/berthd.socket" "$UNITS/"
    systemctl daemon-reload
    if [ "$START" = yes ]; then
      systemctl enable --now berthd.service
      say "berthd is running: unix:///run/berth/berth.sock"
    fi
  else
    say "no systemd here: start berthd yourself ($PREFIX/berthd)"
  fi
  user="${SUDO_USER:-}"
  if [ -n "$user" ] && [ "$user" != root ]; then
    say "to use Berth without sudo: usermod -aG berth $user (then log in again)"
  fi
  say "installed Berth $(cat "$PREFIX/VERSION") in $PREFIX; open it from the menu or run berth-desktop"
}

case "${1:-}" in
  --uninstall) uninstall ;;
  --no-start) START=no; install_bundle ;;
  "") install_bundle ;;
  *) echo "usage: $0 [--no-start | --uninstall]" >&2; exit 2 ;;
esac
