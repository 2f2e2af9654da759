"""`docker export`: the container's whole root filesystem as one tar, names relative to it."""

from __future__ import annotations

from engine.containers.archive import ByteSink, TreeTar


def write_export(root_fd: int, sink: ByteSink) -> None:
    """Stream the tree under the root fd (see rootview.py) to `sink`. Blocking: use a thread.

    Like dockerd's, the archive has no "./" entry of its own: `bin/`, `bin/sh`, `etc/`, ..."""
    with TreeTar(sink) as tar:
        tar.add_directory_contents(root_fd, "", include_self=False)
