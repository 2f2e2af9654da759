"""The Linux bundle, built as a user would (`scripts/package.sh linux`), run as a user would.

The build is reused from BERTH_BUNDLE_CACHE (default /var/cache/berth/bundle) when the sources, the
recipe and the virtualenv are unchanged; otherwise it happens here (about a minute on CI's machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import __version__
from tests.support.daemon import Berthd, prerequisites_missing, teardown_networks, unmount_under

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(sys.platform != "linux", reason="the Linux bundle")]

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("BERTH_BUNDLE_CACHE", "/var/cache/berth/bundle"))
SIZE_LIMIT_MB = 150


def bundle_env(**extra: str) -> dict[str, str]:
    """The environment of a user's session: nothing from this checkout or its virtualenv."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "BERTH_HOST", "DOCKER_HOST")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {**env, **extra}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "package.sh"), "linux", "--dist", str(dist)],
        env={**os.environ, "BERTH_BUNDLE_CACHE": str(CACHE)},
        capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    reused = "reusing" in result.stderr
    print(f"\nLinux bundle {'reused from the cache' if reused else 'built'} in {time.monotonic() - started:.0f} s")
    return dist / "berth-linux"


@pytest.mark.timeout(600)
def test_bundle_size_is_reported_and_under_the_target(bundle: Path) -> None:
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    megabytes = size / 1_000_000
    line = f"berth-linux {__version__}: {megabytes:.1f} MB ({size} bytes, {sum(1 for _ in bundle.rglob('*'))} files)"
    print(f"\n{line}")
    out = REPO / "artifacts" / "packaging" / "size.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(line + "\n")
    assert megabytes < SIZE_LIMIT_MB, line


@pytest.mark.timeout(600)
def test_bundle_carries_its_files_and_not_what_it_never_loads(bundle: Path) -> None:
    for exe in ("berth-desktop", "berth", "berthd", "install.sh"):
        assert os.access(bundle / exe, os.X_OK), exe
    for path in ("share/applications/berth-desktop.desktop", "share/icons/hicolor/scalable/apps/berth.svg",
                 "lib/systemd/system/berthd.service", "lib/systemd/system/berthd.socket",
                 "lib/sysusers.d/berth.conf", "_internal/resources/icons/berth.svg",
                 "_internal/resources/themes/dark.json", "_internal/resources/themes/light.json",
                 "_internal/engine/runtime/data/seccomp-default.json"):
        assert (bundle / path).is_file(), path
    assert (bundle / "VERSION").read_text().strip() == __version__
    names = [str(p.relative_to(bundle)) for p in bundle.rglob("*")]
    unwanted = ("Qt6Quick", "Qt6Qml", "Qt6WebEngine", "Qt6Pdf", "pytest", "/tests/", "mypy", "qmltooling")
    assert not [name for name in names if any(word in name for word in unwanted)]
    # the platform plugins a desktop (and this test) needs
    platforms = {p.name for p in (bundle / "_internal/PySide6/Qt/plugins/platforms").iterdir()}
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= platforms


@pytest.mark.timeout(600)
def test_bundled_commands_print_the_one_version(bundle: Path) -> None:
    for exe in ("berth", "berthd"):
        result = subprocess.run([str(bundle / exe), "--version"], capture_output=True, text=True, timeout=60,
                                env=bundle_env())
        assert result.stdout.strip() == f"{exe} {__version__}", result.stderr
    # `sys.executable -m module`, as Berth re-executes itself (the machine supervisor), works frozen too
    result = subprocess.run([str(bundle / "berth-desktop"), "-m", "app.cli", "--version"], capture_output=True,
                            text=True, timeout=60, env=bundle_env())
    assert result.stdout.strip() == f"berth {__version__}", result.stderr


@pytest.mark.timeout(600)
def test_bundled_desktop_shows_its_window_and_connects(bundle: Path, berthd: Berthd, tmp_path: Path) -> None:
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    started = time.monotonic()
    result = subprocess.run(
        [str(bundle / "berth-desktop"), "--smoke-test", "--host", berthd.url],
        capture_output=True, text=True, timeout=120,
        env=bundle_env(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path)),
    )
    print(f"\n{result.stdout.strip()} ({time.monotonic() - started:.1f} s from start to the engine's answer)")
    assert result.returncode == 0, result.stderr
    assert f"connected: Berth {__version__}" in result.stdout.splitlines()

    # the bundled CLI against the same engine
    ps = subprocess.run([str(bundle / "berth"), "--host", berthd.url, "ps", "-a"], capture_output=True, text=True,
                        timeout=60, env=bundle_env())
    assert ps.returncode == 0 and ps.stdout.startswith("CONTAINER ID"), ps.stderr


@pytest.fixture
def bundled_berthd(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Berthd]:
    """The bundle's own berthd in a private root, like the suite's `berthd` but frozen."""
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    daemon = Berthd(tmp_path_factory.mktemp("frozen-berthd"))
    log = daemon.log.open("ab")
    proc = subprocess.Popen(
        [str(bundle / "berthd"), "--root", str(daemon.root), "--exec-root", str(daemon.exec_root),
         "--host", daemon.url],
        stdout=log, stderr=log, start_new_session=True, env=bundle_env(BERTH_DNS_FORWARDERS=""),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, daemon.log.read_text()
            if daemon.socket.exists():
                try:
                    if daemon.api.request("GET", "/_ping")[0] == 200:
                        break
                except OSError:
                    pass
            assert time.monotonic() < deadline, daemon.log.read_text()
            time.sleep(0.1)
        yield daemon
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        teardown_networks(daemon.exec_root)
        unmount_under(daemon.base)
        shutil.rmtree(daemon.base, ignore_errors=True)


@pytest.mark.timeout(600)
def test_bundled_berthd_serves_the_bundled_cli(bundle: Path, bundled_berthd: Berthd) -> None:
    result = subprocess.run([str(bundle / "berth"), "--host", bundled_berthd.url, "version"], capture_output=True,
                            text=True, timeout=60, env=bundle_env())
    assert result.returncode == 0, result.stderr
    assert f"Version:     {__version__}" in result.stdout
    assert "Server: Berth" in result.stdout
