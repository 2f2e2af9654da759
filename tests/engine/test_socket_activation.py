"""berthd serves a socket that systemd made and passed (berthd.socket), as Docker's unit does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.api import RawApi
from tests.support.daemon import REPO, prerequisites_missing, teardown_networks, unmount_under


@pytest.mark.integration
def test_serves_the_socket_systemd_passes(tmp_path: Path) -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    path = tmp_path / "activated.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    os.chmod(path, 0o600)  # systemd's choice of mode: berthd must leave it alone

    def as_fd_3() -> None:
        os.dup2(listener.fileno(), 3)

    # sh puts its own pid in LISTEN_PID, then becomes berthd: the sd_listen_fds protocol.
    cmd = (f'LISTEN_PID=$$ LISTEN_FDS=1 exec "{sys.executable}" -m engine.daemon --root "{tmp_path}/root" '
           f'--exec-root "{tmp_path}/run" --host unix://{tmp_path}/unused.sock')
    proc = subprocess.Popen(["sh", "-c", cmd], cwd=REPO, preexec_fn=as_fd_3, pass_fds=(3,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    listener.close()
    try:
        api = RawApi(path)
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = api.request("GET", "/_ping")[0]
            except OSError:
                time.sleep(0.05)
        assert status == 200
        assert not (tmp_path / "unused.sock").exists()  # it did not make a socket of its own
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        teardown_networks(tmp_path / "run")  # its default bridge and chains outlive it, as dockerd's do
        unmount_under(tmp_path)
    assert proc.returncode == 0, err.decode()
    assert path.exists()  # not removed on shutdown: the socket is systemd's
