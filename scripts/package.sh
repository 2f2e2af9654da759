#!/usr/bin/env bash
# Build an installable Berth (PyInstaller, packaging/berth.spec). See packaging/README.md.
#   scripts/package.sh linux    -> dist/berth-linux/   (on Linux; root only to add missing X11 libraries)
#   scripts/package.sh macos    -> dist/Berth.app, dist/Berth-<version>.dmg   (on macOS)
#   scripts/package.sh windows  -> run packaging\windows\build.ps1 in PowerShell (on Windows)
# Options: --dist DIR (default: dist/). BERTH_BUNDLE_CACHE=DIR reuses a Linux bundle built from the
# same sources (the key hashes the sources, the recipe and the virtualenv's packages).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
DIST="$REPO/dist"
WORK="$REPO/build/pyinstaller"
ASSETS="$REPO/build/packaging-assets"
CACHE="${BERTH_BUNDLE_CACHE:-}"
STAGING=""
# The pinned guest image the macOS and Windows apps download on first run (packaging/guest_image.py).
GUEST_MANIFEST="${BERTH_GUEST_MANIFEST:-$REPO/packaging/guest-image.json}"
# What the xcb platform plugin links but a headless build host may lack: installed so the bundle
# carries them and opens on desktops that do not have them.
XCB_PACKAGES=(libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0)

say() { printf 'package: %s\n' "$*" >&2; }

ensure_venv() {
  if [ ! -x "$PY" ]; then
    say "creating the virtualenv in $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e "$REPO[desktop]"
  fi
  if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
    say "installing PyInstaller into the virtualenv"
    if grep -Eq '^packaging *= *\[' "$REPO/pyproject.toml"; then
      "$PY" -m pip install -q -e "$REPO[desktop,packaging]"
    else
      "$PY" -m pip install -q "pyinstaller>=6.10,<7"
    fi
  fi
}

ensure_x11_libraries() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=()
  for pkg in "${XCB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "warning: ${missing[*]} missing (run as root to install them): the bundle will need them on the target"
    return 0
  fi
  say "installing ${missing[*]} (bundled for the xcb platform plugin)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

version() { "$PY" -c 'import engine; print(engine.__version__)'; }

source_key() {
  # Everything the Linux bundle is made from; a change to any of it means a new build.
  {
    (cd "$REPO" && find engine app vmhost resources/icons resources/themes packaging pyproject.toml \
        scripts/package.sh -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum)
    "$PY" -m pip freeze --exclude-editable 2>/dev/null | grep -v '^berth'
    "$PY" -c 'import sys; print(sys.version)'
    uname -m
  } | sha256sum | cut -c1-16
}

run_pyinstaller() {
  local dist="$1" name="$2"
  BERTH_BUNDLE_NAME="$name" BERTH_ASSETS="$ASSETS" "$PY" -m PyInstaller --noconfirm --clean \
    --log-level "${PYINSTALLER_LOG_LEVEL:-WARN}" --distpath "$dist" --workpath "$WORK" \
    "$REPO/packaging/berth.spec"
}

add_linux_files() {
  local bundle="$1"
  # One executable serves the three programs, by the name it is started as.
  ln -sf berth-desktop "$bundle/berth"
  ln -sf berth-desktop "$bundle/berthd"
  install -D -m 0644 "$REPO/packaging/linux/berth-desktop.desktop" "$bundle/share/applications/berth-desktop.desktop"
  install -D -m 0644 "$REPO/resources/icons/berth.svg" "$bundle/share/icons/hicolor/scalable/apps/berth.svg"
  install -D -m 0644 "$REPO/packaging/linux/berthd.service" "$bundle/lib/systemd/system/berthd.service"
  install -D -m 0644 "$REPO/packaging/linux/berthd.socket" "$bundle/lib/systemd/system/berthd.socket"
  install -D -m 0644 "$REPO/packaging/linux/berth.sysusers" "$bundle/lib/sysusers.d/berth.conf"
  install -D -m 0755 "$REPO/packaging/linux/install.sh" "$bundle/install.sh"
  version > "$bundle/VERSION"
}

check_linux_bundle() {
  local bundle="$1" want got
  want="$(version)"
  for exe in berth berthd; do
    got="$("$bundle/$exe" --version)"
    [ "$got" = "$exe $want" ] || { say "$exe --version said '$got', expected '$exe $want'"; exit 1; }
  done
}

build_linux() {
  [ "$(uname -s)" = Linux ] || { say "the Linux bundle is built on Linux"; exit 2; }
  ensure_venv
  ensure_x11_libraries
  local out="$DIST/berth-linux" key="" entry=""
  if [ -n "$CACHE" ]; then
    key="$(source_key)"
    entry="$CACHE/linux-$key"
    if [ -x "$entry/berth-linux/berth-desktop" ]; then
      say "reusing the bundle built from these sources ($entry)"
      mkdir -p "$DIST"; rm -rf "$out"; cp -a "$entry/berth-linux" "$out"
      touch "$entry"
      say "bundle: $out"
      return 0
    fi
  fi
  say "building the Linux bundle with PyInstaller"
  local started=$SECONDS
  STAGING="$(mktemp -d "${TMPDIR:-/tmp}/berth-bundle.XXXXXX")"
  trap 'rm -rf "$STAGING"' EXIT
  local staging="$STAGING"
  run_pyinstaller "$staging" berth-linux
  add_linux_files "$staging/berth-linux"
  check_linux_bundle "$staging/berth-linux"
  mkdir -p "$DIST"; rm -rf "$out"; cp -a "$staging/berth-linux" "$out"
  if [ -n "$CACHE" ]; then
    mkdir -p "$CACHE"
    rm -rf "$entry.tmp"; mv "$staging/berth-linux" "$entry.tmp"; mkdir -p "$entry"
    mv "$entry.tmp" "$entry/berth-linux"
    # A bundle is ~140 MB: keep the two most recently used.
    (cd "$CACHE" && ls -1dt linux-* 2>/dev/null | tail -n +3 | xargs -r rm -rf)
  fi
  say "built in $((SECONDS - started)) s: $out ($(du -sh "$out" | cut -f1))"
}

build_macos() {
  [ "$(uname -s)" = Darwin ] || { say "the macOS app is built on macOS (see packaging/README.md)"; exit 2; }
  ensure_venv
  "$PY" "$REPO/packaging/guest_image.py" check "$GUEST_MANIFEST"
  "$PY" "$REPO/packaging/make_assets.py" --out "$ASSETS"
  BERTH_GUEST_MANIFEST="$GUEST_MANIFEST" run_pyinstaller "$DIST" berth-macos
  local app="$DIST/Berth.app" ver dmg
  ver="$(version)"
  # The CLI inside the app, for `ln -s /Applications/Berth.app/Contents/MacOS/berth /usr/local/bin/berth`.
  [ -x "$app/Contents/MacOS/berth" ] || { say "Berth.app lacks the berth CLI"; exit 1; }
  if [ -n "${BERTH_CODESIGN_IDENTITY:-}" ]; then
    say "signing with $BERTH_CODESIGN_IDENTITY (hardened runtime)"
    codesign --force --deep --options runtime --timestamp \
      --entitlements "$REPO/packaging/macos/entitlements.plist" --sign "$BERTH_CODESIGN_IDENTITY" "$app"
  fi
  dmg="$DIST/Berth-$ver.dmg"
  rm -f "$dmg"
  STAGING="$(mktemp -d)"; trap 'rm -rf "$STAGING"' EXIT
  cp -R "$app" "$STAGING/"; ln -s /Applications "$STAGING/Applications"
  hdiutil create -volname "Berth $ver" -srcfolder "$STAGING" -format UDZO -fs HFS+ "$dmg"
  if [ -n "${BERTH_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$BERTH_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
  fi
  say "built $dmg"
}

main() {
  local target="${1:-}"
  shift || true
  while [ $# -gt 0 ]; do
    case "$1" in
      --dist) DIST="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
      *) say "unknown option $1"; exit 2 ;;
    esac
  done
  case "$target" in
    linux) build_linux ;;
    macos) build_macos ;;
    windows) say "on Windows, run in PowerShell: packaging\\windows\\build.ps1 (see packaging/README.md)"; exit 2 ;;
    *) echo "usage: $0 linux|macos|windows [--dist DIR]" >&2; exit 2 ;;
  esac
}

main "$@"
